/* Reconciling under the apply lock (reconcile.h). */
#include "reconcile.h"

#include "revise.h"
#include "store/store.h"

#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

int reconcile(struct store *s, const struct policy *p, const struct resolution *r,
	      long long generation, bool wait, const struct exec_options *eo,
	      struct converge_result *res, bool *busy, struct error *err)
{
	memset(res, 0, sizeof(*res));
	*busy = false;
	if (store_lock_apply(s, wait, busy, err) < 0)
		return -1;
	struct fleet *fleet = fleet_open(p, eo);
	int rc = converge(fleet, s, r, generation, eo, res, err);
	fleet_close(fleet);
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
		     const struct exec_options *eo, struct reconcile_result *res, bool *busy,
		     struct error *err)
{
	memset(res, 0, sizeof(*res));
	*busy = false;
	if (revise_load_generation(s, in, 0, &res->policy, &res->generation, err) < 0)
		goto fail;
	res->acl = acl_new(res->policy);
	if (resolve_policy(&res->resolution, res->policy, users, res->acl, 0, err) < 0)
		goto fail;
	if (reconcile_check_removals(s, res->generation, res->resolution, err) < 0)
		goto fail;
	if (reconcile(s, res->policy, res->resolution, res->generation, wait, eo, &res->converge, busy,
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
