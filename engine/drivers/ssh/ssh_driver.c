/* The ssh driver (driver.h): a cluster is a list of plain hosts reached with
 * the OpenSSH client; a `process` instance runs on every host of its cluster
 * as releases under ROOT (default /srv/cairn): ROOT/releases/HASH (the
 * artifact, uploaded once per version), ROOT/run/INST/RID.{spec,env,pid,sock}
 * and the `current` link, ROOT/state/INST.json (what cairn decided),
 * ROOT/log/INST.log, ROOT/nginx/ (routes). A small agent script is sent with
 * every command (agent.sh); observing is one round trip per host. Nothing
 * outside ROOT is touched except reloading the nginx named in the config. */
#include "ssh_driver.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/vec.h"
#include "ssh_nginx.h"
#include "ssh_params.h"
#include "ssh_spec.h"
#include "ssh_transport.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char ssh_agent_script[];
extern const size_t ssh_agent_script_len;

struct host {
	struct ssh_host h;
	char *name, *address, *user;
	json_t *obs;   /* what observe printed; NULL when it failed */
	char *problem; /* why observe failed */
};

struct artifact {
	char hash[65];
	char *upload;
	bool tgz;
	char *error;
};

struct driver {
	const struct cluster *cluster;
	const char *name;
	char *root, *domain, *nginx_conf, *nginx_pid, *work_dir;
	struct ssh_transport *t;
	struct host *hosts;
	size_t nhosts;
	VEC(struct observed) observed;
	VEC(char *) strings; /* owned by observed */
	struct map artifacts; /* path -> struct artifact */
	struct exec_options eo;
};

static void driver_free(struct driver *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nhosts; i++) {
		free(d->hosts[i].name);
		free(d->hosts[i].address);
		free(d->hosts[i].user);
		json_decref(d->hosts[i].obs);
		free(d->hosts[i].problem);
	}
	free(d->hosts);
	for (size_t i = 0; i < d->strings.len; i++)
		free(d->strings.items[i]);
	vec_release(&d->strings);
	vec_release(&d->observed);
	size_t it = 0;
	const struct map_slot *slot;
	while (map_next(&d->artifacts, &it, &slot)) {
		struct artifact *a = slot->value;
		free((char *)slot->key);
		free(a->upload);
		free(a->error);
		free(a);
	}
	map_release(&d->artifacts);
	ssh_transport_free(d->t);
	free(d->root);
	free(d->domain);
	free(d->nginx_conf);
	free(d->nginx_pid);
	free(d->work_dir);
	free(d);
}

static int ssh_driver_open(struct driver **out, const struct cluster *c, const struct exec_options *eo,
			   struct error *err)
{
	*out = NULL;
	struct ssh_settings cfg;
	ssh_settings_read(&cfg, c->config);
	struct ssh_transport_options o = {
		.identity = cfg.identity,
		.known_hosts = cfg.known_hosts,
		.connect_timeout_s = cfg.connect_timeout_s,
	};
	struct ssh_transport *t = NULL;
	if (cfg.nhosts == 0)
		error_set(err, "cluster %s: config has no hosts", c->obj.name->s);
	else if (ssh_transport_new(&t, &o, err) < 0)
		error_wrap(err, "cluster %s", c->obj.name->s);
	if (!t) {
		ssh_settings_release(&cfg);
		return -1;
	}
	struct driver *d = xcalloc(1, sizeof(*d));
	d->cluster = c;
	d->name = c->obj.name->s;
	d->t = t;
	d->root = xstrdup(cfg.root);
	d->domain = xstrdup(cfg.domain);
	d->nginx_conf = xstrdup(cfg.nginx_config);
	d->nginx_pid = xstrdup(cfg.nginx_pid);
	d->hosts = xcalloc(cfg.nhosts, sizeof(*d->hosts));
	d->nhosts = cfg.nhosts;
	for (size_t i = 0; i < cfg.nhosts; i++) {
		const struct ssh_host_settings *hs = &cfg.hosts[i];
		struct host *ho = &d->hosts[i];
		if (!hs->address) {
			error_set(err, "cluster %s: host %zu has no address", c->obj.name->s, i + 1);
			ssh_settings_release(&cfg);
			driver_free(d);
			return -1;
		}
		ho->address = xstrdup(hs->address);
		ho->name = xstrdup(hs->name);
		ho->user = xstrdup(hs->user);
		ho->h = (struct ssh_host){ .name = ho->name, .address = ho->address, .user = ho->user,
					   .port = hs->port };
	}
	ssh_settings_release(&cfg);
	/* artifacts packed for upload live beside the control sockets (private) */
	struct strbuf wd = STRBUF_INIT;
	const char *x = getenv("CAIRN_SSH_CONTROL_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (x && *x)
		strbuf_adds(&wd, x);
	else if (xdg && *xdg)
		strbuf_addf(&wd, "%s/cairn-ssh", xdg);
	else
		strbuf_addf(&wd, "/tmp/cairn-ssh-%u", (unsigned)geteuid());
	d->work_dir = strbuf_detach(&wd);
	if (eo)
		d->eo = *eo;
	*out = d;
	return 0;
}

static void ssh_driver_close(struct driver *d)
{
	driver_free(d);
}

/* ---- talking to the agent ---- */

struct args {
	VEC(const char *) v;
};

static char *agent_command(const struct args *a)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "sh -c ");
	ssh_quote(&sb, ssh_agent_script);
	strbuf_adds(&sb, " cairn-agent");
	for (size_t i = 0; i < a->v.len; i++) {
		strbuf_addc(&sb, ' ');
		ssh_quote(&sb, a->v.items[i]);
	}
	return strbuf_detach(&sb);
}

/* Runs the agent; a non-zero exit is an error with its stderr. */
static int agent_run(struct driver *d, struct host *h, const struct args *a, const char *in,
		     const char *in_path, long long deadline, struct strbuf *out, struct error *err)
{
	char *cmd = agent_command(a);
	struct ssh_result res;
	int rc = ssh_run(d->t, &h->h, cmd, in, in ? strlen(in) : 0, in_path, deadline, &res, err);
	free(cmd);
	if (rc == 0 && res.status != 0) {
		struct strbuf m = STRBUF_INIT;
		strbuf_add(&m, res.err.buf ? res.err.buf : "", res.err.len);
		while (m.len && (m.buf[m.len - 1] == '\n' || m.buf[m.len - 1] == ' '))
			strbuf_truncate(&m, m.len - 1);
		error_set(err, "host %s (%s:%d): %s", h->name, h->address, h->h.port,
			  m.len ? strbuf_cstr(&m) : "the agent failed");
		strbuf_release(&m);
		rc = -1;
	}
	if (rc == 0 && out)
		strbuf_add(out, res.out.buf ? res.out.buf : "", res.out.len);
	ssh_result_release(&res);
	return rc;
}

/* ---- observing: one round trip per host, all hosts at once ---- */

struct observe_job {
	struct driver *d;
	struct host *h;
	pthread_t thread;
};

static void *observe_host(void *p)
{
	struct observe_job *j = p;
	struct args a = { 0 };
	vec_push(&a.v, "observe");
	vec_push(&a.v, j->d->root);
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	long long deadline = clock_ms() + 60000;
	json_decref(j->h->obs);
	j->h->obs = NULL;
	free(j->h->problem);
	j->h->problem = NULL;
	if (agent_run(j->d, j->h, &a, NULL, NULL, deadline, &out, &err) == 0) {
		json_error_t jerr;
		j->h->obs = json_loads(out.buf ? out.buf : "", 0, &jerr);
		if (!json_is_object(j->h->obs)) {
			json_decref(j->h->obs);
			j->h->obs = NULL;
			error_set(&err, "host %s (%s:%d): the agent printed no state (%s)", j->h->name,
				  j->h->address, j->h->h.port, jerr.text);
		}
	}
	if (!j->h->obs)
		j->h->problem = xstrdup(error_msg(&err));
	error_clear(&err);
	strbuf_release(&out);
	vec_release(&a.v);
	return NULL;
}

static const char *keep(struct driver *d, const char *s)
{
	if (!s)
		return NULL;
	char *c = xstrdup(s);
	vec_push(&d->strings, c);
	return c;
}

static bool in_array(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	if (!s)
		return false;
	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

static const char *sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int ssh_driver_observe(struct driver *d, struct error *err)
{
	struct observe_job *jobs = xcalloc(d->nhosts, sizeof(*jobs));
	for (size_t i = 0; i < d->nhosts; i++) {
		jobs[i] = (struct observe_job){ .d = d, .h = &d->hosts[i] };
		if (pthread_create(&jobs[i].thread, NULL, observe_host, &jobs[i]) != 0)
			observe_host(&jobs[i]), jobs[i].thread = 0;
	}
	for (size_t i = 0; i < d->nhosts; i++)
		if (jobs[i].thread)
			pthread_join(jobs[i].thread, NULL);
	free(jobs);

	for (size_t i = 0; i < d->strings.len; i++)
		free(d->strings.items[i]);
	d->strings.len = 0;
	d->observed.len = 0;
	size_t reached = 0;
	const char *first = NULL;
	for (size_t i = 0; i < d->nhosts; i++) {
		struct host *h = &d->hosts[i];
		if (!h->obs) {
			if (!first)
				first = h->problem;
			continue;
		}
		reached++;
		size_t j;
		json_t *in;
		json_array_foreach(json_object_get(h->obs, "instances"), j, in)
		{
			const char *key = sget(in, "key");
			if (!key)
				continue;
			json_t *st = json_object_get(in, "state");
			const char *rid = sget(st, "rid"), *canary = sget(st, "canary");
			json_t *running = json_object_get(in, "running");
			struct observed o = { .key = key, .kind = "process" };
			struct strbuf name = STRBUF_INIT;
			strbuf_addf(&name, "%s:%s", h->name, sget(in, "name"));
			o.name = keep(d, strbuf_cstr(&name));
			strbuf_release(&name);
			o.id = o.hash = rid;
			o.image = sget(st, "release");
			o.generation = json_integer_value(json_object_get(st, "generation"));
			if (rid && in_array(running, rid))
				o.state = canary && in_array(running, canary) ? "running+canary" : "running";
			else
				o.state = json_array_size(running) ? "starting" : "stopped";
			if (sget(st, "route_url"))
				o.url = sget(st, "route_url");
			vec_push(&d->observed, o);
		}
	}
	if (!reached && d->nhosts)
		return error_set(err, "cluster %s: no host could be reached: %s", d->name, first);
	return 0;
}

static const struct observed *ssh_driver_list(struct driver *d, size_t *n)
{
	*n = d->observed.len;
	return d->observed.items;
}

/* ---- actions ---- */

enum act_kind { A_FAIL, A_UPLOAD, A_ACTIVATE, A_STOP, A_DELETE };

struct act {
	struct driver *d;
	struct host *host;
	enum act_kind kind;
	char *message;
	/* upload */
	char *hash, *upload;
	bool tgz;
	/* activate and delete */
	char *inst, *key_json, *primary, *also, *state, *newrid, *spec, *env;
	int grace, timeout;
	bool routed;
	struct nginx_files s1, s2;
};

static void act_free(void *p)
{
	struct act *a = p;
	free(a->message);
	free(a->hash);
	free(a->upload);
	free(a->inst);
	free(a->key_json);
	free(a->primary);
	free(a->also);
	free(a->state);
	free(a->newrid);
	free(a->spec);
	free(a->env);
	nginx_files_release(&a->s1);
	nginx_files_release(&a->s2);
	free(a);
}

static int run_act(void *ctx, const struct exec_call *call, struct error *err)
{
	struct act *a = ctx;
	struct driver *d = a->d;
	struct args args = { 0 };
	char grace[16], timeout[16], n1[16], n2[16];
	int rc = -1;
	switch (a->kind) {
	case A_FAIL:
		rc = error_set(err, "%s", a->message);
		break;
	case A_UPLOAD:
		vec_push(&args.v, "upload");
		vec_push(&args.v, d->root);
		vec_push(&args.v, a->hash);
		vec_push(&args.v, a->tgz ? "tgz" : "tar");
		rc = agent_run(d, a->host, &args, NULL, a->upload, call->deadline_ms, NULL, err);
		break;
	case A_ACTIVATE:
		snprintf(grace, sizeof(grace), "%d", a->grace);
		snprintf(timeout, sizeof(timeout), "%d", a->timeout);
		snprintf(n1, sizeof(n1), "%zu", a->s1.len);
		snprintf(n2, sizeof(n2), "%zu", a->s2.len);
		vec_push(&args.v, "activate");
		vec_push(&args.v, d->root);
		vec_push(&args.v, a->inst);
		vec_push(&args.v, a->key_json);
		vec_push(&args.v, a->primary);
		vec_push(&args.v, a->also ? a->also : "-");
		vec_push(&args.v, grace);
		vec_push(&args.v, timeout);
		vec_push(&args.v, a->routed ? d->nginx_conf : "");
		vec_push(&args.v, d->nginx_pid);
		vec_push(&args.v, a->state);
		vec_push(&args.v, a->newrid ? a->newrid : "-");
		vec_push(&args.v, a->spec ? a->spec : "");
		vec_push(&args.v, n1);
		for (size_t i = 0; i < a->s1.len; i++) {
			vec_push(&args.v, a->s1.path[i]);
			vec_push(&args.v, a->s1.text[i]);
		}
		vec_push(&args.v, n2);
		for (size_t i = 0; i < a->s2.len; i++) {
			vec_push(&args.v, a->s2.path[i]);
			vec_push(&args.v, a->s2.text[i]);
		}
		rc = agent_run(d, a->host, &args, a->env ? a->env : "", NULL, call->deadline_ms, NULL,
			       err);
		break;
	case A_STOP:
	case A_DELETE:
		vec_push(&args.v, a->kind == A_STOP ? "stop" : "delete");
		vec_push(&args.v, d->root);
		vec_push(&args.v, a->inst);
		vec_push(&args.v, d->nginx_conf);
		vec_push(&args.v, d->nginx_pid);
		rc = agent_run(d, a->host, &args, NULL, NULL, call->deadline_ms, NULL, err);
		break;
	}
	vec_release(&args.v);
	return rc;
}

static struct act *act_new(struct driver *d, struct host *h, enum act_kind kind)
{
	struct act *a = xcalloc(1, sizeof(*a));
	a->d = d;
	a->host = h;
	a->kind = kind;
	return a;
}

static size_t add(struct exec *x, struct driver *d, struct host *h, const char *verb,
		  const char *key, struct act *a)
{
	struct strbuf where = STRBUF_INIT;
	if (h)
		strbuf_addf(&where, "%s/%s", d->name, h->name);
	else
		strbuf_adds(&where, d->name);
	size_t i = exec_add(x, verb, key, strbuf_cstr(&where), run_act, a, act_free);
	strbuf_release(&where);
	return i;
}

static void add_fail(struct exec *x, struct driver *d, struct host *h, const char *verb,
		     const char *key, const char *message)
{
	struct act *a = act_new(d, h, A_FAIL);
	a->message = xstrdup(message);
	add(x, d, h, verb, key, a);
}

/* ---- planning ---- */

static const struct artifact *artifact_of(struct driver *d, const char *path)
{
	struct artifact *a = map_get(&d->artifacts, path, strlen(path));
	if (a)
		return a;
	a = xcalloc(1, sizeof(*a));
	struct error err = ERROR_INIT;
	if (process_artifact_hash(path, d->work_dir, a->hash, &a->upload, &a->tgz, &err) < 0)
		a->error = xstrdup(error_msg(&err));
	error_clear(&err);
	char *k = xstrdup(path);
	map_put(&d->artifacts, k, strlen(k), a);
	return a;
}

static const json_t *find_instance(const struct host *h, const char *name)
{
	size_t i;
	json_t *in;
	json_array_foreach(json_object_get(h->obs, "instances"), i, in)
	{
		if (sget(in, "name") && strcmp(sget(in, "name"), name) == 0)
			return in;
	}
	return NULL;
}

/* The sh-sourceable description of a release (agent.sh and the supervisor read it). */
static char *spec_text(const struct driver *d, const struct process_spec *s, const char *hash,
		       const char *inst, const char *rid, int port)
{
	struct strbuf sb = STRBUF_INIT, v = STRBUF_INIT;
#define VAR(name, value)                                  \
	do {                                              \
		strbuf_adds(&sb, name "=");               \
		ssh_quote(&sb, (value) ? (value) : "");   \
		strbuf_addc(&sb, '\n');                   \
	} while (0)
	VAR("RELEASE", hash);
	VAR("START", s->start);
	if (!port)
		strbuf_addf(&v, "%s/run/%s/%s.sock", d->root, inst, rid);
	VAR("SOCKET", port ? "" : strbuf_cstr(&v));
	strbuf_reset(&v);
	if (port)
		strbuf_addf(&v, "%d", port);
	VAR("PORT", port ? strbuf_cstr(&v) : "");
	VAR("HEALTH_HTTP", s->health_http);
	VAR("HEALTH_CMD", s->health_cmd);
	VAR("STOP_GRACE", "10");
#undef VAR
	strbuf_release(&v);
	return strbuf_detach(&sb);
}

/* The environment of a release: the params' env and what cairn sets. */
static char *env_text(const struct driver *d, const struct process_spec *s, const char *inst,
		      const char *rid, int port, const char *key)
{
	struct strbuf sb = STRBUF_INIT, v = STRBUF_INIT;
	const char *k;
	json_t *val;
	json_object_foreach(s->env, k, val)
	{
		strbuf_addf(&sb, "%s=", k);
		ssh_quote(&sb, json_string_value(val));
		strbuf_addc(&sb, '\n');
	}
	if (port) {
		strbuf_addf(&sb, "PORT='%d'\nLISTEN='127.0.0.1:%d'\n", port, port);
	} else {
		strbuf_addf(&v, "%s/run/%s/%s.sock", d->root, inst, rid);
		strbuf_adds(&sb, "CAIRN_SOCKET=");
		ssh_quote(&sb, strbuf_cstr(&v));
		strbuf_adds(&sb, "\nLISTEN=");
		strbuf_reset(&v);
		strbuf_addf(&v, "unix:%s/run/%s/%s.sock", d->root, inst, rid);
		ssh_quote(&sb, strbuf_cstr(&v));
		strbuf_addc(&sb, '\n');
	}
	strbuf_addf(&sb, "CAIRN_RELEASE='%s'\nCAIRN_INSTANCE='%s'\nCAIRN_KEY=", rid, inst);
	ssh_quote(&sb, key);
	strbuf_addc(&sb, '\n');
	strbuf_release(&v);
	return strbuf_detach(&sb);
}

static char *listen_of(const struct driver *d, const char *inst, const char *rid, int port)
{
	struct strbuf sb = STRBUF_INIT;
	if (port)
		strbuf_addf(&sb, "127.0.0.1:%d", port);
	else
		strbuf_addf(&sb, "unix:%s/run/%s/%s.sock", d->root, inst, rid);
	return strbuf_detach(&sb);
}

static int port_in(const char *listen)
{
	const char *c = listen ? strrchr(listen, ':') : NULL;
	return c && strncmp(listen, "unix:", 5) ? atoi(c + 1) : 0;
}

/* What an activation makes live, and the state the host then records. */
struct plan_in {
	struct driver *d;
	struct host *h;
	const char *key, *inst;
	const json_t *S;       /* the host's state of the instance, NULL when none */
	const char *primary, *also;
	int also_weight;
	const struct process_spec *spec; /* the policy's release, NULL for a rollout */
	const char *new_rid, *new_hash;
	int new_port;
	json_t *state;         /* what to record (stolen) */
	bool routed;
	const char *route_host, *route_prefix;
	int drain_s, timeout_s;
};

static struct act *activation(const struct plan_in *p)
{
	struct act *a = act_new(p->d, p->h, A_ACTIVATE);
	a->inst = xstrdup(p->inst);
	json_t *k = json_string(p->key);
	a->key_json = json_dumps(k, JSON_ENCODE_ANY);
	json_decref(k);
	a->primary = xstrdup(p->primary);
	a->also = p->also ? xstrdup(p->also) : NULL;
	a->grace = p->drain_s;
	a->timeout = p->timeout_s;
	a->routed = p->routed;
	json_t *listen = json_object_get(p->state, "listen");
	if (p->new_rid) {
		a->newrid = xstrdup(p->new_rid);
		a->spec = spec_text(p->d, p->spec, p->new_hash, p->inst, p->new_rid, p->new_port);
		a->env = env_text(p->d, p->spec, p->inst, p->new_rid, p->new_port, p->key);
	}
	if (p->routed) {
		/* final: the live releases; first: what is live now plus the new one's preview */
		struct nginx_backend b[3];
		size_t nb = 0;
		b[nb++] = (struct nginx_backend){ .rid = p->primary,
						  .listen = sget(listen, p->primary),
						  .weight = 100 - (p->also ? p->also_weight : 0) };
		if (p->also)
			b[nb++] = (struct nginx_backend){ .rid = p->also, .listen = sget(listen, p->also),
							  .weight = p->also_weight };
		bool ok = true;
		for (size_t i = 0; i < nb; i++)
			ok = ok && b[i].listen;
		if (ok)
			ssh_nginx_files(&a->s2, p->d->root, p->inst, p->route_host, p->route_prefix, b, nb);
		const json_t *S = p->S;
		const char *old = sget(S, "rid"), *oldc = sget(S, "canary");
		json_t *old_listen = json_object_get(S, "listen");
		if (S && old && sget(old_listen, old)) {
			struct nginx_backend o[4];
			size_t no = 0;
			int cw = oldc && sget(old_listen, oldc) ? (int)json_integer_value(json_object_get(S, "percent")) : 0;
			o[no++] = (struct nginx_backend){ .rid = old, .listen = sget(old_listen, old), .weight = 100 - cw };
			if (cw)
				o[no++] = (struct nginx_backend){ .rid = oldc, .listen = sget(old_listen, oldc), .weight = cw };
			for (size_t i = 0; i < nb; i++) {
				bool seen = false;
				for (size_t j = 0; j < no; j++)
					seen = seen || strcmp(o[j].rid, b[i].rid) == 0;
				if (!seen)
					o[no++] = (struct nginx_backend){ .rid = b[i].rid, .listen = b[i].listen, .weight = 0 };
			}
			if (no > (size_t)(cw ? 2 : 1))
				ssh_nginx_files(&a->s1, p->d->root, p->inst, p->route_host, p->route_prefix, o, no);
		}
	}
	if (p->routed) {
		struct strbuf url = STRBUF_INIT;
		strbuf_addf(&url, "http://%s%s", p->route_host, p->route_prefix);
		json_object_set_new(p->state, "route_url", json_string(strbuf_cstr(&url)));
		strbuf_release(&url);
	}
	a->state = json_dumps(p->state, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(p->state);
	return a;
}

/* The state recorded for a new live release. */
static json_t *host_state_new(const char *key, const char *rid, const char *hash, long long gen)
{
	return json_pack("{s:s, s:s, s:s, s:n, s:n, s:i, s:n, s:I, s:{}}", "key", key, "rid", rid,
			 "release", hash, "previous", "canary", "percent", 0, "pinned", "generation",
			 (json_int_t)gen, "listen");
}

/* The keys of the state's listen map that stay (the live ones and previous). */
static void listen_keep(json_t *st)
{
	json_t *l = json_object_get(st, "listen");
	const char *keys[3] = { sget(st, "rid"), sget(st, "canary"), sget(st, "previous") };
	void *tmp;
	const char *k;
	json_t *v;
	json_object_foreach_safe(l, tmp, k, v)
	{
		bool used = false;
		for (int i = 0; i < 3; i++)
			used = used || (keys[i] && strcmp(keys[i], k) == 0);
		if (!used)
			json_object_del(l, k);
	}
}

/* What one plan works with. */
struct ssh_plan {
	struct driver *d;
	struct exec *x;
	long long generation;
	struct map wanted;  /* keys of the process instances on this cluster */
	struct map stopped; /* instances kept but not running */
	struct map uploads; /* "host\nhash" -> upload action index + 1 */
	VEC(char *) upload_keys;
};

/* Whether the host's `current` link points at release hash. */
static bool current_is(const struct driver *d, const char *current, const char *hash)
{
	if (!current)
		return false;
	char path[4200];
	snprintf(path, sizeof(path), "%s/releases/%s", d->root, hash ? hash : "");
	return strcmp(current, path) == 0;
}

/* What the host must make live for an instance whose wanted release id is
 * D, filled into pin; the verb, or NULL when the host runs it as wanted. */
static const char *choose_activation(struct ssh_plan *p, struct plan_in *pin, const json_t *o,
				     const struct process_spec *spec, const struct artifact *art,
				     const char *D, bool release_here)
{
	const json_t *S = pin->S;
	json_t *running = json_object_get(o, "running");
	const char *cur = sget(o, "current");
	const char *srid = sget(S, "rid"), *scan = sget(S, "canary"), *pinned = sget(S, "pinned");
	size_t nrunning = json_array_size(running);
	if (S && pinned && strcmp(pinned, D) == 0 && srid) {
		/* held by rollback or abort until the policy asks for another release */
		if (in_array(running, srid) && nrunning == 1 && current_is(p->d, cur, sget(S, "release")))
			return NULL;
		pin->primary = srid;
		pin->state = json_deep_copy(S);
		return "repair";
	}
	if (S && scan && strcmp(scan, D) == 0 && srid) {
		int pct = (int)json_integer_value(json_object_get(S, "percent"));
		if (in_array(running, srid) && in_array(running, D) && nrunning == 2 &&
		    current_is(p->d, cur, sget(S, "release")) && spec->canary && pct == spec->canary)
			return NULL;
		pin->primary = srid;
		pin->also = D;
		pin->also_weight = spec->canary ? spec->canary : pct;
		pin->state = json_deep_copy(S);
		json_object_set_new(pin->state, "percent", json_integer(pin->also_weight));
		pin->new_rid = D;
		return "repair";
	}
	if (S && srid && strcmp(srid, D) == 0) {
		if (in_array(running, D) && nrunning == 1 && release_here &&
		    current_is(p->d, cur, art->hash) && !scan)
			return NULL;
		pin->primary = D;
		pin->state = json_deep_copy(S);
		json_object_set_new(pin->state, "canary", json_null());
		json_object_set_new(pin->state, "percent", json_integer(0));
		pin->new_rid = D;
		return "repair";
	}
	if (spec->canary && S && srid && in_array(running, srid) &&
	    in_array(json_object_get(o, "stored"), srid)) {
		pin->primary = srid;
		pin->also = D;
		pin->also_weight = spec->canary;
		pin->state = json_deep_copy(S);
		json_object_set_new(pin->state, "canary", json_string(D));
		json_object_set_new(pin->state, "canary_release", json_string(art->hash));
		json_object_set_new(pin->state, "percent", json_integer(spec->canary));
		json_object_set_new(pin->state, "pinned", json_null());
		pin->new_rid = D;
		return "canary";
	}
	pin->primary = D;
	pin->state = host_state_new(pin->key, D, art->hash, p->generation);
	if (S && srid) {
		json_object_set_new(pin->state, "previous", json_string(srid));
		if (sget(S, "release"))
			json_object_set_new(pin->state, "previous_release", json_string(sget(S, "release")));
		if (json_is_object(json_object_get(S, "listen")))
			json_object_set_new(pin->state, "listen",
					    json_deep_copy(json_object_get(S, "listen")));
	}
	pin->new_rid = D;
	return S ? "update" : "create";
}

/* Where a new release listens: its port alternates between port and
 * port+1 (blue and green) so that it starts beside the one it replaces. */
static void assign_listen(struct ssh_plan *p, struct plan_in *pin, const struct process_spec *spec,
			  const struct artifact *art)
{
	const char *D = pin->new_rid, *srid = sget(pin->S, "rid");
	pin->spec = spec;
	pin->new_hash = art->hash;
	int used = 0;
	json_t *l = json_object_get(pin->state, "listen");
	const char *other = strcmp(pin->primary, D) ? pin->primary : NULL;
	if (other)
		used = port_in(sget(l, other));
	else if (srid && strcmp(srid, D))
		used = port_in(sget(l, srid));
	int mine = port_in(sget(l, D));
	pin->new_port = !spec->port		    ? 0
			: mine && mine != used	    ? mine
			: used == spec->port	    ? spec->port + 1
						    : spec->port;
	char *ls = listen_of(p->d, pin->inst, D, pin->new_port);
	json_object_set_new(l, D, json_string(ls));
	free(ls);
	if (strcmp(pin->primary, D) == 0)
		json_object_set_new(pin->state, "release", json_string(art->hash));
}

/* The upload of an artifact before the activation ai that needs it: once
 * per version and host, whatever number of instances run it. */
static void upload_before(struct ssh_plan *p, struct host *h, const struct artifact *art,
			  const char *key, size_t ai)
{
	struct strbuf uk = STRBUF_INIT;
	strbuf_addf(&uk, "%s\n%s", h->name, art->hash);
	uintptr_t ui = (uintptr_t)map_get(&p->uploads, uk.buf, uk.len);
	if (!ui) {
		struct act *u = act_new(p->d, h, A_UPLOAD);
		u->hash = xstrdup(art->hash);
		u->upload = xstrdup(art->upload);
		u->tgz = art->tgz;
		ui = add(p->x, p->d, h, "upload", key, u) + 1;
		char *k = strbuf_detach(&uk);
		vec_push(&p->upload_keys, k);
		map_put(&p->uploads, k, strlen(k), (void *)ui);
	}
	strbuf_release(&uk);
	exec_order(p->x, ui - 1, ai);
}

/* An instance on one host: stopped when it is kept but not running, else
 * activated when the host does not run it as wanted. */
static void plan_on_host(struct ssh_plan *p, struct host *h, const struct instance *in,
			 const char *inst, const struct process_spec *spec,
			 const struct artifact *art, const char *D)
{
	const json_t *o = find_instance(h, inst);
	if (instance_stopped(in, &p->stopped)) {
		/* its release and state stay */
		if (json_array_size(json_object_get(o, "running"))) {
			struct act *a = act_new(p->d, h, A_STOP);
			a->inst = xstrdup(inst);
			add(p->x, p->d, h, "stop", in->key, a);
		}
		return;
	}
	bool release_here = in_array(json_object_get(h->obs, "releases"), art->hash);
	struct plan_in pin = { .d = p->d, .h = h, .key = in->key, .inst = inst,
			       .S = json_object_get(o, "state"), .routed = spec->routed,
			       .route_host = spec->route_host, .route_prefix = spec->route_prefix,
			       .drain_s = spec->drain_s, .timeout_s = spec->health_timeout_s };
	const char *verb = choose_activation(p, &pin, o, spec, art, D, release_here);
	if (!verb)
		return;
	if (pin.new_rid)
		assign_listen(p, &pin, spec, art);
	json_object_set_new(pin.state, "generation", json_integer(p->generation));
	json_object_set_new(pin.state, "key", json_string(in->key));
	listen_keep(pin.state);
	size_t ai = add(p->x, p->d, h, verb, in->key, activation(&pin));
	if (pin.new_rid && !release_here)
		upload_before(p, h, art, in->key, ai);
}

/* A process instance placed on this cluster, on each host observed. */
static void plan_instance(struct ssh_plan *p, const struct instance *in)
{
	struct driver *d = p->d;
	if (strcmp(in->code_type, "process") != 0) {
		struct strbuf m = STRBUF_INIT;
		strbuf_addf(&m, "code type %s cannot run on ssh cluster %s", in->code_type, d->name);
		add_fail(p->x, d, NULL, "create", in->key, strbuf_cstr(&m));
		strbuf_release(&m);
		return;
	}
	map_put(&p->wanted, in->key, strlen(in->key), (void *)in);
	struct process_spec spec;
	struct error serr = ERROR_INIT;
	if (process_spec_parse(&spec, in->params ? in->params->s : NULL, d->domain, &serr) < 0) {
		add_fail(p->x, d, NULL, "create", in->key, error_msg(&serr));
		error_clear(&serr);
		return;
	}
	const struct artifact *art = artifact_of(d, spec.artifact);
	if (art->error) {
		add_fail(p->x, d, NULL, "create", in->key, art->error);
		process_spec_release(&spec);
		return;
	}
	char D[13];
	process_spec_rid(&spec, art->hash, D);
	char *inst = ssh_instance_name(in->key);
	for (size_t hi = 0; hi < d->nhosts; hi++)
		if (d->hosts[hi].obs)
			plan_on_host(p, &d->hosts[hi], in, inst, &spec, art, D);
	free(inst);
	process_spec_release(&spec);
}

/* What no instance wants on this cluster goes. */
static void delete_unwanted(struct ssh_plan *p)
{
	for (size_t hi = 0; hi < p->d->nhosts; hi++) {
		struct host *h = &p->d->hosts[hi];
		size_t j;
		json_t *o;
		json_array_foreach(json_object_get(h->obs, "instances"), j, o)
		{
			const char *key = sget(o, "key");
			if (!key || map_get(&p->wanted, key, strlen(key)))
				continue;
			struct act *a = act_new(p->d, h, A_DELETE);
			a->inst = xstrdup(sget(o, "name"));
			add(p->x, p->d, h, "delete", key, a);
		}
	}
}

static int ssh_driver_plan(struct driver *d, const struct desired *want, struct exec *x,
			   struct error *err)
{
	(void)err; /* what cannot be planned fails as an action */
	struct ssh_plan p = { .d = d, .x = x, .generation = want->generation };
	const struct resolution *r = want->resolution;
	resolution_stopped(r, &p.stopped);
	for (size_t hi = 0; hi < d->nhosts; hi++)
		if (d->hosts[hi].problem)
			add_fail(x, d, &d->hosts[hi], "observe", d->hosts[hi].name, d->hosts[hi].problem);
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (strcmp(in->cluster, d->name) == 0 && !in->root && in->code_type)
			plan_instance(&p, in);
	}
	delete_unwanted(&p);
	map_release(&p.wanted);
	map_release(&p.stopped);
	map_release(&p.uploads);
	for (size_t i = 0; i < p.upload_keys.len; i++)
		free(p.upload_keys.items[i]);
	vec_release(&p.upload_keys);
	return 0;
}

/* ---- logs ---- */

static int ssh_driver_logs(struct driver *d, const char *key, bool follow, struct error *err)
{
	char *inst = ssh_instance_name(key);
	int rc = -1;
	bool found = false;
	for (size_t hi = 0; hi < d->nhosts && rc < 0; hi++) {
		struct host *h = &d->hosts[hi];
		if (!h->obs || !find_instance(h, inst))
			continue;
		found = true;
		struct args a = { 0 };
		vec_push(&a.v, "logs");
		vec_push(&a.v, d->root);
		vec_push(&a.v, inst);
		vec_push(&a.v, follow ? "1" : "0");
		struct strbuf out = STRBUF_INIT;
		if (d->nhosts > 1)
			printf("==> %s <==\n", h->name);
		fflush(stdout);
		if (follow) {
			/* streams until interrupted: the output goes straight through */
			char *cmd = agent_command(&a);
			struct ssh_result res;
			rc = ssh_run(d->t, &h->h, cmd, NULL, 0, NULL, 0, &res, err);
			fwrite(res.out.buf ? res.out.buf : "", 1, res.out.len, stdout);
			ssh_result_release(&res);
			free(cmd);
		} else if ((rc = agent_run(d, h, &a, NULL, NULL, clock_ms() + 60000, &out, err)) == 0) {
			fwrite(out.buf ? out.buf : "", 1, out.len, stdout);
		}
		strbuf_release(&out);
		vec_release(&a.v);
		if (!follow)
			rc = -1, error_clear(err); /* print every host's log */
	}
	if (found && !follow)
		rc = 0;
	if (!found)
		error_set(err, "instance %s runs on no host of cluster %s", key, d->name);
	free(inst);
	return rc;
}

static int ssh_driver_check(const struct cluster *c, const struct instance *in, struct error *err)
{
	(void)c;
	struct process_spec spec;
	if (process_spec_parse(&spec, in->params ? in->params->s : NULL, "localhost", err) < 0)
		return -1;
	process_spec_release(&spec);
	return 0;
}

const struct driver_ops ssh_driver_ops = {
	.type = "ssh",
	.code_type = "process",
	.params = &process_params,
	.config = &ssh_cluster_config,
	.unit = "process",
	.open = ssh_driver_open,
	.close = ssh_driver_close,
	.observe = ssh_driver_observe,
	.list = ssh_driver_list,
	.plan = ssh_driver_plan,
	.check = ssh_driver_check,
	.logs = ssh_driver_logs,
};

/* ---- rollback, promote, abort ---- */

int ssh_rollout(const struct cluster *c, const struct instance *in, enum ssh_rollout what,
		const struct exec_options *eo, size_t *failed, struct error *err)
{
	*failed = 0;
	if (!in->code_type || strcmp(in->code_type, "process") != 0)
		return error_set(err, "instance %s is not a process instance", in->key);
	struct driver *d = NULL;
	struct process_spec spec;
	memset(&spec, 0, sizeof(spec));
	struct exec *x = NULL;
	char *inst = ssh_instance_name(in->key);
	int rc = -1;
	if (ssh_driver_open(&d, c, eo, err) < 0 || ssh_driver_observe(d, err) < 0)
		goto out;
	if (process_spec_parse(&spec, in->params ? in->params->s : NULL, d->domain, err) < 0)
		goto out;
	const struct artifact *art = artifact_of(d, spec.artifact);
	char D[13] = "";
	if (!art->error)
		process_spec_rid(&spec, art->hash, D);
	x = exec_new(eo);
	size_t planned = 0;
	const char *why = NULL;
	for (size_t hi = 0; hi < d->nhosts; hi++) {
		struct host *h = &d->hosts[hi];
		if (!h->obs) {
			add_fail(x, d, h, "observe", in->key, h->problem);
			continue;
		}
		const json_t *o = find_instance(h, inst);
		const json_t *S = json_object_get(o, "state");
		const char *srid = sget(S, "rid"), *scan = sget(S, "canary"), *prev = sget(S, "previous");
		struct plan_in p = { .d = d, .h = h, .key = in->key, .inst = inst, .S = S,
				     .routed = spec.routed, .route_host = spec.route_host,
				     .route_prefix = spec.route_prefix, .drain_s = spec.drain_s,
				     .timeout_s = spec.health_timeout_s };
		const char *verb = NULL;
		if (!srid) {
			why = "it does not run there";
			continue;
		}
		if (what == SSH_ROLLBACK) {
			if (!prev || !in_array(json_object_get(o, "stored"), prev)) {
				why = "there is no release before this one to go back to";
				continue;
			}
			p.primary = prev;
			p.state = json_deep_copy(S);
			json_object_set_new(p.state, "rid", json_string(prev));
			json_object_set_new(p.state, "previous", json_string(srid));
			json_object_set_new(p.state, "canary", json_null());
			json_object_set_new(p.state, "percent", json_integer(0));
			json_object_set_new(p.state, "pinned", json_string(*D ? D : srid));
			if (sget(S, "previous_release"))
				json_object_set_new(p.state, "release", json_string(sget(S, "previous_release")));
			if (sget(S, "release"))
				json_object_set_new(p.state, "previous_release", json_string(sget(S, "release")));
			verb = "rollback";
		} else {
			if (!scan) {
				why = "no canary is in progress";
				continue;
			}
			if (what == SSH_PROMOTE) {
				p.primary = scan;
				p.state = json_deep_copy(S);
				json_object_set_new(p.state, "rid", json_string(scan));
				json_object_set_new(p.state, "previous", json_string(srid));
				json_object_set_new(p.state, "pinned", json_null());
				if (sget(S, "release"))
					json_object_set_new(p.state, "previous_release", json_string(sget(S, "release")));
				json_object_set_new(p.state, "release", json_string(sget(S, "canary_release") ? sget(S, "canary_release") : ""));
				verb = "promote";
			} else {
				p.primary = srid;
				p.state = json_deep_copy(S);
				json_object_set_new(p.state, "pinned", json_string(scan));
				verb = "abort";
			}
			json_object_set_new(p.state, "canary", json_null());
			json_object_set_new(p.state, "percent", json_integer(0));
		}
		listen_keep(p.state);
		add(x, d, h, verb, in->key, activation(&p));
		planned++;
	}
	if (!planned && why) {
		error_set(err, "instance %s: %s", in->key, why);
		goto out;
	}
	*failed = exec_run(x);
	rc = 0;
out:
	exec_free(x);
	process_spec_release(&spec);
	free(inst);
	driver_free(d);
	return rc;
}
