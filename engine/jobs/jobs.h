/* The server's background work: jobs kept in the store (store_job_*) run by
 * a few worker threads. A handler per job kind; a transient failure is retried
 * with exponential backoff, a job a newer one superseded is cancelled.
 *
 * Several servers may share one store. A claimed job is leased to its server
 * (jobs_owner), and a heartbeat renews the lease while it runs; a job whose
 * server died goes back to the queue once its lease ends, and another server
 * (or this one restarted) runs it again, so handlers must be idempotent. A
 * server that stops puts its jobs back at once. Each worker has its own store
 * connection. */
#ifndef CAIRN_JOBS_H
#define CAIRN_JOBS_H

#include "base/error.h"
#include "engine/store/store.h"

#include <stdbool.h>

struct jobs;
struct job_run; /* one running job, handed to its handler */

enum job_outcome {
	JOB_DONE,      /* finished */
	JOB_RETRY,     /* failed transiently: run again after the backoff (err says why) */
	JOB_FAILED,    /* failed for good (err says why) */
	JOB_CANCELLED, /* stopped because job_cancelled() said so */
};

/* A message the handler leaves in err is kept as the job's message whatever
 * the outcome (e.g. a GitHub refusal that did not fail the job). */
typedef enum job_outcome (*job_handler)(void *ctx, struct job_run *run, const struct store_job *job,
					struct error *err);

/* The worker's store connection, for the handler's own reads and writes. */
struct store *job_store(struct job_run *run);
/* True when a newer job of the same key superseded this one, the server is
 * stopping, or the job's lease was lost (another server took it over after
 * this one could not renew it): handlers check between steps and return
 * JOB_CANCELLED. */
bool job_cancelled(struct job_run *run);

struct jobs_options {
	const char *state;      /* store location; each worker opens its own connection */
	unsigned workers;       /* default 2 */
	unsigned max_attempts;  /* default 5; then the job fails */
	long long backoff_ms;   /* first retry delay, doubling (default 2000) */
	long long backoff_cap_ms; /* default 16000 */
	long long lease_s;      /* how long a claim holds without a heartbeat; default 30 */
};

int jobs_new(struct jobs **out, const struct jobs_options *o, struct error *err);
/* Before jobs_start. The handler runs on worker threads, several at once
 * (for different keys): ctx must be safe to share. */
void jobs_register(struct jobs *j, const char *kind, job_handler fn, void *ctx);
/* This server's name on the jobs it runs: "host:pid:nonce", unique to
 * this process (a restarted server is a new owner). */
const char *jobs_owner(const struct jobs *j);
/* Requeues jobs whose lease ended (their server died), then starts the
 * workers and the heartbeat. */
int jobs_start(struct jobs *j, struct error *err);
/* Queues a job (store_job_enqueue on the caller's store connection) and wakes a worker. */
int jobs_enqueue(struct jobs *j, struct store *s, const char *kind, const char *key,
		 const char *payload, bool supersede, long long *id, struct error *err);
/* Wakes a worker (after a job was queued some other way). */
void jobs_wake(struct jobs *j);
/* Stops taking jobs, asks running handlers to stop (job_cancelled becomes
 * true), waits for them, and puts their jobs back in the queue for any
 * server to run. */
void jobs_stop(struct jobs *j);
void jobs_free(struct jobs *j);

/* Counters since jobs_new, for /metrics. */
struct jobs_stats {
	unsigned long long done, failed, retried, cancelled;
	unsigned long long lost; /* outcomes dropped: another server had taken the job over */
	double seconds; /* total handler time */
	unsigned running;
};
void jobs_get_stats(struct jobs *j, struct jobs_stats *out);

#endif
