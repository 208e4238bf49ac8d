/* Which instances are replicas, and of which backup. */
#include "docker_replica.h"
#include "docker_spec.h"

#include "base/alloc.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "engine/backup/backup.h"

#include <stdlib.h>
#include <string.h>

struct replica_plans {
	struct map by_dependency; /* "ns/name" (in the resolution) -> struct replica_of */
};

static const struct dep_result *replica_dep(const struct resolution *r, const struct instance *in)
{
	for (uint32_t i = 0; i < in->ndeps; i++) {
		const struct dep_result *dr = resolution_find_dep(r, in->deps[i]);
		if (dr && dr->dep->replica.on)
			return dr;
	}
	return NULL;
}

/* When the source keeps its backups in a bucket: the one wanted (id, or
 * the bucket's newest) fetched into the backup directory, unless there. */
static int fetch_backup(const struct resolution *r, const char *source, const struct istr *id,
			struct error *err)
{
	const struct dep_result *src = resolution_find_dep(r, source);
	struct backup_remote *remote = NULL;
	if (!src)
		return 0; /* validation says so */
	if (backup_remote_open(&remote, src->dep, err) < 0)
		return -1;
	if (!remote)
		return 0;
	char *newest = NULL;
	int rc = id ? 0 : backup_remote_newest(remote, &newest, err);
	const char *want = id ? id->s : newest;
	if (rc == 0 && want)
		rc = backup_remote_fetch(remote, backup_default_store(), want, err);
	free(newest);
	backup_remote_close(remote);
	return rc;
}

struct replica_plans *replica_plans_new(const struct resolution *r, const char *cluster,
					bool (*has_container)(void *ctx, const char *key), void *ctx)
{
	struct replica_plans *rp = xcalloc(1, sizeof(*rp));
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (strcmp(in->cluster, cluster) != 0 || in->root || !in->code_type)
			continue;
		const struct dep_result *dr = replica_dep(r, in);
		if (!dr)
			continue;
		struct replica_of *ro = map_get(&rp->by_dependency, dr->id, strlen(dr->id));
		if (!ro) {
			const struct dependency *dep = dr->dep;
			ro = xcalloc(1, sizeof(*ro));
			ro->dependency = dr->id;
			ro->source = dependency_replica_of(dep);
			map_put(&rp->by_dependency, dr->id, strlen(dr->id), ro);
		}
		if (!has_container(ctx, in->key))
			ro->replicating = true;
	}
	/* The backup only matters while a replica is made: one that runs
	 * costs no fetch and no read. */
	size_t it = 0;
	const struct map_slot *slot;
	while (map_next(&rp->by_dependency, &it, &slot)) {
		struct replica_of *ro = slot->value;
		if (!ro->replicating)
			continue;
		const struct dependency *dep = resolution_find_dep(r, ro->dependency)->dep;
		struct error err = ERROR_INIT;
		if (fetch_backup(r, ro->source, dep->replica.backup, &err) < 0 ||
		    replica_backup(backup_default_store(), ro->source,
				   dep->replica.backup ? dep->replica.backup->s : NULL, &ro->manifest,
				   &err) < 0) {
			struct strbuf m = STRBUF_INIT;
			strbuf_addf(&m, "replica %s of %s: %s", ro->dependency, ro->source, error_msg(&err));
			ro->error = strbuf_detach(&m);
		}
		error_clear(&err);
	}
	return rp;
}

void replica_plans_free(struct replica_plans *rp)
{
	if (!rp)
		return;
	size_t it = 0;
	const struct map_slot *slot;
	while (map_next(&rp->by_dependency, &it, &slot)) {
		struct replica_of *ro = slot->value;
		json_decref(ro->manifest);
		free(ro->error);
		free((char *)ro->source);
		free(ro);
	}
	map_release(&rp->by_dependency);
	free(rp);
}

const struct replica_of *replica_plans_of(const struct replica_plans *rp, const struct instance *in)
{
	for (uint32_t i = 0; i < in->ndeps; i++) {
		const struct replica_of *ro = map_get(&rp->by_dependency, in->deps[i], strlen(in->deps[i]));
		if (ro)
			return ro;
	}
	return NULL;
}

int replica_check_build(const struct replica_of *ro, const struct instance *in, const char *image,
			struct error *err)
{
	if (ro->error)
		return error_set(err, "%s", ro->error);
	struct strbuf sc = STRBUF_INIT;
	strbuf_addf(&sc, "%s/%s", in->service, in->component);
	const char *want =
		json_string_value(json_object_get(json_object_get(ro->manifest, "build"), strbuf_cstr(&sc)));
	int rc = 0;
	if (want && strcmp(want, image) != 0)
		rc = error_set(err, "replica %s of %s: component %s would run %s, but backup %s was "
				    "taken with %s: while it replicates it runs production's build "
				    "(deploy the new one once it is made)",
			       ro->dependency, ro->source, strbuf_cstr(&sc), image,
			       json_string_value(json_object_get(ro->manifest, "id")), want);
	strbuf_release(&sc);
	return rc;
}

char *replica_slot_volume(const char *dependency, const char *volume)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "replica-%s-%s", dependency, volume);
	char *name = docker_object_name(strbuf_cstr(&sb));
	strbuf_release(&sb);
	return name;
}
