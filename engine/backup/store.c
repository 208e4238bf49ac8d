/* The backup directory: ids, manifests, listing, deleting, the lock. */
#include "internal.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

int backup_lock(const char *store, struct error *err)
{
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "%s/.lock", store);
	int fd = open(strbuf_cstr(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		error_set(err, "cannot lock %s: %s", strbuf_cstr(&path), strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	strbuf_release(&path);
	return fd;
}

json_t *backup_read_json(struct sn_storage *st, const char *id, const char *name,
			 struct error *err)
{
	FILE *f = sn_storage_open(st, id, name, NULL, err);
	if (!f)
		return NULL;
	json_error_t je;
	json_t *j = json_loadf(f, 0, &je);
	fclose(f);
	if (!j)
		error_set(err, "backup %s: %s: %s (line %d)", id, name, je.text, je.line);
	return j;
}

bool backup_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *backup_id_prefix(const char *dependency)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *c = dependency; *c; c++)
		strbuf_addc(&sb, *c == '/' ? '.' : *c);
	strbuf_addc(&sb, '.');
	return strbuf_detach(&sb);
}

char *backup_newest(struct sn_storage *st, const char *dependency)
{
	char **ids;
	size_t n;
	struct error ignored = ERROR_INIT;
	char *prefix = backup_id_prefix(dependency), *found = NULL;
	if (sn_storage_list(st, &ids, &n, &ignored) == 0) {
		for (size_t i = n; i-- > 0 && !found;)
			if (backup_has_prefix(ids[i], prefix))
				found = xstrdup(ids[i]);
		sn_storage_list_free(ids, n);
	}
	error_clear(&ignored);
	free(prefix);
	return found;
}

/* ---- reading and deleting ---- */

int backup_list(const char *store, const char *dependency, json_t **out, struct error *err)
{
	*out = NULL;
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	char **ids;
	size_t n;
	int rc = sn_storage_list(st, &ids, &n, err);
	char *prefix = dependency ? backup_id_prefix(dependency) : NULL;
	if (rc == 0) {
		*out = json_array();
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (prefix && !backup_has_prefix(ids[i], prefix))
				continue;
			json_t *m = backup_read_json(st, ids[i], "manifest.json", err);
			rc = m ? json_array_append_new(*out, m) : -1;
		}
		sn_storage_list_free(ids, n);
	}
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	free(prefix);
	sn_storage_free(st);
	return rc;
}

static int check_id(const char *store, const char *id, struct error *err)
{
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "%s/%s/manifest.json", store, id);
	int rc = 0;
	if (!*id || id[0] == '.' || strchr(id, '/') || access(strbuf_cstr(&path), R_OK) < 0)
		rc = error_set(err, "no backup %s in %s (cairn backup list shows them)", id, store);
	strbuf_release(&path);
	return rc;
}

int backup_show(const char *store, const char *id, json_t **out, struct error *err)
{
	*out = NULL;
	if (check_id(store, id, err) < 0)
		return -1;
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	*out = backup_read_json(st, id, "manifest.json", err);
	sn_storage_free(st);
	return *out ? 0 : -1;
}

int backup_delete(const char *store, const char *id, struct error *err)
{
	if (check_id(store, id, err) < 0)
		return -1;
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	int lock = backup_lock(store, err), rc = -1;
	if (lock >= 0 && sn_storage_remove(st, id, err) == 0 &&
	    (rc = backup_collect_garbage(st, store, err)) < 0)
		error_wrap(err, "deleted backup %s", id);
	if (lock >= 0)
		close(lock);
	sn_storage_free(st);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int backup_list_files(const char *dir, const char *prefix, char ***names, size_t *n,
		      struct error *err)
{
	*names = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return error_set(err, "cannot read %s: %s", dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && backup_has_prefix(e->d_name, prefix)) {
			*names = xrealloc(*names, (*n + 1) * sizeof(**names));
			(*names)[(*n)++] = xstrdup(e->d_name);
		}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return 0;
}
