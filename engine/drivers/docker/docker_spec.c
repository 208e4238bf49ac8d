/* Rendered docker params → container create body (docker_spec.h). The
 * policy loader has checked keys and constant values; rendered templates are
 * checked here with the same parsers. */
#include "docker_spec.h"

#include "base/alloc.h"
#include "base/parse.h"
#include "base/sha256.h"
#include "base/strbuf.h"
#include "policy/docker_params.h"
#include "policy/template.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *docker_object_name(const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "cairn-");
	for (const char *c = key; *c; c++)
		strbuf_addc(&sb, isalnum((unsigned char)*c) || *c == '_' || *c == '.' || *c == '-' ? *c : '-');
	return strbuf_detach(&sb);
}

char *docker_dns_label(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *c = s; *c; c++) {
		char ch = (char)tolower((unsigned char)*c);
		if (!isalnum((unsigned char)ch))
			ch = '-';
		if (ch == '-' && (sb.len == 0 || sb.buf[sb.len - 1] == '-'))
			continue;
		strbuf_addc(&sb, ch);
	}
	while (sb.len && sb.buf[sb.len - 1] == '-')
		strbuf_truncate(&sb, sb.len - 1);
	if (sb.len > 63) {
		char hex[65];
		sha256_hex(s, strlen(s), hex);
		strbuf_truncate(&sb, 54);
		while (sb.len && sb.buf[sb.len - 1] == '-')
			strbuf_truncate(&sb, sb.len - 1);
		strbuf_addc(&sb, '-');
		strbuf_add(&sb, hex, 8);
	}
	if (!sb.len)
		strbuf_adds(&sb, "x");
	return strbuf_detach(&sb);
}

/* A scalar param as text: strings as they are, numbers and bools printed. */
static const char *scalar_text(const json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, size, "%.17g", json_real_value(v));
		return buf;
	}
	if (json_is_true(v))
		return "true";
	if (json_is_false(v))
		return "false";
	return NULL;
}

static int bad(struct error *err, const char *what, const char *expected, const json_t *v)
{
	char buf[64];
	const char *t = scalar_text(v, buf, sizeof(buf));
	if (t)
		return error_set(err, "params: %s must be %s, not '%s'", what, expected, t);
	return error_set(err, "params: %s must be %s", what, expected);
}

/* A command: a list of strings, or one string split on spaces. */
static int command_array(const json_t *v, const char *what, json_t **out, struct error *err)
{
	json_t *arr = json_array();
	char buf[64];
	if (json_is_array(v)) {
		size_t i;
		const json_t *it;
		json_array_foreach(v, i, it)
		{
			const char *t = scalar_text(it, buf, sizeof(buf));
			if (!t) {
				json_decref(arr);
				return error_set(err, "params: %s[%zu] must be a string", what, i);
			}
			json_array_append_new(arr, json_string(t));
		}
	} else {
		const char *t = scalar_text(v, buf, sizeof(buf));
		if (!t) {
			json_decref(arr);
			return error_set(err, "params: %s must be a list of strings or a string", what);
		}
		char *copy = xstrdup(t), *save = NULL;
		for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
			json_array_append_new(arr, json_string(w));
		free(copy);
	}
	*out = arr;
	return 0;
}

static int want_bool(const json_t *v, const char *what, bool *out, struct error *err)
{
	char buf[64];
	const char *t = scalar_text(v, buf, sizeof(buf));
	if (!t || parse_bool(t, out) < 0)
		return bad(err, what, "true or false", v);
	return 0;
}

static int want_port(const json_t *v, const char *what, int *out, struct error *err)
{
	char buf[64];
	const char *t = scalar_text(v, buf, sizeof(buf));
	if (!t || parse_port(t, out) < 0)
		return bad(err, what, "a port number (1-65535)", v);
	return 0;
}

static int want_duration(const json_t *v, const char *what, json_int_t *ns, struct error *err)
{
	char buf[64];
	const char *t = scalar_text(v, buf, sizeof(buf));
	int64_t d;
	if (!t || parse_duration(t, &d) < 0)
		return bad(err, what, "a duration such as 5s or 500ms", v);
	*ns = d;
	return 0;
}

static int add_ports(json_t *config, json_t *host, const json_t *ports, bool *exposed,
		     struct error *err)
{
	json_t *exposed_ports = json_object(), *bindings = json_object();
	json_object_set_new(config, "ExposedPorts", exposed_ports);
	json_object_set_new(host, "PortBindings", bindings);
	size_t i;
	const json_t *it;
	json_array_foreach(ports, i, it)
	{
		int port, host_port = 0;
		bool publish = false;
		const char *proto = "tcp";
		char what[32];
		snprintf(what, sizeof(what), "ports[%zu]", i);
		if (json_is_object(it)) {
			const json_t *p = json_object_get(it, "port");
			if (!p)
				return error_set(err, "params: %s needs 'port'", what);
			if (want_port(p, what, &port, err) < 0)
				return -1;
			const json_t *pub = json_object_get(it, "publish");
			if (pub) {
				char buf[64];
				const char *t = scalar_text(pub, buf, sizeof(buf));
				if (!t || (parse_bool(t, &publish) < 0 &&
					   parse_port(t, &host_port) < 0))
					return bad(err, "publish", "true or a host port number", pub);
				if (host_port)
					publish = true;
			}
			const json_t *pr = json_object_get(it, "protocol");
			if (pr) {
				proto = json_string_value(pr);
				if (!proto || (strcmp(proto, "tcp") && strcmp(proto, "udp")))
					return bad(err, "protocol", "tcp or udp", pr);
			}
		} else if (want_port(it, what, &port, err) < 0) {
			return -1;
		}
		char name[32];
		snprintf(name, sizeof(name), "%d/%s", port, proto);
		json_object_set_new(exposed_ports, name, json_object());
		if (publish) {
			/* HostPort "" lets the engine pick a free port itself: nothing is
			 * bound and released first, so no other process can take it. */
			char hp[16] = "";
			if (host_port)
				snprintf(hp, sizeof(hp), "%d", host_port);
			json_object_set_new(bindings, name,
					    json_pack("[{s:s, s:s}]", "HostIp", "", "HostPort", hp));
			*exposed = true;
		}
	}
	return 0;
}

static int add_volumes(json_t *host, const json_t *volumes, const struct docker_target *t,
		       json_t *named, struct error *err)
{
	json_t *mounts = json_array();
	json_object_set_new(host, "Mounts", mounts);
	size_t i;
	const json_t *it;
	json_array_foreach(volumes, i, it)
	{
		if (!json_is_object(it))
			return error_set(err, "params: volumes[%zu] must be a mapping", i);
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *bind = json_string_value(json_object_get(it, "bind"));
		const char *path = json_string_value(json_object_get(it, "path"));
		if (!path || path[0] != '/')
			return error_set(err, "params: volumes[%zu]: path must be an absolute path", i);
		if (!!name == !!bind)
			return error_set(err, "params: volumes[%zu] needs exactly one of name or bind", i);
		if (bind && bind[0] != '/')
			return error_set(err, "params: volumes[%zu]: bind must be an absolute host path", i);
		bool ro = false;
		const json_t *rov = json_object_get(it, "read_only");
		if (rov && want_bool(rov, "read_only", &ro, err) < 0)
			return -1;
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
			json_array_append_new(named, json_string(volume));
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

static int add_health(json_t *config, const json_t *h, struct error *err)
{
	if (!json_is_object(h))
		return error_set(err, "params: health must be a mapping");
	const json_t *cmd = json_object_get(h, "command");
	if (!cmd)
		return error_set(err, "params: health needs 'command'");
	json_t *test = json_array();
	if (json_is_array(cmd)) {
		json_t *args;
		if (command_array(cmd, "health.command", &args, err) < 0) {
			json_decref(test);
			return -1;
		}
		json_array_append_new(test, json_string("CMD"));
		json_array_extend(test, args);
		json_decref(args);
	} else {
		char buf[64];
		const char *s = scalar_text(cmd, buf, sizeof(buf));
		if (!s) {
			json_decref(test);
			return error_set(err, "params: health.command must be a list or a string");
		}
		json_array_append_new(test, json_string("CMD-SHELL"));
		json_array_append_new(test, json_string(s));
	}
	json_t *hc = json_object();
	json_object_set_new(hc, "Test", test);
	json_object_set_new(config, "Healthcheck", hc);
	static const char *const durs[][2] = {
		{ "interval", "Interval" }, { "timeout", "Timeout" }, { "start_period", "StartPeriod" }
	};
	for (size_t i = 0; i < 3; i++) {
		const json_t *v = json_object_get(h, durs[i][0]);
		json_int_t ns = 0;
		if (!v)
			continue;
		if (want_duration(v, durs[i][0], &ns, err) < 0)
			return -1;
		/* The engine refuses intervals under 1 ms; 0 means its default. */
		json_object_set_new(hc, durs[i][1], json_integer(ns));
	}
	const json_t *r = json_object_get(h, "retries");
	if (r) {
		int n;
		if (want_port(r, "retries", &n, err) < 0)
			return -1;
		json_object_set_new(hc, "Retries", json_integer(n));
	}
	return 0;
}

static void set_label(json_t *labels, const char *k, const char *v)
{
	json_object_set_new(labels, k, json_string(v));
}

/* cairn's own labels and the demo-service conventions (seed 001). */
static void add_cairn_labels(json_t *labels, const struct docker_target *t, const json_t *config,
			     bool exposed, const char *host, const char *url)
{
	char level[16];
	snprintf(level, sizeof(level), "%d", t->level);
	set_label(labels, "cairn.instance", t->key);
	set_label(labels, "cairn.cluster", t->cluster);
	set_label(labels, "cairn.level", level);
	set_label(labels, "run.demo", "true");
	set_label(labels, "run.demo.url", host);
	if (!exposed)
		return;
	set_label(labels, "run.demo.url_full", url);
	set_label(labels, "cairn.host", host);
	struct strbuf sb = STRBUF_INIT;
	/* Traefik v2: one router and one service per instance, routed by host. */
	const char *port = NULL;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)json_object_get(config, "ExposedPorts"), k, v)
	{
		if (!port)
			port = k;
	}
	char portnum[16] = "80";
	if (port)
		snprintf(portnum, sizeof(portnum), "%.*s", (int)strcspn(port, "/"), port);
	set_label(labels, "cairn.route.port", portnum);
	set_label(labels, "traefik.enable", "true");
	strbuf_reset(&sb);
	strbuf_addf(&sb, "traefik.http.routers.%s.rule", t->router);
	struct strbuf rule = STRBUF_INIT;
	strbuf_addf(&rule, "Host(`%s`)", host);
	set_label(labels, strbuf_cstr(&sb), strbuf_cstr(&rule));
	strbuf_reset(&sb);
	strbuf_addf(&sb, "traefik.http.routers.%s.service", t->router);
	set_label(labels, strbuf_cstr(&sb), t->router);
	strbuf_reset(&sb);
	strbuf_addf(&sb, "traefik.http.services.%s.loadbalancer.server.port", t->router);
	set_label(labels, strbuf_cstr(&sb), portnum);
	strbuf_release(&rule);
	strbuf_release(&sb);
}

const char *docker_image_tag(const char *image)
{
	const char *at = strchr(image, '@');
	if (at)
		return at + 1;
	const char *slash = strrchr(image, '/');
	const char *colon = strrchr(slash ? slash : image, ':');
	return colon ? colon + 1 : "latest";
}

/* params with the markers of {{ .Data.* }} replaced by what the service
 * instance's data is (heap); NULL with err when it has no data. */
static char *replace_data_marks(const char *params, const struct docker_target *t,
				struct error *err)
{
	/* A check without an engine (at policy apply) knows no snapshot yet:
	 * stand-ins, so the rest of the params is checked. */
	static const struct docker_data stand_in = { "check", "check", "check", "check/check", NULL };
	const struct docker_data *dd = t->data;
	if (!dd && !t->data_image && !t->data_error)
		dd = &stand_in;
	if (!dd) {
		if (t->data_error)
			error_set(err, "params: .Data: %s", t->data_error);
		else
			error_set(err, "params: {{ .Data.* }} needs a component with data: {dataset: "
				       "NAMESPACE/NAME} in the same service");
		return NULL;
	}
	static const char *const marks[] = { TEMPLATE_DATA_BUILD, TEMPLATE_DATA_SNAPSHOT,
					     TEMPLATE_DATA_DATASET };
	const char *values[] = { dd->build, dd->snapshot, dd->dataset };
	for (size_t k = 0; k < 3; k++)
		if (strpbrk(values[k], "\"\\")) /* never: ids and tags are plain */
			return error_set(err, "params: .Data: '%s' cannot be put in params", values[k]),
			       NULL;
	struct strbuf sb = STRBUF_INIT;
	for (const char *p = params; *p;) {
		size_t k = 0;
		while (k < 3 && strncmp(p, marks[k], strlen(marks[k])) != 0)
			k++;
		if (k < 3) {
			strbuf_adds(&sb, values[k]);
			p += strlen(marks[k]);
		} else {
			strbuf_addc(&sb, *p++);
		}
	}
	return strbuf_detach(&sb);
}

/* The component that a snapshot's build names (the dataset's `build:
 * {component}`) runs that build, or the demo would run an application
 * against data of another schema. */
static int check_build(const char *image, const struct docker_target *t, struct error *err)
{
	const struct docker_data *dd = t->data;
	if (!dd || !dd->build_component || !t->component ||
	    strcmp(t->component, dd->build_component) != 0)
		return 0;
	const char *tag = docker_image_tag(image);
	if (strcmp(tag, dd->build) == 0)
		return 0;
	return error_set(err, "params: image %s is build %s, but its data (snapshot %s of dataset %s) "
			      "is build %s: run tag %s (image: \"…:{{ .Data.build }}\" does) or "
			      "prepare a snapshot taken from build %s",
			 image, tag, dd->snapshot, dd->dataset, dd->build, dd->build, tag);
}

/* data: {dataset: NS/NAME}: the dataset's prepared image (a PostgreSQL
 * with the snapshot's data in its data directory), labelled with the
 * snapshot it holds. SIGINT stops it with a fast shutdown instead of
 * waiting for the clients to leave. */
static int data_param(const json_t *data, const struct docker_target *t, json_t *labels,
		      json_t *config, struct docker_data *dd, struct error *err)
{
	const char *dataset = json_string_value(json_object_get(data, "dataset"));
	const char *slash = dataset ? strchr(dataset, '/') : NULL;
	if (!json_is_object(data) || json_object_size(data) != 1 || !slash || slash == dataset ||
	    !slash[1] || strchr(slash + 1, '/'))
		return error_set(err, "params: data must be {dataset: NAMESPACE/NAME}");
	*dd = (struct docker_data){ .image = dataset, .snapshot = "none", .build = "unknown",
				    .dataset = dataset };
	if (t->data_image && t->data_image(t->data_ctx, dataset, dd, err) < 0)
		return error_wrap(err, "params: data");
	set_label(labels, "cairn.snapshot", dd->snapshot);
	set_label(labels, "cairn.snapshot.build", dd->build);
	set_label(labels, "cairn.snapshot.dataset", dataset);
	json_object_set_new(config, "StopSignal", json_string("SIGINT"));
	return 0;
}

int docker_spec_build(struct docker_spec *out, const char *params_json,
		      const struct docker_target *t, struct error *err)
{
	memset(out, 0, sizeof(*out));
	char *replaced = NULL;
	if (params_json && strstr(params_json, "${cairn.data.")) {
		if (!(replaced = replace_data_marks(params_json, t, err)))
			return -1;
		params_json = replaced;
	}
	json_error_t jerr;
	json_t *params = json_loads(params_json ? params_json : "{}", 0, &jerr);
	free(replaced);
	if (!json_is_object(params)) {
		json_decref(params);
		return error_set(err, "params: not a JSON object");
	}
	json_t *config = json_object(), *host = json_object(), *labels = json_object();
	json_t *named = json_array();
	bool init = true, exposed = false;
	const char *restart = "unless-stopped";
	const char *route_host = t->host;
	char host_buf[256];
	struct strbuf url = STRBUF_INIT;
	int rc = -1;
	char buf[64];

	const char *image = json_string_value(json_object_get(params, "image"));
	const json_t *data = json_object_get(params, "data");
	struct docker_data dd = { 0 };
	if (data) {
		if (image) {
			error_set(err, "params: image and data exclude each other (data runs the "
				       "dataset's prepared image)");
			goto out;
		}
		if (data_param(data, t, labels, config, &dd, err) < 0)
			goto out;
		image = dd.image;
	}
	if (!image || !*image) {
		error_set(err, "params: missing 'image'");
		goto out;
	}
	if (!data && check_build(image, t, err) < 0)
		goto out;
	json_object_set_new(config, "Image", json_string(image));

	const char *k;
	json_t *v;
	json_object_foreach(params, k, v)
	{
		if (!strcmp(k, "image") || !strcmp(k, "data") || !strcmp(k, "backup")) {
			continue; /* backup: read by backups and replicas, not part of the container */
		} else if (!strcmp(k, "command") || !strcmp(k, "entrypoint")) {
			json_t *arr;
			if (command_array(v, k, &arr, err) < 0)
				goto out;
			json_object_set_new(config, !strcmp(k, "command") ? "Cmd" : "Entrypoint", arr);
		} else if (!strcmp(k, "env")) {
			if (!json_is_object(v)) {
				error_set(err, "params: env must be a mapping");
				goto out;
			}
			json_t *env = json_array();
			const char *ek;
			json_t *ev;
			json_object_foreach(v, ek, ev)
			{
				const char *s = scalar_text(ev, buf, sizeof(buf));
				if (!s) {
					json_decref(env);
					error_set(err, "params: env %s must be a scalar", ek);
					goto out;
				}
				struct strbuf sb = STRBUF_INIT;
				strbuf_addf(&sb, "%s=%s", ek, s);
				json_array_append_new(env, json_string(strbuf_cstr(&sb)));
				strbuf_release(&sb);
			}
			json_object_set_new(config, "Env", env);
		} else if (!strcmp(k, "ports")) {
			if (!json_is_array(v)) {
				error_set(err, "params: ports must be a list");
				goto out;
			}
			if (add_ports(config, host, v, &exposed, err) < 0)
				goto out;
		} else if (!strcmp(k, "volumes")) {
			if (!json_is_array(v)) {
				error_set(err, "params: volumes must be a list");
				goto out;
			}
			if (add_volumes(host, v, t, named, err) < 0)
				goto out;
		} else if (!strcmp(k, "labels")) {
			if (!json_is_object(v)) {
				error_set(err, "params: labels must be a mapping");
				goto out;
			}
			const char *lk;
			json_t *lv;
			json_object_foreach(v, lk, lv)
			{
				const char *s = scalar_text(lv, buf, sizeof(buf));
				if (!s || !strncmp(lk, "cairn.", 6)) {
					error_set(err, "params: label %s must be a scalar not named cairn.*", lk);
					goto out;
				}
				set_label(labels, lk, s);
			}
		} else if (!strcmp(k, "health")) {
			if (add_health(config, v, err) < 0)
				goto out;
			out->health = true;
		} else if (!strcmp(k, "init")) {
			if (want_bool(v, "init", &init, err) < 0)
				goto out;
		} else if (!strcmp(k, "restart")) {
			restart = scalar_text(v, buf, sizeof(buf));
			if (!restart || !docker_restart_valid(restart)) {
				bad(err, "restart", "no, always, unless-stopped or on-failure[:N]", v);
				goto out;
			}
		} else if (!strcmp(k, "memory")) {
			const char *s = scalar_text(v, buf, sizeof(buf));
			int64_t bytes;
			if (!s || parse_bytes(s, &bytes) < 0) {
				bad(err, "memory", "a size such as 256m or 1g", v);
				goto out;
			}
			json_object_set_new(host, "Memory", json_integer(bytes));
		} else if (!strcmp(k, "cpus")) {
			const char *s = scalar_text(v, buf, sizeof(buf));
			char *end = NULL;
			double cpus = s ? strtod(s, &end) : 0;
			if (!s || end == s || *end || !(cpus > 0)) {
				bad(err, "cpus", "a positive number of CPUs such as 0.5", v);
				goto out;
			}
			json_object_set_new(host, "NanoCpus", json_integer((json_int_t)(cpus * 1e9)));
		} else if (!strcmp(k, "host")) {
			const char *s = scalar_text(v, buf, sizeof(buf));
			if (!s || !docker_host_valid(s)) {
				bad(err, "host", "a lower-case host name such as shop-pr-12.preview.example.com", v);
				goto out;
			}
			snprintf(host_buf, sizeof(host_buf), "%s", s);
			route_host = host_buf;
		} else if (!strcmp(k, "cluster")) {
			const char *s = scalar_text(v, buf, sizeof(buf));
			if (!s || strcmp(s, t->cluster) != 0) {
				error_set(err, "params: cluster '%s' is not the instance's cluster '%s'",
					  s ? s : "?", t->cluster);
				goto out;
			}
		} else {
			error_set(err, "params: unknown docker key '%s'", k);
			goto out;
		}
	}

	/* restart "on-failure:3" is {Name: on-failure, MaximumRetryCount: 3} */
	json_t *policy = json_object();
	size_t namelen = strcspn(restart, ":");
	json_object_set_new(policy, "Name", json_stringn(restart, namelen));
	if (restart[namelen])
		json_object_set_new(policy, "MaximumRetryCount", json_integer(atoi(restart + namelen + 1)));
	json_object_set_new(host, "RestartPolicy", policy);
	json_object_set_new(host, "Init", json_boolean(init));
	json_object_set_new(host, "NetworkMode", json_string(t->networks[0]));

	json_t *endpoints = json_object();
	json_object_set_new(endpoints, t->networks[0],
			    json_pack("{s:[s]}", "Aliases", t->alias));
	json_object_set_new(config, "NetworkingConfig", json_pack("{s:o}", "EndpointsConfig", endpoints));

	/* The app learns its own URL (what the router answers on). */
	if (t->http_port && t->http_port != 80)
		strbuf_addf(&url, "http://%s:%d/", route_host, t->http_port);
	else
		strbuf_addf(&url, "http://%s/", route_host);
	if (exposed) {
		json_t *env = json_object_get(config, "Env");
		if (!env)
			json_object_set_new(config, "Env", env = json_array());
		bool given = false;
		size_t i;
		json_t *e;
		json_array_foreach(env, i, e)
			given |= strncmp(json_string_value(e), "CAIRN_URL=", 10) == 0;
		if (!given) {
			struct strbuf var = STRBUF_INIT;
			strbuf_addf(&var, "CAIRN_URL=%s", strbuf_cstr(&url));
			json_array_append_new(env, json_string(strbuf_cstr(&var)));
			strbuf_release(&var);
		}
	}
	add_cairn_labels(labels, t, config, exposed, route_host, strbuf_cstr(&url));
	json_object_set_new(config, "Labels", labels);
	labels = NULL;
	json_object_set_new(config, "HostConfig", host);
	host = NULL;

	/* The hash covers the body. The other networks it joins are not in it:
	 * they change as consumers come and go, and are connected in place. */
	char *text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	char hex[65];
	sha256_hex(text, strlen(text), hex);
	free(text);
	set_label(json_object_get(config, "Labels"), "cairn.hash", hex);

	out->body = config;
	config = NULL;
	out->hash = xstrdup(hex);
	out->image = xstrdup(image);
	if (data) {
		out->dataset = xstrdup(json_string_value(json_object_get(data, "dataset")));
		out->snapshot = xstrdup(dd.snapshot);
	}
	out->volumes = named;
	named = NULL;
	out->exposed = exposed;
	if (exposed)
		out->url = strbuf_detach(&url);
	rc = 0;
out:
	strbuf_release(&url);
	json_decref(params);
	json_decref(config);
	json_decref(host);
	json_decref(labels);
	json_decref(named);
	return rc;
}

void docker_spec_stamp(struct docker_spec *s, long long generation, const char *const *deps,
		       size_t ndeps)
{
	json_t *labels = json_object_get(s->body, "Labels");
	char gen[32];
	snprintf(gen, sizeof(gen), "%lld", generation);
	set_label(labels, "cairn.generation", gen);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < ndeps; i++) {
		if (i)
			strbuf_addc(&sb, ',');
		strbuf_adds(&sb, deps[i]);
	}
	set_label(labels, "cairn.dependencies", strbuf_cstr(&sb));
	strbuf_release(&sb);
}

void docker_spec_release(struct docker_spec *s)
{
	json_decref(s->body);
	json_decref(s->volumes);
	free(s->hash);
	free(s->image);
	free(s->dataset);
	free(s->snapshot);
	free(s->url);
	memset(s, 0, sizeof(*s));
}
