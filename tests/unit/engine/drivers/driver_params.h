/* For the tests of a driver's param tables: policy text checked as `policy
 * apply` checks it (engine/drivers/registry.c), each service's first
 * component's params with one table, each cluster's config with the other. */
#ifndef CAIRN_TEST_DRIVER_PARAMS_H
#define CAIRN_TEST_DRIVER_PARAMS_H

#include "base/strbuf.h"
#include "engine/core/params.h"

#include <criterion/criterion.h>
#include <string.h>

static struct diags check_tables(const char *yaml, const struct param *params,
				 const struct param *config)
{
	struct intern *in = intern_new();
	struct policy *p = policy_new(in);
	struct diags d = DIAGS_INIT;
	cr_assert_eq(policy_add_yaml(p, "p.yaml", yaml, strlen(yaml), 0, &d), 0, "%s",
		     d.len ? d.items[0] : "");
	struct strbuf prefix = STRBUF_INIT;
	for (size_t i = 0; i < p->len; i++) {
		const struct object *o = p->objects[i];
		strbuf_reset(&prefix);
		if (o->kind == KIND_SERVICE) {
			const struct component *comp = &((const struct service *)o)->components[0];
			strbuf_addf(&prefix, "%s: component '%s': params: ", object_describe(p, o),
				    comp->name->s);
			params_check_policy(params, comp->code->params, comp->code->pos,
					    strbuf_cstr(&prefix), &d);
		} else if (o->kind == KIND_CLUSTER) {
			strbuf_addf(&prefix, "%s: config: ", object_describe(p, o));
			params_check_config(config, ((const struct cluster *)o)->config, o->pos,
					    strbuf_cstr(&prefix), &d);
		}
	}
	strbuf_release(&prefix);
	policy_free(p);
	intern_free(in);
	return d;
}

/* One of the errors of checking yaml contains want. */
static void expect_refused(const char *yaml, const struct param *params,
			   const struct param *config, const char *want)
{
	struct diags d = check_tables(yaml, params, config);
	bool found = false;
	for (size_t i = 0; i < d.len; i++)
		found = found || strstr(d.items[i], want);
	cr_assert(found, "want '%s', got %zu: %s", want, d.len, d.len ? d.items[0] : "(nothing)");
	diags_release(&d);
}

#endif
