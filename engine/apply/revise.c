/* Policy revisions: ACL, merge, validation, resolution and plan of a change
 * set, committed as one generation inside one store write transaction. */
#include "revise.h"

#include "driver.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/vec.h"
#include "engine/apply/reconcile.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct load_ctx {
	struct policy *p;
	struct diags diags;
	unsigned flags;
};

static int add_stored_object(void *ctx_, const char *kind, const char *ns, const char *name,
			     const char *body, const char *origin)
{
	struct load_ctx *ctx = ctx_;
	struct strbuf label = STRBUF_INIT;
	strbuf_addf(&label, "stored %s/%s/%s", kind, ns, name);
	/* Positions are where the object was written; without its origin
	 * (stored before origins were), they point into the stored text. */
	const char *file = arena_strdup(ctx->p->arena, label.buf);
	strbuf_release(&label);
	policy_add_stored(ctx->p, file, body, origin, ctx->flags, &ctx->diags);
	return 0;
}

static int load_generation_into(struct store *store, long long gen, struct policy *p,
				struct error *err)
{
	struct load_ctx ctx = { p, DIAGS_INIT, 0 };
	int rc = 0;
	if (gen > 0 && store_list_objects(store, gen, add_stored_object, &ctx, err) < 0)
		rc = -1;
	else if (ctx.diags.len)
		rc = error_set(err, "generation %lld does not load: %s", gen, ctx.diags.items[0]);
	diags_release(&ctx.diags);
	return rc;
}

int revise_load_generation(struct store *store, struct intern *in, long long generation,
			   struct policy **out, long long *number, struct error *err)
{
	*out = NULL;
	long long current;
	if (store_current_generation(store, &current, err) < 0)
		return -1;
	if (generation <= 0)
		generation = current;
	else if (generation > current)
		return error_set(err, "generation %lld does not exist (the latest is %lld)", generation, current);
	struct policy *p = policy_new(in);
	if (load_generation_into(store, generation, p, err) < 0) {
		policy_free(p);
		return -1;
	}
	struct diags d = DIAGS_INIT;
	if (policy_validate(p, &d) < 0) {
		error_set(err, "generation %lld is not valid: %s", generation, d.items[0]);
		diags_release(&d);
		policy_free(p);
		return -1;
	}
	diags_release(&d);
	*out = p;
	if (number)
		*number = generation;
	return 0;
}

static void load_request(struct policy *p, const struct revise_request *req, unsigned flags,
			 struct diags *d)
{
	for (size_t i = 0; i < req->npaths; i++)
		policy_add_path(p, req->paths[i], flags, d);
	for (size_t i = 0; i < req->ntexts; i++)
		policy_add_yaml(p, req->texts[i].name, req->texts[i].text, req->texts[i].len, flags, d);
}

/* Each instance the plan creates or updates, its rendered params checked by
 * its cluster's driver: a label that renders into a bad param (a host name
 * with "; }" in it) is refused now, naming the dependency where it was
 * written and the param, rather than stored to fail every converge. */
static void check_rendered_params(const struct policy *after, const struct resolution *r,
				  const struct plan *plan, struct diags *diags)
{
	struct map by_key = MAP_INIT;
	for (size_t i = 0; i < plan->len; i++) {
		const struct plan_action *a = &plan->actions[i];
		if (a->verb != PLAN_CREATE && a->verb != PLAN_UPDATE)
			continue;
		if (!by_key.slots)
			for (size_t k = 0; k < r->ninstances; k++)
				map_put(&by_key, r->instances[k]->key, strlen(r->instances[k]->key),
					r->instances[k]);
		const struct instance *in = map_get(&by_key, a->instance, strlen(a->instance));
		if (!in || !in->code_type)
			continue;
		const struct cluster *c =
			(const struct cluster *)policy_get(after, KIND_CLUSTER, "system", in->cluster);
		const struct driver_ops *ops = c && c->type ? driver_for(c->type->s) : NULL;
		struct error err = ERROR_INIT;
		if (!ops || !ops->check || ops->check(c, in, &err) == 0) {
			error_clear(&err);
			continue;
		}
		/* Said where the dependency that brought it was written. */
		const char *dep = a->dependency ? a->dependency : in->ndeps ? in->deps[0] : NULL;
		const char *slash = dep ? strchr(dep, '/') : NULL;
		char ns[256] = "";
		if (slash && (size_t)(slash - dep) < sizeof(ns))
			memcpy(ns, dep, (size_t)(slash - dep));
		const struct object *o =
			slash ? policy_get(after, KIND_DEPENDENCY, ns, slash + 1) : NULL;
		if (o)
			diags_add_at(diags, o->pos, "dependency %s: instance %s: %s", dep, in->key,
				     error_msg(&err));
		else
			diags_add(diags, "instance %s: %s", in->key, error_msg(&err));
		error_clear(&err);
	}
	map_release(&by_key);
}

/* A cluster being deleted, and its stored JSON: its last configuration. */
struct retired {
	const struct object *object; /* until the request's policies are freed */
	const char *name;            /* interned: outlives them */
	char *json;
};
typedef VEC(struct retired) retired_vec;

static void retire(retired_vec *v, const struct object *o, const struct object *stored)
{
	struct retired r = { o, o->name->s, xstrdup(stored->json) };
	vec_push(v, r);
}

/* Whether user may not make the change from stored to requested (each
 * NULL when absent); why is said at requested, or at stored for a delete. */
static bool judge(struct acl *acl, const struct user *user, const struct object *stored,
		  const struct object *requested, struct diags *diags)
{
	struct error aerr = ERROR_INIT;
	const struct object *o = requested ? requested : stored;
	bool refused = acl_check_change(acl, user, stored, o, &aerr) < 0;
	if (refused)
		diags_add_at(diags, o->pos, "%s", error_msg(&aerr));
	error_clear(&aerr);
	return refused;
}

/* A replica copies its source's data: only who may manage the source
 * dependency (its own user, an admin of its namespace) may make one of
 * it. A source made in the same request was judged as itself. */
static bool judge_replica(struct acl *acl, const struct user *user, const struct policy *before,
			  const struct object *o, struct diags *diags)
{
	if (o->kind != KIND_DEPENDENCY || !((const struct dependency *)o)->replica.on)
		return false;
	const struct dependency *dep = (const struct dependency *)o;
	const struct object *src = policy_find(before, KIND_DEPENDENCY, dep->replica.of->s, o->ns->s);
	struct error aerr = ERROR_INIT;
	bool refused = src && acl_check_manage(acl, user, src, &aerr) < 0;
	if (refused)
		diags_add_at(diags, o->pos,
			     "dependency %s/%s: replica of %s/%s: only who may manage that dependency "
			     "may copy its data (%s)",
			     o->ns->s, o->name->s, src->ns->s, src->name->s, error_msg(&aerr));
	error_clear(&aerr);
	return refused;
}

/* A cluster may go with everything placed on it, when the dependencies
 * those instances serve go too (a whole file deleted, `docker-compose
 * down`); a dependency that remains would lose its instances unasked. */
static void check_cluster_left_empty(const struct policy *request, const struct policy *after,
				     const struct state *prev, const struct object *cluster,
				     struct diags *diags)
{
	size_t kept = 0;
	struct strbuf deps = STRBUF_INIT;
	size_t named = 0;
	struct map seen = MAP_INIT;
	for (size_t k = 0; prev && k < prev->len; k++) {
		const struct state_instance *in = prev->instances[k];
		if (strcmp(in->cluster, cluster->name->s) != 0)
			continue;
		bool remains = false;
		for (uint32_t d = 0; d < in->ndeps; d++) {
			const char *id = in->deps[d], *slash = strchr(id, '/');
			char ns[256];
			if (!slash || (size_t)(slash - id) >= sizeof(ns))
				continue;
			memcpy(ns, id, (size_t)(slash - id));
			ns[slash - id] = '\0';
			if (!policy_get(after, KIND_DEPENDENCY, ns, slash + 1))
				continue;
			remains = true;
			if (map_get(&seen, id, strlen(id)))
				continue;
			map_put(&seen, id, strlen(id), (void *)id);
			if (++named <= 3)
				strbuf_addf(&deps, "%s%s", deps.len ? ", " : "", id);
		}
		kept += remains;
	}
	if (kept)
		diags_add_at(diags, cluster->pos,
			     "%s: %zu instance%s placed on it serve%s dependencies that remain (%s%s); "
			     "delete them too, or move them to another cluster and apply first",
			     object_describe(request, cluster), kept, kept == 1 ? "" : "s",
			     kept == 1 ? "s" : "", strbuf_cstr(&deps), named > 3 ? ", …" : "");
	map_release(&seen);
	strbuf_release(&deps);
}

/* One try at a request, from its first read to its commit. */
struct revision {
	struct store *store;
	struct intern *in;
	const struct users *users;
	const struct revise_request *req;
	struct revise_result *res;
	struct store_txn *txn; /* the write lock, once taken */
	long long current;     /* the generation the request is judged against */
	struct user system_user;
	const struct user *user;
	struct policy *before;  /* the policy of `current` */
	struct policy *request; /* the objects given (a rollback: its generation's) */
	struct policy *after;   /* before, changed as requested */
	struct store_change *changes;
	size_t nchanges, capchanges;
	retired_vec retired; /* clusters deleted */
	struct state *prev;  /* the desired state of `current`, once loaded */
	bool prev_loaded;
	char *prev_json;
	bool forbidden; /* the ACL gave one of the reasons in res->diags */
};

static void revision_release(struct revision *rv)
{
	if (rv->txn)
		store_abort(rv->txn);
	free(rv->prev_json);
	state_free(rv->prev);
	free(rv->changes);
	for (size_t i = 0; i < rv->retired.len; i++)
		free(rv->retired.items[i].json);
	vec_release(&rv->retired);
	policy_free(rv->after);
	policy_free(rv->request);
	policy_free(rv->before);
}

/* -1 with the first reason in err, every reason being in res->diags. */
static int refuse(struct revision *rv, struct error *err)
{
	const struct diags *d = &rv->res->diags;
	enum error_kind kind = rv->forbidden ? ERROR_FORBIDDEN : ERROR_INPUT;
	if (d->len > 1)
		return error_set_kind(err, kind, "%s (and %zu more)", d->items[0], d->len - 1);
	return error_set_kind(err, kind, "%s", d->len ? d->items[0] : "refused");
}

/* Records a change; body is the object's JSON in the policy after the change. */
static void change(struct revision *rv, const struct object *o, const struct object *after,
		   enum store_change_kind what)
{
	if (rv->nchanges == rv->capchanges) {
		rv->capchanges = rv->capchanges ? rv->capchanges * 2 : 16;
		rv->changes = xrealloc(rv->changes, rv->capchanges * sizeof(*rv->changes));
	}
	struct store_change *c = &rv->changes[rv->nchanges++];
	memset(c, 0, sizeof(*c));
	c->kind = kind_name(o->kind);
	c->ns = o->ns->s;
	c->name = o->name->s;
	c->change = what;
	c->body = what == STORE_DELETED || !after ? NULL : after->json;
	c->origin = c->body ? after->origin : NULL;
}

/* The generation in force, and its policy. With lock_first the store's
 * write lock is taken first. */
static int read_current(struct revision *rv, bool lock_first, struct error *err)
{
	if (lock_first && store_begin(rv->store, &rv->txn, err) < 0)
		return -1;
	if (store_current_generation(rv->store, &rv->current, err) < 0)
		return -1;
	rv->res->generation = rv->current;
	rv->before = policy_new(rv->in);
	if (load_generation_into(rv->store, rv->current, rv->before, err) < 0)
		return -1;
	struct diags ignored = DIAGS_INIT;
	policy_validate(rv->before, &ignored);
	diags_release(&ignored);
	return 0;
}

/* Who asks: a user of the users file, or the built-in identity, admin
 * everywhere and known to no users file. */
static bool find_user(struct revision *rv)
{
	rv->system_user = (struct user){ .admin = true };
	rv->system_user.name = intern_cstr(rv->in, REVISE_SYSTEM_USER);
	rv->user = rv->req->system ? &rv->system_user : users_find(rv->users, rv->req->user);
	if (!rv->user)
		diags_add(&rv->res->diags, "unknown user '%s': not in the users file", rv->req->user);
	return rv->user != NULL;
}

static bool rollback_target_exists(struct revision *rv)
{
	const struct revise_request *req = rv->req;
	if (req->verb != REVISE_ROLLBACK || (req->rollback_to > 0 && req->rollback_to <= rv->current))
		return true;
	diags_add(&rv->res->diags, "generation %lld does not exist (the latest is %lld)",
		  req->rollback_to, rv->current);
	return false;
}

/* The objects given, or those of the generation rolled back to. */
static int read_request(struct revision *rv, struct error *err)
{
	rv->request = policy_new(rv->in);
	rv->request->types = drivers_policy_types();
	if (rv->req->verb == REVISE_ROLLBACK)
		return load_generation_into(rv->store, rv->req->rollback_to, rv->request, err);
	load_request(rv->request, rv->req, 0, &rv->res->diags);
	if (!rv->res->diags.len && rv->request->len == 0)
		diags_add(&rv->res->diags, "no policy objects given");
	return 0;
}

/* Each object, as requested and as stored, is judged by the ACL in force
 * before this change; a rollback's objects only when they change. */
static void check_acl(struct revision *rv)
{
	const struct revise_request *req = rv->req;
	struct acl *acl = acl_new(rv->before);
	for (size_t i = 0; i < rv->request->len; i++) {
		const struct object *o = rv->request->objects[i];
		const struct object *stored = policy_get(rv->before, o->kind, o->ns->s, o->name->s);
		if (req->verb == REVISE_ROLLBACK && stored && strcmp(stored->json, o->json) == 0)
			continue;
		rv->forbidden |= judge(acl, rv->user, stored, o, &rv->res->diags);
		if (req->verb != REVISE_DELETE) {
			rv->forbidden |= judge_replica(acl, rv->user, rv->before, o, &rv->res->diags);
			drivers_check_object(rv->request, o, &rv->res->diags);
		}
	}
	for (size_t i = 0; req->verb == REVISE_ROLLBACK && i < rv->before->len; i++) {
		const struct object *o = rv->before->objects[i];
		if (!policy_get(rv->request, o->kind, o->ns->s, o->name->s))
			rv->forbidden |= judge(acl, rv->user, o, NULL, &rv->res->diags);
	}
	acl_free(acl);
}

/* The policy after the change, and the changes recorded: objects applied
 * or rolled back to are created or updated; deleted ones, and those a
 * rollback leaves out, go (a cluster is retired with them). */
static int merge(struct revision *rv, struct error *err)
{
	const struct revise_request *req = rv->req;
	struct revise_result *res = rv->res;
	rv->after = policy_new(rv->in);
	long long base = req->verb == REVISE_ROLLBACK ? req->rollback_to : rv->current;
	if (load_generation_into(rv->store, base, rv->after, err) < 0)
		return -1;
	if (req->verb != REVISE_DELETE) {
		if (req->verb == REVISE_APPLY)
			load_request(rv->after, req, POLICY_REPLACE, &res->diags);
		const struct policy *given = req->verb == REVISE_APPLY ? rv->request : rv->after;
		for (size_t i = 0; i < given->len; i++) {
			const struct object *o = given->objects[i];
			const struct object *old = policy_get(rv->before, o->kind, o->ns->s, o->name->s);
			const struct object *now = policy_get(rv->after, o->kind, o->ns->s, o->name->s);
			if (!old) {
				change(rv, o, now, STORE_CREATED);
				res->created++;
			} else if (strcmp(old->json, o->json) != 0) {
				change(rv, o, now, STORE_UPDATED);
				res->updated++;
			}
		}
	}
	if (req->verb == REVISE_ROLLBACK) {
		for (size_t i = 0; i < rv->before->len; i++) {
			const struct object *o = rv->before->objects[i];
			if (policy_get(rv->after, o->kind, o->ns->s, o->name->s))
				continue;
			if (o->kind == KIND_CLUSTER)
				retire(&rv->retired, o, o);
			change(rv, o, NULL, STORE_DELETED);
			res->deleted++;
		}
	} else if (req->verb == REVISE_DELETE) {
		for (size_t i = 0; i < rv->request->len; i++) {
			const struct object *o = rv->request->objects[i];
			if (!policy_remove(rv->after, o->kind, o->ns->s, o->name->s)) {
				diags_add_at(&res->diags, o->pos, "%s: does not exist, nothing to delete",
					     object_describe(rv->request, o));
				continue;
			}
			if (o->kind == KIND_CLUSTER)
				retire(&rv->retired, o,
				       policy_get(rv->before, o->kind, o->ns->s, o->name->s));
			change(rv, o, NULL, STORE_DELETED);
			res->deleted++;
		}
	}
	return 0;
}

static int load_prev_state(struct revision *rv, struct error *err)
{
	if (rv->prev_loaded)
		return 0;
	if (store_load_state(rv->store, rv->current, &rv->prev_json, err) < 0 ||
	    (rv->prev_json && state_from_json(&rv->prev, rv->prev_json, err) < 0))
		return -1;
	rv->prev_loaded = true;
	return 0;
}

static int check_retired_clusters(struct revision *rv, struct error *err)
{
	if (rv->retired.len && load_prev_state(rv, err) < 0)
		return -1;
	for (size_t i = 0; i < rv->retired.len; i++)
		check_cluster_left_empty(rv->request, rv->after, rv->prev,
					 rv->retired.items[i].object, &rv->res->diags);
	return 0;
}

/* Only `after` matters from here: the other copies of the policy are freed
 * before resolving (a large apply holds three). Change records point into
 * `after`, and their names are interned. */
static int resolve_and_plan(struct revision *rv, struct error *err)
{
	struct revise_result *res = rv->res;
	policy_free(rv->request);
	rv->request = NULL;
	policy_free(rv->before);
	rv->before = NULL;
	struct acl *consume_acl = acl_new(rv->after);
	int rc = resolve_policy(&res->resolution, rv->after, rv->users, consume_acl, 0, err);
	acl_free(consume_acl);
	if (rc < 0)
		return -1;
	res->state = state_from_resolution(res->resolution);
	if (load_prev_state(rv, err) < 0)
		return -1;
	res->plan = plan_diff(rv->prev, res->state);
	check_rendered_params(rv->after, res->resolution, res->plan, &res->diags);
	return 0;
}

/* Commits the change as a new generation under the write lock; 1 when
 * another generation was committed since `current` was read. */
static int commit(struct revision *rv, struct error *err)
{
	const struct revise_request *req = rv->req;
	if (!rv->txn) {
		long long latest;
		if (store_begin(rv->store, &rv->txn, err) < 0 ||
		    store_current_generation(rv->store, &latest, err) < 0)
			return -1;
		if (latest != rv->current)
			return 1; /* another writer came first: try again on its generation */
	}
	/* What ran on a deleted cluster is removed through its last
	 * configuration by the next converge (reconcile.h). */
	for (size_t i = 0; i < rv->retired.len; i++) {
		struct strbuf key = STRBUF_INIT;
		strbuf_addf(&key, "%s%s", RECONCILE_RETIRED_PREFIX, rv->retired.items[i].name);
		int kv = store_kv_set(rv->store, key.buf, rv->retired.items[i].json, err);
		strbuf_release(&key);
		if (kv < 0)
			return -1;
	}
	struct strbuf state_json = STRBUF_INIT;
	state_to_json(rv->res->state, &state_json);
	char rollback_verb[48];
	snprintf(rollback_verb, sizeof(rollback_verb), "rollback of %lld", req->rollback_to);
	const char *verb = req->log_verb		  ? req->log_verb
			   : req->verb == REVISE_APPLY	  ? "apply"
			   : req->verb == REVISE_ROLLBACK ? rollback_verb
							  : "delete";
	int rc = store_commit_generation(rv->txn, rv->user->name->s, verb, rv->changes, rv->nchanges,
					 state_json.buf, &rv->res->generation, err);
	strbuf_release(&state_json);
	if (rc < 0)
		return -1;
	rv->txn = NULL;
	return 0;
}

static int revise_steps(struct revision *rv, bool lock_first, struct error *err)
{
	struct revise_result *res = rv->res;
	if (read_current(rv, lock_first, err) < 0)
		return -1;
	if (!find_user(rv) || !rollback_target_exists(rv))
		return refuse(rv, err);
	if (read_request(rv, err) < 0)
		return -1;
	check_acl(rv);
	if (res->diags.len)
		return refuse(rv, err);
	if (merge(rv, err) < 0 || check_retired_clusters(rv, err) < 0)
		return -1;
	if (res->diags.len || policy_validate(rv->after, &res->diags) < 0)
		return refuse(rv, err);
	if (resolve_and_plan(rv, err) < 0)
		return -1;
	if (res->diags.len)
		return refuse(rv, err);
	if (rv->nchanges > 0 && !rv->req->dry_run) {
		int rc = commit(rv, err);
		if (rc != 0)
			return rc;
	}
	res->status = rv->nchanges == 0 ? REVISE_UNCHANGED : REVISE_DONE;
	res->policy = rv->after;
	rv->after = NULL;
	return 0;
}

/* One try at the request. With lock_first the store's write lock is held
 * from the start. Without, everything is read, checked and resolved first
 * and the lock is taken only to commit, so other writers (webhook
 * deliveries, jobs) wait for a commit, not for a resolve; 1 is returned
 * (everything undone) when another generation was committed in between. */
static int revise_try(struct store *store, struct intern *in, const struct users *users,
		      const struct revise_request *req, bool lock_first, struct revise_result *res,
		      struct error *err)
{
	memset(res, 0, sizeof(*res));
	struct revision rv = { .store = store, .in = in, .users = users, .req = req, .res = res };
	int rc = revise_steps(&rv, lock_first, err);
	revision_release(&rv);
	return rc;
}

int revise_policy(struct store *store, struct intern *in, const struct users *users,
		  const struct revise_request *req, struct revise_result *res, struct error *err)
{
	/* Optimistic first; after a few lost races, hold the lock throughout so
	 * that a busy store cannot starve a request. */
	for (int attempt = 0;; attempt++) {
		int rc = revise_try(store, in, users, req, attempt >= 3, res, err);
		if (rc != 1)
			return rc;
		revise_result_release(res);
	}
}

void revise_result_release(struct revise_result *res)
{
	diags_release(&res->diags);
	plan_free(res->plan);
	state_free(res->state);
	resolution_free(res->resolution);
	policy_free(res->policy);
	memset(res, 0, sizeof(*res));
}
