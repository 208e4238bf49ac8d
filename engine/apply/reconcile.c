/* Reconciling under the apply lock (reconcile.h). */
#include "reconcile.h"

#include "revise.h"
#include "engine/store/store.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/strbuf.h"
#include "base/vec.h"

#include <stdlib.h>
#include <string.h>

struct retired {
	const struct policy *current;
	struct policy *clusters;   /* the retired clusters' last configurations */
	VEC(char *) keys;          /* their facts, forgotten after a clean converge */
	VEC(char *) stale;         /* facts of clusters back in the policy */
};

static int add_retired(void *ctx, const char *key, const char *value)
{
	struct retired *rt = ctx;
	const char *name = key + strlen(RECONCILE_RETIRED_PREFIX);
	if (policy_get(rt->current, KIND_CLUSTER, "system", name)) {
		vec_push(&rt->stale, xstrdup(key)); /* the policy's own cluster observes it */
		return 0;
	}
	struct diags d = DIAGS_INIT;
	const char *file = arena_strdup(rt->clusters->arena, key);
	if (policy_add_yaml(rt->clusters, file, value, strlen(value), 0, &d) == 0)
		vec_push(&rt->keys, xstrdup(key));
	diags_release(&d); /* a fact that no longer loads is kept, not acted on */
	return 0;
}

static void forget(struct store *s, char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct error err = ERROR_INIT;
		store_kv_set(s, keys[i], NULL, &err); /* kept on failure: tried again next time */
		error_clear(&err);
	}
}

int reconcile(struct store *s, const struct policy *p, const struct resolution *r,
	      long long generation, bool wait, const struct exec_options *eo,
	      struct converge_result *res, struct error *err)
{
	memset(res, 0, sizeof(*res));
	if (store_lock_apply(s, wait, err) < 0)
		return -1;
	/* Clusters deleted with everything on them: observed through their
	 * last configuration, where nothing is desired, so all of it goes. */
	struct retired rt = { .current = p, .clusters = policy_new(p->intern) };
	int rc = store_kv_list(s, RECONCILE_RETIRED_PREFIX, add_retired, &rt, err);
	if (rc == 0) {
		struct diags ignored = DIAGS_INIT;
		policy_validate(rt.clusters, &ignored);
		diags_release(&ignored);
		forget(s, rt.stale.items, rt.stale.len);
		struct fleet *fleet = fleet_open(p, eo);
		fleet_add_clusters(fleet, rt.clusters, eo);
		rc = converge(fleet, s, r, generation, eo, res, err);
		fleet_close(fleet);
		if (rc == 0 && res->unsuccessful == 0)
			forget(s, rt.keys.items, rt.keys.len);
	}
	for (size_t i = 0; i < rt.keys.len; i++)
		free(rt.keys.items[i]);
	for (size_t i = 0; i < rt.stale.len; i++)
		free(rt.stale.items[i]);
	vec_release(&rt.keys);
	vec_release(&rt.stale);
	policy_free(rt.clusters);
	store_unlock_apply(s);
	return rc;
}

int reconcile_check_removals(struct store *s, long long generation, const struct resolution *r,
			     struct error *err)
{
	char *json = NULL;
	struct state *stored = NULL;
	int rc = 0;
	if (generation == 0)
		return 0;
	if (store_load_state(s, generation, &json, err) < 0 ||
	    (json && state_from_json(&stored, json, err) < 0)) {
		rc = -1;
		goto out;
	}
	size_t lost = 0;
	for (size_t i = 0; stored && i < stored->len; i++)
		lost += !map_get(&r->by_key, stored->instances[i]->key, strlen(stored->instances[i]->key));
	if (!lost)
		goto out;
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb,
		    "refusing to converge: %zu instance%s of generation %lld would be removed although the "
		    "policy did not change, because dependencies that resolved when it was stored no "
		    "longer resolve with the current users and secrets files (pass the same --users and "
		    "--secrets, or delete those dependencies to remove them):",
		    lost, lost == 1 ? "" : "s", generation);
	size_t shown = 0;
	for (size_t i = 0; i < r->ndeps; i++) {
		if (r->deps[i].resolved)
			continue;
		if (shown++ == 3) {
			strbuf_adds(&sb, " …");
			break;
		}
		strbuf_addf(&sb, " %s: %s;", r->deps[i].id, r->deps[i].reason ? r->deps[i].reason : "not resolved");
	}
	if (sb.len && sb.buf[sb.len - 1] == ';')
		sb.buf[--sb.len] = '\0';
	error_set(err, "%s", sb.buf);
	strbuf_release(&sb);
	rc = -1;
out:
	state_free(stored);
	free(json);
	return rc;
}

int reconcile_latest(struct store *s, struct intern *in, const struct users *users, bool wait,
		     const struct exec_options *eo, struct reconcile_result *res, struct error *err)
{
	memset(res, 0, sizeof(*res));
	if (revise_load_generation(s, in, 0, &res->policy, &res->generation, err) < 0)
		goto fail;
	res->acl = acl_new(res->policy);
	if (resolve_policy(&res->resolution, res->policy, users, res->acl, 0, err) < 0)
		goto fail;
	if (reconcile_check_removals(s, res->generation, res->resolution, err) < 0)
		goto fail;
	if (reconcile(s, res->policy, res->resolution, res->generation, wait, eo, &res->converge,
		      err) < 0)
		goto fail;
	return 0;
fail:
	reconcile_result_release(res);
	return -1;
}

void reconcile_result_release(struct reconcile_result *res)
{
	converge_result_release(&res->converge);
	resolution_free(res->resolution);
	acl_free(res->acl);
	policy_free(res->policy);
	memset(res, 0, sizeof(*res));
}
