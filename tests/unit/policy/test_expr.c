/* Criteria expressions: every case of Aptomi's expression tests (reference
 * §2.1, with its parameters), the probe results of §1.3, and cairn's own
 * additions (matches(), bracketed names, error columns). */
#include "policy/expr.h"

#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct intern *in;
static struct labels labels, svc_labels;
static struct expr_service svc;
static struct expr_env env;

static void set(struct labels *ls, const char *k, const char *v)
{
	labels_set(ls, intern_cstr(in, k), intern_cstr(in, v));
}

/* §2.1's parameters: foo="10", unusedLabel="3", a="valueOfA", bar="true",
 * anotherbar="t", and service{Name:"myservicename", Labels{"Name":"Value"}}. */
static void setup(void)
{
	in = intern_new();
	labels = (struct labels)LABELS_INIT;
	svc_labels = (struct labels)LABELS_INIT;
	set(&labels, "foo", "10");
	set(&labels, "unusedLabel", "3");
	set(&labels, "a", "valueOfA");
	set(&labels, "bar", "true");
	set(&labels, "anotherbar", "t");
	set(&svc_labels, "Name", "Value");
	svc = (struct expr_service){ .name = "myservicename", .ns = "main", .labels = &svc_labels };
	env = (struct expr_env){ .labels = &labels, .service = &svc };
}

static void teardown(void)
{
	labels_release(&labels);
	labels_release(&svc_labels);
	intern_free(in);
}

TestSuite(expr, .init = setup, .fini = teardown);

/* Compiles and evaluates text against env, 10 times as Aptomi's cache test
 * does; every run must agree. Returns 1/0/-1, or -2 when it does not compile.
 * The message of a failure lands in msg (NULL when none is wanted). */
static int run_env(const char *text, const struct expr_env *e, char **msg)
{
	struct error err = ERROR_INIT;
	struct expr *x = NULL;
	int rc;
	if (expr_compile(&x, in, text, &err) < 0) {
		cr_assert_null(x, "a failed compile leaves no expression");
		cr_assert_not_null(err.msg, "a failed compile says why");
		rc = -2;
	} else {
		cr_assert_str_eq(expr_text(x), text);
		rc = expr_eval(x, e, &err);
		for (int i = 0; i < 9; i++) {
			struct error again = ERROR_INIT;
			cr_assert_eq(expr_eval(x, e, &again), rc, "'%s' changed its result on run %d", text, i + 2);
			error_clear(&again);
		}
		if (rc < 0)
			cr_assert_not_null(err.msg, "a failed evaluation says why");
		expr_free(x);
	}
	if (msg)
		*msg = err.msg ? strdup(err.msg) : NULL;
	error_clear(&err);
	return rc;
}

static int run(const char *text)
{
	return run_env(text, &env, NULL);
}

static void expect_all(const char *const *texts, int want)
{
	static const char *const what[] = { "a compile error", "an evaluation error", "false", "true" };
	for (size_t i = 0; texts[i]; i++) {
		int got = run(texts[i]);
		cr_expect_eq(got, want, "'%s' should give %s, got %s", texts[i], what[want + 2], what[got + 2]);
	}
}

static void expect_message(const char *text, const struct expr_env *e, const char *want)
{
	char *msg = NULL;
	int rc = run_env(text, e, &msg);
	cr_assert_lt(rc, 0, "'%s' should fail", text);
	cr_expect_str_eq(msg, want);
	free(msg);
}

/* ---- §2.1, row by row ---- */

Test(expr, conformance_true)
{
	expect_all((const char *[]){ "anotherbar == true", "anotherbar", "bar == true", "bar", "foo > 5",
				     "a == 'valueOfA'", "foo > 5 && a == 'valueOfA'", NULL },
		   1);
}

Test(expr, conformance_false)
{
	expect_all((const char *[]){ "anotherbar == 'p'", "'A' + 'B' == 5", NULL }, 0);
}

Test(expr, conformance_in_true)
{
	expect_all((const char *[]){ "in(a, 'valueOfC', 'valueOfB', 'valueOfA')", "in(foo, 10, 20, 30)", NULL },
		   1);
}

Test(expr, conformance_in_false)
{
	expect_all((const char *[]){ "in(a, 'valueOfX', 'valueOfY', 'valueOfZ')", "in(5)", NULL }, 0);
}

Test(expr, conformance_in_trailing_comma_does_not_compile)
{
	expect_message("in(a, )", &env, "unable to compile expression 'in(a, )': column 7: expected an operand, found ')'");
}

Test(expr, conformance_in_without_arguments_fails_at_evaluation)
{
	expect_message("in()", &env, "unable to evaluate expression 'in()': in() needs at least one argument");
}

Test(expr, conformance_missing_label_is_false)
{
	expect_all((const char *[]){ "foo > 5 && missingLabel == 'requiredValue'", "foo > 5 && missingLabel == 239",
				     NULL },
		   0);
}

Test(expr, conformance_typed_labels_are_not_strings)
{
	expect_all((const char *[]){ "foo == '10'", "anotherbar == 't'", NULL }, 0);
}

Test(expr, conformance_service_struct_true)
{
	expect_all((const char *[]){ "service.Name == 'myservicename'", "service.Labels.Name + 'B' == 'ValueB'", NULL },
		   1);
}

Test(expr, conformance_service_struct_false)
{
	expect_all((const char *[]){ "service.Name == 'incorrectservicename'",
				     "serviceMissing.LabelsMissing.Name + 'B' == 'ValueB'", NULL },
		   0);
}

Test(expr, conformance_concatenation_compared_with_number_fails)
{
	expect_message("foo + 10 + 'test' > 0", &env,
		       "unable to evaluate expression 'foo + 10 + 'test' > 0': cannot compare string and number");
}

Test(expr, conformance_string_result_is_not_boolean)
{
	expect_message("'a' + 'b' + bar", &env, "expression ''a' + 'b' + bar' didn't evaluate to boolean");
}

Test(expr, conformance_unclosed_parenthesis_does_not_compile)
{
	expect_message("(5 + 10 > 9", &env,
		       "unable to compile expression '(5 + 10 > 9': column 12: expected ')' to close '(' at column 1, found the end");
}

/* ---- §1.3 probes ---- */

Test(expr, missing_label_anywhere_makes_false)
{
	expect_all((const char *[]){ "missing == 1 || true", "!(missing == 1)", "service.Labels.missing == 'x'",
				     "missing ?? true", "in(a, 'valueOfA', missing)", "TRUE", "True", NULL },
		   0);
}

Test(expr, short_circuit_skips_missing_labels)
{
	expect_all((const char *[]){ "true || missing == 1", "!(false && missing == 1)", "true ? true : missing",
				     "false ? missing : true", NULL },
		   1);
}

Test(expr, number_literal_forms)
{
	expect_all((const char *[]){ "0x0A == 10", "1e1 == 10", "1.2.3 == 1", NULL }, -2);
	expect_all((const char *[]){ "1.5 * 2 == 3", "5 == 5.0", "1. == 1", NULL }, 1);
}

Test(expr, compile_error_names_the_column)
{
	expect_message("a ==", &env, "unable to compile expression 'a ==': column 5: expected an operand");
	expect_message("", &env, "unable to compile expression '': column 1: expected an operand");
	expect_message("a == 'x' b", &env,
		       "unable to compile expression 'a == 'x' b': column 10: unexpected 'b' after the expression");
	expect_message("1e1", &env, "unable to compile expression '1e1': column 2: unexpected 'e1' after the expression");
	expect_message("a = 1", &env, "unable to compile expression 'a = 1': column 3: unexpected character '='");
	expect_message("a == 'x", &env, "unable to compile expression 'a == 'x': column 6: unclosed string literal");
	expect_message("foo(1)", &env, "unable to compile expression 'foo(1)': column 1: unknown function 'foo'");
	expect_message("a. == 1", &env, "unable to compile expression 'a. == 1': column 2: expected a name after '.'");
	expect_message("[a == 1", &env, "unable to compile expression '[a == 1': column 1: unclosed '['");
	expect_message("[] == 1", &env, "unable to compile expression '[] == 1': column 1: empty name in brackets");
	expect_message("true ? 1", &env,
		       "unable to compile expression 'true ? 1': column 9: expected ':' for the '?' at column 6, found the end");
	expect_message("in(a b)", &env,
		       "unable to compile expression 'in(a b)': column 6: expected ',' or ')' in the arguments of in(), found 'b'");
	/* govaluate has method calls; cairn's expressions do not. */
	cr_expect_eq(run("service.GetName()"), -2);
}

Test(expr, nesting_is_bounded)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 5000; i++)
		strbuf_adds(&sb, "(");
	strbuf_adds(&sb, "true");
	for (int i = 0; i < 5000; i++)
		strbuf_adds(&sb, ")");
	char *msg = NULL;
	cr_expect_eq(run_env(sb.buf, &env, &msg), -2);
	cr_expect(strstr(msg, "too deeply nested") != NULL, "got: %s", msg);
	free(msg);

	strbuf_reset(&sb);
	strbuf_adds(&sb, "0");
	for (int i = 0; i < 5000; i++)
		strbuf_adds(&sb, " + 1");
	strbuf_adds(&sb, " == 5000");
	cr_expect_eq(run(sb.buf), -2, "a long chain builds a deep tree, refused rather than recursed into");

	strbuf_reset(&sb);
	strbuf_adds(&sb, "0");
	for (int i = 0; i < 200; i++)
		strbuf_adds(&sb, " + 1");
	strbuf_adds(&sb, " == 200");
	cr_expect_eq(run(sb.buf), 1);
	strbuf_release(&sb);
}

Test(expr, types_and_comparisons)
{
	expect_all((const char *[]){ "true == 'true'", "foo == 'ten'", "a != a", "'abd' < 'abc'", "'ab' > 'abc'", NULL },
		   0);
	expect_all((const char *[]){ "'abc' < 'abd'", "'abc' <= 'abc'", "'b' > 'abc'", "'abc' >= 'ab'", "foo >= 10",
				     "foo <= 10", "foo != 11", "a != 'x'", "true != 1", NULL },
		   1);
	expect_message("a > 5", &env, "unable to evaluate expression 'a > 5': cannot compare string and number");
	expect_message("bar < 1", &env, "unable to evaluate expression 'bar < 1': cannot compare bool and number");
	expect_message("1", &env, "expression '1' didn't evaluate to boolean");
	expect_message("'str'", &env, "expression ''str'' didn't evaluate to boolean");
	expect_message("a", &env, "expression 'a' didn't evaluate to boolean");
}

Test(expr, arithmetic_and_precedence)
{
	expect_all((const char *[]){ "2 + 3 * 4 == 14", "(2 + 3) * 4 == 20", "2 ** 3 == 8", "7 % 4 == 3",
				     "10 - 5 - 2 == 3", "8 / 2 / 2 == 2", "1 << 4 == 16", "256 >> 4 == 16",
				     "6 & 3 == 2", "6 | 3 == 7", "6 ^ 3 == 5", "~0 == -1", "-foo == -10",
				     "- -2 == 2", "!false", "!!true", "1 / 0 > 1000000", "foo - unusedLabel == 7",
				     "-8 >> 1 == -4", "1 << 64 == 0", NULL },
		   1);
	expect_message("a - 1 == 0", &env,
		       "unable to evaluate expression 'a - 1 == 0': operator '-' needs numbers, got string and number");
	expect_message("bar + 1 == 2", &env,
		       "unable to evaluate expression 'bar + 1 == 2': operator '+' needs numbers or a string, got bool and number");
	expect_message("!a", &env, "unable to evaluate expression '!a': operator '!' needs a bool, got string");
	expect_message("-a == 1", &env, "unable to evaluate expression '-a == 1': operator '-' needs a number, got string");
	expect_message("foo && true", &env,
		       "unable to evaluate expression 'foo && true': operator '&&' needs bools, got number and bool");
}

Test(expr, concatenation_formats_like_go)
{
	expect_all((const char *[]){ "'n' + foo == 'n10'", "'v' + 1.5 == 'v1.5'", "'x' + 1000000 == 'x1e+06'",
				     "'x' + 123456 == 'x123456'", "'x' + 0.0001 == 'x0.0001'", "'x' + 0.00001 == 'x1e-05'",
				     "bar + 'x' == 'truex'", "'' + '' == ''", "\"d\" + 'q' == 'dq'", NULL },
		   1);
}

Test(expr, long_concatenation_leaves_the_stack_buffer)
{
	char big[401];
	memset(big, 'x', 400);
	big[400] = '\0';
	set(&labels, "big", big);
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "big + big + big == '%s%s%s'", big, big, big);
	cr_expect_eq(run(sb.buf), 1);
	strbuf_reset(&sb);
	strbuf_addf(&sb, "big + big == '%s%sy'", big, big);
	cr_expect_eq(run(sb.buf), 0);
	strbuf_release(&sb);
}

Test(expr, ternary_and_coalescing)
{
	expect_all((const char *[]){ "foo > 5 ? a == 'valueOfA' : false", "(foo > 50 ? 'big' : 'small') == 'small'",
				     "(a ?? 'x') == 'valueOfA'", "false ? false : true ? true : false", NULL },
		   1);
	expect_message("a ? true : false", &env,
		       "unable to evaluate expression 'a ? true : false': the condition of '?' must be a bool, got string");
}

Test(expr, string_escapes)
{
	expect_all((const char *[]){ "'it\\'s' == \"it's\"", "'a\\\\b' + '' == \"a\\\\b\"", "'say \"hi\"' != ''",
				     NULL },
		   1);
}

Test(expr, label_typing)
{
	set(&labels, "n", "007");
	set(&labels, "neg", "-3");
	set(&labels, "flag", "t");
	set(&labels, "F", "False");
	set(&labels, "spaced", " 5");
	set(&labels, "one", "1");
	expect_all((const char *[]){ "n == 7", "n > 6", "neg == -3", "flag", "flag == true", "!F", "spaced == ' 5'",
				     "one == 1", NULL },
		   1);
	expect_all((const char *[]){ "n == '007'", "flag == 't'", "spaced == 5", "one == true", NULL }, 0);
}

Test(expr, bracketed_names)
{
	set(&labels, "dash-name", "x");
	set(&labels, "dash", "5");
	set(&labels, "name", "3");
	expect_all((const char *[]){ "[dash-name] == 'x'", "dash-name == 2", "[dash] - [name] == 2", "[a] == a", NULL }, 1);
	labels_remove(&labels, intern_cstr(in, "name"));
	cr_expect_eq(run("dash-name == 'x'"), 0, "unbracketed, it is a subtraction with a missing label");
}

Test(expr, service_struct)
{
	expect_all((const char *[]){ "service.Namespace == 'main'", "service.Labels.Name == 'Value'", NULL }, 1);
	/* Struct labels are not typed, and nothing else is reachable on it. */
	labels_set(&svc_labels, intern_cstr(in, "n"), intern_cstr(in, "5"));
	expect_all((const char *[]){ "service.Labels.n == 5", "service.Generation == 1", "service.Labels.Name.x == 1",
				     "service == 1", "a.b == 1", NULL },
		   0);
	cr_expect_eq(run("service.Labels.n == '5'"), 1);
}

Test(expr, missing_service_struct)
{
	struct expr_env no_service = { .labels = &labels, .service = NULL };
	cr_expect_eq(run_env("service.Name == 'myservicename'", &no_service, NULL), 0);
	cr_expect_eq(run_env("service.Namespace != 'x'", &no_service, NULL), 0);
	cr_expect_eq(run_env("service.Labels.Name == 'Value'", &no_service, NULL), 0);
	cr_expect_eq(run_env("a == 'valueOfA'", &no_service, NULL), 1);
	/* Without the struct, `service` is an ordinary label. */
	set(&labels, "service", "web");
	cr_expect_eq(run_env("service == 'web'", &no_service, NULL), 1);
	cr_expect_eq(run_env("service == 'web'", &env, NULL), 0);
	struct expr_env nothing = { 0 };
	cr_expect_eq(run_env("a == 'valueOfA'", &nothing, NULL), 0);
	cr_expect_eq(run_env("true", &nothing, NULL), 1);
}

Test(expr, matches_searches_with_pcre2)
{
	set(&labels, "branch", "feature/login");
	set(&labels, "ver", "007");
	expect_all((const char *[]){ "matches(branch, '^feature/')", "matches(branch, 'log')", "matches(ver, '^00')",
				     "matches(branch, '^(feature|fix)/\\\\w+$')", "branch =~ '^feature'", "branch !~ '^fix'",
				     "branch =~ a + '|login'", "!matches(branch, '^fix/')", NULL },
		   1);
	expect_all((const char *[]){ "matches(branch, '^fix/')", "matches(missing, '.')", "branch =~ '^fix'",
				     "matches(branch, '^FEATURE')", NULL },
		   0);
	expect_message("matches(foo + 1, '1')", &env,
		       "unable to evaluate expression 'matches(foo + 1, '1')': matches() needs a string, got number");
	expect_message("branch =~ 5", &env,
		       "unable to evaluate expression 'branch =~ 5': operator '=~' needs a string pattern, got number");
	expect_message("branch =~ a + '('", &env,
		       "unable to evaluate expression 'branch =~ a + '('': invalid regular expression 'valueOfA(': missing closing parenthesis at offset 9");
}

Test(expr, matches_compile_errors)
{
	expect_message("matches(branch, 'a(b')", &env,
		       "unable to compile expression 'matches(branch, 'a(b')': column 17: invalid regular expression 'a(b': missing closing parenthesis at offset 3");
	expect_message("x =~ '['", &env,
		       "unable to compile expression 'x =~ '['': column 6: invalid regular expression '[': missing terminating ] for character class at offset 1");
	expect_message("matches(branch, a)", &env,
		       "unable to compile expression 'matches(branch, a)': column 17: the pattern of matches() must be a string literal");
	expect_message("matches(branch)", &env,
		       "unable to compile expression 'matches(branch)': column 1: matches() takes a value and a pattern, got 1 argument");
}

Test(expr, free_and_text)
{
	expr_free(NULL);
	struct error err = ERROR_INIT;
	struct expr *x;
	cr_assert_eq(expr_compile(&x, in, "org == 'dev'", &err), 0);
	cr_expect_str_eq(expr_text(x), "org == 'dev'");
	expr_free(x);
}
