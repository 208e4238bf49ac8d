/* The daily refresh of scheduled datasets in `cairn serve` (demos.h): the
 * job, and the datasets the daily schedule (engine/jobs/daily.h) queues it
 * for. */
#include "demos.h"

#include "engine/apply/revise.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct demos_schedule {
	char *users_path, *secrets_path, *snapshots;
};

/* ---- the job ---- */

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
	} else if ((users = users_open(in, ds->users_path, ds->secrets_path, err)) &&
		   dataset_refresh(job_store(run), in, users, dataset, ds->snapshots, &r, err) == 0) {
		error_set(err, "%s", r.message); /* kept as the job's message */
		outcome = JOB_DONE;
	}
	if (outcome != JOB_DONE)
		log_event(LOG_ERROR, "demos", "refresh of %s failed: %s", dataset ? dataset : "?",
			  error_msg(err));
	dataset_refreshed_release(&r);
	users_free(users);
	intern_free(in);
	json_decref(payload);
	return outcome;
}

/* ---- what is scheduled ---- */

static void scheduled_datasets(const struct policy *pol, daily_add_fn add, void *ctx)
{
	for (size_t i = 0; i < pol->len; i++) {
		if (pol->objects[i]->kind != KIND_DATASET)
			continue;
		const struct dataset *d = (const struct dataset *)pol->objects[i];
		if (!d->scheduled)
			continue;
		struct strbuf id = STRBUF_INIT;
		strbuf_addf(&id, "%s/%s", d->obj.ns->s, d->obj.name->s);
		add(ctx, strbuf_cstr(&id), d->schedule_minute);
		strbuf_release(&id);
	}
}

const struct daily_task demos_daily_task = { "dataset", DEMOS_REFRESH_JOB, scheduled_datasets };

int demos_schedule_new(struct demos_schedule **out, const struct demos_schedule_env *env,
		       struct error *err)
{
	*out = NULL;
	if (!env->users_path || !env->jobs || !env->snapshots)
		return error_set(err, "the dataset refresh needs a users file, jobs and a snapshot "
				      "directory");
	struct demos_schedule *ds = xcalloc(1, sizeof(*ds));
	ds->users_path = xstrdup(env->users_path);
	ds->secrets_path = env->secrets_path ? xstrdup(env->secrets_path) : NULL;
	ds->snapshots = xstrdup(env->snapshots);
	jobs_register(env->jobs, DEMOS_REFRESH_JOB, refresh_job, ds);
	*out = ds;
	return 0;
}

void demos_schedule_free(struct demos_schedule *ds)
{
	if (!ds)
		return;
	free(ds->users_path);
	free(ds->secrets_path);
	free(ds->snapshots);
	free(ds);
}
