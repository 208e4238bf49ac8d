/* Fleet and converge (converge.h). */
#include "converge.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/strbuf.h"
#include "base/vec.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct member {
	const struct cluster *cluster;
	const struct driver_ops *ops;
	struct driver *driver; /* NULL when it could not be reached */
	char *problem;
};

struct fleet {
	VEC(struct member) members;
	struct diags problems;
};

struct fleet *fleet_open(const struct policy *p, const struct exec_options *eo)
{
	struct fleet *f = xcalloc(1, sizeof(*f));
	if (p)
		fleet_add_clusters(f, p, eo);
	return f;
}

void fleet_add_cluster(struct fleet *f, const struct cluster *c, const struct driver_ops *ops,
		       const struct exec_options *eo)
{
	struct member m = { .cluster = c, .ops = ops };
	struct error err = ERROR_INIT;
	if (ops->open(&m.driver, c, eo, &err) < 0 || ops->observe(m.driver, &err) < 0) {
		if (m.driver)
			ops->close(m.driver);
		m.driver = NULL;
		m.problem = xstrdup(error_msg(&err));
		diags_add(&f->problems, "%s", m.problem);
	}
	error_clear(&err);
	vec_push(&f->members, m);
}

void fleet_add_clusters(struct fleet *f, const struct policy *p, const struct exec_options *eo)
{
	for (size_t i = 0; i < p->len; i++) {
		const struct object *o = p->objects[i];
		if (o->kind != KIND_CLUSTER)
			continue;
		const struct cluster *c = (const struct cluster *)o;
		const struct driver_ops *ops = driver_for(c->type ? c->type->s : NULL);
		if (ops) /* a type without a driver: its instances fail in converge() */
			fleet_add_cluster(f, c, ops, eo);
	}
}

void fleet_close(struct fleet *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->members.len; i++) {
		struct member *m = &f->members.items[i];
		if (m->driver)
			m->ops->close(m->driver);
		free(m->problem);
	}
	vec_release(&f->members);
	diags_release(&f->problems);
	free(f);
}

bool fleet_reachable(const struct fleet *f, const char *cluster)
{
	for (size_t i = 0; i < f->members.len; i++)
		if (strcmp(f->members.items[i].cluster->obj.name->s, cluster) == 0)
			return f->members.items[i].driver != NULL;
	return false;
}

const struct diags *fleet_problems(const struct fleet *f)
{
	return &f->problems;
}

/* What member m observed (nothing when its cluster was not reached). */
static const struct observed *observed_by(const struct member *m, size_t *len)
{
	*len = 0;
	return m->driver ? m->ops->list(m->driver, len) : NULL;
}

/* The first observed object of key and kind (NULL: its driver's unit), the
 * member that has it in *where, how many there are in *n. */
static const struct observed *find(const struct fleet *f, const char *key, const char *kind,
				   const struct member **where, size_t *n)
{
	*n = 0;
	const struct observed *first = NULL;
	for (size_t i = 0; i < f->members.len; i++) {
		const struct member *m = &f->members.items[i];
		size_t len;
		const struct observed *all = observed_by(m, &len);
		for (size_t j = 0; j < len; j++) {
			if (strcmp(all[j].key, key) || strcmp(all[j].kind, kind ? kind : m->ops->unit))
				continue;
			if (!first)
				first = &all[j], *where = m;
			(*n)++;
		}
	}
	return first;
}

const struct observed *fleet_find(const struct fleet *f, const char *key, const char *kind,
				  size_t *n)
{
	const struct member *where;
	return find(f, key, kind, &where, n);
}

void fleet_each(const struct fleet *f, fleet_fn fn, void *ctx)
{
	for (size_t i = 0; i < f->members.len; i++) {
		const struct member *m = &f->members.items[i];
		size_t len;
		const struct observed *all = observed_by(m, &len);
		for (size_t j = 0; j < len; j++)
			fn(ctx, m->cluster->obj.name->s, &all[j]);
	}
}

int fleet_logs(struct fleet *f, const char *key, bool follow, struct error *err)
{
	const struct member *m = NULL;
	size_t n;
	if (find(f, key, NULL, &m, &n))
		return m->ops->logs(m->driver, key, follow, err);
	if (f->problems.len)
		return error_set(err, "no container runs for %s (%s)", key, f->problems.items[0]);
	return error_set(err, "no container runs for %s", key);
}

/* A failed action standing for a cluster that could not be reached. */
static int fail_connect(void *ctx, const struct exec_call *call, struct error *err)
{
	return error_set(err, "%s", (const char *)ctx);
}

struct recorder {
	struct store *store;
	long long generation;
	const struct exec_options *user;
	struct error err;
	int failed;
};

static void record(void *ctx, const struct exec *x, const struct exec_action *a)
{
	struct recorder *rc = ctx;
	bool final = a && (a->status == EXEC_DONE || a->status == EXEC_FAILED ||
			   a->status == EXEC_SKIPPED || a->status == EXEC_CANCELLED);
	if (final && rc->store && !rc->failed) {
		struct store_action sa = {
			.generation = rc->generation,
			.action = a->verb,
			.instance = a->target,
			.status = exec_status_name(a->status),
			.message = a->message,
			.started = (a->started_ms ? a->started_ms : a->finished_ms) / 1000,
			.finished = a->finished_ms / 1000,
		};
		if (store_record_action(rc->store, &sa, &rc->err) < 0)
			rc->failed = 1;
	}
	if (rc->user && rc->user->report)
		rc->user->report(rc->user->report_ctx, x, a);
}

int converge(struct fleet *f, struct store *store, const struct resolution *r, long long generation,
	     const struct exec_options *eo, struct converge_result *res, struct error *err)
{
	memset(res, 0, sizeof(*res));
	long long t0 = clock_ms();
	struct recorder rec = { .store = store, .generation = generation, .user = eo };
	struct exec_options o = eo ? *eo : (struct exec_options){ 0 };
	o.report = record;
	o.report_ctx = &rec;
	struct exec *x = exec_new(&o);
	struct desired want = { .resolution = r, .generation = generation };
	for (size_t i = 0; i < f->members.len; i++) {
		struct member *m = &f->members.items[i];
		if (!m->driver) {
			exec_add(x, "connect", m->cluster->obj.name->s, m->cluster->obj.name->s,
				 fail_connect, xstrdup(m->problem), free);
			continue;
		}
		struct error perr = ERROR_INIT;
		if (m->ops->plan(m->driver, &want, x, &perr) < 0) {
			exec_add(x, "plan", m->cluster->obj.name->s, m->cluster->obj.name->s, fail_connect,
				 xstrdup(error_msg(&perr)), free);
		}
		error_clear(&perr);
	}
	/* Instances on clusters without a driver cannot run. */
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (!in->code_type)
			continue;
		bool known = false;
		for (size_t k = 0; k < f->members.len && !known; k++)
			known = strcmp(f->members.items[k].cluster->obj.name->s, in->cluster) == 0;
		if (!known) {
			struct strbuf m = STRBUF_INIT;
			strbuf_addf(&m, "cluster %s has no driver in this build", in->cluster);
			exec_add(x, "create", in->key, in->cluster, fail_connect, strbuf_detach(&m), free);
		}
	}
	res->unsuccessful = exec_run(x);
	res->exec = x;
	res->elapsed_ms = clock_ms() - t0;
	if (rec.failed) {
		error_set(err, "recording actions: %s", error_msg(&rec.err));
		error_clear(&rec.err);
		return -1;
	}
	return 0;
}

void converge_result_release(struct converge_result *res)
{
	exec_free(res->exec);
	memset(res, 0, sizeof(*res));
}
