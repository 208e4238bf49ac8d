/* The graph of a resolution as drivers plan with it: who uses each
 * instance, how deep each one is, the service instances a component serves
 * (whose networks it joins), and ordering an action after those of what an
 * instance needs. */
#ifndef CAIRN_INSTANCE_GRAPH_H
#define CAIRN_INSTANCE_GRAPH_H

#include "base/map.h"
#include "base/vec.h"
#include "engine/core/engine.h"
#include "exec.h"

typedef VEC(const struct instance *) instance_vec;
typedef VEC(const char *) instance_key_vec;

struct instance_graph {
	instance_vec *users; /* by instance order: the instances that need it */
	int *levels;         /* by instance order: 0 for one that needs nothing */
	size_t n;
};
void instance_graph_init(struct instance_graph *g, const struct resolution *r);
void instance_graph_release(struct instance_graph *g);

/* The key of the service instance (root) of a component key (heap): its
 * last part becomes "root". */
char *instance_root_key(const char *key);

/* Adds to roots the keys (the resolution's) of the service instances that
 * use in, directly or through others, each once. */
void instance_consumer_roots(const struct instance_graph *g, const struct instance *in,
			     instance_key_vec *roots);

/* Orders action me after the nearest actions of what in needs: acts maps
 * instance keys to their action's index (size_t *). */
void instance_order_after_needs(struct exec *x, const struct instance *in, const struct map *acts,
				size_t me);

#endif
