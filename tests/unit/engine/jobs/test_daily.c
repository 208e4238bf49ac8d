/* The daily schedule against a real SQLite store: an item whose time has
 * come is queued once a day, however many servers tick at once. */
#include "engine/jobs/daily.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static char db[128];

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	strcpy(dir, "/tmp/cairn-daily-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/state.db", dir);
}

static void teardown(void)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(daily, .init = setup, .fini = teardown, .timeout = 60);

/* Two items due since midnight, whatever the policy says. */
static void two_items(const struct policy *p, daily_add_fn add, void *ctx)
{
	(void)p;
	add(ctx, "main/a", 0);
	add(ctx, "main/b", 0);
}

static int count_job(void *ctx, const struct store_job *j)
{
	cr_expect_str_eq(j->kind, "refresh");
	cr_expect(strcmp(j->key, "test:main/a") == 0 || strcmp(j->key, "test:main/b") == 0, "%s",
		  j->key);
	++*(int *)ctx;
	return 0;
}

Test(daily, servers_ticking_together_queue_an_item_once_a_day)
{
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_open(&s, db, &err), 0, "%s", error_msg(&err));
	/* The schedule reads the latest generation: one, empty. */
	struct store_txn *t;
	long long gen;
	cr_assert_eq(store_begin(s, &t, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_commit_generation(t, "Sam", "apply", NULL, 0, NULL, &gen, &err), 0, "%s",
		     error_msg(&err));

	struct jobs *jobs = NULL;
	struct jobs_options o = { .state = db };
	cr_assert_eq(jobs_new(&jobs, &o, &err), 0, "%s", error_msg(&err));
	const struct daily_task task = { "test", "refresh", two_items };
	enum { SERVERS = 3 };
	struct daily *d[SERVERS];
	for (int i = 0; i < SERVERS; i++)
		cr_assert_eq(daily_new(&d[i], db, jobs, 20, &task, 1, &err), 0, "%s", error_msg(&err));
	for (int i = 0; i < SERVERS; i++)
		cr_assert_eq(daily_start(d[i], &err), 0, "%s", error_msg(&err));
	usleep(500000); /* about 25 ticks each */
	for (int i = 0; i < SERVERS; i++)
		daily_free(d[i]);

	int n = 0;
	cr_assert_eq(store_job_list(s, 0, count_job, &n, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(n, 2, "each item queued once, not %d times in all", n);
	char today[16], *day = NULL;
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	cr_assert_eq(store_kv_get(s, "test-scheduled:main/a", &day, &err), 0);
	cr_expect_str_eq(day, today);
	free(day);
	jobs_free(jobs);
	store_close(s);
}
