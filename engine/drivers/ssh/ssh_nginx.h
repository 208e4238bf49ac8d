/* nginx configuration for the instances of an ssh cluster's host, as text:
 * pure functions (no host, no file), so they are tested alone. Everything
 * lives under ROOT/nginx/, included by the host's nginx through
 * ROOT/nginx/cairn.conf:
 *   up/INST.conf            upstream cairn_INST (the live release, or the
 *                           stable and canary releases weighted) and one
 *                           upstream per release for its preview
 *   srv/HOST.conf           server HOST, includes every loc/HOST/ file
 *   loc/HOST/INST.conf      location PREFIX -> cairn_INST (prefix stripped)
 *   srv/preview-INST.conf   server RELEASE8.HOST for each release */
#ifndef CAIRN_SSH_NGINX_H
#define CAIRN_SSH_NGINX_H

#include "base/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* A release of an instance, as nginx reaches it. */
struct nginx_backend {
	const char *rid;    /* release id (hex); its first 8 name the preview */
	const char *listen; /* "unix:/srv/cairn/run/x/rid.sock" or "127.0.0.1:8080" */
	int weight;         /* share of user traffic in percent, 0: preview only */
};

struct nginx_files {
	size_t len;
	char *path[8]; /* relative to ROOT/nginx */
	char *text[8];
};

void nginx_files_release(struct nginx_files *f);

/* The files of instance `inst` (its host-safe name) routed at host/prefix,
 * with backends b (weights summing to 100 over those with a weight); root
 * is cairn's directory on the host (includes are absolute). */
void ssh_nginx_files(struct nginx_files *out, const char *root, const char *inst,
		     const char *host, const char *prefix, const struct nginx_backend *b, size_t nb);

/* The name of an instance on a host: its key made safe for file names, nginx
 * names and sockets (lowercase letters, digits, '-'), at most 40 characters,
 * then '-' and 8 hex of the key's hash, so two keys never share one. */
char *ssh_instance_name(const char *key);

/* True for a host name nginx may serve (letters, digits, '-', '.'). */
bool ssh_route_host_ok(const char *s);
/* True for a route prefix: starts and ends with '/', URL-safe characters. */
bool ssh_route_prefix_ok(const char *s);

#endif
