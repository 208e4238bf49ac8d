/* The daily schedule's thread: a tick every interval queues what is due. */
#include "daily.h"

#include "engine/apply/revise.h"
#include "engine/store/store.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/sleeper.h"
#include "base/strbuf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct daily {
	char *state;
	struct jobs *jobs;
	struct daily_task *tasks;
	size_t ntasks;
	long long interval_ms;
	pthread_t thread;
	bool running;
	struct sleeper sleeper;
};

struct tick {
	struct daily *d;
	const struct daily_task *task;
	struct store *s;
	const char *today;
	int minute;
};

/* Queues the item when its time has come and it was not queued today. The
 * day is claimed and the job queued in one transaction: of several servers
 * only the one that advances the day queues it, and a failure in between
 * leaves neither. */
static void consider(void *ctx, const char *id, int minute)
{
	struct tick *t = ctx;
	if (t->minute < minute)
		return;
	struct strbuf fact = STRBUF_INIT, key = STRBUF_INIT;
	strbuf_addf(&fact, "%s-scheduled:%s", t->task->name, id);
	struct error err = ERROR_INIT;
	/* Once queued today, the rest of the day's ticks only read: no write
	 * lock every interval for every item whose time has passed. */
	char *last = NULL;
	bool done = store_kv_get(t->s, strbuf_cstr(&fact), &last, &err) == 0 && last &&
		    strcmp(last, t->today) >= 0;
	free(last);
	error_clear(&err);
	if (done) {
		strbuf_release(&fact);
		return;
	}
	strbuf_addf(&key, "%s:%s", t->task->name, id);
	json_t *p = json_pack("{s:s, s:s}", t->task->name, id, "day", t->today);
	char *text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	bool won = false;
	long long job = 0;
	if (store_work_begin(t->s, &err) == 0) {
		if (store_kv_advance(t->s, strbuf_cstr(&fact), t->today, &won, &err) == 0 && won)
			store_job_enqueue(t->s, t->task->job, strbuf_cstr(&key), text, false, &job, &err);
		if (err.msg)
			store_work_abort(t->s);
		else
			store_work_commit(t->s, &err);
	}
	if (err.msg) {
		log_event(LOG_ERROR, "schedule", "%s of %s: %s", t->task->job, id, error_msg(&err));
	} else if (won) {
		jobs_wake(t->d->jobs);
		log_event(LOG_INFO, "schedule", "queued %s of %s (schedule %02d:%02d): job %lld",
			  t->task->job, id, minute / 60, minute % 60, job);
	}
	error_clear(&err);
	free(text);
	strbuf_release(&fact);
	strbuf_release(&key);
}

static void tick(struct daily *d, struct store *s)
{
	struct intern *in = intern_new();
	struct policy *pol = NULL;
	struct error err = ERROR_INIT;
	if (revise_load_generation(s, in, 0, &pol, NULL, &err) < 0) {
		if (!strstr(error_msg(&err), "no generation"))
			log_event(LOG_ERROR, "schedule", "%s", error_msg(&err));
	} else {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		char today[16];
		strftime(today, sizeof(today), "%Y-%m-%d", &tm);
		for (size_t i = 0; i < d->ntasks; i++) {
			struct tick t = { d, &d->tasks[i], s, today, tm.tm_hour * 60 + tm.tm_min };
			d->tasks[i].items(pol, consider, &t);
		}
	}
	error_clear(&err);
	policy_free(pol);
	intern_free(in);
}

static void *daily_main(void *arg)
{
	struct daily *d = arg;
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	do {
		if (!s && store_open(&s, d->state, &err) < 0) {
			log_event(LOG_ERROR, "schedule", "%s", error_msg(&err));
			error_clear(&err);
			continue;
		}
		tick(d, s);
	} while (sleeper_nap(&d->sleeper, d->interval_ms));
	store_close(s);
	return NULL;
}

int daily_new(struct daily **out, const char *state, struct jobs *jobs, long long interval_ms,
	      const struct daily_task *tasks, size_t ntasks, struct error *err)
{
	*out = NULL;
	if (!state || !jobs)
		return error_set(err, "the daily schedule needs a store and jobs");
	struct daily *d = xcalloc(1, sizeof(*d));
	d->state = xstrdup(state);
	d->jobs = jobs;
	d->tasks = xcalloc(ntasks ? ntasks : 1, sizeof(*d->tasks));
	memcpy(d->tasks, tasks, ntasks * sizeof(*tasks));
	d->ntasks = ntasks;
	d->interval_ms = interval_ms > 0 ? interval_ms : 30000;
	sleeper_init(&d->sleeper);
	*out = d;
	return 0;
}

int daily_start(struct daily *d, struct error *err)
{
	sleeper_restart(&d->sleeper);
	int rc = pthread_create(&d->thread, NULL, daily_main, d);
	if (rc != 0)
		return error_set(err, "cannot start the daily schedule: %s", strerror(rc));
	d->running = true;
	return 0;
}

void daily_stop(struct daily *d)
{
	if (!d || !d->running)
		return;
	sleeper_stop(&d->sleeper);
	pthread_join(d->thread, NULL);
	d->running = false;
}

void daily_free(struct daily *d)
{
	if (!d)
		return;
	daily_stop(d);
	sleeper_destroy(&d->sleeper);
	free(d->state);
	free(d->tasks);
	free(d);
}
