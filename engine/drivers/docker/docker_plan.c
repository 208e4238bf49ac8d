/* The docker driver's plan: the actions that take the observed cluster to
 * the desired state, and their order. */
#include "docker_internal.h"

#include "base/alloc.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "docker_replica.h"
#include "engine/backup/replica.h"
#include "engine/apply/instance_graph.h"

#include <stdlib.h>
#include <string.h>

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
	return exec_add(x, verb, a->key, d->name, docker_run_act, a, docker_act_free);
}

typedef VEC(size_t *) size_ptr_vec;

struct replica_step {
	const struct instance *in;
	size_t idx;
};
typedef VEC(struct replica_step) replica_step_vec;

/* What one plan works with, from its first step to its last. */
struct docker_plan {
	struct driver *d;
	struct exec *x;
	const struct resolution *r;
	long long generation;
	size_t first_action;
	struct map wanted;       /* keys of instances placed on this cluster */
	struct map stopped;      /* instances kept but not running */
	struct map service_data; /* root key -> struct service_data */
	struct replica_plans *replicas;
	struct instance_graph graph;
	struct map acts;     /* instance key -> its container action (size_t *) */
	struct map net_acts; /* root key -> its network action (size_t *) */
	size_ptr_vec owned;  /* the indexes both maps point to */
	VEC(const struct instance *) placed; /* the instances in acts */
	replica_step_vec restores;
	/* connect actions that take containers off networks: a delete of one of
	 * those networks waits for them (it would find endpoints still there) */
	VEC(struct disconnect {
		size_t idx;
		const struct act *act;
	}) disconnects;
	VEC(struct container_delete {
		size_t idx;
		int level;                 /* its cairn.level label */
		const struct observed *of; /* the container */
		const json_t *networks;    /* the networks it is on */
	}) deletes;
};


static bool is_docker_code(const struct instance *in)
{
	return in->code_type && strcmp(in->code_type, "docker") == 0;
}

/* The action creating the network of service instance `root` (a key), made
 * on first use so that each network is queued just before the first
 * container joining it: the executor starts ready actions in the order they
 * were added and dockerd creates networks one at a time, so containers then
 * start while later networks are still being made. NULL when the network
 * exists or the instance is not on this cluster. */
static size_t *network_action(struct docker_plan *p, const char *root)
{
	struct driver *d = p->d;
	struct exec *x = p->x;
	const struct instance *in = map_get(&p->wanted, root, strlen(root));
	size_t n = 0;
	if (!in || !in->root || (docker_find_observed(d, in->key, "network", &n) && n == 1))
		return NULL;
	size_t *idx = map_get(&p->net_acts, in->key, strlen(in->key));
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
	vec_push(&p->owned, idx);
	map_put(&p->net_acts, in->key, strlen(in->key), idx);
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
		const struct observed *o = docker_find_observed(c->d, c->in->key, "container", &n);
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
	return docker_find_observed(ctx, key, "container", &n) != NULL;
}

/* While a replica is made: its volume synced from the backup before the
 * instance's container is made, its database restored after the
 * container starts (what needs it waits: see the end of plan). */
static void plan_replica_steps(struct docker_plan *p, const struct instance *in,
			       const struct replica_of *ro, const json_t *backup, const char *slot)
{
	struct driver *d = p->d;
	struct exec *x = p->x;
	size_t *own = map_get(&p->acts, in->key, strlen(in->key));
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
		vec_push(&p->restores, ((struct replica_step){ in, idx }));
	}
}

static void plan_begin(struct docker_plan *p, struct driver *d, const struct desired *want,
		       struct exec *x)
{
	*p = (struct docker_plan){ .d = d, .x = x, .r = want->resolution, .generation = want->generation };
	p->first_action = exec_count(x);
	resolution_stopped(p->r, &p->stopped);
	docker_forget_prepared(d); /* images prepared since the last plan count */
	choose_service_data(d, p->r, &p->service_data);
	p->replicas = replica_plans_new(p->r, d->name, has_container, d);
	instance_graph_init(&p->graph, p->r);
	for (size_t i = 0; i < p->r->ninstances; i++) {
		const struct instance *in = p->r->instances[i];
		/* a stopped replica is removed, all but its media: it is made
		 * anew from a backup when it starts */
		if (strcmp(in->cluster, d->name) == 0 &&
		    !(replica_plans_of(p->replicas, in) && instance_stopped(in, &p->stopped)))
			map_put(&p->wanted, in->key, strlen(in->key), (void *)in);
	}
}

static void plan_end(struct docker_plan *p)
{
	vec_release(&p->deletes);
	vec_release(&p->disconnects);
	vec_release(&p->placed);
	for (size_t i = 0; i < p->owned.len; i++)
		free(p->owned.items[i]);
	vec_release(&p->owned);
	forget_service_data(&p->service_data);
	replica_plans_free(p->replicas);
	vec_release(&p->restores);
	map_release(&p->wanted);
	map_release(&p->stopped);
	map_release(&p->net_acts);
	map_release(&p->acts);
	instance_graph_release(&p->graph);
}

/* One instance's container while it is planned. */
struct placing {
	const struct instance *in;
	size_t order;                /* its index in the resolution */
	char *root;                  /* its service instance's key */
	instance_key_vec roots;      /* the service instances that use it */
	const struct replica_of *ro; /* when it is a replica's */
	json_t *backup;              /* then its backup param */
	char *slot;                  /* and the volume its backup syncs into */
	struct act *a;               /* its create action, spec built */
	struct error err;            /* why the spec could not be built */
};

static void placing_release(struct placing *pl)
{
	json_decref(pl->backup);
	free(pl->slot);
	error_clear(&pl->err);
	vec_release(&pl->roots);
	free(pl->root);
}

/* Records a's index as the container action of the instance placed. */
static size_t *add_container_action(struct docker_plan *p, const struct placing *pl, const char *verb,
				    struct act *a)
{
	size_t *idx = xmalloc(sizeof(*idx));
	*idx = add(p->x, p->d, verb, a);
	vec_push(&p->owned, idx);
	map_put(&p->acts, pl->in->key, strlen(pl->in->key), idx);
	vec_push(&p->placed, pl->in);
	return idx;
}

/* The create action of pl's container, its spec built from the params:
 * on its service's network first, then on those of its consumers. -1 with
 * pl->err when the spec cannot be built. */
static int build_container(struct docker_plan *p, struct placing *pl)
{
	struct driver *d = p->d;
	const struct instance *in = pl->in;
	pl->root = instance_root_key(in->key);
	pl->ro = replica_plans_of(p->replicas, in);
	if (pl->ro && in->params) {
		json_t *params = json_loads(in->params->s, 0, NULL);
		pl->backup = json_incref(json_object_get(params, "backup"));
		json_decref(params);
		const char *vol = json_string_value(json_object_get(pl->backup, "volume"));
		pl->slot = vol ? replica_slot_volume(pl->ro->dependency, vol) : NULL;
	}
	struct act *a = pl->a = act_new(d, A_CREATE, in->key, NULL);
	a->target = docker_object_name(in->key);
	const char *inst = strchr(in->key, '#') ? strchr(in->key, '#') + 1 : in->key;
	struct strbuf alias = STRBUF_INIT;
	for (const char *c = inst; *c; c++)
		strbuf_addc(&alias, *c == '#' || *c == '_' ? '-' : *c);
	a->alias = strbuf_detach(&alias);
	vec_push(&a->networks, docker_object_name(pl->root));
	instance_consumer_roots(&p->graph, in, &pl->roots);
	for (size_t k = 0; k < pl->roots.len; k++)
		if (strcmp(pl->roots.items[k], pl->root) != 0) /* its own network is the first */
			vec_push(&a->networks, docker_object_name(pl->roots.items[k]));

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
		.level = p->graph.levels[pl->order],
		.http_port = d->routed ? d->routes.port : 0,
		.component = in->component,
		.data_image = plan_data_image,
		.data_ctx = &(struct data_ctx){ d, in },
		.slot_volume = pl->slot ? json_string_value(json_object_get(pl->backup, "volume")) : NULL,
		.slot_source = pl->slot,
	};
	const struct service_data *sd = map_get(&p->service_data, pl->root, strlen(pl->root));
	if (sd && !sd->error)
		t.data = &sd->data;
	else if (sd)
		t.data_error = sd->error;
	int built = docker_spec_build(&a->spec, in->params ? in->params->s : NULL, &t, &pl->err);
	if (built == 0 && pl->ro && pl->ro->replicating && !has_container(d, in->key))
		built = replica_check_build(pl->ro, in, a->spec.image, &pl->err);
	free(label);
	free(dns_router);
	strbuf_release(&host);
	return built;
}

/* A container that cannot be built fails in the plan; what needs its
 * instance is skipped: an app never starts without the database its data
 * param asked for. */
static void plan_failed_container(struct docker_plan *p, struct placing *pl)
{
	pl->a->kind = A_FAIL;
	pl->a->message = xstrdup(error_msg(&pl->err));
	add_container_action(p, pl, "create", pl->a);
	pl->a = NULL;
}

/* A container as wanted may still join or leave the networks of its
 * consumers. */
static void plan_consumer_networks(struct docker_plan *p, struct placing *pl, const struct observed *o)
{
	struct act *a = pl->a;
	const json_t *have = docker_observed_networks(p->d, o->id);
	struct act *c = act_new(p->d, A_CONNECT, pl->in->key, o->id);
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
	if (!c->networks.len && !c->old.len) {
		docker_act_free(c);
		return;
	}
	size_t ci = add(p->x, p->d, "connect", c);
	if (c->old.len)
		vec_push(&p->disconnects, ((struct disconnect){ ci, c }));
	for (size_t k = 0; k < pl->roots.len; k++) {
		size_t *rn = network_action(p, pl->roots.items[k]);
		if (rn)
			exec_order(p->x, *rn, ci);
	}
}

/* Creates what is missing, replaces what differs, starts what stopped,
 * and stops what is kept but not running. */
static void plan_container_change(struct docker_plan *p, struct placing *pl)
{
	struct driver *d = p->d;
	const struct instance *in = pl->in;
	struct act *a = pl->a;
	docker_spec_stamp(&a->spec, p->generation, in->deps, in->ndeps);
	size_t n;
	const struct observed *o = docker_find_observed(d, in->key, "container", &n);
	bool running = o && o->state && (!strcmp(o->state, "running") || !strcmp(o->state, "restarting"));
	if (instance_stopped(in, &p->stopped)) {
		if (running)
			add(p->x, d, "stop", act_new(d, A_STOP, in->key, o->id));
		return;
	}
	const char *verb = "create";
	if (o && n == 1 && o->hash && strcmp(o->hash, a->spec.hash) == 0 && o->image &&
	    strcmp(o->image, a->spec.image) == 0) {
		if (!o->state || running) {
			plan_consumer_networks(p, pl, o);
			return;
		}
		/* stopped or never started: start it again */
		a->kind = A_START;
		free(a->target);
		a->target = xstrdup(o->id);
		verb = "start";
	} else if (o) {
		a->kind = A_UPDATE;
		verb = "update";
		for (size_t k = 0; k < d->observed.len; k++) {
			const struct observed *ok = &d->observed.items[k];
			if (!strcmp(ok->key, in->key) && !strcmp(ok->kind, "container"))
				vec_push(&a->old, xstrdup(ok->id));
		}
	}
	size_t *idx = add_container_action(p, pl, verb, a);
	pl->a = NULL;
	/* after the networks it joins, when they are made now */
	for (size_t k = 0; k <= pl->roots.len; k++) {
		size_t *rn = network_action(p, k ? pl->roots.items[k - 1] : pl->root);
		if (rn)
			exec_order(p->x, *rn, *idx);
	}
}

/* The container of the instance at index i of the resolution, when it is
 * placed on this cluster. */
static void plan_container(struct docker_plan *p, size_t i)
{
	const struct instance *in = p->r->instances[i];
	if (strcmp(in->cluster, p->d->name) != 0 || in->root || !in->code_type ||
	    !map_get(&p->wanted, in->key, strlen(in->key)))
		return;
	if (!is_docker_code(in)) {
		struct act *a = act_new(p->d, A_FAIL, in->key, NULL);
		struct strbuf m = STRBUF_INIT;
		strbuf_addf(&m, "code type %s cannot run on docker cluster %s", in->code_type, p->d->name);
		a->message = strbuf_detach(&m);
		add(p->x, p->d, "create", a);
		return;
	}
	struct placing pl = { .in = in, .order = i, .err = ERROR_INIT };
	int built = build_container(p, &pl);
	if (built < 0)
		plan_failed_container(p, &pl);
	else
		plan_container_change(p, &pl);
	if (pl.a)
		docker_act_free(pl.a);
	if (built == 0 && pl.ro && pl.ro->replicating && pl.ro->manifest &&
	    !instance_stopped(in, &p->stopped))
		plan_replica_steps(p, in, pl.ro, pl.backup, pl.slot);
	placing_release(&pl);
}

/* Each container action waits for its networks and for what it needs;
 * what needs a replica's database waits until it is restored. */
static void order_containers(struct docker_plan *p)
{
	for (size_t i = 0; i < p->placed.len; i++) {
		const struct instance *in = p->placed.items[i];
		size_t me = *(size_t *)map_get(&p->acts, in->key, strlen(in->key));
		char *root = instance_root_key(in->key);
		size_t *net = map_get(&p->net_acts, root, strlen(root));
		if (net)
			exec_order(p->x, *net, me);
		free(root);
		instance_order_after_needs(p->x, in, &p->acts, me);
	}
	for (size_t i = 0; i < p->restores.len; i++) {
		const instance_vec *u = &p->graph.users[p->restores.items[i].in->order];
		for (size_t k = 0; k < u->len; k++) {
			size_t *ua = map_get(&p->acts, u->items[k]->key, strlen(u->items[k]->key));
			if (ua)
				exec_order(p->x, p->restores.items[i].idx, *ua);
		}
	}
}

/* What no instance wants goes, consumers first (higher level): the
 * containers, and a second container of one instance (made by hand or by
 * an older cairn) unless an update replaces them all. */
static void delete_containers(struct docker_plan *p)
{
	struct driver *d = p->d;
	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		if (strcmp(o->kind, "container") != 0)
			continue;
		const struct instance *in = map_get(&p->wanted, o->key, strlen(o->key));
		if (in && is_docker_code(in)) {
			size_t n;
			const struct observed *first = docker_find_observed(d, o->key, "container", &n);
			bool duplicate = n > 1 && first != o && !map_get(&p->acts, o->key, strlen(o->key));
			if (!duplicate)
				continue;
		}
		size_t idx = add(p->x, d, "delete", act_new(d, A_DELETE, o->key, o->id));
		const json_t *c = NULL;
		size_t j;
		json_t *it;
		json_array_foreach(d->containers, j, it)
		{
			if (!strcmp(json_string_value(json_object_get(it, "Id")), o->id))
				c = it;
		}
		const char *lv = c ? docker_label_of(c, "cairn.level") : NULL;
		const json_t *nets =
			c ? json_object_get(json_object_get(c, "NetworkSettings"), "Networks") : NULL;
		vec_push(&p->deletes, ((struct container_delete){ idx, lv ? atoi(lv) : 0, o, nets }));
	}
	for (size_t i = 0; i < p->deletes.len; i++)
		for (size_t j = 0; j < p->deletes.len; j++)
			if (p->deletes.items[j].level > p->deletes.items[i].level)
				exec_order(p->x, p->deletes.items[j].idx, p->deletes.items[i].idx);
}

/* Then the volumes and service networks no instance wants, each only
 * after the containers using it: a volume is its instance's, a network is
 * on the containers attached to it. Waiting for every container would hold
 * back the network deletes, which dockerd runs one at a time and which
 * dominate a teardown. */
static void delete_volumes_and_networks(struct docker_plan *p)
{
	struct driver *d = p->d;
	for (size_t i = 0; i < d->observed.len; i++) {
		const struct observed *o = &d->observed.items[i];
		bool volume = strcmp(o->kind, "volume") == 0;
		bool network = strcmp(o->kind, "network") == 0;
		if ((!volume && !network) || map_get(&p->wanted, o->key, strlen(o->key)))
			continue;
		struct act *a = act_new(d, volume ? A_VOLUME_DELETE : A_NETWORK_DELETE, o->key, o->id);
		size_t idx = add(p->x, d, volume ? "delete-volume" : "delete-network", a);
		for (size_t j = 0; j < p->deletes.len; j++) {
			const struct container_delete *cd = &p->deletes.items[j];
			if (volume ? strcmp(cd->of->key, o->key) == 0
				   : json_object_get(cd->networks, o->name) != NULL)
				exec_order(p->x, cd->idx, idx);
		}
		for (size_t j = 0; !volume && j < p->disconnects.len; j++)
			for (size_t k = 0; k < p->disconnects.items[j].act->old.len; k++)
				if (strcmp(p->disconnects.items[j].act->old.items[k], o->name) == 0)
					exec_order(p->x, p->disconnects.items[j].idx, idx);
	}
}

/* Routes last, once the engine has published the ports; and again when
 * nothing else changed but the file differs (edited, or a route that
 * failed before). */
static void plan_routes(struct docker_plan *p)
{
	struct driver *d = p->d;
	if (!d->routed)
		return;
	size_t last = exec_count(p->x);
	bool changed = last > p->first_action;
	if (!changed) {
		char *text = docker_routes_render(d->containers, d->address, d->routes.port);
		changed = !docker_routes_current(&d->routes, text);
		free(text);
	}
	if (!changed)
		return;
	size_t idx = add(p->x, d, "route", act_new(d, A_ROUTE, d->name, d->routes.file));
	for (size_t i = p->first_action; i < last; i++)
		exec_order(p->x, i, idx);
}

int docker_driver_plan(struct driver *d, const struct desired *want, struct exec *x,
		       struct error *err)
{
	(void)err; /* what cannot be planned fails as an action */
	struct docker_plan p;
	plan_begin(&p, d, want, x);
	for (size_t i = 0; i < p.r->ninstances; i++)
		plan_container(&p, i);
	order_containers(&p);
	delete_containers(&p);
	delete_volumes_and_networks(&p);
	plan_routes(&p);
	plan_end(&p);
	return 0;
}

void docker_forget_prepared(struct driver *d)
{
	for (size_t i = 0; i < d->prepared.len; i++) {
		free(d->prepared.items[i].dataset);
		snapshot_images_free(d->prepared.items[i].images, d->prepared.items[i].n);
	}
	vec_release(&d->prepared);
}
