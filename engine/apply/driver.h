/* What a driver does for the converge loop (converge.h): connect to one
 * cluster, observe what really runs there (cairn's own objects only, found
 * by their labels), and add to the executor the actions that turn that into
 * the desired instances of the cluster. One folder per cluster type under
 * engine/drivers/, one row for it in engine/drivers/registry.c. */
#ifndef CAIRN_DRIVER_H
#define CAIRN_DRIVER_H

#include "engine/core/engine.h"
#include "exec.h"
#include "engine/core/params.h"

/* One thing that runs for an instance, as observed. */
struct observed {
	const char *key;        /* instance key */
	const char *kind;       /* "container", "network", "volume" */
	const char *name, *id;
	const char *hash;       /* cairn.hash, NULL when it has none */
	const char *state;      /* "running", "exited", "created", … */
	const char *health;     /* "healthy", "unhealthy", "starting", NULL */
	const char *url;        /* where a published port answers, NULL when none */
	const char *image;
	const char *snapshot;   /* cairn.snapshot: the data it was made with, NULL when none */
	const char *snapshot_build; /* cairn.snapshot.build: that snapshot's build */
	long long generation;   /* cairn.generation, 0 when absent */
	/* A service of tasks (swarm): how many run and how many are wanted,
	 * and the nodes they run on ("node1,node3"); nodes is NULL for one
	 * container or process. */
	long long tasks_running, tasks_wanted;
	const char *nodes;
};

/* What converge hands a driver. */
struct desired {
	const struct resolution *resolution; /* instances with real params */
	long long generation;
};

struct driver;

struct driver_ops {
	const char *type;            /* cluster type, "docker" */
	const char *code_type;       /* the code it runs, "docker" or "process" */
	const struct param *params;  /* what that code's params take */
	const struct param *config;  /* what a cluster's config takes */
	const char *unit;            /* the kind of observed object that runs an
					instance ("container"), whose logs are its */
	/* Connects to the cluster c. Errors name the cluster and what to do. */
	int (*open)(struct driver **out, const struct cluster *c, const struct exec_options *eo,
		    struct error *err);
	void (*close)(struct driver *d);
	/* Reads what runs (one round trip per kind of object). */
	int (*observe)(struct driver *d, struct error *err);
	/* The observed objects, valid until close. */
	const struct observed *(*list)(struct driver *d, size_t *n);
	/* Adds the actions that converge the cluster to the desired instances
	 * placed on it. Actions of one driver reference only that driver. */
	int (*plan)(struct driver *d, const struct desired *want, struct exec *x, struct error *err);
	/* Checks an instance's rendered params as plan would read them, without
	 * connecting: what templates made of labels is only known once rendered.
	 * Errors name the param ("params: host must be …"). */
	int (*check)(const struct cluster *c, const struct instance *in, struct error *err);
	/* Writes the output of the instance's container (or process) to stdout
	 * and stderr; with follow, until it stops or fn-less interruption. */
	int (*logs)(struct driver *d, const char *key, bool follow, struct error *err);
};

/* The registered drivers (engine/drivers/registry.c). */
const struct driver_ops *const *drivers_all(size_t *n);
/* The driver of a cluster type, or the one that checks a code type's params
 * at policy apply (the widest table of the drivers running it); NULL when
 * none. */
const struct driver_ops *driver_for(const char *cluster_type);
const struct driver_ops *driver_for_code(const char *code_type);
/* Their code and cluster types, for loading policy (policy.h). */
const struct policy_types *drivers_policy_types(void);
/* Checks a service's code params or a cluster's config, as applied, with
 * the table of the driver that runs it. Errors go to diags as
 * "file:line:col: service main/s: component 'c': params: …"; -1 if any. */
int drivers_check_object(const struct policy *p, const struct object *o, struct diags *diags);

#endif
