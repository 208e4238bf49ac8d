/* Rendered docker params → container create body (docker_spec.h). The
 * policy loader has checked keys and constant values; rendered templates are
 * checked here with the same parsers. */
#include "docker_spec.h"
#include "docker_params.h"

#include "base/alloc.h"
#include "base/parse.h"
#include "base/sha256.h"
#include "base/strbuf.h"
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

/* The params as a JSON object, the data marks of a snapshot replaced;
 * NULL with err. New reference. */
static json_t *read_params(const char *params_json, const struct docker_target *t,
			   struct error *err)
{
	char *replaced = NULL;
	if (params_json && strstr(params_json, "${cairn.data.")) {
		if (!(replaced = replace_data_marks(params_json, t, err)))
			return NULL;
		params_json = replaced;
	}
	json_error_t jerr;
	json_t *params = json_loads(params_json ? params_json : "{}", 0, &jerr);
	free(replaced);
	if (!json_is_object(params)) {
		json_decref(params);
		error_set(err, "params: not a JSON object");
		return NULL;
	}
	return params;
}

/* The restart policy, init, and the instance's own network with its alias. */
static void set_host_and_network(struct docker_build *b, const struct docker_target *t)
{
	/* restart "on-failure:3" is {Name: on-failure, MaximumRetryCount: 3} */
	json_t *policy = json_object();
	size_t namelen = strcspn(b->restart, ":");
	json_object_set_new(policy, "Name", json_stringn(b->restart, namelen));
	if (b->restart[namelen])
		json_object_set_new(policy, "MaximumRetryCount", json_integer(atoi(b->restart + namelen + 1)));
	json_object_set_new(b->host, "RestartPolicy", policy);
	json_object_set_new(b->host, "Init", json_boolean(b->init));
	json_object_set_new(b->host, "NetworkMode", json_string(t->networks[0]));
	json_t *endpoints = json_object();
	json_object_set_new(endpoints, t->networks[0], json_pack("{s:[s]}", "Aliases", t->alias));
	json_object_set_new(b->config, "NetworkingConfig",
			    json_pack("{s:o}", "EndpointsConfig", endpoints));
}

/* CAIRN_URL=url in the environment, unless the params set it. */
static void add_url_env(json_t *config, const char *url)
{
	json_t *env = json_object_get(config, "Env");
	if (!env)
		json_object_set_new(config, "Env", env = json_array());
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e)
		if (strncmp(json_string_value(e), "CAIRN_URL=", 10) == 0)
			return;
	struct strbuf var = STRBUF_INIT;
	strbuf_addf(&var, "CAIRN_URL=%s", url);
	json_array_append_new(env, json_string(strbuf_cstr(&var)));
	strbuf_release(&var);
}

/* Moves what b built into out, with the hash of the body as its label.
 * The other networks it joins are not in the hash: they change as
 * consumers come and go, and are connected in place. */
static void finish_spec(struct docker_spec *out, struct docker_build *b, struct strbuf *url)
{
	json_object_set_new(b->config, "Labels", b->labels);
	b->labels = NULL;
	json_object_set_new(b->config, "HostConfig", b->host);
	b->host = NULL;
	char *text = json_dumps(b->config, JSON_COMPACT | JSON_SORT_KEYS);
	char hex[65];
	sha256_hex(text, strlen(text), hex);
	free(text);
	set_label(json_object_get(b->config, "Labels"), "cairn.hash", hex);
	out->hash = xstrdup(hex);
	out->image = xstrdup(b->image);
	if (b->has_data) {
		out->dataset = xstrdup(b->data.dataset);
		out->snapshot = xstrdup(b->data.snapshot);
	}
	out->body = b->config;
	b->config = NULL;
	out->volumes = b->named;
	b->named = NULL;
	out->health = b->health;
	out->exposed = b->exposed;
	if (b->exposed)
		out->url = strbuf_detach(url);
}

int docker_spec_build(struct docker_spec *out, const char *params_json,
		      const struct docker_target *t, struct error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *params = read_params(params_json, t, err);
	if (!params)
		return -1;
	struct docker_build b = { .target = t, .config = json_object(), .host = json_object(),
				  .labels = json_object(), .named = json_array(), .init = true,
				  .restart = "unless-stopped" };
	snprintf(b.route_host, sizeof(b.route_host), "%s", t->host);
	struct strbuf url = STRBUF_INIT;
	int rc = -1;
	if (params_check_rendered(&docker_params, params, err) < 0 ||
	    params_build(&docker_params, params, &b, err) < 0 ||
	    (!b.has_data && check_build(b.image, t, err) < 0))
		goto out;
	json_object_set_new(b.config, "Image", json_string(b.image));
	set_host_and_network(&b, t);
	/* The app learns its own URL (what the router answers on). */
	if (t->http_port && t->http_port != 80)
		strbuf_addf(&url, "http://%s:%d/", b.route_host, t->http_port);
	else
		strbuf_addf(&url, "http://%s/", b.route_host);
	if (b.exposed)
		add_url_env(b.config, strbuf_cstr(&url));
	add_cairn_labels(b.labels, t, b.config, b.exposed, b.route_host, strbuf_cstr(&url));
	finish_spec(out, &b, &url);
	rc = 0;
out:
	strbuf_release(&url);
	json_decref(params);
	json_decref(b.config);
	json_decref(b.host);
	json_decref(b.labels);
	json_decref(b.named);
	return rc;
}

void docker_labels_stamp(json_t *labels, long long generation, const char *const *deps,
			 size_t ndeps)
{
	char gen[32];
	snprintf(gen, sizeof(gen), "%lld", generation);
	set_label(labels, "cairn.generation", gen);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < ndeps; i++)
		strbuf_addf(&sb, "%s%s", i ? "," : "", deps[i]);
	set_label(labels, "cairn.dependencies", strbuf_cstr(&sb));
	strbuf_release(&sb);
}

void docker_spec_stamp(struct docker_spec *s, long long generation, const char *const *deps,
		       size_t ndeps)
{
	docker_labels_stamp(json_object_get(s->body, "Labels"), generation, deps, ndeps);
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
