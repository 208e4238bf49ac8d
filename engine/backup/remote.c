/* Backups kept in S3-compatible storage too (backup.h): published from the
 * local directory they are made in (the contents first, each once; the
 * backup's files; its manifest last, so a listing never sees one half
 * uploaded), keep applied in the bucket with the contents no backup of
 * the dependency there refers to; fetched back into the local directory
 * for a replica. Keys: backups/ID/FILE and objects/NS.NAME/SHA256 under
 * the configured prefix: each dependency's contents apart, so that pruning
 * one never takes what another's backup, being published, refers to. */
#include "internal.h"

#include "base/alloc.h"
#include "base/strbuf.h"
#include "engine/snapshot/s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct backup_remote {
	struct s3 *s3;
	char *dependency; /* "ns/name" */
	char *prefix;     /* "ns.name.": its backups' ids begin so */
	char *objects;    /* "objects/ns.name/": where its contents are */
};

/* A credentials file's key; the message names the file, never the key. */
static char *read_key(const char *path, const char *what, const char *dependency, struct error *err)
{
	char *key = s3_read_key(path, err);
	if (!key)
		error_wrap(err, "dependency %s: backup: store: s3: %s", dependency, what);
	return key;
}

int backup_remote_open(struct backup_remote **out, const struct dependency *dep, struct error *err)
{
	*out = NULL;
	const struct s3_location *l = &dep->backup.s3;
	if (!l->endpoint)
		return 0;
	struct strbuf name = STRBUF_INIT;
	strbuf_addf(&name, "%s/%s", dep->obj.ns->s, dep->obj.name->s);
	char *access = read_key(l->access_key_file->s, "access_key_file", name.buf, err);
	char *secret = access ? read_key(l->secret_key_file->s, "secret_key_file", name.buf, err) : NULL;
	int rc = -1;
	if (secret) {
		struct s3_config c = { .endpoint = l->endpoint->s, .bucket = l->bucket->s,
				       .prefix = l->prefix ? l->prefix->s : NULL,
				       .region = l->region ? l->region->s : NULL,
				       .access_key = access, .secret_key = secret };
		struct backup_remote *r = xcalloc(1, sizeof(*r));
		if (s3_open(&r->s3, &c, err) == 0) {
			r->dependency = xstrdup(name.buf);
			r->prefix = backup_id_prefix(name.buf);
			struct strbuf objects = STRBUF_INIT; /* "ns.name." -> "objects/ns.name/" */
			strbuf_addf(&objects, "objects/%.*s/", (int)strlen(r->prefix) - 1, r->prefix);
			r->objects = strbuf_detach(&objects);
			*out = r;
			rc = 0;
		} else {
			free(r);
			error_wrap(err, "dependency %s: backup: store", name.buf);
		}
		explicit_bzero(secret, strlen(secret));
	}
	free(access);
	free(secret);
	strbuf_release(&name);
	return rc;
}

void backup_remote_close(struct backup_remote *r)
{
	if (!r)
		return;
	s3_close(r->s3);
	free(r->dependency);
	free(r->prefix);
	free(r->objects);
	free(r);
}

const char *backup_remote_where(const struct backup_remote *r)
{
	return s3_where(r->s3);
}

/* ---- listing ---- */

static int collect_key(void *ctx, const char *key, long long size)
{
	(void)size;
	json_object_set_new(ctx, key, json_true());
	return 0;
}

/* The keys under prefix, as a set (an object). */
static int keys_under(struct backup_remote *r, const char *prefix, json_t **out, struct error *err)
{
	*out = json_object();
	if (s3_list(r->s3, prefix, collect_key, *out, err) < 0) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* The ids of the dependency's complete backups in the bucket, oldest first. */
static int remote_ids(struct backup_remote *r, json_t **out, struct error *err)
{
	json_t *keys;
	if (keys_under(r, "backups/", &keys, err) < 0)
		return -1;
	*out = json_array();
	const char *key;
	json_t *v;
	json_object_foreach(keys, key, v)
	{
		const char *id = key + strlen("backups/");
		const char *slash = strchr(id, '/');
		if (slash && !strcmp(slash, "/manifest.json") && backup_has_prefix(id, r->prefix))
			json_array_append_new(*out, json_stringn(id, (size_t)(slash - id)));
	}
	json_decref(keys);
	size_t n = json_array_size(*out);
	json_t **items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(*out, i));
	qsort(items, n, sizeof(*items), id_cmp);
	json_array_clear(*out);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*out, items[i]);
	free(items);
	return 0;
}

int backup_remote_newest(struct backup_remote *r, char **id, struct error *err)
{
	*id = NULL;
	json_t *ids;
	if (remote_ids(r, &ids, err) < 0)
		return -1;
	size_t n = json_array_size(ids);
	if (n)
		*id = xstrdup(json_string_value(json_array_get(ids, n - 1)));
	json_decref(ids);
	return 0;
}

/* A JSON file of backup id in the bucket; new reference. */
static json_t *get_json(struct backup_remote *r, const char *id, const char *name,
			struct error *err)
{
	FILE *f = tmpfile();
	if (!f) {
		error_set(err, "tmpfile: %s", strerror(errno));
		return NULL;
	}
	struct strbuf key = STRBUF_INIT;
	strbuf_addf(&key, "backups/%s/%s", id, name);
	json_t *j = NULL;
	if (s3_get(r->s3, strbuf_cstr(&key), f, NULL, err) == 0) {
		rewind(f);
		json_error_t je;
		if (!(j = json_loadf(f, 0, &je)))
			error_set(err, "%s%s: %s", s3_where(r->s3), strbuf_cstr(&key), je.text);
	}
	fclose(f);
	strbuf_release(&key);
	return j;
}

/* ---- publishing ---- */

struct remote_backup {
	struct backup_remote *r;
	const char *id;
};

static json_t *remote_list(void *ctx, const char *name, struct error *err)
{
	struct remote_backup *rb = ctx;
	return get_json(rb->r, rb->id, name, err);
}

/* Deletes the bucket's oldest backups of the dependency beyond keep (each
 * manifest first), then the contents no backup left there refers to. */
static int prune_bucket(struct backup_remote *r, int64_t keep, json_t *pruned, struct error *err)
{
	json_t *ids, *keys = NULL, *refs = json_object();
	if (remote_ids(r, &ids, err) < 0) {
		json_decref(refs);
		return -1;
	}
	int rc = 0;
	size_t n = json_array_size(ids);
	for (size_t i = 0; rc == 0 && n > (size_t)keep && i < n - (size_t)keep; i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		struct strbuf key = STRBUF_INIT;
		strbuf_addf(&key, "backups/%s/manifest.json", id);
		rc = s3_delete(r->s3, strbuf_cstr(&key), err);
		json_t *files = NULL;
		strbuf_reset(&key);
		strbuf_addf(&key, "backups/%s/", id);
		if (rc == 0 && (rc = keys_under(r, strbuf_cstr(&key), &files, err)) == 0) {
			const char *k;
			json_t *v;
			json_object_foreach(files, k, v)
				if (rc == 0)
					rc = s3_delete(r->s3, k, err);
		}
		json_decref(files);
		strbuf_release(&key);
		if (rc == 0)
			json_array_append_new(pruned, json_string(id));
	}
	/* what the dependency's backups left there refer to: a list that
	 * cannot be read stops it, as its contents would look unreferenced */
	json_t *left = NULL;
	if (rc == 0)
		rc = remote_ids(r, &left, err);
	size_t i;
	json_t *one;
	json_array_foreach(left, i, one)
	{
		struct remote_backup rb = { r, json_string_value(one) };
		json_t *m = rc == 0 ? remote_list(&rb, "manifest.json", err) : NULL;
		if (rc == 0)
			rc = m ? backup_add_refs(m, remote_list, &rb, refs, err) : -1;
		json_decref(m);
	}
	if (rc == 0 && (rc = keys_under(r, r->objects, &keys, err)) == 0) {
		const char *k;
		json_t *v;
		json_object_foreach(keys, k, v)
			if (rc == 0 && !json_object_get(refs, k + strlen(r->objects)))
				rc = s3_delete(r->s3, k, err);
	}
	json_decref(left);
	json_decref(keys);
	json_decref(refs);
	json_decref(ids);
	return rc;
}

int backup_remote_publish(struct backup_remote *r, const char *store, const char *id, int64_t keep,
			  json_t **pruned, struct error *err)
{
	*pruned = json_array();
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	json_t *have = NULL, *mine = json_object();
	struct strbuf dir = STRBUF_INIT, path = STRBUF_INIT, key = STRBUF_INIT;
	char **names = NULL;
	size_t n = 0;
	int rc = -1;
	struct backup_stored lb = { st, id };
	json_t *m = backup_read_json(st, id, "manifest.json", err);
	if (!m || backup_add_refs(m, backup_stored_list, &lb, mine, err) < 0 ||
	    keys_under(r, r->objects, &have, err) < 0)
		goto out;
	const char *sha;
	json_t *v;
	json_object_foreach(mine, sha, v)
	{
		strbuf_reset(&key);
		strbuf_addf(&key, "%s%s", r->objects, sha);
		if (json_object_get(have, strbuf_cstr(&key)))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/.objects/%.2s/%s", store, sha, sha);
		if (s3_put_file(r->s3, strbuf_cstr(&key), strbuf_cstr(&path), err) < 0)
			goto out;
	}
	strbuf_addf(&dir, "%s/%s", store, id);
	if (backup_list_files(strbuf_cstr(&dir), "", &names, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n + 1; i++) {
		/* the manifest last */
		const char *name = i < n ? names[i] : "manifest.json";
		if (i < n && !strcmp(name, "manifest.json"))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", strbuf_cstr(&dir), name);
		strbuf_reset(&key);
		strbuf_addf(&key, "backups/%s/%s", id, name);
		if (s3_put_file(r->s3, strbuf_cstr(&key), strbuf_cstr(&path), err) < 0)
			goto out;
	}
	rc = prune_bucket(r, keep > 0 ? keep : DEPENDENCY_BACKUP_KEEP, *pruned, err);
out:
	if (rc < 0)
		error_wrap(err, "publishing backup %s to %s", id, s3_where(r->s3));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	json_decref(m);
	json_decref(have);
	json_decref(mine);
	strbuf_release(&dir);
	strbuf_release(&path);
	strbuf_release(&key);
	sn_storage_free(st);
	return rc;
}

/* ---- fetching ---- */

/* A content into .objects/, checked against its hash. */
static int fetch_object(struct backup_remote *r, const char *store, const char *sha,
			struct error *err)
{
	struct strbuf path = STRBUF_INIT, tmp = STRBUF_INIT, key = STRBUF_INIT;
	strbuf_addf(&path, "%s/.objects/%.2s", store, sha);
	mkdir(strbuf_cstr(&path), 0750);
	strbuf_addf(&path, "/%s", sha);
	struct stat sb;
	int rc = 0;
	if (stat(strbuf_cstr(&path), &sb) != 0) {
		strbuf_addf(&tmp, "%s.fetching.%ld", strbuf_cstr(&path), (long)getpid());
		strbuf_addf(&key, "%s%s", r->objects, sha);
		rc = s3_get_file(r->s3, strbuf_cstr(&key), strbuf_cstr(&tmp), sha, err);
		if (rc == 0 && rename(strbuf_cstr(&tmp), strbuf_cstr(&path)) < 0)
			rc = error_set(err, "cannot rename to %s: %s", strbuf_cstr(&path), strerror(errno));
		if (rc < 0)
			unlink(strbuf_cstr(&tmp));
	}
	strbuf_release(&path);
	strbuf_release(&tmp);
	strbuf_release(&key);
	return rc;
}

/* Object key into file name of the pending backup id. */
static int get_into(struct backup_remote *r, struct sn_storage *st, const char *id,
		    const char *name, const char *key, struct error *err)
{
	FILE *f = sn_storage_create(st, id, name, err);
	if (!f)
		return -1;
	if (s3_get(r->s3, key, f, NULL, err) < 0) {
		fclose(f);
		return -1;
	}
	return sn_storage_close(f, name, err);
}

int backup_remote_fetch(struct backup_remote *r, const char *store, const char *id,
			struct error *err)
{
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	struct strbuf have = STRBUF_INIT, dir = STRBUF_INIT;
	strbuf_addf(&have, "%s/%s/manifest.json", store, id);
	int rc = 0;
	json_t *files = NULL, *refs = json_object();
	if (access(strbuf_cstr(&have), R_OK) == 0)
		goto out; /* here already, with its contents (collected only when unreferenced) */
	strbuf_addf(&dir, "%s/.objects", store);
	mkdir(strbuf_cstr(&dir), 0750);
	strbuf_reset(&dir);
	strbuf_addf(&dir, "backups/%s/", id);
	if ((rc = keys_under(r, strbuf_cstr(&dir), &files, err)) < 0)
		goto out;
	strbuf_adds(&dir, "manifest.json");
	if (!json_object_get(files, strbuf_cstr(&dir))) {
		rc = error_set(err, "no backup %s in %s", id, s3_where(r->s3));
		goto out;
	}
	if ((rc = sn_storage_begin(st, id, err)) < 0)
		goto out;
	const char *k;
	json_t *v;
	/* the files, the contents their lists refer to, then the manifest */
	json_object_foreach(files, k, v)
	{
		const char *name = strrchr(k, '/') + 1;
		if (rc == 0 && strcmp(name, "manifest.json") != 0)
			rc = get_into(r, st, id, name, k, err);
	}
	json_t *m = rc == 0 ? get_json(r, id, "manifest.json", err) : NULL;
	struct remote_backup rb = { r, id };
	if (rc == 0)
		rc = m ? backup_add_refs(m, remote_list, &rb, refs, err) : -1;
	json_object_foreach(refs, k, v)
		if (rc == 0)
			rc = fetch_object(r, store, k, err);
	if (rc == 0)
		rc = get_into(r, st, id, "manifest.json", strbuf_cstr(&dir), err);
	if (rc == 0)
		rc = sn_storage_commit(st, id, err);
	json_decref(m);
	if (rc < 0)
		sn_storage_abort(st, id);
out:
	if (rc < 0)
		error_wrap(err, "fetching backup %s from %s", id, s3_where(r->s3));
	json_decref(files);
	json_decref(refs);
	strbuf_release(&have);
	strbuf_release(&dir);
	sn_storage_free(st);
	return rc;
}
