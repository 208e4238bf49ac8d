/* The docker driver (driver.h): a cluster is one Docker engine. A service
 * instance is a network (so one environment cannot reach another's
 * containers), a docker component instance is a container on its service's
 * network and on the networks of every service it uses, named volumes belong
 * to their instance. Everything cairn makes carries cairn.instance and
 * cairn.cluster labels; nothing without them is ever touched. */
#include "docker_driver.h"
#include "docker_internal.h"
#include "docker_params.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/strbuf.h"
#include "docker_replica.h"
#include "engine/backup/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void docker_act_free(void *p)
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

static void docker_driver_close(struct driver *d)
{
	if (!d)
		return;
	docker_forget_prepared(d);
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

/* ---- actions ---- */

/* A request whose failure is classified for the executor. */
static int call(struct driver *d, const char *method, const char *path, const json_t *body,
		json_t **resp, long *status, struct error *err)
{
	long st = 0;
	int rc = docker_request(d->api, method, path, body, resp, &st, err);
	if (status)
		*status = st;
	if (rc < 0 && docker_failure_transient(st, err))
		error_mark(err, ERROR_TRANSIENT);
	return rc;
}

/* The app gets SIGTERM and a 10 s grace period. Stopped or gone already is fine. */
static int stop_container(struct driver *d, const char *id, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	long st;
	strbuf_addf(&p, "/containers/%s/stop?t=10", id);
	int rc = call(d, "POST", strbuf_cstr(&p), NULL, NULL, &st, err);
	strbuf_release(&p);
	if (rc < 0 && (st == 404 || st == 304)) {
		error_clear(err);
		rc = 0;
	}
	return rc;
}

static int remove_container(struct driver *d, const char *id, struct error *err)
{
	if (stop_container(d, id, err) < 0)
		return -1;
	struct strbuf p = STRBUF_INIT;
	long st;
	strbuf_addf(&p, "/containers/%s?force=true", id);
	int rc = call(d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, err);
	strbuf_release(&p);
	if (rc < 0 && st == 404)
		rc = 0;
	if (rc == 0)
		error_clear(err);
	return rc;
}

static int wait_healthy(struct driver *d, const char *id, const struct exec_call *ec,
			struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/containers/%s/json", id);
	int rc = -1;
	for (;;) {
		json_t *info = NULL;
		if (call(d, "GET", strbuf_cstr(&p), NULL, &info, NULL, err) < 0)
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
			break;
		}
		if (clock_ms() >= ec->deadline_ms || (d->eo.stop && *d->eo.stop)) {
			error_set(err, "container %s was not healthy in time", id);
			break;
		}
		usleep(200 * 1000);
	}
	strbuf_release(&p);
	return rc;
}

static int start_container(struct act *a, const char *id, const struct exec_call *ec,
			   struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/containers/%s/start", id);
	long st;
	int rc = call(a->d, "POST", strbuf_cstr(&p), NULL, NULL, &st, err);
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
		return wait_healthy(a->d, id, ec, err);
	return 0;
}

/* Joins a container to a network under its discovery name; already there is fine. */
static int connect_network(struct driver *d, const char *net, const char *id, const char *alias,
			   struct error *err)
{
	json_t *body = json_pack("{s:s, s:{s:[s]}}", "Container", id, "EndpointConfig", "Aliases", alias);
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/networks/%s/connect", net);
	long st;
	int rc = call(d, "POST", strbuf_cstr(&p), body, NULL, &st, err);
	if (rc < 0 && st == 403 && strstr(error_msg(err), "already exists"))
		rc = 0, error_clear(err);
	strbuf_release(&p);
	json_decref(body);
	return rc;
}

static int disconnect_network(struct driver *d, const char *net, const char *id, struct error *err)
{
	json_t *body = json_pack("{s:s, s:b}", "Container", id, "Force", 1);
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/networks/%s/disconnect", net);
	long st;
	int rc = call(d, "POST", strbuf_cstr(&p), body, NULL, &st, err);
	/* gone already, or left already (a network removal may race with it) */
	if (rc < 0 && (st == 404 || strstr(error_msg(err), "is not connected")))
		rc = 0, error_clear(err);
	strbuf_release(&p);
	json_decref(body);
	return rc;
}

/* A network goes once nothing is on it: containers of other instances that
 * served its consumers are disconnected first. */
static int remove_network(struct driver *d, const char *id, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/networks/%s", id);
	json_t *info = NULL;
	long st;
	int rc = call(d, "GET", strbuf_cstr(&p), NULL, &info, &st, err);
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
			rc = disconnect_network(d, id, cid, err);
	}
	json_decref(info);
	if (rc == 0) {
		rc = call(d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, err);
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
static int keep_one_network(struct driver *d, const char *key, struct error *err)
{
	char *url = docker_filtered_path("/networks",
					 json_pack("{s:[s+, s+]}", "label", "cairn.cluster=", d->name,
						   "cairn.instance=", key));
	json_t *list = NULL;
	long st;
	int rc = call(d, "GET", url, NULL, &list, &st, err);
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
				rc = remove_network(d, id, err);
		}
		free(nets);
	}
	json_decref(list);
	return rc;
}

static int create_container(struct act *a, const struct exec_call *ec, struct error *err)
{
	struct driver *d = a->d;
	size_t i;
	json_t *vol;
	json_array_foreach(a->spec.volumes, i, vol)
	{
		json_t *body = json_pack("{s:O, s:{s:s, s:s}}", "Name", vol, "Labels", "cairn.instance",
					 a->key, "cairn.cluster", d->name);
		int rc = call(d, "POST", "/volumes/create", body, NULL, NULL, err);
		json_decref(body);
		if (rc < 0)
			return -1;
	}

	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/containers/create?name=%s", a->target);
	json_t *resp = NULL;
	long st;
	int rc = call(d, "POST", strbuf_cstr(&p), a->spec.body, &resp, &st, err);
	if (rc < 0 && st == 409) {
		/* The name is taken: by a container of this instance left by an
		 * interrupted attempt (replace it), or by one cairn does not own. */
		strbuf_reset(&p);
		strbuf_addf(&p, "/containers/%s/json", a->target);
		json_t *info = NULL;
		struct error ierr = ERROR_INIT;
		if (call(d, "GET", strbuf_cstr(&p), NULL, &info, NULL, &ierr) == 0) {
			const char *owner = json_string_value(json_object_get(
				json_object_get(json_object_get(info, "Config"), "Labels"), "cairn.instance"));
			if (owner && strcmp(owner, a->key) == 0) {
				const char *id = json_string_value(json_object_get(info, "Id"));
				if (remove_container(d, id, err) == 0) {
					strbuf_reset(&p);
					strbuf_addf(&p, "/containers/create?name=%s", a->target);
					rc = call(d, "POST", strbuf_cstr(&p), a->spec.body, &resp, &st, err);
				}
			} else {
				error_set(err, "container name %s is taken by a container cairn does not manage",
					  a->target);
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
		rc = connect_network(d, a->networks.items[i], id, a->alias, err);
	if (rc == 0)
		rc = start_container(a, id, ec, err);
	if (rc < 0) {
		/* Leave nothing half made: the next apply creates it again. */
		struct error rerr = ERROR_INIT;
		remove_container(d, id, &rerr);
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

static int create_network(struct driver *d, const struct act *a, struct error *err)
{
	json_t *body = json_pack("{s:s, s:b, s:s, s:{s:s, s:s}}", "Name", a->target, "CheckDuplicate", 1,
				 "Driver", "bridge", "Labels", "cairn.instance", a->key,
				 "cairn.cluster", d->name);
	long st = 0;
	int rc = call(d, "POST", "/networks/create", body, NULL, &st, err);
	json_decref(body);
	if (rc < 0 && st == 409) /* made by an interrupted apply */
		rc = 0, error_clear(err);
	return rc == 0 ? keep_one_network(d, a->key, err) : rc;
}

static int delete_volume(struct driver *d, const char *name, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/volumes/%s", name);
	long st = 0;
	int rc = call(d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, err);
	if (rc < 0 && st == 404)
		rc = 0, error_clear(err);
	strbuf_release(&p);
	return rc;
}

/* The router's table, from the ports the engine published: known only now. */
static int install_routes(struct driver *d, struct error *err)
{
	json_t *list = NULL;
	int rc = docker_list_labelled(d, "/containers/json", &list, err);
	if (rc == 0) {
		char *text = docker_routes_render(list, d->address, d->routes.port);
		if (!docker_routes_current(&d->routes, text))
			rc = docker_routes_install(&d->routes, text, err);
		free(text);
	}
	json_decref(list);
	return rc;
}

static int restore_replica(struct act *a, const struct exec_call *ec, struct error *err)
{
	struct replica_restore restore;
	double started = clock_seconds();
	exec_call_progress(ec, "waiting for PostgreSQL, then pg_restore -j 2");
	if (replica_restore_database(a->d->api, backup_default_store(), a->manifest, a->part,
				     a->target, BACKUP_HELPER_IMAGE, 2, &restore, err) < 0)
		return -1;
	const char *id = json_string_value(json_object_get(a->manifest, "id"));
	if (restore.restored)
		strbuf_addf(ec->note,
			    "restored backup %s in %.2f s (after %.2f s waiting for PostgreSQL to "
			    "accept connections)",
			    id, restore.restore_seconds, restore.wait_seconds);
	else
		strbuf_addf(ec->note, "restored already from backup %s", id);
	record_replica_step(a, "restore", clock_seconds() - started, ec->note);
	return 0;
}

static int sync_replica(struct act *a, const struct exec_call *ec, struct error *err)
{
	struct replica_sync sync;
	json_t *labels = json_pack("{s:s, s:s}", "cairn.cluster", a->d->name, "cairn.replica",
				   a->replica);
	int rc = replica_sync_volume(a->d->api, backup_default_store(), a->manifest, a->part,
				     a->target, labels, BACKUP_HELPER_IMAGE, sync_progress, (void *)ec,
				     &sync, err);
	json_decref(labels);
	if (rc < 0)
		return -1;
	strbuf_addf(ec->note, "%s: %lld of %lld files copied (%lld of %lld bytes), %lld removed",
		    a->target, (long long)sync.copied_files, (long long)sync.files,
		    (long long)sync.copied_bytes, (long long)sync.bytes, (long long)sync.removed);
	record_replica_step(a, "sync", sync.seconds, ec->note);
	return 0;
}

int docker_run_act(void *ctx, const struct exec_call *ec, struct error *err)
{
	struct act *a = ctx;
	struct driver *d = a->d;
	int rc = 0;
	switch (a->kind) {
	case A_FAIL:
		return error_set(err, "%s", a->message);
	case A_NETWORK:
		return create_network(d, a, err);
	case A_NETWORK_DELETE:
		return remove_network(d, a->target, err);
	case A_CONNECT:
		for (size_t i = 0; i < a->networks.len && rc == 0; i++)
			rc = connect_network(d, a->networks.items[i], a->target, a->alias, err);
		for (size_t i = 0; i < a->old.len && rc == 0; i++)
			rc = disconnect_network(d, a->old.items[i], a->target, err);
		return rc;
	case A_VOLUME_DELETE:
		return delete_volume(d, a->target, err);
	case A_DELETE:
		return remove_container(d, a->target, err);
	case A_ROUTE:
		return install_routes(d, err);
	case A_START:
		return start_container(a, a->target, ec, err);
	case A_STOP:
		return stop_container(d, a->target, err);
	case A_UPDATE:
		for (size_t i = 0; i < a->old.len && rc == 0; i++)
			rc = remove_container(d, a->old.items[i], err);
		return rc == 0 ? create_container(a, ec, err) : rc;
	case A_CREATE:
		return create_container(a, ec, err);
	case A_RESTORE:
		return restore_replica(a, ec, err);
	case A_SYNC:
		return sync_replica(a, ec, err);
	}
	return error_set(err, "unknown docker action %d", (int)a->kind);
}

/* ---- logs ---- */

static int docker_driver_logs(struct driver *d, const char *key, bool follow, struct error *err)
{
	size_t n;
	const struct observed *o = docker_find_observed(d, key, "container", &n);
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
