/* libmicrohttpd wrapped once (see http.h): the daemon runs an epoll thread
 * pool; each connection gets a struct exchange that collects the body, the
 * response status and the user, and is logged and counted when MHD says the
 * request is over. Handlers never see MHD's calling convention. */
#include "http.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/lazy/mhd.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const double buckets[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct counter {
	const char *route; /* a pattern of the table, or "unmatched" */
	const char *method;
	int status;
	unsigned long long n;
};

struct http_server {
	struct http_options o;
	struct MHD_Daemon *d;
	unsigned port;
	bool quiesced;
	pthread_mutex_t mu; /* guards the counters below */
	struct counter *counters;
	size_t ncounters, capcounters;
	unsigned long long hist[NBUCKETS + 1];
	double seconds_sum;
	unsigned long long requests;
	unsigned long long refused_busy, refused_client, cut_deadline;

	/* Connections, for the limits and the request deadline (guarded by
	 * conns_mu; a record leaves the list in MHD's "closed" notice, which
	 * comes before MHD closes the socket, so the watchdog never touches
	 * a descriptor that was closed and reused). */
	pthread_mutex_t conns_mu;
	struct conn *conns;
	size_t nconns, nrefused;
	pthread_t watchdog;
	bool watchdog_running, stopping;
	pthread_cond_t wake;
};

/* One TCP connection: its peer, and when the request it is reading began
 * (its accept, or the end of the previous request on a kept-alive one). */
struct conn {
	struct conn *prev, *next;
	int fd;
	char peer[INET6_ADDRSTRLEN];
	long long request_start_us;
	bool in_handler; /* the request was read whole: a handler may take its time */
	bool refused;    /* over a limit: answered 503 already */
	bool cut;        /* past its deadline: shut down once */
};

/* One request on a connection, from its headers to its completion. */
struct exchange {
	long long t0_us;
	char *method, *path;
	struct strbuf body;
	bool too_large;
	bool answered;
	int status;
	const char *route;
	char *user;
	char *tried; /* a user name that failed to log in */
	char *args[HTTP_MAX_ARGS];
};

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

const char *http_query(const struct http_request *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void http_reply(struct http_response *res, int status, const char *body)
{
	res->status = status;
	strbuf_reset(&res->body);
	strbuf_adds(&res->body, body);
}

void http_error(struct http_response *res, int status, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	res->status = status;
	res->content_type = "application/json";
	strbuf_reset(&res->body);
	strbuf_adds(&res->body, "{\"error\":");
	strbuf_add_json_string(&res->body, strbuf_cstr(&msg));
	strbuf_adds(&res->body, "}");
	strbuf_release(&msg);
}

int http_status_of(const struct error *err)
{
	switch (err->msg ? err->kind : ERROR_FAILED) {
	case ERROR_INPUT:
		return 422;
	case ERROR_FORBIDDEN:
		return 403;
	case ERROR_NOT_FOUND:
		return 404;
	case ERROR_TRANSIENT:
	case ERROR_BUSY:
		return 503;
	case ERROR_FAILED:
	case ERROR_IO:
		break;
	}
	return 500;
}

void http_fail(struct http_response *res, const struct error *err)
{
	http_error(res, http_status_of(err), "%s", error_msg(err));
}

void http_add_header(struct http_response *res, const char *name, const char *value)
{
	strbuf_addf(&res->headers, "%s: %s\n", name, value);
}

void http_throttled(struct http_response *res, unsigned seconds, const char *message)
{
	char retry[16];
	snprintf(retry, sizeof(retry), "%u", seconds);
	http_error(res, 429, "%s", message);
	http_add_header(res, "Retry-After", retry);
}

int http_parse_listen(const char *text, struct sockaddr_storage *out, struct error *err)
{
	const char *colon = strrchr(text, ':');
	if (!colon || !colon[1])
		return error_set(err, "listen address '%s': expected ADDR:PORT", text);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return error_set(err, "listen address '%s': port must be a number from 0 to 65535",
				 text);
	char host[256];
	size_t n = (size_t)(colon - text);
	if (n >= sizeof(host))
		return error_set(err, "listen address '%s': host too long", text);
	memcpy(host, text, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	struct addrinfo hints = { 0 }, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int rc = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, "0", &hints, &ai);
	if (rc != 0 || !ai)
		return error_set(err, "listen address '%s': %s", text, gai_strerror(rc));
	memset(out, 0, sizeof(*out));
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	if (out->ss_family == AF_INET6)
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
	freeaddrinfo(ai);
	return 0;
}

/* "scheme://host[:port][/...]" -> host[:port], compared with Host. */
static bool same_host(const char *origin, const char *host)
{
	const char *p = strstr(origin, "://");
	if (!p || !host)
		return false;
	p += 3;
	size_t n = strcspn(p, "/");
	return n > 0 && strlen(host) == n && strncasecmp(p, host, n) == 0;
}

static bool media_type_is(const char *content_type, const char *type)
{
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	size_t n = strlen(type);
	if (strncasecmp(content_type, type, n) != 0)
		return false;
	char next = content_type[n];
	return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

int http_check_request_site(const char *method, const char *origin, const char *host,
			    const char *sec_fetch_site, const char *content_type, const char **why)
{
	*why = NULL;
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0)
		return 0;
	if (sec_fetch_site && strcasecmp(sec_fetch_site, "same-origin") != 0 &&
	    strcasecmp(sec_fetch_site, "none") != 0) {
		*why = "cross-site request refused: changes come only from this server's page or a client";
		return 403;
	}
	if (origin && !same_host(origin, host)) {
		*why = "cross-site request refused: its Origin is not this server";
		return 403;
	}
	if (content_type && (media_type_is(content_type, "application/x-www-form-urlencoded") ||
			     media_type_is(content_type, "text/plain"))) {
		*why = "unsupported content type: send application/json, application/yaml or "
		       "multipart/form-data";
		return 415;
	}
	return 0;
}

/* Whether path matches pattern; "{}" segments are copied into args. */
static bool route_match(const char *pattern, const char *path, char **args)
{
	size_t nargs = 0;
	const char *p = pattern, *s = path;
	while (*p && *s) {
		if (p[0] == '{' && p[1] == '}') {
			size_t n = strcspn(s, "/");
			if (n == 0 || nargs == HTTP_MAX_ARGS)
				goto no;
			args[nargs++] = strndup(s, n);
			p += 2;
			s += n;
		} else if (*p++ != *s++) {
			goto no;
		}
	}
	if (!*p && !*s)
		return true;
no:
	for (size_t i = 0; i < nargs; i++) {
		free(args[i]);
		args[i] = NULL;
	}
	return false;
}

/* Methods outside this list are counted as one, so that a client cannot
 * grow the counters without bound. */
static const char *method_label(const char *m)
{
	static const char *const known[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS" };
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strcmp(m, known[k]) == 0)
			return known[k];
	return "other";
}

static void count(struct http_server *h, struct exchange *x, double secs)
{
	const char *route = x->route ? x->route : "unmatched";
	const char *method = method_label(x->method);
	pthread_mutex_lock(&h->mu);
	size_t i;
	for (i = 0; i < h->ncounters; i++) {
		const struct counter *c = &h->counters[i];
		if (c->status == x->status && c->route == route && c->method == method)
			break;
	}
	if (i == h->ncounters) {
		if (h->ncounters == h->capcounters) {
			h->capcounters = h->capcounters ? 2 * h->capcounters : 32;
			h->counters = xrealloc(h->counters, h->capcounters * sizeof(*h->counters));
		}
		h->counters[h->ncounters++] = (struct counter){ route, method, x->status, 0 };
	}
	h->counters[i].n++;
	size_t b = 0;
	while (b < NBUCKETS && secs > buckets[b])
		b++;
	h->hist[b]++;
	h->seconds_sum += secs;
	h->requests++;
	pthread_mutex_unlock(&h->mu);
}

void http_metrics(struct http_server *h, struct strbuf *out)
{
	pthread_mutex_lock(&h->mu);
	strbuf_adds(out, "# HELP cairn_http_requests_total HTTP requests answered, by route, method and status.\n"
			 "# TYPE cairn_http_requests_total counter\n");
	for (size_t i = 0; i < h->ncounters; i++) {
		const struct counter *c = &h->counters[i];
		strbuf_addf(out, "cairn_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
			    c->route, c->method, c->status, c->n);
	}
	strbuf_adds(out, "# HELP cairn_http_request_duration_seconds Time from a request's headers to its response.\n"
			 "# TYPE cairn_http_request_duration_seconds histogram\n");
	unsigned long long cum = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += h->hist[b];
		strbuf_addf(out, "cairn_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[b], cum);
	}
	cum += h->hist[NBUCKETS];
	strbuf_addf(out, "cairn_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
	strbuf_addf(out, "cairn_http_request_duration_seconds_sum %.6f\n", h->seconds_sum);
	strbuf_addf(out, "cairn_http_request_duration_seconds_count %llu\n", h->requests);
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_lock(&h->conns_mu);
	strbuf_addf(out, "# HELP cairn_http_connections Open connections.\n"
			 "# TYPE cairn_http_connections gauge\n"
			 "cairn_http_connections %zu\n"
			 "# HELP cairn_http_connections_refused_total Connections answered 503 at once, by limit.\n"
			 "# TYPE cairn_http_connections_refused_total counter\n"
			 "cairn_http_connections_refused_total{limit=\"per_client\"} %llu\n"
			 "cairn_http_connections_refused_total{limit=\"total\"} %llu\n"
			 "# HELP cairn_http_requests_cut_total Requests not read whole within the timeout.\n"
			 "# TYPE cairn_http_requests_cut_total counter\n"
			 "cairn_http_requests_cut_total %llu\n",
		    h->nconns - h->nrefused, h->refused_client, h->refused_busy, h->cut_deadline);
	pthread_mutex_unlock(&h->conns_mu);
}

static void log_line(struct exchange *x, double ms, enum MHD_RequestTerminationCode toe)
{
	struct strbuf sb = STRBUF_INIT;
	log_begin(&sb, x->status >= 500 ? LOG_ERROR : LOG_INFO, "http");
	strbuf_adds(&sb, ",\"method\":");
	strbuf_add_json_string(&sb, x->method);
	strbuf_adds(&sb, ",\"path\":");
	strbuf_add_json_string(&sb, x->path);
	strbuf_addf(&sb, ",\"status\":%d,\"ms\":%.3f,\"user\":", x->status, ms);
	if (x->user)
		strbuf_add_json_string(&sb, x->user);
	else
		strbuf_adds(&sb, "null");
	if (x->tried) {
		strbuf_adds(&sb, ",\"tried\":");
		strbuf_add_json_string(&sb, x->tried);
	}
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		strbuf_addf(&sb, ",\"terminated\":\"%s\"",
			    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
			    : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT  ? "client closed"
			    : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
									 : "error");
	log_write(&sb);
	strbuf_release(&sb);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *h = cls;
	struct conn *cn = conn_of(c);
	if (cn) {
		pthread_mutex_lock(&h->conns_mu);
		cn->in_handler = false;
		cn->request_start_us = clock_us();
		pthread_mutex_unlock(&h->conns_mu);
	}
	struct exchange *x = *con_cls;
	if (!x)
		return;
	double secs = (clock_us() - x->t0_us) / 1e6;
	if (x->answered)
		count(h, x, secs);
	log_line(x, secs * 1000, toe);
	free(x->method);
	free(x->path);
	free(x->user);
	free(x->tried);
	for (size_t i = 0; i < HTTP_MAX_ARGS; i++)
		free(x->args[i]);
	strbuf_release(&x->body);
	free(x);
	*con_cls = NULL;
}

static enum MHD_Result send_response(struct MHD_Connection *c, struct exchange *x,
				     struct http_response *res, bool close)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		res->body.len, res->body.buf ? res->body.buf : (void *)"", MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				res->content_type ? res->content_type : "application/json");
	if (close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	/* Extra headers: "Name: value\n" lines. */
	char *line = res->headers.buf;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		char *colon = strchr(line, ':');
		if (!nl || !colon || colon > nl)
			break;
		*nl = '\0';
		*colon = '\0';
		MHD_add_response_header(r, line, colon + 2);
		line = nl + 1;
	}
	x->status = res->status;
	x->answered = true;
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)res->status, r);
	MHD_destroy_response(r);
	return rc;
}

static void response_release(struct http_response *res)
{
	strbuf_release(&res->body);
	strbuf_release(&res->headers);
}

static enum MHD_Result too_large(struct http_server *h, struct MHD_Connection *c,
				 struct exchange *x)
{
	/* Counted under its route, though no handler runs. */
	for (size_t i = 0; i < h->o.nroutes && !x->route; i++) {
		char *args[HTTP_MAX_ARGS] = { 0 };
		if (route_match(h->o.routes[i].pattern, x->path, args))
			x->route = h->o.routes[i].pattern;
		for (size_t k = 0; k < HTTP_MAX_ARGS; k++)
			free(args[k]);
	}
	struct http_response res = { 0 };
	http_error(&res, 413, "request body too large: the limit is %zu bytes", h->o.max_body);
	enum MHD_Result rc = send_response(c, x, &res, true);
	response_release(&res);
	return rc;
}

static void dispatch(struct http_server *h, struct MHD_Connection *c, struct exchange *x,
		     struct http_response *res)
{
	const struct http_route *found = NULL;
	bool path_known = false;
	struct strbuf allow = STRBUF_INIT;
	for (size_t i = 0; i < h->o.nroutes && !found; i++) {
		const struct http_route *r = &h->o.routes[i];
		char *args[HTTP_MAX_ARGS] = { 0 };
		if (!route_match(r->pattern, x->path, args))
			continue;
		path_known = true;
		x->route = r->pattern;
		if (strcmp(r->method, x->method) == 0 ||
		    (strcmp(x->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
			found = r;
			memcpy(x->args, args, sizeof(args));
		} else {
			strbuf_addf(&allow, "%s%s", allow.len ? ", " : "", r->method);
			for (size_t k = 0; k < HTTP_MAX_ARGS; k++)
				free(args[k]);
		}
	}
	if (!found) {
		if (path_known) {
			http_error(res, 405, "method %s not allowed on %s (allowed: %s)", x->method, x->path,
				   strbuf_cstr(&allow));
			http_add_header(res, "Allow", strbuf_cstr(&allow));
		} else {
			x->route = NULL;
			http_error(res, 404, "no route %s %s", x->method, x->path);
		}
		strbuf_release(&allow);
		return;
	}
	strbuf_release(&allow);
	if (!found->cross_site) {
		const char *why;
		int refused = http_check_request_site(
			x->method, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site"),
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
			&why);
		if (refused) {
			http_error(res, refused, "%s", why);
			return;
		}
	}
	const struct conn *cn = conn_of(c);
	struct http_request req = { .method = x->method, .path = x->path,
				    .body = x->body.buf ? x->body.buf : "", .len = x->body.len,
				    .peer = cn ? cn->peer : NULL, .conn = c };
	for (size_t k = 0; k < HTTP_MAX_ARGS; k++)
		req.args[k] = x->args[k];
	/* A failed login leaves the name it tried in req.tried, for the log. */
	if (found->auth && h->o.authenticate &&
	    h->o.authenticate(h->o.ctx, &req, res) < 0) {
		x->tried = req.tried[0] ? xstrdup(req.tried) : NULL;
		return;
	}
	if (found->auth && h->o.authenticate)
		x->user = req.user ? xstrdup(req.user) : NULL;
	found->fn(h->o.ctx, &req, res);
	x->tried = req.tried[0] ? xstrdup(req.tried) : NULL;
	if (!res->status)
		http_error(res, 500, "internal error: the handler gave no answer");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct http_server *h = cls;
	struct exchange *x = *con_cls;
	struct conn *cn = conn_of(c);
	if (cn && cn->refused)
		return MHD_NO; /* answered 503 when it connected */
	if (!x) {
		x = xcalloc(1, sizeof(*x));
		x->t0_us = clock_us();
		x->method = xstrdup(method);
		x->path = xstrdup(url);
		*con_cls = x;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > h->o.max_body) {
			x->too_large = true;
			return too_large(h, c, x);
		}
		return MHD_YES;
	}
	if (x->answered) {
		/* Refused already (413): let MHD drop the rest of the body. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!x->too_large && x->body.len + *upload_data_size <= h->o.max_body)
			strbuf_add(&x->body, upload_data, *upload_data_size);
		else if (!x->too_large) {
			x->too_large = true;
			strbuf_release(&x->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (x->too_large)
		return too_large(h, c, x);
	if (!x->body.buf)
		strbuf_adds(&x->body, "");
	if (cn) {
		pthread_mutex_lock(&h->conns_mu);
		cn->in_handler = true;
		pthread_mutex_unlock(&h->conns_mu);
	}
	struct http_response res = { 0 };
	dispatch(h, c, x, &res);
	enum MHD_Result rc = send_response(c, x, &res, false);
	response_release(&res);
	return rc;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	struct strbuf msg = STRBUF_INIT;
	strbuf_vaddf(&msg, fmt, ap);
	while (msg.len && (msg.buf[msg.len - 1] == '\n' || msg.buf[msg.len - 1] == '.'))
		strbuf_truncate(&msg, msg.len - 1);
	log_event(LOG_ERROR, "http", "%s", strbuf_cstr(&msg));
	strbuf_release(&msg);
}

/* A connection over a limit is answered here, before MHD reads a byte of
 * it, and its request is refused in on_request: it costs the server one
 * short write, and its client learns why. */
static void refuse_connection(int fd, const char *why)
{
	char body[200], msg[400];
	int nb = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", why);
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			 "Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
			 nb, body);
	(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *h = cls;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct conn *cn = *socket_context;
		if (!cn)
			return;
		pthread_mutex_lock(&h->conns_mu);
		if (cn->prev)
			cn->prev->next = cn->next;
		else
			h->conns = cn->next;
		if (cn->next)
			cn->next->prev = cn->prev;
		h->nconns--;
		h->nrefused -= cn->refused;
		pthread_mutex_unlock(&h->conns_mu);
		free(cn);
		*socket_context = NULL;
		return;
	}
	struct conn *cn = xcalloc(1, sizeof(*cn));
	const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	cn->fd = fi ? fi->connect_fd : -1;
	if (ai && ai->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ai->client_addr)->sin6_addr, cn->peer,
			  sizeof(cn->peer));
	else if (ai)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->client_addr)->sin_addr, cn->peer,
			  sizeof(cn->peer));
	cn->request_start_us = clock_us();
	pthread_mutex_lock(&h->conns_mu);
	size_t same_peer = 0;
	for (const struct conn *o = h->conns; o; o = o->next)
		same_peer += !o->refused && strcmp(o->peer, cn->peer) == 0;
	const char *why = NULL;
	if (same_peer >= h->o.max_per_client) {
		why = "too many connections from your address";
		h->refused_client++;
	} else if (h->nconns - h->nrefused >= h->o.max_connections) {
		why = "the server is at its connection limit";
		h->refused_busy++;
	}
	cn->refused = why != NULL;
	h->nrefused += cn->refused;
	cn->next = h->conns;
	if (h->conns)
		h->conns->prev = cn;
	h->conns = cn;
	h->nconns++;
	pthread_mutex_unlock(&h->conns_mu);
	*socket_context = cn;
	if (why && cn->fd >= 0)
		refuse_connection(cn->fd, why);
}

/* Every 200 ms: a connection still reading its request (headers and body)
 * after the timeout is shut down, however steadily it trickles bytes (MHD's
 * own idle timeout restarts on every byte). MHD then sees the end of the
 * stream and closes it as usual. */
static void *watchdog(void *arg)
{
	struct http_server *h = arg;
	long long limit_us = (long long)h->o.timeout_s * 1000000;
	pthread_mutex_lock(&h->conns_mu);
	while (!h->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&h->wake, &h->conns_mu, &until);
		long long now = clock_us();
		for (struct conn *cn = h->conns; cn; cn = cn->next) {
			if (cn->in_handler || cn->cut || cn->fd < 0)
				continue;
			/* Refused connections get a second to read their 503. */
			long long allowed = cn->refused ? 1000000 : limit_us;
			if (now - cn->request_start_us > allowed) {
				shutdown(cn->fd, SHUT_RDWR);
				cn->cut = true;
				h->cut_deadline += !cn->refused;
			}
		}
	}
	pthread_mutex_unlock(&h->conns_mu);
	return NULL;
}

/* Raises the soft limit on open descriptors towards want (never above the
 * hard limit): the default 1024 would be exhausted before our limits. */
static void raise_fd_limit(rlim_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* The listening socket, made here rather than by MHD so that a busy port
 * is refused with the reason (never SO_REUSEPORT: a second server would
 * share the port and split the requests and jobs with the first). */
static int listen_on(const char *text, struct error *err)
{
	struct sockaddr_storage addr;
	if (http_parse_listen(text, &addr, err) < 0)
		return -1;
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_set(err, "cannot listen on %s: socket: %s", text, strerror(errno));
	int one = 1; /* a restart may bind while old connections are in TIME_WAIT */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t len = addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						   : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, "cannot listen on %s: %s", text,
				 e == EADDRINUSE ? "address in use (is another cairn serve running?)"
						 : strerror(e));
	}
	return fd;
}

int http_start(struct http_server **out, const struct http_options *o, struct error *err)
{
	*out = NULL;
	int fd = listen_on(o->listen, err);
	if (fd < 0)
		return -1;
	struct http_server *h = xcalloc(1, sizeof(*h));
	h->o = *o;
	if (!h->o.threads)
		h->o.threads = 4;
	if (!h->o.timeout_s)
		h->o.timeout_s = 30;
	if (!h->o.max_body)
		h->o.max_body = 4 << 20;
	if (!h->o.max_connections)
		h->o.max_connections = 1000;
	if (!h->o.max_per_client)
		h->o.max_per_client = 64;
	/* MHD's own limit is a backstop above ours, so that connections over
	 * ours can still be told 503; the descriptors must be there for both. */
	unsigned hard_limit = h->o.max_connections + h->o.max_connections / 4 + 16;
	raise_fd_limit(hard_limit + 64);
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->conns_mu, NULL);
	pthread_cond_init(&h->wake, NULL);
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_THREAD_POOL_SIZE, h->o.threads,
				MHD_OPTION_CONNECTION_TIMEOUT, h->o.timeout_s,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
				MHD_OPTION_CONNECTION_LIMIT, hard_limit,
				MHD_OPTION_END);
	if (h->d && pthread_create(&h->watchdog, NULL, watchdog, h) == 0)
		h->watchdog_running = true;
	if (!h->d || !h->watchdog_running) {
		if (h->d)
			MHD_stop_daemon(h->d);
		else
			close(fd);
		pthread_cond_destroy(&h->wake);
		pthread_mutex_destroy(&h->conns_mu);
		pthread_mutex_destroy(&h->mu);
		free(h);
		return error_set(err, "cannot serve on %s: the HTTP daemon did not start", o->listen);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	*out = h;
	return 0;
}

unsigned http_port(const struct http_server *h)
{
	return h->port;
}

void http_quiesce(struct http_server *h)
{
	if (!h || h->quiesced)
		return;
	MHD_socket fd = MHD_quiesce_daemon(h->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	h->quiesced = true;
}

void http_stop(struct http_server *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->conns_mu);
	h->stopping = true;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->conns_mu);
	pthread_join(h->watchdog, NULL);
	MHD_stop_daemon(h->d);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->conns_mu);
	pthread_mutex_destroy(&h->mu);
	free(h->counters);
	free(h);
}
