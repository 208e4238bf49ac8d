/* What `code.type: process` takes and what an ssh cluster's config takes
 * (the ssh driver runs them). Like docker_params.h: checked on objects being
 * applied, so a mistake is refused with its file:line:col and the nearest
 * known key before anything is stored; templates are checked by the driver
 * once rendered. */
#ifndef CAIRN_PROCESS_PARAMS_H
#define CAIRN_PROCESS_PARAMS_H

#include "policy.h"

/* Checks a service's process components (known keys, value shapes and
 * constants, secrets only in env) or an ssh cluster's config. Other objects
 * pass. Errors go to diags as "file:line:col: service main/s: component 'c':
 * params: …"; -1 if any. */
int process_check_object(const struct policy *p, const struct object *o, struct diags *diags);

/* 1..99, the share of a canary; -1 otherwise. */
int process_parse_percent(const char *s, int *out);

#endif
