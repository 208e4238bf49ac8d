/* What the checks of code params and cluster config share (docker_params.c,
 * process_params.c): an error sink with the object's prefix, unknown keys
 * with the nearest known one as a hint, and reading constant scalars out of
 * params whose strings are templates. Internal to the policy module. */
#ifndef CAIRN_PARAMS_CHECK_H
#define CAIRN_PARAMS_CHECK_H

#include "policy.h"

#include <stdbool.h>
#include <stddef.h>

struct param_check {
	struct diags *diags;
	const char *prefix; /* "service main/s: component 'c': params: " */
	int errors;
};

void pc_error(struct param_check *c, struct pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Each key of map that known lacks is an error "unknown WHAT key 'k'", with
 * "(did you mean 'x'?)" when one is close. */
void pc_keys(struct param_check *c, const struct pnode *map, const char *const *known,
	     size_t nknown, const char *what);
void pc_ykeys(struct param_check *c, const struct ynode *map, const char *const *known,
	      size_t nknown, const char *what);

const struct pnode *pc_get(const struct pnode *map, const char *key);
bool pc_is_scalar(const struct pnode *n);
/* "a mapping", "a list", "null" or "a scalar", for messages. */
const char *pc_shape(const struct pnode *n);
/* The text of a constant scalar (in buf when it is a number), or NULL for a
 * template (known only when rendered) or a non-scalar. */
const char *pc_constant_text(const struct pnode *n, char *buf, size_t size);
/* An absolute path that can be written into a config file or a command line
 * as it is: letters, digits and / . _ - + @ only (no space, quote, ';',
 * braces or '#' to end a directive or start another). */
bool pc_safe_path(const char *s);
/* Errors wherever n reads .User.Secrets: secrets may only go to env. */
void pc_no_secrets(struct param_check *c, const struct pnode *n, const char *key);

typedef void (*pc_params_fn)(struct param_check *c, const struct pnode *params,
			     struct pos code_pos);
typedef void (*pc_cluster_fn)(struct param_check *c, const struct cluster *cl);
/* Runs params_fn on the params of every component of service o whose code
 * type is code_type, and cluster_fn on cluster o when its type is
 * cluster_type. Errors go to diags; -1 when there was any. */
int pc_check_object(const struct policy *p, const struct object *o, struct diags *diags,
		    const char *code_type, pc_params_fn params_fn, const char *cluster_type,
		    pc_cluster_fn cluster_fn);

#endif
