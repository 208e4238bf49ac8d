/* The swarm driver: a cluster is a Docker Swarm, reached through the Engine
 * API of its managers. */
#ifndef CAIRN_SWARM_DRIVER_H
#define CAIRN_SWARM_DRIVER_H

#include "engine/apply/driver.h"

extern const struct driver_ops swarm_driver_ops;

#endif
