/* The server's HTTP side over libmicrohttpd: a table of routes, request
 * bodies read whole up to a limit (413 beyond), connections limited in
 * total and per client address (503 beyond), a request that is not read
 * whole within the timeout dropped however steadily it trickles, JSON errors (404, 405, 401), one JSON log line per request on
 * stderr, and per-route request counters and a duration histogram for
 * /metrics. Knows nothing of policies: handlers do that (api.c). */
#ifndef CAIRN_SERVER_HTTP_H
#define CAIRN_SERVER_HTTP_H

#include "base/error.h"
#include "base/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

struct http_server;
struct MHD_Connection;

#define HTTP_MAX_ARGS 2

struct http_request {
	const char *method, *path;
	const char *body; /* NUL-terminated, len bytes */
	size_t len;
	const char *args[HTTP_MAX_ARGS]; /* the "{}" segments of the route, in order */
	const char *user;                /* set by the authenticator */
	const char *peer;                /* the client's address */
	char tried[128];                 /* set by a failed login: the user name it tried, for the log */
	struct MHD_Connection *conn;
};

struct http_response {
	int status;
	const char *content_type; /* default application/json */
	struct strbuf body;
	struct strbuf headers;    /* "Name: value\n" lines */
};

/* A query argument or a header (case-insensitive name), NULL when absent. */
const char *http_query(const struct http_request *r, const char *key);
const char *http_header(const struct http_request *r, const char *name);

/* Sets status and the body (JSON unless content_type says otherwise). */
void http_reply(struct http_response *res, int status, const char *body);
/* {"error": message}, with status. */
void http_error(struct http_response *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The status that answers a failure of err's kind: 422 input, 403
 * forbidden, 404 not found, 503 transient or busy, else 500. */
int http_status_of(const struct error *err);
/* http_error with err's message, and the status of its kind. */
void http_fail(struct http_response *res, const struct error *err);
void http_add_header(struct http_response *res, const char *name, const char *value);
/* 429 {"error": message} with Retry-After: seconds. */
void http_throttled(struct http_response *res, unsigned seconds, const char *message);

typedef void (*http_handler)(void *ctx, struct http_request *req, struct http_response *res);
/* Returns 0 with req->user set, or -1 with res filled (401, 500). */
typedef int (*http_authenticator)(void *ctx, struct http_request *req, struct http_response *res);

/* A route: method and pattern ("/api/v1/jobs/{}": "{}" is one non-empty
 * path segment, handed over in req->args). */
struct http_route {
	const char *method, *pattern;
	http_handler fn;
	bool auth;       /* run the authenticator first */
	bool cross_site; /* state-changing, yet taken from any site (a signed webhook) */
};

/* Whether a request may change state, judged from its head alone: GET,
 * HEAD and OPTIONS may; others are refused (403) when a browser says they
 * come from another site (Origin other than Host, Sec-Fetch-Site), and
 * (415) when they carry a type an HTML form or a beacon can send without
 * asking (application/x-www-form-urlencoded, text/plain). NULL headers are
 * absent. Returns 0, 403 or 415 with *why. */
int http_check_request_site(const char *method, const char *origin, const char *host,
			    const char *sec_fetch_site, const char *content_type, const char **why);

struct http_options {
	const char *listen;        /* ADDR:PORT or [ADDR6]:PORT; port 0 picks one */
	unsigned threads;          /* worker threads, default 4 */
	unsigned timeout_s;        /* idle connection timeout, and the time a request's
				      headers and body may take to arrive; default 30 */
	unsigned max_connections;  /* open at once, default 1000; beyond: 503 */
	unsigned max_per_client;   /* open at once from one address, default 64; beyond: 503 */
	size_t max_body;           /* bytes, default 4 MiB */
	const struct http_route *routes;
	size_t nroutes;
	http_authenticator authenticate;
	void *ctx; /* for handlers and the authenticator */
};

/* Parses "ADDR:PORT" (or "[v6]:PORT"); errors name the text. */
struct sockaddr_storage;
int http_parse_listen(const char *text, struct sockaddr_storage *out, struct error *err);

/* Starts listening and serving on the thread pool. */
int http_start(struct http_server **out, const struct http_options *o, struct error *err);
/* The port listened on (the one picked when the option said 0). */
unsigned http_port(const struct http_server *h);
/* Stops accepting connections (others keep being answered until http_stop). */
void http_quiesce(struct http_server *h);
/* Stops and frees; http_stop(NULL) does nothing. */
void http_stop(struct http_server *h);

/* Appends the HTTP counters in Prometheus text format. */
void http_metrics(struct http_server *h, struct strbuf *out);

#endif
