/* What docker code takes on a swarm cluster, and what a swarm cluster's
 * config takes: the swarm driver's two param tables (engine/core/params.h). The
 * code table takes the docker driver's params (its base) and adds what a
 * Swarm service has: replicas, mode, placement, update, resources,
 * endpoint_mode, and ports published in host or ingress mode. */
#ifndef CAIRN_SWARM_PARAMS_H
#define CAIRN_SWARM_PARAMS_H

#include "engine/drivers/docker/docker_params.h"

extern const struct param swarm_params;
extern const struct param swarm_cluster_config;

/* The keys of swarm_params' own rows: swarm_spec_build gives the docker
 * table the params without them. NULL-terminated. */
extern const char *const swarm_own_keys[];

/* The docker params a swarm cluster cannot run, and why ({NULL, NULL}
 * ends them). The table takes them, as policy may run the same service on
 * a docker cluster; an instance placed on a swarm cluster is refused. */
extern const char *const swarm_docker_only[][2];

/* What the own rows build: the parts of a Swarm ServiceSpec beyond the
 * container (the driver fills the rest from the docker build). */
struct swarm_build {
	json_t *mode;      /* {Replicated: {Replicas}} or {Global: {}} */
	json_t *placement; /* TaskTemplate.Placement */
	json_t *update;    /* UpdateConfig (also the RollbackConfig's order) */
	json_t *limits, *reservations; /* TaskTemplate.Resources */
	json_t *ports;     /* EndpointSpec.Ports */
	const char *endpoint_mode;
	bool global;
	long long replicas;
};

/* A swarm cluster's config: the managers' endpoints, in the order they are
 * tried (`endpoints`, or the one `endpoint`), and the docker config's TLS
 * and ssh settings for all of them. */
struct swarm_node_engine {
	const char *name, *endpoint;
};
struct swarm_settings {
	struct docker_settings docker; /* endpoint (the first), tls, ssh, address */
	const char **endpoints;
	size_t nendpoints;
	/* `images: {source, nodes}`: the engine images come from and each
	 * node's own engine, to load into it what it lacks (Swarm has no
	 * registry of its own); nnodes 0 when absent (nodes pull) */
	const char *images_source;
	struct swarm_node_engine *nodes;
	size_t nnodes;
};
void swarm_settings_read(struct swarm_settings *s, const struct ynode *config);
void swarm_settings_release(struct swarm_settings *s);

#endif
