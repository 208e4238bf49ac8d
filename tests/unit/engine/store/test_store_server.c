/* The server's tables in the store: API tokens, webhook deliveries, jobs and
 * small facts, on SQLite or PostgreSQL (store_fixture.h), including what must
 * hold across processes: one claim per delivery and per job. */
#include "store_fixture.h"
#include "base/strbuf.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

TestSuite(store_server, .init = setup, .fini = teardown);

struct token_listing {
	char buf[256];
	long long last_used[2];
	int n;
};

static int list_token(void *ctx, const struct store_token *t)
{
	struct token_listing *l = ctx;
	size_t len = strlen(l->buf);
	snprintf(l->buf + len, sizeof(l->buf) - len, "%s %s %s;", t->user, t->name,
		 t->revoked ? "revoked" : "active");
	if (l->n < 2)
		l->last_used[l->n++] = t->last_used;
	cr_expect_gt(t->created, 1700000000);
	return 0;
}

Test(store_server, tokens_are_found_by_hash_until_revoked)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long a = 0, b = 0;
	cr_assert_eq(store_token_add(s, "alice", "laptop", "hash-a", &a, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_token_add(s, "bob", NULL, "hash-b", &b, &err), 0, "%s", error_msg(&err));
	cr_expect_neq(a, b);

	long long id = 0;
	cr_expect_eq(store_token_add(s, "carol", "x", "hash-a", &id, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot add a token for carol: a token with the same hash exists");
	error_clear(&err);

	struct store_token t;
	bool found = false;
	long long before = (long long)time(NULL);
	cr_assert_eq(store_token_use(s, "hash-a", &t, &found, &err), 0, "%s", error_msg(&err));
	cr_expect(found);
	cr_expect_eq(t.id, a);
	cr_expect_str_eq(t.user, "alice");
	cr_expect_str_eq(t.name, "laptop");
	cr_expect_geq(t.created, before - 1);
	cr_expect_eq(t.last_used, 0, "the first use sees it never used before");
	store_token_release(&t);
	cr_assert_eq(store_token_use(s, "hash-a", &t, &found, &err), 0, "%s", error_msg(&err));
	cr_expect_geq(t.last_used, before, "the second use sees the first one's stamp");
	store_token_release(&t);
	cr_assert_eq(store_token_use(s, "hash-zz", &t, &found, &err), 0);
	cr_expect_not(found, "an unknown hash finds nobody");
	cr_expect_null(t.user);

	cr_assert_eq(store_token_revoke(s, a, &found, &err), 0, "%s", error_msg(&err));
	cr_expect(found);
	cr_assert_eq(store_token_use(s, "hash-a", &t, &found, &err), 0);
	cr_expect_not(found, "a revoked token is never found");
	cr_assert_eq(store_token_revoke(s, 9999, &found, &err), 0);
	cr_expect_not(found);
	store_close(s);

	/* What a listing shows, from another connection. */
	s = open_store(db);
	struct token_listing l = { .n = 0 };
	cr_assert_eq(store_token_list(s, list_token, &l, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(l.buf, "alice laptop revoked;bob  active;");
	cr_expect_geq(l.last_used[0], before, "the lookup stamped last_used");
	cr_expect_eq(l.last_used[1], 0, "never used");
	store_close(s);
}

Test(store_server, token_arguments_are_checked)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long id;
	struct store_token t;
	bool found;
	cr_expect_eq(store_token_add(s, "", "n", "h", &id, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot add a token without a user");
	cr_expect_eq(store_token_add(s, "u", "n", NULL, &id, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot add a token without its hash");
	cr_expect_eq(store_token_use(s, "", &t, &found, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot look up a token without its hash");
	error_clear(&err);
	store_close(s);
}

Test(store_server, a_delivery_is_fresh_once)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	bool fresh = false;
	cr_assert_eq(store_delivery_claim(s, "github", "d-1", &fresh, &err), 0, "%s", error_msg(&err));
	cr_expect(fresh);
	cr_assert_eq(store_delivery_claim(s, "github", "d-1", &fresh, &err), 0);
	cr_expect_not(fresh, "the same delivery again");
	cr_assert_eq(store_delivery_claim(s, "gitlab", "d-1", &fresh, &err), 0);
	cr_expect(fresh, "the same id from another source");
	cr_expect_eq(store_delivery_claim(s, "github", "", &fresh, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot claim a delivery without its source and id");
	error_clear(&err);
	store_close(s);
}

/* Runs fn(i, write end) in n child processes released together; returns
 * what they wrote, one line each, in the order read. */
typedef int (*child_fn)(int i, FILE *out);

static char *run_children(int n, child_fn fn)
{
	int go[2], out[2];
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(out), 0);
	pid_t pids[8];
	cr_assert_leq(n, 8);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		cr_assert_neq(pids[i], -1);
		if (pids[i] == 0) {
			close(go[1]);
			close(out[0]);
			char c;
			if (read(go[0], &c, 1) != 0)
				_exit(10);
			FILE *f = fdopen(out[1], "w");
			int rc = fn(i, f);
			fclose(f);
			_exit(rc);
		}
	}
	close(go[0]);
	close(go[1]);
	close(out[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t got;
	while ((got = read(out[0], buf + len, cap - 1 - len)) > 0) {
		len += (size_t)got;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	close(out[0]);
	for (int i = 0; i < n; i++) {
		int status;
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed with %d", i,
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return buf;
}

static int claim_deliveries(int i, FILE *out)
{
	struct store *s;
	struct error err = ERROR_INIT;
	if (store_open(&s, db, &err) < 0) {
		fprintf(stderr, "%s\n", error_msg(&err));
		return 11;
	}
	for (int d = 0; d < 40; d++) {
		char id[32];
		bool fresh;
		snprintf(id, sizeof(id), "delivery-%d", d);
		if (store_delivery_claim(s, "github", id, &fresh, &err) < 0) {
			fprintf(stderr, "%s\n", error_msg(&err));
			return 12;
		}
		if (fresh)
			fprintf(out, "%d\n", d);
	}
	store_close(s);
	return 0;
}

Test(store_server, deliveries_are_claimed_once_across_processes)
{
	store_close(open_store(db));
	char *claimed = run_children(4, claim_deliveries);
	int seen[40] = { 0 }, total = 0;
	for (char *p = claimed; *p; p = strchr(p, '\n') + 1) {
		int d = atoi(p);
		cr_assert(d >= 0 && d < 40);
		seen[d]++;
		total++;
	}
	free(claimed);
	cr_expect_eq(total, 40, "every delivery is fresh exactly once, got %d fresh claims", total);
	for (int d = 0; d < 40; d++)
		cr_expect_eq(seen[d], 1, "delivery-%d was fresh %d times", d, seen[d]);
}

static long long enqueue(struct store *s, const char *kind, const char *key, bool supersede)
{
	struct error err = ERROR_INIT;
	long long id = 0;
	cr_assert_eq(store_job_enqueue(s, kind, key, "{\"n\":1}", supersede, &id, &err), 0, "%s",
		     error_msg(&err));
	cr_assert_gt(id, 0);
	return id;
}

/* A claim's `now` by which every job queued during the test is due, however
 * slowly the machine runs. */
#define LATER ((long long)time(NULL) + 600)

/* The owner the tests claim as, unless they name another. */
#define OWNER "test:1:00"

/* Claims at `now` as owner for lease_s; returns the id claimed, 0 when none. */
static long long claim_as(struct store *s, long long now, const char *owner, long long lease_s)
{
	struct error err = ERROR_INIT;
	struct store_job j;
	bool found = true;
	cr_assert_eq(store_job_claim(s, now, owner, lease_s, &j, &found, &err), 0, "%s",
		     error_msg(&err));
	if (!found)
		return 0;
	cr_expect_eq(j.status, STORE_JOB_RUNNING);
	cr_expect_str_eq(j.owner, owner);
	cr_expect_eq(j.lease_until, now + lease_s);
	long long id = j.id;
	store_job_release(&j);
	return id;
}

static long long claim(struct store *s, long long now)
{
	return claim_as(s, now, OWNER, 600);
}

static struct store_job get(struct store *s, long long id)
{
	struct error err = ERROR_INIT;
	struct store_job j;
	bool found = false;
	cr_assert_eq(store_job_get(s, id, &j, &found, &err), 0, "%s", error_msg(&err));
	cr_assert(found, "job %lld exists", id);
	return j;
}

static void finish(struct store *s, long long id, enum store_job_status status, const char *msg)
{
	struct error err = ERROR_INIT;
	cr_assert_eq(store_job_finish(s, id, OWNER, status, msg, &err), 0, "%s", error_msg(&err));
}

static int count_job(void *ctx, const struct store_job *j)
{
	(void)j;
	++*(int *)ctx;
	return 0;
}

Test(store_server, a_work_transaction_keeps_all_or_nothing)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	bool fresh = false;
	long long id = 0;
	int jobs = 0;

	/* Undone: the delivery is not seen and no job is queued. */
	cr_assert_eq(store_work_begin(s, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_delivery_claim(s, "github", "w-1", &fresh, &err), 0, "%s", error_msg(&err));
	cr_assert(fresh);
	cr_assert_eq(store_job_enqueue(s, "k", "pr:1", NULL, true, &id, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_kv_set(s, "pr-closed:1", "closed", &err), 0, "%s", error_msg(&err));
	store_work_abort(s);
	cr_assert_eq(store_job_list(s, 0, count_job, &jobs, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(jobs, 0, "the aborted job is gone");
	char *v = NULL;
	cr_assert_eq(store_kv_get(s, "pr-closed:1", &v, &err), 0);
	cr_expect_null(v, "the aborted fact is gone");

	/* Kept: the same delivery is fresh again, and now stays claimed. */
	cr_assert_eq(store_work_begin(s, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_delivery_claim(s, "github", "w-1", &fresh, &err), 0);
	cr_expect(fresh, "an aborted claim did not count");
	cr_assert_eq(store_job_enqueue(s, "k", "pr:1", NULL, true, &id, &err), 0);
	cr_expect_eq(store_work_begin(s, &err), -1, "no nesting");
	error_clear(&err);
	cr_assert_eq(store_work_commit(s, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(store_work_commit(s, &err), -1, "nothing left to commit");
	error_clear(&err);
	store_close(s);

	s = open_store(db);
	cr_assert_eq(store_delivery_claim(s, "github", "w-1", &fresh, &err), 0);
	cr_expect_not(fresh, "the committed claim holds after reopening");
	jobs = 0;
	cr_assert_eq(store_job_list(s, 0, count_job, &jobs, &err), 0);
	cr_expect_eq(jobs, 1);
	store_close(s);
}

Test(store_server, jobs_run_oldest_first_one_per_key)
{
	struct store *s = open_store(db);
	long long now = LATER;
	long long a = enqueue(s, "reconcile", "pr:o/r#1", false);
	long long b = enqueue(s, "reconcile", "pr:o/r#1", false);
	long long c = enqueue(s, "webhook", "pr:o/r#2", false);

	struct store_job j = get(s, a);
	cr_expect_str_eq(j.kind, "reconcile");
	cr_expect_str_eq(j.key, "pr:o/r#1");
	cr_expect_str_eq(j.payload, "{\"n\":1}");
	cr_expect_eq(j.status, STORE_JOB_QUEUED);
	cr_expect_eq(j.attempts, 0);
	cr_expect_null(j.message);
	cr_expect_geq(j.created, now - 600);
	cr_expect_leq(j.created, (long long)time(NULL));
	store_job_release(&j);

	cr_expect_eq(claim(s, now + 1), a);
	cr_expect_eq(claim(s, now + 1), c, "b waits: its key has a running job");
	cr_expect_eq(claim(s, now + 1), 0);
	finish(s, a, STORE_JOB_DONE, "ok");
	cr_expect_eq(claim(s, now + 1), b);

	j = get(s, a);
	cr_expect_eq(j.status, STORE_JOB_DONE);
	cr_expect_eq(j.attempts, 1);
	cr_expect_str_eq(j.message, "ok");
	store_job_release(&j);
	cr_expect_str_eq(store_job_status_name(STORE_JOB_CANCELLED), "cancelled");
	cr_expect_str_eq(store_job_status_name(STORE_JOB_QUEUED), "queued");
	store_close(s);
}

Test(store_server, a_retried_job_waits_for_its_time_and_blocks_its_key)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long now = LATER;
	long long a = enqueue(s, "reconcile", "k", false);
	cr_assert_eq(claim(s, now), a);
	cr_assert_eq(store_job_retry(s, a, OWNER, now + 60, "docker is down", &err), 0, "%s",
		     error_msg(&err));
	struct store_job r = get(s, a);
	cr_expect_null(r.owner, "a job waiting for its retry belongs to no server");
	store_job_release(&r);
	long long b = enqueue(s, "reconcile", "k", false);

	cr_expect_eq(claim(s, now + 59), 0, "a is not due, and b comes after it");
	cr_expect_eq(claim(s, now + 60), a);
	struct store_job j = get(s, a);
	cr_expect_eq(j.attempts, 2);
	cr_expect_eq(j.not_before, now + 60);
	cr_expect_str_eq(j.message, "docker is down");
	store_job_release(&j);
	finish(s, a, STORE_JOB_FAILED, NULL);
	cr_expect_eq(claim(s, now + 60), b);
	j = get(s, a);
	cr_expect_eq(j.status, STORE_JOB_FAILED);
	cr_expect_null(j.message);
	store_job_release(&j);
	store_close(s);
}

Test(store_server, only_running_jobs_finish)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long a = enqueue(s, "reconcile", "k", false);
	cr_expect_eq(store_job_finish(s, a, OWNER, STORE_JOB_DONE, NULL, &err), -1);
	char msg[128];
	snprintf(msg, sizeof(msg), "job %lld is not running (it is queued)", a);
	cr_expect_str_eq(error_msg(&err), msg);
	cr_expect_eq(store_job_retry(s, 4242, OWNER, 0, NULL, &err), -1);
	cr_expect_str_eq(error_msg(&err), "job 4242 does not exist");
	cr_expect_eq(store_job_finish(s, a, OWNER, STORE_JOB_RUNNING, NULL, &err), -1);
	snprintf(msg, sizeof(msg), "cannot finish job %lld as running (give done, failed or cancelled)", a);
	cr_expect_str_eq(error_msg(&err), msg);
	long long id;
	cr_expect_eq(store_job_enqueue(s, "reconcile", "", NULL, false, &id, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot queue a job without its kind and key");
	bool found = true;
	struct store_job j;
	cr_expect_eq(store_job_claim(s, LATER, "", 30, &j, &found, &err), -1);
	cr_expect_str_eq(error_msg(&err), "a job's owner must be named");
	cr_expect_eq(store_job_claim(s, LATER, OWNER, 0, &j, &found, &err), -1);
	cr_expect_str_eq(error_msg(&err), "a job's lease must last at least a second, not 0");
	error_clear(&err);

	found = true;
	cr_assert_eq(store_job_get(s, 4242, &j, &found, &err), 0);
	cr_expect_not(found);
	store_close(s);
}

Test(store_server, the_newest_job_of_a_key_supersedes_the_others)
{
	struct store *s = open_store(db);
	long long now = LATER;
	long long a = enqueue(s, "reconcile", "pr:o/r#7", false);
	long long other = enqueue(s, "reconcile", "pr:o/r#8", false);
	cr_assert_eq(claim(s, now), a);
	long long b = enqueue(s, "reconcile", "pr:o/r#7", false);
	long long c = enqueue(s, "reconcile", "pr:o/r#7", true);

	struct store_job j = get(s, b);
	char msg[64];
	snprintf(msg, sizeof(msg), "superseded by job %lld", c);
	cr_expect_eq(j.status, STORE_JOB_CANCELLED);
	cr_expect_str_eq(j.message, msg);
	store_job_release(&j);
	j = get(s, a);
	cr_expect_eq(j.status, STORE_JOB_RUNNING, "a running job is asked to stop, not stopped");
	cr_expect(j.cancel_requested);
	store_job_release(&j);
	j = get(s, c);
	cr_expect_eq(j.status, STORE_JOB_QUEUED);
	cr_expect_not(j.cancel_requested);
	store_job_release(&j);
	j = get(s, other);
	cr_expect_eq(j.status, STORE_JOB_QUEUED, "another key is untouched");
	store_job_release(&j);

	cr_expect_eq(claim(s, now), other);
	cr_expect_eq(claim(s, now), 0, "c waits for a to stop");
	finish(s, a, STORE_JOB_CANCELLED, "superseded");
	cr_expect_eq(claim(s, now), c);
	store_close(s);
}

Test(store_server, a_job_whose_lease_ends_is_taken_over)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long now = LATER;
	long long a = enqueue(s, "reconcile", "k1", false);
	long long b = enqueue(s, "reconcile", "k2", false);
	long long c = enqueue(s, "reconcile", "k3", false);
	cr_assert_eq(claim_as(s, now, "dead:1:00", 10), a);
	cr_assert_eq(claim_as(s, now, "dead:1:00", 10), b);
	cr_assert_eq(store_job_finish(s, b, "dead:1:00", STORE_JOB_DONE, NULL, &err), 0);
	cr_assert_eq(claim_as(s, now, "dead:1:00", 10), c);
	store_close(s); /* the server dies with a and c running */

	s = open_store(db);
	cr_expect_eq(claim_as(s, now + 10, OWNER, 30), 0, "a lease holds until it ends");
	cr_expect_eq(claim_as(s, now + 11, OWNER, 30), a, "then its job is taken over");
	struct store_job j = get(s, a);
	cr_expect_eq(j.attempts, 2);
	cr_expect_str_eq(j.owner, OWNER);
	store_job_release(&j);
	j = get(s, c);
	cr_expect_eq(j.status, STORE_JOB_QUEUED, "every expired lease goes back to the queue");
	cr_expect_str_eq(j.message, "taken back: the lease of dead:1:00 ended");
	cr_expect_null(j.owner);
	store_job_release(&j);
	j = get(s, b);
	cr_expect_eq(j.status, STORE_JOB_DONE, "finished jobs stay finished");
	cr_expect_str_eq(j.owner, "dead:1:00", "a finished job keeps who ran it");
	store_job_release(&j);

	/* The dead server's late outcome is refused; its heartbeat renews nothing. */
	cr_expect_eq(store_job_finish(s, a, "dead:1:00", STORE_JOB_DONE, NULL, &err), -1);
	char msg[128];
	snprintf(msg, sizeof(msg), "job %lld is run by %s now, not by dead:1:00", a, OWNER);
	cr_expect_str_eq(error_msg(&err), msg);
	size_t n = 9;
	cr_assert_eq(store_job_renew(s, "dead:1:00", now + 100, &n, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(n, 0);

	/* A renewed lease outlives its first end. */
	cr_assert_eq(store_job_renew(s, OWNER, now + 100, &n, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(n, 1);
	cr_expect_eq(claim_as(s, now + 50, "other:2:00", 30), c);
	j = get(s, a);
	cr_expect_eq(j.status, STORE_JOB_RUNNING);
	cr_expect_eq(j.lease_until, now + 100);
	store_job_release(&j);

	/* Leases in the future have not ended now. */
	cr_assert_eq(store_job_requeue_expired(s, &n, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(n, 0);
	/* A server that stops puts back its own jobs only. */
	cr_assert_eq(store_job_release_owned(s, OWNER, &n, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(n, 1);
	j = get(s, a);
	cr_expect_eq(j.status, STORE_JOB_QUEUED);
	snprintf(msg, sizeof(msg), "put back by %s as it stopped", OWNER);
	cr_expect_str_eq(j.message, msg);
	store_job_release(&j);
	j = get(s, c);
	cr_expect_eq(j.status, STORE_JOB_RUNNING);
	store_job_release(&j);
	cr_expect_eq(claim_as(s, now + 50, "other:2:00", 30), a);
	store_close(s);
}

Test(store_server, jobs_of_an_older_schema_left_running_are_taken_back)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long a = enqueue(s, "reconcile", "k1", false);
	store_close(s);
	/* A server of schema 3 claimed it: running, without owner or lease. */
	store_raw_exec("UPDATE jobs SET status = 'running', owner = NULL, lease_until = 0");
	s = open_store(db);
	size_t n = 0;
	cr_assert_eq(store_job_requeue_expired(s, &n, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(n, 1);
	struct store_job j = get(s, a);
	cr_expect_str_eq(j.message, "taken back: the lease of an older server ended");
	store_job_release(&j);
	cr_expect_eq(claim(s, LATER), a);
	store_close(s);
}

struct ids {
	char buf[256];
};

static int list_job(void *ctx, const struct store_job *j)
{
	struct ids *l = ctx;
	size_t len = strlen(l->buf);
	snprintf(l->buf + len, sizeof(l->buf) - len, "%s:%s;", j->key, store_job_status_name(j->status));
	return 0;
}

Test(store_server, jobs_are_listed_newest_first)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	enqueue(s, "reconcile", "a", false);
	enqueue(s, "reconcile", "b", false);
	enqueue(s, "reconcile", "c", false);
	claim(s, LATER);
	struct ids l = { "" };
	cr_assert_eq(store_job_list(s, 0, list_job, &l, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(l.buf, "c:queued;b:queued;a:running;");
	l.buf[0] = '\0';
	cr_assert_eq(store_job_list(s, 2, list_job, &l, &err), 0);
	cr_expect_str_eq(l.buf, "c:queued;b:queued;");
	store_close(s);
}

/* Claims and finishes jobs until none is left, writing each id claimed. */
static int claim_jobs(int i, FILE *out)
{
	struct store *s;
	struct error err = ERROR_INIT;
	if (store_open(&s, db, &err) < 0) {
		fprintf(stderr, "%s\n", error_msg(&err));
		return 11;
	}
	long long now = LATER;
	int idle = 0;
	while (idle < 3) {
		struct store_job j;
		bool found;
		if (store_job_claim(s, now, OWNER, 600, &j, &found, &err) < 0) {
			fprintf(stderr, "%s\n", error_msg(&err));
			return 12;
		}
		if (!found) {
			/* Jobs of a key wait while another process runs one of it. */
			idle++;
			usleep(20000);
			continue;
		}
		idle = 0;
		fprintf(out, "%lld %s\n", j.id, j.key);
		fflush(out);
		long long id = j.id;
		store_job_release(&j);
		if (store_job_finish(s, id, OWNER, STORE_JOB_DONE, NULL, &err) < 0) {
			fprintf(stderr, "%s\n", error_msg(&err));
			return 13;
		}
	}
	store_close(s);
	return 0;
}

Test(store_server, two_processes_never_claim_the_same_job)
{
	struct store *s = open_store(db);
	enum { JOBS = 120 };
	long long first = 0;
	for (int k = 0; k < JOBS; k++) {
		char key[32];
		/* 40 keys of one job and 20 keys of four jobs. */
		snprintf(key, sizeof(key), "key-%d", k < 40 ? k : 40 + k % 20);
		long long id = enqueue(s, "reconcile", key, false);
		if (!first)
			first = id;
	}
	char *claimed = run_children(3, claim_jobs);
	int seen[JOBS] = { 0 }, total = 0;
	for (char *p = claimed; *p; p = strchr(p, '\n') + 1) {
		long long id = atoll(p);
		cr_assert(id >= first && id < first + JOBS, "claimed id %lld", id);
		seen[id - first]++;
		total++;
	}
	free(claimed);
	cr_expect_eq(total, JOBS);
	for (int k = 0; k < JOBS; k++) {
		cr_expect_eq(seen[k], 1, "job %lld claimed %d times", first + k, seen[k]);
		struct store_job j = get(s, first + k);
		cr_expect_eq(j.status, STORE_JOB_DONE);
		cr_expect_eq(j.attempts, 1);
		store_job_release(&j);
	}
	store_close(s);
}

Test(store_server, facts_are_set_replaced_and_deleted)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	char *v = (char *)"untouched";
	cr_assert_eq(store_kv_get(s, "pr:o/r#1:closed", &v, &err), 0, "%s", error_msg(&err));
	cr_expect_null(v);
	cr_assert_eq(store_kv_set(s, "pr:o/r#1:closed", "1700000000", &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_kv_set(s, "pr:o/r#1:closed", "1700000001", &err), 0);
	cr_assert_eq(store_kv_set(s, "other", "x", &err), 0);
	store_close(s);

	s = open_store(db);
	cr_assert_eq(store_kv_get(s, "pr:o/r#1:closed", &v, &err), 0);
	cr_expect_str_eq(v, "1700000001");
	free(v);
	cr_assert_eq(store_kv_set(s, "pr:o/r#1:closed", NULL, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_kv_get(s, "pr:o/r#1:closed", &v, &err), 0);
	cr_expect_null(v, "deleted");
	cr_assert_eq(store_kv_set(s, "never-set", NULL, &err), 0, "deleting an absent key is fine");
	cr_assert_eq(store_kv_get(s, "other", &v, &err), 0);
	cr_expect_str_eq(v, "x");
	free(v);
	cr_expect_eq(store_kv_set(s, "", "x", &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot set a value without its key");
	error_clear(&err);
	store_close(s);
}

Test(store_server, a_value_only_advances)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	bool advanced = false;
	cr_assert_eq(store_kv_advance(s, "dataset-scheduled:a", "2026-12-05", &advanced, &err), 0,
		     "%s", error_msg(&err));
	cr_expect(advanced, "an absent key is set");
	cr_assert_eq(store_kv_advance(s, "dataset-scheduled:a", "2026-12-05", &advanced, &err), 0);
	cr_expect_not(advanced, "the same value again does not advance");
	cr_assert_eq(store_kv_advance(s, "dataset-scheduled:a", "2026-12-04", &advanced, &err), 0);
	cr_expect_not(advanced, "an older value does not go back");
	cr_assert_eq(store_kv_advance(s, "dataset-scheduled:a", "2026-12-06", &advanced, &err), 0);
	cr_expect(advanced);
	char *v = NULL;
	cr_assert_eq(store_kv_get(s, "dataset-scheduled:a", &v, &err), 0);
	cr_expect_str_eq(v, "2026-12-06");
	free(v);
	cr_expect_eq(store_kv_advance(s, "", "x", &advanced, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot advance a value without its key and value");
	error_clear(&err);
	store_close(s);
}

/* Advances "period" to each of 20 periods, writing those it won. */
static int advance_periods(int i, FILE *out)
{
	struct store *s;
	struct error err = ERROR_INIT;
	if (store_open(&s, db, &err) < 0) {
		fprintf(stderr, "%s\n", error_msg(&err));
		return 11;
	}
	for (int p = 0; p < 20; p++) {
		char value[16];
		snprintf(value, sizeof(value), "%08d", p);
		bool advanced;
		if (store_kv_advance(s, "period", value, &advanced, &err) < 0) {
			fprintf(stderr, "%s\n", error_msg(&err));
			return 12;
		}
		if (advanced) {
			fprintf(out, "%d\n", p);
			fflush(out);
		}
	}
	store_close(s);
	return 0;
}

Test(store_server, one_process_advances_each_period)
{
	char *won = run_children(4, advance_periods);
	int seen[20] = { 0 };
	for (char *p = won; *p; p = strchr(p, '\n') + 1) {
		int period = atoi(p);
		cr_assert(period >= 0 && period < 20);
		seen[period]++;
	}
	free(won);
	/* A process that falls behind finds later periods taken: some periods
	 * may be won by nobody, none twice. */
	for (int p = 0; p < 20; p++)
		cr_expect_leq(seen[p], 1, "period %d was advanced %d times", p, seen[p]);
	cr_expect_eq(seen[19], 1, "the last period is won once");
}

/* Drops every connection to the test's database, as a restart of the
 * server does ("terminating connection due to administrator command"). */
static void drop_connections(void)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'",
		 pg_name);
	pg_exec(sql, false);
	usleep(100000); /* the server's goodbye reaches the client sockets */
}

Test(store_server, a_dropped_connection_is_made_again)
{
	if (!on_postgres())
		cr_skip_test("SQLite has no connection to lose");
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	cr_assert_eq(store_kv_set(s, "k", "1", &err), 0, "%s", error_msg(&err));
	drop_connections();
	/* Idle when dropped: the next call connects again and succeeds. */
	char *v = NULL;
	cr_expect_eq(store_kv_get(s, "k", &v, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(v, "1");
	free(v);

	/* Dropped inside a transaction: its statements fail with the reason,
	 * nothing of it is kept, and the call after it connects again. */
	cr_assert_eq(store_work_begin(s, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_kv_set(s, "k", "2", &err), 0, "%s", error_msg(&err));
	drop_connections();
	cr_expect_eq(store_kv_set(s, "k", "3", &err), -1);
	cr_expect(strstr(error_msg(&err), "terminating connection due to administrator command") ||
			  strstr(error_msg(&err), "server closed the connection"),
		  "%s", error_msg(&err));
	cr_expect(error_is(&err, ERROR_TRANSIENT), "a lost connection passes");
	store_work_abort(s);
	error_clear(&err);
	cr_expect_eq(store_kv_get(s, "k", &v, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(v, "1", "the transaction was not kept");
	free(v);
	store_close(s);
}

Test(store_server, the_apply_lock_is_taken_back_after_a_dropped_connection)
{
	if (!on_postgres())
		cr_skip_test("SQLite has no connection to lose");
	struct store *s = open_store(db), *other = open_store(db);
	struct error err = ERROR_INIT;
	cr_assert_eq(store_lock_apply(s, false, &err), 0, "%s", error_msg(&err));
	drop_connections();
	long long gen;
	cr_expect_eq(store_current_generation(s, &gen, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(store_lock_apply(other, false, &err), -1, "s holds the lock again");
	cr_expect(error_is(&err, ERROR_BUSY));
	error_clear(&err);
	store_unlock_apply(s);

	/* Taken by another apply while s was away: s's apply cannot go on. */
	cr_assert_eq(store_lock_apply(s, false, &err), 0, "%s", error_msg(&err));
	drop_connections();
	cr_assert_eq(store_lock_apply(other, false, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(store_current_generation(s, &gen, &err), -1);
	cr_expect(strstr(error_msg(&err), "with it the apply lock, which another apply holds now"),
		  "%s", error_msg(&err));
	cr_expect(error_is(&err, ERROR_TRANSIENT));
	store_unlock_apply(s);
	error_clear(&err);
	cr_expect_eq(store_current_generation(s, &gen, &err), 0, "%s", error_msg(&err));
	store_unlock_apply(other);
	store_close(other);
	store_close(s);
}

static int collect_kv(void *ctx, const char *key, const char *value)
{
	struct strbuf *sb = ctx;
	strbuf_addf(sb, "%s=%s;", key, value);
	return 0;
}

Test(store_server, facts_are_listed_by_prefix_in_key_order)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	cr_assert_eq(store_kv_set(s, "retired:b", "2", &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_kv_set(s, "retired:a", "1", &err), 0);
	cr_assert_eq(store_kv_set(s, "retired_x", "not under the prefix", &err), 0);
	cr_assert_eq(store_kv_set(s, "retire", "shorter than the prefix", &err), 0);
	cr_assert_eq(store_kv_set(s, "other", "x", &err), 0);
	struct strbuf sb = STRBUF_INIT;
	cr_assert_eq(store_kv_list(s, "retired:", collect_kv, &sb, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(strbuf_cstr(&sb), "retired:a=1;retired:b=2;");
	strbuf_reset(&sb);
	cr_assert_eq(store_kv_list(s, "retired%", collect_kv, &sb, &err), 0);
	cr_expect_str_eq(strbuf_cstr(&sb), "", "%% is not a wildcard");
	strbuf_release(&sb);
	store_close(s);
}

Test(store_server, an_older_database_gains_the_server_tables)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	struct store_txn *t;
	long long gen = 0;
	struct store_change c = { "service", "main", "a", STORE_CREATED, "{}", NULL };
	cr_assert_eq(store_begin(s, &t, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_commit_generation(t, "alice", "apply", &c, 1, NULL, &gen, &err), 0, "%s",
		     error_msg(&err));
	store_close(s);
	/* What a database of schema version 1 had: no server tables. */
	store_raw_exec("DROP TABLE tokens; DROP TABLE deliveries; DROP TABLE jobs; DROP TABLE kv;"
		       " ALTER TABLE objects DROP COLUMN origin");
	store_raw_set_version(1);

	s = open_store(db);
	long long current = 0, id = 0;
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 1, "the generations are kept");
	cr_expect_eq(store_token_add(s, "alice", "t", "h", &id, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(store_job_enqueue(s, "k", "k", NULL, false, &id, &err), 0, "%s", error_msg(&err));
	store_close(s);
}
