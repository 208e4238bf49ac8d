/* policy_validate(): references, component cycles and order, placement of
 * clusters and ACL rules, the sorted dependency list (reference §1.1, §2.5, §2.7). */
#include "policy/policy.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

struct fixture {
	struct intern *in;
	struct policy *p;
	struct diags d;
};

static void load(struct fixture *f, const char *yaml)
{
	struct diags d = DIAGS_INIT;
	f->in = intern_new();
	f->p = policy_new(f->in);
	int rc = policy_add_yaml(f->p, "test.yaml", yaml, strlen(yaml), 0, &d);
	for (size_t i = 0; i < d.len; i++)
		cr_log_error("%s", d.items[i]);
	cr_assert_eq(rc, 0, "the test policy must load");
	diags_release(&d);
	f->d = (struct diags)DIAGS_INIT;
}

static void done(struct fixture *f)
{
	diags_release(&f->d);
	policy_free(f->p);
	intern_free(f->in);
}

/* Whether some diagnostic contains text. */
static bool has_diag(const struct diags *d, const char *text)
{
	for (size_t i = 0; i < d->len; i++)
		if (strstr(d->items[i], text))
			return true;
	return false;
}

static void dump(const struct diags *d)
{
	for (size_t i = 0; i < d->len; i++)
		cr_log_info("%s", d->items[i]);
}

/* The policy is refused with exactly one error, which contains text. */
static void expect_one_error(struct fixture *f, const char *text)
{
	cr_assert_eq(policy_validate(f->p, &f->d), -1);
	dump(&f->d);
	cr_assert_eq(f->d.len, 1);
	cr_expect(has_diag(&f->d, text), "no error contains: %s", text);
}

#define CODE "      code:\n        type: docker\n        params:\n          image: nginx\n"

static const char *const topo_yaml =
	"- kind: service\n"
	"  metadata: {namespace: main, name: svc}\n"
	"  components:\n"
	"    - name: component1\n" CODE "      dependencies: [component4]\n"
	"    - name: component2\n" CODE "      dependencies: [component1]\n"
	"    - name: component3\n" CODE "      dependencies: [component1, component2]\n"
	"    - name: component4\n" CODE;

Test(validate, components_sorted_topologically)
{
	struct fixture f;
	load(&f, topo_yaml);
	int rc = policy_validate(f.p, &f.d);
	dump(&f.d);
	cr_assert_eq(rc, 0);
	cr_assert_eq(f.d.len, 0);
	cr_assert(f.p->validated);
	const struct service *s = (const struct service *)policy_get(f.p, KIND_SERVICE, "main", "svc");
	cr_assert_not_null(s);
	cr_assert_not_null(s->topo);
	const char *want[] = { "component4", "component1", "component2", "component3" };
	for (int i = 0; i < 4; i++)
		cr_expect_str_eq(s->components[s->topo[i]].name->s, want[i], "topo[%d]", i);
	done(&f);
}

Test(validate, revalidation_gives_the_same_order)
{
	struct fixture f;
	load(&f, topo_yaml);
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	const struct service *s = (const struct service *)policy_get(f.p, KIND_SERVICE, "main", "svc");
	uint32_t first[4];
	memcpy(first, s->topo, sizeof(first));
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	cr_assert_eq(memcmp(first, s->topo, sizeof(first)), 0);
	cr_assert_eq(f.d.len, 0);
	done(&f);
}

Test(validate, component_cycle_names_the_path)
{
	struct fixture f;
	load(&f, "- kind: service\n"
		 "  metadata: {namespace: main, name: svc}\n"
		 "  components:\n"
		 "    - name: c1\n" CODE "      dependencies: [c2]\n"
		 "    - name: c2\n" CODE "      dependencies: [c3]\n"
		 "    - name: c3\n" CODE "      dependencies: [c4]\n"
		 "    - name: c4\n" CODE "      dependencies: [c2]\n");
	expect_one_error(&f, "service main/svc: component cycle: c2 -> c3 -> c4 -> c2");
	cr_expect(strncmp(f.d.items[0], "test.yaml:", 10) == 0, "has a position: %s", f.d.items[0]);
	cr_expect_not(f.p->validated);
	done(&f);
}

Test(validate, component_depending_on_itself_is_a_cycle)
{
	struct fixture f;
	load(&f, "- kind: service\n"
		 "  metadata: {namespace: main, name: svc}\n"
		 "  components:\n"
		 "    - name: c1\n" CODE "      dependencies: [c1]\n"
		 "    - name: c2\n" CODE "      dependencies: [c2]\n");
	cr_assert_eq(policy_validate(f.p, &f.d), -1);
	dump(&f.d);
	cr_expect_eq(f.d.len, 2);
	cr_expect(has_diag(&f.d, "component cycle: c1 -> c1"));
	cr_expect(has_diag(&f.d, "component cycle: c2 -> c2"));
	done(&f);
}

Test(validate, component_dependency_must_be_a_component)
{
	struct fixture f;
	load(&f, "- kind: service\n"
		 "  metadata: {namespace: main, name: svc}\n"
		 "  components:\n"
		 "    - name: component4\n" CODE "      dependencies: [component5]\n"
		 "    - name: component6\n" CODE);
	expect_one_error(&f, "service main/svc: component component4: depends on 'component5', "
			 "which is not a component of this service (did you mean 'component6'?)");
	done(&f);
}

static const char *const contract_yaml =
	"- kind: service\n"
	"  metadata: {namespace: main, name: twitter_stats}\n"
	"  components:\n"
	"    - name: web\n" CODE
	"- kind: contract\n"
	"  metadata: {namespace: main, name: twitter_stats}\n"
	"  contexts:\n"
	"    - name: prod\n"
	"      allocation:\n"
	"        service: twitter_stats\n";

Test(validate, component_contract_must_exist)
{
	struct fixture f;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "%s"
		 "- kind: service\n"
		 "  metadata: {namespace: main, name: user}\n"
		 "  components:\n"
		 "    - name: good\n"
		 "      contract: twitter_stats\n"
		 "    - name: qualified\n"
		 "      contract: main/twitter_stats\n"
		 "    - name: bad\n"
		 "      contract: contractextra\n",
		 contract_yaml);
	load(&f, yaml);
	expect_one_error(&f, "service main/user: component bad: contract 'contractextra' does not exist");
	done(&f);
}

Test(validate, component_contract_is_relative_to_the_service_namespace)
{
	struct fixture f;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "%s"
		 "- kind: service\n"
		 "  metadata: {namespace: other, name: user}\n"
		 "  components:\n"
		 "    - name: unqualified\n"
		 "      contract: twitter_stats\n",
		 contract_yaml);
	load(&f, yaml);
	cr_assert_eq(policy_validate(f.p, &f.d), -1);
	dump(&f.d);
	cr_expect(has_diag(&f.d, "service other/user: component unqualified: contract 'twitter_stats' does not exist"));
	done(&f);
}

Test(validate, dependency_contract_must_exist_with_suggestion)
{
	struct fixture f;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "%s"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: alice_stage}\n"
		 "  user: Alice\n"
		 "  contract: twitter_stat\n"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: bob_stage}\n"
		 "  user: Bob\n"
		 "  contract: twitter_stats\n"
		 "- kind: dependency\n"
		 "  metadata: {namespace: other, name: carol_stage}\n"
		 "  user: Carol\n"
		 "  contract: main/twitter_stats\n",
		 contract_yaml);
	load(&f, yaml);
	expect_one_error(&f, "dependency main/alice_stage: contract 'twitter_stat' does not exist "
			 "(did you mean 'twitter_stats'?)");
	cr_expect(strncmp(f.d.items[0], "test.yaml:", 10) == 0, "has a position: %s", f.d.items[0]);
	done(&f);
}

Test(validate, dependency_contract_unknown_has_no_far_fetched_suggestion)
{
	struct fixture f;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "%s"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: d}\n"
		 "  user: Alice\n"
		 "  contract: contract-unknown\n",
		 contract_yaml);
	load(&f, yaml);
	expect_one_error(&f, "dependency main/d: contract 'contract-unknown' does not exist");
	cr_expect_not(has_diag(&f.d, "did you mean"));
	done(&f);
}

Test(validate, context_allocation_service_must_exist)
{
	struct fixture f;
	load(&f, "- kind: contract\n"
		 "  metadata: {namespace: main, name: c}\n"
		 "  contexts:\n"
		 "    - name: ctx\n"
		 "      allocation:\n"
		 "        service: service-unknown\n");
	expect_one_error(&f, "contract main/c: context ctx: allocation: service 'service-unknown' does not exist");
	done(&f);
}

Test(validate, contract_with_no_contexts_is_valid)
{
	struct fixture f;
	load(&f, "- kind: contract\n"
		 "  metadata: {namespace: main, name: c}\n"
		 "  contexts: []\n");
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	cr_expect_eq(f.d.len, 0);
	done(&f);
}

static const char *const cluster_yaml_fmt =
	"- kind: cluster\n"
	"  metadata: {namespace: %s, name: local}\n"
	"  type: docker\n"
	"  config:\n"
	"    host: unix:///var/run/docker.sock\n";

/* The object of yaml_fmt (its namespace a %s) is valid in namespace system
 * and refused in main with error. */
static void expect_only_in_system(const char *yaml_fmt, const char *error)
{
	struct fixture f;
	char yaml[512];
	snprintf(yaml, sizeof(yaml), yaml_fmt, "system");
	load(&f, yaml);
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	done(&f);

	snprintf(yaml, sizeof(yaml), yaml_fmt, "main");
	load(&f, yaml);
	expect_one_error(&f, error);
	done(&f);
}

Test(validate, cluster_must_live_in_system)
{
	expect_only_in_system(cluster_yaml_fmt, "cluster main/local: clusters live in namespace system");
}

static const char *const aclrule_yaml_fmt =
	"- kind: aclrule\n"
	"  metadata: {namespace: %s, name: x}\n"
	"  criteria:\n"
	"    require-all: [\"true\"]\n"
	"  actions:\n"
	"    add-role:\n"
	"      domain-admin: '*'\n"
	"      service-consumer: 'main1, main2 ,main3,main4'\n";

Test(validate, aclrule_must_live_in_system)
{
	expect_only_in_system(aclrule_yaml_fmt, "aclrule main/x: ACL rules live in namespace system");
}

Test(validate, every_error_is_reported)
{
	struct fixture f;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "%s"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: d1}\n"
		 "  user: Alice\n"
		 "  contract: nope1\n"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: d2}\n"
		 "  user: Alice\n"
		 "  contract: nope2\n"
		 "- kind: contract\n"
		 "  metadata: {namespace: main, name: c}\n"
		 "  contexts:\n"
		 "    - name: a\n"
		 "      allocation: {service: missing_a}\n"
		 "    - name: b\n"
		 "      allocation: {service: missing_b}\n",
		 contract_yaml);
	load(&f, yaml);
	cr_assert_eq(policy_validate(f.p, &f.d), -1);
	dump(&f.d);
	cr_expect_eq(f.d.len, 4);
	cr_expect(has_diag(&f.d, "'nope1'"));
	cr_expect(has_diag(&f.d, "'nope2'"));
	cr_expect(has_diag(&f.d, "'missing_a'"));
	cr_expect(has_diag(&f.d, "'missing_b'"));
	done(&f);
}

Test(validate, dependencies_sorted_by_namespace_then_name)
{
	struct fixture f;
	const char *order[][2] = { { "zeta", "a" }, { "main", "m" }, { "main", "b" },
				   { "alpha", "z" }, { "main", "a" } };
	char yaml[4096];
	size_t n = (size_t)snprintf(yaml, sizeof(yaml), "%s", contract_yaml);
	for (size_t i = 0; i < 5; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
				      "- kind: dependency\n"
				      "  metadata: {namespace: %s, name: %s}\n"
				      "  user: Alice\n"
				      "  contract: main/twitter_stats\n",
				      order[i][0], order[i][1]);
	load(&f, yaml);
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	dump(&f.d);
	cr_assert_eq(f.p->ndeps, 5);
	const char *want[][2] = { { "alpha", "z" }, { "main", "a" }, { "main", "b" },
				  { "main", "m" }, { "zeta", "a" } };
	for (size_t i = 0; i < 5; i++) {
		cr_expect_str_eq(f.p->deps[i]->obj.ns->s, want[i][0]);
		cr_expect_str_eq(f.p->deps[i]->obj.name->s, want[i][1]);
	}
	done(&f);
}

Test(validate, dependency_list_follows_removal)
{
	struct fixture f;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "%s"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: d1}\n"
		 "  user: Alice\n"
		 "  contract: twitter_stats\n"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: d2}\n"
		 "  user: Bob\n"
		 "  contract: twitter_stats\n",
		 contract_yaml);
	load(&f, yaml);
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	cr_assert_eq(f.p->ndeps, 2);
	cr_assert(policy_remove(f.p, KIND_DEPENDENCY, "main", "d1"));
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	cr_assert_eq(f.p->ndeps, 1);
	cr_expect_str_eq(f.p->deps[0]->obj.name->s, "d2");
	done(&f);
}

Test(validate, removing_a_contract_breaks_its_dependencies)
{
	struct fixture f;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "%s"
		 "- kind: dependency\n"
		 "  metadata: {namespace: main, name: d1}\n"
		 "  user: Alice\n"
		 "  contract: twitter_stats\n",
		 contract_yaml);
	load(&f, yaml);
	cr_assert_eq(policy_validate(f.p, &f.d), 0);
	cr_assert(f.p->validated);
	cr_assert(policy_remove(f.p, KIND_CONTRACT, "main", "twitter_stats"));
	cr_assert_eq(policy_validate(f.p, &f.d), -1);
	cr_expect_not(f.p->validated);
	cr_expect(has_diag(&f.d, "dependency main/d1: contract 'twitter_stats' does not exist"));
	done(&f);
}
