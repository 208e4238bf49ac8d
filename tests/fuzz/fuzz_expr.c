/* libFuzzer target for criteria expressions: compiles arbitrary text and
 * evaluates it against a fixed label set (typed ints, bools, strings, a name
 * with a dash) with and without the service struct. Checks that results are
 * 1, 0 or -1, that every failure carries a message and that evaluation is
 * repeatable. */
#include "policy/expr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void eval_checked(const struct expr *e, const struct expr_env *env)
{
	struct error err = ERROR_INIT;
	int rc = expr_eval(e, env, &err);
	check(rc == 1 || rc == 0 || rc == -1);
	check((rc < 0) == (err.msg != NULL));
	struct error again = ERROR_INIT;
	check(expr_eval(e, env, &again) == rc);
	error_clear(&err);
	error_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A fresh pool per input, so names interned by the fuzzer do not pile up. */
	struct intern *in = intern_new();
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	static const char *const kv[] = {
		"foo", "10", "n", "007", "neg", "-3", "bar", "true", "anotherbar", "t", "a", "valueOfA",
		"org", "dev", "branch", "feature/login", "dash-name", "x", "dash", "5", "name", "3",
		"empty", "", "service", "web", "big", "99999999999999999999",
	};
	struct labels labels = LABELS_INIT, svc_labels = LABELS_INIT;
	for (size_t i = 0; i < sizeof(kv) / sizeof(*kv); i += 2)
		labels_set(&labels, intern_cstr(in, kv[i]), intern_cstr(in, kv[i + 1]));
	labels_set(&svc_labels, intern_cstr(in, "Name"), intern_cstr(in, "Value"));
	labels_set(&svc_labels, intern_cstr(in, "type"), intern_cstr(in, "analytics"));
	struct expr_service svc = { .name = "myservicename", .ns = "main", .labels = &svc_labels };
	struct expr_env with_service = { .labels = &labels, .service = &svc };
	struct expr_env without_service = { .labels = &labels, .service = NULL };

	struct expr *e = NULL;
	struct error err = ERROR_INIT;
	/* Text with a NUL inside is cut there, as a C string would be. */
	if (expr_compile(&e, in, text, &err) == 0) {
		check(e != NULL && err.msg == NULL && strcmp(expr_text(e), text) == 0);
		eval_checked(e, &with_service);
		eval_checked(e, &without_service);
		expr_free(e);
	} else {
		check(e == NULL && err.msg != NULL);
		check(strncmp(err.msg, "unable to compile expression '", 30) == 0);
	}
	error_clear(&err);
	labels_release(&labels);
	labels_release(&svc_labels);
	free(text);
	intern_free(in);
	return 0;
}
