/* Volumes in backups: the tar of the mounted path walked once; each file's
 * content stored under its SHA-256 in .objects/ab/abcd…, once for every
 * backup that has it, and a list of path, type, mode, owner, time, size
 * and hash (or a symlink's target) per backup. Contents are not synced one by one:
 * one syncfs before the list is written makes them durable together. */
#include "internal.h"
#include "transfer.h"

#include "base/alloc.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct volume_copy {
	const char *store;
	struct backup_part *p;
	json_t *previous; /* the previous backup's entries of this volume, by path */
	json_t *entries;
	struct strbuf object, tmp;
	unsigned char buf[64 * 1024];
};

static void object_path(struct strbuf *sb, const char *store, const char *sha)
{
	strbuf_reset(sb);
	strbuf_addf(sb, "%s/.objects/%.2s/%s", store, sha, sha);
}

static int make_dir(const char *path, struct error *err)
{
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return error_set(err, "cannot make %s: %s", path, strerror(errno));
	return 0;
}

/* Reads the entry's data into a temporary file while hashing it, then
 * moves it to its content's name unless that is there already. */
static int store_content(struct volume_copy *vc, struct archive *a, const char *path,
			 char sha[65], struct error *err)
{
	strbuf_reset(&vc->tmp);
	strbuf_addf(&vc->tmp, "%s/.objects/.incoming.%ld", vc->store, (long)getpid());
	FILE *f = fopen(strbuf_cstr(&vc->tmp), "wb");
	if (!f)
		return error_set(err, "cannot write %s: %s", strbuf_cstr(&vc->tmp), strerror(errno));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, sha256_md(), NULL);
	int rc = 0;
	int64_t size = 0;
	for (;;) {
		la_ssize_t n = archive_read_data(a, vc->buf, sizeof(vc->buf));
		if (n < 0) {
			rc = error_set(err, "reading %s: %s", path, archive_error_string(a));
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(md, vc->buf, (size_t)n);
		if (fwrite(vc->buf, 1, (size_t)n, f) != (size_t)n) {
			rc = error_set(err, "writing %s: %s", strbuf_cstr(&vc->tmp), strerror(errno));
			break;
		}
		size += n;
	}
	unsigned char digest[32];
	unsigned len = 0;
	EVP_DigestFinal_ex(md, digest, &len);
	EVP_MD_CTX_free(md);
	if (fclose(f) != 0 && rc == 0)
		rc = error_set(err, "writing %s: %s", strbuf_cstr(&vc->tmp), strerror(errno));
	hex_encode(digest, sizeof(digest), sha);
	if (rc == 0) {
		object_path(&vc->object, vc->store, sha);
		struct stat sb;
		if (stat(strbuf_cstr(&vc->object), &sb) == 0) {
			unlink(strbuf_cstr(&vc->tmp));
			return 0;
		}
		strbuf_reset(&vc->object);
		strbuf_addf(&vc->object, "%s/.objects/%.2s", vc->store, sha);
		if (make_dir(strbuf_cstr(&vc->object), err) < 0)
			return -1;
		object_path(&vc->object, vc->store, sha);
		if (rename(strbuf_cstr(&vc->tmp), strbuf_cstr(&vc->object)) < 0)
			return error_set(err, "cannot rename to %s: %s", strbuf_cstr(&vc->object),
					 strerror(errno));
		vc->p->copied_files++;
		vc->p->copied_bytes += size;
		return 0;
	}
	unlink(strbuf_cstr(&vc->tmp));
	return rc;
}

/* The previous backup's hash of a file unchanged in size and time whose
 * content is still stored, or NULL. */
static const char *unchanged(struct volume_copy *vc, const char *path, int64_t size, int64_t mtime)
{
	json_t *old = json_object_get(vc->previous, path);
	const char *sha = json_string_value(json_object_get(old, "sha256"));
	if (!sha || json_integer_value(json_object_get(old, "size")) != size ||
	    json_integer_value(json_object_get(old, "mtime")) != mtime)
		return NULL;
	object_path(&vc->object, vc->store, sha);
	struct stat sb;
	return stat(strbuf_cstr(&vc->object), &sb) == 0 ? sha : NULL;
}

static int on_media_entry(void *ctx, struct archive *a, struct archive_entry *e, struct error *err)
{
	struct volume_copy *vc = ctx;
	/* "media/dir/file": the first component is the mounted directory */
	const char *slash = strchr(archive_entry_pathname(e), '/');
	if (!slash || !slash[1])
		return 0;
	struct strbuf path = STRBUF_INIT;
	strbuf_adds(&path, slash + 1);
	if (path.len && path.buf[path.len - 1] == '/')
		strbuf_truncate(&path, path.len - 1);
	int64_t mtime = (int64_t)archive_entry_mtime(e), size = (int64_t)archive_entry_size(e);
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I}", "path", strbuf_cstr(&path), "mode",
			      (json_int_t)(archive_entry_perm(e) & 07777), "uid",
			      (json_int_t)archive_entry_uid(e), "gid", (json_int_t)archive_entry_gid(e),
			      "mtime", (json_int_t)mtime);
	int rc = 0;
	switch (archive_entry_filetype(e)) {
	case AE_IFREG: {
		char fresh[65];
		const char *sha = unchanged(vc, strbuf_cstr(&path), size, mtime);
		if (!sha && (rc = store_content(vc, a, strbuf_cstr(&path), fresh, err)) == 0)
			sha = fresh;
		json_object_set_new(j, "type", json_string("file"));
		json_object_set_new(j, "size", json_integer(size));
		if (sha)
			json_object_set_new(j, "sha256", json_string(sha));
		vc->p->files++;
		vc->p->bytes += size;
		break;
	}
	case AE_IFDIR:
		json_object_set_new(j, "type", json_string("dir"));
		break;
	case AE_IFLNK:
		json_object_set_new(j, "type", json_string("symlink"));
		json_object_set_new(j, "target", json_string(archive_entry_symlink(e)));
		break;
	default: /* devices, fifos, sockets: not media */
		json_decref(j);
		j = NULL;
	}
	if (j)
		json_array_append_new(vc->entries, j);
	strbuf_release(&path);
	return rc;
}

/* The entries of the same volume in the previous backup, by path. */
static json_t *previous_entries(struct sn_storage *st, const char *previous,
				const struct backup_part *p)
{
	json_t *byp = json_object();
	if (!previous)
		return byp;
	struct error ignored = ERROR_INIT;
	json_t *m = backup_read_json(st, previous, "manifest.json", &ignored);
	size_t i;
	json_t *part;
	json_array_foreach(json_object_get(m, "parts"), i, part)
	{
		const char *kind = json_string_value(json_object_get(part, "kind"));
		const char *svc = json_string_value(json_object_get(part, "service"));
		const char *comp = json_string_value(json_object_get(part, "component"));
		const char *vol = json_string_value(json_object_get(part, "volume"));
		if (!kind || strcmp(kind, "volume") || !svc || strcmp(svc, p->service) || !comp ||
		    strcmp(comp, p->component) || !vol || strcmp(vol, p->volume))
			continue;
		char name[BACKUP_LIST_NAME_SIZE];
		backup_list_name(name, i);
		json_t *list = backup_read_json(st, previous, name, &ignored);
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(list, "entries"), k, e)
		{
			const char *path = json_string_value(json_object_get(e, "path"));
			if (path)
				json_object_set(byp, path, e);
		}
		json_decref(list);
		break;
	}
	json_decref(m);
	error_clear(&ignored);
	return byp;
}

int backup_take_volume(struct sn_storage *st, const char *store, const char *id,
		       const char *previous, size_t index, struct backup_part *p,
		       struct docker *d, const char *container, struct error *err)
{
	struct strbuf dir = STRBUF_INIT;
	strbuf_addf(&dir, "%s/.objects", store);
	int rc = make_dir(strbuf_cstr(&dir), err);
	strbuf_release(&dir);
	if (rc < 0)
		return -1;
	struct volume_copy *vc = xcalloc(1, sizeof(*vc));
	vc->store = store;
	vc->p = p;
	vc->previous = previous_entries(st, previous, p);
	vc->entries = json_array();
	vc->object = (struct strbuf)STRBUF_INIT;
	vc->tmp = (struct strbuf)STRBUF_INIT;
	rc = tar_from_container(d, container, p->path, on_media_entry, vc, err);
	if (rc == 0) {
		int fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
		char name[BACKUP_LIST_NAME_SIZE];
		backup_list_name(name, index);
		json_t *list = json_pack("{s:O}", "entries", vc->entries);
		FILE *f = sn_storage_create(st, id, name, err);
		rc = !f ? -1 : json_dumpf(list, f, JSON_COMPACT) < 0 ? error_set(err, "writing %s", name) : 0;
		if (f && sn_storage_close(f, name, rc < 0 ? NULL : err) < 0)
			rc = -1;
		json_decref(list);
	} else {
		error_wrap(err, "volume %s of %s (%s)", p->volume, p->key, p->path);
	}
	json_decref(vc->previous);
	json_decref(vc->entries);
	strbuf_release(&vc->object);
	strbuf_release(&vc->tmp);
	free(vc);
	return rc;
}

/* ---- garbage ---- */

void backup_list_name(char out[BACKUP_LIST_NAME_SIZE], size_t index)
{
	snprintf(out, BACKUP_LIST_NAME_SIZE, "volume-%zu.json", index);
}

int backup_add_refs(json_t *manifest, backup_list_fn list_of, void *ctx, json_t *refs,
		    struct error *err)
{
	size_t i;
	json_t *part;
	json_array_foreach(json_object_get(manifest, "parts"), i, part)
	{
		const char *kind = json_string_value(json_object_get(part, "kind"));
		if (!kind || strcmp(kind, "volume") != 0)
			continue;
		char name[BACKUP_LIST_NAME_SIZE];
		backup_list_name(name, i);
		json_t *list = list_of(ctx, name, err);
		if (!list)
			return -1;
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(list, "entries"), k, e)
		{
			const char *sha = json_string_value(json_object_get(e, "sha256"));
			if (sha)
				json_object_set_new(refs, sha, json_true());
		}
		json_decref(list);
	}
	return 0;
}

json_t *backup_stored_list(void *ctx, const char *name, struct error *err)
{
	struct backup_stored *s = ctx;
	return backup_read_json(s->st, s->id, name, err);
}

int backup_collect_garbage(struct sn_storage *st, const char *store, struct error *err)
{
	char **ids;
	size_t n;
	if (sn_storage_list(st, &ids, &n, err) < 0)
		return -1;
	/* A list that cannot be read stops the collection: its contents
	 * would look unreferenced. */
	json_t *refs = json_object();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct backup_stored one = { st, ids[i] };
		json_t *m = backup_stored_list(&one, "manifest.json", err);
		rc = m ? backup_add_refs(m, backup_stored_list, &one, refs, err) : -1;
		json_decref(m);
	}
	sn_storage_list_free(ids, n);
	if (rc < 0) {
		json_decref(refs);
		return error_wrap(err, "unreferenced contents were kept");
	}
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "%s/.objects", store);
	DIR *top = opendir(strbuf_cstr(&path));
	size_t base = path.len;
	struct dirent *e, *f;
	while (top && (e = readdir(top))) {
		if (strlen(e->d_name) != 2)
			continue;
		strbuf_truncate(&path, base);
		strbuf_addf(&path, "/%s", e->d_name);
		size_t sub = path.len;
		DIR *d = opendir(strbuf_cstr(&path));
		while (d && (f = readdir(d))) {
			if (f->d_name[0] == '.' || json_object_get(refs, f->d_name))
				continue;
			strbuf_truncate(&path, sub);
			strbuf_addf(&path, "/%s", f->d_name);
			unlink(strbuf_cstr(&path));
		}
		if (d)
			closedir(d);
		strbuf_truncate(&path, sub);
		rmdir(strbuf_cstr(&path)); /* when empty */
	}
	if (top)
		closedir(top);
	strbuf_release(&path);
	json_decref(refs);
	return 0;
}
