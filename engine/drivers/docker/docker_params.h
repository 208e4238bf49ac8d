/* What `code.type: docker` takes and what a docker cluster's config takes:
 * the driver's two param tables (engine/core/params.h), checked on policy being
 * applied and read again from rendered params by docker_spec_build. */
#ifndef CAIRN_DOCKER_PARAMS_H
#define CAIRN_DOCKER_PARAMS_H

#include "docker_api.h"
#include "docker_routes.h"
#include "docker_spec.h"
#include "engine/core/params.h"

#include <stdbool.h>

extern const struct param docker_params;
extern const struct param docker_cluster_config;

/* What the rows of docker_params build from rendered params: the parts of
 * the container create body, and what the spec needs besides. */
struct docker_build {
	const struct docker_target *target;
	json_t *config, *host, *labels;
	json_t *named;             /* named volumes to create first */
	const char *image;
	char image_text[64];       /* an image given as a number */
	struct docker_data data;   /* of a `data` param */
	bool has_data, init, health, exposed;
	const char *restart;
	char route_host[256];      /* the `host` param, else the target's */
};

/* What a docker cluster's config says, read through docker_cluster_config
 * with its defaults filled in. Strings live as long as the settings. */
struct docker_settings {
	struct docker_options api; /* endpoint, TLS, ssh */
	const char *address;       /* host in URLs of published ports */
	const char *domain;        /* routing host names end in it */
	bool routed;               /* `nginx:` routes host names to published ports */
	const char *nginx_file, *nginx_conf, *nginx_binary;
	int nginx_port;
	json_t *config;            /* what the strings point into */
	char *endpoint_host;
};
void docker_settings_read(struct docker_settings *s, const struct ynode *config);
void docker_settings_release(struct docker_settings *s);

/* One item of a checked `ports` param (a port number, or {port, publish,
 * protocol, …}): what it says, protocol "tcp" by default. host_port is 0
 * when publish is true without a number (the engine picks one). */
struct docker_port {
	int number, host_port;
	bool publish;
	const char *protocol;
};
struct docker_port docker_port_read(const json_t *item);

/* "no", "always", "unless-stopped", "on-failure" or "on-failure:N". */
bool docker_restart_valid(const char *s);
/* Whether s is a host name: dot-separated DNS labels of [a-z0-9-] (lower
 * case, not starting or ending in '-'), each at most 63 characters, at most
 * 253 in all. */
bool docker_host_valid(const char *s);

#endif
