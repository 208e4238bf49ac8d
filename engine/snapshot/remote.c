/* Snapshots kept in S3-compatible storage (remote.h): published from the
 * local directory they are made in, fetched back into it to be read. */
#include "remote.h"

#include "internal.h"
#include "s3.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct snapshot_remote {
	struct s3 *s3;
	char *dataset; /* "ns.name", the ids' beginning */
	long long keep;
};

/* A credentials file's key; the message names the file, never the key. */
static char *read_key(const char *path, const char *what, const char *dataset, struct error *err)
{
	char *key = s3_read_key(path, err);
	if (!key)
		error_wrap(err, "dataset %s: store: s3: %s", dataset, what);
	return key;
}

int snapshot_remote_open(struct snapshot_remote **out, const struct dataset *ds, struct error *err)
{
	*out = NULL;
	if (!ds->s3.endpoint)
		return 0;
	char name[600];
	snprintf(name, sizeof(name), "%s/%s", ds->obj.ns->s, ds->obj.name->s);
	char *access = read_key(ds->s3.access_key_file->s, "access_key_file", name, err);
	char *secret = access ? read_key(ds->s3.secret_key_file->s, "secret_key_file", name, err) : NULL;
	int rc = -1;
	if (secret) {
		struct s3_config c = { .endpoint = ds->s3.endpoint->s, .bucket = ds->s3.bucket->s,
				       .prefix = ds->s3.prefix ? ds->s3.prefix->s : NULL,
				       .region = ds->s3.region ? ds->s3.region->s : NULL,
				       .access_key = access, .secret_key = secret };
		struct snapshot_remote *r = xcalloc(1, sizeof(*r));
		if (s3_open(&r->s3, &c, err) == 0) {
			if (asprintf(&r->dataset, "%s.%s.", ds->obj.ns->s, ds->obj.name->s) < 0)
				abort();
			r->keep = ds->keep;
			*out = r;
			rc = 0;
		} else {
			free(r);
			error_wrap(err, "dataset %s: store", name);
		}
		explicit_bzero(secret, strlen(secret));
	}
	free(access);
	free(secret);
	return rc;
}

void snapshot_remote_close(struct snapshot_remote *r)
{
	if (!r)
		return;
	s3_close(r->s3);
	free(r->dataset);
	free(r);
}

const char *snapshot_remote_where(const struct snapshot_remote *r)
{
	return s3_where(r->s3);
}

/* The files of a snapshot besides its manifest, as the manifest names them. */
static void manifest_files(json_t *m, json_t *names)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(m, "tables"), i, t)
	json_array_append(names, json_object_get(t, "file"));
	json_array_append(names, json_object_get(json_object_get(m, "schema"), "file"));
	json_array_append_new(names, json_string("build.txt"));
}

static int put_one(struct snapshot_remote *r, struct sn_storage *st, const char *id,
		   const char *name, struct error *err)
{
	FILE *f = sn_storage_open(st, id, name, NULL, err);
	if (!f)
		return -1;
	char key[1024];
	snprintf(key, sizeof(key), "%s/%s", id, name);
	int rc = s3_put(r->s3, key, f, err);
	fclose(f);
	return rc;
}

/* The ids in the bucket of complete snapshots of this dataset (those with a
 * manifest), sorted. */
struct ids {
	const char *dataset;
	json_t *list;
};

static int collect_id(void *ctx, const char *key, long long size)
{
	(void)size;
	struct ids *c = ctx;
	const char *slash = strchr(key, '/');
	if (slash && strcmp(slash + 1, "manifest.json") == 0 &&
	    strncmp(key, c->dataset, strlen(c->dataset)) == 0)
		json_array_append_new(c->list, json_stringn(key, (size_t)(slash - key)));
	return 0;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static json_t *remote_ids(struct snapshot_remote *r, struct error *err)
{
	struct ids c = { r->dataset, json_array() };
	if (s3_list(r->s3, r->dataset, collect_id, &c, err) < 0) {
		json_decref(c.list);
		return NULL;
	}
	size_t n = json_array_size(c.list);
	json_t **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(c.list, i));
	qsort(v, n, sizeof(*v), cmp_ids);
	json_array_clear(c.list);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(c.list, v[i]);
	free(v);
	return c.list;
}

int snapshot_remote_publish(struct snapshot_remote *r, const char *store, const char *id,
			    json_t **pruned, struct error *err)
{
	*pruned = json_array();
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	int rc = -1;
	json_t *m = sn_read_manifest(st, id, err), *names = json_array(), *ids = NULL;
	if (!m)
		goto out;
	manifest_files(m, names);
	size_t i;
	json_t *name;
	json_array_foreach(names, i, name)
	if (put_one(r, st, id, json_string_value(name), err) < 0)
		goto out;
	/* the manifest last: a listing never sees a snapshot half uploaded */
	if (put_one(r, st, id, "manifest.json", err) < 0 || !(ids = remote_ids(r, err)))
		goto out;
	size_t n = json_array_size(ids);
	for (size_t k = 0; r->keep > 0 && k + (size_t)r->keep < n; k++) {
		const char *old = json_string_value(json_array_get(ids, k));
		if (snapshot_remote_delete(r, old, err) < 0)
			goto out;
		json_array_append_new(*pruned, json_string(old));
	}
	rc = 0;
out:
	if (rc < 0)
		error_wrap(err, "storing snapshot %s in %s", id, s3_where(r->s3));
	json_decref(ids);
	json_decref(names);
	json_decref(m);
	sn_storage_free(st);
	return rc;
}

/* A manifest read into memory through a temporary file. */
static json_t *remote_manifest(struct snapshot_remote *r, const char *id, struct error *err)
{
	char tmp[] = "/tmp/cairn-manifest-XXXXXX", key[1024];
	int fd = mkstemp(tmp);
	if (fd < 0) {
		error_set(err, "a temporary file: %s", strerror(errno));
		return NULL;
	}
	close(fd);
	snprintf(key, sizeof(key), "%s/manifest.json", id);
	json_t *m = NULL;
	json_error_t jerr;
	if (s3_get_file(r->s3, key, tmp, NULL, err) == 0 && !(m = json_load_file(tmp, 0, &jerr)))
		error_set(err, "%s/manifest.json does not read: %s", id, jerr.text);
	unlink(tmp);
	return m;
}

/* Downloads key into file name of the pending snapshot id. */
static int get_one(struct snapshot_remote *r, struct sn_storage *st, const char *id,
		   const char *name, const char *sha256, struct error *err)
{
	FILE *f = sn_storage_create(st, id, name, err);
	if (!f)
		return -1;
	char key[1024];
	snprintf(key, sizeof(key), "%s/%s", id, name);
	int rc = s3_get(r->s3, key, f, sha256, err);
	struct error close_err = ERROR_INIT;
	if (sn_storage_close(f, name, &close_err) < 0 && rc == 0)
		rc = error_set(err, "%s", error_msg(&close_err));
	error_clear(&close_err);
	return rc;
}

int snapshot_remote_fetch(struct snapshot_remote *r, const char *store, const char *id,
			  struct error *err)
{
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	char **have = NULL;
	size_t nhave = 0;
	bool present = false;
	if (sn_storage_list(st, &have, &nhave, err) < 0) {
		sn_storage_free(st);
		return -1;
	}
	for (size_t i = 0; i < nhave; i++)
		present |= strcmp(have[i], id) == 0;
	sn_storage_list_free(have, nhave);
	if (present) { /* fetched before, or made here */
		sn_storage_free(st);
		return 0;
	}
	int rc = -1;
	json_t *m = remote_manifest(r, id, err);
	if (!m || sn_storage_begin(st, id, err) < 0)
		goto out;
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(m, "tables"), i, t)
	if (get_one(r, st, id, json_string_value(json_object_get(t, "file")),
		    json_string_value(json_object_get(t, "sha256")), err) < 0)
		goto abort;
	json_t *schema = json_object_get(m, "schema");
	if (get_one(r, st, id, json_string_value(json_object_get(schema, "file")),
		    json_string_value(json_object_get(schema, "sha256")), err) < 0 ||
	    get_one(r, st, id, "build.txt", NULL, err) < 0 ||
	    get_one(r, st, id, "manifest.json", NULL, err) < 0 || sn_storage_commit(st, id, err) < 0)
		goto abort;
	rc = 0;
	goto out;
abort:
	sn_storage_abort(st, id);
out:
	if (rc < 0)
		error_wrap(err, "fetching snapshot %s from %s", id, s3_where(r->s3));
	json_decref(m);
	sn_storage_free(st);
	return rc;
}

int snapshot_remote_list(struct snapshot_remote *r, json_t **out, struct error *err)
{
	*out = NULL;
	json_t *ids = remote_ids(r, err);
	if (!ids)
		return -1;
	json_t *list = json_array();
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		json_t *m = remote_manifest(r, json_string_value(id), err);
		if (!m) {
			json_decref(list);
			json_decref(ids);
			return -1;
		}
		json_object_set_new(m, "stored", json_string(s3_where(r->s3)));
		json_array_append_new(list, m);
	}
	json_decref(ids);
	*out = list;
	return 0;
}

struct keys {
	const char *id;
	json_t *list;
};

static int collect_key(void *ctx, const char *key, long long size)
{
	(void)size;
	struct keys *k = ctx;
	size_t n = strlen(k->id);
	if (strncmp(key, k->id, n) == 0 && key[n] == '/')
		json_array_append_new(k->list, json_string(key));
	return 0;
}

int snapshot_remote_delete(struct snapshot_remote *r, const char *id, struct error *err)
{
	struct keys k = { id, json_array() };
	char prefix[1024];
	snprintf(prefix, sizeof(prefix), "%s/", id);
	int rc = s3_list(r->s3, prefix, collect_key, &k, err);
	/* the manifest first: the snapshot stops listing before its files go */
	for (int pass = 0; rc == 0 && pass < 2; pass++) {
		size_t i;
		json_t *key;
		json_array_foreach(k.list, i, key)
		{
			bool manifest = strstr(json_string_value(key), "/manifest.json") != NULL;
			if (manifest == (pass == 0) && (rc = s3_delete(r->s3, json_string_value(key), err)) < 0)
				break;
		}
	}
	json_decref(k.list);
	return rc;
}
