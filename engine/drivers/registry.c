/* The drivers cairn has: one row each. A new driver is a folder beside
 * docker/, swarm/ and ssh/, a row here, a line in drivers/CMakeLists.txt, its
 * cluster type in schemas/ and its row in the README's table of drivers. */
#include "engine/apply/driver.h"
#include "engine/drivers/docker/docker_driver.h"
#include "engine/drivers/ssh/ssh_driver.h"
#include "engine/drivers/swarm/swarm_driver.h"

#include "base/strbuf.h"

#include <pthread.h>
#include <string.h>

/* Drivers of one code type go narrowest first: a later one's params table
 * takes every key an earlier one's does (swarm's has docker's as its base),
 * so the last one checks a service's params at policy apply. */
static const struct driver_ops *const drivers[] = {
	&docker_driver_ops,
	&swarm_driver_ops,
	&ssh_driver_ops,
};
#define NDRIVERS (sizeof(drivers) / sizeof(*drivers))

const struct driver_ops *const *drivers_all(size_t *n)
{
	*n = NDRIVERS;
	return drivers;
}

static const char *code_types[NDRIVERS], *cluster_types[NDRIVERS];
static struct policy_types types = { code_types, 0, cluster_types, NDRIVERS };
static pthread_once_t types_once = PTHREAD_ONCE_INIT;

static void list_types(void)
{
	for (size_t i = 0; i < NDRIVERS; i++) {
		cluster_types[i] = drivers[i]->type;
		size_t k = 0;
		while (k < types.ncode && strcmp(code_types[k], drivers[i]->code_type) != 0)
			k++;
		if (k == types.ncode)
			code_types[types.ncode++] = drivers[i]->code_type;
	}
}

const struct policy_types *drivers_policy_types(void)
{
	pthread_once(&types_once, list_types);
	return &types;
}

const struct driver_ops *driver_for(const char *cluster_type)
{
	for (size_t i = 0; cluster_type && i < NDRIVERS; i++)
		if (strcmp(drivers[i]->type, cluster_type) == 0)
			return drivers[i];
	return NULL;
}

const struct driver_ops *driver_for_code(const char *code_type)
{
	const struct driver_ops *last = NULL;
	for (size_t i = 0; code_type && i < NDRIVERS; i++)
		if (strcmp(drivers[i]->code_type, code_type) == 0)
			last = drivers[i];
	return last;
}

int drivers_check_object(const struct policy *p, const struct object *o, struct diags *diags)
{
	struct strbuf prefix = STRBUF_INIT;
	int rc = 0;
	if (o->kind == KIND_SERVICE) {
		const struct service *s = (const struct service *)o;
		for (uint32_t i = 0; i < s->ncomponents; i++) {
			const struct component *comp = &s->components[i];
			const struct driver_ops *ops =
				comp->code && comp->code->type ? driver_for_code(comp->code->type->s) : NULL;
			if (!ops || !ops->params)
				continue;
			strbuf_reset(&prefix);
			strbuf_addf(&prefix, "%s: component '%s': ", object_describe(p, o),
				    comp->name ? comp->name->s : "?");
			rc |= params_check_policy(ops->params, comp->code->params, comp->code->pos,
						  strbuf_cstr(&prefix), diags);
		}
	} else if (o->kind == KIND_CLUSTER) {
		const struct cluster *cl = (const struct cluster *)o;
		const struct driver_ops *ops = cl->type ? driver_for(cl->type->s) : NULL;
		if (ops && ops->config) {
			strbuf_addf(&prefix, "%s: config: ", object_describe(p, o));
			rc = params_check_config(ops->config, cl->config, cl->obj.pos,
						 strbuf_cstr(&prefix), diags);
		}
	}
	strbuf_release(&prefix);
	return rc;
}
