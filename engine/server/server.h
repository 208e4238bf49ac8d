/* `cairn serve`: the server's config file and its lifetime — the HTTP
 * server, the API, jobs and previews started together, and stopped in order
 * on SIGTERM or SIGINT (stop accepting, finish requests, stop jobs). */
#ifndef CAIRN_SERVER_SERVER_H
#define CAIRN_SERVER_SERVER_H

#include "base/error.h"

#include <stddef.h>

struct server_config {
	char *path;       /* the config file, NULL when none */
	char *listen;     /* ADDR:PORT, default 127.0.0.1:8470 */
	char *state;      /* store location */
	char *users;      /* users file */
	char *secrets;    /* secrets file, may be NULL */
	char *public_url; /* how clients reach the server, may be NULL */
	unsigned threads; /* HTTP worker threads, default 4 */
	unsigned timeout; /* seconds an idle or slow connection is kept, default 30 */
	unsigned workers; /* job worker threads, default 2 */
	unsigned job_lease; /* seconds a running job is held without a heartbeat, default 30 */
	size_t max_body;  /* bytes, default 4 MiB */
	unsigned max_connections; /* open at once, default 1000 */
	unsigned max_per_client;  /* open at once from one address, default 64 */
};

#define SERVER_DEFAULT_LISTEN "127.0.0.1:8470"

/* Reads the server's keys of a config file (listen, state, users, secrets,
 * public_url, threads, timeout, workers, job_lease, max_body, max_connections,
 * max_connections_per_client; relative paths are
 * relative to the file's directory). The previews' sections (github,
 * repositories, expiry, domain) are left to previews_config_load; any other
 * key is an error with file:line:col and the nearest known key. Errors go to
 * d; c keeps what it had for keys the file does not set. */
int server_config_load(struct server_config *c, const char *path, struct diags *d);
/* Sets *field to a copy of value (replacing it). */
void server_config_set(char **field, const char *value);
void server_config_release(struct server_config *c);

/* Runs the server until SIGTERM or SIGINT; 0 after a clean stop, -1 with
 * err when it cannot start. */
int server_run(const struct server_config *c, struct error *err);

#endif
