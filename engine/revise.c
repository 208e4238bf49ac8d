/* Policy revisions: ACL, merge, validation, resolution and plan of a change
 * set, committed as one generation inside one store write transaction. */
#include "revise.h"

#include "driver.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/vec.h"
#include "engine/reconcile.h"
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

/* Records a change; body is the object's JSON in the policy after the change. */
static void add_change(struct store_change **changes, size_t *n, size_t *cap,
		       const struct object *o, const struct object *after,
		       enum store_change_kind what)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*changes = xrealloc(*changes, *cap * sizeof(**changes));
	}
	struct store_change *c = &(*changes)[(*n)++];
	memset(c, 0, sizeof(*c));
	c->kind = kind_name(o->kind);
	c->ns = o->ns->s;
	c->name = o->name->s;
	c->change = what;
	c->body = what == STORE_DELETED || !after ? NULL : after->json;
	c->origin = c->body ? after->origin : NULL;
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

/* Whether user may make the change from stored to requested (each NULL
 * when absent); a refusal is said at requested, or at stored for a delete. */
static void judge(struct acl *acl, const struct user *user, const struct object *stored,
		  const struct object *requested, struct revise_result *res)
{
	struct error aerr = ERROR_INIT;
	const struct object *o = requested ? requested : stored;
	if (acl_check_change(acl, user, stored, o, &aerr) < 0) {
		diags_add_at(&res->diags, o->pos, "%s", error_msg(&aerr));
		res->acl_refused++;
	}
	error_clear(&aerr);
}

/* A replica copies its source's data: only who may manage the source
 * dependency (its own user, an admin of its namespace) may make one of
 * it. A source made in the same request was judged as itself. */
static void judge_replica(struct acl *acl, const struct user *user, const struct policy *before,
			  const struct object *o, struct revise_result *res)
{
	if (o->kind != KIND_DEPENDENCY || !((const struct dependency *)o)->replica.on)
		return;
	const struct dependency *dep = (const struct dependency *)o;
	const struct object *src = policy_find(before, KIND_DEPENDENCY, dep->replica.of->s, o->ns->s);
	struct error aerr = ERROR_INIT;
	if (src && acl_check_manage(acl, user, src, &aerr) < 0) {
		diags_add_at(&res->diags, o->pos,
			     "dependency %s/%s: replica of %s/%s: only who may manage that dependency "
			     "may copy its data (%s)",
			     o->ns->s, o->name->s, src->ns->s, src->name->s, error_msg(&aerr));
		res->acl_refused++;
	}
	error_clear(&aerr);
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
	struct store_txn *txn = NULL;
	struct policy *before = NULL, *request = NULL, *after = NULL;
	struct acl *acl = NULL, *consume_acl = NULL;
	struct store_change *changes = NULL;
	size_t nchanges = 0, capchanges = 0;
	retired_vec retired = { 0 }; /* clusters deleted */
	struct state *prev = NULL;
	bool prev_loaded = false; /* prev_json and prev: the desired state of `current` */
	char *prev_json = NULL;
	struct strbuf state_json = STRBUF_INIT;
	int rc = -1;

	if (lock_first && store_begin(store, &txn, err) < 0)
		goto out;
	long long current;
	if (store_current_generation(store, &current, err) < 0)
		goto out;
	res->generation = current;

	before = policy_new(in);
	if (load_generation_into(store, current, before, err) < 0)
		goto out;
	{
		struct diags ignored = DIAGS_INIT;
		policy_validate(before, &ignored);
		diags_release(&ignored);
	}

	/* The built-in identity: admin everywhere, known to no users file. */
	struct user system_user = { .admin = true };
	system_user.name = intern_cstr(in, REVISE_SYSTEM_USER);
	const struct user *user = req->system ? &system_user : users_find(users, req->user);
	if (!user) {
		diags_add(&res->diags, "unknown user '%s': not in the users file", req->user);
		res->status = REVISE_REFUSED;
		rc = 0;
		goto out;
	}

	request = policy_new(in);
	request->types = drivers_policy_types();
	if (req->verb == REVISE_ROLLBACK) {
		if (req->rollback_to <= 0 || req->rollback_to > current) {
			diags_add(&res->diags, "generation %lld does not exist (the latest is %lld)",
				  req->rollback_to, current);
			res->status = REVISE_REFUSED;
			rc = 0;
			goto out;
		}
		if (load_generation_into(store, req->rollback_to, request, err) < 0)
			goto out;
	} else {
		load_request(request, req, 0, &res->diags);
		if (!res->diags.len && request->len == 0)
			diags_add(&res->diags, "no policy objects given");
	}

	/* Each object, as requested and as stored, is judged by the ACL in
	 * force before this change; a rollback's objects only when they change. */
	acl = acl_new(before);
	for (size_t i = 0; i < request->len; i++) {
		const struct object *o = request->objects[i];
		const struct object *stored = policy_get(before, o->kind, o->ns->s, o->name->s);
		if (req->verb == REVISE_ROLLBACK && stored && strcmp(stored->json, o->json) == 0)
			continue;
		judge(acl, user, stored, o, res);
		if (req->verb != REVISE_DELETE) {
			judge_replica(acl, user, before, o, res);
			drivers_check_object(request, o, &res->diags);
		}
	}
	for (size_t i = 0; req->verb == REVISE_ROLLBACK && i < before->len; i++) {
		const struct object *o = before->objects[i];
		if (!policy_get(request, o->kind, o->ns->s, o->name->s))
			judge(acl, user, o, NULL, res);
	}

	if (res->diags.len) {
		res->status = REVISE_REFUSED;
		rc = 0;
		goto out;
	}

	after = policy_new(in);
	if (load_generation_into(store, req->verb == REVISE_ROLLBACK ? req->rollback_to : current, after,
				 err) < 0)
		goto out;
	if (req->verb != REVISE_DELETE) {
		/* Applied objects, or those of the generation rolled back to. */
		if (req->verb == REVISE_APPLY)
			load_request(after, req, POLICY_REPLACE, &res->diags);
		const struct policy *given = req->verb == REVISE_APPLY ? request : after;
		for (size_t i = 0; i < given->len; i++) {
			const struct object *o = given->objects[i];
			const struct object *old = policy_get(before, o->kind, o->ns->s, o->name->s);
			const struct object *now = policy_get(after, o->kind, o->ns->s, o->name->s);
			if (!old) {
				add_change(&changes, &nchanges, &capchanges, o, now, STORE_CREATED);
				res->created++;
			} else if (strcmp(old->json, o->json) != 0) {
				add_change(&changes, &nchanges, &capchanges, o, now, STORE_UPDATED);
				res->updated++;
			}
		}
	}
	if (req->verb == REVISE_ROLLBACK) {
		for (size_t i = 0; i < before->len; i++) {
			const struct object *o = before->objects[i];
			if (policy_get(after, o->kind, o->ns->s, o->name->s))
				continue;
			if (o->kind == KIND_CLUSTER)
				retire(&retired, o, o);
			add_change(&changes, &nchanges, &capchanges, o, NULL, STORE_DELETED);
			res->deleted++;
		}
	} else if (req->verb == REVISE_DELETE) {
		for (size_t i = 0; i < request->len; i++) {
			const struct object *o = request->objects[i];
			if (!policy_remove(after, o->kind, o->ns->s, o->name->s)) {
				diags_add_at(&res->diags, o->pos, "%s: does not exist, nothing to delete",
					     object_describe(request, o));
				continue;
			}
			if (o->kind == KIND_CLUSTER)
				retire(&retired, o, policy_get(before, o->kind, o->ns->s, o->name->s));
			add_change(&changes, &nchanges, &capchanges, o, NULL, STORE_DELETED);
			res->deleted++;
		}
	}
	if (retired.len) {
		if (store_load_state(store, current, &prev_json, err) < 0 ||
		    (prev_json && state_from_json(&prev, prev_json, err) < 0))
			goto out;
		prev_loaded = true;
	}
	for (size_t i = 0; i < retired.len; i++)
		check_cluster_left_empty(request, after, prev, retired.items[i].object, &res->diags);
	if (res->diags.len) {
		res->status = REVISE_REFUSED;
		rc = 0;
		goto out;
	}
	if (policy_validate(after, &res->diags) < 0) {
		res->status = REVISE_REFUSED;
		rc = 0;
		goto out;
	}

	/* Only `after` matters from here: free the other copies of the policy
	 * before resolving (a large apply holds three). Change records point
	 * into `after`, and their names are interned. */
	acl_free(acl);
	acl = NULL;
	policy_free(request);
	request = NULL;
	policy_free(before);
	before = NULL;

	consume_acl = acl_new(after);
	if (resolve_policy(&res->resolution, after, users, consume_acl, 0, err) < 0)
		goto out;
	res->state = state_from_resolution(res->resolution);
	if (!prev_loaded && (store_load_state(store, current, &prev_json, err) < 0 ||
			     (prev_json && state_from_json(&prev, prev_json, err) < 0)))
		goto out;
	res->plan = plan_diff(prev, res->state);
	check_rendered_params(after, res->resolution, res->plan, &res->diags);
	if (res->diags.len) {
		res->status = REVISE_REFUSED;
		rc = 0;
		goto out;
	}

	if (nchanges == 0) {
		res->status = REVISE_UNCHANGED;
	} else if (req->dry_run) {
		res->status = REVISE_DONE;
	} else {
		if (!txn) {
			long long latest;
			if (store_begin(store, &txn, err) < 0 ||
			    store_current_generation(store, &latest, err) < 0)
				goto out;
			if (latest != current) {
				rc = 1; /* another writer came first: try again on its generation */
				goto out;
			}
		}
		/* What ran on a deleted cluster is removed through its last
		 * configuration by the next converge (reconcile.h). */
		for (size_t i = 0; i < retired.len; i++) {
			struct strbuf key = STRBUF_INIT;
			strbuf_addf(&key, "%s%s", RECONCILE_RETIRED_PREFIX, retired.items[i].name);
			int kv = store_kv_set(store, key.buf, retired.items[i].json, err);
			strbuf_release(&key);
			if (kv < 0)
				goto out;
		}
		state_to_json(res->state, &state_json);
		char rollback_verb[48];
		snprintf(rollback_verb, sizeof(rollback_verb), "rollback of %lld", req->rollback_to);
		const char *verb = req->log_verb		  ? req->log_verb
				   : req->verb == REVISE_APPLY	  ? "apply"
				   : req->verb == REVISE_ROLLBACK ? rollback_verb
								  : "delete";
		if (store_commit_generation(txn, user->name->s, verb, changes, nchanges,
					    state_json.buf, &res->generation, err) < 0)
			goto out;
		txn = NULL;
		res->status = REVISE_DONE;
	}
	res->policy = after;
	after = NULL;
	rc = 0;
out:
	if (txn)
		store_abort(txn);
	strbuf_release(&state_json);
	free(prev_json);
	state_free(prev);
	free(changes);
	for (size_t i = 0; i < retired.len; i++)
		free(retired.items[i].json);
	vec_release(&retired);
	acl_free(consume_acl);
	acl_free(acl);
	policy_free(after);
	policy_free(request);
	policy_free(before);
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
