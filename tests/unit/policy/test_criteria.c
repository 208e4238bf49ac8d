/* Criteria (require-all, require-none, require-any): every case of Aptomi's
 * contract tests (reference §2.3, with their parameters) and the order of
 * evaluation of §1.3. */
#include "policy/expr.h"
#include "policy/template.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct intern *in;

static void setup(void)
{
	in = intern_new();
}

static void teardown(void)
{
	intern_free(in);
}

TestSuite(criteria, .init = setup, .fini = teardown);

static struct expr **compile_list(const char *const *texts, size_t *n)
{
	*n = 0;
	while (texts && texts[*n])
		(*n)++;
	if (*n == 0)
		return NULL;
	struct expr **list = xcalloc(*n, sizeof(*list));
	for (size_t i = 0; i < *n; i++) {
		struct error err = ERROR_INIT;
		cr_assert_eq(expr_compile(&list[i], in, texts[i], &err), 0, "'%s': %s", texts[i], error_msg(&err));
	}
	return list;
}

/* Heap-owned criteria, as the policy loader builds them; criteria_free() frees all. */
static struct criteria *make(const char *const *all, const char *const *any, const char *const *none)
{
	struct criteria *c = xcalloc(1, sizeof(*c));
	c->all = compile_list(all, &c->nall);
	c->any = compile_list(any, &c->nany);
	c->none = compile_list(none, &c->nnone);
	return c;
}

/* Labels from "k1", "v1", ..., NULL. */
static struct labels make_labels(const char *const *kv)
{
	struct labels ls = LABELS_INIT;
	for (size_t i = 0; kv && kv[i]; i += 2)
		labels_set(&ls, intern_cstr(in, kv[i]), intern_cstr(in, kv[i + 1]));
	return ls;
}

/* Evaluates c against the labels, twice (Aptomi runs each case with and
 * without its cache; both must agree). */
static int allows(const struct criteria *c, const char *const *kv, const struct expr_service *svc)
{
	struct labels ls = make_labels(kv);
	struct expr_env env = { .labels = &ls, .service = svc };
	struct error err = ERROR_INIT;
	int rc = criteria_eval(c, &env, &err);
	struct error again = ERROR_INIT;
	cr_expect_eq(criteria_eval(c, &env, &again), rc, "a second evaluation must agree");
	if (rc < 0)
		cr_expect_not_null(err.msg);
	else
		cr_expect_null(err.msg, "no message on success: %s", err.msg);
	error_clear(&err);
	error_clear(&again);
	labels_release(&ls);
	return rc;
}

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

Test(criteria, service_context_matching)
{
	struct criteria *c = make(LIST("dev == 'no' && prod == 'yes' && priority >= 200"),
				  LIST("priority > 0", "prod == 'yes'", "dev == 'no'"), NULL);
	cr_expect_eq(allows(c, LIST("dev", "no", "prod", "yes", "priority", "200"), NULL), 1);
	/* Aptomi adds an unrelated struct parameter here; the service struct stands in. */
	struct expr_service pname = { .name = "pvalue", .ns = "main", .labels = NULL };
	cr_expect_eq(allows(c, LIST("dev", "yes", "prod", "no", "priority", "500"), &pname), 0);
	cr_expect_eq(allows(c, LIST("dev", "no", "prod", "yes", "priority", "10"), NULL), 0);
	criteria_free(c);
}

Test(criteria, require_any_fails)
{
	struct criteria *c = make(LIST("true"),
				  LIST("never1 == 'unbeliveable_value_1'", "never2 == 'unbeliveable_value_2'",
				       "never3 == 'unbeliveable_value_3'"),
				  LIST("false"));
	cr_expect_eq(allows(c, LIST("never1", "a1", "never2", "a2"), NULL), 0);
	criteria_free(c);
}

Test(criteria, require_none)
{
	struct criteria *c = make(LIST("true"), LIST("true"), LIST("x == 'y'", "bad == 'badvalue'"));
	cr_expect_eq(allows(c, NULL, NULL), 1);
	cr_expect_eq(allows(c, LIST("bad", "badvalue"), NULL), 0);
	criteria_free(c);
}

Test(criteria, require_any_empty)
{
	struct criteria *c = make(LIST("specialname == 'specialvalue'"), NULL, LIST("false"));
	cr_expect_eq(allows(c, LIST("specialname", "specialvalue"), NULL), 1);
	cr_expect_eq(allows(c, LIST("specialname", "other"), NULL), 0);
	criteria_free(c);
}

Test(criteria, empty_criteria_allow)
{
	cr_expect_eq(allows(NULL, LIST("somename", "somevalue"), NULL), 1);
	struct criteria *c = make(NULL, NULL, NULL);
	cr_expect_eq(allows(c, LIST("somename", "somevalue"), NULL), 1);
	criteria_free(c);
	criteria_free(NULL);
}

/* Aptomi compiles lazily, so these fail at Matches; cairn compiles when the
 * policy loads, so the same texts fail there, with the column. */
Test(criteria, invalid_criteria_do_not_compile)
{
	const char *const texts[] = { "specialname + '123')(((", "specialname + '456')(((", "specialname + '789')(((" };
	for (size_t i = 0; i < 3; i++) {
		struct expr *x = NULL;
		struct error err = ERROR_INIT;
		cr_expect_eq(expr_compile(&x, in, texts[i], &err), -1);
		cr_expect_null(x);
		struct strbuf want = STRBUF_INIT;
		strbuf_addf(&want, "unable to compile expression '%s': column 20: unexpected ')' after the expression",
			    texts[i]);
		cr_expect_str_eq(error_msg(&err), want.buf);
		strbuf_release(&want);
		error_clear(&err);
	}
}

/* The key half of §2.3 ContextKeyResolution is a template; the template
 * tests own it, this checks the allocation's criteria beside it. */
Test(criteria, context_key_resolution)
{
	struct criteria *c = make(LIST("true"), NULL, NULL);
	cr_expect_eq(allows(c, NULL, NULL), 1);
	criteria_free(c);

	struct template *t = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(template_compile(&t, in, "{{.User.Name}}", &err), 0, "%s", error_msg(&err));
	struct labels none = LABELS_INIT;
	struct template_scope scope = { .labels = &none, .user_name = "actualvalue", .user_labels = &none };
	struct strbuf out = STRBUF_INIT;
	cr_expect_eq(template_render(t, &scope, &out, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(strbuf_cstr(&out), "actualvalue");
	strbuf_reset(&out);
	scope.user_name = NULL; /* a user without a name */
	cr_expect_lt(template_render(t, &scope, &out, &err), 0);
	cr_expect_not_null(err.msg);
	error_clear(&err);
	strbuf_release(&out);
	template_free(t);
}

/* Each error names its clause; the reference's misspelling is not copied. */
Test(criteria, errors_name_the_clause)
{
	const char *const bad = "a > 5";
	struct {
		struct criteria *c;
		const char *clause;
	} cases[] = {
		{ make(LIST(bad), NULL, NULL), "require-all" },
		{ make(NULL, LIST(bad), NULL), "require-any" },
		{ make(NULL, NULL, LIST(bad)), "require-none" },
	};
	struct labels ls = make_labels(LIST("a", "x"));
	struct expr_env env = { .labels = &ls };
	for (size_t i = 0; i < 3; i++) {
		struct error err = ERROR_INIT;
		cr_expect_eq(criteria_eval(cases[i].c, &env, &err), -1);
		struct strbuf want = STRBUF_INIT;
		strbuf_addf(&want,
			    "can't evaluate '%s' in criteria: unable to evaluate expression 'a > 5': cannot compare string and number",
			    cases[i].clause);
		cr_expect_str_eq(error_msg(&err), want.buf);
		strbuf_release(&want);
		error_clear(&err);
		criteria_free(cases[i].c);
	}
	labels_release(&ls);
}

/* §1.3: all first (the first false stops), then none, then any, each in list order. */
Test(criteria, evaluation_order_short_circuits)
{
	struct criteria *c = make(LIST("false", "a > 5"), LIST("a > 5"), LIST("a > 5"));
	cr_expect_eq(allows(c, LIST("a", "x"), NULL), 0, "a false require-all stops before any error");
	criteria_free(c);

	c = make(LIST("true"), LIST("a > 5"), LIST("true", "a > 5"));
	cr_expect_eq(allows(c, LIST("a", "x"), NULL), 0, "a true require-none stops before require-any");
	criteria_free(c);

	c = make(NULL, LIST("missing == 1", "true", "a > 5"), NULL);
	cr_expect_eq(allows(c, LIST("a", "x"), NULL), 1, "the first true require-any stops");
	criteria_free(c);

	c = make(NULL, LIST("missing == 1", "false"), NULL);
	cr_expect_eq(allows(c, NULL, NULL), 0);
	criteria_free(c);
}
