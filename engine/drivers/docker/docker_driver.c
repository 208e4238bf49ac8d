/* The docker driver (driver.h): a cluster is one Docker engine. A service
 * instance is a network (so one environment cannot reach another's
 * containers), a docker component instance is a container on its service's
 * network and on the networks of every service it uses, named volumes belong
 * to their instance. Everything cairn makes carries cairn.instance and
 * cairn.cluster labels; nothing without them is ever touched. */
#include "docker_driver.h"
#include "docker_params.h"

#include "base/alloc.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/vec.h"
#include "docker_api.h"
#include "docker_routes.h"
#include "docker_spec.h"
#include "docker_replica.h"
#include "engine/backup/replica.h"
#include "engine/instance_graph.h"
#include "engine/snapshot/prepare.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct driver {
	const struct cluster *cluster;
	const char *name;
	char *address; /* host in URLs of published ports */
	char *domain;  /* routing host names end in it */
	struct docker *api;
	json_t *containers, *networks, *volumes;
	VEC(struct observed) observed;
	struct exec_options eo;
	bool routed;                 /* the cluster config has `nginx:` */
	struct docker_routes routes;
	/* the prepared images of each dataset a plan's `data` params name,
	 * listed once per plan */
	VEC(struct prepared {
		char *dataset;
		struct snapshot_image *images;
		size_t n;
	}) prepared;
};

enum act_kind {
	A_NETWORK, A_NETWORK_DELETE, A_CREATE, A_UPDATE, A_START, A_CONNECT, A_DELETE,
	A_VOLUME_DELETE, A_ROUTE, A_STOP, A_FAIL, A_RESTORE, A_SYNC
};

struct act {
	struct driver *d;
	enum act_kind kind;
	char *key;
	char *target;    /* network, volume or container name, or id to act on */
	char *message;   /* A_FAIL: why */
	VEC(char *) old; /* A_UPDATE: ids of the containers it replaces; A_CONNECT:
			    networks to leave */
	struct docker_spec spec;
	VEC(char *) networks; /* A_CREATE/A_UPDATE: all networks; [0] is in the body */
	char *alias;
	/* A_RESTORE (into container target), A_SYNC (into volume target): the
	 * backup, the part, and the replica's dependency */
	json_t *manifest;
	size_t part;
	char *replica;
};

static void act_free(void *p)
{
	struct act *a = p;
	free(a->key);
	free(a->target);
	free(a->message);
	for (size_t i = 0; i < a->old.len; i++)
		free(a->old.items[i]);
	vec_release(&a->old);
	for (size_t i = 0; i < a->networks.len; i++)
		free(a->networks.items[i]);
	vec_release(&a->networks);
	free(a->alias);
	docker_spec_release(&a->spec);
	json_decref(a->manifest);
	free(a->replica);
	free(a);
}

/* ---- config ---- */

int docker_cluster_open(const struct cluster *c, struct docker **out, struct error *err)
{
	struct docker_settings cfg;
	docker_settings_read(&cfg, c->config);
	int rc = docker_open(out, &cfg.api, err);
	docker_settings_release(&cfg);
	return rc < 0 ? error_wrap(err, "cluster %s", c->obj.name->s) : 0;
}

static int docker_driver_open(struct driver **out, const struct cluster *c,
			      const struct exec_options *eo, struct error *err)
{
	struct docker *api;
	if (docker_cluster_open(c, &api, err) < 0)
		return -1;
	struct docker_settings cfg;
	docker_settings_read(&cfg, c->config);
	struct driver *d = xcalloc(1, sizeof(*d));
	d->cluster = c;
	d->name = c->obj.name->s;
	d->api = api;
	d->address = xstrdup(cfg.address);
	d->domain = xstrdup(cfg.domain);
	if (cfg.routed) {
		d->routed = true;
		d->routes.file = xstrdup(cfg.nginx_file);
		d->routes.conf = xstrdup(cfg.nginx_conf);
		d->routes.binary = xstrdup(cfg.nginx_binary);
		d->routes.port = cfg.nginx_port;
	}
	docker_settings_release(&cfg);
	if (eo)
		d->eo = *eo;
	*out = d;
	return 0;
}

static void forget_prepared(struct driver *d)
{
	for (size_t i = 0; i < d->prepared.len; i++) {
		free(d->prepared.items[i].dataset);
		snapshot_images_free(d->prepared.items[i].images, d->prepared.items[i].n);
	}
	vec_release(&d->prepared);
}

static void docker_driver_close(struct driver *d)
{
	if (!d)
		return;
	forget_prepared(d);
	docker_close(d->api);
	json_decref(d->containers);
	json_decref(d->networks);
	json_decref(d->volumes);
	vec_release(&d->observed);
	free(d->address);
	free(d->domain);
	docker_routes_release(&d->routes);
	free(d);
}

/* ---- observing ---- */

static const char *label_of(const json_t *obj, const char *label)
{
	return json_string_value(json_object_get(json_object_get(obj, "Labels"), label));
}

/* GET path?filters={"label":["cairn.cluster=NAME"]} */
static int list_labelled(struct driver *d, const char *path, json_t **out, struct error *err)
{
	char *url =
		docker_filtered_path(path, json_pack("{s:[s+]}", "label", "cairn.cluster=", d->name));
	long status = 0;
	int rc = docker_request(d->api, "GET", url, NULL, out, &status, err);
	free(url);
	if (rc < 0)
		return error_wrap(err, "cluster %s: observing", d->name);
	return 0;
}

static const char *health_of(const char *status)
{
	if (!status)
		return NULL;
	if (strstr(status, "(healthy)"))
		return "healthy";
	if (strstr(status, "(unhealthy)"))
		return "unhealthy";
	if (strstr(status, "(health: starting)"))
		return "starting";
	return NULL;
}

struct listing {
	struct driver *d;
	const char *path;
	json_t *out;
	struct error err;
	int rc;
};

static void *run_listing(void *arg)
{
	struct listing *l = arg;
	l->rc = list_labelled(l->d, l->path, &l->out, &l->err);
	return NULL;
}

static int docker_driver_observe(struct driver *d, struct error *err)
{
	json_decref(d->containers);
	json_decref(d->networks);
	json_decref(d->volumes);
	d->containers = d->networks = d->volumes = NULL;
	d->observed.len = 0;
	/* The three lists at once: the engine answers them in parallel. */
	struct listing lists[3] = {
		{ d, "/containers/json?all=1", NULL, ERROR_INIT, 0 },
		{ d, "/networks", NULL, ERROR_INIT, 0 },
		{ d, "/volumes", NULL, ERROR_INIT, 0 },
	};
	pthread_t threads[2];
	bool started[2] = { false, false };
	for (int k = 0; k < 2; k++)
		started[k] = pthread_create(&threads[k], NULL, run_listing, &lists[k + 1]) == 0;
	run_listing(&lists[0]);
	for (int k = 0; k < 2; k++) {
		if (started[k])
			pthread_join(threads[k], NULL);
		else
			run_listing(&lists[k + 1]);
	}
	d->containers = lists[0].out;
	d->networks = lists[1].out;
	d->volumes = lists[2].out;
	int failed = -1;
	for (int k = 0; k < 3; k++)
		if (lists[k].rc < 0 && failed < 0)
			failed = k;
	if (failed >= 0)
		error_set(err, "%s", error_msg(&lists[failed].err));
	for (int k = 0; k < 3; k++)
		error_clear(&lists[k].err);
	if (failed >= 0)
		return -1;

	size_t i;
	json_t *c;
	json_array_foreach(d->containers, i, c)
	{
		const char *key = label_of(c, "cairn.instance");
		if (!key)
			continue;
		struct observed o = { .key = key, .kind = "container" };
		o.id = json_string_value(json_object_get(c, "Id"));
		const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
		o.name = name && name[0] == '/' ? name + 1 : name;
		o.hash = label_of(c, "cairn.hash");
		o.state = json_string_value(json_object_get(c, "State"));
		o.health = health_of(json_string_value(json_object_get(c, "Status")));
		o.image = json_string_value(json_object_get(c, "Image"));
		o.snapshot = label_of(c, "cairn.snapshot");
		o.snapshot_build = label_of(c, "cairn.snapshot.build");
		const char *gen = label_of(c, "cairn.generation");
		o.generation = gen ? atoll(gen) : 0;
		size_t j;
		json_t *port;
		json_array_foreach(json_object_get(c, "Ports"), j, port)
		{
			json_int_t pub = json_integer_value(json_object_get(port, "PublicPort"));
			if (pub > 0 && !o.url && d->routed && label_of(c, "run.demo.url_full")) {
				o.url = label_of(c, "run.demo.url_full"); /* through nginx */
			} else if (pub > 0 && !o.url) {
				/* kept in the container object so it lives as long as the list */
				char url[300];
				snprintf(url, sizeof(url), "http://%s:%lld/", d->address, (long long)pub);
				json_object_set_new(c, "cairn.url", json_string(url));
				o.url = json_string_value(json_object_get(c, "cairn.url"));
			}
		}
		vec_push(&d->observed, o);
	}
	json_t *n;
	json_array_foreach(d->networks, i, n)
	{
		const char *key = label_of(n, "cairn.instance");
		if (!key)
			continue;
		struct observed o = { .key = key, .kind = "network", .state = "present" };
		o.id = json_string_value(json_object_get(n, "Id"));
		o.name = json_string_value(json_object_get(n, "Name"));
		vec_push(&d->observed, o);
	}
	json_array_foreach(json_object_get(d->volumes, "Volumes"), i, n)
	{
		const char *key = label_of(n, "cairn.instance");
		if (!key)
			continue;
		struct observed o = { .key = key, .kind = "volume", .state = "present" };
		o.name = o.id = json_string_value(json_object_get(n, "Name"));
		vec_push(&d->observed, o);
	}
	return 0;
}

static const struct observed *docker_driver_list(struct driver *d, size_t *n)
{
	*n = d->observed.len;
	return d->observed.items;
}

/* ---- actions ---- */

/* A request whose failure is classified for the executor. */
static int call(struct driver *d, const char *method, const char *path, const json_t *body,
		json_t **resp, long *status, bool *transient, struct error *err)
{
	long st = 0;
	int rc = docker_request(d->api, method, path, body, resp, &st, err);
	if (status)
		*status = st;
	if (rc < 0 && transient)
		*transient = docker_failure_transient(st, err);
	return rc;
}

/* The app gets SIGTERM and a 10 s grace period. Stopped or gone already is fine. */
static int stop_container(struct driver *d, const char *id, bool *transient, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	long st;
	strbuf_addf(&p, "/containers/%s/stop?t=10", id);
	int rc = call(d, "POST", strbuf_cstr(&p), NULL, NULL, &st, transient, err);
	strbuf_release(&p);
	if (rc < 0 && (st == 404 || st == 304)) {
		error_clear(err);
		rc = 0;
	}
	return rc;
}

static int remove_container(struct driver *d, const char *id, bool *transient, struct error *err)
{
	if (stop_container(d, id, transient, err) < 0)
		return -1;
	struct strbuf p = STRBUF_INIT;
	long st;
	strbuf_addf(&p, "/containers/%s?force=true", id);
	int rc = call(d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, transient, err);
	strbuf_release(&p);
	if (rc < 0 && st == 404)
		rc = 0;
	if (rc == 0)
		error_clear(err);
	return rc;
}

static int wait_healthy(struct driver *d, const char *id, const struct exec_call *ec,
			bool *transient, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/containers/%s/json", id);
	int rc = -1;
	for (;;) {
		json_t *info = NULL;
		if (call(d, "GET", strbuf_cstr(&p), NULL, &info, NULL, transient, err) < 0)
			break;
		json_t *state = json_object_get(info, "State");
		const char *h = json_string_value(json_object_get(json_object_get(state, "Health"), "Status"));
		bool running = json_is_true(json_object_get(state, "Running"));
		bool healthy = h && strcmp(h, "healthy") == 0;
		bool unhealthy = h && strcmp(h, "unhealthy") == 0;
		json_decref(info);
		if (healthy) {
			rc = 0;
			break;
		}
		if (!running || unhealthy) {
			error_set(err, "container %s is %s", id, running ? "unhealthy" : "not running");
			*transient = false;
			break;
		}
		if (exec_now_ms() >= ec->deadline_ms || (d->eo.stop && *d->eo.stop)) {
			error_set(err, "container %s was not healthy in time", id);
			*transient = false;
			break;
		}
		usleep(200 * 1000);
	}
	strbuf_release(&p);
	return rc;
}

static int start_container(struct act *a, const char *id, const struct exec_call *ec,
			   bool *transient, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/containers/%s/start", id);
	long st;
	int rc = call(a->d, "POST", strbuf_cstr(&p), NULL, NULL, &st, transient, err);
	strbuf_release(&p);
	if (rc < 0 && st == 304)
		rc = 0, error_clear(err);
	if (rc < 0) {
		const char *m = error_msg(err);
		if (strstr(m, "port is already allocated") || strstr(m, "address already in use"))
			error_wrap(err, "a published host port is taken by something else");
		return -1;
	}
	if (a->spec.health)
		return wait_healthy(a->d, id, ec, transient, err);
	return 0;
}

/* Joins a container to a network under its discovery name; already there is fine. */
static int connect_network(struct driver *d, const char *net, const char *id, const char *alias,
			   bool *transient, struct error *err)
{
	json_t *body = json_pack("{s:s, s:{s:[s]}}", "Container", id, "EndpointConfig", "Aliases", alias);
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/networks/%s/connect", net);
	long st;
	int rc = call(d, "POST", strbuf_cstr(&p), body, NULL, &st, transient, err);
	if (rc < 0 && st == 403 && strstr(error_msg(err), "already exists"))
		rc = 0, error_clear(err);
	strbuf_release(&p);
	json_decref(body);
	return rc;
}

static int disconnect_network(struct driver *d, const char *net, const char *id, bool *transient,
			      struct error *err)
{
	json_t *body = json_pack("{s:s, s:b}", "Container", id, "Force", 1);
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/networks/%s/disconnect", net);
	long st;
	int rc = call(d, "POST", strbuf_cstr(&p), body, NULL, &st, transient, err);
	/* gone already, or left already (a network removal may race with it) */
	if (rc < 0 && (st == 404 || strstr(error_msg(err), "is not connected")))
		rc = 0, error_clear(err);
	strbuf_release(&p);
	json_decref(body);
	return rc;
}

/* A network goes once nothing is on it: containers of other instances that
 * served its consumers are disconnected first. */
static int remove_network(struct driver *d, const char *id, bool *transient, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/networks/%s", id);
	json_t *info = NULL;
	long st;
	int rc = call(d, "GET", strbuf_cstr(&p), NULL, &info, &st, transient, err);
	if (rc < 0) {
		strbuf_release(&p);
		if (st == 404)
			return error_clear(err), 0;
		return -1;
	}
	const char *cid;
	json_t *ep;
	json_object_foreach(json_object_get(info, "Containers"), cid, ep)
	{
		if (rc == 0)
			rc = disconnect_network(d, id, cid, transient, err);
	}
	json_decref(info);
	if (rc == 0) {
		rc = call(d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, transient, err);
		if (rc < 0 && st == 404)
			rc = 0, error_clear(err);
	}
	strbuf_release(&p);
	return rc;
}

static int created_cmp(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "Created"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "Created"));
	return strcmp(x ? x : "", y ? y : "");
}

/* After making an instance's network: if an apply killed while the engine
 * was still making it lost the race with this one (the engine's duplicate
 * check is best effort), two of one name exist and containers naming it
 * would be refused as ambiguous. The oldest stays, the others go now,
 * before any container of this apply names it. */
static int keep_one_network(struct driver *d, const char *key, bool *transient, struct error *err)
{
	char *url = docker_filtered_path("/networks",
					 json_pack("{s:[s+, s+]}", "label", "cairn.cluster=", d->name,
						   "cairn.instance=", key));
	json_t *list = NULL;
	long st;
	int rc = call(d, "GET", url, NULL, &list, &st, transient, err);
	free(url);
	size_t n = json_array_size(list);
	if (rc == 0 && n > 1) {
		json_t **nets = xmalloc(n * sizeof(*nets));
		for (size_t i = 0; i < n; i++)
			nets[i] = json_array_get(list, i);
		qsort(nets, n, sizeof(*nets), created_cmp);
		for (size_t i = 1; i < n && rc == 0; i++) {
			const char *id = json_string_value(json_object_get(nets[i], "Id"));
			if (id)
				rc = remove_network(d, id, transient, err);
		}
		free(nets);
	}
	json_decref(list);
	return rc;
}

static int create_container(struct act *a, const struct exec_call *ec, bool *transient,
			    struct error *err)
{
	struct driver *d = a->d;
	size_t i;
	json_t *vol;
	json_array_foreach(a->spec.volumes, i, vol)
	{
		json_t *body = json_pack("{s:O, s:{s:s, s:s}}", "Name", vol, "Labels", "cairn.instance",
					 a->key, "cairn.cluster", d->name);
		int rc = call(d, "POST", "/volumes/create", body, NULL, NULL, transient, err);
		json_decref(body);
		if (rc < 0)
			return -1;
	}

	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/containers/create?name=%s", a->target);
	json_t *resp = NULL;
	long st;
	int rc = call(d, "POST", strbuf_cstr(&p), a->spec.body, &resp, &st, transient, err);
	if (rc < 0 && st == 409) {
		/* The name is taken: by a container of this instance left by an
		 * interrupted attempt (replace it), or by one cairn does not own. */
		strbuf_reset(&p);
		strbuf_addf(&p, "/containers/%s/json", a->target);
		json_t *info = NULL;
		struct error ierr = ERROR_INIT;
		if (call(d, "GET", strbuf_cstr(&p), NULL, &info, NULL, NULL, &ierr) == 0) {
			const char *owner = json_string_value(json_object_get(
				json_object_get(json_object_get(info, "Config"), "Labels"), "cairn.instance"));
			if (owner && strcmp(owner, a->key) == 0) {
				const char *id = json_string_value(json_object_get(info, "Id"));
				if (remove_container(d, id, transient, err) == 0) {
					strbuf_reset(&p);
					strbuf_addf(&p, "/containers/create?name=%s", a->target);
					rc = call(d, "POST", strbuf_cstr(&p), a->spec.body, &resp, &st,
						  transient, err);
				}
			} else {
				error_set(err, "container name %s is taken by a container cairn does not manage",
					  a->target);
				*transient = false;
			}
		}
		json_decref(info);
		error_clear(&ierr);
	}
	strbuf_release(&p);
	if (rc < 0) {
		if (st == 404 && strstr(error_msg(err), "No such image"))
			error_set(err, "image %s is not on the engine of cluster %s: build it (tools/images) or pull it",
				  a->spec.image, d->name);
		return -1;
	}
	char *id = xstrdup(json_string_value(json_object_get(resp, "Id")));
	json_decref(resp);

	for (i = 1; i < a->networks.len && rc == 0; i++)
		rc = connect_network(d, a->networks.items[i], id, a->alias, transient, err);
	if (rc == 0)
		rc = start_container(a, id, ec, transient, err);
	if (rc < 0) {
		/* Leave nothing half made: the next apply creates it again. */
		bool ignored;
		struct error rerr = ERROR_INIT;
		remove_container(d, id, &ignored, &rerr);
		error_clear(&rerr);
	}
	free(id);
	return rc;
}

/* For `cairn status`: what a replica's step did and how long it took. A
 * failure to record is not the step's. */
static void record_replica_step(const struct act *a, const char *step, double seconds,
				struct strbuf *note)
{
	json_t *part = json_array_get(json_object_get(a->manifest, "parts"), a->part);
	struct strbuf component = STRBUF_INIT;
	strbuf_addf(&component, "%s/%s", json_string_value(json_object_get(part, "service")),
		    json_string_value(json_object_get(part, "component")));
	struct error ignored = ERROR_INIT;
	replica_record_step(backup_default_store(), a->replica, step, strbuf_cstr(&component),
			    json_string_value(json_object_get(a->manifest, "id")), seconds,
			    strbuf_cstr(note), &ignored);
	error_clear(&ignored);
	strbuf_release(&component);
}

static void sync_progress(void *ctx, const struct replica_sync *so_far)
{
	char text[160];
	snprintf(text, sizeof(text), "%lld of %lld files copied (%.1f of %.1f MB)",
		 (long long)so_far->copied_files, (long long)so_far->to_copy_files,
		 (double)so_far->copied_bytes / 1e6, (double)so_far->to_copy_bytes / 1e6);
	exec_call_progress(ctx, text);
}

static int run_act(void *ctx, const struct exec_call *ec, bool *transient, struct error *err)
{
	struct act *a = ctx;
	struct driver *d = a->d;
	struct strbuf p = STRBUF_INIT;
	long st = 0;
	int rc = 0;
	switch (a->kind) {
	case A_FAIL:
		*transient = false;
		rc = error_set(err, "%s", a->message);
		break;
	case A_NETWORK: {
		json_t *body = json_pack("{s:s, s:b, s:s, s:{s:s, s:s}}", "Name", a->target, "CheckDuplicate", 1,
					 "Driver", "bridge", "Labels", "cairn.instance", a->key,
					 "cairn.cluster", d->name);
		rc = call(d, "POST", "/networks/create", body, NULL, &st, transient, err);
		json_decref(body);
		if (rc < 0 && st == 409) /* made by an interrupted apply */
			rc = 0, error_clear(err);
		if (rc == 0)
			rc = keep_one_network(d, a->key, transient, err);
		break;
	}
	case A_NETWORK_DELETE:
		rc = remove_network(d, a->target, transient, err);
		break;
	case A_CONNECT:
		for (size_t i = 0; i < a->networks.len && rc == 0; i++)
			rc = connect_network(d, a->networks.items[i], a->target, a->alias, transient, err);
		for (size_t i = 0; i < a->old.len && rc == 0; i++)
			rc = disconnect_network(d, a->old.items[i], a->target, transient, err);
		break;
	case A_VOLUME_DELETE:
		strbuf_addf(&p, "/volumes/%s", a->target);
		rc = call(d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, transient, err);
		if (rc < 0 && st == 404)
			rc = 0, error_clear(err);
		break;
	case A_DELETE:
		rc = remove_container(d, a->target, transient, err);
		break;
	case A_ROUTE: {
		/* The ports the engine published are known only now. */
		json_t *list = NULL;
		rc = list_labelled(d, "/containers/json", &list, err);
		if (rc == 0) {
			char *text = docker_routes_render(list, d->address, d->routes.port);
			if (!docker_routes_current(&d->routes, text))
				rc = docker_routes_install(&d->routes, text, err);
			*transient = false;
			free(text);
		}
		json_decref(list);
		break;
	}
	case A_START:
		rc = start_container(a, a->target, ec, transient, err);
		break;
	case A_STOP:
		rc = stop_container(d, a->target, transient, err);
		break;
	case A_UPDATE:
		for (size_t i = 0; i < a->old.len && rc == 0; i++)
			rc = remove_container(d, a->old.items[i], transient, err);
		if (rc == 0)
			rc = create_container(a, ec, transient, err);
		break;
	case A_CREATE:
		rc = create_container(a, ec, transient, err);
		break;
	case A_RESTORE: {
		struct replica_restore restore;
		double started = backup_now();
		*transient = false; /* it drops what a failed try left and starts over */
		exec_call_progress(ec, "waiting for PostgreSQL, then pg_restore -j 2");
		rc = replica_restore_database(d->api, backup_default_store(), a->manifest, a->part,
					      a->target, BACKUP_HELPER_IMAGE, 2, &restore, err);
		if (rc == 0) {
			const char *id = json_string_value(json_object_get(a->manifest, "id"));
			if (restore.restored)
				strbuf_addf(ec->note,
					    "restored backup %s in %.2f s (after %.2f s waiting for "
					    "PostgreSQL to accept connections)",
					    id, restore.restore_seconds, restore.wait_seconds);
			else
				strbuf_addf(ec->note, "restored already from backup %s", id);
			record_replica_step(a, "restore", backup_now() - started, ec->note);
		}
		break;
	}
	case A_SYNC: {
		struct replica_sync sync;
		json_t *labels = json_pack("{s:s, s:s}", "cairn.cluster", d->name, "cairn.replica",
					   a->replica);
		*transient = false;
		rc = replica_sync_volume(d->api, backup_default_store(), a->manifest, a->part,
					 a->target, labels, BACKUP_HELPER_IMAGE, sync_progress,
					 (void *)ec, &sync, err);
		json_decref(labels);
		if (rc == 0) {
			strbuf_addf(ec->note,
				    "%s: %lld of %lld files copied (%lld of %lld bytes), %lld removed",
				    a->target, (long long)sync.copied_files, (long long)sync.files,
				    (long long)sync.copied_bytes, (long long)sync.bytes,
				    (long long)sync.removed);
			record_replica_step(a, "sync", sync.seconds, ec->note);
		}
		break;
	}
	}
	strbuf_release(&p);
	return rc;
}

/* ---- planning ---- */

static struct act *act_new(struct driver *d, enum act_kind kind, const char *key, const char *target)
{
	struct act *a = xcalloc(1, sizeof(*a));
	a->d = d;
	a->kind = kind;
	a->key = xstrdup(key);
	a->target = target ? xstrdup(target) : NULL;
	return a;
}

static size_t add(struct exec *x, struct driver *d, const char *verb, struct act *a)
{
	return exec_add(x, verb, a->key, d->name, run_act, a, act_free);
}

typedef VEC(size_t *) size_ptr_vec;

/* The networks an observed container is on (name -> settings). */
static const json_t *observed_networks(struct driver *d, const char *id)
{
	size_t i;
	json_t *c;
	json_array_foreach(d->containers, i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "Id")), id) == 0)
			return json_object_get(json_object_get(c, "NetworkSettings"), "Networks");
	}
	return NULL;
}

static bool is_docker_code(const struct instance *in)
{
	return in->code_type && strcmp(in->code_type, "docker") == 0;
}

static const struct observed *find_observed(struct driver *d, const char *key, const char *kind,
					    size_t *count)
{
	const struct observed *first = NULL;
	*count = 0;
	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		if (strcmp(o->key, key) == 0 && strcmp(o->kind, kind) == 0) {
			if (!first)
				first = o;
			(*count)++;
		}
	}
	return first;
}

/* The action creating the network of service instance `root` (a key), made
 * on first use so that each network is queued just before the first
 * container joining it: the executor starts ready actions in the order they
 * were added and dockerd creates networks one at a time, so containers then
 * start while later networks are still being made. NULL when the network
 * exists or the instance is not on this cluster. */
static size_t *network_action(struct driver *d, struct exec *x, const struct map *wanted,
			      struct map *net_acts, size_ptr_vec *owned, const char *root)
{
	const struct instance *in = map_get(wanted, root, strlen(root));
	size_t n = 0;
	if (!in || !in->root || (find_observed(d, in->key, "network", &n) && n == 1))
		return NULL;
	size_t *idx = map_get(net_acts, in->key, strlen(in->key));
	if (idx)
		return idx;
	idx = xmalloc(sizeof(*idx));
	if (n == 0) {
		char *name = docker_object_name(in->key);
		*idx = add(x, d, "network", act_new(d, A_NETWORK, in->key, name));
		free(name);
	} else {
		/* Two networks of one name: an apply killed while the engine was
		 * still making one, and the next made it again (the engine's
		 * duplicate check is best effort). Containers name their network,
		 * which the engine then calls ambiguous: the first stays, the
		 * others go, one after the other, before any container. */
		size_t seen = 0;
		for (size_t i = 0; i < d->observed.len; i++) {
			const struct observed *o = &d->observed.items[i];
			if (strcmp(o->kind, "network") != 0 || strcmp(o->key, in->key) != 0 || seen++ == 0)
				continue;
			size_t k = add(x, d, "delete-network", act_new(d, A_NETWORK_DELETE, in->key, o->id));
			if (seen > 2)
				exec_order(x, *idx, k);
			*idx = k;
		}
	}
	vec_push(owned, idx);
	map_put(net_acts, in->key, strlen(in->key), idx);
	return idx;
}

/* ---- data: the prepared image of a dataset ---- */

static const struct prepared *prepared_of(struct driver *d, const char *dataset, struct error *err)
{
	for (size_t i = 0; i < d->prepared.len; i++)
		if (strcmp(d->prepared.items[i].dataset, dataset) == 0)
			return &d->prepared.items[i];
	struct prepared p = { 0 };
	if (snapshot_images(d->api, dataset, &p.images, &p.n, err) < 0)
		return NULL;
	p.dataset = xstrdup(dataset);
	vec_push(&d->prepared, p);
	return &d->prepared.items[d->prepared.len - 1];
}

static const char *instance_label(const struct instance *in, const char *key)
{
	for (uint32_t i = 0; i < in->labels.len; i++)
		if (strcmp(in->labels.items[i].key->s, key) == 0)
			return in->labels.items[i].value->s;
	return NULL;
}

struct data_ctx {
	struct driver *d;
	const struct instance *in;
};

/* Which snapshot an instance's data is: the one its dependency's label
 * `snapshot` names (an id, or `latest`); else the one its container runs
 * already, so that a newer snapshot does not replace a demo's data under
 * it; else the newest prepared. Fails closed: no prepared image, no
 * container. */
static int plan_data_image(void *ctx, const char *dataset, struct docker_data *out,
			   struct error *err)
{
	struct data_ctx *c = ctx;
	const struct prepared *p = prepared_of(c->d, dataset, err);
	if (!p)
		return -1;
	const char *want = instance_label(c->in, "snapshot");
	const struct snapshot_image *pick = NULL;
	if (want && strcmp(want, "latest") != 0) {
		for (size_t i = 0; i < p->n && !pick; i++)
			if (strcmp(p->images[i].snapshot, want) == 0)
				pick = &p->images[i];
		if (!pick)
			return error_set(err, "snapshot %s (label snapshot) of dataset %s is not prepared "
					      "on cluster %s: run `cairn snapshot prepare %s`",
					 want, dataset, c->d->name, want);
	} else if (!want) {
		size_t n;
		const struct observed *o = find_observed(c->d, c->in->key, "container", &n);
		for (size_t i = 0; o && o->image && i < p->n && !pick; i++)
			if (strcmp(p->images[i].image, o->image) == 0)
				pick = &p->images[i];
	}
	if (!pick && p->n)
		pick = &p->images[p->n - 1];
	if (!pick)
		return error_set(err, "dataset %s has no prepared snapshot on cluster %s: run `cairn "
				      "snapshot create %s`, then `cairn snapshot prepare ID`",
				 dataset, c->d->name, dataset);
	*out = (struct docker_data){ pick->image, pick->snapshot, pick->build, p->dataset,
				     pick->build_component };
	return 0;
}

/* The data of each service instance on this cluster (root key -> struct
 * service_data), chosen before any container is planned: a component's
 * {{ .Data.build }} and the build check need it, whatever the order. */
struct service_data {
	struct docker_data data;
	char *error; /* why choosing failed, or NULL */
};

static void choose_service_data(struct driver *d, const struct resolution *r, struct map *out)
{
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (strcmp(in->cluster, d->name) != 0 || in->root || !in->params ||
		    !strstr(in->params->s, "\"data\""))
			continue;
		json_t *params = json_loads(in->params->s, 0, NULL);
		const char *dataset =
			json_string_value(json_object_get(json_object_get(params, "data"), "dataset"));
		char *root = instance_root_key(in->key);
		if (dataset && !map_get(out, root, strlen(root))) {
			struct service_data *sd = xcalloc(1, sizeof(*sd));
			struct error err = ERROR_INIT;
			/* what it fills lives in the plan's cache of prepared images */
			if (plan_data_image(&(struct data_ctx){ d, in }, dataset, &sd->data, &err) < 0)
				sd->error = xstrdup(error_msg(&err));
			error_clear(&err);
			map_put(out, root, strlen(root), sd);
			root = NULL; /* the map's key now */
		}
		free(root);
		json_decref(params);
	}
}

static void forget_service_data(struct map *m)
{
	size_t it = 0;
	const struct map_slot *slot;
	while (map_next(m, &it, &slot)) {
		struct service_data *sd = slot->value;
		free(sd->error);
		free(sd);
		free((char *)slot->key);
	}
	map_release(m);
}

static bool has_container(void *ctx, const char *key)
{
	size_t n;
	return find_observed(ctx, key, "container", &n) != NULL;
}

struct replica_step {
	const struct instance *in;
	size_t idx;
};
typedef VEC(struct replica_step) replica_step_vec;

/* While a replica is made: its volume synced from the backup before the
 * instance's container is made, its database restored after the
 * container starts (what needs it waits: see the end of plan). */
static void plan_replica_steps(struct driver *d, struct exec *x, const struct instance *in,
			       const struct replica_of *ro, json_t *backup, const char *slot,
			       struct map *acts, replica_step_vec *restores)
{
	size_t *own = map_get(acts, in->key, strlen(in->key));
	long part = slot ? replica_part(ro->manifest, "volume", in->service, in->component) : -1;
	if (part >= 0) {
		struct act *a = act_new(d, A_SYNC, in->key, slot);
		a->manifest = json_incref(ro->manifest);
		a->part = (size_t)part;
		a->replica = xstrdup(ro->dependency);
		size_t idx = add(x, d, "sync", a);
		if (own)
			exec_order(x, idx, *own);
	}
	part = json_object_get(backup, "postgres")
		       ? replica_part(ro->manifest, "postgres", in->service, in->component)
		       : -1;
	if (part >= 0) {
		struct act *a = act_new(d, A_RESTORE, in->key, NULL);
		a->target = docker_object_name(in->key);
		a->manifest = json_incref(ro->manifest);
		a->part = (size_t)part;
		a->replica = xstrdup(ro->dependency);
		size_t idx = add(x, d, "restore", a);
		if (own)
			exec_order(x, *own, idx);
		vec_push(restores, ((struct replica_step){ in, idx }));
	}
}

static int docker_driver_plan(struct driver *d, const struct desired *want, struct exec *x,
			      struct error *err)
{
	const struct resolution *r = want->resolution;
	struct map wanted = MAP_INIT; /* keys of instances placed on this cluster */
	struct map net_acts = MAP_INIT, acts = MAP_INIT;
	size_ptr_vec owned = { 0 };
	size_t first_action = exec_count(x);
	/* connect actions that take containers off networks: a delete of one of
	 * those networks waits for them (it would find endpoints still there) */
	struct disconnect {
		size_t idx;
		const struct act *act;
	};
	VEC(struct disconnect) disconnects = { 0 };
	struct map stopped = MAP_INIT;
	resolution_stopped(r, &stopped);
	forget_prepared(d); /* images prepared since the last plan count */
	struct map service_data = MAP_INIT;
	choose_service_data(d, r, &service_data);
	struct replica_plans *replicas = replica_plans_new(r, d->name, has_container, d);
	replica_step_vec restores = { 0 };
	struct instance_graph graph;
	instance_graph_init(&graph, r);

	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		/* a stopped replica is removed, all but its media: it is made
		 * anew from a backup when it starts */
		if (strcmp(in->cluster, d->name) == 0 &&
		    !(replica_plans_of(replicas, in) && instance_stopped(in, &stopped)))
			map_put(&wanted, in->key, strlen(in->key), (void *)in);
	}

	/* Containers: create what is missing, replace what differs, start what stopped. */
	VEC(const struct instance *) placed = { 0 };
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (strcmp(in->cluster, d->name) != 0 || in->root || !in->code_type ||
		    !map_get(&wanted, in->key, strlen(in->key)))
			continue;
		if (!is_docker_code(in)) {
			struct act *a = act_new(d, A_FAIL, in->key, NULL);
			struct strbuf m = STRBUF_INIT;
			strbuf_addf(&m, "code type %s cannot run on docker cluster %s", in->code_type, d->name);
			a->message = strbuf_detach(&m);
			add(x, d, "create", a);
			continue;
		}
		char *root = instance_root_key(in->key);
		const struct replica_of *ro = replica_plans_of(replicas, in);
		json_t *backup = NULL; /* its backup param, when it is a replica's */
		char *slot = NULL;
		if (ro && in->params) {
			json_t *params = json_loads(in->params->s, 0, NULL);
			backup = json_incref(json_object_get(params, "backup"));
			json_decref(params);
			const char *vol = json_string_value(json_object_get(backup, "volume"));
			slot = vol ? replica_slot_volume(ro->dependency, vol) : NULL;
		}
		struct act *a = act_new(d, A_CREATE, in->key, NULL);
		a->target = docker_object_name(in->key);
		const char *inst = strchr(in->key, '#') ? strchr(in->key, '#') + 1 : in->key;
		struct strbuf alias = STRBUF_INIT;
		for (const char *c = inst; *c; c++)
			strbuf_addc(&alias, *c == '#' || *c == '_' ? '-' : *c);
		a->alias = strbuf_detach(&alias);
		vec_push(&a->networks, docker_object_name(root));
		instance_key_vec roots = { 0 };
		instance_consumer_roots(&graph, in, &roots);
		for (size_t k = 0; k < roots.len; k++)
			if (strcmp(roots.items[k], root) != 0) /* its own network is the first */
				vec_push(&a->networks, docker_object_name(roots.items[k]));

		char *label = docker_dns_label(a->alias);
		struct strbuf host = STRBUF_INIT;
		strbuf_addf(&host, "%s.%s", label, d->domain);
		char *dns_router = docker_dns_label(a->target);
		struct docker_target t = {
			.key = in->key,
			.cluster = d->name,
			.name = a->target,
			.alias = a->alias,
			.host = strbuf_cstr(&host),
			.router = dns_router,
			.networks = (const char *const *)a->networks.items,
			.nnetworks = a->networks.len,
			.level = graph.levels[i],
			.http_port = d->routed ? d->routes.port : 0,
			.component = in->component,
			.data_image = plan_data_image,
			.data_ctx = &(struct data_ctx){ d, in },
			.slot_volume = slot ? json_string_value(json_object_get(backup, "volume")) : NULL,
			.slot_source = slot,
		};
		const struct service_data *sd = map_get(&service_data, root, strlen(root));
		if (sd && !sd->error)
			t.data = &sd->data;
		else if (sd)
			t.data_error = sd->error;
		struct error serr = ERROR_INIT;
		int built = docker_spec_build(&a->spec, in->params ? in->params->s : NULL, &t, &serr);
		if (built == 0 && ro && ro->replicating && !has_container(d, in->key))
			built = replica_check_build(ro, in, a->spec.image, &serr);
		if (built < 0) {
			a->kind = A_FAIL;
			a->message = xstrdup(error_msg(&serr));
			/* what needs this instance is skipped: an app never starts
			 * without the database its data param asked for */
			size_t *idx = xmalloc(sizeof(*idx));
			*idx = add(x, d, "create", a);
			vec_push(&owned, idx);
			map_put(&acts, in->key, strlen(in->key), idx);
			vec_push(&placed, in);
		} else {
			docker_spec_stamp(&a->spec, want->generation, in->deps, in->ndeps);
			size_t n;
			const struct observed *o = find_observed(d, in->key, "container", &n);
			if (instance_stopped(in, &stopped)) {
				/* kept but not running: stop what runs, make nothing */
				if (o && o->state &&
				    (!strcmp(o->state, "running") || !strcmp(o->state, "restarting")))
					add(x, d, "stop", act_new(d, A_STOP, in->key, o->id));
				act_free(a);
				goto next;
			}
			const char *verb = "create";
			if (o && n == 1 && o->hash && strcmp(o->hash, a->spec.hash) == 0 &&
			    o->image && strcmp(o->image, a->spec.image) == 0) {
				if (o->state && strcmp(o->state, "running") != 0 &&
				    strcmp(o->state, "restarting") != 0) {
					/* stopped or never started: start it again */
					a->kind = A_START;
					free(a->target);
					a->target = xstrdup(o->id);
					verb = "start";
				} else {
					verb = NULL; /* as wanted */
				}
			} else if (o) {
				a->kind = A_UPDATE;
				verb = "update";
				for (size_t k = 0; k < d->observed.len; k++) {
					const struct observed *ok = &d->observed.items[k];
					if (!strcmp(ok->key, in->key) && !strcmp(ok->kind, "container"))
						vec_push(&a->old, xstrdup(ok->id));
				}
			}
			if (verb) {
				size_t *idx = xmalloc(sizeof(*idx));
				*idx = add(x, d, verb, a);
				vec_push(&owned, idx);
				map_put(&acts, in->key, strlen(in->key), idx);
				vec_push(&placed, in);
				/* after the networks it joins, when they are made now */
				for (size_t k = 0; k <= roots.len; k++) {
					const char *rk = k ? roots.items[k - 1] : root;
					size_t *rn = network_action(d, x, &wanted, &net_acts, &owned, rk);
					if (rn)
						exec_order(x, *rn, *idx);
				}
			} else if (a->kind == A_CREATE) {
				/* as wanted: only the networks of its consumers may differ */
				const json_t *have = observed_networks(d, o->id);
				struct act *c = act_new(d, A_CONNECT, in->key, o->id);
				c->alias = xstrdup(a->alias);
				for (size_t k = 1; k < a->networks.len; k++)
					if (!json_object_get(have, a->networks.items[k]))
						vec_push(&c->networks, xstrdup(a->networks.items[k]));
				const char *net;
				json_t *v;
				json_object_foreach((json_t *)have, net, v)
				{
					bool keep = false;
					for (size_t k = 0; k < a->networks.len && !keep; k++)
						keep = strcmp(net, a->networks.items[k]) == 0;
					if (!keep && strncmp(net, "cairn-", 6) == 0)
						vec_push(&c->old, xstrdup(net));
				}
				act_free(a);
				if (c->networks.len || c->old.len) {
					size_t ci = add(x, d, "connect", c);
					if (c->old.len)
						vec_push(&disconnects, ((struct disconnect){ ci, c }));
					for (size_t k = 0; k < roots.len; k++) {
						size_t *rn = network_action(d, x, &wanted, &net_acts, &owned,
									    roots.items[k]);
						if (rn)
							exec_order(x, *rn, ci);
					}
				} else {
					act_free(c);
				}
			} else {
				act_free(a);
			}
		}
		if (built == 0 && ro && ro->replicating && ro->manifest)
			plan_replica_steps(d, x, in, ro, backup, slot, &acts, &restores);
	next:
		json_decref(backup);
		free(slot);
		error_clear(&serr);
		free(label);
		free(dns_router);
		strbuf_release(&host);
		vec_release(&roots);
		free(root);
	}

	/* Each container action waits for its networks and for what it needs. */
	for (size_t i = 0; i < placed.len; i++) {
		const struct instance *in = placed.items[i];
		size_t me = *(size_t *)map_get(&acts, in->key, strlen(in->key));
		char *root = instance_root_key(in->key);
		size_t *net = map_get(&net_acts, root, strlen(root));
		if (net)
			exec_order(x, *net, me);
		free(root);
		instance_order_after_needs(x, in, &acts, me);
	}
	/* What needs a replica's database waits until it is restored. */
	for (size_t i = 0; i < restores.len; i++) {
		const instance_vec *u = &graph.users[restores.items[i].in->order];
		for (size_t k = 0; k < u->len; k++) {
			size_t *ua = map_get(&acts, u->items[k]->key, strlen(u->items[k]->key));
			if (ua)
				exec_order(x, restores.items[i].idx, *ua);
		}
	}

	/* What no instance wants goes: containers, consumers first (higher
	 * level), then their volumes, then service networks. */
	VEC(size_t) deletes = { 0 };
	VEC(int) delete_levels = { 0 };
	VEC(const struct observed *) delete_of = { 0 }; /* the container of each delete */
	VEC(const json_t *) delete_nets = { 0 };          /* and the networks it is on */
	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		if (strcmp(o->kind, "container") != 0)
			continue;
		const struct instance *in = map_get(&wanted, o->key, strlen(o->key));
		bool duplicate = false;
		if (in && is_docker_code(in)) {
			/* A second container of one instance (made by hand or by an older
			 * cairn) goes, unless the update above replaces them all. */
			size_t n;
			const struct observed *first = find_observed(d, o->key, "container", &n);
			size_t *act = map_get(&acts, o->key, strlen(o->key));
			duplicate = n > 1 && first != o && !act;
			if (!duplicate)
				continue;
		}
		struct act *a = act_new(d, A_DELETE, o->key, o->id);
		size_t idx = add(x, d, "delete", a);
		const json_t *c = NULL;
		size_t j;
		json_t *it;
		json_array_foreach(d->containers, j, it)
		{
			if (!strcmp(json_string_value(json_object_get(it, "Id")), o->id))
				c = it;
		}
		const char *lv = c ? label_of(c, "cairn.level") : NULL;
		vec_push(&deletes, idx);
		vec_push(&delete_levels, lv ? atoi(lv) : 0);
		vec_push(&delete_of, o);
		vec_push(&delete_nets, c ? json_object_get(json_object_get(c, "NetworkSettings"), "Networks")
					 : NULL);
	}
	for (size_t i = 0; i < deletes.len; i++)
		for (size_t j = 0; j < deletes.len; j++)
			if (delete_levels.items[j] > delete_levels.items[i])
				exec_order(x, deletes.items[j], deletes.items[i]);

	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		bool volume = strcmp(o->kind, "volume") == 0;
		bool network = strcmp(o->kind, "network") == 0;
		if ((!volume && !network) || map_get(&wanted, o->key, strlen(o->key)))
			continue;
		struct act *a = act_new(d, volume ? A_VOLUME_DELETE : A_NETWORK_DELETE, o->key, o->id);
		size_t idx = add(x, d, volume ? "delete-volume" : "delete-network", a);
		/* Only after the containers using it: a volume is its instance's,
		 * a network is on the containers attached to it. Waiting for every
		 * container would hold back the network deletes, which dockerd
		 * runs one at a time and which dominate a teardown. */
		for (size_t j = 0; j < deletes.len; j++) {
			if (volume ? strcmp(delete_of.items[j]->key, o->key) == 0
				   : json_object_get(delete_nets.items[j], o->name) != NULL)
				exec_order(x, deletes.items[j], idx);
		}
		for (size_t j = 0; !volume && j < disconnects.len; j++)
			for (size_t k = 0; k < disconnects.items[j].act->old.len; k++)
				if (strcmp(disconnects.items[j].act->old.items[k], o->name) == 0)
					exec_order(x, disconnects.items[j].idx, idx);
	}

	/* Routes last, once the engine has published the ports; and again
	 * when nothing else changed but the file differs (edited, or a route
	 * that failed before). */
	if (d->routed) {
		size_t last = exec_count(x);
		bool add_route = last > first_action;
		if (!add_route) {
			char *text = docker_routes_render(d->containers, d->address, d->routes.port);
			add_route = !docker_routes_current(&d->routes, text);
			free(text);
		}
		if (add_route) {
			size_t idx = add(x, d, "route", act_new(d, A_ROUTE, d->name, d->routes.file));
			for (size_t i = first_action; i < last; i++)
				exec_order(x, i, idx);
		}
	}

	vec_release(&deletes);
	vec_release(&delete_levels);
	vec_release(&delete_of);
	vec_release(&disconnects);
	vec_release(&delete_nets);
	vec_release(&placed);
	for (size_t i = 0; i < owned.len; i++)
		free(owned.items[i]);
	vec_release(&owned);
	forget_service_data(&service_data);
	replica_plans_free(replicas);
	vec_release(&restores);
	map_release(&wanted);
	map_release(&stopped);
	map_release(&net_acts);
	map_release(&acts);
	instance_graph_release(&graph);
	(void)err;
	return 0;
}

/* ---- logs ---- */

static int docker_driver_logs(struct driver *d, const char *key, bool follow, struct error *err)
{
	size_t n;
	const struct observed *o = find_observed(d, key, "container", &n);
	if (!o)
		return error_set(err, "instance %s has no container on cluster %s", key, d->name);
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/containers/%s/logs?stdout=1&stderr=1%s", o->id, follow ? "&follow=1" : "");
	struct docker_demux dm = { 0 };
	long st;
	int rc = docker_stream(d->api, strbuf_cstr(&p), 0, docker_demux_print, &dm, &st, err);
	strbuf_release(&p);
	return rc;
}

static int docker_driver_check(const struct cluster *c, const struct instance *in,
			       struct error *err)
{
	/* Names do not matter to the params: any will do. */
	const char *network = "check";
	struct docker_target t = { .key = in->key, .cluster = c->obj.name->s, .name = "check",
				   .alias = "check", .host = "check.localhost", .router = "check",
				   .networks = &network, .nnetworks = 1 };
	struct docker_spec spec = { 0 };
	int rc = docker_spec_build(&spec, in->params ? in->params->s : NULL, &t, err);
	docker_spec_release(&spec);
	return rc;
}

const struct driver_ops docker_driver_ops = {
	.type = "docker",
	.code_type = "docker",
	.params = &docker_params,
	.config = &docker_cluster_config,
	.unit = "container",
	.open = docker_driver_open,
	.close = docker_driver_close,
	.observe = docker_driver_observe,
	.list = docker_driver_list,
	.plan = docker_driver_plan,
	.check = docker_driver_check,
	.logs = docker_driver_logs,
};
