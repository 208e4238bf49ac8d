/* The SSH transport's setup, without a host: a control directory too long
 * for its sockets to fit a unix socket address is refused with its length,
 * and a short one is made private. */
#include "engine/drivers/ssh/ssh_transport.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Test(transport, control_dir_must_leave_room_for_the_socket_name)
{
	char base[] = "/tmp/ctl-XXXXXX";
	cr_assert_not_null(mkdtemp(base));
	char known[64];
	snprintf(known, sizeof(known), "%s/kh", base);
	FILE *f = fopen(known, "w");
	cr_assert_not_null(f);
	fclose(f);

	char longer[128];
	snprintf(longer, sizeof(longer), "%s/%s", base, "this-directory-name-is-too-long-for-it");
	struct ssh_transport_options o = { .known_hosts = known, .control_dir = longer };
	struct ssh_transport *t = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(ssh_transport_new(&t, &o, &err), -1);
	cr_assert_null(t);
	cr_assert(strstr(error_msg(&err), "would not fit a unix socket address") != NULL, "%s",
		  error_msg(&err));
	error_clear(&err);

	char ok[64];
	snprintf(ok, sizeof(ok), "%s/cm", base);
	o.control_dir = ok;
	cr_assert_eq(ssh_transport_new(&t, &o, &err), 0, "%s", error_msg(&err));
	struct stat st;
	cr_assert_eq(stat(ok, &st), 0);
	cr_assert_eq(st.st_mode & 077, 0, "the control directory is private");
	ssh_transport_free(t);
	rmdir(ok);
	unlink(known);
	rmdir(base);
}
