/* Taking a backup: the parts the dependency's instances name, each taken
 * through the engine of the instance's cluster, written under a pending
 * name and made visible with its manifest (engine/snapshot/storage.h), then
 * the dependency's oldest backups beyond keep deleted with the contents
 * only they held. One backup or delete at a time per directory (a lock
 * file): a delete must not take contents a backup being made refers to. */
#include "backup.h"
#include "internal.h"
#include "transfer.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/timefmt.h"
#include "engine/drivers/docker/docker_driver.h"
#include "engine/drivers/docker/docker_spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- which parts ---- */

static const char *mount_path(json_t *params, const char *volume)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(params, "volumes"), i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));
		if (name && strcmp(name, volume) == 0)
			return json_string_value(json_object_get(v, "path"));
	}
	return NULL;
}

static struct backup_part *add_part(struct backup_result *out, const char *kind,
				     const struct instance *in)
{
	out->parts = xrealloc(out->parts, (out->nparts + 1) * sizeof(*out->parts));
	struct backup_part *p = &out->parts[out->nparts++];
	*p = (struct backup_part){ .kind = xstrdup(kind), .service = xstrdup(in->service),
				   .component = xstrdup(in->component), .key = xstrdup(in->key),
				   .cluster = xstrdup(in->cluster) };
	return p;
}

static void part_release(struct backup_part *p)
{
	free(p->kind);
	free(p->service);
	free(p->component);
	free(p->key);
	free(p->cluster);
	free(p->database);
	free(p->user);
	free(p->volume);
	free(p->path);
}

/* The parts of the dependency's docker instances, in dependency-first
 * order; an error when a backup param cannot be read. */
static int find_parts(const struct resolution *r, const char *dependency,
		      struct backup_result *out, struct error *err)
{
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (!instance_serves(in, dependency) || !in->params || !in->code_type ||
		    strcmp(in->code_type, "docker") != 0)
			continue;
		json_t *params = json_loads(in->params->s, 0, NULL);
		json_t *b = json_object_get(params, "backup");
		json_t *pg = json_object_get(b, "postgres");
		const char *volume = json_string_value(json_object_get(b, "volume"));
		int rc = 0;
		if (pg) {
			const char *db = json_string_value(json_object_get(pg, "database"));
			const char *user = json_string_value(json_object_get(pg, "user"));
			if (!db || !user) {
				rc = error_set(err, "instance %s: backup: postgres needs database and user",
					       in->key);
			} else {
				struct backup_part *p = add_part(out, "postgres", in);
				p->database = xstrdup(db);
				p->user = xstrdup(user);
			}
		}
		if (rc == 0 && volume) {
			const char *path = mount_path(params, volume);
			if (!path) {
				rc = error_set(err, "instance %s: backup: volume '%s' is not one of its volumes",
					       in->key, volume);
			} else {
				struct backup_part *p = add_part(out, "volume", in);
				p->volume = xstrdup(volume);
				p->path = xstrdup(path);
			}
		}
		json_decref(params);
		if (rc < 0)
			return -1;
	}
	if (!out->nparts)
		return error_set(err, "dependency %s has nothing to back up: none of its instances has a "
				      "backup param (backup: {postgres: {database: D, user: U}} on its "
				      "database, backup: {volume: NAME} on what keeps files)",
				 dependency);
	return 0;
}

/* ---- taking it ---- */

struct take {
	const struct policy *pol;
	const struct backup_options *o;
	struct backup_result *res;
	struct sn_storage *st;
	const char *store;
	char *previous; /* the dependency's newest backup before this one */
	struct map engines; /* cluster name -> struct docker * */
	json_t *build;      /* "service/component" -> image */
	struct error *err;
};

static struct docker *engine_of(struct take *t, const char *cluster)
{
	struct docker *found = map_get(&t->engines, cluster, strlen(cluster));
	if (found)
		return found;
	const struct cluster *c = (const struct cluster *)policy_get(t->pol, KIND_CLUSTER, "system", cluster);
	if (!c) {
		error_set(t->err, "no cluster %s in the policy", cluster);
		return NULL;
	}
	struct docker *d;
	if (strcmp(c->type->s, "docker") != 0) {
		error_set(t->err, "cluster %s is of type %s: backups run on docker clusters", cluster,
			  c->type->s);
		return NULL;
	}
	if (docker_cluster_open(c, &d, t->err) < 0)
		return NULL;
	map_put(&t->engines, cluster, strlen(cluster), d); /* the key lives in the resolution */
	return d;
}

/* A dump file "dump/NAME" of the helper is kept as "postgres-N.NAME". */
struct dump_copy {
	struct take *t;
	size_t index;
	struct backup_part *part;
};

static int copy_entry_data(struct archive *a, FILE *f, const char *what, int64_t *bytes,
			   struct error *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (len && fwrite(buf, 1, len, f) != len)
			return error_set(err, "writing %s: %s", what, strerror(errno));
		*bytes += (int64_t)len;
	}
	if (r != ARCHIVE_EOF)
		return error_set(err, "reading %s: %s", what, archive_error_string(a));
	return 0;
}

static int on_dump_entry(void *ctx, struct archive *a, struct archive_entry *e, struct error *err)
{
	struct dump_copy *dc = ctx;
	if (archive_entry_filetype(e) != AE_IFREG)
		return 0;
	const char *name = strchr(archive_entry_pathname(e), '/');
	if (!name || !name[1] || strchr(name + 1, '/'))
		return 0;
	struct strbuf file = STRBUF_INIT;
	strbuf_addf(&file, "postgres-%zu.%s", dc->index, name + 1);
	FILE *f = sn_storage_create(dc->t->st, dc->t->res->id, strbuf_cstr(&file), err);
	int rc = f ? copy_entry_data(a, f, strbuf_cstr(&file), &dc->part->bytes, err) : -1;
	if (f && sn_storage_close(f, strbuf_cstr(&file), rc < 0 ? NULL : err) < 0)
		rc = -1;
	if (rc == 0)
		dc->part->files++;
	strbuf_release(&file);
	return rc;
}

static int take_postgres(struct take *t, size_t index, struct docker *d, const char *container_id)
{
	struct backup_part *p = &t->res->parts[index];
	char jobs[16];
	snprintf(jobs, sizeof(jobs), "%d", t->o->jobs > 0 ? t->o->jobs : 2);
	/* a database that has just started gets a moment to accept connections */
	static const char script[] =
		"i=0\n"
		"until pg_isready -q -h 127.0.0.1; do\n"
		"  i=$((i + 1)); [ $i -lt 300 ] || break\n"
		"  sleep 0.1\n"
		"done\n"
		"exec pg_dump --no-password -h 127.0.0.1 -U \"$1\" -d \"$2\" -Fd -j \"$3\" -f /tmp/dump\n";
	const char *cmd[] = { "sh", "-c", script, "pg_dump", p->user, p->database, jobs, NULL };
	struct strbuf purpose = STRBUF_INIT;
	strbuf_addf(&purpose, "pg_dump of database %s as %s in %s", p->database, p->user, p->key);
	struct helper h = { .image = t->o->image ? t->o->image : BACKUP_HELPER_IMAGE,
			    .user = "postgres", .network_of = container_id, .command = cmd,
			    .purpose = strbuf_cstr(&purpose) };
	char *id = NULL;
	struct dump_copy dc = { t, index, p };
	int rc = helper_create(d, &h, &id, t->err) < 0 || helper_run(d, &h, id, t->err) < 0 ||
			 tar_from_container(d, id, "/tmp/dump", on_dump_entry, &dc, t->err) != 0
		 ? -1
		 : 0;
	helper_remove(d, id);
	free(id);
	strbuf_release(&purpose);
	p->copied_files = p->files;
	p->copied_bytes = p->bytes;
	return rc;
}

static int take_part(struct take *t, size_t index)
{
	struct backup_part *p = &t->res->parts[index];
	double started = clock_seconds();
	struct docker *d = engine_of(t, p->cluster);
	if (!d)
		return error_wrap(t->err, "%s", p->key);
	char *name = docker_object_name(p->key);
	json_t *info = NULL;
	int rc = container_inspect(d, name, &info, t->err);
	if (rc == 0 && strcmp(p->kind, "postgres") == 0)
		rc = take_postgres(t, index, d, json_string_value(json_object_get(info, "Id")));
	else if (rc == 0)
		rc = backup_take_volume(t->st, t->store, t->res->id, t->previous, index, p, d,
					json_string_value(json_object_get(info, "Id")), t->err);
	json_decref(info);
	free(name);
	p->seconds = clock_seconds() - started;
	if (rc == 0 && t->o->part_done)
		t->o->part_done(t->o->part_ctx, p);
	return rc;
}

/* The image each docker instance of the dependency runs: what a replica
 * pins while it replicates. */
static int record_build(struct take *t, const struct resolution *r, const char *dependency)
{
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (!instance_serves(in, dependency) || !in->code_type || strcmp(in->code_type, "docker") != 0)
			continue;
		struct docker *d = engine_of(t, in->cluster);
		if (!d)
			return -1;
		char *name = docker_object_name(in->key);
		json_t *info = NULL;
		int rc = container_inspect(d, name, &info, t->err);
		free(name);
		if (rc < 0)
			return error_wrap(t->err, "%s", in->key);
		struct strbuf sc = STRBUF_INIT;
		strbuf_addf(&sc, "%s/%s", in->service, in->component);
		json_object_set(t->build, strbuf_cstr(&sc),
				json_object_get(json_object_get(info, "Config"), "Image"));
		strbuf_release(&sc);
		json_decref(info);
	}
	return 0;
}

json_t *backup_part_json(const struct backup_part *p)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", p->kind, "service", p->service,
			      "component", p->component, "key", p->key, "cluster", p->cluster);
	if (p->database)
		json_object_set_new(j, "database", json_string(p->database));
	if (p->user)
		json_object_set_new(j, "user", json_string(p->user));
	if (p->volume)
		json_object_set_new(j, "volume", json_string(p->volume));
	if (p->path)
		json_object_set_new(j, "path", json_string(p->path));
	json_object_set_new(j, "files", json_integer(p->files));
	json_object_set_new(j, "bytes", json_integer(p->bytes));
	json_object_set_new(j, "copied_files", json_integer(p->copied_files));
	json_object_set_new(j, "copied_bytes", json_integer(p->copied_bytes));
	json_object_set_new(j, "seconds", json_real(p->seconds));
	return j;
}

static int make_id(struct take *t, const char *dependency)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	char *prefix = backup_id_prefix(dependency);
	int rc = -1;
	for (int n = 1; n < 100 && rc < 0; n++) {
		struct strbuf id = STRBUF_INIT;
		strbuf_addf(&id, "%s%s", prefix, stamp);
		if (n > 1)
			strbuf_addf(&id, "-%d", n);
		free(t->res->id);
		t->res->id = strbuf_detach(&id);
		error_clear(t->err);
		rc = sn_storage_begin(t->st, t->res->id, t->err);
		if (rc < 0 && !strstr(error_msg(t->err), "already exists"))
			break;
	}
	free(prefix);
	return rc;
}

static int write_json(struct sn_storage *st, const char *id, const char *name, json_t *j,
		      struct error *err)
{
	FILE *f = sn_storage_create(st, id, name, err);
	if (!f)
		return -1;
	int rc = json_dumpf(j, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) < 0
			 ? error_set(err, "writing %s", name)
			 : 0;
	if (sn_storage_close(f, name, rc < 0 ? NULL : err) < 0)
		rc = -1;
	return rc;
}

static int prune(struct take *t, const char *dependency)
{
	t->res->pruned = json_array();
	int64_t keep = t->o->keep > 0 ? t->o->keep : DEPENDENCY_BACKUP_KEEP;
	char **ids;
	size_t n;
	if (sn_storage_list(t->st, &ids, &n, t->err) < 0)
		return -1;
	char *prefix = backup_id_prefix(dependency);
	int64_t mine = 0;
	for (size_t i = 0; i < n; i++)
		mine += backup_has_prefix(ids[i], prefix);
	int rc = 0;
	for (size_t i = 0; i < n && mine > keep && rc == 0; i++) {
		if (!backup_has_prefix(ids[i], prefix))
			continue;
		rc = sn_storage_remove(t->st, ids[i], t->err);
		json_array_append_new(t->res->pruned, json_string(ids[i]));
		mine--;
	}
	free(prefix);
	sn_storage_list_free(ids, n);
	if (rc == 0 && backup_collect_garbage(t->st, t->store, t->err) < 0)
		rc = error_wrap(t->err, "backup %s was taken", t->res->id);
	return rc;
}

/* To the dependency's bucket, when it has one; keep applies there too. A
 * failure leaves the backup here, and says so. */
static int publish(struct take *t, const struct dependency *dep)
{
	struct backup_remote *remote = NULL;
	json_t *pruned = NULL;
	int rc = backup_remote_open(&remote, dep, t->err);
	if (rc == 0 && remote)
		rc = backup_remote_publish(remote, t->store, t->res->id, t->o->keep, &pruned, t->err);
	if (rc < 0)
		error_wrap(t->err, "backup %s was taken (in %s) but not kept in its bucket",
			   t->res->id, t->store);
	size_t i;
	json_t *id;
	json_array_foreach(pruned, i, id)
		json_array_append(t->res->pruned, id);
	json_decref(pruned);
	backup_remote_close(remote);
	return rc;
}

int backup_create(const struct policy *p, const struct resolution *r, const char *dependency,
		  const struct backup_options *o, struct backup_result *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	double started = clock_seconds();
	const struct dep_result *dr = resolution_find_dep(r, dependency);
	if (!dr)
		return error_set(err, "no dependency %s in the policy", dependency);
	if (!dr->resolved)
		return error_set(err, "dependency %s is not resolved (%s): nothing runs to back up",
				 dependency, dr->reason ? dr->reason : "no reason given");
	if (find_parts(r, dependency, out, err) < 0)
		return -1;
	struct take t = { .pol = p, .o = o, .res = out, .store = o->store, .err = err,
			  .engines = MAP_INIT, .build = json_object() };
	int lock = -1, rc = -1;
	bool begun = false;
	if (!(t.st = sn_storage_local(o->store, err)) || (lock = backup_lock(o->store, err)) < 0)
		goto out;
	t.previous = backup_newest(t.st, dependency);
	if (record_build(&t, r, dependency) < 0 || make_id(&t, dependency) < 0)
		goto out;
	begun = true;
	for (size_t i = 0; i < out->nparts; i++)
		if (take_part(&t, i) < 0) {
			error_wrap(err, "backup of %s", dependency);
			goto out;
		}
	char created[UTC_TIME_SIZE];
	utc_time_format((long long)time(NULL), created);
	out->seconds = clock_seconds() - started;
	json_t *parts = json_array();
	for (size_t i = 0; i < out->nparts; i++)
		json_array_append_new(parts, backup_part_json(&out->parts[i]));
	json_t *m = json_pack("{s:s, s:s, s:s, s:I, s:O, s:o, s:f}", "id", out->id, "dependency",
			      dependency, "created", created, "generation",
			      (json_int_t)o->generation, "build", t.build, "parts", parts,
			      "seconds", out->seconds);
	rc = write_json(t.st, out->id, "manifest.json", m, err);
	json_decref(m);
	if (rc == 0)
		rc = sn_storage_commit(t.st, out->id, err);
	if (rc == 0) {
		begun = false;
		rc = prune(&t, dependency);
	}
	if (rc == 0)
		rc = publish(&t, dr->dep);
out:
	if (begun)
		sn_storage_abort(t.st, out->id);
	if (lock >= 0)
		close(lock);
	const struct map_slot *slot;
	for (size_t i = 0; map_next(&t.engines, &i, &slot);)
		docker_close(slot->value);
	map_release(&t.engines);
	json_decref(t.build);
	free(t.previous);
	sn_storage_free(t.st);
	return rc;
}

void backup_result_release(struct backup_result *r)
{
	for (size_t i = 0; i < r->nparts; i++)
		part_release(&r->parts[i]);
	free(r->parts);
	free(r->id);
	json_decref(r->pruned);
	memset(r, 0, sizeof(*r));
}

