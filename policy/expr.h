/* Expressions of criteria (Aptomi's govaluate dialect plus matches()):
 * compiled once, evaluated many times against a label set. A missing label
 * makes the whole expression false, never an error. */
#ifndef CAIRN_EXPR_H
#define CAIRN_EXPR_H

#include "base/error.h"
#include "base/intern.h"
#include "labels.h"

#include <stddef.h>

struct expr;

/* What `service.Name`, `service.Namespace` and `service.Labels.x` read (rule
 * criteria only; NULL elsewhere). */
struct expr_service {
	const char *name;
	const char *ns;
	const struct labels *labels;
};

struct expr_env {
	const struct labels *labels;
	const struct expr_service *service;
};

/* Compiles text. On error returns -1 with a message such as
 * "unable to compile expression 'a ==': column 5: expected an operand". */
int expr_compile(struct expr **out, struct intern *in, const char *text, struct error *err);
void expr_free(struct expr *e);
const char *expr_text(const struct expr *e);

/* 1 true, 0 false (including "a label was missing"), -1 error (type error,
 * result not boolean, in() with no arguments). */
int expr_eval(const struct expr *e, const struct expr_env *env, struct error *err);

/* require-all / require-any / require-none, each a list of compiled expressions. */
struct criteria {
	struct expr **all, **any, **none;
	size_t nall, nany, nnone;
};

/* Aptomi's `allows`: every all true, no none true, and one any true when any
 * is not empty. NULL criteria allow. 1 allows, 0 not, -1 error naming the clause. */
int criteria_eval(const struct criteria *c, const struct expr_env *env, struct error *err);
void criteria_free(struct criteria *c);

#endif
