/* Host-name routing through nginx on the engine's host: one server block per
 * exposed container (its cairn.host label) proxying to the port the engine
 * published for it. The file is cairn's alone (one per cluster), written
 * atomically, checked with `nginx -t` (the old file comes back when nginx
 * refuses the new one) and loaded with a reload, so no request is dropped. */
#ifndef CAIRN_DOCKER_ROUTES_H
#define CAIRN_DOCKER_ROUTES_H

#include "base/error.h"

#include <jansson.h>
#include <stdbool.h>

/* The cluster's `nginx:` config. */
struct docker_routes {
	char *file;   /* the server blocks (included by the main config) */
	char *conf;   /* nginx's main config, for -t and reload (-c) */
	char *binary; /* default "nginx" */
	int port;     /* where nginx listens, default 80 */
};

/* The server blocks for the containers of a list call (Engine API JSON):
 * running ones with cairn.host and a published cairn.route.port, sorted by
 * host. upstream is the host the engine publishes ports on. */
char *docker_routes_render(const json_t *containers, const char *upstream, int port);
/* Whether the file already holds exactly text. */
bool docker_routes_current(const struct docker_routes *r, const char *text);
/* Writes text, checks it with nginx -t and reloads nginx; on a refusal the
 * previous file is restored and err quotes nginx. */
int docker_routes_install(const struct docker_routes *r, const char *text, struct error *err);
void docker_routes_release(struct docker_routes *r);

#endif
