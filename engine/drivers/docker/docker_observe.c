/* The docker driver observing its cluster: the containers, networks and
 * volumes labelled with its name, listed at once. */
#include "docker_internal.h"

#include "base/alloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *docker_label_of(const json_t *obj, const char *label)
{
	return json_string_value(json_object_get(json_object_get(obj, "Labels"), label));
}

/* GET path?filters={"label":["cairn.cluster=NAME"]} */
int docker_list_labelled(struct driver *d, const char *path, json_t **out, struct error *err)
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
	l->rc = docker_list_labelled(l->d, l->path, &l->out, &l->err);
	return NULL;
}

int docker_driver_observe(struct driver *d, struct error *err)
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
		const char *key = docker_label_of(c, "cairn.instance");
		if (!key)
			continue;
		struct observed o = { .key = key, .kind = "container" };
		o.id = json_string_value(json_object_get(c, "Id"));
		const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
		o.name = name && name[0] == '/' ? name + 1 : name;
		o.hash = docker_label_of(c, "cairn.hash");
		o.state = json_string_value(json_object_get(c, "State"));
		o.health = health_of(json_string_value(json_object_get(c, "Status")));
		o.image = json_string_value(json_object_get(c, "Image"));
		o.snapshot = docker_label_of(c, "cairn.snapshot");
		o.snapshot_build = docker_label_of(c, "cairn.snapshot.build");
		const char *gen = docker_label_of(c, "cairn.generation");
		o.generation = gen ? atoll(gen) : 0;
		size_t j;
		json_t *port;
		json_array_foreach(json_object_get(c, "Ports"), j, port)
		{
			json_int_t pub = json_integer_value(json_object_get(port, "PublicPort"));
			if (pub > 0 && !o.url && d->routed && docker_label_of(c, "run.demo.url_full")) {
				o.url = docker_label_of(c, "run.demo.url_full"); /* through nginx */
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
		const char *key = docker_label_of(n, "cairn.instance");
		if (!key)
			continue;
		struct observed o = { .key = key, .kind = "network", .state = "present" };
		o.id = json_string_value(json_object_get(n, "Id"));
		o.name = json_string_value(json_object_get(n, "Name"));
		vec_push(&d->observed, o);
	}
	json_array_foreach(json_object_get(d->volumes, "Volumes"), i, n)
	{
		const char *key = docker_label_of(n, "cairn.instance");
		if (!key)
			continue;
		struct observed o = { .key = key, .kind = "volume", .state = "present" };
		o.name = o.id = json_string_value(json_object_get(n, "Name"));
		vec_push(&d->observed, o);
	}
	return 0;
}

const struct observed *docker_driver_list(struct driver *d, size_t *n)
{
	*n = d->observed.len;
	return d->observed.items;
}

const json_t *docker_observed_networks(struct driver *d, const char *id)
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

const struct observed *docker_find_observed(struct driver *d, const char *key, const char *kind,
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
