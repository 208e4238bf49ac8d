/* What `code.type: docker` takes and what a docker cluster's config takes.
 * The language keeps code params free-form (Aptomi's are); these checks run
 * on objects being applied, so a mistake is refused with its file and line
 * before anything is stored. The value parsers are shared with the driver,
 * which applies them to rendered values. */
#ifndef CAIRN_DOCKER_PARAMS_H
#define CAIRN_DOCKER_PARAMS_H

#include "policy.h"

#include <stdbool.h>
#include <stdint.h>

/* Checks a service's docker components (known keys with the nearest one as a
 * hint, value types of constants, secrets only in env) or a docker cluster's
 * config. Other objects pass. Errors go to diags as
 * "file:line:col: service main/s: component c: params: …"; -1 if any. */
int docker_check_object(const struct policy *p, const struct object *o, struct diags *diags);

/* "no", "always", "unless-stopped", "on-failure" or "on-failure:N". */
bool docker_restart_valid(const char *s);

/* Whether s is a host name: dot-separated DNS labels of [a-z0-9-] (lower
 * case, not starting or ending in '-'), each at most 63 characters, at most
 * 253 in all. */
bool docker_host_valid(const char *s);

#endif
