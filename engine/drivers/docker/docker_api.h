/* A client of the Docker Engine API over libcurl: one engine endpoint
 * (unix socket, tcp with TLS client certificates, or ssh:// through a socket
 * forwarded by the OpenSSH client), its API version negotiated once, requests
 * with JSON bodies (jansson), and errors a person can act on. The driver
 * (docker_driver.c) builds containers, networks and volumes from these calls. */
#ifndef CAIRN_DOCKER_API_H
#define CAIRN_DOCKER_API_H

#include "base/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct docker;

struct docker_options {
	/* unix:///path (default unix:///var/run/docker.sock when NULL),
	 * tcp://host:port, or ssh://[user@]host[:port] */
	const char *endpoint;
	/* tcp:// with TLS: all three files, or none for plain http */
	const char *tls_ca, *tls_cert, *tls_key;
	/* ssh://: identity file and known_hosts file (NULL: OpenSSH defaults) */
	const char *ssh_identity, *ssh_known_hosts;
	long timeout_ms; /* per request, 0: 60 s */
};

/* Connects to the endpoint and negotiates the API version (the engine's,
 * capped at the newest this client speaks, 1.41). Errors name the endpoint
 * and what to do: "docker engine at unix:///var/run/docker.sock is not
 * running (connection refused): start dockerd", "permission denied on
 * /var/run/docker.sock: run as root or join the docker group". */
int docker_open(struct docker **out, const struct docker_options *opts, struct error *err);
/* Stops the ssh forwarding, if any, and frees d. docker_close(NULL) does nothing. */
void docker_close(struct docker *d);

const char *docker_endpoint(const struct docker *d); /* as given, e.g. "unix:///var/run/docker.sock" */
const char *docker_api_version(const struct docker *d); /* e.g. "1.41" */

/* One request, e.g. docker_request(d, "POST", "/containers/create?name=x", body, &resp, &st, err).
 * The path is relative to the negotiated version ("/v1.41" is prepended).
 * body may be NULL. On success (2xx) returns 0 and *resp is the parsed JSON
 * response (NULL when the body is empty or resp is NULL; json_decref it).
 * On failure returns -1, *status is the HTTP status (0 when no response came:
 * connection refused, reset or timed out) and err carries the engine's own
 * message, e.g. "POST /containers/create: 404: No such image: cairn/x:1".
 * Safe to call from many threads at once; connections are reused. */
int docker_request(struct docker *d, const char *method, const char *path, const json_t *body,
		   json_t **resp, long *status, struct error *err);

/* Whether a failure is worth retrying: no response (status 0), 5xx other
 * than conflicts the engine reports as 500 ("port is already allocated",
 * "address already in use"), 408 and 429. */
bool docker_failure_transient(long status, const struct error *err);

/* A streaming GET (logs, events): fn is called with each piece of the body
 * as it arrives; a non-zero return from fn stops the stream and is returned.
 * timeout_ms 0 means no overall timeout (follow). Returns 0 when the stream
 * ended, -1 with err (and *status as above) on failure. */
typedef int (*docker_stream_fn)(void *ctx, const char *data, size_t len);
int docker_stream(struct docker *d, const char *path, long timeout_ms, docker_stream_fn fn,
		  void *ctx, long *status, struct error *err);

/* A request whose body is read from fn as it is sent (chunked), e.g. a tar
 * for PUT /containers/{id}/archive. fn fills up to size bytes of buf and
 * returns how many (0: the end), or -1 with the reason in its own ctx (the
 * request then fails). No overall timeout. Returns as docker_request. */
typedef ssize_t (*docker_read_fn)(void *ctx, char *buf, size_t size);
int docker_upload(struct docker *d, const char *method, const char *path, const char *content_type,
		  docker_read_fn fn, void *ctx, long *status, struct error *err);

/* Demultiplexes the logs stream of a container without a TTY (frames of an
 * 8-byte header: stream 1 stdout / 2 stderr, 32-bit big-endian length, then
 * the payload). Feed it pieces as they come; fn gets whole or partial frame
 * payloads with their stream number. */
struct docker_demux {
	unsigned char header[8];
	size_t have;      /* header bytes collected */
	size_t remaining; /* payload bytes left in the current frame */
	int stream;
};
typedef int (*docker_demux_fn)(void *ctx, int stream, const char *data, size_t len);
int docker_demux_feed(struct docker_demux *dm, const char *data, size_t len, docker_demux_fn fn,
		      void *ctx);
/* PATH?filters=FILTERS (or &filters= when PATH has a query already), the
 * filters as URL-escaped compact JSON: the form of every list call. Takes
 * filters; the path is the caller's to free. */
char *docker_filtered_path(const char *path, json_t *filters);

/* A docker_stream reader for `cairn logs`: demultiplexes with the struct
 * docker_demux in ctx and writes stream 1 to stdout and 2 to stderr as it
 * comes. */
int docker_demux_print(void *ctx, const char *data, size_t len);

/* A container's output (GET /containers/{id}/logs, demultiplexed) appended
 * to out: all of its stdout (tail 0, stdout_only), or the last tail lines
 * of stdout and stderr. timeout_ms 0: none. */
struct strbuf;
int docker_container_output(struct docker *d, const char *id, bool stdout_only, int tail,
			    long timeout_ms, struct strbuf *out, struct error *err);

#endif
