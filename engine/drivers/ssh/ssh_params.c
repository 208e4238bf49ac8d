/* The ssh driver's param tables (ssh_params.h): each param once, with what
 * it must be and what it sets in a process_spec. The walker has checked
 * every rendered value before a build runs. */
#include "ssh_params.h"
#include "ssh_nginx.h"
#include "ssh_spec.h"

#include "base/alloc.h"
#include "base/parse.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int process_parse_percent(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || errno || v < 1 || v > 99)
		return -1;
	if (*end == '%')
		end++;
	if (*end)
		return -1;
	*out = (int)v;
	return 0;
}

/* ---- what scalars must be ---- */

static bool v_listen(const char *s)
{
	return !strcmp(s, "socket") || !strcmp(s, "port");
}
/* A release uses the port and the next one. */
static bool v_release_port(const char *s)
{
	int p;
	return parse_port(s, &p) == 0 && p < 65535;
}
/* Written into the supervisor's health probe as it is. */
static bool v_http_path(const char *s)
{
	if (s[0] != '/')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '\'' || *s == '"' || *s == '\\')
			return false;
	return true;
}
static bool v_percent(const char *s)
{
	int p;
	return process_parse_percent(s, &p) == 0;
}
static bool v_blue_green(const char *s)
{
	return strcmp(s, "blue-green") == 0;
}
static bool v_user(const char *s)
{
	if (!*s || *s == '-')
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("._-", *s)))
			return false;
	return true;
}
/* Passed to ssh: never an option, never user@host. */
static bool v_address(const char *s)
{
	return *s && *s != '-' && !strpbrk(s, " \t\n@/");
}
static bool v_seconds(const char *s)
{
	long long v;
	return parse_integer(s, 1, 600, &v) == 0;
}

static const char *env_name_problem(const char *s)
{
	bool ok = isalpha((unsigned char)*s) || *s == '_';
	for (const char *c = s + 1; ok && *c; c++)
		ok = isalnum((unsigned char)*c) || *c == '_';
	if (!ok)
		return "is not a variable name";
	if (!strcmp(s, "LISTEN") || !strcmp(s, "PORT") || !strncmp(s, "CAIRN_", 6))
		return "is set by cairn (LISTEN, PORT, CAIRN_*)";
	return NULL;
}

/* ---- builds: rendered values into the spec ---- */

static char *text_dup(const json_t *v)
{
	char buf[64];
	const char *t = v ? param_json_text(v, buf, sizeof(buf)) : NULL;
	return t ? xstrdup(t) : NULL;
}

static int seconds_of(const json_t *v)
{
	char buf[64];
	int64_t s = 0;
	parse_duration_seconds(param_json_text(v, buf, sizeof(buf)), &s);
	return (int)s;
}

static int build_artifact(void *req, const json_t *v, struct error *err)
{
	((struct process_spec *)req)->artifact = text_dup(v);
	return 0;
}

static int build_start(void *req, const json_t *v, struct error *err)
{
	((struct process_spec *)req)->start = text_dup(v);
	return 0;
}

static int build_env(void *req, const json_t *v, struct error *err)
{
	struct process_spec *s = req;
	const char *k;
	json_t *ev;
	char buf[64];
	json_object_foreach((json_t *)v, k, ev)
		json_object_set_new(s->env, k, json_string(param_json_text(ev, buf, sizeof(buf))));
	return 0;
}

static int build_port(void *req, const json_t *v, struct error *err)
{
	char buf[64];
	parse_port(param_json_text(v, buf, sizeof(buf)), &((struct process_spec *)req)->port);
	return 0;
}

static int build_health(void *req, const json_t *v, struct error *err)
{
	struct process_spec *s = req;
	s->health_http = text_dup(json_object_get(v, "http"));
	s->health_cmd = text_dup(json_object_get(v, "command"));
	const json_t *t = json_object_get(v, "timeout");
	if (t)
		s->health_timeout_s = seconds_of(t);
	return 0;
}

static int build_update(void *req, const json_t *v, struct error *err)
{
	char buf[64];
	const json_t *canary = json_object_get(v, "canary");
	if (canary)
		process_parse_percent(param_json_text(canary, buf, sizeof(buf)),
				      &((struct process_spec *)req)->canary);
	return 0;
}

static int build_route(void *req, const json_t *v, struct error *err)
{
	struct process_spec *s = req;
	s->routed = true;
	s->route_host = text_dup(json_object_get(v, "host"));
	s->route_prefix = text_dup(json_object_get(v, "prefix"));
	return 0;
}

static int build_drain(void *req, const json_t *v, struct error *err)
{
	((struct process_spec *)req)->drain_s = seconds_of(v);
	return 0;
}

/* ---- checks across keys ---- */

static void process_also(struct param_walk *w, const void *params)
{
	char buf[64];
	const void *listen = param_get(w, params, "listen");
	const char *how = param_text(w, listen, buf, sizeof(buf));
	if (how && !strcmp(how, "port") && !param_get(w, params, "port"))
		param_error(w, listen, "listen: port needs 'port'");
}

static void health_also(struct param_walk *w, const void *health)
{
	if (!param_get(w, health, "http") == !param_get(w, health, "command"))
		param_error(w, health, "health needs exactly one of 'http' (a path) or 'command'");
}

static void hosts_also(struct param_walk *w, const void *config)
{
	const void *hosts = param_get(w, config, "hosts");
	if (param_is_list(w, hosts) && param_len(w, hosts) == 0)
		param_error(w, hosts, "hosts must be a non-empty list of {address, port, user, name}");
}

/* ---- the tables ---- */

#define SCALAR(k, fn, what) .key = k, .shape = PARAM_SCALAR, .valid = fn, .expected = what
#define SAFE_PATH(k) SCALAR(k, param_safe_path, PARAM_SAFE_PATH)

static const struct param env_value = { .shape = PARAM_SCALAR, .flags = PARAM_SECRETS,
					.expected = "a scalar" };

static const struct param health_fields[] = {
	{ SCALAR("http", v_http_path, "a path starting with / (no spaces or quotes)") },
	{ SCALAR("command", param_nonempty, "a non-empty command") },
	{ SCALAR("timeout", param_duration, "a duration such as 30s") },
	{ 0 },
};

static const struct param update_fields[] = {
	{ SCALAR("canary", v_percent, "a percentage from 1 to 99"), .flags = PARAM_REQUIRED,
	  .hint = "PERCENT, or write update: blue-green" },
	{ 0 },
};

static const struct param route_fields[] = {
	{ SCALAR("host", ssh_route_host_ok, "a host name (letters, digits, '-' and '.')") },
	{ SCALAR("prefix", ssh_route_prefix_ok,
		 "a path that starts and ends with '/' (letters, digits, -._~)") },
	{ 0 },
};

static const struct param process_fields[] = {
	{ SCALAR("artifact", param_nonempty, "a local directory or .tar.gz file"),
	  .flags = PARAM_REQUIRED, .hint = "a local directory or .tar.gz file",
	  .build = build_artifact },
	{ SCALAR("start", param_nonempty, "a non-empty string"), .flags = PARAM_REQUIRED,
	  .hint = "the command run in the release directory", .build = build_start },
	{ .key = "env", .shape = PARAM_DICT, .flags = PARAM_SECRETS,
	  .expected = "a mapping of names to values", .item = &env_value,
	  .name_problem = env_name_problem, .build = build_env },
	{ SCALAR("listen", v_listen, "socket (the default) or port") },
	{ SCALAR("port", v_release_port, "a port number (1-65534; releases use it and the next)"),
	  .build = build_port },
	{ .key = "health", .shape = PARAM_MAP,
	  .expected = "a mapping: {http: /path} or {command: \"…\"}", .fields = health_fields,
	  .noun = "health", .also = health_also, .build = build_health },
	{ .key = "update", .shape = PARAM_SCALAR | PARAM_MAP, .valid = v_blue_green,
	  .expected = "blue-green or {canary: PERCENT}", .fields = update_fields,
	  .noun = "update", .build = build_update },
	{ .key = "route", .shape = PARAM_MAP,
	  .expected = "a mapping: {host: app.example.com, prefix: /}", .fields = route_fields,
	  .noun = "route", .build = build_route },
	{ SCALAR("drain", param_duration, "a duration such as 3s"), .build = build_drain },
	{ SCALAR("cluster", param_nonempty, "a non-empty string") },
	{ 0 },
};

const struct param process_params = {
	.shape = PARAM_MAP, .expected = "a mapping with 'artifact' and 'start'",
	.fields = process_fields, .noun = "process", .also = process_also,
};

/* ---- an ssh cluster's config ---- */

static int build_hosts(void *req, const json_t *v, struct error *err)
{
	struct ssh_settings *s = req;
	s->nhosts = json_array_size(v);
	s->hosts = xcalloc(s->nhosts ? s->nhosts : 1, sizeof(*s->hosts));
	for (size_t i = 0; i < s->nhosts; i++) {
		const json_t *h = json_array_get(v, i);
		struct ssh_host_settings *hs = &s->hosts[i];
		param_keep_text(&hs->address, json_is_object(h) ? json_object_get(h, "address") : h);
		hs->name = hs->address;
		param_keep_text(&hs->name, json_object_get(h, "name"));
		hs->user = "root";
		param_keep_text(&hs->user, json_object_get(h, "user"));
		hs->port = 22;
		const json_t *port = json_object_get(h, "port");
		if (json_is_string(port))
			parse_port(json_string_value(port), &hs->port);
	}
	return 0;
}

static int build_connect_timeout(void *req, const json_t *v, struct error *err)
{
	if (json_is_string(v))
		((struct ssh_settings *)req)->connect_timeout_s = atoi(json_string_value(v));
	return 0;
}

void ssh_settings_read(struct ssh_settings *s, const struct ynode *config)
{
	*s = (struct ssh_settings){ .root = "/srv/cairn", .domain = "localhost",
				    .nginx_config = "/etc/nginx/nginx.conf",
				    .nginx_pid = "/run/nginx.pid", .connect_timeout_s = 5,
				    .config = params_config_json(config) };
	/* checked when the cluster was applied: nothing here fails */
	struct error err = ERROR_INIT;
	params_build(&ssh_cluster_config, s->config, s, &err);
	error_clear(&err);
}

void ssh_settings_release(struct ssh_settings *s)
{
	free(s->hosts);
	json_decref(s->config);
	memset(s, 0, sizeof(*s));
}

static const struct param host_fields[] = {
	{ SCALAR("address", v_address, "a host name or address"), .flags = PARAM_REQUIRED },
	{ SCALAR("port", param_port, "a port number") },
	{ SCALAR("user", v_user, "a user name") },
	{ SCALAR("name", ssh_route_host_ok, "a name (letters, digits, '-' and '.')") },
	{ 0 },
};
static const struct param host = {
	.shape = PARAM_SCALAR | PARAM_MAP, .valid = v_address,
	.expected = "a host name or address, or {address, port, user, name}",
	.fields = host_fields, .noun = "host",
};

#define TEXT(member) .flags = PARAM_TEXT, .at = offsetof(struct ssh_settings, member)

static const struct param nginx_fields[] = {
	{ SAFE_PATH("config"), TEXT(nginx_config) },
	{ SAFE_PATH("pid"), TEXT(nginx_pid) },
	{ 0 },
};

static const struct param ssh_config_fields[] = {
	{ .key = "hosts", .shape = PARAM_LIST, .flags = PARAM_REQUIRED,
	  .expected = "a non-empty list of {address, port, user, name}", .item = &host,
	  .hint = "a list of {address, port, user, name}", .build = build_hosts },
	{ SCALAR("identity", param_nonempty, "a file name"), TEXT(identity) },
	{ SCALAR("known_hosts", param_nonempty, "a file name"),
	  .flags = PARAM_REQUIRED | PARAM_TEXT, .at = offsetof(struct ssh_settings, known_hosts),
	  .hint = "host keys are always checked" },
	{ SAFE_PATH("root"), TEXT(root) },
	{ SCALAR("domain", ssh_route_host_ok, "a host name"), TEXT(domain) },
	{ .key = "nginx", .shape = PARAM_MAP,
	  .expected = "a mapping: {config: /etc/nginx/nginx.conf, pid: /run/nginx.pid}",
	  .fields = nginx_fields, .noun = "nginx" },
	{ SCALAR("connect_timeout", v_seconds, "a number of seconds (1-600)"),
	  .build = build_connect_timeout },
	{ 0 },
};

const struct param ssh_cluster_config = {
	.shape = PARAM_MAP, .expected = "a mapping with 'hosts' and 'known_hosts'",
	.fields = ssh_config_fields, .noun = "ssh cluster config", .also = hosts_also,
};
