/* Daily work of `cairn serve`: every interval, for each task, the items of
 * the latest policy generation whose time of day (the server's local time)
 * has come and that were not queued today get a job of the task's kind,
 * key "<name>:<id>", payload {"<name>": id, "day": "YYYY-MM-DD"}. The store
 * fact "<name>-scheduled:<id>" holds the day: a server started after the
 * time catches up at once, and an item runs once a day whatever the number
 * of servers (the one that advances the day queues the job). Datasets (demos) and dependencies' backups use it. */
#ifndef CAIRN_JOBS_DAILY_H
#define CAIRN_JOBS_DAILY_H

#include "jobs.h"

#include "policy/policy.h"

/* Adds an item due at minute (of the day) to what a task lists. */
typedef void (*daily_add_fn)(void *ctx, const char *id, int minute);

struct daily_task {
	const char *name; /* "dataset", "backup": keys, facts and payloads say it */
	const char *job;  /* the job kind queued (registered by its module) */
	/* Lists the scheduled items of p through add. */
	void (*items)(const struct policy *p, daily_add_fn add, void *ctx);
};

struct daily;
/* The tasks are copied. interval_ms 0: 30 s. */
int daily_new(struct daily **out, const char *state, struct jobs *jobs, long long interval_ms,
	      const struct daily_task *tasks, size_t ntasks, struct error *err);
/* After jobs_start. */
int daily_start(struct daily *d, struct error *err);
void daily_stop(struct daily *d);
void daily_free(struct daily *d);

#endif
