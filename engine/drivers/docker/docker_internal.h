/* The docker driver's parts, shared by its files: observing
 * (docker_observe.c), planning (docker_plan.c), and the driver itself, which
 * runs the planned actions (docker_driver.c). Private to this folder. */
#ifndef CAIRN_DOCKER_INTERNAL_H
#define CAIRN_DOCKER_INTERNAL_H

#include "base/vec.h"
#include "docker_api.h"
#include "docker_routes.h"
#include "docker_spec.h"
#include "engine/apply/driver.h"
#include "engine/snapshot/prepare.h"

#include <jansson.h>
#include <stdbool.h>

struct driver {
	const struct cluster *cluster;
	const char *name;
	char *address; /* host in URLs of published ports */
	char *domain;  /* routing host names end in it */
	struct docker *api;
	json_t *containers, *networks, *volumes;
	VEC(struct observed) observed;
	struct exec_options eo;
	bool routed;                 /* the cluster config has `nginx:` */
	struct docker_routes routes;
	/* the prepared images of each dataset a plan's `data` params name,
	 * listed once per plan */
	VEC(struct prepared {
		char *dataset;
		struct snapshot_image *images;
		size_t n;
	}) prepared;
};

enum act_kind {
	A_NETWORK, A_NETWORK_DELETE, A_CREATE, A_UPDATE, A_START, A_CONNECT, A_DELETE,
	A_VOLUME_DELETE, A_ROUTE, A_STOP, A_FAIL, A_RESTORE, A_SYNC
};

struct act {
	struct driver *d;
	enum act_kind kind;
	char *key;
	char *target;    /* network, volume or container name, or id to act on */
	char *message;   /* A_FAIL: why */
	VEC(char *) old; /* A_UPDATE: ids of the containers it replaces; A_CONNECT:
			    networks to leave */
	struct docker_spec spec;
	VEC(char *) networks; /* A_CREATE/A_UPDATE: all networks; [0] is in the body */
	char *alias;
	/* A_RESTORE (into container target), A_SYNC (into volume target): the
	 * backup, the part, and the replica's dependency */
	json_t *manifest;
	size_t part;
	char *replica;
};

/* docker_observe.c */
int docker_driver_observe(struct driver *d, struct error *err);
const struct observed *docker_driver_list(struct driver *d, size_t *n);
const char *docker_label_of(const json_t *obj, const char *label);
/* GET path?filters={"label":["cairn.cluster=NAME"]} */
int docker_list_labelled(struct driver *d, const char *path, json_t **out, struct error *err);
/* The first observed object of key and kind, and how many there are. */
const struct observed *docker_find_observed(struct driver *d, const char *key, const char *kind,
					    size_t *count);
/* The networks an observed container is on (name -> settings). */
const json_t *docker_observed_networks(struct driver *d, const char *id);

/* docker_plan.c */
int docker_driver_plan(struct driver *d, const struct desired *want, struct exec *x,
		       struct error *err);
/* Forgets the prepared images listed by the last plan. */
void docker_forget_prepared(struct driver *d);

/* docker_driver.c: an action's run and free, as the executor calls them */
int docker_run_act(void *ctx, const struct exec_call *ec, struct error *err);
void docker_act_free(void *act);

#endif
