/* The docker driver's side of replicas (engine/backup/replica.h): which
 * instances belong to a replica dependency, the backup it is made from,
 * whether it is being made (an instance of it has no container yet: only
 * then are builds pinned, databases restored and volumes synced), and the
 * name of a volume that belongs to the dependency. Internal to the driver. */
#ifndef CAIRN_DOCKER_REPLICA_H
#define CAIRN_DOCKER_REPLICA_H

#include "engine/core/engine.h"

#include <jansson.h>
#include <stdbool.h>

struct replica_of {
	const char *dependency; /* "ns/name" of the replica */
	const char *source;     /* "ns/name" it replicates */
	json_t *manifest;       /* the backup, NULL when error says why not */
	char *error;
	bool replicating;       /* an instance of it has no container */
};

struct replica_plans;

/* The replica dependencies of r with instances on cluster; has_container
 * says whether an instance key has a container there. */
struct replica_plans *replica_plans_new(const struct resolution *r, const char *cluster,
					bool (*has_container)(void *ctx, const char *key), void *ctx);
void replica_plans_free(struct replica_plans *rp);
/* The replica an instance belongs to, or NULL. */
const struct replica_of *replica_plans_of(const struct replica_plans *rp, const struct instance *in);

/* While it replicates, an instance without a container runs the image the
 * backup recorded for its component: another is refused naming both. */
int replica_check_build(const struct replica_of *ro, const struct instance *in, const char *image,
			struct error *err);

/* The volume of the replica's dependency for a volume param name. */
char *replica_slot_volume(const char *dependency, const char *volume);

#endif
