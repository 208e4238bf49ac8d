/* The engine's pure half: resolve a policy into the desired state (a graph of
 * component instances), and diff a state against another into a plan. Nothing
 * here touches a driver, a socket or a file (STYLE.md: plan is pure). */
#ifndef CAIRN_ENGINE_H
#define CAIRN_ENGINE_H

#include "base/error.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "policy/policy.h"

#include <stdbool.h>
#include <stdint.h>

struct arena;

/* One component instance, or a service instance (component "root"). Keys are
 * cluster#namespace#contract#context[#keys…]#component (Aptomi's). */
struct instance {
	const char *key;
	const char *cluster, *ns, *contract, *context, *service, *component;
	bool root;
	const struct component *comp; /* NULL for a root */
	const char *code_type;        /* "docker"/"process", NULL when no code */
	const struct istr *params;    /* canonical JSON of the rendered params, NULL when none */
	const struct istr *params_public; /* the same with secret values masked */
	const struct istr *discovery; /* canonical JSON, NULL when none */
	struct labels labels;         /* calculated labels, merged over its dependencies */
	const char **deps;            /* "ns/name" of the dependencies it serves, sorted */
	uint32_t ndeps;
	struct instance **edges_out;  /* instances it needs (sorted by key) */
	uint32_t nedges_out;
	uint32_t order;               /* position in dependency-first order */
	bool allow_ingress;
};

/* What happened to one dependency. */
struct dep_result {
	const struct dependency *dep;
	const char *id;           /* "ns/name" */
	const struct user *user;  /* NULL when the user is unknown */
	bool resolved;
	const char *reason;       /* why not resolved, NULL when resolved */
	const char *context;      /* the top-level context that matched, or NULL */
	struct instance *root;    /* top-level service instance when resolved */
	const char **events;      /* explanation, when resolved with RESOLVE_EXPLAIN */
	uint32_t nevents;
};

struct resolution {
	struct arena *arena;
	struct instance **instances; /* dependency-first order (order field = index) */
	size_t ninstances;
	struct map by_key;           /* key -> instance */
	struct dep_result *deps;     /* sorted by namespace, then name */
	size_t ndeps;
	size_t nresolved;
};

enum {
	RESOLVE_EXPLAIN = 1, /* record each dependency's events for `cairn explain` */
};

/* Resolves every dependency of the validated policy p. Errors are per
 * dependency (recorded in its dep_result); -1 only for a policy that was not
 * validated. The resolution owns everything it points to, except policy
 * objects and users. */
int resolve_policy(struct resolution **out, const struct policy *p, const struct users *users,
		   struct acl *acl, unsigned flags, struct error *err);
void resolution_free(struct resolution *r);
const struct dep_result *resolution_find_dep(const struct resolution *r, const char *id);
/* Fills out (a set keyed by "ns/name") with the dependencies of r marked
 * `stopped: true`; map_release() it. */
void resolution_stopped(const struct resolution *r, struct map *out);
/* Whether in serves dependency "ns/name". */
bool instance_serves(const struct instance *in, const char *dependency);
/* Whether every dependency in serves is in stopped: then the instance is
 * kept (container, volumes, networks) but does not run. */
bool instance_stopped(const struct instance *in, const struct map *stopped);

/* A state: the instances that run (desired, or as last applied), detached
 * from the policy so it can be stored and reloaded. */
struct state_instance {
	const char *key;
	const char *cluster, *ns, *contract, *context, *service, *component;
	const char *code_type;  /* NULL when no code */
	const char *hash;       /* sha256 of the real params; NULL when none */
	const char *params;     /* JSON (secrets masked), NULL when none */
	const char *discovery;  /* JSON, NULL when none */
	const char **deps;      /* sorted */
	uint32_t ndeps;
	const char **needs;     /* keys of instances it needs, sorted */
	uint32_t nneeds;
	uint32_t order;
};

struct state {
	struct arena *arena;
	struct state_instance **instances; /* dependency-first order */
	size_t len;
	struct map by_key;
};

struct state *state_new(void);
void state_free(struct state *s);
/* The desired state of a resolution (hashes computed here). */
struct state *state_from_resolution(const struct resolution *r);
/* JSON of a state (what the store keeps), and back. */
void state_to_json(const struct state *s, struct strbuf *out);
int state_from_json(struct state **out, const char *json, struct error *err);
const struct state_instance *state_get(const struct state *s, const char *key);

enum plan_verb { PLAN_CREATE, PLAN_UPDATE, PLAN_DELETE, PLAN_ATTACH, PLAN_DETACH };

struct plan_action {
	enum plan_verb verb;
	const char *instance;
	const char *dependency; /* the dependency attached or detached; for create,
				   update and delete the first one served */
};

struct plan {
	struct arena *arena;
	struct plan_action *actions;
	size_t len;
	size_t count[PLAN_DETACH + 1];
};

const char *plan_verb_name(enum plan_verb v);
/* What turns prev into next: creates, updates and attaches in dependency-first
 * order of next, then detaches and deletes in reverse order of prev. */
struct plan *plan_diff(const struct state *prev, const struct state *next);
void plan_free(struct plan *p);

#endif
