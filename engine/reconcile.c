/* Reconciling under the apply lock (reconcile.h). */
#include "reconcile.h"

#include "revise.h"
#include "store/store.h"

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
