/* Converging: what really runs (observed through each cluster's driver) is
 * made into the desired state of a generation. Every cluster of the policy is
 * observed (one round trip per kind of object), the drivers add the actions
 * the difference needs, the executor runs them, and each outcome is recorded
 * in the store. Because the diff is against reality, not against what was
 * last recorded, an apply killed half-way is finished by the next one, and a
 * container removed, stopped or changed by hand is repaired. */
#ifndef CAIRN_CONVERGE_H
#define CAIRN_CONVERGE_H

#include "driver.h"
#include "exec.h"

struct store;

/* The drivers of every cluster of a policy, connected and observed. */
struct fleet;

/* Connects to and observes every cluster of p whose type has a driver (p
 * NULL: none yet). A cluster that cannot be reached is not fatal: its error
 * is kept (see fleet_problems) and its instances have no observed state. */
struct fleet *fleet_open(const struct policy *p, const struct exec_options *eo);
/* Connects to and observes cluster c through ops. */
void fleet_add_cluster(struct fleet *f, const struct cluster *c, const struct driver_ops *ops,
		       const struct exec_options *eo);
/* Adds the clusters of p too (p must outlive the fleet): clusters deleted
 * from the policy, whose instances converge() then removes. */
void fleet_add_clusters(struct fleet *f, const struct policy *p, const struct exec_options *eo);
void fleet_close(struct fleet *f);
/* Whether the cluster was observed (false when unreachable or without a driver). */
bool fleet_reachable(const struct fleet *f, const char *cluster);
/* Why clusters could not be observed ("cluster us-east: docker engine at … is not running …"). */
const struct diags *fleet_problems(const struct fleet *f);
/* The observed objects of an instance of one kind ("network"; NULL: what
 * its driver runs it as, driver_ops.unit), NULL when there is none. *n
 * counts them. */
const struct observed *fleet_find(const struct fleet *f, const char *key, const char *kind,
				  size_t *n);
/* Every observed object of every cluster, for each cluster in turn. */
typedef void (*fleet_fn)(void *ctx, const char *cluster, const struct observed *o);
void fleet_each(const struct fleet *f, fleet_fn fn, void *ctx);
/* The output of an instance (its key) to stdout/stderr. */
int fleet_logs(struct fleet *f, const char *key, bool follow, struct error *err);

struct converge_result {
	struct exec *exec; /* the actions and their outcomes */
	size_t unsuccessful;
	long long elapsed_ms;
};

/* Converges the fleet to the resolution of generation `generation`; each
 * action's outcome is recorded in store (may be NULL) as it ends. The
 * report callback of eo still gets every event. Unreachable clusters add a
 * failed "connect" action. Returns 0 with res filled (res->unsuccessful
 * counts what did not succeed), -1 with err when recording failed. */
int converge(struct fleet *f, struct store *store, const struct resolution *r, long long generation,
	     const struct exec_options *eo, struct converge_result *res, struct error *err);
void converge_result_release(struct converge_result *res);

#endif
