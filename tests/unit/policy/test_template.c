/* Templates: every conformance case of reference §2.2 (HEAD `default` rows
 * included), the probe extras, discovery lookups with fallback overlays, and
 * the subset of text/template cairn supports (if/else, pipes, trim, printf). */
#include "policy/template.h"

#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct intern *in;
static struct labels labels, user_labels, secrets;
static struct template_scope scope;
static struct arena_dn {
	struct dnode nodes[64];
	struct dnode_entry entries[128];
	unsigned nn, ne;
} dn;

static const struct istr *I(const char *s)
{
	return intern_cstr(in, s);
}

static struct dnode *dleaf(const char *text)
{
	struct dnode *n = &dn.nodes[dn.nn++];
	*n = (struct dnode){ .text = text };
	return n;
}

/* A map node with children given as "key", node, ..., NULL. */
static struct dnode *dmap(const char *key, ...)
{
	struct dnode *n = &dn.nodes[dn.nn++];
	*n = (struct dnode){ .entries = &dn.entries[dn.ne] };
	va_list ap;
	va_start(ap, key);
	for (const char *k = key; k; k = va_arg(ap, const char *)) {
		struct dnode *child = va_arg(ap, struct dnode *);
		dn.entries[dn.ne++] = (struct dnode_entry){ .key = I(k), .child = child };
		n->len++;
	}
	va_end(ap);
	n->cap = n->len;
	return n;
}

static void setup(void)
{
	in = intern_new();
	memset(&dn, 0, sizeof(dn));
	labels = (struct labels)LABELS_INIT;
	user_labels = (struct labels)LABELS_INIT;
	secrets = (struct labels)LABELS_INIT;
	/* The parameters of Aptomi's template_test.go, plus a few for the extras. */
	labels_set(&labels, I("tagname"), I("tagvalue"));
	labels_set(&labels, I("cluster"), I("cluster-us-east"));
	labels_set(&labels, I("empty"), I(""));
	labels_set(&labels, I("replicas"), I("3"));
	labels_set(&labels, I("LBmNEqKs08"), I("bench"));
	labels_set(&user_labels, I("team"), I("platform_services"));
	labels_set(&secrets, I("appKey"), I("Alice_appKey"));
	scope = (struct template_scope){
		.labels = &labels,
		.user_name = "Alice",
		.user_labels = &user_labels,
		.user_secrets = &secrets,
	};
	/* A service's tree, overlaid as the resolver does with instance keys. */
	struct dnode *tree = dmap("kafka", dmap("url", dleaf("kafka-1:9092"), "instance", dleaf("k1"), NULL),
				  "analytics", dmap("kafka", dmap("kafka", dmap("url", dleaf("deep:9092"), NULL), NULL), NULL),
				  "instance", dleaf("shadowed"), NULL);
	struct dnode *view = dmap("instance", dleaf("web-1"), "instanceId", dleaf("809877119"),
				  "service", dmap("instance", dleaf("svc"), NULL), NULL);
	view->fallback = tree;
	scope.discovery = view;
}

static void teardown(void)
{
	labels_release(&labels);
	labels_release(&user_labels);
	labels_release(&secrets);
	intern_free(in);
}

TestSuite(template, .init = setup, .fini = teardown);

/* Renders text; returns the output or the error message (heap, free it). */
static char *run(const char *text, int *rc_out, bool *compiled)
{
	struct template *t = NULL;
	struct error err = ERROR_INIT;
	struct strbuf sb = STRBUF_INIT;
	int rc = template_compile(&t, in, text, &err);
	*compiled = rc == 0;
	if (rc == 0) {
		rc = template_render(t, &scope, &sb, &err);
		template_free(t);
	} else {
		cr_expect_null(t, "a failed compile leaves no template");
	}
	*rc_out = rc;
	char *res = rc == 0 ? strbuf_detach(&sb) : strdup(error_msg(&err));
	strbuf_release(&sb);
	error_clear(&err);
	return res;
}

static void expect_out(const char *text, const char *want)
{
	int rc;
	bool compiled;
	char *got = run(text, &rc, &compiled);
	cr_expect_eq(rc, 0, "%s: unexpected error: %s", text, got);
	if (rc == 0)
		cr_expect_str_eq(got, want, "template %s", text);
	free(got);
}

/* An error at the given stage whose message contains each of the fragments. */
static void expect_err(const char *text, bool at_compile, const char *frag1, const char *frag2)
{
	int rc;
	bool compiled;
	char *got = run(text, &rc, &compiled);
	cr_expect_eq(rc, -1, "%s: expected an error, got output '%s'", text, got);
	if (rc == -1) {
		cr_expect_eq(!compiled, at_compile, "%s: error at the wrong stage: %s", text, got);
		const char *prefix = at_compile ? "unable to compile template '" : "unable to evaluate template '";
		cr_expect(strncmp(got, prefix, strlen(prefix)) == 0, "%s: message '%s'", text, got);
		cr_expect(strstr(got, text) != NULL, "the message names the template: %s", got);
		if (frag1)
			cr_expect(strstr(got, frag1) != NULL, "'%s' lacks '%s'", got, frag1);
		if (frag2)
			cr_expect(strstr(got, frag2) != NULL, "'%s' lacks '%s'", got, frag2);
	}
	free(got);
}

/* ---- §2.2 conformance rows ---- */

Test(template, labels_and_user_labels_are_not_escaped)
{
	expect_out("test-{{.User.Labels.team}}-{{.Labels.tagname}}", "test-platform_services-tagvalue");
}

Test(template, missing_struct_fields_are_eval_errors)
{
	expect_err("test-{{.User.MissingField}}-{{.MissingObject}}", false,
		   "can't evaluate field MissingField", ".User.MissingField");
	expect_err("{{.MissingObject}}", false, "can't evaluate field MissingObject", NULL);
}

Test(template, missing_label_is_eval_error)
{
	expect_err("test-{{.User.Labels.missinglabel}}", false, "no user label 'missinglabel'",
		   "(.User.Labels.missinglabel)");
	expect_err("{{ .Labels.clustr }}", false, "no label 'clustr' (.Labels.clustr)", NULL);
}

Test(template, undefined_function_is_compile_error)
{
	expect_err("{{ bs }}", true, "function \"bs\" not defined", NULL);
	expect_err("{{ index a a a a a }}", true, "function \"a\" not defined", NULL);
	expect_err("{{ hello", true, NULL, NULL);
	expect_err("{{ .Labels.tagname", true, "unclosed action", NULL);
}

Test(template, default_uses_present_value)
{
	expect_out("val-{{ default \"abc\" .Labels.tagname }}", "val-tagvalue");
	expect_out("val-{{ default .Labels.tagname }}", "val-tagvalue");
}

Test(template, default_replaces_missing_value)
{
	expect_out("val-{{ default \"abc\" .Labels.missinglabel }}", "val-abc");
	expect_out("val-{{ default .Labels.missinglabel }}", "val-");
	expect_out("{{ default \"abc\" .Labels.empty }}", "abc");
	expect_out("{{ default \"none\" .Discovery.nothere.url }}", "none");
	expect_out("{{ .Labels.missinglabel | default \"piped\" }}", "piped");
}

Test(template, default_with_wrong_arity_is_eval_error)
{
	expect_err("{{ default }}", false, "wrong number of args for default", "got 0");
	expect_err("{{ default \"a\" \"b\" \"c\" }}", false, "wrong number of args for default", "got 3");
}

/* ---- probe extras ---- */

Test(template, nil_secrets_is_error)
{
	scope.user_secrets = NULL;
	expect_err("{{ .User.Secrets.appKey }}", false, "user has no secrets (.User.Secrets.appKey)", NULL);
}

Test(template, secrets_render_and_are_flagged)
{
	expect_out("{{ .User.Secrets.appKey }}", "Alice_appKey");
	expect_err("{{ .User.Secrets.x }}", false, "no secret 'x'", NULL);
	struct template *t;
	struct error err = ERROR_INIT;
	cr_assert_eq(template_compile(&t, in, "k-{{ .User.Secrets.appKey }}", &err), 0);
	cr_expect(template_uses_secrets(t));
	template_free(t);
	cr_assert_eq(template_compile(&t, in, "k-{{ .User.Name }}", &err), 0);
	cr_expect_not(template_uses_secrets(t));
	template_free(t);
}

Test(template, missing_discovery_value_is_error)
{
	expect_err("{{ .Discovery.kafka.missing }}", false, "no discovery value at .Discovery.kafka.missing", NULL);
	expect_err("{{ .Discovery.comp.url }}", false, "no discovery value at .Discovery.comp (.Discovery.comp.url)", NULL);
	scope.discovery = NULL;
	expect_err("{{ .Discovery.kafka.url }}", false, "no discovery value at .Discovery (.Discovery.kafka.url)", NULL);
}

Test(template, literal_no_value_is_error)
{
	expect_err("<no value>", false, "<no value>", NULL);
	expect_err("a-{{ .Labels.tagname }}-<no value>", false, "<no value>", NULL);
	expect_err("{{ \"<no \" }}{{ \"value>\" }}", false, "<no value>", NULL);
}

Test(template, builtins_of_the_probe_work)
{
	expect_out("{{ index .Labels \"cluster\" }}", "cluster-us-east");
	expect_out("{{ printf \"%s-%s\" .Labels.cluster .User.Name }}", "cluster-us-east-Alice");
	expect_out("{{ len .Labels }}", "5");
	expect_out("{{ if .Labels.tagname }}yes{{ end }}", "yes");
	expect_out("id-{{ .Discovery.instanceId }}", "id-809877119");
}

/* ---- discovery ---- */

Test(template, discovery_overlay_falls_back_to_tree)
{
	expect_out("{{ .Discovery.instance }}", "web-1");
	expect_out("{{ .Discovery.kafka.url }}", "kafka-1:9092");
	expect_out("{{ .Discovery.kafka.instance }}", "k1");
	expect_out("{{ .Discovery.service.instance }}", "svc");
	expect_out("{{ .Discovery.analytics.kafka.kafka.url }}", "deep:9092");
	expect_out("{{ index .Discovery \"analytics\" \"kafka\" \"kafka\" \"url\" }}", "deep:9092");
	expect_out("{{ index .Discovery.analytics.kafka \"kafka\" \"url\" }}", "deep:9092");
}

Test(template, discovery_overlay_shadows_tree)
{
	/* "instance" is in both; the overlay wins and len counts it once. */
	expect_out("{{ .Discovery.instance }}", "web-1");
	expect_out("{{ len .Discovery }}", "5");
}

Test(template, discovery_map_is_not_a_value)
{
	expect_err("{{ .Discovery.kafka }}", false, "discovery value at .Discovery.kafka is a map, not a value", NULL);
	expect_err("{{ .Discovery.kafka.url.x }}", false,
		   "discovery value at .Discovery.kafka.url is a value, not a map", NULL);
	expect_err("{{ index .Discovery \"kafka\" \"nope\" }}", false, "no discovery value 'nope'", NULL);
}

Test(template, dnode_get_scans_entries_then_fallback)
{
	struct dnode *base = dmap("a", dleaf("base-a"), "b", dleaf("base-b"), NULL);
	struct dnode *top = dmap("a", dleaf("top-a"), NULL);
	top->fallback = base;
	cr_expect_str_eq(dnode_get(top, I("a"))->text, "top-a");
	cr_expect_str_eq(dnode_get(top, I("b"))->text, "base-b");
	cr_expect_null(dnode_get(top, I("c")));
	cr_expect_null(dnode_get(NULL, I("a")));
}

/* ---- the supported subset ---- */

Test(template, if_else_chains)
{
	const char *t = "{{ if eq .Labels.tagname \"x\" }}x{{ else if eq .Labels.tagname \"tagvalue\" }}tv"
			"{{ else }}other{{ end }}";
	expect_out(t, "tv");
	expect_out("{{ if .Labels.missing }}a{{ else }}b{{ end }}", "b");
	expect_out("{{ if .Labels.empty }}a{{ else if 0 }}b{{ else if true }}c{{ end }}", "c");
	expect_out("{{ if false }}a{{ end }}-", "-");
	expect_out("{{ if 1 }}{{ if .User.Name }}in{{ else }}no{{ end }}{{ end }}", "in");
	expect_out("{{ if and .Labels.tagname (not .Labels.empty) }}ok{{ end }}", "ok");
	expect_out("{{ or .Labels.empty .Labels.missing \"last\" }}", "last");
	expect_out("{{ and .Labels.tagname .Labels.cluster }}", "cluster-us-east");
	expect_out("{{ if ne .Labels.replicas \"3\" }}a{{ else }}b{{ end }}", "b");
	expect_out("{{ eq .Labels.tagname \"a\" \"b\" \"tagvalue\" }}", "true");
}

Test(template, printf_verbs)
{
	expect_out("{{ printf \"%d-%v-%q-%%\" 42 true .Labels.tagname }}", "42-true-\"tagvalue\"-%");
	expect_out("{{ printf \"%s\" 5 }}", "%!s(int=5)");
	expect_out("{{ printf \"%s %s\" \"a\" }}", "a %!s(MISSING)");
	expect_out("{{ printf \"x\" \"a\" 1 }}", "x%!(EXTRA string=a, int=1)");
	expect_out("{{ printf \"%q\" \"a\\\"b\\n\" }}", "\"a\\\"b\\n\"");
	expect_err("{{ printf \"%s\" .Labels.nope }}", false, "no label 'nope'", NULL);
}

Test(template, pipelines_pass_value_last)
{
	expect_out("{{ .Labels.tagname | printf \"%s-x\" }}", "tagvalue-x");
	expect_out("{{ \"a-b-c\" | replace \"-\" \"_\" | upper }}", "A_B_C");
	expect_out("{{ .User.Labels.team | replace \"_\" \"-\" }}", "platform-services");
	expect_out("{{ \"  Mixed Case  \" | trim | lower }}", "mixed case");
	expect_out("{{ printf \"%s/%s\" (lower \"AB\") (.Labels.tagname | upper) }}", "ab/TAGVALUE");
	expect_out("{{ replace \"\" \"-\" \"ab\" }}", "-a-b-");
	expect_out("{{ len \"abc\" | printf \"%d\" }}", "3");
	expect_out("{{ print 1 2 \"a\" 3 }}", "1 2a3");
	expect_err("{{ .Labels.a | .Labels.b }}", true, "non executable command in pipeline stage 2", NULL);
	expect_err("{{ .Labels.a \"x\" }}", true, "can't give argument to non-function", NULL);
}

Test(template, trim_markers_remove_spaces)
{
	expect_out("a  {{- .Labels.tagname -}}  \n b", "atagvalueb");
	expect_out("a {{- \"x\" }} b", "ax b");
	expect_out("a {{ \"x\" -}} \n\tb", "a xb");
	expect_out("a {{- /* note */ -}} b", "ab");
	expect_out("a{{/* comment {{ }} */}}b", "ab");
	expect_out("{{-3}}", "-3");
}

Test(template, literals)
{
	expect_out("{{ \"q\\\"\\\\\\t\\x41\\u00e9\" }}", "q\"\\\tA\xc3\xa9");
	expect_out("{{ `raw\\n` }}", "raw\\n");
	expect_out("{{ 0x1f }} {{ -7 }} {{ true }} {{ false }}", "31 -7 true false");
	expect_err("{{ 1.5 }}", true, "floating-point", NULL);
	expect_err("{{ \"unterminated }}", true, "unterminated quoted string", NULL);
	expect_err("{{ \"\\q\" }}", true, "invalid escape", NULL);
}

Test(template, user_fields)
{
	expect_out("{{ .User.Name }}/{{ index .User.Labels \"team\" }}", "Alice/platform_services");
	expect_out("{{ index .User.Secrets \"appKey\" }}", "Alice_appKey");
	scope.user_name = NULL;
	expect_err("{{ .User.Name }}", false, "no user name", NULL);
	expect_err("{{ .User.Name.x }}", false, "can't evaluate field x", NULL);
	expect_err("{{ .Labels.tagname.x }}", false, "can't evaluate field x in type string", NULL);
	expect_err("{{ .Labels }}", false, ".Labels is a map, not a value", NULL);
}

Test(template, index_with_computed_key)
{
	expect_out("{{ index .Labels (printf \"tag%s\" \"name\") }}", "tagvalue");
	expect_err("{{ index .Labels (printf \"never%s\" \"interned\") }}", false, "no label 'neverinterned'", NULL);
	expect_err("{{ index .Labels 3 }}", false, "should be string", NULL);
	expect_err("{{ index .Labels.tagname \"x\" }}", false, "can't index item of type string", NULL);
}

Test(template, comparison_type_errors)
{
	expect_err("{{ eq .Labels.replicas 3 }}", false, "incompatible types for comparison", NULL);
	expect_out("{{ eq .Labels.missing \"x\" }}", "false");
	expect_err("{{ eq .Labels .Labels }}", false, "non-comparable", NULL);
	expect_err("{{ len 3 }}", false, "len of type int", NULL);
}

Test(template, compile_errors)
{
	expect_err("{{ if true }}a", true, "missing {{end}}", NULL);
	expect_err("a{{ end }}", true, "unexpected {{end}}", NULL);
	expect_err("{{ else }}", true, "unexpected {{else}}", NULL);
	expect_err("{{ if 1 }}{{ else }}{{ else }}{{ end }}", true, "expected {{end}}; found {{else}}", NULL);
	expect_err("{{ }}", true, "missing value for command", NULL);
	expect_err("{{ range .Labels }}{{ end }}", true, "{{range}} is not supported", NULL);
	expect_err("{{ $x := 1 }}", true, "variables are not supported", NULL);
	expect_err("{{ (lower \"a\" }}", true, "unclosed left paren", NULL);
	expect_err("{{ lower \"a\") }}", true, "unexpected right paren", NULL);
	expect_err("{{ /* x */ }}", true, NULL, NULL);
	expect_err("{{/* x */ x }}", true, "comment ends before closing delimiter", NULL);
	expect_err("{{ @ }}", true, "unrecognized character in action: '@'", NULL);
}

Test(template, constant_text_is_copied)
{
	struct template *t;
	struct error err = ERROR_INIT;
	cr_assert_eq(template_compile(&t, in, "plain text } {", &err), 0);
	cr_expect(template_is_constant(t));
	cr_expect_str_eq(template_text(t), "plain text } {");
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "pre:");
	cr_assert_eq(template_render(t, &scope, &sb, &err), 0);
	cr_expect_str_eq(sb.buf, "pre:plain text } {");
	template_free(t);
	cr_assert_eq(template_compile(&t, in, "a{{/* c */}}", &err), 0);
	cr_expect_not(template_is_constant(t));
	template_free(t);
	strbuf_release(&sb);
}

Test(template, render_appends_and_rolls_back_on_error)
{
	struct template *good, *bad;
	struct error err = ERROR_INIT;
	cr_assert_eq(template_compile(&good, in, "prefix-{{ .Labels.LBmNEqKs08 }}-suffix", &err), 0);
	cr_assert_eq(template_compile(&bad, in, "x-{{ .Labels.tagname }}-{{ .Labels.nope }}", &err), 0);
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 3; i++) {
		strbuf_reset(&sb);
		cr_assert_eq(template_render(good, &scope, &sb, &err), 0);
		cr_expect_str_eq(sb.buf, "prefix-bench-suffix");
	}
	size_t cap = sb.cap;
	cr_expect_eq(template_render(bad, &scope, &sb, &err), -1);
	cr_expect_str_eq(sb.buf, "prefix-bench-suffix", "a failed render leaves out as it was");
	cr_expect(strstr(error_msg(&err), "no label 'nope' (.Labels.nope)") != NULL, "%s", error_msg(&err));
	cr_expect_eq(sb.cap, cap);
	error_clear(&err);
	template_free(good);
	template_free(bad);
	strbuf_release(&sb);
}

Test(template, large_intermediate_strings_use_heap_scratch)
{
	/* More than the on-stack scratch space, through several functions. */
	char text[4096];
	char big[1500];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), "{{ printf \"%%s%%s\" \"%s\" \"%s\" | upper | len }}", big, big);
	expect_out(text, "2998");
}

Test(template, deep_nesting_is_refused)
{
	char text[2048] = "{{ ";
	for (int i = 0; i < 100; i++)
		strcat(text, "(");
	strcat(text, "1");
	for (int i = 0; i < 100; i++)
		strcat(text, ")");
	strcat(text, " }}");
	expect_err(text, true, "nested too deeply", NULL);
	strcpy(text, "{{ \"a\"");
	for (int i = 0; i < 100; i++)
		strcat(text, " | lower");
	strcat(text, " }}");
	expect_err(text, true, "nested too deeply", NULL);
}

Test(template, runaway_replace_is_refused)
{
	expect_err("{{ \"abcdefgh\" | replace \"\" \"0123456789abcdef\" | replace \"\" \"0123456789abcdef\""
		   " | replace \"\" \"0123456789abcdef\" | replace \"\" \"0123456789abcdef\" | replace \"\" \"x\" }}",
		   false, "result of replace is longer than", NULL);
}

/* cairn's .Data: markers the docker driver replaces once it has chosen the
 * prepared snapshot of the service instance's data component. */
Test(template, data_renders_markers_for_the_driver)
{
	expect_out("shop-app:{{ .Data.build }}", "shop-app:" TEMPLATE_DATA_BUILD);
	expect_out("{{ .Data.snapshot }} of {{ .Data.dataset }}",
		   TEMPLATE_DATA_SNAPSHOT " of " TEMPLATE_DATA_DATASET);
	expect_err("{{ .Data.version }}", false, "no field version in .Data", "build, snapshot and dataset");
	expect_err("{{ .Data.build.x }}", false, "can't evaluate field x", NULL);
}
