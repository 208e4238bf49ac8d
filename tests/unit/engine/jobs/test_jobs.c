/* The job runner against a real SQLite store: retries with backoff, giving
 * up, superseding, one job per key at a time, leases kept by the heartbeat,
 * and resuming jobs a dead or stopped server left running. */
#include "engine/jobs/jobs.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
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
	strcpy(dir, "/tmp/cairn-jobs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/state.db", dir);
}

static void teardown(void)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(jobs, .init = setup, .fini = teardown, .timeout = 60);

static struct store *open_store(void)
{
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_open(&s, db, &err), 0, "%s", error_msg(&err));
	return s;
}

static struct jobs *new_jobs(unsigned workers, unsigned max_attempts)
{
	struct jobs_options o = { .state = db, .workers = workers, .max_attempts = max_attempts,
				  .backoff_ms = 10, .backoff_cap_ms = 20 };
	struct jobs *j = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(jobs_new(&j, &o, &err), 0, "%s", error_msg(&err));
	return j;
}

static void start(struct jobs *j)
{
	struct error err = ERROR_INIT;
	cr_assert_eq(jobs_start(j, &err), 0, "%s", error_msg(&err));
}

static long long enqueue(struct jobs *j, struct store *s, const char *kind, const char *key,
			 const char *payload, bool supersede)
{
	long long id = 0;
	struct error err = ERROR_INIT;
	cr_assert_eq(jobs_enqueue(j, s, kind, key, payload, supersede, &id, &err), 0, "%s",
		     error_msg(&err));
	return id;
}

/* Waits (up to 15 s) for job id to reach status; returns its final row. */
static struct store_job wait_status(struct store *s, long long id, enum store_job_status status)
{
	struct store_job job;
	for (int i = 0; i < 1500; i++) {
		bool found;
		struct error err = ERROR_INIT;
		cr_assert_eq(store_job_get(s, id, &job, &found, &err), 0, "%s", error_msg(&err));
		cr_assert(found);
		if (job.status == status)
			return job;
		store_job_release(&job);
		usleep(10000);
	}
	cr_assert_fail("job %lld never became %s", id, store_job_status_name(status));
	return job;
}

/* Handlers share this state; every test starts from zero. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int calls;
static int running_a, running_all, max_a, max_all;

static enum job_outcome flaky(void *ctx, struct job_run *run, const struct store_job *job,
			      struct error *err)
{
	int fail_times = *(int *)ctx;
	pthread_mutex_lock(&mu);
	int n = ++calls;
	pthread_mutex_unlock(&mu);
	if (n <= fail_times) {
		error_set(err, "github answered 502 (try %d)", n);
		return JOB_RETRY;
	}
	return JOB_DONE;
}

Test(jobs, retry_then_success)
{
	calls = 0;
	int fail_times = 2;
	struct jobs *j = new_jobs(2, 5);
	jobs_register(j, "flaky", flaky, &fail_times);
	start(j);
	struct store *s = open_store();
	long long id = enqueue(j, s, "flaky", "k", "{}", false);
	struct store_job job = wait_status(s, id, STORE_JOB_DONE);
	cr_expect_eq(job.attempts, 3);
	cr_expect_eq(calls, 3);
	struct jobs_stats st;
	jobs_get_stats(j, &st);
	cr_expect_eq(st.retried, 2);
	cr_expect_eq(st.done, 1);
	store_job_release(&job);
	store_close(s);
	jobs_free(j);
}

Test(jobs, max_attempts_fail_with_last_error)
{
	calls = 0;
	int fail_times = 100;
	struct jobs *j = new_jobs(1, 3);
	jobs_register(j, "flaky", flaky, &fail_times);
	start(j);
	struct store *s = open_store();
	long long id = enqueue(j, s, "flaky", "k", "{}", false);
	struct store_job job = wait_status(s, id, STORE_JOB_FAILED);
	cr_expect_eq(job.attempts, 3);
	cr_expect_eq(calls, 3);
	cr_assert_not_null(job.message);
	cr_expect(strstr(job.message, "after 3 attempts") != NULL, "%s", job.message);
	cr_expect(strstr(job.message, "github answered 502 (try 3)") != NULL, "%s", job.message);
	store_job_release(&job);
	store_close(s);
	jobs_free(j);
}

Test(jobs, unknown_kind_fails)
{
	struct jobs *j = new_jobs(1, 3);
	start(j);
	struct store *s = open_store();
	long long id = enqueue(j, s, "nobody", "k", NULL, false);
	struct store_job job = wait_status(s, id, STORE_JOB_FAILED);
	cr_expect_str_eq(job.message, "no handler for job kind 'nobody'");
	store_job_release(&job);
	store_close(s);
	jobs_free(j);
}

/* payload "wait": runs until cancelled (at most 10 s); anything else is done at once. */
static enum job_outcome waiter(void *ctx, struct job_run *run, const struct store_job *job,
			       struct error *err)
{
	pthread_mutex_lock(&mu);
	calls++;
	pthread_mutex_unlock(&mu);
	if (!job->payload || strcmp(job->payload, "\"wait\"") != 0)
		return JOB_DONE;
	for (int i = 0; i < 1000; i++) {
		if (job_cancelled(run))
			return JOB_CANCELLED;
		usleep(10000);
	}
	error_set(err, "never cancelled");
	return JOB_FAILED;
}

Test(jobs, supersede_cancels_queued_and_running)
{
	calls = 0;
	struct jobs *j = new_jobs(2, 3);
	jobs_register(j, "pr", waiter, NULL);
	start(j);
	struct store *s = open_store();
	long long a = enqueue(j, s, "pr", "pr:acme/shop#1", "\"wait\"", true);
	store_job_release((struct store_job[]){ wait_status(s, a, STORE_JOB_RUNNING) });
	/* b is queued behind the running a, then c supersedes both. */
	long long b = enqueue(j, s, "pr", "pr:acme/shop#1", "\"wait\"", true);
	long long c = enqueue(j, s, "pr", "pr:acme/shop#1", "\"go\"", true);
	struct store_job jb = wait_status(s, b, STORE_JOB_CANCELLED);
	cr_expect_eq(jb.attempts, 0, "a superseded queued job never runs");
	struct store_job ja = wait_status(s, a, STORE_JOB_CANCELLED);
	struct store_job jc = wait_status(s, c, STORE_JOB_DONE);
	cr_expect_eq(calls, 2, "a and c ran, b did not");
	struct jobs_stats st;
	jobs_get_stats(j, &st);
	cr_expect_eq(st.cancelled, 1);
	cr_expect_eq(st.done, 1);
	store_job_release(&ja);
	store_job_release(&jb);
	store_job_release(&jc);
	store_close(s);
	jobs_free(j);
}

static enum job_outcome counted(void *ctx, struct job_run *run, const struct store_job *job,
				struct error *err)
{
	bool is_a = strcmp(job->key, "a") == 0;
	pthread_mutex_lock(&mu);
	running_all++;
	if (running_all > max_all)
		max_all = running_all;
	if (is_a && ++running_a > max_a)
		max_a = running_a;
	pthread_mutex_unlock(&mu);
	usleep(100000);
	pthread_mutex_lock(&mu);
	running_all--;
	if (is_a)
		running_a--;
	pthread_mutex_unlock(&mu);
	return JOB_DONE;
}

Test(jobs, one_key_at_a_time_different_keys_at_once)
{
	running_a = running_all = max_a = max_all = 0;
	struct jobs *j = new_jobs(4, 3);
	jobs_register(j, "count", counted, NULL);
	start(j);
	struct store *s = open_store();
	long long last[2] = { 0, 0 };
	for (int i = 0; i < 4; i++) {
		last[0] = enqueue(j, s, "count", "a", NULL, false);
		last[1] = enqueue(j, s, "count", "b", NULL, false);
	}
	store_job_release((struct store_job[]){ wait_status(s, last[0], STORE_JOB_DONE) });
	store_job_release((struct store_job[]){ wait_status(s, last[1], STORE_JOB_DONE) });
	cr_expect_eq(max_a, 1, "two jobs of key a ran at once");
	cr_expect_eq(max_all, 2, "keys a and b never ran at once (max %d)", max_all);
	struct jobs_stats st;
	jobs_get_stats(j, &st);
	cr_expect_eq(st.done, 8);
	store_close(s);
	jobs_free(j);
}

Test(jobs, job_of_a_dead_server_runs_when_its_lease_ends)
{
	calls = 0;
	struct store *s = open_store();
	long long id = 0;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_job_enqueue(s, "pr", "pr:acme/shop#2", "\"go\"", true, &id, &err), 0);
	struct store_job claimed;
	bool found;
	long long t0 = (long long)time(NULL);
	cr_assert_eq(store_job_claim(s, t0, "dead:1:00", 2, &claimed, &found, &err), 0, "%s",
		     error_msg(&err));
	cr_assert(found);
	cr_assert_eq(claimed.id, id);
	store_job_release(&claimed);
	store_close(s); /* the "server" dies without finishing the job */

	struct jobs *j = new_jobs(2, 3);
	jobs_register(j, "pr", waiter, NULL);
	start(j);
	s = open_store();
	struct store_job job = wait_status(s, id, STORE_JOB_DONE);
	cr_expect_geq((long long)time(NULL), t0 + 3, "taken over only once the lease ended");
	cr_expect_eq(job.attempts, 2);
	cr_expect_str_eq(job.owner, jobs_owner(j));
	cr_expect_eq(calls, 1);
	store_job_release(&job);
	store_close(s);
	jobs_free(j);
}

Test(jobs, stop_puts_its_jobs_back)
{
	calls = 0;
	struct jobs *j = new_jobs(1, 3);
	jobs_register(j, "pr", waiter, NULL);
	start(j);
	struct store *s = open_store();
	long long id = enqueue(j, s, "pr", "pr:acme/shop#3", "\"wait\"", false);
	store_job_release((struct store_job[]){ wait_status(s, id, STORE_JOB_RUNNING) });
	jobs_stop(j);
	struct store_job job;
	bool found;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_job_get(s, id, &job, &found, &err), 0);
	cr_expect_eq(job.status, STORE_JOB_QUEUED, "a stopped server's job is back in the queue");
	cr_expect_null(job.owner);
	char msg[200];
	snprintf(msg, sizeof(msg), "put back by %s as it stopped", jobs_owner(j));
	cr_expect_str_eq(job.message, msg);
	store_job_release(&job);
	struct jobs_stats st;
	jobs_get_stats(j, &st);
	cr_expect_eq(st.cancelled, 0);

	/* The next start runs it again (and it waits again, so supersede it
	 * with a quick one to finish). */
	start(j);
	for (int i = 0; i < 1500 && calls < 2; i++)
		usleep(10000);
	cr_expect_eq(calls, 2, "the job put back ran again");
	long long next = enqueue(j, s, "pr", "pr:acme/shop#3", "\"go\"", true);
	store_job_release((struct store_job[]){ wait_status(s, id, STORE_JOB_CANCELLED) });
	store_job_release((struct store_job[]){ wait_status(s, next, STORE_JOB_DONE) });
	store_close(s);
	jobs_free(j);
}

Test(jobs, the_heartbeat_keeps_a_lease_and_a_lost_one_cancels)
{
	calls = 0;
	struct jobs_options o = { .state = db, .workers = 1, .lease_s = 1 };
	struct jobs *j = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(jobs_new(&j, &o, &err), 0, "%s", error_msg(&err));
	jobs_register(j, "pr", waiter, NULL);
	start(j);
	struct store *s = open_store();
	long long id = enqueue(j, s, "pr", "pr:acme/shop#4", "\"wait\"", false);
	store_job_release((struct store_job[]){ wait_status(s, id, STORE_JOB_RUNNING) });
	/* Three leases later, another server still cannot take it. */
	usleep(3200000);
	struct store_job job;
	bool found;
	cr_assert_eq(store_job_claim(s, (long long)time(NULL), "other:2:00", 30, &job, &found, &err),
		     0, "%s", error_msg(&err));
	cr_expect_not(found, "a renewed lease holds");
	cr_assert_eq(store_job_get(s, id, &job, &found, &err), 0);
	cr_expect_str_eq(job.owner, jobs_owner(j));
	cr_expect_geq(job.lease_until, (long long)time(NULL));
	store_job_release(&job);

	/* Another server took it over (its lease had ended while this one
	 * could not reach the store): the handler is cancelled and its
	 * outcome dropped. */
	sqlite3 *raw;
	cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(raw, "UPDATE jobs SET owner = 'other:2:00'", NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(raw);
	struct jobs_stats st = { 0 };
	for (int i = 0; i < 500 && !st.lost; i++) {
		usleep(10000);
		jobs_get_stats(j, &st);
	}
	cr_expect_eq(st.lost, 1);
	cr_expect_eq(st.cancelled, 0);
	cr_assert_eq(store_job_get(s, id, &job, &found, &err), 0);
	cr_expect_eq(job.status, STORE_JOB_RUNNING, "the other server's run is left alone");
	cr_expect_str_eq(job.owner, "other:2:00");
	store_job_release(&job);
	store_close(s);
	jobs_free(j);
}
