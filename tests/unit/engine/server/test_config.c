/* The server's config file: its keys, paths relative to the file, the
 * previews' sections left alone, and unknown keys refused with a position
 * and the nearest key. */
#include "engine/server/http.h"
#include "engine/server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[128];

static void write_config(const char *text)
{
	strcpy(dir, "/tmp/cairn-config-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/server.yaml", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void cleanup(void)
{
	if (*path)
		unlink(path);
	if (*dir)
		rmdir(dir);
}

TestSuite(server_config, .fini = cleanup);

Test(server_config, reads_keys_with_paths_relative_to_the_file)
{
	write_config("listen: 0.0.0.0:9000\n"
		     "state: data/state.db\n"
		     "users: /etc/cairn/users.yaml\n"
		     "secrets: secrets.yaml\n"
		     "public_url: https://cairn.example.com\n"
		     "threads: 8\n"
		     "timeout: 5\n"
		     "github: {api_url: http://localhost:1}\n"
		     "repositories: []\n");
	struct server_config c = { 0 };
	struct diags d = DIAGS_INIT;
	cr_assert_eq(server_config_load(&c, path, &d), 0, "%s", d.len ? d.items[0] : "");
	cr_assert_str_eq(c.listen, "0.0.0.0:9000");
	char want[160];
	snprintf(want, sizeof(want), "%s/data/state.db", dir);
	cr_assert_str_eq(c.state, want);
	cr_assert_str_eq(c.users, "/etc/cairn/users.yaml");
	snprintf(want, sizeof(want), "%s/secrets.yaml", dir);
	cr_assert_str_eq(c.secrets, want);
	cr_assert_str_eq(c.public_url, "https://cairn.example.com");
	cr_assert_eq(c.threads, 8);
	cr_assert_eq(c.timeout, 5);
	server_config_release(&c);
	diags_release(&d);
}

Test(server_config, postgres_locations_are_kept)
{
	write_config("state: postgres://cairn@db/cairn\n");
	struct server_config c = { 0 };
	struct diags d = DIAGS_INIT;
	cr_assert_eq(server_config_load(&c, path, &d), 0);
	cr_assert_str_eq(c.state, "postgres://cairn@db/cairn");
	server_config_release(&c);
	diags_release(&d);
}

Test(server_config, unknown_key_names_position_and_nearest)
{
	write_config("listen: 127.0.0.1:1\nlisen: x\nfrobnicate: 1\n");
	struct server_config c = { 0 };
	struct diags d = DIAGS_INIT;
	cr_assert_eq(server_config_load(&c, path, &d), -1);
	cr_assert_eq(d.len, 2);
	char want[256];
	snprintf(want, sizeof(want), "%s:2:1: unknown key 'lisen' in the server config (did you mean 'listen'?)", path);
	cr_assert_str_eq(d.items[0], want);
	cr_assert(strstr(d.items[1], ":3:1: unknown key 'frobnicate' in the server config (known: listen,"),
		  "%s", d.items[1]);
	server_config_release(&c);
	diags_release(&d);
}

Test(server_config, wrong_values_are_refused)
{
	write_config("threads: 0\ntimeout: soon\nstate: [a]\n");
	struct server_config c = { 0 };
	struct diags d = DIAGS_INIT;
	cr_assert_eq(server_config_load(&c, path, &d), -1);
	cr_assert_eq(d.len, 3);
	cr_assert(strstr(d.items[0], ":1:10: threads must be a number from 1 to 256"), "%s", d.items[0]);
	cr_assert(strstr(d.items[1], ":2:10: timeout must be a number from 1 to 3600"), "%s", d.items[1]);
	cr_assert(strstr(d.items[2], ":3:8: state must be a string, not a list"), "%s", d.items[2]);
	server_config_release(&c);
	diags_release(&d);
}

Test(server_config, listen_addresses_parse)
{
	struct sockaddr_storage a;
	struct error err = ERROR_INIT;
	cr_assert_eq(http_parse_listen("127.0.0.1:8470", &a, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(a.ss_family, AF_INET);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&a)->sin_port), 8470);
	cr_assert_eq(http_parse_listen("[::1]:0", &a, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(a.ss_family, AF_INET6);
	cr_assert_eq(http_parse_listen("127.0.0.1:99999", &a, &err), -1);
	cr_assert_str_eq(error_msg(&err),
			 "listen address '127.0.0.1:99999': port must be a number from 0 to 65535");
	cr_assert_eq(http_parse_listen("8470", &a, &err), -1);
	cr_assert_str_eq(error_msg(&err), "listen address '8470': expected ADDR:PORT");
	error_clear(&err);
}
