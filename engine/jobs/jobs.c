/* The job runner: worker threads, each with its own store connection, claim
 * due jobs from the store, run the handler of their kind and record the
 * outcome (done, retry after a backoff, failed, cancelled); a heartbeat
 * thread renews the leases of the jobs this server runs. Scheduling across
 * keys and processes is the store's (store_job_claim); this file only runs. */
#include "jobs.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/sleeper.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* How often a running handler's job_cancelled() asks the store. */
#define CANCEL_CHECK_MS 200
/* How long an idle worker sleeps before looking again (jobs queued by
 * other processes, retries falling due). */
#define IDLE_WAIT_MS 1000

struct job_kind {
	char *kind;
	job_handler fn;
	void *ctx;
};

struct worker {
	struct jobs *jobs;
	struct store *store;
	pthread_t thread;
	bool running;
};

struct jobs {
	struct jobs_options o;
	char *state;
	struct job_kind *kinds;
	size_t nkinds;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping;
	unsigned long long wakes; /* bumped by every wake, so no wake-up is lost */
	struct worker *workers;
	unsigned nworkers;
	struct jobs_stats stats;

	char owner[128];
	struct store *beat_store; /* the heartbeat's connection */
	struct sleeper beat;
	pthread_t beat_thread;
	bool beat_running;
};

struct job_run {
	struct jobs *jobs;
	struct store *store;
	long long id;
	long long checked_ms;
	bool cancelled;
	bool lost; /* another server took the job over */
};

static bool stopping(struct jobs *j)
{
	pthread_mutex_lock(&j->mu);
	bool s = j->stopping;
	pthread_mutex_unlock(&j->mu);
	return s;
}

struct store *job_store(struct job_run *run)
{
	return run->store;
}

bool job_cancelled(struct job_run *run)
{
	if (run->cancelled)
		return true;
	if (stopping(run->jobs))
		return true;
	long long now = clock_ms();
	if (now - run->checked_ms < CANCEL_CHECK_MS)
		return false;
	run->checked_ms = now;
	struct store_job job;
	bool found;
	struct error err = ERROR_INIT;
	/* A store that cannot be read cancels nothing: the handler goes on. */
	if (store_job_get(run->store, run->id, &job, &found, &err) < 0) {
		log_event(LOG_WARNING, "jobs", "job %lld: cannot check for cancellation: %s",
			  run->id, error_msg(&err));
		error_clear(&err);
		return false;
	}
	/* Gone, finished or run by someone else: the lease was lost. */
	run->lost = !found || job.status != STORE_JOB_RUNNING || !job.owner ||
		    strcmp(job.owner, run->jobs->owner) != 0;
	run->cancelled = run->lost || job.cancel_requested;
	if (found)
		store_job_release(&job);
	return run->cancelled;
}

int jobs_new(struct jobs **out, const struct jobs_options *o, struct error *err)
{
	*out = NULL;
	if (!o || !o->state || !*o->state)
		return error_set(err, "jobs need a store location");
	struct jobs *j = xcalloc(1, sizeof(*j));
	j->o = *o;
	j->state = xstrdup(o->state);
	j->o.state = j->state;
	if (!j->o.workers)
		j->o.workers = 2;
	if (!j->o.max_attempts)
		j->o.max_attempts = 5;
	if (j->o.backoff_ms <= 0)
		j->o.backoff_ms = 2000;
	if (j->o.backoff_cap_ms <= 0)
		j->o.backoff_cap_ms = 16000;
	if (j->o.lease_s <= 0)
		j->o.lease_s = 30;
	/* The nonce tells this process from an earlier one with the same pid
	 * (pid 1 in a container), whose leases must run out, not be renewed. */
	char host[64] = "localhost";
	unsigned char nonce[4] = { 0 };
	gethostname(host, sizeof(host) - 1);
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(nonce, &ts.tv_nsec, sizeof(nonce));
	}
	snprintf(j->owner, sizeof(j->owner), "%s:%ld:%02x%02x%02x%02x", host, (long)getpid(),
		 nonce[0], nonce[1], nonce[2], nonce[3]);
	sleeper_init(&j->beat);
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = j;
	return 0;
}

const char *jobs_owner(const struct jobs *j)
{
	return j->owner;
}

void jobs_register(struct jobs *j, const char *kind, job_handler fn, void *ctx)
{
	for (size_t i = 0; i < j->nkinds; i++)
		if (strcmp(j->kinds[i].kind, kind) == 0) {
			j->kinds[i].fn = fn;
			j->kinds[i].ctx = ctx;
			return;
		}
	j->kinds = xrealloc(j->kinds, (j->nkinds + 1) * sizeof(*j->kinds));
	j->kinds[j->nkinds++] = (struct job_kind){ xstrdup(kind), fn, ctx };
}

static const struct job_kind *kind_find(struct jobs *j, const char *kind)
{
	for (size_t i = 0; i < j->nkinds; i++)
		if (strcmp(j->kinds[i].kind, kind) == 0)
			return &j->kinds[i];
	return NULL;
}

/* The delay before retry number `attempts` (1 after the first failure). */
static long long backoff_ms(const struct jobs *j, int attempts)
{
	long long d = j->o.backoff_ms;
	for (int i = 1; i < attempts && d < j->o.backoff_cap_ms; i++)
		d *= 2;
	return d < j->o.backoff_cap_ms ? d : j->o.backoff_cap_ms;
}

static void count(struct jobs *j, enum job_outcome outcome, double seconds)
{
	pthread_mutex_lock(&j->mu);
	switch (outcome) {
	case JOB_DONE:
		j->stats.done++;
		break;
	case JOB_RETRY:
		j->stats.retried++;
		break;
	case JOB_FAILED:
		j->stats.failed++;
		break;
	case JOB_CANCELLED:
		j->stats.cancelled++;
		break;
	}
	j->stats.seconds += seconds;
	pthread_mutex_unlock(&j->mu);
}

/* Records how a claimed job ended; -1 when it could not (the store is
 * unreachable, or another server took the job over meanwhile). */
static int job_settle(struct worker *w, const struct store_job *job, enum job_outcome outcome,
		       const char *message)
{
	struct jobs *j = w->jobs;
	struct error err = ERROR_INIT;
	struct store *s = w->store;
	int rc = 0;
	char buf[1024];
	switch (outcome) {
	case JOB_DONE:
		rc = store_job_finish(s, job->id, j->owner, STORE_JOB_DONE, message, &err);
		break;
	case JOB_FAILED:
		rc = store_job_finish(s, job->id, j->owner, STORE_JOB_FAILED, message, &err);
		log_event(LOG_ERROR, "jobs", "job %lld (%s %s) failed: %s", job->id, job->kind,
			  job->key, message ? message : "no reason given");
		break;
	case JOB_CANCELLED:
		rc = store_job_finish(s, job->id, j->owner, STORE_JOB_CANCELLED,
				      message ? message : "superseded by a newer job", &err);
		break;
	case JOB_RETRY:
		if ((unsigned)job->attempts >= j->o.max_attempts) {
			snprintf(buf, sizeof(buf), "gave up after %d attempts: %s", job->attempts,
				 message ? message : "no reason given");
			rc = store_job_finish(s, job->id, j->owner, STORE_JOB_FAILED, buf, &err);
			log_event(LOG_ERROR, "jobs", "job %lld (%s %s) failed: %s", job->id,
				  job->kind, job->key, buf);
			break;
		}
		{
			long long delay = backoff_ms(j, job->attempts);
			/* The store keeps seconds: round up so a retry is never early. */
			long long due = (wall_ms() + delay + 999) / 1000;
			snprintf(buf, sizeof(buf), "attempt %d failed, retrying in %llds: %s",
				 job->attempts, (delay + 999) / 1000, message ? message : "no reason given");
			rc = store_job_retry(s, job->id, j->owner, due, buf, &err);
		}
		break;
	}
	if (rc < 0) {
		log_event(LOG_WARNING, "jobs", "job %lld: cannot record its outcome: %s", job->id,
			  error_msg(&err));
		error_clear(&err);
	}
	return rc;
}

/* Waits up to ms or until jobs_stop, and with seen (the wake count before
 * looking for work) until a jobs_wake that came after it. */
static void wait_for_wake(struct jobs *j, const unsigned long long *seen, long long ms)
{
	struct timespec ts = sleeper_deadline(ms);
	pthread_mutex_lock(&j->mu);
	int rc = 0;
	while (!j->stopping && (!seen || j->wakes == *seen) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&j->cond, &j->mu, &ts);
	pthread_mutex_unlock(&j->mu);
}

/* Records the outcome, waiting out a store that cannot be reached (a
 * restart: the heartbeat renews the lease meanwhile). false when the job is
 * no longer this server's, or the server stops first (jobs_stop puts the
 * job back then). */
static bool job_record(struct worker *w, const struct store_job *job, enum job_outcome outcome,
		       const char *message)
{
	struct jobs *j = w->jobs;
	while (job_settle(w, job, outcome, message) < 0) {
		struct store_job now;
		bool found;
		struct error err = ERROR_INIT;
		if (store_job_get(w->store, job->id, &now, &found, &err) == 0) {
			bool ours = found && now.status == STORE_JOB_RUNNING && now.owner &&
				    strcmp(now.owner, j->owner) == 0;
			if (found)
				store_job_release(&now);
			if (!ours)
				return false;
		}
		error_clear(&err);
		if (stopping(j))
			return false;
		wait_for_wake(j, NULL, 1000);
	}
	return true;
}

static void job_run_one(struct worker *w, const struct store_job *job)
{
	struct jobs *j = w->jobs;
	struct error err = ERROR_INIT;
	const struct job_kind *k = kind_find(j, job->kind);
	if (!k) {
		char buf[256];
		snprintf(buf, sizeof(buf), "no handler for job kind '%s'", job->kind);
		if (job_record(w, job, JOB_FAILED, buf))
			count(j, JOB_FAILED, 0);
		return;
	}
	struct job_run run = { .jobs = j, .store = w->store, .id = job->id,
			       .checked_ms = clock_ms(), .cancelled = job->cancel_requested };
	pthread_mutex_lock(&j->mu);
	j->stats.running++;
	pthread_mutex_unlock(&j->mu);
	long long t0 = clock_ms();
	enum job_outcome outcome = k->fn(k->ctx, &run, job, &err);
	double seconds = (double)(clock_ms() - t0) / 1000.0;
	pthread_mutex_lock(&j->mu);
	j->stats.running--;
	bool stop = j->stopping;
	pthread_mutex_unlock(&j->mu);
	/* Stopped by jobs_stop rather than by a newer job: the job stays
	 * running in the store until jobs_stop puts it back. */
	if (outcome == JOB_CANCELLED && stop && !run.cancelled) {
		error_clear(&err);
		return;
	}
	/* Taken over: the other server's run is the one that counts. */
	if (run.lost || !job_record(w, job, outcome, err.msg)) {
		log_event(LOG_WARNING, "jobs", "job %lld (%s %s): its outcome here is dropped: %s",
			  job->id, job->kind, job->key,
			  stopping(j)
			      ? "the server stops before the store could record it (the job runs "
				"again)"
			      : "another server took it over");
		pthread_mutex_lock(&j->mu);
		j->stats.lost++;
		j->stats.seconds += seconds;
		pthread_mutex_unlock(&j->mu);
		error_clear(&err);
		return;
	}
	count(j, outcome, seconds);
	error_clear(&err);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct jobs *j = w->jobs;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		if (j->stopping) {
			pthread_mutex_unlock(&j->mu);
			break;
		}
		unsigned long long seen = j->wakes;
		pthread_mutex_unlock(&j->mu);

		struct store_job job;
		bool found = false;
		struct error err = ERROR_INIT;
		if (store_job_claim(w->store, (long long)time(NULL), j->owner, j->o.lease_s, &job,
				    &found, &err) < 0) {
			log_event(LOG_ERROR, "jobs", "cannot claim a job: %s", error_msg(&err));
			error_clear(&err);
		}
		if (found) {
			job_run_one(w, &job);
			store_job_release(&job);
			continue;
		}

		wait_for_wake(j, &seen, IDLE_WAIT_MS);
	}
	return NULL;
}

/* Renews this server's leases three times per lease, so a slow store or
 * a missed beat does not lose them. */
static void *heartbeat_main(void *arg)
{
	struct jobs *j = arg;
	while (sleeper_nap(&j->beat, j->o.lease_s * 1000 / 3)) {
		size_t n;
		struct error err = ERROR_INIT;
		if (store_job_renew(j->beat_store, j->owner, (long long)time(NULL) + j->o.lease_s, &n,
				    &err) < 0) {
			log_event(LOG_ERROR, "jobs", "heartbeat: %s", error_msg(&err));
			error_clear(&err);
		}
	}
	return NULL;
}

static void workers_close(struct jobs *j)
{
	for (unsigned i = 0; i < j->nworkers; i++)
		store_close(j->workers[i].store);
	free(j->workers);
	j->workers = NULL;
	j->nworkers = 0;
	store_close(j->beat_store);
	j->beat_store = NULL;
}

int jobs_start(struct jobs *j, struct error *err)
{
	if (j->workers)
		return error_set(err, "jobs are already running");
	j->workers = xcalloc(j->o.workers, sizeof(*j->workers));
	j->nworkers = j->o.workers;
	/* Connections are opened here, so a bad location fails the start. */
	for (unsigned i = 0; i < j->nworkers; i++) {
		j->workers[i].jobs = j;
		if (store_open(&j->workers[i].store, j->state, err) < 0)
			goto fail;
	}
	if (store_open(&j->beat_store, j->state, err) < 0)
		goto fail;
	size_t requeued;
	if (store_job_requeue_expired(j->workers[0].store, &requeued, err) < 0) {
		error_wrap(err, "cannot requeue the jobs of a stopped server");
		goto fail;
	}
	if (requeued)
		log_event(LOG_INFO, "jobs", "requeued %zu job%s whose server stopped renewing %s",
			  requeued, requeued == 1 ? "" : "s",
			  requeued == 1 ? "its lease" : "their leases");
	pthread_mutex_lock(&j->mu);
	j->stopping = false;
	pthread_mutex_unlock(&j->mu);
	sleeper_restart(&j->beat);
	int beat = pthread_create(&j->beat_thread, NULL, heartbeat_main, j);
	if (beat != 0) {
		error_set(err, "cannot start the jobs' heartbeat: %s", strerror(beat));
		goto fail;
	}
	j->beat_running = true;
	for (unsigned i = 0; i < j->nworkers; i++) {
		int rc = pthread_create(&j->workers[i].thread, NULL, worker_main, &j->workers[i]);
		if (rc != 0) {
			error_set(err, "cannot start a job worker: %s", strerror(rc));
			jobs_stop(j);
			return -1;
		}
		j->workers[i].running = true;
	}
	return 0;
fail:
	workers_close(j);
	return -1;
}

int jobs_enqueue(struct jobs *j, struct store *s, const char *kind, const char *key,
		 const char *payload, bool supersede, long long *id, struct error *err)
{
	if (store_job_enqueue(s, kind, key, payload, supersede, id, err) < 0)
		return -1;
	jobs_wake(j);
	return 0;
}

void jobs_wake(struct jobs *j)
{
	pthread_mutex_lock(&j->mu);
	j->wakes++;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
}

void jobs_stop(struct jobs *j)
{
	if (!j || !j->workers)
		return;
	pthread_mutex_lock(&j->mu);
	j->stopping = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
	for (unsigned i = 0; i < j->nworkers; i++)
		if (j->workers[i].running)
			pthread_join(j->workers[i].thread, NULL);
	sleeper_stop(&j->beat);
	if (j->beat_running)
		pthread_join(j->beat_thread, NULL);
	j->beat_running = false;
	/* What the handlers left running goes back to the queue now, rather
	 * than when its lease runs out. */
	size_t n;
	struct error err = ERROR_INIT;
	if (store_job_release_owned(j->workers[0].store, j->owner, &n, &err) < 0) {
		log_event(LOG_ERROR, "jobs",
			  "cannot put back the running jobs (they are taken over when "
			  "their lease ends): %s",
			  error_msg(&err));
		error_clear(&err);
	} else if (n) {
		log_event(LOG_INFO, "jobs", "put back %zu running job%s", n, n == 1 ? "" : "s");
	}
	workers_close(j);
}

void jobs_free(struct jobs *j)
{
	if (!j)
		return;
	jobs_stop(j);
	for (size_t i = 0; i < j->nkinds; i++)
		free(j->kinds[i].kind);
	free(j->kinds);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->mu);
	sleeper_destroy(&j->beat);
	free(j->state);
	free(j);
}

void jobs_get_stats(struct jobs *j, struct jobs_stats *out)
{
	pthread_mutex_lock(&j->mu);
	*out = j->stats;
	pthread_mutex_unlock(&j->mu);
}
