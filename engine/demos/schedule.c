/* The daily refresh of scheduled datasets in `cairn serve` (demos.h): a
 * thread that queues a dataset-refresh job once a day per dataset, at or
 * after its `schedule` (the server's local time), and the job itself. */
#include "demos.h"

#include "engine/revise.h"

#include "base/alloc.h"
#include "base/sleeper.h"
#include "base/strbuf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The store fact that says on which day a dataset's refresh was queued. */
#define SCHEDULED_PREFIX "dataset-scheduled:"

struct demos_schedule {
	char *state, *users_path, *secrets_path, *snapshots;
	struct jobs *jobs;
	long long interval_ms;
	pthread_t thread;
	bool running;
	struct sleeper sleeper;
};

static void slog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void slog(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("demos: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- the job ---- */

static int load_users(const struct demos_schedule *ds, struct intern *in, struct users **out,
		      struct error *err)
{
	*out = users_new(in);
	struct diags d = DIAGS_INIT;
	int rc = users_load(*out, ds->users_path, &d);
	if (rc == 0 && ds->secrets_path)
		rc = users_load_secrets(*out, ds->secrets_path, &d);
	if (rc < 0)
		error_set(err, "%s", d.len ? d.items[0] : "cannot load the users file");
	diags_release(&d);
	return rc;
}

static enum job_outcome refresh_job(void *ctx, struct job_run *run, const struct store_job *job,
				    struct error *err)
{
	struct demos_schedule *ds = ctx;
	json_t *payload = json_loads(job->payload ? job->payload : "", 0, NULL);
	const char *dataset = json_string_value(json_object_get(payload, "dataset"));
	enum job_outcome outcome = JOB_FAILED;
	struct intern *in = intern_new();
	struct users *users = NULL;
	struct dataset_refreshed r;
	memset(&r, 0, sizeof(r));
	if (!dataset) {
		error_set(err, "a dataset-refresh job needs {\"dataset\": \"NAMESPACE/NAME\"}");
	} else if (load_users(ds, in, &users, err) == 0 &&
		   dataset_refresh(job_store(run), in, users, dataset, ds->snapshots, &r, err) == 0) {
		error_set(err, "%s", r.message); /* kept as the job's message */
		outcome = JOB_DONE;
	}
	if (outcome != JOB_DONE)
		slog("refresh of %s failed: %s", dataset ? dataset : "?", error_msg(err));
	dataset_refreshed_release(&r);
	users_free(users);
	intern_free(in);
	json_decref(payload);
	return outcome;
}

/* ---- the schedule ---- */

/* Queues today's refresh of every scheduled dataset whose time has come
 * and that was not queued today. */
static void tick(struct demos_schedule *ds, struct store *s)
{
	struct intern *in = intern_new();
	struct policy *pol = NULL;
	struct error err = ERROR_INIT;
	if (revise_load_generation(s, in, 0, &pol, NULL, &err) < 0) {
		if (!strstr(error_msg(&err), "no generation"))
			slog("schedule: %s", error_msg(&err));
		goto out;
	}
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	char today[16];
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	int minute = tm.tm_hour * 60 + tm.tm_min;
	for (size_t i = 0; i < pol->len; i++) {
		if (pol->objects[i]->kind != KIND_DATASET)
			continue;
		const struct dataset *d = (const struct dataset *)pol->objects[i];
		if (!d->scheduled || minute < d->schedule_minute)
			continue;
		struct strbuf key = STRBUF_INIT, id = STRBUF_INIT;
		strbuf_addf(&id, "%s/%s", d->obj.ns->s, d->obj.name->s);
		strbuf_addf(&key, SCHEDULED_PREFIX "%s", id.buf);
		char *last = NULL;
		if (store_kv_get(s, key.buf, &last, &err) == 0 && (!last || strcmp(last, today) != 0)) {
			json_t *p = json_pack("{s:s, s:s}", "dataset", id.buf, "day", today);
			char *text = json_dumps(p, JSON_COMPACT);
			json_decref(p);
			struct strbuf job_key = STRBUF_INIT;
			strbuf_addf(&job_key, "dataset:%s", id.buf);
			long long job = 0;
			/* queued, then remembered: a failure in between queues it twice
			 * (the refresh is idempotent), never not at all */
			if (jobs_enqueue(ds->jobs, s, DEMOS_REFRESH_JOB, job_key.buf, text, false, &job,
					 &err) == 0 &&
			    store_kv_set(s, key.buf, today, &err) == 0)
				slog("queued the refresh of %s (schedule %02d:%02d): job %lld", id.buf,
				     d->schedule_minute / 60, d->schedule_minute % 60, job);
			strbuf_release(&job_key);
			free(text);
		}
		if (err.msg) {
			slog("schedule of %s: %s", id.buf, error_msg(&err));
			error_clear(&err);
		}
		free(last);
		strbuf_release(&key);
		strbuf_release(&id);
	}
out:
	error_clear(&err);
	policy_free(pol);
	intern_free(in);
}

static void *schedule_main(void *arg)
{
	struct demos_schedule *ds = arg;
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	do {
		if (!s && store_open(&s, ds->state, &err) < 0) {
			slog("schedule: %s", error_msg(&err));
			error_clear(&err);
			continue;
		}
		tick(ds, s);
	} while (sleeper_nap(&ds->sleeper, ds->interval_ms));
	store_close(s);
	return NULL;
}

int demos_schedule_new(struct demos_schedule **out, const struct demos_schedule_env *env,
		       struct error *err)
{
	*out = NULL;
	if (!env->state || !env->users_path || !env->jobs || !env->snapshots)
		return error_set(err, "the dataset schedule needs a store, a users file, jobs and a "
				      "snapshot directory");
	struct demos_schedule *ds = xcalloc(1, sizeof(*ds));
	ds->state = xstrdup(env->state);
	ds->users_path = xstrdup(env->users_path);
	ds->secrets_path = env->secrets_path ? xstrdup(env->secrets_path) : NULL;
	ds->snapshots = xstrdup(env->snapshots);
	ds->jobs = env->jobs;
	ds->interval_ms = env->interval_ms > 0 ? env->interval_ms : 30000;
	sleeper_init(&ds->sleeper);
	jobs_register(ds->jobs, DEMOS_REFRESH_JOB, refresh_job, ds);
	*out = ds;
	return 0;
}

int demos_schedule_start(struct demos_schedule *ds, struct error *err)
{
	sleeper_restart(&ds->sleeper);
	int rc = pthread_create(&ds->thread, NULL, schedule_main, ds);
	if (rc != 0)
		return error_set(err, "cannot start the dataset schedule: %s", strerror(rc));
	ds->running = true;
	return 0;
}

void demos_schedule_stop(struct demos_schedule *ds)
{
	if (!ds || !ds->running)
		return;
	sleeper_stop(&ds->sleeper);
	pthread_join(ds->thread, NULL);
	ds->running = false;
}

void demos_schedule_free(struct demos_schedule *ds)
{
	if (!ds)
		return;
	demos_schedule_stop(ds);
	sleeper_destroy(&ds->sleeper);
	free(ds->state);
	free(ds->users_path);
	free(ds->secrets_path);
	free(ds->snapshots);
	free(ds);
}
