/* Scheduled backups in `cairn serve`: the job, and the dependencies with
 * backup: {schedule: "HH:MM"} the daily schedule queues it for. */
#include "backup.h"

#include "engine/apply/revise.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct backup_jobs {
	char *users_path, *secrets_path, *store;
};

static enum job_outcome backup_job(void *ctx, struct job_run *run, const struct store_job *job,
				   struct error *err)
{
	struct backup_jobs *bj = ctx;
	json_t *payload = json_loads(job->payload ? job->payload : "", 0, NULL);
	const char *id = json_string_value(json_object_get(payload, "backup"));
	struct intern *in = intern_new();
	struct users *users = NULL;
	struct policy *pol = NULL;
	struct acl *acl = NULL;
	struct resolution *r = NULL;
	struct backup_result res = { 0 };
	long long gen = 0;
	enum job_outcome outcome = JOB_FAILED;
	if (!id) {
		error_set(err, "a " BACKUP_JOB " job needs {\"backup\": \"NAMESPACE/NAME\"}");
		goto out;
	}
	if (!(users = users_open(in, bj->users_path, bj->secrets_path, err)) ||
	    revise_load_generation(job_store(run), in, 0, &pol, &gen, err) < 0)
		goto out;
	acl = acl_new(pol);
	if (resolve_policy(&r, pol, users, acl, 0, err) < 0)
		goto out;
	const struct dep_result *dr = resolution_find_dep(r, id);
	struct backup_options o = { .store = bj->store, .generation = gen,
				    .keep = dr ? dr->dep->backup.keep : 0 };
	if (backup_create(pol, r, id, &o, &res, err) < 0)
		goto out;
	error_set(err, "backup %s: %zu parts, %.2f s, %zu deleted by keep", res.id, res.nparts,
		  res.seconds, json_array_size(res.pruned)); /* kept as the job's message */
	outcome = JOB_DONE;
out:
	if (outcome != JOB_DONE)
		log_event(LOG_ERROR, "backup", "%s: %s", id ? id : "?", error_msg(err));
	backup_result_release(&res);
	resolution_free(r);
	acl_free(acl);
	policy_free(pol);
	users_free(users);
	intern_free(in);
	json_decref(payload);
	return outcome;
}

static void scheduled_backups(const struct policy *pol, daily_add_fn add, void *ctx)
{
	for (size_t i = 0; i < pol->len; i++) {
		if (pol->objects[i]->kind != KIND_DEPENDENCY)
			continue;
		const struct dependency *d = (const struct dependency *)pol->objects[i];
		if (!d->backup.scheduled)
			continue;
		struct strbuf id = STRBUF_INIT;
		strbuf_addf(&id, "%s/%s", d->obj.ns->s, d->obj.name->s);
		add(ctx, strbuf_cstr(&id), d->backup.schedule_minute);
		strbuf_release(&id);
	}
}

const struct daily_task backup_daily_task = { "backup", BACKUP_JOB, scheduled_backups };

int backup_jobs_new(struct backup_jobs **out, const struct backup_jobs_env *env, struct error *err)
{
	*out = NULL;
	if (!env->users_path || !env->jobs || !env->store)
		return error_set(err, "scheduled backups need a users file, jobs and a backup directory");
	struct backup_jobs *bj = xcalloc(1, sizeof(*bj));
	bj->users_path = xstrdup(env->users_path);
	bj->secrets_path = env->secrets_path ? xstrdup(env->secrets_path) : NULL;
	bj->store = xstrdup(env->store);
	jobs_register(env->jobs, BACKUP_JOB, backup_job, bj);
	*out = bj;
	return 0;
}

void backup_jobs_free(struct backup_jobs *bj)
{
	if (!bj)
		return;
	free(bj->users_path);
	free(bj->secrets_path);
	free(bj->store);
	free(bj);
}
