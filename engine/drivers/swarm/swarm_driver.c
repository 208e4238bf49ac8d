/* The swarm driver (driver.h): a cluster is a Docker Swarm, reached through
 * the Engine API of one of its managers (the first of `endpoints` that
 * answers; the next ones when it stops answering). A service instance is an
 * attachable overlay network, a docker component instance is a Swarm
 * service on its service's network and on the networks of every service
 * that uses it, so discovery names work across nodes as on one host. Swarm
 * schedules, restarts and moves the tasks; cairn creates, updates and
 * removes services and waits until their tasks run. Everything cairn makes
 * carries cairn.instance and cairn.cluster labels; nothing without them is
 * touched. */
#include "swarm_driver.h"
#include "swarm_params.h"
#include "swarm_spec.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/vec.h"
#include "engine/drivers/docker/docker_api.h"
#include "engine/drivers/docker/docker_spec.h"
#include "engine/apply/instance_graph.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct driver {
	const struct cluster *cluster;
	const char *name;
	struct swarm_settings cfg;
	/* one client per manager endpoint, opened when first needed */
	struct docker **api;
	size_t current; /* the manager that answered last */
	pthread_mutex_t lock;
	json_t *services, *tasks, *networks, *nodes, *secrets;
	VEC(struct observed) observed;
	struct exec_options eo;
};

/* ---- managers: the first that answers ---- */

/* The client of the manager to ask; NULL with err when none answers. */
static struct docker *manager(struct driver *d, size_t *which, struct error *err)
{
	pthread_mutex_lock(&d->lock);
	struct docker *api = NULL;
	struct strbuf tried = STRBUF_INIT;
	for (size_t k = 0; k < d->cfg.nendpoints && !api; k++) {
		size_t i = (d->current + k) % d->cfg.nendpoints;
		if (!d->api[i]) {
			struct docker_options o = d->cfg.docker.api;
			o.endpoint = d->cfg.endpoints[i];
			struct error e = ERROR_INIT;
			if (docker_open(&d->api[i], &o, &e) < 0) {
				strbuf_addf(&tried, "%s%s", tried.len ? "; " : "", error_msg(&e));
				error_clear(&e);
				continue;
			}
		}
		api = d->api[i];
		d->current = i;
		*which = i;
	}
	pthread_mutex_unlock(&d->lock);
	if (!api)
		error_set(err, "cluster %s: no manager answers (%s)", d->name, strbuf_cstr(&tried));
	strbuf_release(&tried);
	return api;
}

/* A manager stopped answering: the next request goes to the next one. */
static void manager_lost(struct driver *d, size_t which)
{
	pthread_mutex_lock(&d->lock);
	if (d->api[which]) {
		docker_close(d->api[which]);
		d->api[which] = NULL;
	}
	if (d->current == which)
		d->current = (which + 1) % d->cfg.nendpoints;
	pthread_mutex_unlock(&d->lock);
}

/* One request to a manager, to the next ones while none responds. A
 * manager that lost its quorum answers 503 and is also passed over. The
 * failure is classified for the executor. */
static int call(struct driver *d, const char *method, const char *path, const json_t *body,
		json_t **resp, long *status, struct error *err)
{
	long st = 0;
	int rc = -1;
	for (size_t tries = 0; tries < d->cfg.nendpoints; tries++) {
		size_t which;
		struct docker *api = manager(d, &which, err);
		if (!api)
			break;
		error_clear(err);
		rc = docker_request(api, method, path, body, resp, &st, err);
		if (rc == 0 || (st != 0 && st != 503))
			break;
		manager_lost(d, which);
	}
	if (status)
		*status = st;
	if (rc < 0 && docker_failure_transient(st, err))
		error_mark(err, ERROR_TRANSIENT);
	return rc;
}

static int swarm_driver_open(struct driver **out, const struct cluster *c,
			     const struct exec_options *eo, struct error *err)
{
	struct driver *d = xcalloc(1, sizeof(*d));
	d->cluster = c;
	d->name = c->obj.name->s;
	swarm_settings_read(&d->cfg, c->config);
	d->api = xcalloc(d->cfg.nendpoints, sizeof(*d->api));
	pthread_mutex_init(&d->lock, NULL);
	if (eo)
		d->eo = *eo;
	size_t which;
	if (!manager(d, &which, err)) {
		swarm_driver_ops.close(d);
		return -1;
	}
	*out = d;
	return 0;
}

static void swarm_driver_close(struct driver *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->cfg.nendpoints; i++)
		docker_close(d->api[i]);
	free(d->api);
	swarm_settings_release(&d->cfg);
	pthread_mutex_destroy(&d->lock);
	json_decref(d->services);
	json_decref(d->tasks);
	json_decref(d->networks);
	json_decref(d->nodes);
	json_decref(d->secrets);
	vec_release(&d->observed);
	free(d);
}

/* ---- observing ---- */

static const char *label_of(const json_t *obj, const char *label)
{
	return json_string_value(json_object_get(json_object_get(obj, "Labels"), label));
}

/* GET path?filters=FILTERS (a JSON object) */
static int list(struct driver *d, const char *path, json_t *filters, json_t **out,
		struct error *err)
{
	char *url = docker_filtered_path(path, filters);
	int rc = call(d, "GET", url, NULL, out, NULL, err);
	free(url);
	return rc;
}

static json_t *cairn_filter(struct driver *d)
{
	return json_pack("{s:[s+]}", "label", "cairn.cluster=", d->name);
}

static const char *string_at(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(obj, a);
	return json_string_value(b ? json_object_get(v, b) : v);
}

static const json_t *node_of(struct driver *d, const char *id)
{
	size_t i;
	json_t *n;
	json_array_foreach(d->nodes, i, n)
	{
		if (id && strcmp(string_at(n, "ID", NULL), id) == 0)
			return n;
	}
	return NULL;
}

/* Whether name is one of the comma-separated items of list. */
static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || !p[n]))
			return true;
	}
	return false;
}

struct listing {
	struct driver *d;
	const char *path;
	json_t *filters; /* taken by list() */
	json_t *out;
	struct error err;
	int rc;
};

static void *run_listing(void *arg)
{
	struct listing *l = arg;
	l->rc = list(l->d, l->path, l->filters, &l->out, &l->err);
	return NULL;
}

/* The services, their running tasks, networks, nodes and secrets, at once:
 * the manager answers them in parallel. */
static int list_all(struct driver *d, struct error *err)
{
	json_decref(d->services);
	json_decref(d->tasks);
	json_decref(d->networks);
	json_decref(d->nodes);
	json_decref(d->secrets);
	struct listing lists[5] = {
		{ d, "/services", cairn_filter(d), NULL, ERROR_INIT, 0 },
		{ d, "/tasks", json_pack("{s:[s]}", "desired-state", "running"), NULL, ERROR_INIT, 0 },
		{ d, "/networks", cairn_filter(d), NULL, ERROR_INIT, 0 },
		{ d, "/nodes", json_object(), NULL, ERROR_INIT, 0 },
		{ d, "/secrets", cairn_filter(d), NULL, ERROR_INIT, 0 },
	};
	pthread_t threads[4];
	bool started[4];
	for (int k = 0; k < 4; k++)
		started[k] = pthread_create(&threads[k], NULL, run_listing, &lists[k + 1]) == 0;
	run_listing(&lists[0]);
	for (int k = 0; k < 4; k++) {
		if (started[k])
			pthread_join(threads[k], NULL);
		else
			run_listing(&lists[k + 1]);
	}
	d->services = lists[0].out;
	d->tasks = lists[1].out;
	d->networks = lists[2].out;
	d->nodes = lists[3].out;
	d->secrets = lists[4].out;
	int rc = 0;
	for (int k = 0; k < 5; k++) {
		if (lists[k].rc < 0 && rc == 0)
			rc = error_set(err, "%s", error_msg(&lists[k].err));
		error_clear(&lists[k].err);
	}
	return rc;
}

/* Counts service s's tasks (o's id) and the running ones, and notes the
 * hosts they run on and the URL of the first published port; what is
 * noted is kept in the service object, which lives as long as the list. */
static void observe_tasks(struct driver *d, json_t *s, struct observed *o, json_int_t *tasks,
			  json_int_t *running)
{
	struct strbuf nodes = STRBUF_INIT;
	size_t j;
	json_t *t;
	json_array_foreach(d->tasks, j, t)
	{
		if (strcmp(string_at(t, "ServiceID", NULL), o->id) != 0)
			continue;
		(*tasks)++;
		if (strcmp(string_at(t, "Status", "State"), "running") != 0)
			continue;
		(*running)++;
		const json_t *node = node_of(d, string_at(t, "NodeID", NULL));
		const char *host = string_at(json_object_get(node, "Description"), "Hostname", NULL);
		if (host && !list_has(strbuf_cstr(&nodes), host))
			strbuf_addf(&nodes, "%s%s", nodes.len ? "," : "", host);
		const json_t *port = json_array_get(
			json_object_get(json_object_get(json_object_get(t, "Status"), "PortStatus"),
					"Ports"),
			0);
		const char *addr = string_at(json_object_get(node, "Status"), "Addr", NULL);
		if (port && addr && !o->url) {
			char url[300];
			snprintf(url, sizeof(url), "http://%s:%lld/", addr,
				 (long long)json_integer_value(json_object_get(port, "PublishedPort")));
			json_object_set_new(s, "cairn.url", json_string(url));
			o->url = string_at(s, "cairn.url", NULL);
		}
	}
	json_object_set_new(s, "cairn.nodes", json_string(strbuf_cstr(&nodes)));
	o->nodes = string_at(s, "cairn.nodes", NULL);
	strbuf_release(&nodes);
}

/* Service s as observed: running when every task it wants runs (global:
 * one per node that took one). */
static struct observed observe_service(struct driver *d, json_t *s, const char *key)
{
	const json_t *spec = json_object_get(s, "Spec");
	struct observed o = { .key = key, .kind = "service" };
	o.id = string_at(s, "ID", NULL);
	o.name = string_at(spec, "Name", NULL);
	o.hash = label_of(spec, "cairn.hash");
	o.image = string_at(json_object_get(spec, "TaskTemplate"), "ContainerSpec", "Image");
	const char *gen = label_of(spec, "cairn.generation");
	o.generation = gen ? atoll(gen) : 0;
	const json_t *replicated = json_object_get(json_object_get(spec, "Mode"), "Replicated");
	json_int_t wanted = replicated ? json_integer_value(json_object_get(replicated, "Replicas")) : -1;
	json_int_t running = 0, tasks = 0;
	observe_tasks(d, s, &o, &tasks, &running);
	o.tasks_running = running;
	o.tasks_wanted = wanted < 0 ? tasks : wanted;
	o.state = running > 0 && running == o.tasks_wanted ? "running"
		  : wanted == 0				   ? "stopped"
							   : "starting";
	return o;
}

static int swarm_driver_observe(struct driver *d, struct error *err)
{
	d->observed.len = 0;
	if (list_all(d, err) < 0)
		return error_wrap(err, "cluster %s: observing", d->name);
	size_t i;
	json_t *s;
	json_array_foreach(d->services, i, s)
	{
		const char *key = label_of(json_object_get(s, "Spec"), "cairn.instance");
		if (key)
			vec_push(&d->observed, observe_service(d, s, key));
	}
	json_t *n;
	json_array_foreach(d->networks, i, n)
	{
		const char *key = label_of(n, "cairn.instance");
		if (!key)
			continue;
		struct observed o = { .key = key, .kind = "network", .state = "present" };
		o.id = string_at(n, "Id", NULL);
		o.name = string_at(n, "Name", NULL);
		vec_push(&d->observed, o);
	}
	return 0;
}

static const struct observed *swarm_driver_list(struct driver *d, size_t *n)
{
	*n = d->observed.len;
	return d->observed.items;
}

/* ---- actions ---- */

enum act_kind {
	A_NETWORK, A_NETWORK_DELETE, A_CREATE, A_UPDATE, A_DELETE, A_IMAGE, A_SECRET_DELETE, A_FAIL
};

struct act {
	struct driver *d;
	enum act_kind kind;
	char *key;
	char *target; /* network or service name, id to act on, or image */
	char *message; /* A_FAIL: why; A_UPDATE: the drift it repairs, or NULL */
	struct swarm_spec spec;
};

static void act_free(void *p)
{
	struct act *a = p;
	free(a->key);
	free(a->target);
	free(a->message);
	swarm_spec_release(&a->spec);
	free(a);
}

/* The tasks of a service that exists. */
static int service_tasks(struct driver *d, const char *id, json_t **out, struct error *err)
{
	int rc = list(d, "/tasks", json_pack("{s:[s]}", "service", id), out, err);
	if (rc < 0)
		error_mark(err, ERROR_TRANSIENT);
	return rc;
}

/* Whether a task runs the service's current task template: each part of
 * its spec as the template's (the template may have parts tasks do not
 * carry, such as Runtime). */
static bool task_current(const json_t *task, const json_t *tmpl)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)json_object_get(task, "Spec"), k, v)
	{
		if (!json_equal(v, json_object_get(tmpl, k)))
			return false;
	}
	return true;
}

/* Waits until every task of the service's current spec runs (and is healthy:
 * Swarm reports a task with a health check running once it is), and an
 * update is completed. Fails when Swarm rolled the update back or paused
 * it, or when tasks keep failing, with what the tasks said. before: when
 * the service's last update had started before this one (its UpdateStatus
 * is not this update's), or NULL. */
static int wait_converged(struct driver *d, const char *id, const char *before,
			  const struct exec_call *ec, struct error *err)
{
	struct strbuf failures = STRBUF_INIT;
	int rc = -1;
	for (;;) {
		json_t *svc = NULL, *tasks = NULL;
		struct strbuf p = STRBUF_INIT;
		strbuf_addf(&p, "/services/%s", id);
		int got = call(d, "GET", strbuf_cstr(&p), NULL, &svc, NULL, err);
		strbuf_release(&p);
		if (got < 0 || service_tasks(d, id, &tasks, err) < 0) {
			json_decref(svc);
			break;
		}
		const json_t *spec = json_object_get(svc, "Spec");
		const json_t *tmpl = json_object_get(spec, "TaskTemplate");
		const json_t *replicated = json_object_get(json_object_get(spec, "Mode"), "Replicated");
		json_int_t wanted = replicated ? json_integer_value(json_object_get(replicated, "Replicas")) : -1;
		const char *update = string_at(json_object_get(svc, "UpdateStatus"), "State", NULL);
		const char *started = string_at(json_object_get(svc, "UpdateStatus"), "StartedAt", NULL);
		if (before && started && !strcmp(before, started))
			update = NULL; /* the last update's: this one has not begun */
		const char *update_msg = string_at(json_object_get(svc, "UpdateStatus"), "Message", NULL);
		json_int_t running = 0, pending = 0, failed = 0;
		strbuf_reset(&failures);
		size_t i;
		json_t *t;
		json_array_foreach(tasks, i, t)
		{
			const char *state = string_at(t, "Status", "State");
			const char *desired = string_at(t, "DesiredState", NULL);
			bool current = task_current(t, tmpl);
			if (current && (!strcmp(state, "failed") || !strcmp(state, "rejected"))) {
				const char *node = string_at(json_object_get(node_of(d, string_at(t, "NodeID", NULL)),
									     "Description"),
							     "Hostname", NULL);
				failed++;
				if (failures.len < 600)
					strbuf_addf(&failures, "%stask on %s %s: %s", failures.len ? "; " : "",
						    node ? node : "no node", state,
						    string_at(t, "Status", "Err") ? string_at(t, "Status", "Err")
										   : string_at(t, "Status", "Message"));
			} else if (desired && !strcmp(desired, "running")) {
				if (current && !strcmp(state, "running"))
					running++;
				else
					pending++;
			}
		}
		bool rolled_back = update && (!strcmp(update, "rollback_completed") ||
					      !strcmp(update, "rollback_paused") || !strcmp(update, "paused"));
		bool updating = update && (!strcmp(update, "updating") || !strcmp(update, "rollback_started"));
		json_decref(svc);
		json_decref(tasks);
		if (rolled_back) {
			error_set(err, "Swarm %s the update%s%s%s%s%s",
				  strcmp(update, "paused") ? "rolled back" : "paused", update_msg ? " (" : "",
				  update_msg ? update_msg : "", update_msg ? ")" : "",
				  failures.len ? ": " : "", strbuf_cstr(&failures));
			break;
		}
		if (!updating && !pending && (wanted < 0 ? running > 0 : running == wanted)) {
			rc = 0;
			break;
		}
		/* A task that cannot start is replaced by another that fails
		 * the same way (an image no node has): after three, say why. */
		if (!updating && failed >= 3 && running < (wanted < 0 ? 1 : wanted)) {
			error_set(err, "%lld of %lld tasks running: %s", (long long)running,
				  (long long)(wanted < 0 ? running + pending : wanted), strbuf_cstr(&failures));
			break;
		}
		if (clock_ms() > ec->deadline_ms) {
			error_set(err, "%lld of %lld tasks running after the action's deadline%s%s",
				  (long long)running, (long long)(wanted < 0 ? running + pending : wanted),
				  failures.len ? ": " : "", strbuf_cstr(&failures));
			break;
		}
		sleep_ms(250);
	}
	strbuf_release(&failures);
	return rc;
}

/* Makes the Swarm secrets the spec reads (one of the same name, so of the
 * same value, may exist already) and names each by its id in the spec. */
static int make_secrets(struct act *a, struct error *err)
{
	json_t *refs = json_object_get(
		json_object_get(json_object_get(a->spec.body, "TaskTemplate"), "ContainerSpec"), "Secrets");
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref)
	{
		const char *name = json_string_value(json_object_get(ref, "SecretName"));
		json_t *body = json_pack("{s:s, s:O, s:{s:s}}", "Name", name, "Data",
					 json_object_get(a->spec.secrets, name), "Labels", "cairn.cluster",
					 a->d->name);
		json_t *resp = NULL;
		long st;
		int rc = call(a->d, "POST", "/secrets/create", body, &resp, &st, err);
		json_decref(body);
		if (rc < 0 && st == 409) {
			error_clear(err);
			rc = list(a->d, "/secrets", json_pack("{s:[s]}", "name", name), &resp, err);
			json_t *found = NULL;
			size_t j;
			json_t *s;
			json_array_foreach(resp, j, s)
			{
				if (!strcmp(string_at(json_object_get(s, "Spec"), "Name", NULL), name))
					found = s;
			}
			json_t *id = json_incref(json_object_get(found, "ID"));
			json_decref(resp);
			resp = json_pack("{s:o?}", "ID", id);
		}
		if (rc < 0) {
			json_decref(resp);
			return error_wrap(err, "secret %s", name);
		}
		json_object_set(ref, "SecretID", json_object_get(resp, "ID"));
		json_decref(resp);
	}
	return 0;
}

static int create_service(struct act *a, const struct exec_call *ec, struct error *err)
{
	json_t *resp = NULL;
	long st;
	if (make_secrets(a, err) < 0)
		return -1;
	if (call(a->d, "POST", "/services/create", a->spec.body, &resp, &st, err) < 0) {
		if (st != 409)
			return -1;
		/* made by an earlier try whose answer was lost: update it */
		error_clear(err);
		json_decref(resp);
		return -2;
	}
	char *id = xstrdup(string_at(resp, "ID", NULL) ? string_at(resp, "ID", NULL) : "");
	json_decref(resp);
	int rc = wait_converged(a->d, id, NULL, ec, err);
	free(id);
	return rc;
}

/* Sends the spec with the version it replaces; another writer in between
 * (a version conflict) means reading the version again. */
static int update_service(struct act *a, const struct exec_call *ec, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	int rc = -1;
	if (make_secrets(a, err) < 0)
		return -1;
	for (int tries = 0; tries < 5; tries++) {
		json_t *svc = NULL;
		strbuf_reset(&p);
		strbuf_addf(&p, "/services/%s", a->target);
		if (call(a->d, "GET", strbuf_cstr(&p), NULL, &svc, NULL, err) < 0)
			break;
		json_int_t version = json_integer_value(json_object_get(json_object_get(svc, "Version"), "Index"));
		char *id = xstrdup(string_at(svc, "ID", NULL));
		const char *started = string_at(json_object_get(svc, "UpdateStatus"), "StartedAt", NULL);
		char *before = started ? xstrdup(started) : NULL;
		json_decref(svc);
		strbuf_reset(&p);
		strbuf_addf(&p, "/services/%s/update?version=%lld", id, (long long)version);
		long st;
		rc = call(a->d, "POST", strbuf_cstr(&p), a->spec.body, NULL, &st, err);
		if (rc == 0)
			rc = wait_converged(a->d, id, before, ec, err);
		free(id);
		free(before);
		if (rc == 0 || !strstr(error_msg(err), "out of sequence"))
			break;
		error_clear(err);
	}
	strbuf_release(&p);
	return rc;
}

/* Removes a service; Swarm stops its tasks. Gone already is fine. */
static int delete_service(struct act *a, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/services/%s", a->target);
	long st;
	int rc = call(a->d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, err);
	strbuf_release(&p);
	if (rc < 0 && st == 404) {
		error_clear(err);
		rc = 0;
	}
	return rc;
}

/* Removes a network once the tasks of removed services have left it (they
 * stop on their nodes a few seconds after their service goes): waiting
 * here lets every service delete run at once. Gone already is fine. */
static int delete_network(struct act *a, const struct exec_call *ec, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/networks/%s", a->target);
	int rc;
	for (;;) {
		long st;
		rc = call(a->d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, err);
		if (rc < 0 && st == 404) {
			error_clear(err);
			rc = 0;
		}
		/* the manager says "in use by task" as 400, 403 or 409 */
		bool in_use = st == 403 || st == 409 || (st == 400 && strstr(error_msg(err), "in use"));
		if (rc == 0 || !in_use || clock_ms() > ec->deadline_ms)
			break;
		error_clear(err);
		sleep_ms(250);
	}
	strbuf_release(&p);
	return rc;
}

/* ---- images: loaded into the nodes that lack them ---- */

static struct docker *open_engine(struct driver *d, const char *endpoint, struct error *err)
{
	struct docker_options o = d->cfg.docker.api;
	o.endpoint = endpoint;
	struct docker *api = NULL;
	return docker_open(&api, &o, err) < 0 ? NULL : api;
}

static int write_file(void *ctx, const char *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -1;
}

static ssize_t read_file(void *ctx, char *buf, size_t size)
{
	size_t n = fread(buf, 1, size, ctx);
	return n == 0 && ferror(ctx) ? -1 : (ssize_t)n;
}

/* Whether node engine api has image: 1, 0, or -1 with err. */
static int has_image(struct docker *api, const char *image, struct error *err)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/images/%s/json", image);
	long st;
	json_t *resp = NULL;
	int rc = docker_request(api, "GET", strbuf_cstr(&p), NULL, &resp, &st, err);
	json_decref(resp);
	strbuf_release(&p);
	if (rc < 0 && st == 404) {
		error_clear(err);
		return 0;
	}
	return rc < 0 ? -1 : 1;
}

/* Swarm has no way to copy an image to a node, and a node lacking it
 * rejects the task: the image is saved once from the source engine and
 * loaded into each node's engine that lacks it. */
static int distribute_image(struct act *a, const struct exec_call *ec, struct error *err)
{
	struct driver *d = a->d;
	const char *image = a->target;
	struct docker **nodes = xcalloc(d->cfg.nnodes, sizeof(*nodes));
	bool *lacks = xcalloc(d->cfg.nnodes, sizeof(*lacks));
	struct strbuf names = STRBUF_INIT, unreachable = STRBUF_INIT;
	FILE *tar = NULL;
	struct docker *source = NULL;
	int rc = -1;
	for (size_t i = 0; i < d->cfg.nnodes; i++) {
		const struct swarm_node_engine *n = &d->cfg.nodes[i];
		/* a node whose engine is down runs no task until it is back
		 * (and then gets its image at the next apply that needs it) */
		if (!(nodes[i] = open_engine(d, n->endpoint, err))) {
			strbuf_addf(&unreachable, "%s%s", unreachable.len ? ", " : "", n->name);
			error_clear(err);
			continue;
		}
		int has = has_image(nodes[i], image, err);
		if (has < 0) {
			error_wrap(err, "node %s", n->name);
			error_mark(err, ERROR_TRANSIENT);
			goto out;
		}
		if (!has) {
			lacks[i] = true;
			strbuf_addf(&names, "%s%s", names.len ? ", " : "", n->name);
		}
	}
	if (!names.len) {
		if (unreachable.len && ec->note)
			strbuf_addf(ec->note, "skipped %s: not answering", strbuf_cstr(&unreachable));
		rc = 0;
		goto out;
	}
	char *esc = curl_easy_escape(NULL, image, 0);
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/images/get?names=%s", esc);
	curl_free(esc);
	long st = 0;
	if (!(source = open_engine(d, d->cfg.images_source, err)) || !(tar = tmpfile()) ||
	    docker_stream(source, strbuf_cstr(&p), 0, write_file, tar, &st, err) < 0) {
		if (!tar && source)
			error_set(err, "no temporary file for the image");
		error_wrap(err, "%s lacks %s, which the source engine %s cannot give", strbuf_cstr(&names),
			   image, d->cfg.images_source);
		strbuf_release(&p);
		goto out;
	}
	strbuf_release(&p);
	long bytes = ftell(tar);
	for (size_t i = 0; i < d->cfg.nnodes; i++) {
		if (!lacks[i])
			continue;
		rewind(tar);
		if (docker_upload(nodes[i], "POST", "/images/load?quiet=1", "application/x-tar", read_file,
				  tar, &st, err) < 0) {
			if (docker_failure_transient(st, err))
				error_mark(err, ERROR_TRANSIENT);
			error_wrap(err, "loading %s into node %s", image, d->cfg.nodes[i].name);
			goto out;
		}
	}
	if (ec->note)
		strbuf_addf(ec->note, "loaded into %s (%.1f MB)%s%s%s", strbuf_cstr(&names), bytes / 1e6,
			    unreachable.len ? "; skipped " : "", strbuf_cstr(&unreachable),
			    unreachable.len ? ": not answering" : "");
	rc = 0;
out:
	if (tar)
		fclose(tar);
	docker_close(source);
	for (size_t i = 0; i < d->cfg.nnodes; i++)
		docker_close(nodes[i]);
	free(nodes);
	free(lacks);
	strbuf_release(&names);
	strbuf_release(&unreachable);
	return rc;
}

static int run_act(void *ctx, const struct exec_call *ec, struct error *err)
{
	struct act *a = ctx;
	struct driver *d = a->d;
	struct strbuf p = STRBUF_INIT;
	long st = 0;
	int rc = -1;
	switch (a->kind) {
	case A_FAIL:
		rc = error_set(err, "%s", a->message);
		break;
	case A_NETWORK: {
		json_t *body = json_pack("{s:s, s:s, s:b, s:b, s:{s:s, s:s}}", "Name", a->target, "Driver",
					 "overlay", "Attachable", 1, "CheckDuplicate", 1, "Labels",
					 "cairn.instance", a->key, "cairn.cluster", d->name);
		rc = call(d, "POST", "/networks/create", body, NULL, &st, err);
		json_decref(body);
		break;
	}
	case A_NETWORK_DELETE:
		rc = delete_network(a, ec, err);
		break;
	case A_CREATE:
		rc = create_service(a, ec, err);
		if (rc == -2) {
			free(a->target);
			a->target = xstrdup(json_string_value(json_object_get(a->spec.body, "Name")));
			rc = update_service(a, ec, err);
		}
		break;
	case A_UPDATE:
		rc = update_service(a, ec, err);
		if (rc == 0 && a->message && ec->note)
			strbuf_addf(ec->note, "repaired: %s", a->message);
		break;
	case A_DELETE:
		rc = delete_service(a, err);
		break;
	case A_IMAGE:
		rc = distribute_image(a, ec, err);
		break;
	case A_SECRET_DELETE:
		strbuf_addf(&p, "/secrets/%s", a->target);
		rc = call(d, "DELETE", strbuf_cstr(&p), NULL, NULL, &st, err);
		if (rc < 0 && st == 404) {
			error_clear(err);
			rc = 0;
		}
		break;
	}
	strbuf_release(&p);
	return rc;
}

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

/* ---- planning ---- */

static const struct observed *find_observed(struct driver *d, const char *key, const char *kind)
{
	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		if (strcmp(o->key, key) == 0 && strcmp(o->kind, kind) == 0)
			return o;
	}
	return NULL;
}

/* A zero value: what Swarm leaves out of a spec it read back. */
static bool zero(const json_t *v)
{
	return !v || json_is_null(v) || json_is_false(v) ||
	       (json_is_integer(v) && !json_integer_value(v)) ||
	       (json_is_string(v) && !*json_string_value(v)) ||
	       (json_is_object(v) && !json_object_size(v)) || (json_is_array(v) && !json_array_size(v));
}

/* The id of the network named name, as observed, or name. */
static const char *network_id(struct driver *d, const char *name)
{
	size_t i;
	json_t *n;
	json_array_foreach(d->networks, i, n)
	{
		if (!strcmp(string_at(n, "Name", NULL), name))
			return string_at(n, "Id", NULL);
	}
	return name;
}

/* The parts of a spec that are cairn's whether or not it asked for them:
 * one added by hand (an env var, a mount, a constraint) is drift. */
static bool owned_key(const char *k)
{
	static const char *const keys[] = { "Env", "Args", "Command", "Mounts", "Healthcheck",
					    "Constraints", "Preferences", "Ports", "Networks",
					    "Secrets", "Configs" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		if (!strcmp(k, keys[i]))
			return true;
	return false;
}

/* Whether what Swarm runs (have, the service's spec) differs from what
 * cairn asked (want): every part asked must be there as asked, and the
 * owned parts not asked must be empty, while the other defaults Swarm
 * filled in are not cairn's concern. Networks are named by
 * id there. The first difference is written to path ("Mode.Replicated.
 * Replicas"). A service scaled, updated or moved off a network by hand is
 * drift; its hash label alone would not tell. */
static bool drifted(struct driver *d, const json_t *have, const json_t *want, struct strbuf *path)
{
	size_t mark = path->len;
	if (json_is_object(want)) {
		const char *k;
		json_t *w;
		json_object_foreach((json_t *)want, k, w)
		{
			const json_t *h = json_object_get(have, k);
			strbuf_addf(path, "%s%s", mark ? "." : "", k);
			if (!strcmp(k, "Target") && json_is_string(w) && json_is_string(h)) {
				if (strcmp(network_id(d, json_string_value(w)), json_string_value(h)) != 0)
					return true;
			} else if (zero(w) ? !zero(h) : drifted(d, h, w, path)) {
				return true;
			}
			strbuf_truncate(path, mark);
		}
		json_object_foreach((json_t *)have, k, w)
		{
			if (owned_key(k) && !json_object_get(want, k) && !zero(w)) {
				strbuf_addf(path, "%s%s", mark ? "." : "", k);
				return true;
			}
		}
		return false;
	}
	if (json_is_array(want)) {
		if (json_array_size(want) != json_array_size(have))
			return true;
		for (size_t i = 0; i < json_array_size(want); i++) {
			strbuf_addf(path, "[%zu]", i);
			if (drifted(d, json_array_get(have, i), json_array_get(want, i), path))
				return true;
			strbuf_truncate(path, mark);
		}
		return false;
	}
	return !json_equal(have, want);
}

/* The observed spec of a service. */
static const json_t *observed_spec(struct driver *d, const char *id)
{
	size_t i;
	json_t *s;
	json_array_foreach(d->services, i, s)
	{
		if (!strcmp(string_at(s, "ID", NULL), id))
			return json_object_get(s, "Spec");
	}
	return NULL;
}

/* The spec of a component instance; roots gets the keys (the
 * resolution's) of the service instances whose networks it joins. */
static int build_spec(struct driver *d, const struct resolution *r, const struct instance *in,
		      const struct instance_graph *g, struct swarm_spec *spec, instance_key_vec *roots,
		      struct error *err)
{
	char *root = instance_root_key(in->key);
	const struct instance *own = map_get(&r->by_key, root, strlen(root));
	const char *inst = strchr(in->key, '#') ? strchr(in->key, '#') + 1 : in->key;
	struct strbuf alias = STRBUF_INIT;
	for (const char *c = inst; *c; c++)
		strbuf_addc(&alias, *c == '#' || *c == '_' ? '-' : *c);
	VEC(char *) nets = { 0 };
	vec_push(&nets, docker_object_name(root));
	if (own)
		vec_push(roots, own->key);
	instance_key_vec consumers = { 0 };
	instance_consumer_roots(g, in, &consumers);
	for (size_t k = 0; k < consumers.len; k++)
		if (strcmp(consumers.items[k], root) != 0) {
			vec_push(&nets, docker_object_name(consumers.items[k]));
			vec_push(roots, consumers.items[k]);
		}
	vec_release(&consumers);
	char *object = docker_object_name(in->key);
	char *name = docker_dns_label(object);
	struct swarm_target t = { .key = in->key, .cluster = d->name, .name = name,
				  .alias = strbuf_cstr(&alias),
				  .networks = (const char *const *)nets.items, .nnetworks = nets.len,
				  .level = g->levels[in->order], .component = in->component,
				  .params_public = in->params_public ? in->params_public->s : NULL };
	int rc = swarm_spec_build(spec, in->params ? in->params->s : NULL, &t, err);
	for (size_t k = 0; k < nets.len; k++)
		free(nets.items[k]);
	vec_release(&nets);
	free(object);
	free(name);
	free(root);
	strbuf_release(&alias);
	return rc;
}

/* What one plan works with. */
struct swarm_plan {
	struct driver *d;
	struct exec *x;
	const struct resolution *r;
	long long generation;
	struct instance_graph graph;
	struct map wanted;      /* keys of instances placed on this cluster */
	struct map acts;        /* instance key -> its service action (size_t *) */
	struct map net_acts;    /* root key -> its network action (size_t *) */
	struct map needed_nets; /* root keys of the networks wanted services are on */
	struct map images;      /* image -> its distribute action (size_t *) */
	VEC(size_t *) owned;    /* the indexes the maps point to */
	VEC(const struct instance *) placed; /* the instances in acts */
	VEC(size_t) updates; /* may take services off networks that go */
	VEC(struct service_delete {
		size_t idx;
		int level; /* its cairn.level label */
	}) deletes;
	json_t *secrets_read; /* the secrets of every service wanted */
};

static void plan_begin(struct swarm_plan *p, struct driver *d, const struct desired *want,
		       struct exec *x)
{
	*p = (struct swarm_plan){ .d = d, .x = x, .r = want->resolution,
				  .generation = want->generation, .secrets_read = json_object() };
	instance_graph_init(&p->graph, p->r);
	for (size_t i = 0; i < p->r->ninstances; i++) {
		const struct instance *in = p->r->instances[i];
		if (strcmp(in->cluster, d->name) == 0)
			map_put(&p->wanted, in->key, strlen(in->key), (void *)in);
	}
}

static void plan_end(struct swarm_plan *p)
{
	json_decref(p->secrets_read);
	vec_release(&p->deletes);
	vec_release(&p->updates);
	vec_release(&p->placed);
	for (size_t i = 0; i < p->owned.len; i++)
		free(p->owned.items[i]);
	vec_release(&p->owned);
	map_release(&p->wanted);
	map_release(&p->acts);
	map_release(&p->net_acts);
	map_release(&p->needed_nets);
	map_release(&p->images);
	instance_graph_release(&p->graph);
}

/* How a service that builds compares with what runs: NULL when it is as
 * wanted (Swarm keeps its tasks running), else the verb of a's action. */
static const char *service_change(struct swarm_plan *p, const struct instance *in, struct act *a)
{
	struct driver *d = p->d;
	json_object_update(p->secrets_read, a->spec.secrets);
	swarm_spec_stamp(&a->spec, p->generation, in->deps, in->ndeps);
	const struct observed *o = find_observed(d, in->key, "service");
	if (!o)
		return "create";
	struct strbuf drift = STRBUF_INIT;
	json_t *asked = json_deep_copy(a->spec.body);
	json_object_del(asked, "Labels"); /* stamped anew by every apply */
	const char *verb = NULL;
	bool same = o->hash && strcmp(o->hash, a->spec.hash) == 0;
	if (!same || drifted(d, observed_spec(d, o->id), asked, &drift)) {
		a->kind = A_UPDATE;
		a->target = xstrdup(o->id);
		verb = "update";
		if (drift.len && same) {
			strbuf_adds(&drift, " was changed by hand");
			a->message = strbuf_detach(&drift);
		}
	}
	json_decref(asked);
	strbuf_release(&drift);
	return verb;
}

/* A service's action waits for its image on every node (when cairn loads
 * them) and for the networks it joins, made now when missing. */
static void order_after_image_and_networks(struct swarm_plan *p, const struct act *a, size_t idx,
					   const instance_key_vec *roots)
{
	struct driver *d = p->d;
	if (d->cfg.nnodes) {
		size_t *img = map_get(&p->images, a->spec.image, strlen(a->spec.image));
		if (!img) {
			img = xmalloc(sizeof(*img));
			*img = add(p->x, d, "image", act_new(d, A_IMAGE, a->spec.image, a->spec.image));
			vec_push(&p->owned, img);
			map_put(&p->images, a->spec.image, strlen(a->spec.image), img);
		}
		exec_order(p->x, *img, idx);
	}
	for (size_t k = 0; k < roots->len; k++) {
		const char *rk = roots->items[k];
		if (!map_get(&p->wanted, rk, strlen(rk)) || find_observed(d, rk, "network"))
			continue;
		size_t *net = map_get(&p->net_acts, rk, strlen(rk));
		if (!net) {
			char *name = docker_object_name(rk);
			net = xmalloc(sizeof(*net));
			*net = add(p->x, d, "network", act_new(d, A_NETWORK, rk, name));
			free(name);
			vec_push(&p->owned, net);
			map_put(&p->net_acts, rk, strlen(rk), net);
		}
		exec_order(p->x, *net, idx);
	}
}

/* The service of one instance placed on this cluster: created when
 * missing, updated when it differs, a failed action when it cannot be. */
static void plan_service(struct swarm_plan *p, const struct instance *in)
{
	struct driver *d = p->d;
	struct act *a = act_new(d, A_CREATE, in->key, NULL);
	instance_key_vec roots = { 0 };
	struct error serr = ERROR_INIT;
	const char *verb = "create";
	if (strcmp(in->code_type, "docker") != 0) {
		a->kind = A_FAIL;
		struct strbuf m = STRBUF_INIT;
		strbuf_addf(&m, "code type %s cannot run on swarm cluster %s", in->code_type, d->name);
		a->message = strbuf_detach(&m);
	} else if (build_spec(d, p->r, in, &p->graph, &a->spec, &roots, &serr) < 0) {
		a->kind = A_FAIL;
		a->message = xstrdup(error_msg(&serr));
	} else {
		verb = service_change(p, in, a);
	}
	for (size_t k = 0; k < roots.len; k++)
		map_put(&p->needed_nets, roots.items[k], strlen(roots.items[k]), (void *)1);
	if (verb) {
		size_t *idx = xmalloc(sizeof(*idx));
		*idx = add(p->x, d, verb, a);
		vec_push(&p->owned, idx);
		map_put(&p->acts, in->key, strlen(in->key), idx);
		vec_push(&p->placed, in);
		if (a->kind == A_UPDATE)
			vec_push(&p->updates, *idx);
		if (a->kind != A_FAIL)
			order_after_image_and_networks(p, a, *idx, &roots);
	} else {
		act_free(a);
	}
	vec_release(&roots);
	error_clear(&serr);
}

/* Each service waits for what it needs: a consumer starts once its
 * dependencies run. */
static void order_services(struct swarm_plan *p)
{
	for (size_t i = 0; i < p->placed.len; i++) {
		const struct instance *in = p->placed.items[i];
		instance_order_after_needs(p->x, in, &p->acts,
					   *(size_t *)map_get(&p->acts, in->key, strlen(in->key)));
	}
}

/* What no instance wants goes: services first, consumers before what
 * they use (higher level first). */
static void delete_services(struct swarm_plan *p)
{
	struct driver *d = p->d;
	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		if (strcmp(o->kind, "service") != 0)
			continue;
		const struct instance *in = map_get(&p->wanted, o->key, strlen(o->key));
		if (in && in->code_type && !strcmp(in->code_type, "docker"))
			continue;
		size_t idx = add(p->x, d, "delete", act_new(d, A_DELETE, o->key, o->id));
		const char *lv = NULL;
		size_t j;
		json_t *s;
		json_array_foreach(d->services, j, s)
		{
			if (!strcmp(string_at(s, "ID", NULL), o->id))
				lv = label_of(json_object_get(s, "Spec"), "cairn.level");
		}
		vec_push(&p->deletes, ((struct service_delete){ idx, lv ? atoi(lv) : 0 }));
	}
	for (size_t i = 0; i < p->deletes.len; i++)
		for (size_t j = 0; j < p->deletes.len; j++)
			if (p->deletes.items[j].level > p->deletes.items[i].level)
				exec_order(p->x, p->deletes.items[j].idx, p->deletes.items[i].idx);
}

/* An action that must wait until no service uses what it deletes: after
 * the updates (one takes a shared service off the network of a consumer
 * that went) and the deletes. */
static void after_services_changed(struct swarm_plan *p, size_t idx)
{
	for (size_t j = 0; j < p->updates.len; j++)
		exec_order(p->x, p->updates.items[j], idx);
	for (size_t j = 0; j < p->deletes.len; j++)
		exec_order(p->x, p->deletes.items[j].idx, idx);
}

/* Then the networks no wanted service is on, and the secrets no wanted
 * service reads (Swarm refuses to delete one in use). */
static void delete_networks_and_secrets(struct swarm_plan *p)
{
	struct driver *d = p->d;
	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		if (strcmp(o->kind, "network") != 0 ||
		    (map_get(&p->wanted, o->key, strlen(o->key)) &&
		     map_get(&p->needed_nets, o->key, strlen(o->key))))
			continue;
		after_services_changed(
			p, add(p->x, d, "delete-network", act_new(d, A_NETWORK_DELETE, o->key, o->id)));
	}
	size_t k;
	json_t *secret;
	json_array_foreach(d->secrets, k, secret)
	{
		const char *name = string_at(json_object_get(secret, "Spec"), "Name", NULL);
		if (!name || json_object_get(p->secrets_read, name))
			continue;
		after_services_changed(p, add(p->x, d, "delete-secret",
					      act_new(d, A_SECRET_DELETE, name,
						      string_at(secret, "ID", NULL))));
	}
}

static int swarm_driver_plan(struct driver *d, const struct desired *want, struct exec *x,
			     struct error *err)
{
	(void)err; /* what cannot be planned fails as an action */
	struct swarm_plan p;
	plan_begin(&p, d, want, x);
	for (size_t i = 0; i < p.r->ninstances; i++) {
		const struct instance *in = p.r->instances[i];
		if (strcmp(in->cluster, d->name) == 0 && !in->root && in->code_type)
			plan_service(&p, in);
	}
	order_services(&p);
	delete_services(&p);
	delete_networks_and_secrets(&p);
	plan_end(&p);
	return 0;
}

/* ---- logs ---- */

/* The output of every task of the instance's service, as Swarm gathers it. */
static int swarm_driver_logs(struct driver *d, const char *key, bool follow, struct error *err)
{
	const struct observed *o = find_observed(d, key, "service");
	if (!o)
		return error_set(err, "instance %s has no service on cluster %s", key, d->name);
	size_t which;
	struct docker *api = manager(d, &which, err);
	if (!api)
		return -1;
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "/services/%s/logs?stdout=1&stderr=1%s", o->id, follow ? "&follow=1" : "");
	struct docker_demux dm = { 0 };
	long st;
	int rc = docker_stream(api, strbuf_cstr(&p), 0, docker_demux_print, &dm, &st, err);
	strbuf_release(&p);
	return rc;
}

static int swarm_driver_check(const struct cluster *c, const struct instance *in,
			      struct error *err)
{
	/* Names do not matter to the params: any will do. */
	const char *network = "check";
	struct swarm_target t = { .key = in->key, .cluster = c->obj.name->s, .name = "check",
				  .alias = "check", .networks = &network, .nnetworks = 1 };
	struct swarm_spec spec = { 0 };
	int rc = swarm_spec_build(&spec, in->params ? in->params->s : NULL, &t, err);
	swarm_spec_release(&spec);
	return rc;
}

const struct driver_ops swarm_driver_ops = {
	.type = "swarm",
	.code_type = "docker",
	.params = &swarm_params,
	.config = &swarm_cluster_config,
	.unit = "service",
	.open = swarm_driver_open,
	.close = swarm_driver_close,
	.observe = swarm_driver_observe,
	.list = swarm_driver_list,
	.plan = swarm_driver_plan,
	.check = swarm_driver_check,
	.logs = swarm_driver_logs,
};
