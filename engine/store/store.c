/* Backend-neutral store functions: pick a backend by location, check
 * generation numbers, dispatch, and merge diffs between generations. The SQL
 * lives in the backends. */
#include "store_backend.h"
#include "base/alloc.h"
#include "base/vec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct store_backend *const backends[] = { &store_sqlite, &store_postgres };

static const char *const change_names[] = { "created", "updated", "deleted" };

const char *store_change_name(enum store_change_kind change)
{
	return (unsigned)change < sizeof(change_names) / sizeof(*change_names) ? change_names[change]
									       : "unknown";
}

int store_open(struct store **out, const char *location, struct error *err)
{
	*out = NULL;
	if (!location || !*location)
		return error_set(err, "cannot open state database: no location given");
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		if (backends[i]->accepts(location))
			return backends[i]->open(out, location, err);
	return error_set(err, "cannot open state database %s: unknown kind of location (give a path, "
			      "sqlite:PATH or postgres://...)",
			 location);
}

void store_close(struct store *s)
{
	if (s)
		s->backend->close(s);
}

int store_begin(struct store *s, struct store_txn **out, struct error *err)
{
	*out = NULL;
	return s->backend->begin(s, out, err);
}

void store_abort(struct store_txn *t)
{
	if (t)
		t->store->backend->abort(t);
}

int store_commit_generation_at(struct store_txn *t, const char *user, const char *verb,
			       long long when, const struct store_change *changes, size_t n,
			       const char *state_json, long long *generation, struct error *err)
{
	const char *missing = !user || !*user ? "a user" : !verb || !*verb ? "a verb" : NULL;
	for (size_t i = 0; !missing && i < n; i++) {
		const struct store_change *c = &changes[i];
		if (!c->kind || !c->ns || !c->name)
			missing = "a kind, namespace and name for every change";
		else if ((unsigned)c->change > STORE_DELETED)
			missing = "a known kind of change (created, updated, deleted)";
	}
	if (missing) {
		t->store->backend->abort(t);
		return error_set(err, "cannot record a generation without %s", missing);
	}
	return t->store->backend->commit_generation(t, user, verb, when, changes, n, state_json,
						     generation, err);
}

int store_commit_generation(struct store_txn *t, const char *user, const char *verb,
			    const struct store_change *changes, size_t n, const char *state_json,
			    long long *generation, struct error *err)
{
	return store_commit_generation_at(t, user, verb, (long long)time(NULL), changes, n,
					  state_json, generation, err);
}

int store_current_generation(struct store *s, long long *out, struct error *err)
{
	return s->backend->current_generation(s, out, err);
}

/* Generations are never removed, so a number found here stays valid for the
 * query that follows, even outside a transaction. */
static int check_generation(struct store *s, long long gen, int allow_empty, struct error *err)
{
	long long current;
	if (s->backend->current_generation(s, &current, err) < 0)
		return -1;
	if (gen > 0 && gen <= current)
		return 0;
	if (gen == 0 && allow_empty)
		return 0;
	if (!current)
		return error_set(err, "generation %lld does not exist (no policy generations yet)", gen);
	return error_set(err, "generation %lld does not exist (the latest is %lld)", gen, current);
}

int store_list_objects(struct store *s, long long gen, store_object_fn fn, void *ctx,
		       struct error *err)
{
	if (check_generation(s, gen, 1, err) < 0)
		return -1;
	if (gen == 0)
		return 0;
	return s->backend->list_objects(s, gen, -1, fn, ctx, err);
}

int store_last_changes(struct store *s, const char *kind, store_changed_fn fn, void *ctx,
		       struct error *err)
{
	if (!kind || !*kind)
		return error_set(err, "cannot list the last changes without a kind");
	return s->backend->last_changes(s, kind, fn, ctx, err);
}

int store_log(struct store *s, store_generation_fn fn, void *ctx, struct error *err)
{
	return s->backend->log(s, fn, ctx, err);
}

int store_generation_get(struct store *s, long long gen, struct store_generation *out,
			 struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_generation(s, gen, 0, err) < 0)
		return -1;
	return s->backend->generation_get(s, gen, out, err);
}

void store_generation_release(struct store_generation *g)
{
	/* The strings are the heap copies store_generation_get() made. */
	free((char *)g->user);
	free((char *)g->verb);
	memset(g, 0, sizeof(*g));
}

int store_generation_changes(struct store *s, long long gen, store_change_fn fn, void *ctx,
			     struct error *err)
{
	if (check_generation(s, gen, 0, err) < 0)
		return -1;
	return s->backend->generation_changes(s, gen, fn, ctx, err);
}

int store_load_state(struct store *s, long long gen, char **json, struct error *err)
{
	*json = NULL;
	if (gen == 0) {
		if (s->backend->current_generation(s, &gen, err) < 0)
			return -1;
		if (gen == 0)
			return 0;
	} else if (check_generation(s, gen, 0, err) < 0) {
		return -1;
	}
	return s->backend->load_state(s, gen, json, err);
}

int store_record_action(struct store *s, const struct store_action *a, struct error *err)
{
	if (!a->action || !a->instance || !a->status)
		return error_set(err, "cannot record an action without its action, instance and status");
	return s->backend->record_action(s, a, err);
}

int store_list_actions(struct store *s, long long gen, store_action_fn fn, void *ctx,
		       struct error *err)
{
	return s->backend->list_actions(s, gen, fn, ctx, err);
}

struct listed {
	char *kind, *ns, *name, *body;
};

typedef VEC(struct listed) listing;

static int collect(void *ctx, const char *kind, const char *ns, const char *name, const char *body,
		   const char *origin)
{
	listing *l = ctx;
	struct listed o = { xstrdup(kind), xstrdup(ns), xstrdup(name), xstrdup(body) };
	vec_push(l, o);
	return 0;
}

static void listing_release(listing *l)
{
	for (size_t i = 0; i < l->len; i++) {
		free(l->items[i].kind);
		free(l->items[i].ns);
		free(l->items[i].name);
		free(l->items[i].body);
	}
	vec_release(l);
}

static int compare_ids(const struct listed *a, const struct listed *b)
{
	int c = strcmp(a->kind, b->kind);
	if (!c)
		c = strcmp(a->ns, b->ns);
	if (!c)
		c = strcmp(a->name, b->name);
	return c;
}

int store_diff(struct store *s, long long from, long long to, store_diff_fn fn, void *ctx,
	       struct error *err)
{
	if (check_generation(s, from, 1, err) < 0 || check_generation(s, to, 1, err) < 0)
		return -1;
	/* Only the versions one side has and the other lacks: what both share
	 * is the same row, so the work follows the size of the change, not of
	 * the policy. */
	listing a = { 0 }, b = { 0 };
	int rc = 0;
	if ((from && s->backend->list_objects(s, from, to, collect, &a, err) < 0) ||
	    (to && s->backend->list_objects(s, to, from, collect, &b, err) < 0)) {
		rc = -1;
		goto out;
	}
	size_t i = 0, j = 0;
	while (rc == 0 && (i < a.len || j < b.len)) {
		int c = i == a.len ? 1 : j == b.len ? -1 : compare_ids(&a.items[i], &b.items[j]);
		if (c < 0) {
			rc = fn(ctx, a.items[i].kind, a.items[i].ns, a.items[i].name, a.items[i].body, NULL);
			i++;
		} else if (c > 0) {
			rc = fn(ctx, b.items[j].kind, b.items[j].ns, b.items[j].name, NULL, b.items[j].body);
			j++;
		} else {
			/* Deleted and created again with the same body: no difference. */
			if (strcmp(a.items[i].body, b.items[j].body) != 0)
				rc = fn(ctx, a.items[i].kind, a.items[i].ns, a.items[i].name,
					a.items[i].body, b.items[j].body);
			i++;
			j++;
		}
	}
out:
	listing_release(&a);
	listing_release(&b);
	return rc;
}

int store_lock_apply(struct store *s, bool wait, struct error *err)
{
	return s->backend->lock_apply(s, wait, err);
}

void store_unlock_apply(struct store *s)
{
	s->backend->unlock_apply(s);
}

/* ---- Server data ---- */

int store_token_add(struct store *s, const char *user, const char *name, const char *hash,
		    long long *id, struct error *err)
{
	*id = 0;
	if (!user || !*user)
		return error_set(err, "cannot add a token without a user");
	if (!hash || !*hash)
		return error_set(err, "cannot add a token without its hash");
	return s->backend->token_add(s, user, name ? name : "", hash, id, err);
}

int store_token_use(struct store *s, const char *hash, struct store_token *t, bool *found,
		    struct error *err)
{
	memset(t, 0, sizeof(*t));
	*found = false;
	if (!hash || !*hash)
		return error_set(err, "cannot look up a token without its hash");
	if (s->backend->token_use(s, hash, (long long)time(NULL), t, found, err) < 0) {
		store_token_release(t);
		*found = false;
		return -1;
	}
	return 0;
}

void store_token_release(struct store_token *t)
{
	free((char *)t->user);
	free((char *)t->name);
	memset(t, 0, sizeof(*t));
}

int store_token_revoke(struct store *s, long long id, bool *found, struct error *err)
{
	*found = false;
	return s->backend->token_revoke(s, id, found, err);
}

int store_token_list(struct store *s, store_token_fn fn, void *ctx, struct error *err)
{
	return s->backend->token_list(s, fn, ctx, err);
}

int store_work_begin(struct store *s, struct error *err)
{
	return s->backend->work_begin(s, err);
}

int store_work_commit(struct store *s, struct error *err)
{
	return s->backend->work_commit(s, err);
}

void store_work_abort(struct store *s)
{
	if (s)
		s->backend->work_abort(s);
}

int store_delivery_claim(struct store *s, const char *source, const char *id, bool *fresh,
			 struct error *err)
{
	*fresh = false;
	if (!source || !*source || !id || !*id)
		return error_set(err, "cannot claim a delivery without its source and id");
	return s->backend->delivery_claim(s, source, id, (long long)time(NULL), fresh, err);
}

static const char *const job_status_names[] = { "queued", "running", "done", "failed", "cancelled" };

const char *store_job_status_name(enum store_job_status status)
{
	return (unsigned)status < sizeof(job_status_names) / sizeof(*job_status_names)
		       ? job_status_names[status]
		       : "unknown";
}

int store_job_status_parse(const char *name, enum store_job_status *out)
{
	for (size_t i = 0; i < sizeof(job_status_names) / sizeof(*job_status_names); i++)
		if (strcmp(name, job_status_names[i]) == 0) {
			*out = (enum store_job_status)i;
			return 0;
		}
	return -1;
}

void store_job_copy(struct store_job *out, const struct store_job *row)
{
	*out = *row;
	out->kind = xstrdup(row->kind);
	out->key = xstrdup(row->key);
	out->payload = row->payload ? xstrdup(row->payload) : NULL;
	out->message = row->message ? xstrdup(row->message) : NULL;
	out->owner = row->owner ? xstrdup(row->owner) : NULL;
}

void store_job_release(struct store_job *j)
{
	/* The strings are the heap copies store_job_copy() made. */
	free((char *)j->kind);
	free((char *)j->key);
	free((char *)j->payload);
	free((char *)j->message);
	free((char *)j->owner);
	memset(j, 0, sizeof(*j));
}

int store_job_enqueue(struct store *s, const char *kind, const char *key, const char *payload,
		      bool supersede, long long *id, struct error *err)
{
	*id = 0;
	if (!kind || !*kind || !key || !*key)
		return error_set(err, "cannot queue a job without its kind and key");
	return s->backend->job_enqueue(s, kind, key, payload, supersede, (long long)time(NULL), id,
				       err);
}

static int need_owner(const char *owner, struct error *err)
{
	return owner && *owner ? 0 : error_set(err, "a job's owner must be named");
}

int store_job_claim(struct store *s, long long now, const char *owner, long long lease_s,
		    struct store_job *out, bool *found, struct error *err)
{
	memset(out, 0, sizeof(*out));
	*found = false;
	if (need_owner(owner, err) < 0)
		return -1;
	if (lease_s <= 0)
		return error_set(err, "a job's lease must last at least a second, not %lld", lease_s);
	return s->backend->job_claim(s, now, owner, now + lease_s, out, found, err);
}

int store_job_renew(struct store *s, const char *owner, long long lease_until, size_t *n,
		    struct error *err)
{
	*n = 0;
	if (need_owner(owner, err) < 0)
		return -1;
	return s->backend->job_renew(s, owner, lease_until, (long long)time(NULL), n, err);
}

int store_job_finish(struct store *s, long long id, const char *owner, enum store_job_status status,
		     const char *message, struct error *err)
{
	if (status != STORE_JOB_DONE && status != STORE_JOB_FAILED && status != STORE_JOB_CANCELLED)
		return error_set(err, "cannot finish job %lld as %s (give done, failed or cancelled)", id,
				 store_job_status_name(status));
	if (need_owner(owner, err) < 0)
		return -1;
	return s->backend->job_finish(s, id, owner, status, message, 0, (long long)time(NULL), err);
}

int store_job_retry(struct store *s, long long id, const char *owner, long long not_before,
		    const char *message, struct error *err)
{
	if (need_owner(owner, err) < 0)
		return -1;
	return s->backend->job_finish(s, id, owner, STORE_JOB_QUEUED, message, not_before,
				      (long long)time(NULL), err);
}

int store_job_get(struct store *s, long long id, struct store_job *out, bool *found,
		  struct error *err)
{
	memset(out, 0, sizeof(*out));
	*found = false;
	return s->backend->job_get(s, id, out, found, err);
}

int store_job_requeue_expired(struct store *s, size_t *n, struct error *err)
{
	*n = 0;
	return s->backend->job_requeue(s, NULL, (long long)time(NULL), n, err);
}

int store_job_release_owned(struct store *s, const char *owner, size_t *n, struct error *err)
{
	*n = 0;
	if (need_owner(owner, err) < 0)
		return -1;
	return s->backend->job_requeue(s, owner, (long long)time(NULL), n, err);
}

int store_job_list(struct store *s, size_t limit, store_job_fn fn, void *ctx, struct error *err)
{
	return s->backend->job_list(s, limit, fn, ctx, err);
}

int store_kv_set(struct store *s, const char *key, const char *value, struct error *err)
{
	if (!key || !*key)
		return error_set(err, "cannot set a value without its key");
	return s->backend->kv_set(s, key, value, (long long)time(NULL), err);
}

int store_kv_get(struct store *s, const char *key, char **value, struct error *err)
{
	*value = NULL;
	if (!key || !*key)
		return error_set(err, "cannot get a value without its key");
	return s->backend->kv_get(s, key, value, err);
}

int store_kv_advance(struct store *s, const char *key, const char *value, bool *advanced,
		     struct error *err)
{
	*advanced = false;
	if (!key || !*key || !value)
		return error_set(err, "cannot advance a value without its key and value");
	return s->backend->kv_advance(s, key, value, (long long)time(NULL), advanced, err);
}

int store_kv_list(struct store *s, const char *prefix, store_kv_fn fn, void *ctx, struct error *err)
{
	return s->backend->kv_list(s, prefix ? prefix : "", fn, ctx, err);
}

char *store_beside(const char *location, const char *name)
{
	if (!location || strncmp(location, "postgres://", 11) == 0 ||
	    strncmp(location, "postgresql://", 13) == 0)
		return NULL;
	if (strncmp(location, "sqlite:", 7) == 0)
		location += 7;
	const char *slash = strrchr(location, '/');
	size_t dir = slash ? (size_t)(slash - location) + 1 : 0;
	char *out = xmalloc(dir + strlen(name) + 1);
	memcpy(out, location, dir);
	strcpy(out + dir, name);
	return out;
}
