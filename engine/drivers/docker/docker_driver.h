/* The docker driver (driver.h), and the Engine API client of a docker
 * cluster as its config says (endpoint, TLS, ssh), for work beside
 * converging, such as preparing snapshots and taking backups. */
#ifndef CAIRN_DOCKER_DRIVER_H
#define CAIRN_DOCKER_DRIVER_H

#include "engine/apply/driver.h"

extern const struct driver_ops docker_driver_ops;

struct docker;
int docker_cluster_open(const struct cluster *c, struct docker **out, struct error *err);

#endif
