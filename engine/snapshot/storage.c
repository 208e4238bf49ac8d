/* The local-directory storage: DIR/ID/ per snapshot, written as
 * DIR/.ID.pending.PID/ and renamed when complete. */
#include "storage.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sn_storage {
	char *dir;
};

static char *path_of(const struct sn_storage *st, const char *id, const char *name, bool pending)
{
	struct strbuf sb = STRBUF_INIT;
	if (pending)
		strbuf_addf(&sb, "%s/.%s.pending.%ld", st->dir, id, (long)getpid());
	else
		strbuf_addf(&sb, "%s/%s", st->dir, id);
	if (name)
		strbuf_addf(&sb, "/%s", name);
	return strbuf_detach(&sb);
}

/* An id or file name is one path component a listing can show. */
static int check_name(const char *what, const char *s, struct error *err)
{
	if (!*s || s[0] == '.' || strchr(s, '/') || strlen(s) > 200)
		return error_set(err, "invalid snapshot %s '%s'", what, s);
	return 0;
}

static int mkdirs(const char *dir, struct error *err)
{
	char *copy = xstrdup(dir);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			error_set(err, "cannot make %s: %s", copy, strerror(errno));
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return error_set(err, "cannot make %s: %s", dir, strerror(errno));
	return 0;
}

struct sn_storage *sn_storage_local(const char *dir, struct error *err)
{
	if (!dir || !*dir) {
		error_set(err, "no snapshot directory");
		return NULL;
	}
	if (mkdirs(dir, err) < 0)
		return NULL;
	struct sn_storage *st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(dir);
	return st;
}

void sn_storage_free(struct sn_storage *st)
{
	if (!st)
		return;
	free(st->dir);
	free(st);
}

const char *sn_storage_where(const struct sn_storage *st)
{
	return st->dir;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			struct strbuf sb = STRBUF_INIT;
			strbuf_addf(&sb, "%s/%s", dir, e->d_name);
			unlink(strbuf_cstr(&sb));
			strbuf_release(&sb);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Pending snapshots whose process is gone: what a killed create left. */
static void remove_orphans(struct sn_storage *st)
{
	DIR *d = opendir(st->dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *tag = e->d_name[0] == '.' ? strstr(e->d_name, ".pending.") : NULL;
		if (!tag)
			continue;
		long pid = strtol(tag + 9, NULL, 10);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "%s/%s", st->dir, e->d_name);
		remove_tree(strbuf_cstr(&sb));
		strbuf_release(&sb);
	}
	closedir(d);
}

int sn_storage_begin(struct sn_storage *st, const char *id, struct error *err)
{
	if (check_name("id", id, err) < 0)
		return -1;
	remove_orphans(st);
	char *final = path_of(st, id, NULL, false);
	struct stat sb;
	bool exists = stat(final, &sb) == 0;
	free(final);
	if (exists)
		return error_set(err, "snapshot %s already exists in %s", id, st->dir);
	char *dir = path_of(st, id, NULL, true);
	int rc = 0;
	if (mkdir(dir, 0750) < 0)
		rc = error_set(err, "cannot make %s: %s", dir, strerror(errno));
	free(dir);
	return rc;
}

FILE *sn_storage_create(struct sn_storage *st, const char *id, const char *name,
			struct error *err)
{
	if (check_name("file", name, err) < 0)
		return NULL;
	char *path = path_of(st, id, name, true);
	FILE *f = fopen(path, "wbx");
	if (!f)
		error_set(err, "cannot write %s: %s", path, strerror(errno));
	free(path);
	return f;
}

int sn_storage_close(FILE *f, const char *name, struct error *err)
{
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	int saved = errno;
	ok &= fclose(f) == 0;
	if (!ok)
		return error_set(err, "cannot write %s: %s", name, strerror(saved ? saved : errno));
	return 0;
}

int sn_storage_commit(struct sn_storage *st, const char *id, struct error *err)
{
	char *from = path_of(st, id, NULL, true);
	char *to = path_of(st, id, NULL, false);
	int rc = 0;
	/* The files reached the disk when they were closed; the rename is what
	 * makes the snapshot exist, and it reaches the disk with the directory. */
	if (rename(from, to) < 0) {
		rc = error_set(err, "cannot rename %s to %s: %s", from, to, strerror(errno));
	} else {
		int fd = open(st->dir, O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	free(from);
	free(to);
	return rc;
}

void sn_storage_abort(struct sn_storage *st, const char *id)
{
	char *dir = path_of(st, id, NULL, true);
	remove_tree(dir);
	free(dir);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sn_storage_list(struct sn_storage *st, char ***ids, size_t *n, struct error *err)
{
	*ids = NULL;
	*n = 0;
	DIR *d = opendir(st->dir);
	if (!d)
		return error_set(err, "cannot read %s: %s", st->dir, strerror(errno));
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *manifest = path_of(st, e->d_name, "manifest.json", false);
		bool whole = access(manifest, R_OK) == 0;
		free(manifest);
		if (!whole)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*ids = xrealloc(*ids, cap * sizeof(**ids));
		}
		(*ids)[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (*n)
		qsort(*ids, *n, sizeof(**ids), str_cmp);
	return 0;
}

void sn_storage_list_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

FILE *sn_storage_open(struct sn_storage *st, const char *id, const char *name, long long *size,
		      struct error *err)
{
	if (check_name("id", id, err) < 0 || check_name("file", name, err) < 0)
		return NULL;
	char *path = path_of(st, id, name, false);
	char *dir = path_of(st, id, NULL, false);
	FILE *f = fopen(path, "rb");
	struct stat sb;
	if (!f && errno == ENOENT && stat(dir, &sb) < 0)
		error_set(err, "no snapshot %s in %s", id, st->dir);
	else if (!f)
		error_set(err, "cannot read %s: %s", path, strerror(errno));
	else if (size)
		*size = fstat(fileno(f), &sb) == 0 ? (long long)sb.st_size : -1;
	free(dir);
	free(path);
	return f;
}

int sn_storage_remove(struct sn_storage *st, const char *id, struct error *err)
{
	if (check_name("id", id, err) < 0)
		return -1;
	char *dir = path_of(st, id, NULL, false);
	struct stat sb;
	int rc = 0;
	if (stat(dir, &sb) < 0) {
		rc = error_set(err, "no snapshot %s in %s", id, st->dir);
	} else {
		/* Renamed aside first, so that a half-deleted snapshot never lists. */
		char *aside = path_of(st, id, NULL, true);
		if (rename(dir, aside) < 0)
			rc = error_set(err, "cannot delete %s: %s", dir, strerror(errno));
		else
			remove_tree(aside);
		free(aside);
	}
	free(dir);
	return rc;
}
