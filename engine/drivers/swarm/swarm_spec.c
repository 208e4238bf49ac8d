/* Rendered docker params → Swarm ServiceSpec (swarm_spec.h). */
#include "swarm_spec.h"
#include "swarm_params.h"

#include "base/alloc.h"
#include "base/sha256.h"
#include "base/strbuf.h"
#include "engine/drivers/docker/docker_spec.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void set_label(json_t *labels, const char *k, const char *v)
{
	json_object_set_new(labels, k, json_string(v));
}

/* Copies body's key `from` into spec's key `to`, when present. */
static void carry(json_t *spec, const char *to, const json_t *body, const char *from)
{
	json_t *v = json_object_get(body, from);
	if (v && !json_is_null(v))
		json_object_set(spec, to, v);
}

/* Docker's restart policy as a task's: Swarm restarts tasks, not containers. */
static json_t *restart_policy(const json_t *docker)
{
	const char *name = json_string_value(json_object_get(docker, "Name"));
	json_t *p = json_object();
	if (name && strcmp(name, "no") == 0) {
		json_object_set_new(p, "Condition", json_string("none"));
	} else if (name && strcmp(name, "on-failure") == 0) {
		json_object_set_new(p, "Condition", json_string("on-failure"));
		carry(p, "MaxAttempts", docker, "MaximumRetryCount");
	} else {
		json_object_set_new(p, "Condition", json_string("any"));
	}
	return p;
}

/* The container body docker_spec_build made, as a task template. */
static json_t *task_template(const json_t *body, const struct swarm_target *t,
			     const struct swarm_build *b)
{
	const json_t *host = json_object_get(body, "HostConfig");
	json_t *cs = json_object();
	carry(cs, "Image", body, "Image");
	carry(cs, "Command", body, "Entrypoint");
	carry(cs, "Args", body, "Cmd");
	carry(cs, "Env", body, "Env");
	carry(cs, "Healthcheck", body, "Healthcheck");
	carry(cs, "StopSignal", body, "StopSignal");
	carry(cs, "Init", host, "Init");
	json_t *labels = json_deep_copy(json_object_get(body, "Labels"));
	json_object_del(labels, "cairn.hash"); /* the container's; the service has its own */
	json_object_set_new(cs, "Labels", labels);
	json_t *mounts = json_deep_copy(json_object_get(host, "Mounts"));
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m)
	{
		/* each node makes its own copy of a named volume: labelled so it
		 * is known as the instance's there too */
		if (strcmp(json_string_value(json_object_get(m, "Type")), "volume") == 0)
			json_object_set_new(m, "VolumeOptions",
					    json_pack("{s:{s:s, s:s}}", "Labels", "cairn.instance", t->key,
						      "cairn.cluster", t->cluster));
	}
	if (mounts)
		json_object_set_new(cs, "Mounts", mounts);

	json_t *limits = json_object();
	carry(limits, "MemoryBytes", host, "Memory");
	carry(limits, "NanoCPUs", host, "NanoCpus");
	json_object_update(limits, b->limits);
	json_t *networks = json_array();
	for (size_t k = 0; k < t->nnetworks; k++)
		json_array_append_new(networks, json_pack("{s:s, s:[s]}", "Target", t->networks[k],
							  "Aliases", t->alias));
	return json_pack("{s:o, s:{s:o, s:O}, s:o, s:O, s:o}", "ContainerSpec", cs, "Resources",
			 "Limits", limits, "Reservations", b->reservations, "RestartPolicy",
			 restart_policy(json_object_get(host, "RestartPolicy")), "Placement", b->placement,
			 "Networks", networks);
}

/* Env vars read from the users' secrets leave the env for Swarm secrets
 * (swarm_spec.h), so no value is in the spec, a label or a command line. */
static void move_secrets(json_t *body, const json_t *params, const char *params_public,
			 json_t *secrets)
{
	json_t *pub = json_loads(params_public, 0, NULL);
	const json_t *env = json_object_get(params, "env");
	json_t *cs = json_object_get(json_object_get(body, "TaskTemplate"), "ContainerSpec");
	json_t *cenv = json_object_get(cs, "Env");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(pub, "env"), k, v)
	{
		const char *real = json_string_value(json_object_get(env, k));
		if (!real || strcmp(json_string_value(v) ? json_string_value(v) : "", "(secret)") != 0)
			continue;
		size_t klen = strlen(k);
		for (size_t i = 0; i < json_array_size(cenv); i++) {
			const char *e = json_string_value(json_array_get(cenv, i));
			if (e && strncmp(e, k, klen) == 0 && e[klen] == '=') {
				json_array_remove(cenv, i);
				break;
			}
		}
		struct strbuf var = STRBUF_INIT;
		strbuf_addf(&var, "%s_FILE=/run/secrets/%s", k, k);
		json_array_append_new(cenv, json_string(strbuf_cstr(&var)));
		char hex[65];
		sha256_hex(real, strlen(real), hex);
		strbuf_reset(&var);
		strbuf_addf(&var, "cairn-%.24s", hex);
		json_t *list = json_object_get(cs, "Secrets");
		if (!list)
			json_object_set_new(cs, "Secrets", list = json_array());
		json_array_append_new(list, json_pack("{s:s, s:{s:s, s:s, s:s, s:i}}", "SecretName",
						      strbuf_cstr(&var), "File", "Name", k, "UID", "0",
						      "GID", "0", "Mode", 0444));
		size_t len = strlen(real);
		unsigned char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
		EVP_EncodeBlock(b64, (const unsigned char *)real, (int)len);
		json_object_set_new(secrets, strbuf_cstr(&var), json_string((char *)b64));
		free(b64);
		strbuf_release(&var);
	}
	json_decref(pub);
}

/* params without the keys of swarm's own rows: what the docker table reads */
static char *docker_part(const json_t *params)
{
	json_t *copy = json_copy((json_t *)params);
	for (const char *const *k = swarm_own_keys; *k; k++)
		json_object_del(copy, *k);
	char *text = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	return text;
}

int swarm_spec_build(struct swarm_spec *out, const char *params_json, const struct swarm_target *t,
		     struct error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *params = json_loads(params_json ? params_json : "{}", 0, NULL);
	if (!json_is_object(params)) {
		json_decref(params);
		return error_set(err, "params: not a JSON object");
	}
	/* Updates drop no request: a new task starts before the old one stops,
	 * one at a time, and a failed update rolls back. */
	struct swarm_build b = {
		.placement = json_object(),
		.update = json_pack("{s:i, s:s, s:s, s:I}", "Parallelism", 1, "Order", "start-first",
				    "FailureAction", "rollback", "Monitor", (json_int_t)5000000000),
		.limits = json_object(), .reservations = json_object(), .ports = json_array(),
		.endpoint_mode = "dnsrr", .replicas = 1,
	};
	struct docker_spec ds = { 0 };
	char *docker_params_text = NULL;
	int rc = -1;
	if (params_check_rendered(&swarm_params, params, err) < 0 ||
	    params_build(&swarm_params, params, &b, err) < 0)
		goto out;
	for (size_t i = 0; swarm_docker_only[i][0]; i++)
		if (json_object_get(params, swarm_docker_only[i][0])) {
			error_set(err, "params: %s %s: it runs on docker clusters, not on swarm",
				  swarm_docker_only[i][0], swarm_docker_only[i][1]);
			goto out;
		}
	docker_params_text = docker_part(params);
	struct docker_target dt = { .key = t->key, .cluster = t->cluster, .name = t->name,
				    .alias = t->alias, .host = t->alias, .router = t->name,
				    .networks = t->networks, .nnetworks = t->nnetworks,
				    .level = t->level, .component = t->component };
	if (docker_spec_build(&ds, docker_params_text, &dt, err) < 0)
		goto out;

	json_t *labels = json_object();
	char level[16];
	snprintf(level, sizeof(level), "%d", t->level);
	set_label(labels, "cairn.instance", t->key);
	set_label(labels, "cairn.cluster", t->cluster);
	set_label(labels, "cairn.level", level);
	json_t *rollback = json_pack("{s:O, s:O, s:s}", "Parallelism",
				     json_object_get(b.update, "Parallelism"), "Order",
				     json_object_get(b.update, "Order"), "FailureAction", "pause");
	json_t *mode = b.global ? json_pack("{s:{}}", "Global")
				: json_pack("{s:{s:I}}", "Replicated", "Replicas", (json_int_t)b.replicas);
	out->body = json_pack("{s:s, s:o, s:o, s:o, s:O, s:o, s:{s:s, s:O}}", "Name", t->name,
			      "Labels", labels, "TaskTemplate", task_template(ds.body, t, &b), "Mode",
			      mode, "UpdateConfig", b.update, "RollbackConfig", rollback,
			      "EndpointSpec", "Mode", b.endpoint_mode, "Ports", b.ports);
	out->secrets = json_object();
	if (t->params_public)
		move_secrets(out->body, params, t->params_public, out->secrets);
	char *text = json_dumps(out->body, JSON_COMPACT | JSON_SORT_KEYS);
	char hex[65];
	sha256_hex(text, strlen(text), hex);
	free(text);
	set_label(labels, "cairn.hash", hex);
	out->hash = xstrdup(hex);
	out->image = xstrdup(ds.image);
	out->replicas = b.global ? -1 : b.replicas;
	out->health = ds.health;
	rc = 0;
out:
	free(docker_params_text);
	docker_spec_release(&ds);
	json_decref(params);
	json_decref(b.placement);
	json_decref(b.update);
	json_decref(b.limits);
	json_decref(b.reservations);
	json_decref(b.ports);
	return rc;
}

void swarm_spec_stamp(struct swarm_spec *s, long long generation, const char *const *deps,
		      size_t ndeps)
{
	docker_labels_stamp(json_object_get(s->body, "Labels"), generation, deps, ndeps);
}

void swarm_spec_release(struct swarm_spec *s)
{
	json_decref(s->body);
	json_decref(s->secrets);
	free(s->hash);
	free(s->image);
	memset(s, 0, sizeof(*s));
}
