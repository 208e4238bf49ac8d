/* The ACL: roles from system aclrules and `admin`, the privilege table, who may
 * manage what (reference §1.9, conformance §2.6, the twitter-analytics ACL). */
#include "policy/policy.h"

#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct intern *in;

static struct policy *load(const char *yaml)
{
	struct diags d = DIAGS_INIT;
	struct policy *p = policy_new(in);
	int rc = policy_add_yaml(p, "acl.yaml", yaml, strlen(yaml), 0, &d);
	for (size_t i = 0; i < d.len; i++)
		cr_log_error("%s", d.items[i]);
	cr_assert_eq(rc, 0, "the test policy must load");
	diags_release(&d);
	return p;
}

/* A user with labels given as "k1", "v1", "k2", "v2", ..., NULL. */
static struct user make_user(const char *name, const char *const *kv)
{
	struct user u = { .name = intern_cstr(in, name) };
	for (size_t i = 0; kv && kv[i]; i += 2)
		labels_set(&u.labels, intern_cstr(in, kv[i]), intern_cstr(in, kv[i + 1]));
	return u;
}

static char *roles(struct acl *acl, const struct user *u)
{
	struct strbuf sb = STRBUF_INIT;
	acl_describe_roles(acl, u, &sb);
	return strbuf_detach(&sb);
}

static void expect_roles(struct acl *acl, const struct user *u, const char *want)
{
	char *got = roles(acl, u);
	cr_expect_str_eq(got, want, "roles of %s", u->name->s);
	free(got);
}

static void setup(void)
{
	in = intern_new();
}

static void teardown(void)
{
	intern_free(in);
}

TestSuite(acl, .init = setup, .fini = teardown);

#define ACLRULE(name, weight, expr, role, nss)                   \
	"- kind: aclrule\n"                                      \
	"  metadata: {namespace: system, name: " name "}\n"      \
	"  weight: " #weight "\n"                                \
	"  criteria:\n"                                          \
	"    require-all: [\"" expr "\"]\n"                      \
	"  actions:\n"                                           \
	"    add-role:\n"                                        \
	"      " role ": '" nss "'\n"

/* §2.6 (the bogus unknown-role rule is left out: the loader refuses unknown role IDs). */
static const char *const resolver_rules =
	ACLRULE("is_domain_admin", 100, "is_domain_admin", "domain-admin", "*")
	ACLRULE("is_namespace_admin", 200, "is_namespace_admin", "namespace-admin", "main")
	ACLRULE("is_consumer", 300, "is_consumer", "service-consumer", "main1, main2 ,main3,main4");

Test(acl, domain_admin_from_rule)
{
	struct policy *p = load(resolver_rules);
	struct acl *acl = acl_new(p);
	struct user u = make_user("1", (const char *[]){ "is_domain_admin", "true", NULL });
	expect_roles(acl, &u, "domain-admin (*)");
	cr_expect_eq(acl_privilege(acl, &u, KIND_CLUSTER, "system"), PRIV_FULL);
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "somens"), PRIV_FULL);
	cr_expect_eq(acl_privilege(acl, &u, KIND_ACLRULE, "system"), PRIV_FULL);
	labels_release(&u.labels);
	acl_free(acl);
	policy_free(p);
}

Test(acl, namespace_admin_from_rule)
{
	struct policy *p = load(resolver_rules);
	struct acl *acl = acl_new(p);
	struct user u = make_user("2", (const char *[]){ "is_namespace_admin", "true", NULL });
	expect_roles(acl, &u, "namespace-admin (main)");
	cr_expect_eq(acl_privilege(acl, &u, KIND_CLUSTER, "system"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "somens"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "main"), PRIV_FULL);
	cr_expect_eq(acl_privilege(acl, &u, KIND_DEPENDENCY, "main"), PRIV_FULL);
	labels_release(&u.labels);
	acl_free(acl);
	policy_free(p);
}

Test(acl, consumer_namespaces_are_trimmed)
{
	struct policy *p = load(resolver_rules);
	struct acl *acl = acl_new(p);
	struct user u = make_user("3", (const char *[]){ "is_consumer", "true", NULL });
	expect_roles(acl, &u, "service-consumer (main1, main2, main3, main4)");
	cr_expect_eq(acl_privilege(acl, &u, KIND_CLUSTER, "system"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "somens"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "main"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_DEPENDENCY, "somens"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_DEPENDENCY, "main2"), PRIV_FULL);
	cr_expect_eq(acl_privilege(acl, &u, KIND_DEPENDENCY, "main3"), PRIV_FULL);
	cr_expect(acl_can_consume(acl, &u, "main2"));
	cr_expect_not(acl_can_consume(acl, &u, "main"));
	labels_release(&u.labels);
	acl_free(acl);
	policy_free(p);
}

Test(acl, nobody_can_view)
{
	struct policy *p = load(resolver_rules);
	struct acl *acl = acl_new(p);
	struct user u = make_user("4", (const char *[]){ "name", "value", NULL });
	expect_roles(acl, &u, "no role (view only)");
	cr_expect_eq(acl_privilege(acl, &u, KIND_CLUSTER, "system"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_CONTRACT, "somens"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_CONTRACT, "main"), PRIV_VIEW);
	cr_expect_eq(acl_privilege(acl, &u, KIND_DEPENDENCY, "main"), PRIV_VIEW);
	cr_expect_not(acl_can_consume(acl, &u, "main"));
	labels_release(&u.labels);
	acl_free(acl);
	policy_free(p);
}

Test(acl, admin_user_is_domain_admin_without_rules)
{
	struct policy *p = load("[]\n");
	struct acl *acl = acl_new(p);
	struct user u = make_user("AdminUser", NULL);
	u.admin = true;
	expect_roles(acl, &u, "domain-admin (*)");
	cr_expect_eq(acl_privilege(acl, &u, KIND_CLUSTER, "system"), PRIV_FULL);
	cr_expect_eq(acl_privilege(acl, &u, KIND_RULE, "anything"), PRIV_FULL);
	cr_expect(acl_can_consume(acl, &u, "anything"));
	acl_free(acl);
	policy_free(p);
}

Test(acl, kinds_outside_their_place_have_no_privilege)
{
	struct policy *p = load("[]\n");
	struct acl *acl = acl_new(p);
	struct user u = make_user("root", NULL);
	u.admin = true;
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "system"), PRIV_NONE);
	cr_expect_eq(acl_privilege(acl, &u, KIND_DEPENDENCY, "system"), PRIV_NONE);
	cr_expect_eq(acl_privilege(acl, &u, KIND_ACLRULE, "main"), PRIV_NONE);
	cr_expect_eq(acl_privilege(acl, &u, KIND_CLUSTER, "main"), PRIV_NONE);
	cr_expect_not(acl_can_consume(acl, &u, "system"));
	acl_free(acl);
	policy_free(p);
}

/* §2.6 PolicyView: 10 each of service, contract, dependency, rule in main, 10 clusters in system. */
static const char *const view_rules =
	ACLRULE("is_domain_admin", 100, "is_domain_admin", "domain-admin", "*")
	ACLRULE("is_namespace_admin", 200, "is_namespace_admin", "namespace-admin", "main")
	ACLRULE("is_consumer", 300, "is_consumer", "service-consumer", "main");

static char *view_objects(const char *dep_user)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 10; i++) {
		strbuf_addf(&sb,
			    "- kind: service\n"
			    "  metadata: {namespace: main, name: service%d}\n"
			    "  components:\n"
			    "    - name: web\n"
			    "      code:\n"
			    "        type: docker\n"
			    "        params: {image: nginx}\n"
			    "- kind: contract\n"
			    "  metadata: {namespace: main, name: contract%d}\n"
			    "  contexts:\n"
			    "    - name: ctx\n"
			    "      allocation: {service: service%d}\n"
			    "- kind: dependency\n"
			    "  metadata: {namespace: main, name: dependency%d}\n"
			    "  user: %s\n"
			    "  contract: contract%d\n"
			    "- kind: rule\n"
			    "  metadata: {namespace: main, name: rule%d}\n"
			    "  weight: %d\n"
			    "  actions: {dependency: reject}\n"
			    "- kind: cluster\n"
			    "  metadata: {namespace: system, name: cluster%d}\n"
			    "  type: docker\n"
			    "  config: {host: 'unix:///var/run/docker.sock'}\n",
			    i, i, i, i, dep_user, i, i, i, i);
	}
	return strbuf_detach(&sb);
}

static int manage_errors(struct acl *acl, const struct policy *p, const struct user *u)
{
	int n = 0;
	for (size_t i = 0; i < p->len; i++) {
		struct error err = ERROR_INIT;
		if (p->objects[i]->kind == KIND_ACLRULE)
			continue;
		if (acl_check_manage(acl, u, p->objects[i], &err) < 0) {
			cr_expect_not_null(err.msg);
			n++;
		}
		error_clear(&err);
	}
	return n;
}

static int view_errors(struct acl *acl, const struct policy *p, const struct user *u)
{
	int n = 0;
	for (size_t i = 0; i < p->len; i++)
		if (acl_privilege(acl, u, p->objects[i]->kind, p->objects[i]->ns->s) < PRIV_VIEW)
			n++;
	return n;
}

static void view_counts(const char *dep_user, const int want[3])
{
	char *objects = view_objects(dep_user);
	struct strbuf yaml = STRBUF_INIT;
	strbuf_adds(&yaml, view_rules);
	strbuf_adds(&yaml, objects);
	struct policy *p = load(strbuf_cstr(&yaml));
	cr_assert_eq(p->len, 53);
	struct acl *acl = acl_new(p);
	struct user users[3] = {
		make_user("user1", (const char *[]){ "is_domain_admin", "true", NULL }),
		make_user("user2", (const char *[]){ "is_namespace_admin", "true", NULL }),
		make_user("user3", (const char *[]){ "is_consumer", "true", NULL }),
	};
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(manage_errors(acl, p, &users[i]), want[i], "manage errors of user%d", i + 1);
		cr_expect_eq(view_errors(acl, p, &users[i]), 0, "view errors of user%d", i + 1);
		for (size_t k = 0; k < p->len; k++)
			if (p->objects[k]->kind == KIND_SERVICE)
				cr_expect(acl_can_consume(acl, &users[i], p->objects[k]->ns->s));
		labels_release(&users[i].labels);
	}
	acl_free(acl);
	policy_free(p);
	strbuf_release(&yaml);
	free(objects);
}

/* Aptomi's 0/10/40: the consumer may manage only dependencies, which here are its own. */
Test(acl, policy_view_manage_counts)
{
	view_counts("user3", (const int[]){ 0, 10, 40 });
}

/* cairn's addition: a consumer may not manage somebody else's dependencies. */
Test(acl, policy_view_foreign_dependencies)
{
	view_counts("someone", (const int[]){ 0, 10, 50 });
}

Test(acl, consumer_user_match_is_case_insensitive)
{
	view_counts("USER3", (const int[]){ 0, 10, 40 });
}

/* §2.6: adding an aclrule in system ('role == custom', namespace-admin of test): 0/1/1. */
Test(acl, policy_view_add_aclrule)
{
	struct policy *p = load(view_rules);
	struct policy *q = load(ACLRULE("custom", 10, "role == 'custom'", "namespace-admin", "test"));
	struct acl *acl = acl_new(p);
	const struct object *o = policy_get(q, KIND_ACLRULE, "system", "custom");
	cr_assert_not_null(o);
	const char *labels[3] = { "is_domain_admin", "is_namespace_admin", "is_consumer" };
	int want[3] = { 0, 1, 1 };
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "user%d", i + 1);
		struct user u = make_user(name, (const char *[]){ labels[i], "true", NULL });
		struct error err = ERROR_INIT;
		int rc = acl_check_manage(acl, &u, o, &err);
		cr_expect_eq(rc < 0 ? 1 : 0, want[i], "user%d", i + 1);
		if (rc < 0)
			cr_expect(strstr(error_msg(&err), "needs domain-admin"), "%s", error_msg(&err));
		error_clear(&err);
		labels_release(&u.labels);
	}
	acl_free(acl);
	policy_free(q);
	policy_free(p);
}

Test(acl, rules_added_after_acl_new_grant_nothing)
{
	struct policy *p = load(view_rules);
	struct acl *acl = acl_new(p);
	struct user u = make_user("mallory", (const char *[]){ "team", "x", NULL });
	struct diags d = DIAGS_INIT;
	const char *grant = ACLRULE("grant_all", 1, "true", "domain-admin", "*");
	cr_assert_eq(policy_add_yaml(p, "evil.yaml", grant, strlen(grant), 0, &d), 0);
	diags_release(&d);
	cr_expect_eq(acl_privilege(acl, &u, KIND_CLUSTER, "system"), PRIV_VIEW);
	expect_roles(acl, &u, "no role (view only)");
	struct acl *later = acl_new(p);
	expect_roles(later, &u, "domain-admin (*)");
	acl_free(later);
	labels_release(&u.labels);
	acl_free(acl);
	policy_free(p);
}

Test(acl, rules_apply_by_weight_then_name)
{
	struct policy *p = load(ACLRULE("heavy", 2, "true", "service-consumer", "b")
				ACLRULE("light", 1, "true", "service-consumer", "a")
				ACLRULE("tie_y", 5, "true", "service-consumer", "y")
				ACLRULE("tie_x", 5, "true", "service-consumer", "x")
				ACLRULE("admin", 9, "true", "namespace-admin", "ops, a"));
	struct acl *acl = acl_new(p);
	struct user u = make_user("u", NULL);
	expect_roles(acl, &u, "namespace-admin (ops, a), service-consumer (a, b, x, y)");
	/* namespace-admin is checked before service-consumer */
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "a"), PRIV_FULL);
	cr_expect_eq(acl_privilege(acl, &u, KIND_SERVICE, "b"), PRIV_VIEW);
	acl_free(acl);
	policy_free(p);
}

Test(acl, criteria_error_does_not_match)
{
	struct policy *p = load(ACLRULE("bad", 1, "org > 5", "domain-admin", "*")
				ACLRULE("good", 2, "org == 'dev'", "service-consumer", "main"));
	struct acl *acl = acl_new(p);
	struct user u = make_user("u", (const char *[]){ "org", "dev", NULL });
	expect_roles(acl, &u, "service-consumer (main)");
	labels_release(&u.labels);
	acl_free(acl);
	policy_free(p);
}

Test(acl, aclrules_outside_system_are_ignored)
{
	struct policy *p = load("- kind: aclrule\n"
				"  metadata: {namespace: main, name: x}\n"
				"  actions:\n"
				"    add-role:\n"
				"      domain-admin: '*'\n");
	struct acl *acl = acl_new(p);
	struct user u = make_user("u", NULL);
	expect_roles(acl, &u, "no role (view only)");
	acl_free(acl);
	policy_free(p);
}

/* /work/shared/reference/twitter-analytics/Sam/acl.yaml, plus objects to manage. */
static const char *const twitter_yaml =
	"- kind: aclrule\n"
	"  metadata:\n"
	"    namespace: system\n"
	"    name: demo_domain_admins_from_ldap\n"
	"  criteria:\n"
	"    require-all:\n"
	"      - global_ops\n"
	"  actions:\n"
	"    add-role:\n"
	"      domain-admin: '*'\n"
	"- kind: aclrule\n"
	"  metadata:\n"
	"    namespace: system\n"
	"    name: demo_namespace_admins_from_ldap\n"
	"  criteria:\n"
	"    require-all:\n"
	"      - is_operator\n"
	"  actions:\n"
	"    add-role:\n"
	"      namespace-admin: main\n"
	"- kind: aclrule\n"
	"  metadata:\n"
	"    namespace: system\n"
	"    name: demo_service_consumers_from_ldap\n"
	"  criteria:\n"
	"    require-all:\n"
	"      - org == 'dev'\n"
	"  actions:\n"
	"    add-role:\n"
	"      service-consumer: main\n"
	"- kind: service\n"
	"  metadata: {namespace: main, name: twitter_stats}\n"
	"  components:\n"
	"    - name: web\n"
	"      code:\n"
	"        type: docker\n"
	"        params: {image: nginx}\n"
	"- kind: dependency\n"
	"  metadata: {namespace: main, name: alice_stage}\n"
	"  user: Alice\n"
	"  contract: twitter_stats\n"
	"- kind: dependency\n"
	"  metadata: {namespace: main, name: bob_stage}\n"
	"  user: Bob\n"
	"  contract: twitter_stats\n"
	"- kind: cluster\n"
	"  metadata: {namespace: system, name: x}\n"
	"  type: docker\n"
	"  config: {host: 'unix:///var/run/docker.sock'}\n";

static void expect_manage(struct acl *acl, const struct user *u, const struct object *o,
			  const char *want_error)
{
	struct error err = ERROR_INIT;
	int rc = acl_check_manage(acl, u, o, &err);
	if (!want_error) {
		cr_expect_eq(rc, 0, "%s: %s", u->name->s, error_msg(&err));
	} else {
		cr_expect_eq(rc, -1, "%s may manage %s", u->name->s, o->name->s);
		cr_expect_str_eq(error_msg(&err), want_error);
		cr_expect(error_is(&err, ERROR_FORBIDDEN));
	}
	error_clear(&err);
}

Test(acl, twitter_analytics)
{
	struct policy *p = load(twitter_yaml);
	struct acl *acl = acl_new(p);
	struct user sam = make_user("Sam", (const char *[]){ "org", "it", "is_operator", "true",
							     "global_ops", "true", NULL });
	struct user frank = make_user("Frank", (const char *[]){ "org", "it", "is_operator", "true", NULL });
	struct user alice = make_user("Alice", (const char *[]){ "org", "dev", NULL });
	struct user carol = make_user("Carol", (const char *[]){ "org", "dev", NULL });
	const struct object *svc = policy_get(p, KIND_SERVICE, "main", "twitter_stats");
	const struct object *alice_dep = policy_get(p, KIND_DEPENDENCY, "main", "alice_stage");
	const struct object *bob_dep = policy_get(p, KIND_DEPENDENCY, "main", "bob_stage");
	const struct object *cluster = policy_get(p, KIND_CLUSTER, "system", "x");
	cr_assert(svc && alice_dep && bob_dep && cluster);

	expect_roles(acl, &sam, "domain-admin (*), namespace-admin (main)");
	expect_roles(acl, &frank, "namespace-admin (main)");
	expect_roles(acl, &alice, "service-consumer (main)");

	expect_manage(acl, &sam, cluster, NULL);
	expect_manage(acl, &sam, svc, NULL);
	expect_manage(acl, &sam, bob_dep, NULL);

	expect_manage(acl, &frank, svc, NULL);
	expect_manage(acl, &frank, bob_dep, NULL);
	expect_manage(acl, &frank, cluster, "user 'Frank' may not manage cluster system/x: needs domain-admin");

	expect_manage(acl, &alice, alice_dep, NULL);
	expect_manage(acl, &alice, bob_dep,
		      "user 'Alice' may not manage dependency main/bob_stage: it belongs to user 'Bob'");
	expect_manage(acl, &alice, svc,
		      "user 'Alice' may not manage service main/twitter_stats: service-consumer of "
		      "main can only declare dependencies");
	expect_manage(acl, &carol, cluster, "user 'Carol' may not manage cluster system/x: needs domain-admin");

	cr_expect(acl_can_consume(acl, &alice, "main"));
	cr_expect_not(acl_can_consume(acl, &alice, "other"));
	cr_expect(acl_can_consume(acl, &frank, "main"));

	labels_release(&sam.labels);
	labels_release(&frank.labels);
	labels_release(&alice.labels);
	labels_release(&carol.labels);
	acl_free(acl);
	policy_free(p);
}

Test(acl, nobody_gets_a_message_naming_the_role_needed)
{
	struct policy *p = load(twitter_yaml);
	struct acl *acl = acl_new(p);
	struct user dave = make_user("Dave", (const char *[]){ "org", "sales", NULL });
	expect_manage(acl, &dave, policy_get(p, KIND_SERVICE, "main", "twitter_stats"),
		      "user 'Dave' may not manage service main/twitter_stats: needs namespace-admin of main");
	expect_manage(acl, &dave, policy_get(p, KIND_DEPENDENCY, "main", "alice_stage"),
		      "user 'Dave' may not manage dependency main/alice_stage: needs "
		      "service-consumer or namespace-admin of main");
	labels_release(&dave.labels);
	acl_free(acl);
	policy_free(p);
}
