/* The Docker Engine API client: endpoints (unix, tcp with TLS, ssh through a
 * forwarded socket), a pool of curl handles shared by threads, API version
 * negotiation and error messages that say what to do. No container logic:
 * that is the driver's (docker_driver.c). */
#include "engine/drivers/docker/docker_api.h"
#include "docker_tunnel.h"
#include "base/alloc.h"
#include "base/parse.h"
#include "base/strbuf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "unix:///var/run/docker.sock"
#define DEFAULT_TIMEOUT_MS 60000L
/* The newest API this client speaks and the oldest it accepts. */
#define API_NEWEST_MINOR 41
#define API_OLDEST_MINOR 25
/* Idle handles kept for reuse; more may exist while many threads call at once. */
#define POOL_MAX 16
/* An error body longer than this is cut: it is for a message, not for parsing. */
#define ERROR_BODY_MAX 4096

enum transport { TRANSPORT_UNIX, TRANSPORT_TCP, TRANSPORT_SSH };

struct docker {
	char *endpoint; /* as given */
	enum transport transport;
	char *base_url;	   /* "http://docker" for sockets, "http(s)://host:port" for tcp */
	char *socket_path; /* unix and ssh: the socket curl connects to */
	char *tls_ca, *tls_cert, *tls_key; /* all NULL without TLS */
	long timeout_ms;
	char version[16];

	struct docker_tunnel *tunnel; /* ssh:// only */

	pthread_mutex_t lock; /* guards pool */
	CURL *pool[POOL_MAX];
	size_t pool_len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void curl_init(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int docker_refuse_endpoint(const char *endpoint, const char *why, struct error *err)
{
	return error_set(
	    err,
	    "docker endpoint '%s': %s: use unix:///path/to/docker.sock, tcp://host:port "
	    "or ssh://[user@]host[:port]",
	    endpoint, why);
}

/* Splits "host[:port]" (host may be "[v6]") at the port; *port is NULL when absent. */
int docker_split_host_port(const char *endpoint, const char *s, char **host, char **port,
			   struct error *err)
{
	const char *colon;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return docker_refuse_endpoint(endpoint, "unclosed '[' in the host", err);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1])
			return docker_refuse_endpoint(endpoint, "unexpected text after the host", err);
	} else {
		colon = strrchr(s, ':');
	}
	size_t hlen = colon ? (size_t)(colon - s) : strlen(s);
	if (hlen == 0)
		return docker_refuse_endpoint(endpoint, "no host", err);
	if (colon) {
		const char *p = colon + 1;
		int n;
		if (parse_port(p, &n) < 0)
			return docker_refuse_endpoint(
				endpoint, "the port must be a number from 1 to 65535", err);
		*port = xstrdup(p);
	}
	*host = xstrndup(s, hlen);
	return 0;
}

int docker_check_readable(const char *what, const char *path, struct error *err)
{
	if (access(path, R_OK) < 0)
		return error_set(err, "%s %s: %s", what, path, strerror(errno));
	return 0;
}

static int parse_unix(struct docker *d, const char *path, struct error *err)
{
	if (path[0] != '/')
		return docker_refuse_endpoint(d->endpoint, "the socket path must be absolute", err);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return docker_refuse_endpoint(d->endpoint, "the socket path is too long", err);
	d->transport = TRANSPORT_UNIX;
	d->socket_path = xstrdup(path);
	d->base_url = xstrdup("http://docker");
	return 0;
}

static int parse_tcp(struct docker *d, const char *rest, const struct docker_options *opts,
		     struct error *err)
{
	char *hostport = xstrdup(rest), *host = NULL, *port = NULL;
	int ret = -1;
	size_t n = strlen(hostport);
	if (n && hostport[n - 1] == '/')
		hostport[n - 1] = '\0';
	if (strchr(hostport, '/') || strchr(hostport, '@')) {
		docker_refuse_endpoint(d->endpoint, "tcp:// takes only host:port", err);
		goto out;
	}
	if (docker_split_host_port(d->endpoint, hostport, &host, &port, err) < 0)
		goto out;
	int given = !!opts->tls_ca + !!opts->tls_cert + !!opts->tls_key;
	if (given != 0 && given != 3) {
		error_set(err,
			  "docker endpoint %s: TLS needs all three of tls_ca, tls_cert and tls_key",
			  d->endpoint);
		goto out;
	}
	if (given == 3) {
		if (docker_check_readable("tls_ca", opts->tls_ca, err) < 0 ||
		    docker_check_readable("tls_cert", opts->tls_cert, err) < 0 ||
		    docker_check_readable("tls_key", opts->tls_key, err) < 0) {
			error_wrap(err, "docker endpoint %s", d->endpoint);
			goto out;
		}
		d->tls_ca = xstrdup(opts->tls_ca);
		d->tls_cert = xstrdup(opts->tls_cert);
		d->tls_key = xstrdup(opts->tls_key);
	}
	struct strbuf url = STRBUF_INIT;
	/* Docker's conventional ports: 2376 with TLS, 2375 without. */
	const char *default_port = d->tls_ca ? "2376" : "2375";
	strbuf_addf(&url, "%s://%s:%s", d->tls_ca ? "https" : "http", host,
		    port ? port : default_port);
	d->base_url = strbuf_detach(&url);
	d->transport = TRANSPORT_TCP;
	ret = 0;
out:
	free(hostport);
	free(host);
	free(port);
	return ret;
}

static int open_tunnel(struct docker *d, const char *given, const struct docker_options *opts,
		       struct error *err)
{
	if (docker_tunnel_open(&d->tunnel, d->endpoint, given, opts, err) < 0)
		return -1;
	d->transport = TRANSPORT_SSH;
	d->socket_path = xstrdup(d->tunnel->socket);
	d->base_url = xstrdup("http://docker");
	return 0;
}









static CURL *handle_take(struct docker *d)
{
	CURL *h = NULL;
	pthread_mutex_lock(&d->lock);
	if (d->pool_len)
		h = d->pool[--d->pool_len];
	pthread_mutex_unlock(&d->lock);
	return h ? h : curl_easy_init();
}

/* curl_easy_reset keeps the handle's live connections: the next request reuses them. */
static void handle_give(struct docker *d, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&d->lock);
	if (d->pool_len < POOL_MAX) {
		d->pool[d->pool_len++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	if (h)
		curl_easy_cleanup(h);
}

/* Percent-encodes what may not appear raw in a URL (the JSON of filters=…),
 * leaving the rest, '%' included, as the caller wrote it. */
static void add_url_path(struct strbuf *url, const char *path)
{
	static const char keep[] = "-._~!$&'()*+,;=:@/?%";
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (isalnum(*p) || (*p < 0x80 && strchr(keep, *p)))
			strbuf_addc(url, (char)*p);
		else
			strbuf_addf(url, "%%%02X", *p);
	}
}

static void handle_setup(struct docker *d, CURL *h, const char *path, bool versioned,
			 long timeout_ms, char *errbuf)
{
	struct strbuf url = STRBUF_INIT;
	strbuf_adds(&url, d->base_url);
	if (versioned)
		strbuf_addf(&url, "/v%s", d->version);
	add_url_path(&url, path);
	curl_easy_setopt(h, CURLOPT_URL, url.buf);
	strbuf_release(&url);
	if (d->socket_path)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, d->timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn");
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (d->tls_ca) {
		curl_easy_setopt(h, CURLOPT_CAINFO, d->tls_ca);
		curl_easy_setopt(h, CURLOPT_SSLCERT, d->tls_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, d->tls_key);
	}
	if (d->transport == TRANSPORT_TCP)
		curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
}

static bool is_tls_code(CURLcode code)
{
	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CLIENTCERT:
		return true;
	default:
		return false;
	}
}

/* The message for a request that got no HTTP response. */
static int transport_error(struct docker *d, CURLcode code, long os_errno, const char *errbuf,
			   long timeout_ms, struct error *err)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(code);
	const char *ep = d->endpoint;

	if (code == CURLE_OPERATION_TIMEDOUT)
		return error_set(err, "docker engine at %s timed out after %ld ms", ep, timeout_ms);

	if (d->tls_ca && (is_tls_code(code) || strstr(detail, "SSL") || strstr(detail, "TLS"))) {
		if (code == CURLE_PEER_FAILED_VERIFICATION)
			return error_set(
			    err,
			    "docker engine at %s: TLS: the engine's certificate is not "
			    "trusted by tls_ca %s (%s)",
			    ep, d->tls_ca, detail);
		if (code == CURLE_SSL_CACERT_BADFILE)
			return error_set(err, "docker engine at %s: TLS: cannot use tls_ca %s (%s)",
					 ep, d->tls_ca, detail);
		if (code == CURLE_SSL_CERTPROBLEM)
			return error_set(
			    err,
			    "docker engine at %s: TLS: cannot use tls_cert %s with tls_key "
			    "%s (%s)",
			    ep, d->tls_cert, d->tls_key, detail);
		return error_set(
		    err,
		    "docker engine at %s: TLS handshake failed (%s): check that tls_cert %s "
		    "and tls_key %s are a client certificate and its key, signed by a CA "
		    "the engine trusts",
		    ep, detail, d->tls_cert, d->tls_key);
	}

	/* With TLS 1.3 a refused client certificate shows only when reading the
	 * answer, and curl may then report an unrelated first error. */
	if (d->tls_ca &&
	    (code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING || code == CURLE_SEND_ERROR))
		return error_set(
		    err,
		    "docker engine at %s closed the TLS connection (%s): if it refused "
		    "the client certificate, check that tls_cert %s and tls_key %s are "
		    "signed by a CA the engine trusts",
		    ep, detail, d->tls_cert, d->tls_key);

	if (d->tunnel)
		return docker_tunnel_failure(d->tunnel, detail, err);

	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return error_set(err, "docker engine at %s: cannot resolve the host (%s)", ep,
				 detail);
	case CURLE_COULDNT_CONNECT:
		if (os_errno == EACCES || os_errno == EPERM)
			return error_set(
			    err, "permission denied on %s: run as root or join the docker group",
			    d->socket_path ? d->socket_path : ep);
		if (os_errno == ENOENT)
			return error_set(
			    err,
			    "docker engine at %s is not running (no socket at %s): start "
			    "dockerd",
			    ep, d->socket_path);
		if (os_errno == ECONNREFUSED)
			return error_set(
			    err, "docker engine at %s is not running (connection refused): %s", ep,
			    d->transport == TRANSPORT_UNIX
				? "start dockerd"
				: "start dockerd or check the host and port");
		return error_set(err, "docker engine at %s: cannot connect: %s", ep,
				 os_errno ? strerror((int)os_errno) : detail);
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (d->transport == TRANSPORT_TCP && !d->tls_ca)
			return error_set(
			    err,
			    "docker engine at %s closed the connection without answering "
			    "(%s): if it expects TLS, give tls_ca, tls_cert and tls_key",
			    ep, detail);
		return error_set(err, "docker engine at %s closed the connection (%s)", ep, detail);
	default:
		return error_set(err, "docker engine at %s: %s", ep, detail);
	}
}

static const char *reason_phrase(long status)
{
	switch (status) {
	case 304:
		return "not modified";
	case 400:
		return "bad request";
	case 401:
		return "unauthorized";
	case 403:
		return "forbidden";
	case 404:
		return "not found";
	case 409:
		return "conflict";
	case 500:
		return "server error";
	case 503:
		return "service unavailable";
	default:
		return "no message from the engine";
	}
}

/* "<status>: <message>" from an error response ({"message": "..."}, or text). */
static int status_error(long status, const struct strbuf *body, struct error *err)
{
	json_t *j = body->len ? json_loadb(body->buf, body->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "message"));
	if (msg && *msg) {
		error_set(err, "%ld: %s", status, msg);
	} else {
		size_t start = 0, end = body->len;
		while (start < end && isspace((unsigned char)body->buf[start]))
			start++;
		while (end > start && isspace((unsigned char)body->buf[end - 1]))
			end--;
		if (end > start)
			error_set(err, "%ld: %.*s", status, (int)(end - start), body->buf + start);
		else
			error_set(err, "%ld: %s", status, reason_phrase(status));
	}
	json_decref(j);
	return -1;
}

/* A 2xx body: one JSON value; a progress stream of several (POST /images/create)
 * becomes an array of them and fails if one carries the engine's "error";
 * text/plain (GET /_ping) becomes a JSON string. */
static int parse_body(const struct strbuf *body, const char *content_type, long status,
		      json_t **out, struct error *err)
{
	json_error_t jerr;
	size_t start = 0;
	while (start < body->len && isspace((unsigned char)body->buf[start]))
		start++;
	if (start == body->len)
		return 0;
	json_t *j = json_loadb(body->buf, body->len, JSON_DECODE_ANY, &jerr);
	if (j) {
		*out = j;
		return 0;
	}
	if (content_type && starts_with(content_type, "text/plain")) {
		*out = json_stringn(body->buf, body->len);
		if (!*out)
			return error_set(err, "%ld: the response is text but not UTF-8", status);
		return 0;
	}
	json_t *seq = json_array();
	for (size_t pos = start; pos < body->len;) {
		json_t *item =
		    json_loadb(body->buf + pos, body->len - pos, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!item) {
			json_decref(seq);
			return error_set(err, "%ld: the response is not JSON: %s at byte %zu",
					 status, jerr.text, pos + (size_t)jerr.position);
		}
		json_array_append_new(seq, item);
		const char *failed = json_string_value(json_object_get(item, "error"));
		if (failed) {
			error_set(err, "%ld: %s", status, failed);
			json_decref(seq);
			return -1;
		}
		pos += (size_t)jerr.position;
		while (pos < body->len && isspace((unsigned char)body->buf[pos]))
			pos++;
	}
	*out = seq;
	return 0;
}

static size_t collect(char *data, size_t size, size_t n, void *sb)
{
	strbuf_add(sb, data, size * n);
	return size * n;
}

/* One exchange. Errors are "<status>: <message>" or a transport message;
 * callers prefix what the request was. api_version (may be NULL) receives
 * the engine's Api-Version header, "" when it sent none. */
static int perform(struct docker *d, const char *method, const char *path, bool versioned,
		   const json_t *body, json_t **resp, long *status, char api_version[16],
		   struct error *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct strbuf in = STRBUF_INIT;
	struct curl_slist *headers = NULL;
	char *text = NULL;
	long code = 0;
	int ret = -1;

	*status = 0;
	if (resp)
		*resp = NULL;
	if (path[0] != '/')
		return error_set(err, "the path must start with '/'");
	CURL *h = handle_take(d);
	if (!h)
		return error_set(err, "cannot create a curl handle");
	handle_setup(d, h, path, versioned, d->timeout_ms, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &in);
	/* Docker answers at once; curl's wait for "100 Continue" would only delay big bodies. */
	headers = curl_slist_append(headers, "Expect:");
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text) {
			error_set(err, "the request body cannot be written as JSON");
			goto out;
		}
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		long os_errno = 0;
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		transport_error(d, rc, os_errno, errbuf, d->timeout_ms, err);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	*status = code;
	if (code < 200 || code >= 300) {
		status_error(code, &in, err);
		goto out;
	}
	if (api_version) {
		struct curl_header *hd = NULL;
		api_version[0] = '\0';
		if (curl_easy_header(h, "Api-Version", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK)
			snprintf(api_version, 16, "%s", hd->value);
	}
	if (resp) {
		char *ctype = NULL;
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
		if (parse_body(&in, ctype, code, resp, err) < 0)
			goto out;
	}
	ret = 0;
out:
	handle_give(d, h);
	curl_slist_free_all(headers);
	free(text);
	strbuf_release(&in);
	return ret;
}

/* The path as shown in messages: the query may hold values, and is noise. */
static int path_len(const char *path)
{
	return (int)strcspn(path, "?");
}

static int parse_version(const char *s, int *major, int *minor)
{
	char tail;
	return s && sscanf(s, "%d.%d%c", major, minor, &tail) == 2 ? 0 : -1;
}

static int negotiate(struct docker *d, struct error *err)
{
	json_t *v = NULL;
	long status;
	int major, minor, min_major, min_minor, ret = -1;

	/* GET /_ping answers in well under a millisecond with the engine's newest
	 * API version; /version asks containerd too (several ms). Engines that
	 * speak 1.41 or newer get 1.41 from the ping alone; only older ones (or a
	 * ping without the header) need /version's full answer. An engine that
	 * no longer accepts 1.41 refuses the first request with its own words. */
	char pinged[16];
	if (perform(d, "GET", "/_ping", false, NULL, NULL, &status, pinged, err) < 0) {
		if (status)
			error_wrap(err, "docker engine at %s: GET /_ping", d->endpoint);
		return -1;
	}
	if (parse_version(pinged, &major, &minor) == 0 &&
	    (major > 1 || (major == 1 && minor >= API_NEWEST_MINOR))) {
		snprintf(d->version, sizeof(d->version), "1.%d", API_NEWEST_MINOR);
		return 0;
	}
	if (perform(d, "GET", "/version", false, NULL, &v, &status, NULL, err) < 0) {
		if (status)
			error_wrap(err, "docker engine at %s: GET /version", d->endpoint);
		goto out;
	}
	const char *api = json_string_value(json_object_get(v, "ApiVersion"));
	if (parse_version(api, &major, &minor) < 0) {
		error_set(err,
			  "docker engine at %s: GET /version gave no ApiVersion: is it a docker "
			  "engine?",
			  d->endpoint);
		goto out;
	}
	if (major < 1 || (major == 1 && minor < API_OLDEST_MINOR)) {
		error_set(err,
			  "docker engine at %s speaks API version %s, older than 1.%d, the oldest "
			  "cairn supports: upgrade docker",
			  d->endpoint, api, API_OLDEST_MINOR);
		goto out;
	}
	const char *min = json_string_value(json_object_get(v, "MinAPIVersion"));
	if (parse_version(min, &min_major, &min_minor) == 0 &&
	    (min_major > 1 || (min_major == 1 && min_minor > API_NEWEST_MINOR))) {
		error_set(
		    err,
		    "docker engine at %s accepts API versions from %s on, newer than 1.%d, the "
		    "newest cairn speaks: use an engine that still accepts 1.%d",
		    d->endpoint, min, API_NEWEST_MINOR, API_NEWEST_MINOR);
		goto out;
	}
	if (major > 1 || minor > API_NEWEST_MINOR)
		minor = API_NEWEST_MINOR;
	snprintf(d->version, sizeof(d->version), "1.%d", minor);
	ret = 0;
out:
	json_decref(v);
	return ret;
}

int docker_open(struct docker **out, const struct docker_options *opts, struct error *err)
{
	static const struct docker_options defaults = {0};
	*out = NULL;
	if (!opts)
		opts = &defaults;
	pthread_once(&curl_once, curl_init);
	if (curl_init_code != CURLE_OK)
		return error_set(err, "cannot initialise libcurl: %s",
				 curl_easy_strerror(curl_init_code));

	struct docker *d = xcalloc(1, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->endpoint = xstrdup(opts->endpoint ? opts->endpoint : DEFAULT_ENDPOINT);
	d->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;

	int rc;
	if (starts_with(d->endpoint, "unix://"))
		rc = parse_unix(d, d->endpoint + strlen("unix://"), err);
	else if (starts_with(d->endpoint, "tcp://"))
		rc = parse_tcp(d, d->endpoint + strlen("tcp://"), opts, err);
	else if (starts_with(d->endpoint, "ssh://"))
		rc = open_tunnel(d, d->endpoint + strlen("ssh://"), opts, err);
	else
		rc = docker_refuse_endpoint(d->endpoint, "unknown scheme", err);
	if (rc < 0 || negotiate(d, err) < 0) {
		docker_close(d);
		return -1;
	}
	*out = d;
	return 0;
}

void docker_close(struct docker *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->pool_len; i++)
		curl_easy_cleanup(d->pool[i]);
	if (d->tunnel)
		docker_tunnel_close(d->tunnel);
	pthread_mutex_destroy(&d->lock);
	free(d->endpoint);
	free(d->base_url);
	free(d->socket_path);
	free(d->tls_ca);
	free(d->tls_cert);
	free(d->tls_key);
	free(d);
}

const char *docker_endpoint(const struct docker *d)
{
	return d->endpoint;
}

const char *docker_api_version(const struct docker *d)
{
	return d->version;
}

int docker_request(struct docker *d, const char *method, const char *path, const json_t *body,
		   json_t **resp, long *status, struct error *err)
{
	long st;
	if (!status)
		status = &st;
	if (perform(d, method, path, true, body, resp, status, NULL, err) < 0)
		return error_wrap(err, "%s %.*s", method, path_len(path), path);
	return 0;
}

bool docker_failure_transient(long status, const struct error *err)
{
	if (status == 0 || status == 408 || status == 429)
		return true;
	if (status < 500 || status > 599)
		return false;
	/* The engine reports these conflicts as 500; retrying cannot help. */
	const char *msg = err ? error_msg(err) : "";
	return !strcasestr(msg, "port is already allocated") &&
	       !strcasestr(msg, "address already in use");
}

struct stream {
	CURL *h;
	docker_stream_fn fn;
	void *ctx;
	int fn_rc;
	long status;
	struct strbuf error_body; /* the body of a non-2xx answer, for its message */
};

static size_t stream_write(char *data, size_t size, size_t n, void *p)
{
	struct stream *s = p;
	size_t len = size * n;
	if (!s->status)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status < 200 || s->status >= 300) {
		if (s->error_body.len < ERROR_BODY_MAX)
			strbuf_add(&s->error_body, data, len);
		return len;
	}
	if (len == 0)
		return 0;
	int rc = s->fn(s->ctx, data, len);
	if (rc != 0) {
		s->fn_rc = rc;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	return len;
}

struct upload {
	docker_read_fn fn;
	void *ctx;
	bool failed;
};

static size_t upload_read(char *buf, size_t size, size_t n, void *p)
{
	struct upload *u = p;
	ssize_t got = u->fn(u->ctx, buf, size * n);
	if (got < 0) {
		u->failed = true;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)got;
}

/* One request whose answer is streamed to fn, with a body read from up
 * (chunked) when up is not NULL. */
static int transfer(struct docker *d, const char *method, const char *path, struct upload *up,
		    const char *content_type, long timeout_ms, docker_stream_fn fn, void *ctx,
		    long *status, struct error *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct stream s = {.fn = fn, .ctx = ctx, .error_body = STRBUF_INIT};
	struct curl_slist *headers = NULL;
	long st;
	int ret = -1;

	if (!status)
		status = &st;
	*status = 0;
	if (path[0] != '/')
		return error_set(err, "%s %.*s: the path must start with '/'", method,
				 path_len(path), path);
	s.h = handle_take(d);
	if (!s.h)
		return error_set(err, "%s %.*s: cannot create a curl handle", method,
				 path_len(path), path);
	handle_setup(d, s.h, path, true, timeout_ms, errbuf);
	curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s);
	if (up) {
		curl_easy_setopt(s.h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(s.h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(s.h, CURLOPT_READFUNCTION, upload_read);
		curl_easy_setopt(s.h, CURLOPT_READDATA, up);
		struct strbuf ct = STRBUF_INIT;
		strbuf_addf(&ct, "Content-Type: %s", content_type);
		headers = curl_slist_append(headers, strbuf_cstr(&ct));
		headers = curl_slist_append(headers, "Expect:");
		strbuf_release(&ct);
		curl_easy_setopt(s.h, CURLOPT_HTTPHEADER, headers);
	}

	CURLcode rc = curl_easy_perform(s.h);
	if (s.fn_rc != 0) {
		*status = s.status;
		ret = s.fn_rc;
		goto out;
	}
	if (up && up->failed) {
		ret = error_set(err, "%s %.*s: the body could not be made", method, path_len(path),
				path);
		goto out;
	}
	if (rc != CURLE_OK) {
		long os_errno = 0;
		curl_easy_getinfo(s.h, CURLINFO_OS_ERRNO, &os_errno);
		transport_error(d, rc, os_errno, errbuf, timeout_ms, err);
		error_wrap(err, "%s %.*s", method, path_len(path), path);
		goto out;
	}
	curl_easy_getinfo(s.h, CURLINFO_RESPONSE_CODE, status);
	if (*status < 200 || *status >= 300) {
		status_error(*status, &s.error_body, err);
		error_wrap(err, "%s %.*s", method, path_len(path), path);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(headers);
	handle_give(d, s.h);
	strbuf_release(&s.error_body);
	return ret;
}

int docker_stream(struct docker *d, const char *path, long timeout_ms, docker_stream_fn fn,
		  void *ctx, long *status, struct error *err)
{
	return transfer(d, "GET", path, NULL, NULL, timeout_ms, fn, ctx, status, err);
}

static int ignore_answer(void *ctx, const char *data, size_t len)
{
	(void)ctx, (void)data, (void)len;
	return 0;
}

int docker_upload(struct docker *d, const char *method, const char *path, const char *content_type,
		  docker_read_fn fn, void *ctx, long *status, struct error *err)
{
	struct upload up = {.fn = fn, .ctx = ctx};
	return transfer(d, method, path, &up, content_type, 0, ignore_answer, NULL, status, err);
}

/* A header byte that cannot start a frame: the container has a TTY and its
 * stream is raw. */
static bool header_byte_valid(size_t i, unsigned char c)
{
	return i == 0 ? c <= 2 : i < 4 ? c == 0 : true;
}

/* Raw mode: the rest of the stream is stdout, forever. */
#define DEMUX_RAW ((size_t)-1)

int docker_demux_feed(struct docker_demux *dm, const char *data, size_t len, docker_demux_fn fn,
		      void *ctx)
{
	int rc;
	while (len) {
		if (dm->remaining == DEMUX_RAW)
			return fn(ctx, 1, data, len);
		if (dm->remaining) {
			size_t take = len < dm->remaining ? len : dm->remaining;
			if ((rc = fn(ctx, dm->stream, data, take)) != 0)
				return rc;
			dm->remaining -= take;
			data += take;
			len -= take;
			continue;
		}
		unsigned char c = (unsigned char)*data;
		if (!header_byte_valid(dm->have, c)) {
			/* Hand over what was taken for a header as the text it was. */
			dm->remaining = DEMUX_RAW;
			dm->stream = 1;
			size_t have = dm->have;
			dm->have = 0;
			if (have) {
				rc = fn(ctx, 1, (const char *)dm->header, have);
				if (rc != 0)
					return rc;
			}
			continue;
		}
		dm->header[dm->have++] = c;
		data++;
		len--;
		if (dm->have == sizeof(dm->header)) {
			dm->stream = dm->header[0];
			dm->remaining = (size_t)dm->header[4] << 24 | (size_t)dm->header[5] << 16 |
					(size_t)dm->header[6] << 8 | (size_t)dm->header[7];
			dm->have = 0;
		}
	}
	return 0;
}

char *docker_filtered_path(const char *path, json_t *filters)
{
	char *text = json_dumps(filters, JSON_COMPACT);
	json_decref(filters);
	char *esc = curl_easy_escape(NULL, text ? text : "{}", 0);
	free(text);
	struct strbuf url = STRBUF_INIT;
	strbuf_addf(&url, "%s%cfilters=%s", path, strchr(path, '?') ? '&' : '?', esc ? esc : "");
	curl_free(esc);
	return strbuf_detach(&url);
}

static int print_stream(void *ctx, int stream, const char *data, size_t len)
{
	FILE *f = stream == 2 ? stderr : stdout;
	if (fwrite(data, 1, len, f) != len)
		return -1;
	fflush(f);
	return 0;
}

int docker_demux_print(void *ctx, const char *data, size_t len)
{
	return docker_demux_feed(ctx, data, len, print_stream, NULL);
}

struct output {
	struct docker_demux dm;
	struct strbuf *out;
};

static int on_output_frame(void *ctx, int stream, const char *data, size_t len)
{
	(void)stream;
	strbuf_add(((struct output *)ctx)->out, data, len);
	return 0;
}

static int on_output_piece(void *ctx, const char *data, size_t len)
{
	struct output *o = ctx;
	return docker_demux_feed(&o->dm, data, len, on_output_frame, o);
}

int docker_container_output(struct docker *d, const char *id, bool stdout_only, int tail,
			    long timeout_ms, struct strbuf *out, struct error *err)
{
	struct output o = { .out = out };
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "/containers/%s/logs?stdout=1%s", id, stdout_only ? "" : "&stderr=1");
	if (tail > 0)
		strbuf_addf(&path, "&tail=%d", tail);
	long status;
	int rc = docker_stream(d, strbuf_cstr(&path), timeout_ms, on_output_piece, &o, &status, err);
	strbuf_release(&path);
	return rc;
}
