/* Reconciling: what runs is made into the latest stored generation — load
 * it, resolve it with the current users, observe every cluster and converge,
 * under the store's apply lock so two reconciles never interleave. What
 * `cairn apply` does, and what the server's reconcile jobs and previews do.
 * Not thread-safe on one intern: each thread passes its own intern and users. */
#ifndef CAIRN_RECONCILE_H
#define CAIRN_RECONCILE_H

#include "converge.h"

struct store;
struct intern;
struct users;

/* The store facts (store_kv_list) of clusters deleted from the policy while
 * something may still run on them: key prefix + cluster name, value the
 * cluster's last stored JSON. reconcile() observes them through that
 * configuration, removes everything of cairn's there, and forgets each once
 * nothing failed. */
#define RECONCILE_RETIRED_PREFIX "retired-cluster:"

struct reconcile_result {
	long long generation;      /* the generation converged to (0: none stored yet) */
	struct policy *policy;     /* that generation's policy */
	struct acl *acl;
	struct resolution *resolution;
	struct converge_result converge; /* actions and outcomes */
};

/* Converges every cluster of p to resolution r of generation `generation`
 * under the apply lock (wait as below), recording each outcome in s. */
int reconcile(struct store *s, const struct policy *p, const struct resolution *r,
	      long long generation, bool wait, const struct exec_options *eo,
	      struct converge_result *res, struct error *err);

/* Refuses (-1 with err) when resolution r of generation `generation` lacks
 * instances that the desired state stored with that generation has: the
 * policy is the same, so the users or secrets files differ from when it was
 * stored (a secrets file not passed, a user removed), and converging would
 * remove running environments by accident. The error names the dependencies
 * that no longer resolve and why. */
int reconcile_check_removals(struct store *s, long long generation, const struct resolution *r,
			     struct error *err);

/* Converges every cluster to the latest generation (after
 * reconcile_check_removals). With wait, waits for an apply running
 * elsewhere; without, returns -1 with an ERROR_BUSY error when one runs.
 * Returns 0 with res filled (res->converge.unsuccessful counts what did not
 * succeed; nothing to do when no generation is stored), -1 with err. */
int reconcile_latest(struct store *s, struct intern *in, const struct users *users, bool wait,
		     const struct exec_options *eo, struct reconcile_result *res, struct error *err);
void reconcile_result_release(struct reconcile_result *res);

#endif
