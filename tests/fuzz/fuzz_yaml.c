/* libFuzzer target for the policy loader: arbitrary bytes go through libyaml,
 * the node tree and every kind's decoder into a fresh policy, which is then
 * validated and freed. Checks that a failed load always says why and that a
 * clean one leaves only objects that can be found again by their key. */
#include "policy/policy.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct intern *in = intern_new();
	struct policy *p = policy_new(in);
	struct diags d = DIAGS_INIT;
	int rc = policy_add_yaml(p, "fuzz.yaml", (const char *)data, size, 0, &d);
	check(rc == 0 || rc == -1);
	check((rc < 0) == (d.len > 0));
	for (size_t i = 0; i < p->len; i++) {
		const struct object *o = p->objects[i];
		check(policy_get(p, o->kind, o->ns->s, o->name->s) == o);
		check(o->json != NULL);
	}
	struct diags vd = DIAGS_INIT;
	policy_validate(p, &vd);
	diags_release(&vd);
	diags_release(&d);
	policy_free(p);
	intern_free(in);
	return 0;
}
