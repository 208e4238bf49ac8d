/* The docker driver's param tables (docker_params.h): each param once, with
 * what it must be and what it adds to the container create body. The walker
 * has checked every rendered value before a build runs. */
#include "docker_params.h"

#include "base/alloc.h"
#include "base/parse.h"
#include "base/strbuf.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool docker_restart_valid(const char *s)
{
	if (!strcmp(s, "no") || !strcmp(s, "always") || !strcmp(s, "unless-stopped") ||
	    !strcmp(s, "on-failure"))
		return true;
	if (strncmp(s, "on-failure:", 11) != 0)
		return false;
	long long n;
	return parse_positive(s + 11, &n) == 0;
}

bool docker_host_valid(const char *s)
{
	size_t label = 0, total = strlen(s);
	if (!total || total > 253)
		return false;
	for (const char *c = s;; c++) {
		if (*c == '.' || !*c) {
			if (!label || label > 63 || c[-1] == '-')
				return false;
			if (!*c)
				return true;
			label = 0;
		} else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || (*c == '-' && label)) {
			label++;
		} else {
			return false;
		}
	}
}

/* ---- what scalars must be ---- */

static bool v_publish(const char *s)
{
	return param_bool(s) || param_port(s);
}
static bool v_bytes(const char *s)
{
	int64_t b;
	return parse_bytes(s, &b) == 0;
}
static bool v_cpus(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	return end != s && !*end && v > 0 && v <= 1024;
}
static bool v_protocol(const char *s)
{
	return strcmp(s, "tcp") == 0 || strcmp(s, "udp") == 0;
}
static bool v_abs_path(const char *s)
{
	return s[0] == '/';
}
static bool v_dataset(const char *s)
{
	const char *slash = strchr(s, '/');
	return slash && slash != s && slash[1] && !strchr(slash + 1, '/');
}
static bool v_endpoint(const char *s)
{
	return !strncmp(s, "unix://", 7) || !strncmp(s, "tcp://", 6) || !strncmp(s, "ssh://", 6);
}

static const char *env_name_problem(const char *s)
{
	bool ok = isalpha((unsigned char)*s) || *s == '_';
	for (const char *c = s + 1; ok && *c; c++)
		ok = isalnum((unsigned char)*c) || *c == '_' || *c == '.' || *c == '-';
	return ok ? NULL : "is not a variable name";
}

static const char *label_name_problem(const char *s)
{
	return strncmp(s, "cairn.", 6) == 0 ? "is one of cairn.*, which cairn sets itself" : NULL;
}

/* ---- builds: rendered values into the create body ---- */

#define SCALAR_TEXT(v, buf) param_json_text(v, buf, sizeof(buf))

/* A command: a list of strings, or one string split on spaces. */
static json_t *command_array(const json_t *v)
{
	json_t *arr = json_array();
	char buf[64];
	if (json_is_array(v)) {
		size_t i;
		const json_t *it;
		json_array_foreach(v, i, it)
			json_array_append_new(arr, json_string(SCALAR_TEXT(it, buf)));
		return arr;
	}
	char *copy = xstrdup(SCALAR_TEXT(v, buf)), *save = NULL;
	for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
		json_array_append_new(arr, json_string(w));
	free(copy);
	return arr;
}

static int build_image(void *req, const json_t *v, struct error *err)
{
	struct docker_build *b = req;
	b->image = SCALAR_TEXT(v, b->image_text);
	return 0;
}

/* data: {dataset: NS/NAME}: the dataset's prepared image (a PostgreSQL
 * with the snapshot's data in its data directory), labelled with the
 * snapshot it holds. SIGINT stops it with a fast shutdown instead of
 * waiting for the clients to leave. */
static int build_data(void *req, const json_t *v, struct error *err)
{
	struct docker_build *b = req;
	const struct docker_target *t = b->target;
	const char *dataset = json_string_value(json_object_get(v, "dataset"));
	b->data = (struct docker_data){ .image = dataset, .snapshot = "none", .build = "unknown",
					.dataset = dataset };
	if (t->data_image && t->data_image(t->data_ctx, dataset, &b->data, err) < 0)
		return error_wrap(err, "params: data");
	b->has_data = true;
	b->image = b->data.image;
	json_object_set_new(b->labels, "cairn.snapshot", json_string(b->data.snapshot));
	json_object_set_new(b->labels, "cairn.snapshot.build", json_string(b->data.build));
	json_object_set_new(b->labels, "cairn.snapshot.dataset", json_string(dataset));
	json_object_set_new(b->config, "StopSignal", json_string("SIGINT"));
	return 0;
}

static int build_command(void *req, const json_t *v, struct error *err)
{
	json_object_set_new(((struct docker_build *)req)->config, "Cmd", command_array(v));
	return 0;
}

static int build_entrypoint(void *req, const json_t *v, struct error *err)
{
	json_object_set_new(((struct docker_build *)req)->config, "Entrypoint", command_array(v));
	return 0;
}

static int build_env(void *req, const json_t *v, struct error *err)
{
	json_t *env = json_array();
	const char *k;
	json_t *ev;
	char buf[64];
	json_object_foreach((json_t *)v, k, ev)
	{
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "%s=%s", k, SCALAR_TEXT(ev, buf));
		json_array_append_new(env, json_string(strbuf_cstr(&sb)));
		strbuf_release(&sb);
	}
	json_object_set_new(((struct docker_build *)req)->config, "Env", env);
	return 0;
}

struct docker_port docker_port_read(const json_t *item)
{
	const json_t *port = json_is_object(item) ? json_object_get(item, "port") : item;
	const json_t *pub = json_is_object(item) ? json_object_get(item, "publish") : NULL;
	const json_t *proto = json_is_object(item) ? json_object_get(item, "protocol") : NULL;
	struct docker_port p = { .protocol = json_is_string(proto) ? json_string_value(proto) : "tcp" };
	char buf[64];
	parse_port(SCALAR_TEXT(port, buf), &p.number);
	if (pub && parse_bool(SCALAR_TEXT(pub, buf), &p.publish) < 0)
		p.publish = parse_port(SCALAR_TEXT(pub, buf), &p.host_port) == 0;
	return p;
}

static int build_ports(void *req, const json_t *v, struct error *err)
{
	struct docker_build *b = req;
	json_t *exposed_ports = json_object(), *bindings = json_object();
	json_object_set_new(b->config, "ExposedPorts", exposed_ports);
	json_object_set_new(b->host, "PortBindings", bindings);
	size_t i;
	const json_t *it;
	json_array_foreach(v, i, it)
	{
		struct docker_port p = docker_port_read(it);
		char name[32];
		snprintf(name, sizeof(name), "%d/%s", p.number, p.protocol);
		json_object_set_new(exposed_ports, name, json_object());
		if (!p.publish)
			continue;
		/* HostPort "" lets the engine pick a free port itself: nothing is
		 * bound and released first, so no other process can take it. */
		char hp[16] = "";
		if (p.host_port)
			snprintf(hp, sizeof(hp), "%d", p.host_port);
		json_object_set_new(bindings, name, json_pack("[{s:s, s:s}]", "HostIp", "", "HostPort", hp));
		b->exposed = true;
	}
	return 0;
}

static int build_volumes(void *req, const json_t *v, struct error *err)
{
	struct docker_build *b = req;
	const struct docker_target *t = b->target;
	json_t *mounts = json_array();
	json_object_set_new(b->host, "Mounts", mounts);
	size_t i;
	const json_t *it;
	char buf[64];
	json_array_foreach(v, i, it)
	{
		char nbuf[64], pbuf[64];
		const json_t *nv = json_object_get(it, "name"), *rov = json_object_get(it, "read_only");
		const char *name = nv ? SCALAR_TEXT(nv, nbuf) : NULL;
		const char *bind = json_string_value(json_object_get(it, "bind"));
		const char *path = SCALAR_TEXT(json_object_get(it, "path"), pbuf);
		bool ro = false;
		if (rov)
			parse_bool(SCALAR_TEXT(rov, buf), &ro);
		json_t *m = json_object();
		if (name && t->slot_volume && strcmp(name, t->slot_volume) == 0) {
			json_object_set_new(m, "Type", json_string("volume"));
			json_object_set_new(m, "Source", json_string(t->slot_source));
		} else if (name) {
			/* owned by the instance: named after its key */
			struct strbuf vn = STRBUF_INIT;
			strbuf_addf(&vn, "%s-%s", t->key, name);
			char *volume = docker_object_name(strbuf_cstr(&vn));
			json_object_set_new(m, "Type", json_string("volume"));
			json_object_set_new(m, "Source", json_string(volume));
			json_array_append_new(b->named, json_string(volume));
			free(volume);
			strbuf_release(&vn);
		} else {
			json_object_set_new(m, "Type", json_string("bind"));
			json_object_set_new(m, "Source", json_string(bind));
		}
		json_object_set_new(m, "Target", json_string(path));
		json_object_set_new(m, "ReadOnly", json_boolean(ro));
		json_array_append_new(mounts, m);
	}
	return 0;
}

static int build_labels(void *req, const json_t *v, struct error *err)
{
	struct docker_build *b = req;
	const char *k;
	json_t *lv;
	char buf[64];
	json_object_foreach((json_t *)v, k, lv)
		json_object_set_new(b->labels, k, json_string(SCALAR_TEXT(lv, buf)));
	return 0;
}

static int build_health(void *req, const json_t *h, struct error *err)
{
	struct docker_build *b = req;
	const json_t *cmd = json_object_get(h, "command");
	json_t *test = json_array();
	char buf[64];
	if (json_is_array(cmd)) {
		json_array_append_new(test, json_string("CMD"));
		json_array_extend(test, command_array(cmd));
	} else {
		json_array_append_new(test, json_string("CMD-SHELL"));
		json_array_append_new(test, json_string(SCALAR_TEXT(cmd, buf)));
	}
	json_t *hc = json_object();
	json_object_set_new(hc, "Test", test);
	static const char *const durs[][2] = {
		{ "interval", "Interval" }, { "timeout", "Timeout" }, { "start_period", "StartPeriod" }
	};
	for (size_t i = 0; i < 3; i++) {
		const json_t *v = json_object_get(h, durs[i][0]);
		int64_t ns;
		/* The engine refuses intervals under 1 ms; 0 means its default. */
		if (v && parse_duration(SCALAR_TEXT(v, buf), &ns) == 0)
			json_object_set_new(hc, durs[i][1], json_integer(ns));
	}
	const json_t *r = json_object_get(h, "retries");
	int n;
	if (r && parse_port(SCALAR_TEXT(r, buf), &n) == 0)
		json_object_set_new(hc, "Retries", json_integer(n));
	json_object_set_new(b->config, "Healthcheck", hc);
	b->health = true;
	return 0;
}

static int build_init(void *req, const json_t *v, struct error *err)
{
	char buf[64];
	parse_bool(SCALAR_TEXT(v, buf), &((struct docker_build *)req)->init);
	return 0;
}

static int build_restart(void *req, const json_t *v, struct error *err)
{
	((struct docker_build *)req)->restart = json_string_value(v);
	return 0;
}

static int build_memory(void *req, const json_t *v, struct error *err)
{
	char buf[64];
	int64_t bytes = 0;
	parse_bytes(SCALAR_TEXT(v, buf), &bytes);
	json_object_set_new(((struct docker_build *)req)->host, "Memory", json_integer(bytes));
	return 0;
}

static int build_cpus(void *req, const json_t *v, struct error *err)
{
	char buf[64];
	double cpus = strtod(SCALAR_TEXT(v, buf), NULL);
	json_object_set_new(((struct docker_build *)req)->host, "NanoCpus",
			    json_integer((json_int_t)(cpus * 1e9)));
	return 0;
}

static int build_host(void *req, const json_t *v, struct error *err)
{
	struct docker_build *b = req;
	char buf[64];
	snprintf(b->route_host, sizeof(b->route_host), "%s", SCALAR_TEXT(v, buf));
	return 0;
}

static int build_cluster(void *req, const json_t *v, struct error *err)
{
	const struct docker_build *b = req;
	char buf[64];
	const char *s = SCALAR_TEXT(v, buf);
	if (strcmp(s, b->target->cluster) != 0)
		return error_set(err, "params: cluster '%s' is not the instance's cluster '%s'", s,
				 b->target->cluster);
	return 0;
}

/* ---- checks across keys ---- */

static void docker_also(struct param_walk *w, const void *params)
{
	const void *image = param_get(w, params, "image"), *data = param_get(w, params, "data");
	if (image && data)
		param_error(w, image, "image and data exclude each other (data runs the dataset's "
				      "prepared image)");
	else if (!image && !data)
		param_error(w, params, "missing 'image' (or data: {dataset: NAMESPACE/NAME})");
}

static void volume_also(struct param_walk *w, const void *volume)
{
	if (!param_get(w, volume, "name") == !param_get(w, volume, "bind"))
		param_error(w, volume, "%s needs exactly one of 'name' (a volume of the instance) or "
				       "'bind' (a host directory)",
			    param_path(w));
}

/* backup: what `cairn backup` copies of the instance (its database, one of
 * its named volumes) and what a replica restores. */
static void backup_also(struct param_walk *w, const void *backup)
{
	const void *vol = param_get(w, backup, "volume");
	if (!vol && !param_get(w, backup, "postgres"))
		param_error(w, backup, "backup needs 'postgres' (the database it serves) or 'volume' "
				       "(one of its volumes)");
	char buf[256], nbuf[256];
	const char *name = param_text(w, vol, buf, sizeof(buf));
	const void *volumes = param_get(w, param_root(w), "volumes");
	if (!name || (volumes && !param_is_list(w, volumes)))
		return; /* a template, or a volumes error said already */
	for (size_t i = 0; volumes && i < param_len(w, volumes); i++) {
		const void *vn = param_get(w, param_item(w, volumes, i), "name");
		const char *text = param_text(w, vn, nbuf, sizeof(nbuf));
		if (vn && (!text || strcmp(text, name) == 0))
			return; /* found, or a template that may render to it */
	}
	param_error(w, vol, "backup.volume '%s' is not one of its volumes (volumes: [{name: %s, "
			    "path: …}])",
		    name, name);
}

/* ---- the tables ---- */

#define SCALAR(k, fn, what) .key = k, .shape = PARAM_SCALAR, .valid = fn, .expected = what
#define NONEMPTY(k) SCALAR(k, param_nonempty, "a non-empty string")
#define WORDS .shape = PARAM_SCALAR | PARAM_LIST, .expected = "a list of strings or a string", \
	      .item = &word
#define DURATION(k) SCALAR(k, param_duration, "a duration such as 5s or 500ms")

static const struct param word = { .shape = PARAM_SCALAR, .expected = "a string" };
static const struct param env_value = { .shape = PARAM_SCALAR, .flags = PARAM_SECRETS,
					.expected = "a scalar" };
static const struct param label_value = { .shape = PARAM_SCALAR, .expected = "a scalar" };

static const struct param port_fields[] = {
	{ SCALAR("port", param_port, "a port number (1-65535)"), .flags = PARAM_REQUIRED,
	  .hint = "the container's port" },
	{ SCALAR("publish", v_publish, "true (the engine picks a host port) or a host port number") },
	{ SCALAR("protocol", v_protocol, "tcp or udp") },
	{ 0 },
};
static const struct param port_item = {
	.shape = PARAM_SCALAR | PARAM_MAP, .valid = param_port,
	.expected = "a port number (1-65535) or {port, publish, protocol}",
	.fields = port_fields, .noun = "port",
};

static const struct param volume_fields[] = {
	{ NONEMPTY("name") },
	{ SCALAR("bind", v_abs_path, "an absolute host path") },
	{ SCALAR("path", v_abs_path, "an absolute path"), .flags = PARAM_REQUIRED,
	  .hint = "where it is mounted in the container" },
	{ SCALAR("read_only", param_bool, "true or false") },
	{ 0 },
};
static const struct param volume_item = {
	.shape = PARAM_MAP,
	.expected = "a mapping: {name: data, path: /data} or {bind: /host/dir, path: /dir}",
	.fields = volume_fields, .noun = "volume", .also = volume_also,
};

static const struct param health_fields[] = {
	{ .key = "command", WORDS, .flags = PARAM_REQUIRED },
	{ DURATION("interval") },
	{ DURATION("timeout") },
	{ DURATION("start_period") },
	{ SCALAR("retries", param_port, "a positive integer") },
	{ 0 },
};

static const struct param data_fields[] = {
	{ SCALAR("dataset", v_dataset, "NAMESPACE/NAME"), .flags = PARAM_REQUIRED,
	  .hint = "NAMESPACE/NAME of a dataset" },
	{ 0 },
};

static const struct param backup_postgres_fields[] = {
	{ NONEMPTY("database"), .flags = PARAM_REQUIRED },
	{ NONEMPTY("user"), .flags = PARAM_REQUIRED },
	{ 0 },
};
static const struct param backup_fields[] = {
	{ .key = "postgres", .shape = PARAM_MAP, .expected = "{database: D, user: U}",
	  .fields = backup_postgres_fields, .noun = "backup postgres" },
	{ SCALAR("volume", param_nonempty, "the name of one of its volumes") },
	{ 0 },
};

static const struct param docker_fields[] = {
	{ NONEMPTY("image"), .build = build_image },
	{ .key = "data", .shape = PARAM_MAP, .expected = "{dataset: NAMESPACE/NAME}",
	  .fields = data_fields, .noun = "data", .build = build_data },
	{ .key = "command", WORDS, .build = build_command },
	{ .key = "entrypoint", WORDS, .build = build_entrypoint },
	{ .key = "env", .shape = PARAM_DICT, .flags = PARAM_SECRETS,
	  .expected = "a mapping of names to values", .item = &env_value,
	  .name_problem = env_name_problem, .build = build_env },
	{ .key = "ports", .shape = PARAM_LIST, .expected = "a list of ports", .item = &port_item,
	  .build = build_ports },
	{ .key = "volumes", .shape = PARAM_LIST, .expected = "a list of volumes", .item = &volume_item,
	  .build = build_volumes },
	{ .key = "labels", .shape = PARAM_DICT, .expected = "a mapping of names to values",
	  .item = &label_value, .name_problem = label_name_problem, .build = build_labels },
	{ .key = "health", .shape = PARAM_MAP, .expected = "a mapping with 'command'",
	  .fields = health_fields, .noun = "health", .build = build_health },
	{ SCALAR("init", param_bool, "true or false"), .build = build_init },
	{ SCALAR("restart", docker_restart_valid, "no, always, unless-stopped or on-failure[:N]"),
	  .build = build_restart },
	{ SCALAR("memory", v_bytes, "a size such as 256m or 1g"), .build = build_memory },
	{ SCALAR("cpus", v_cpus, "a positive number of CPUs such as 0.5"), .build = build_cpus },
	{ NONEMPTY("cluster"), .build = build_cluster },
	{ SCALAR("host", docker_host_valid, "a lower-case host name such as shop-pr-12.example.com"),
	  .build = build_host },
	/* read by backups and replicas, not part of the container */
	{ .key = "backup", .shape = PARAM_MAP,
	  .expected = "{postgres: {database: D, user: U}} or {volume: NAME}",
	  .fields = backup_fields, .noun = "backup", .also = backup_also },
	{ 0 },
};

const struct param docker_params = {
	.shape = PARAM_MAP, .expected = "a mapping with 'image'", .fields = docker_fields,
	.noun = "docker", .also = docker_also,
};

/* ---- a docker cluster's config ---- */


static int build_nginx_port(void *req, const json_t *v, struct error *err)
{
	if (json_is_string(v))
		parse_port(json_string_value(v), &((struct docker_settings *)req)->nginx_port);
	return 0;
}

/* The host of a tcp:// or ssh:// endpoint; 127.0.0.1 for a local socket. */
static char *endpoint_host(const char *ep)
{
	const char *h = NULL;
	if (ep && (strncmp(ep, "tcp://", 6) == 0 || strncmp(ep, "ssh://", 6) == 0))
		h = ep + 6;
	if (!h)
		return xstrdup("127.0.0.1");
	const char *at = strchr(h, '@');
	if (at)
		h = at + 1;
	return xstrndup(h, strcspn(h, ":/"));
}

void docker_settings_read(struct docker_settings *s, const struct ynode *config)
{
	*s = (struct docker_settings){ .api.timeout_ms = 60000, .domain = "localhost",
				       .nginx_conf = "/etc/nginx/nginx.conf", .nginx_binary = "nginx",
				       .nginx_port = 80, .config = params_config_json(config) };
	/* checked when the cluster was applied: nothing here fails */
	struct error err = ERROR_INIT;
	params_build(&docker_cluster_config, s->config, s, &err);
	error_clear(&err);
	s->routed = s->nginx_file != NULL;
	if (!s->address)
		s->address = s->endpoint_host = endpoint_host(s->api.endpoint);
}

void docker_settings_release(struct docker_settings *s)
{
	json_decref(s->config);
	free(s->endpoint_host);
	memset(s, 0, sizeof(*s));
}

#define SAFE_PATH(k) SCALAR(k, param_safe_path, PARAM_SAFE_PATH)
#define TEXT(member) .flags = PARAM_TEXT, .at = offsetof(struct docker_settings, member)
#define REQUIRED_TEXT(member) \
	.flags = PARAM_REQUIRED | PARAM_TEXT, .at = offsetof(struct docker_settings, member)

static const struct param nginx_fields[] = {
	{ SAFE_PATH("file"), REQUIRED_TEXT(nginx_file),
	  .hint = "the absolute path of the file cairn writes its server blocks to" },
	{ SAFE_PATH("conf"), TEXT(nginx_conf) },
	{ SAFE_PATH("binary"), TEXT(nginx_binary) },
	{ SCALAR("port", param_port, "a port number"), .build = build_nginx_port },
	{ 0 },
};
static const struct param tls_fields[] = {
	{ NONEMPTY("ca"), REQUIRED_TEXT(api.tls_ca) },
	{ NONEMPTY("cert"), REQUIRED_TEXT(api.tls_cert) },
	{ NONEMPTY("key"), REQUIRED_TEXT(api.tls_key) },
	{ 0 },
};
static const struct param ssh_fields[] = {
	{ NONEMPTY("identity"), TEXT(api.ssh_identity) },
	{ NONEMPTY("known_hosts"), TEXT(api.ssh_known_hosts) },
	{ 0 },
};
static const struct param cluster_fields[] = {
	{ SCALAR("endpoint", v_endpoint, "unix:///path, tcp://host:port or ssh://[user@]host[:port]"),
	  TEXT(api.endpoint) },
	{ .key = "tls", .shape = PARAM_MAP, .expected = "a mapping with ca, cert and key",
	  .fields = tls_fields, .noun = "tls" },
	{ .key = "ssh", .shape = PARAM_MAP, .expected = "a mapping with identity and known_hosts",
	  .fields = ssh_fields, .noun = "ssh" },
	/* Written into nginx's server blocks and the apps' URLs. */
	{ SCALAR("domain", docker_host_valid, "a lower-case host name such as preview.example.com"),
	  TEXT(domain) },
	{ NONEMPTY("address"), TEXT(address) },
	{ .key = "nginx", .shape = PARAM_MAP, .expected = "a mapping with file, conf, binary and port",
	  .fields = nginx_fields, .noun = "nginx" },
	{ 0 },
};

const struct param docker_cluster_config = {
	.shape = PARAM_MAP, .expected = "a mapping", .fields = cluster_fields,
	.noun = "docker cluster config",
};
