/* The local storage: a snapshot is visible only once committed, a pending
 * one left by a process that died is removed by the next begin, and a
 * deleted one is gone at once. */
#include "engine/snapshot/storage.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/cairn-storage-test-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(storage, .init = setup, .fini = teardown);

static size_t listed(struct sn_storage *st)
{
	char **ids;
	size_t n;
	struct error err = ERROR_INIT;
	cr_assert_eq(sn_storage_list(st, &ids, &n, &err), 0, "%s", error_msg(&err));
	sn_storage_list_free(ids, n);
	return n;
}

static int hidden_entries(void)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void write_one(struct sn_storage *st, const char *id, const char *name)
{
	struct error err = ERROR_INIT;
	FILE *f = sn_storage_create(st, id, name, &err);
	cr_assert_not_null(f, "%s", error_msg(&err));
	fputs("{}\n", f);
	cr_assert_eq(sn_storage_close(f, name, &err), 0);
}

Test(storage, visible_only_when_committed)
{
	struct error err = ERROR_INIT;
	struct sn_storage *st = sn_storage_local(dir, &err);
	cr_assert_not_null(st);
	cr_assert_eq(sn_storage_begin(st, "main.d.1", &err), 0, "%s", error_msg(&err));
	write_one(st, "main.d.1", "manifest.json");
	cr_expect_eq(listed(st), 0);
	cr_assert_eq(sn_storage_commit(st, "main.d.1", &err), 0, "%s", error_msg(&err));
	cr_expect_eq(listed(st), 1);
	cr_expect_eq(sn_storage_begin(st, "main.d.1", &err), -1);
	cr_expect(strstr(error_msg(&err), "already exists"));
	error_clear(&err);
	cr_expect_eq(sn_storage_remove(st, "main.d.1", &err), 0);
	cr_expect_eq(listed(st), 0);
	cr_expect_eq(sn_storage_remove(st, "main.d.1", &err), -1);
	cr_expect(strstr(error_msg(&err), "no snapshot main.d.1"));
	error_clear(&err);
	cr_expect_eq(sn_storage_begin(st, "../escape", &err), -1);
	error_clear(&err);
	sn_storage_free(st);
}

Test(storage, a_killed_create_leaves_nothing_that_looks_whole)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Dies halfway through writing, as a killed create would. */
		struct error err = ERROR_INIT;
		struct sn_storage *st = sn_storage_local(dir, &err);
		if (!st || sn_storage_begin(st, "main.d.2", &err) < 0)
			_exit(1);
		write_one(st, "main.d.2", "manifest.json");
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	cr_assert_eq(WEXITSTATUS(status), 0);
	struct error err = ERROR_INIT;
	struct sn_storage *st = sn_storage_local(dir, &err);
	cr_expect_eq(listed(st), 0, "a pending snapshot never lists");
	cr_expect_eq(hidden_entries(), 1);
	cr_assert_eq(sn_storage_begin(st, "main.d.3", &err), 0);
	cr_expect_eq(hidden_entries(), 1, "the dead process's pending snapshot is removed");
	sn_storage_abort(st, "main.d.3");
	cr_expect_eq(hidden_entries(), 0);
	sn_storage_free(st);
}
