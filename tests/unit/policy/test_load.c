/* Loading policy YAML into objects: per-kind fields, positions and prefixes of
 * errors, every error of a load reported at once, identifier rules and
 * refusals from the reference (§1.1, §2.7), the benchmark and example files. */
#include "policy/policy.h"

#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

struct loaded {
	struct intern *in;
	struct policy *p;
	struct diags d;
	int rc;
};

/* As the engine's registry of drivers gives them. */
static const char *const code_types[] = { "docker", "process" };
static const char *const cluster_types[] = { "docker", "ssh" };
static const struct policy_types types = { code_types, 2, cluster_types, 2 };

static void load(struct loaded *l, const char *yaml)
{
	l->in = intern_new();
	l->p = policy_new(l->in);
	l->p->types = &types;
	l->d = (struct diags)DIAGS_INIT;
	l->rc = policy_add_yaml(l->p, "p.yaml", yaml, strlen(yaml), 0, &l->d);
	for (size_t i = 0; i < l->d.len; i++)
		cr_log_info("%s", l->d.items[i]);
}

static void done(struct loaded *l)
{
	diags_release(&l->d);
	policy_free(l->p);
	intern_free(l->in);
}

static bool has_diag(const struct loaded *l, const char *text)
{
	for (size_t i = 0; i < l->d.len; i++)
		if (strstr(l->d.items[i], text))
			return true;
	return false;
}

/* Loads yaml, expecting one error containing text. */
static void expect_error(const char *yaml, const char *text)
{
	struct loaded l;
	load(&l, yaml);
	cr_expect_eq(l.rc, -1, "expected an error for:\n%s", yaml);
	cr_expect(has_diag(&l, text), "no diagnostic contains \"%s\" for:\n%s", text, yaml);
	cr_expect_eq(l.p->len, 0, "the object with an error must not be added");
	done(&l);
}

static void expect_ok(const char *yaml)
{
	struct loaded l;
	load(&l, yaml);
	cr_expect_eq(l.rc, 0, "expected no error for:\n%s", yaml);
	cr_expect_eq(l.d.len, 0);
	cr_expect_eq(l.p->len, 1);
	done(&l);
}

#define CODE "    code:\n      type: docker\n      params: {image: nginx}\n"

static const char *const service_yaml =
	"- kind: service\n"
	"  metadata:\n"
	"    namespace: main\n"
	"    name: kafka\n"
	"  labels:\n"
	"    type: analytics\n"
	"    display_top_hashtags: 10\n"
	"  components:\n"
	"  - name: zookeeper\n"
	"    contract: zookeeper\n"
	"  - name: kafka\n"
	"    discovery:\n"
	"      url: \"kafka-{{ .Discovery.instance }}:9092\"\n"
	"    code:\n"
	"      type: docker\n"
	"      params:\n"
	"        zeta: \"{{ .Labels.cluster }}\"\n"
	"        alpha: 1\n"
	"        ports: [9092, \"x\"]\n"
	"        ratio: 0.5\n"
	"        debug: true\n"
	"        none: ~\n"
	"    dependencies: [zookeeper]\n"
	"    criteria:\n"
	"      require-all: [\"type == 'analytics'\"]\n";

Test(load, service_fields)
{
	struct loaded l;
	load(&l, service_yaml);
	cr_assert_eq(l.rc, 0);
	cr_assert_eq(l.p->len, 1);
	const struct service *s = (const struct service *)policy_get(l.p, KIND_SERVICE, "main", "kafka");
	cr_assert_not_null(s);
	cr_expect_eq(s->obj.pos.line, 1);
	cr_expect_eq(s->obj.pos.col, 3);
	cr_expect_str_eq(s->obj.pos.file, "p.yaml");
	cr_expect_str_eq(labels_get(&s->labels, intern_cstr(l.in, "display_top_hashtags"))->s, "10");
	cr_assert_eq(s->ncomponents, 2);
	const struct component *z = &s->components[0], *k = &s->components[1];
	cr_expect_str_eq(z->name->s, "zookeeper");
	cr_expect_str_eq(z->contract->s, "zookeeper");
	cr_expect_null(z->code);
	cr_expect_null(k->contract);
	cr_assert_not_null(k->code);
	cr_expect_str_eq(k->code->type->s, "docker");
	cr_assert_eq(k->ndeps, 1);
	cr_expect_eq(k->deps[0], z->name);
	cr_expect_eq(k->dep_pos[0].line, 23);
	cr_assert_not_null(k->criteria);
	cr_expect_eq(k->criteria->nall, 1);
	cr_assert_not_null(k->discovery);
	cr_expect_eq(k->discovery->kind, PNODE_MAP);

	const struct pnode *pr = k->code->params;
	cr_assert_not_null(pr);
	cr_assert_eq(pr->kind, PNODE_MAP);
	cr_assert_eq(pr->len, 6);
	const char *order[] = { "alpha", "debug", "none", "ports", "ratio", "zeta" };
	for (int i = 0; i < 6; i++)
		cr_expect_str_eq(pr->keys[i]->s, order[i]);
	cr_expect_eq(pr->children[0]->kind, PNODE_INT);
	cr_expect_eq(pr->children[0]->integer, 1);
	cr_expect_eq(pr->children[1]->kind, PNODE_BOOL);
	cr_expect(pr->children[1]->boolean);
	cr_expect_eq(pr->children[2]->kind, PNODE_NULL);
	cr_assert_eq(pr->children[3]->kind, PNODE_LIST);
	cr_expect_eq(pr->children[3]->len, 2);
	cr_expect_eq(pr->children[3]->children[0]->kind, PNODE_INT);
	cr_expect_eq(pr->children[3]->children[1]->kind, PNODE_STRING);
	cr_expect_eq(pr->children[4]->kind, PNODE_FLOAT);
	cr_assert_eq(pr->children[5]->kind, PNODE_STRING);
	cr_expect_str_eq(template_text(pr->children[5]->tmpl), "{{ .Labels.cluster }}");
	cr_expect_eq(pr->children[5]->pos.line, 17);
	done(&l);
}

Test(load, object_json_is_canonical_and_in_document_order)
{
	struct loaded l;
	load(&l, "kind: dependency\nmetadata: {namespace: main, name: d}\nuser: Alice\n"
		 "contract: twitter_stats\nlabels: {n: 5}\n");
	cr_assert_eq(l.rc, 0);
	const struct object *o = policy_get(l.p, KIND_DEPENDENCY, "main", "d");
	cr_assert_not_null(o);
	cr_expect_str_eq(o->json, "{\n"
				  "  \"kind\": \"dependency\",\n"
				  "  \"metadata\": {\n"
				  "    \"namespace\": \"main\",\n"
				  "    \"name\": \"d\"\n"
				  "  },\n"
				  "  \"user\": \"Alice\",\n"
				  "  \"contract\": \"twitter_stats\",\n"
				  "  \"labels\": {\n"
				  "    \"n\": 5\n"
				  "  }\n"
				  "}");
	cr_expect_str_eq(object_describe(l.p, o), "dependency main/d");
	done(&l);
}

Test(load, contract_rule_aclrule_cluster_fields)
{
	struct loaded l;
	load(&l,
	     "- kind: contract\n"
	     "  metadata: {namespace: main, name: c}\n"
	     "  change-labels: {set: {a: b}, remove: [x]}\n"
	     "  contexts:\n"
	     "  - name: prod\n"
	     "    criteria: {require-all: [\"org == 'it'\"], require-any: [a, b], require-none: [c]}\n"
	     "    change-labels: {set: {display_top_hashtags: 10}, remove: {y: ~}}\n"
	     "    allocation: {service: svc, keys: [\"{{ .User.Name }}\", fixed]}\n"
	     "  - name: stage\n"
	     "    allocation: {service: main/svc}\n"
	     "- kind: rule\n"
	     "  metadata: {namespace: main, name: r}\n"
	     "  weight: 10\n"
	     "  actions: {dependency: reject, ingress: allow, change-labels: {set: {cluster: c1}}}\n"
	     "- kind: aclrule\n"
	     "  metadata: {namespace: system, name: a}\n"
	     "  actions:\n"
	     "    add-role: {domain-admin: '*', service-consumer: 'main1, main2 ,main3,main4'}\n"
	     "- kind: cluster\n"
	     "  metadata: {namespace: system, name: local}\n"
	     "  type: docker\n"
	     "  labels: {region: eu}\n"
	     "  config: {endpoint: 'unix:///var/run/docker.sock'}\n");
	cr_assert_eq(l.rc, 0);
	cr_assert_eq(l.p->len, 4);
	const struct contract *c = (const struct contract *)policy_get(l.p, KIND_CONTRACT, "main", "c");
	cr_assert_not_null(c);
	cr_assert_not_null(c->change_labels);
	cr_expect_eq(c->change_labels->set.len, 1);
	cr_expect_eq(c->change_labels->nremove, 1);
	cr_assert_eq(c->ncontexts, 2);
	const struct context *prod = &c->contexts[0];
	cr_expect_str_eq(prod->name->s, "prod");
	cr_expect_eq(prod->criteria->nall, 1);
	cr_expect_eq(prod->criteria->nany, 2);
	cr_expect_eq(prod->criteria->nnone, 1);
	cr_expect_eq(prod->change_labels->nremove, 1);
	cr_expect_str_eq(prod->change_labels->remove[0]->s, "y");
	cr_expect_str_eq(prod->alloc_service->s, "svc");
	cr_assert_eq(prod->nkeys, 2);
	cr_expect_str_eq(template_text(prod->keys[1]), "fixed");
	cr_expect_null(c->contexts[1].criteria);
	cr_expect_str_eq(c->contexts[1].alloc_service->s, "main/svc");

	const struct rule *r = (const struct rule *)policy_get(l.p, KIND_RULE, "main", "r");
	cr_assert_not_null(r);
	cr_expect_eq(r->weight, 10);
	cr_expect_eq(r->dependency, VERDICT_REJECT);
	cr_expect_eq(r->ingress, VERDICT_ALLOW);
	cr_expect_not_null(r->change_labels);
	cr_expect_null(r->criteria);

	const struct aclrule *a = (const struct aclrule *)policy_get(l.p, KIND_ACLRULE, "system", "a");
	cr_assert_not_null(a);
	cr_expect_eq(a->weight, 0);
	cr_assert_eq(a->ngrants, 2);
	cr_expect_eq(a->grants[0].role, ROLE_DOMAIN_ADMIN);
	cr_expect(a->grants[0].all);
	cr_expect_eq(a->grants[1].role, ROLE_SERVICE_CONSUMER);
	cr_assert_eq(a->grants[1].nnamespaces, 4);
	cr_expect_str_eq(a->grants[1].namespaces[1]->s, "main2");
	cr_expect_str_eq(a->grants[1].namespaces[2]->s, "main3");

	const struct cluster *cl = (const struct cluster *)policy_get(l.p, KIND_CLUSTER, "system", "local");
	cr_assert_not_null(cl);
	cr_expect_str_eq(cl->type->s, "docker");
	cr_assert_not_null(cl->config);
	cr_expect_str_eq(ynode_get(cl->config, "endpoint")->str->s, "unix:///var/run/docker.sock");
	done(&l);
}

Test(load, dependency_expiry_and_ttl)
{
	struct loaded l;
	load(&l, "- kind: dependency\n  metadata: {namespace: main, name: a}\n  user: u\n"
		 "  contract: c\n  expires: 2026-12-01T00:00:00Z\n  ttl: 36h\n"
		 "- kind: dependency\n  metadata: {namespace: main, name: b}\n  user: u\n"
		 "  contract: other/c\n  expires: 2026-12-01T02:00:00+02:00\n  ttl: 90\n"
		 "- kind: dependency\n  metadata: {namespace: main, name: c}\n  user: u\n"
		 "  contract: c\n  ttl: 7d\n");
	cr_assert_eq(l.rc, 0);
	const struct dependency *a = (const struct dependency *)policy_get(l.p, KIND_DEPENDENCY, "main", "a");
	const struct dependency *b = (const struct dependency *)policy_get(l.p, KIND_DEPENDENCY, "main", "b");
	const struct dependency *c = (const struct dependency *)policy_get(l.p, KIND_DEPENDENCY, "main", "c");
	cr_assert(a && b && c);
	cr_expect_eq(a->expires, 1796083200);
	cr_expect_eq(a->ttl, 36 * 3600);
	cr_expect_eq(b->expires, 1796083200);
	cr_expect_eq(b->ttl, 90);
	cr_expect_eq(c->expires, 0);
	cr_expect_eq(c->ttl, 7 * 86400);
	done(&l);

	expect_error("kind: dependency\nmetadata: {namespace: main, name: a}\nuser: u\ncontract: c\n"
		     "expires: 2026-13-01T00:00:00Z\n",
		     "p.yaml:5:10: dependency main/a: expires '2026-13-01T00:00:00Z' is not an RFC 3339 time");
	expect_error("kind: dependency\nmetadata: {namespace: main, name: a}\nuser: u\ncontract: c\n"
		     "ttl: 3 days\n",
		     "ttl '3 days' is not a duration");
	expect_error("kind: dependency\nmetadata: {namespace: main, name: a}\nuser: u\ncontract: c\n"
		     "ttl: 0\n",
		     "ttl must be positive");
}

Test(load, empty_and_single_object_documents)
{
	struct loaded l;
	load(&l, "");
	cr_expect_eq(l.rc, 0);
	cr_expect_eq(l.p->len, 0);
	done(&l);
	load(&l, "---\n---\nkind: rule\nmetadata: {namespace: main, name: r}\nweight: 0\n"
		 "actions: {dependency: allow}\n---\n[]\n");
	cr_expect_eq(l.rc, 0);
	cr_expect_eq(l.p->len, 1);
	done(&l);
	expect_error("just text\n", "p.yaml:1:1: a document must be a list of objects or one object, not a string");
}

Test(load, every_error_of_a_load_is_reported)
{
	struct loaded l;
	load(&l,
	     "- kind: rule\n"
	     "  metadata: {namespace: main, name: r1}\n"
	     "  weight: -1\n"
	     "  actions: {dependency: reject}\n"
	     "- kind: service\n"
	     "  metadata: {namespace: main, name: ok}\n"
	     "  components: [{name: c, contract: x}]\n"
	     "- kind: rule\n"
	     "  metadata: {namespace: main, name: r2}\n"
	     "  weight: 1\n"
	     "  actions: {ingress: notreject}\n"
	     "- kind: cluster\n"
	     "  metadata: {namespace: system, name: k}\n"
	     "  type: kubernetes\n"
	     "  config: {}\n");
	cr_expect_eq(l.rc, -1);
	cr_assert_eq(l.d.len, 3);
	cr_expect_str_eq(l.d.items[0], "p.yaml:3:11: rule main/r1: weight must be 0 or more, not -1");
	cr_expect_str_eq(l.d.items[1], "p.yaml:11:22: rule main/r2: actions: ingress must be 'allow' or "
				       "'reject', not 'notreject'");
	cr_expect(strncmp(l.d.items[2], "p.yaml:14:9: cluster system/k: cluster type 'kubernetes'", 56) == 0,
		  "%s", l.d.items[2]);
	/* The good object still loads. */
	cr_expect_eq(l.p->len, 1);
	cr_expect_not_null(policy_get(l.p, KIND_SERVICE, "main", "ok"));
	done(&l);
}

Test(load, unknown_key_suggests_the_nearest)
{
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncompnents: []\n",
		     "p.yaml:3:1: service main/s: unknown key 'compnents' (did you mean 'components'?)");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  contract: x\n  dependecies: [a]\n",
		     "p.yaml:6:3: service main/s: components: component c: unknown key 'dependecies' "
		     "(did you mean 'dependencies'?)");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\nwhatever: 1\n",
		     "unknown key 'whatever'");
	expect_error("kind: servce\nmetadata: {namespace: main, name: s}\n",
		     "p.yaml:1:7: unknown kind 'servce' (did you mean 'service'?)");
	expect_error("kind: rule\nmetadata: {namespace: main, name: r}\nweight: 1\n"
		     "criteria: {require-al: [true]}\nactions: {dependency: reject}\n",
		     "p.yaml:4:12: rule main/r: criteria: unknown key 'require-al' (did you mean 'require-all'?)");
}

Test(load, helm_and_kubernetes_are_refused_clearly)
{
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  code: {type: helm, params: {}}\n",
		     "p.yaml:5:16: service main/s: components: component c: code: code type 'helm' is "
		     "Aptomi's Kubernetes/Helm type; cairn runs 'docker' or 'process' code");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  code: {type: aptomi/code/kubernetes-helm}\n",
		     "code type 'aptomi/code/kubernetes-helm' is Aptomi's Kubernetes/Helm type");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  code: {type: unknown}\n",
		     "unknown code type 'unknown' (cairn runs 'docker' or 'process')");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  code: {}\n",
		     "component c: code: missing 'type'");
	expect_error("kind: cluster\nmetadata: {namespace: system, name: k}\ntype: unknown\nconfig: x\n",
		     "unknown cluster type 'unknown' (cairn runs 'docker' or 'ssh')");
	expect_error("kind: cluster\nmetadata: {namespace: system, name: k}\ntype: ssh\n",
		     "p.yaml:1:1: cluster system/k: missing 'config'");
}

static void service_named(const char *name, bool ok)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "kind: service\nmetadata: {namespace: main, name: '%s'}\n", name);
	if (ok)
		expect_ok(buf);
	else
		expect_error(buf, "invalid name");
}

Test(load, identifiers_follow_the_reference)
{
	service_named("test", true);
	service_named("good_name", true);
	service_named("excellent-name_239", true);
	service_named("_invalid", false);
	service_named("12-invalid", false);
	service_named("invalid-n#ame_239", false);
	service_named("invalid-n$ame_239", false);
	service_named("a123456789012345678901234567890123456789012345678901234567890123", true);
	service_named("a1234567890123456789012345678901234567890123456789012345678901234", false);
	expect_ok("kind: service\nmetadata: {namespace: main, name: test}\nlabels: {name: value}\n");
	expect_ok("kind: service\nmetadata: {namespace: main, name: good_name}\nlabels: {}\n");
	expect_error("kind: service\nmetadata: {namespace: main, name: test}\nlabels: {'$@#$%^&': v}\n",
		     "p.yaml:3:10: service main/test: labels: invalid label key '$@#$%^&'");
	expect_error("kind: service\nmetadata: {namespace: '1main', name: test}\n", "invalid namespace '1main'");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- {name: _c, contract: x}\n",
		     "invalid component name '_c'");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- {name: c, contract: x, dependencies: [invalid#dep]}\n",
		     "invalid component name 'invalid#dep'");
	expect_error("kind: contract\nmetadata: {namespace: main, name: c}\n"
		     "contexts: [{name: '_invalid', allocation: {service: s}}]\n",
		     "invalid context name '_invalid'");
	expect_error("kind: contract\nmetadata: {namespace: main, name: c}\n"
		     "change-labels: {set: {'invalid Operation': x}}\n",
		     "invalid label key 'invalid Operation'");
	expect_error("kind: contract\nmetadata: {namespace: main, name: c}\n"
		     "change-labels: {remove: ['bad key']}\n",
		     "invalid label key 'bad key'");
	expect_error("kind: service\nmetadata: {namespace: main}\n", "p.yaml:2:11: service: metadata: missing 'name'");
	expect_error("kind: service\n", "p.yaml:1:1: service: missing 'metadata'");
	expect_error("metadata: {namespace: main, name: x}\n", "p.yaml:1:1: missing 'kind'");
}

Test(load, components_need_exactly_one_of_code_and_contract)
{
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  contract: x\n  code: {type: docker}\n",
		     "p.yaml:4:3: service main/s: components: component 'c' has both code and contract");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  discovery: {a: b}\n",
		     "component 'c' has neither code nor contract");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- {name: name, contract: x}\n- {name: name, contract: y}\n",
		     "p.yaml:5:3: service main/s: components: duplicate component 'name' (first at line 4, column 3)");
	expect_error("kind: contract\nmetadata: {namespace: main, name: c}\ncontexts:\n"
		     "- {name: a, allocation: {service: s}}\n- {name: a, allocation: {service: s}}\n",
		     "duplicate context 'a'");
	expect_error("kind: contract\nmetadata: {namespace: main, name: c}\ncontexts:\n- {name: a}\n",
		     "p.yaml:4:3: contract main/c: contexts: context a: missing 'allocation'");
}

Test(load, templates_and_expressions_must_compile)
{
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  code: {type: docker, params: {a: {b: '{{ broken___$$%@ }}'}}}\n",
		     "p.yaml:5:40: service main/s: components: component c: code: params: a: b: unable to compile template");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents:\n"
		     "- name: c\n  contract: x\n  discovery: {url: '{{ broken___$$%@ }}'}\n",
		     "discovery: url: unable to compile template");
	expect_error("kind: contract\nmetadata: {namespace: main, name: c}\n"
		     "contexts: [{name: a, allocation: {service: s, keys: ['{{{ invalid']}}]\n",
		     "unable to compile template '{{{ invalid'");
	expect_error("kind: rule\nmetadata: {namespace: main, name: r}\nweight: 1\n"
		     "criteria: {require-none: [\"specialname + '123')(((\"]}\nactions: {dependency: reject}\n",
		     "p.yaml:4:27: rule main/r: criteria: require-none: unable to compile expression");
}

Test(load, rules_and_acl_rules_follow_the_reference)
{
	const char *head = "kind: rule\nmetadata: {namespace: main, name: r}\n";
	char buf[512];
	snprintf(buf, sizeof(buf), "%sweight: 1\ncriteria: {require-all: ['true'], require-any: ['true', 'true']}\n"
		 "actions: {change-labels: {set: {labelName: value}}}\n", head);
	expect_ok(buf);
	snprintf(buf, sizeof(buf), "%sweight: 20\nactions: {dependency: reject}\n", head);
	expect_ok(buf);
	snprintf(buf, sizeof(buf), "%sweight: 100\ncriteria: {require-none: [\"specialname + specialvalue == 'b'\"]}\n"
		 "actions: {ingress: reject}\n", head);
	expect_ok(buf);
	snprintf(buf, sizeof(buf), "%sweight: -1\nactions: {dependency: reject}\n", head);
	expect_error(buf, "weight must be 0 or more");
	snprintf(buf, sizeof(buf), "%sweight: 1\nactions: {}\n", head);
	expect_error(buf, "p.yaml:4:10: rule main/r: actions: no action");
	snprintf(buf, sizeof(buf), "%sweight: 1\nactions:\n", head);
	expect_error(buf, "rule main/r: missing 'actions'");
	snprintf(buf, sizeof(buf), "%sweight: 1\nactions: {ingress: notreject}\n", head);
	expect_error(buf, "ingress must be 'allow' or 'reject', not 'notreject'");
	snprintf(buf, sizeof(buf), "%sweight: heavy\nactions: {ingress: reject}\n", head);
	expect_error(buf, "'weight' must be an integer, not a string");
	/* Weight is optional for rules too (0), as for ACL rules. */
	snprintf(buf, sizeof(buf), "%sactions: {ingress: reject}\n", head);
	expect_ok(buf);

	const char *acl = "kind: aclrule\nmetadata: {namespace: main, name: a}\n";
	snprintf(buf, sizeof(buf), "%sactions: {add-role: {domain-admin: '*', service-consumer: 'main1, main2 ,main3,main4'}}\n", acl);
	expect_ok(buf);
	snprintf(buf, sizeof(buf), "%sactions: {}\n", acl);
	expect_error(buf, "actions: missing 'add-role'");
	snprintf(buf, sizeof(buf), "%sactions:\n", acl);
	expect_error(buf, "missing 'actions'");
	snprintf(buf, sizeof(buf), "%sactions: {add-role: {}}\n", acl);
	expect_error(buf, "no role");
	snprintf(buf, sizeof(buf), "%sactions: {add-role: {unknown: some-value}}\n", acl);
	expect_error(buf, "p.yaml:3:22: aclrule main/a: actions: add-role: unknown role 'unknown'");
	snprintf(buf, sizeof(buf), "%sactions: {add-role: {namespace-admn: main}}\n", acl);
	expect_error(buf, "unknown role 'namespace-admn' (did you mean 'namespace-admin'?)");
	snprintf(buf, sizeof(buf), "%sactions: {add-role: {namespace-admin: 'main, bad#ns'}}\n", acl);
	expect_error(buf, "invalid namespace 'bad#ns' for role namespace-admin");
}

Test(load, wrong_types_name_what_was_found)
{
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\nlabels: [a, b]\n",
		     "p.yaml:3:9: service main/s: 'labels' must be a mapping, not a list");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\nlabels: {a: {b: c}}\n",
		     "label 'a' must be a string, not a mapping");
	expect_error("kind: service\nmetadata: {namespace: main, name: s}\ncomponents: {a: b}\n",
		     "'components' must be a list, not a mapping");
	expect_error("- kind: service\n  metadata: {namespace: main, name: s}\n  components: [x]\n",
		     "a component must be a mapping, not a string");
	expect_error("- 5\n", "p.yaml:1:3: an object must be a mapping, not an integer");
	expect_error("kind: dependency\nmetadata: {namespace: main, name: d}\nuser: u\ncontract: a/b/c\n",
		     "invalid contract 'a/b/c'");
}

Test(load, yaml_errors_load_nothing_from_the_text)
{
	struct loaded l;
	load(&l, "- kind: rule\n  metadata: {namespace: main, name: r}\n  weight: 1\n  weight: 2\n"
		 "  actions: {dependency: reject}\n");
	cr_expect_eq(l.rc, -1);
	cr_assert_eq(l.d.len, 1);
	cr_expect(strstr(l.d.items[0], "p.yaml:4:3: yaml: duplicate key 'weight'"), "%s", l.d.items[0]);
	cr_expect_eq(l.p->len, 0);
	done(&l);
}

static const char *const two_rules =
	"- kind: rule\n  metadata: {namespace: main, name: r}\n  weight: 1\n  actions: {dependency: reject}\n"
	"- kind: rule\n  metadata: {namespace: main, name: r}\n  weight: 2\n  actions: {dependency: reject}\n";

Test(load, duplicates_in_one_load_name_both_positions)
{
	struct loaded l;
	load(&l, two_rules);
	cr_expect_eq(l.rc, -1);
	cr_assert_eq(l.d.len, 1);
	cr_expect_str_eq(l.d.items[0], "p.yaml:5:3: rule main/r: duplicate object (first defined at p.yaml:1:3)");
	cr_assert_eq(l.p->len, 1);
	cr_expect_eq(((const struct rule *)l.p->objects[0])->weight, 1);
	done(&l);
}

Test(load, later_loads_replace_only_when_asked)
{
	const char *v1 = "kind: rule\nmetadata: {namespace: main, name: r}\nweight: 1\nactions: {dependency: reject}\n";
	const char *v2 = "kind: rule\nmetadata: {namespace: main, name: r}\nweight: 2\nactions: {dependency: reject}\n";
	const char *other = "kind: rule\nmetadata: {namespace: main, name: q}\nweight: 3\nactions: {ingress: reject}\n";
	struct loaded l;
	load(&l, v1);
	cr_assert_eq(l.rc, 0);
	cr_assert_eq(policy_add_yaml(l.p, "o.yaml", other, strlen(other), 0, &l.d), 0);
	cr_expect_eq(policy_add_yaml(l.p, "v2.yaml", v2, strlen(v2), 0, &l.d), -1);
	cr_assert_eq(l.d.len, 1);
	cr_expect_str_eq(l.d.items[0], "v2.yaml:1:1: rule main/r: already exists (defined at p.yaml:1:1)");
	cr_expect_eq(((const struct rule *)policy_get(l.p, KIND_RULE, "main", "r"))->weight, 1);
	cr_expect_eq(policy_add_yaml(l.p, "v2.yaml", v2, strlen(v2), POLICY_REPLACE, &l.d), 0);
	cr_expect_eq(l.d.len, 1);
	cr_assert_eq(l.p->len, 2);
	cr_expect_eq(l.p->objects[0], policy_get(l.p, KIND_RULE, "main", "r"), "replaced in place");
	cr_expect_eq(((const struct rule *)l.p->objects[0])->weight, 2);
	done(&l);
}

Test(load, get_find_and_remove)
{
	struct loaded l;
	load(&l, "- kind: contract\n  metadata: {namespace: main, name: c}\n"
		 "- kind: contract\n  metadata: {namespace: other, name: c}\n");
	cr_assert_eq(l.rc, 0);
	const struct object *main_c = policy_get(l.p, KIND_CONTRACT, "main", "c");
	const struct object *other_c = policy_get(l.p, KIND_CONTRACT, "other", "c");
	cr_assert(main_c && other_c && main_c != other_c);
	cr_expect_eq(policy_find(l.p, KIND_CONTRACT, "c", "main"), main_c);
	cr_expect_eq(policy_find(l.p, KIND_CONTRACT, "other/c", "main"), other_c);
	cr_expect_eq(policy_find(l.p, KIND_CONTRACT, "main/c", ""), main_c);
	cr_expect_null(policy_find(l.p, KIND_CONTRACT, "x/main/c", "main"));
	cr_expect_null(policy_find(l.p, KIND_CONTRACT, "", "main"));
	cr_expect_null(policy_find(l.p, KIND_CONTRACT, "nope", "main"));
	cr_expect_null(policy_find(l.p, KIND_SERVICE, "c", "main"));
	cr_expect(policy_remove(l.p, KIND_CONTRACT, "main", "c"));
	cr_expect_not(policy_remove(l.p, KIND_CONTRACT, "main", "c"));
	cr_expect_null(policy_get(l.p, KIND_CONTRACT, "main", "c"));
	cr_assert_eq(l.p->len, 1);
	cr_expect_eq(l.p->objects[0], other_c);
	/* Removed objects can come back. */
	const char *again = "kind: contract\nmetadata: {namespace: main, name: c}\n";
	cr_expect_eq(policy_add_yaml(l.p, "again.yaml", again, strlen(again), 0, &l.d), 0);
	cr_expect_not_null(policy_get(l.p, KIND_CONTRACT, "main", "c"));
	done(&l);
}

Test(load, kind_and_role_names_round_trip)
{
	for (int k = 0; k < KIND_COUNT; k++) {
		enum kind out;
		cr_expect_eq(kind_parse(kind_name((enum kind)k), &out), 0);
		cr_expect_eq(out, (enum kind)k);
	}
	enum kind kout;
	cr_expect_eq(kind_parse("bundle", &kout), -1);
	for (int r = 0; r < ROLE_COUNT; r++) {
		enum role out;
		cr_expect_eq(role_parse(role_name((enum role)r), &out), 0);
		cr_expect_eq(out, (enum role)r);
	}
	enum role rout;
	cr_expect_eq(role_parse("unknown", &rout), -1);
	cr_expect_str_eq(role_name(ROLE_SERVICE_CONSUMER), "service-consumer");
}

static size_t count_kind(const struct policy *p, enum kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < p->len; i++)
		n += p->objects[i]->kind == k;
	return n;
}

static void load_bench(const char *size, size_t objects, size_t services, size_t deps)
{
	char path[512];
	snprintf(path, sizeof(path), "/work/shared/bench/aptomi/%s/policy.yaml", size);
	struct intern *in = intern_new();
	struct policy *p = policy_new(in);
	struct diags d = DIAGS_INIT;
	int rc = policy_add_path(p, path, 0, &d);
	for (size_t i = 0; i < d.len && i < 10; i++)
		cr_log_error("%s", d.items[i]);
	cr_expect_eq(rc, 0);
	cr_expect_eq(d.len, 0);
	cr_expect_eq(p->len, objects);
	cr_expect_eq(count_kind(p, KIND_SERVICE), services);
	cr_expect_eq(count_kind(p, KIND_CONTRACT), services);
	cr_expect_eq(count_kind(p, KIND_RULE), 25);
	cr_expect_eq(count_kind(p, KIND_CLUSTER), 1);
	cr_expect_eq(count_kind(p, KIND_DEPENDENCY), deps);
	struct diags vd = DIAGS_INIT;
	cr_expect_eq(policy_validate(p, &vd), 0);
	diags_release(&vd);
	diags_release(&d);
	policy_free(p);
	intern_free(in);
}

Test(load, benchmark_small_policy)
{
	load_bench("small", 626, 50, 500);
}

Test(load, benchmark_medium_policy)
{
	load_bench("medium", 2226, 100, 2000);
}

Test(load, twitter_analytics_gives_only_the_helm_and_kubernetes_refusals)
{
	struct intern *in = intern_new();
	struct policy *p = policy_new(in);
	struct diags d = DIAGS_INIT;
	cr_expect_eq(policy_add_path(p, "/work/shared/reference/twitter-analytics", 0, &d), -1);
	size_t helm = 0;
	for (size_t i = 0; i < d.len; i++) {
		cr_log_info("%s", d.items[i]);
		cr_expect(strstr(d.items[i], "Kubernetes/Helm type") != NULL, "unexpected: %s", d.items[i]);
		helm += strstr(d.items[i], "code type 'aptomi/code/kubernetes-helm'") != NULL;
	}
	/* One refusal per helm code section: twitter_stats has 3, four services 1. */
	cr_expect_eq(helm, 7);
	cr_expect_eq(d.len, 7);
	/* Only analytics_pipeline (contract components only) of the services loads;
	 * contracts, rules, ACL rules and dependencies all do. */
	cr_expect_eq(count_kind(p, KIND_SERVICE), 1);
	cr_expect_not_null(policy_get(p, KIND_SERVICE, "main", "analytics_pipeline"));
	cr_expect_eq(count_kind(p, KIND_CONTRACT), 6);
	cr_expect_eq(count_kind(p, KIND_RULE), 3);
	cr_expect_eq(count_kind(p, KIND_ACLRULE), 3);
	cr_expect_eq(count_kind(p, KIND_DEPENDENCY), 4);
	diags_release(&d);

	cr_expect_eq(policy_add_path(p, "/work/shared/reference/twitter-analytics/Sam/clusters.yaml.template",
				     0, &d), -1);
	cr_assert_eq(d.len, 2);
	cr_expect(strstr(d.items[0], "clusters.yaml.template:6:9: cluster system/cluster-us-east: "
				     "cluster type 'kubernetes' is Aptomi's Kubernetes type"),
		  "%s", d.items[0]);
	cr_expect(strstr(d.items[1], "cluster system/cluster-us-west"), "%s", d.items[1]);
	diags_release(&d);
	policy_free(p);
	intern_free(in);
}

Test(load, missing_path_is_an_error)
{
	struct intern *in = intern_new();
	struct policy *p = policy_new(in);
	struct diags d = DIAGS_INIT;
	cr_expect_eq(policy_add_path(p, "/nonexistent/policy", 0, &d), -1);
	cr_assert_eq(d.len, 1);
	cr_expect(strstr(d.items[0], "/nonexistent/policy: cannot open") != NULL, "%s", d.items[0]);
	diags_release(&d);
	policy_free(p);
	intern_free(in);
}

/* A label is short text: a 64 MiB one was once taken as is. */
Test(load, a_label_over_the_limit_is_refused)
{
	size_t n = LABEL_VALUE_MAX + 1;
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "- kind: dependency\n  metadata: {namespace: main, name: d}\n"
			 "  user: alice\n  contract: c\n  labels:\n    big: ");
	for (size_t i = 0; i < n; i++)
		strbuf_addc(&sb, 'x');
	strbuf_addc(&sb, '\n');
	expect_error(sb.buf, "label 'big' is 8193 bytes: the limit is 8192");
	strbuf_truncate(&sb, sb.len - 2);
	strbuf_addc(&sb, '\n');
	expect_ok(sb.buf);
	strbuf_release(&sb);
}

Test(load, dataset_fields_and_defaults)
{
	struct loaded l;
	load(&l, "- kind: dataset\n"
		 "  metadata: {namespace: main, name: demo}\n"
		 "  source: {url: \"postgres://reader@db:5432/shop\", password_file: reader.pw}\n"
		 "  build: {dependency: main/prod, component: app}\n"
		 "  roots: [{table: customer, where: \"customer_id < 3\"}, {table: sales.store}]\n"
		 "  tables: {language: {whole: true}}\n"
		 "  references: {a_fkey: {children: true}, b_fkey: {children: false}}\n"
		 "  anonymize:\n"
		 "    sales.staff.email: email\n"
		 "    customer.note: {regex: {pattern: \"[0-9]+\", replace: \"#\"}}\n"
		 "    customer.born: {date_shift: 30}\n"
		 "    customer.token: {const: x}\n"
		 "    staff.password: null\n"
		 "    staff.pin: {const: null}\n"
		 "  key_file: demo.key\n");
	cr_assert_eq(l.rc, 0);
	const struct dataset *d = (const struct dataset *)policy_get(l.p, KIND_DATASET, "main", "demo");
	cr_assert_not_null(d);
	cr_expect_str_eq(d->source_url->s, "postgres://reader@db:5432/shop");
	cr_expect_str_eq(d->password_file->s, "reader.pw");
	cr_expect_null(d->build);
	cr_expect_str_eq(d->build_dependency->s, "main/prod");
	cr_expect_str_eq(d->build_component->s, "app");
	cr_assert_eq(d->nroots, 2);
	cr_expect_str_eq(d->roots[0].where->s, "customer_id < 3");
	cr_expect_str_eq(d->roots[1].table->s, "sales.store");
	cr_expect_null(d->roots[1].where);
	cr_assert_eq(d->ntables, 1);
	cr_expect(d->tables[0].whole);
	cr_assert_eq(d->nreferences, 2);
	cr_expect(d->references[0].children);
	cr_expect_not(d->references[1].children);
	cr_assert_eq(d->nanonymize, 6);
	cr_expect_eq(d->anonymize[5].kind, ANON_NULL, "{const: null} is the null transformer");
	cr_expect_str_eq(d->anonymize[0].table->s, "sales.staff");
	cr_expect_str_eq(d->anonymize[0].column->s, "email");
	cr_expect_eq(d->anonymize[0].kind, ANON_EMAIL);
	cr_expect_eq(d->anonymize[1].kind, ANON_REGEX);
	cr_expect_str_eq(d->anonymize[1].value->s, "[0-9]+");
	cr_expect_str_eq(d->anonymize[1].replace->s, "#");
	cr_expect_eq(d->anonymize[2].kind, ANON_DATE_SHIFT);
	cr_expect_eq(d->anonymize[2].days, 30);
	cr_expect_eq(d->anonymize[3].kind, ANON_CONST);
	cr_expect_str_eq(d->anonymize[3].value->s, "x");
	cr_expect_eq(d->anonymize[4].kind, ANON_NULL);
	cr_expect_str_eq(d->key_file->s, "demo.key");
	cr_expect_eq(d->keep, DATASET_KEEP_DEFAULT);
	cr_expect_eq(d->max_rows, DATASET_MAX_ROWS_DEFAULT);
	done(&l);
}

Test(load, dataset_errors)
{
	expect_error("- {kind: dataset, metadata: {namespace: main, name: d}, source: {url: "
		     "\"postgres://u:pw@db/shop\"}, roots: [{table: t}]}",
		     "p.yaml:1:71: dataset main/d: source: url holds a password");
	expect_error("- {kind: dataset, metadata: {namespace: main, name: d}, source: {url: "
		     "\"postgres://u@db/shop?password=x\"}, roots: [{table: t}]}",
		     "url holds a password");
	expect_error("- {kind: dataset, metadata: {namespace: main, name: d}, source: {url: "
		     "\"postgres://u@db/shop\"}, roots: [{table: t}], build: [1]}",
		     "build must be a build name");
	expect_error("- {kind: dataset, metadata: {namespace: main, name: d}, source: {url: "
		     "\"postgres://u@db/shop\"}, roots: [t]}",
		     "a root must be a mapping");
	expect_error("- {kind: dataset, metadata: {namespace: main, name: d}, source: {url: "
		     "\"postgres://u@db/shop\"}, roots: [{table: t}], anonymize: {t.c: email}}",
		     "anonymize needs 'key_file'");
}

Test(load, a_stored_object_keeps_where_it_was_written)
{
	struct intern *in = intern_new();
	struct policy *p = policy_new(in), *back = policy_new(in), *bare = policy_new(in);
	struct diags d = DIAGS_INIT;
	const char *yaml = "# Frank's\n\n- kind: service\n  metadata: {namespace: main, name: kafka}\n"
			   "  components:\n    - name: broker\n      code:\n        type: docker\n"
			   "        params: {image: 'cairn/demo:1', env: {ZONE: '{{ .Labels.zone }}'}}\n";
	cr_assert_eq(policy_add_yaml(p, "Frank/kafka.yaml", yaml, strlen(yaml), 0, &d), 0);
	const struct object *o = policy_get(p, KIND_SERVICE, "main", "kafka");
	cr_assert_not_null(o->origin);
	cr_assert_eq(policy_add_stored(back, "stored service/main/kafka", o->json, o->origin, 0, &d), 0);
	const struct service *s = (const struct service *)policy_get(back, KIND_SERVICE, "main", "kafka");
	cr_expect_str_eq(s->obj.pos.file, "Frank/kafka.yaml");
	cr_expect_eq(s->obj.pos.line, 3);
	cr_expect_eq(s->obj.pos.col, 3);
	const struct pnode *zone = s->components[0].code->params->children[0]->children[0];
	cr_expect_eq(zone->pos.line, 9, "the template where it was written");
	cr_expect_eq(zone->pos.col, 53);
	cr_expect_str_eq(s->obj.origin, o->origin, "kept again when stored again");

	/* An origin that does not fit (another object's) is not used. */
	cr_assert_eq(policy_add_stored(bare, "stored service/main/kafka", o->json, "x.yaml\n 1,1", 0, &d), 0);
	cr_expect_str_eq(policy_get(bare, KIND_SERVICE, "main", "kafka")->pos.file, "stored service/main/kafka");
	cr_expect_eq(d.len, 0);
	diags_release(&d);
	policy_free(p);
	policy_free(back);
	policy_free(bare);
	intern_free(in);
}
