/* A replica's database restore and volume sync, each through helper
 * containers of cairn's PostgreSQL image: the backup's files go in as tars
 * (PUT archive), the helper runs the tools. Run by the docker driver's
 * actions; safe to run again after a kill (the database's marker, the
 * volume's listing say what is left to do). */
#include "replica.h"
#include "internal.h"
#include "transfer.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/strbuf.h"
#include "base/timefmt.h"
#include "base/vec.h"

#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *default_store;

void backup_set_default_store(const char *dir)
{
	free(default_store);
	default_store = dir ? xstrdup(dir) : NULL;
}

const char *backup_default_store(void)
{
	return default_store;
}

int replica_backup(const char *store, const char *of, const char *id, json_t **manifest,
		   struct error *err)
{
	*manifest = NULL;
	if (!store)
		return error_set(err, "no backup directory is set (CAIRN_BACKUPS)");
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	char *prefix = backup_id_prefix(of);
	char *pick = id ? xstrdup(id) : backup_newest(st, of);
	if (!pick)
		error_set(err, "dependency %s has no backup in %s: run `cairn backup %s`", of, store, of);
	else if (!backup_has_prefix(pick, prefix))
		error_set(err, "backup %s is not one of dependency %s (its ids start with %s)", pick, of,
			  prefix);
	else
		*manifest = backup_read_json(st, pick, "manifest.json", err);
	if (pick && !*manifest && id && !strstr(error_msg(err), "not one of")) {
		error_clear(err);
		error_set(err, "no backup %s of dependency %s in %s (cairn backup list %s shows them)",
			  id, of, store, of);
	}
	free(pick);
	free(prefix);
	sn_storage_free(st);
	return *manifest ? 0 : -1;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

long replica_part(json_t *manifest, const char *kind, const char *service, const char *component)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(manifest, "parts"), i, p)
		if (str(p, "kind") && !strcmp(str(p, "kind"), kind) && str(p, "service") &&
		    !strcmp(str(p, "service"), service) && str(p, "component") &&
		    !strcmp(str(p, "component"), component))
			return (long)i;
	return -1;
}

/* ---- the database ---- */

/* $1 database, $2 user, $3 marker, $4 jobs; prints "start T", "ready T",
 * then "restored T" or "kept" (T: the kernel's uptime, a clock the helper
 * and its host share). */
static const char restore_script[] =
	"set -eu\n"
	"export PGHOST=127.0.0.1 PGUSER=postgres PGDATABASE=postgres\n"
	"echo \"start $(cut -d' ' -f1 /proc/uptime)\"\n"
	"i=0\n"
	"until pg_isready -q; do\n"
	"  i=$((i + 1)); [ $i -lt 600 ] || { echo 'PostgreSQL did not accept connections within 60 s' >&2; exit 1; }\n"
	"  sleep 0.1\n"
	"done\n"
	"echo \"ready $(cut -d' ' -f1 /proc/uptime)\"\n"
	"sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -v db=\"$1\" -v user=\"$2\" -v marker=\"$3\"; }\n"
	"done=$(echo \"SELECT 1 FROM pg_database WHERE datname = :'db' AND shobj_description(oid, 'pg_database') = :'marker'\" | sql \"$@\")\n"
	"if [ \"$done\" = 1 ]; then echo kept; exit 0; fi\n"
	"sql \"$@\" <<'SQL'\n"
	"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec\n"
	"SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \\gexec\n"
	"SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') \\gexec\n"
	"SQL\n"
	"pg_restore --exit-on-error -j \"$4\" -d \"$1\" /tmp/dump\n"
	"echo \"SELECT format('COMMENT ON DATABASE %I IS %L', :'db', :'marker') \\gexec\" | sql \"$@\"\n"
	"echo \"restored $(cut -d' ' -f1 /proc/uptime)\"\n";

struct dump_files {
	struct sn_storage *st;
	const char *id;
	char prefix[32]; /* "postgres-N." */
};

static int add_entry_header(struct archive *a, const char *path, mode_t type, int mode,
			    int64_t size, int64_t mtime, int64_t uid, int64_t gid, const char *link,
			    struct error *err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, (mode_t)mode);
	archive_entry_set_size(e, type == AE_IFREG ? size : 0);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	if (link)
		archive_entry_set_symlink(e, link);
	int rc = archive_write_header(a, e) == ARCHIVE_OK
			 ? 0
			 : error_set(err, "making a tar: %s: %s", path, archive_error_string(a));
	archive_entry_free(e);
	return rc;
}

/* Writes the open file f as the data of the entry just added. */
static int add_entry_data(struct archive *a, FILE *f, const char *what, struct error *err)
{
	char buf[64 * 1024];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (archive_write_data(a, buf, n) < 0)
			return error_set(err, "making a tar: %s: %s", what, archive_error_string(a));
	return ferror(f) ? error_set(err, "reading %s: %s", what, strerror(errno)) : 0;
}

static int write_dump(void *ctx, struct archive *a, struct error *err)
{
	struct dump_files *df = ctx;
	char **names;
	size_t n;
	struct strbuf dir = STRBUF_INIT;
	strbuf_addf(&dir, "%s/%s", sn_storage_where(df->st), df->id);
	/* the files of the part, as the directory dump/ */
	if (add_entry_header(a, "dump", AE_IFDIR, 0755, 0, 0, 0, 0, NULL, err) < 0) {
		strbuf_release(&dir);
		return -1;
	}
	int rc = backup_list_files(strbuf_cstr(&dir), df->prefix, &names, &n, err);
	strbuf_release(&dir);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		long long size;
		FILE *f = sn_storage_open(df->st, df->id, names[i], &size, err);
		if (!f) {
			rc = -1;
			break;
		}
		struct strbuf path = STRBUF_INIT;
		strbuf_addf(&path, "dump/%s", names[i] + strlen(df->prefix));
		rc = add_entry_header(a, strbuf_cstr(&path), AE_IFREG, 0644, size, 0, 0, 0, NULL, err);
		if (rc == 0)
			rc = add_entry_data(a, f, names[i], err);
		fclose(f);
		strbuf_release(&path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* The time after word in the helper's output ("ready 123.45"), or -1. */
static double mark_time(const char *out, const char *word)
{
	const char *p = strstr(out, word);
	return p ? strtod(p + strlen(word), NULL) : -1;
}

int replica_restore_database(struct docker *d, const char *store, json_t *manifest, size_t index,
			     const char *container, const char *image, int jobs,
			     struct replica_restore *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *part = json_array_get(json_object_get(manifest, "parts"), index);
	const char *id = str(manifest, "id"), *db = str(part, "database"), *user = str(part, "user");
	if (!id || !db || !user)
		return error_set(err, "backup %s: part %zu is not a database", id ? id : "?", index);
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	char jobs_text[16];
	snprintf(jobs_text, sizeof(jobs_text), "%d", jobs > 0 ? jobs : 2);
	struct strbuf marker = STRBUF_INIT, purpose = STRBUF_INIT;
	strbuf_addf(&marker, REPLICA_MARKER_PREFIX "%s", id);
	strbuf_addf(&purpose, "restore of database %s from backup %s", db, id);
	const char *cmd[] = { "sh", "-c", restore_script, "restore", db, user,
			      strbuf_cstr(&marker), jobs_text, NULL };
	struct helper h = { .image = image, .user = "postgres", .network_of = container,
			    .command = cmd, .purpose = strbuf_cstr(&purpose) };
	struct dump_files df = { .st = st, .id = id };
	snprintf(df.prefix, sizeof(df.prefix), "postgres-%zu.", index);
	char *helper = NULL;
	struct strbuf text = STRBUF_INIT;
	int rc = -1;
	if (helper_create(d, &h, &helper, err) == 0 &&
	    tar_into_container(d, helper, "/tmp", write_dump, &df, err) == 0 &&
	    helper_run(d, &h, helper, err) == 0) {
		helper_output(d, helper, true, &text);
		double start = mark_time(strbuf_cstr(&text), "start "),
		       ready = mark_time(strbuf_cstr(&text), "ready "),
		       done = mark_time(strbuf_cstr(&text), "restored ");
		out->restored = done >= 0;
		out->wait_seconds = ready >= start && start >= 0 ? ready - start : 0;
		out->restore_seconds = done >= ready && ready >= 0 ? done - ready : 0;
		rc = 0;
	} else if (helper && !strstr(error_msg(err), h.purpose)) {
		error_wrap(err, "%s", h.purpose);
	}
	helper_remove(d, helper);
	free(helper);
	strbuf_release(&text);
	strbuf_release(&marker);
	strbuf_release(&purpose);
	sn_storage_free(st);
	return rc;
}

/* ---- the volume ---- */

/* Lists the mounted volume (type|size|mtime|./path per line); with the file
 * /.cairn-remove present, removes the paths it holds instead. */
static const char sync_script[] =
	"cd /media || exit 1\n"
	"if [ -f /.cairn-remove ]; then xargs -0 rm -rf -- </.cairn-remove && rm /.cairn-remove; exit; fi\n"
	"find . -mindepth 1 -exec stat -c '%F|%s|%Y|%n' {} +\n";

struct sync {
	struct docker *d;
	const char *store;
	json_t *entries;  /* the backup's list */
	json_t *present;  /* the volume's: path -> {type, size, mtime} */
	struct strbuf remove; /* NUL-separated ./paths */
	json_t *writes;   /* entries to write, in list order */
	struct replica_sync *out;
	replica_progress_fn progress;
	void *progress_ctx;
};

static const char *type_of(const char *stat_type)
{
	if (!strcmp(stat_type, "regular file") || !strcmp(stat_type, "regular empty file"))
		return "file";
	if (!strcmp(stat_type, "directory"))
		return "dir";
	if (!strcmp(stat_type, "symbolic link"))
		return "symlink";
	return "other";
}

static void parse_listing(struct sync *s, const char *text)
{
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len);
		char *f1 = strchr(copy, '|'), *f2 = f1 ? strchr(f1 + 1, '|') : NULL,
		     *f3 = f2 ? strchr(f2 + 1, '|') : NULL;
		if (f3 && f3[1] == '.' && f3[2] == '/') {
			*f1 = *f2 = *f3 = '\0';
			json_object_set_new(s->present, f3 + 3,
					    json_pack("{s:s, s:I, s:I}", "type", type_of(copy), "size",
						      (json_int_t)strtoll(f1 + 1, NULL, 10), "mtime",
						      (json_int_t)strtoll(f2 + 1, NULL, 10)));
		}
		free(copy);
		line += len + (end ? 1 : 0);
	}
}

/* What to remove (not in the backup, or of another type) and what to
 * write (missing, or a file of another size or time). */
static void plan_sync(struct sync *s)
{
	json_t *wanted = json_object();
	size_t i;
	json_t *e;
	json_array_foreach(s->entries, i, e)
		if (str(e, "path"))
			json_object_set(wanted, str(e, "path"), e);
	const char *path;
	json_t *have;
	json_object_foreach(s->present, path, have)
	{
		json_t *want = json_object_get(wanted, path);
		if (want && !strcmp(str(want, "type"), str(have, "type")))
			continue;
		strbuf_addf(&s->remove, "./%s", path);
		strbuf_addc(&s->remove, '\0');
		s->out->removed++;
	}
	json_array_foreach(s->entries, i, e)
	{
		const char *type = str(e, "type");
		json_t *h = json_object_get(s->present, str(e, "path"));
		bool same = h && !strcmp(str(h, "type"), type);
		if (type && !strcmp(type, "file")) {
			s->out->files++;
			s->out->bytes += json_integer_value(json_object_get(e, "size"));
			same = same &&
			       json_integer_value(json_object_get(h, "size")) ==
				       json_integer_value(json_object_get(e, "size")) &&
			       json_integer_value(json_object_get(h, "mtime")) ==
				       json_integer_value(json_object_get(e, "mtime"));
		}
		if (same)
			continue;
		json_array_append(s->writes, e);
		if (type && !strcmp(type, "file")) {
			s->out->to_copy_files++;
			s->out->to_copy_bytes += json_integer_value(json_object_get(e, "size"));
		}
	}
	json_decref(wanted);
}

static int64_t int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static int write_files(void *ctx, struct archive *a, struct error *err)
{
	struct sync *s = ctx;
	struct strbuf object = STRBUF_INIT;
	size_t i;
	json_t *e;
	int rc = 0;
	json_array_foreach(s->writes, i, e)
	{
		const char *type = str(e, "type"), *path = str(e, "path");
		int mode = (int)int_of(e, "mode");
		if (!strcmp(type, "dir")) {
			rc = add_entry_header(a, path, AE_IFDIR, mode, 0, int_of(e, "mtime"),
					      int_of(e, "uid"), int_of(e, "gid"), NULL, err);
		} else if (!strcmp(type, "symlink")) {
			rc = add_entry_header(a, path, AE_IFLNK, mode, 0, int_of(e, "mtime"),
					      int_of(e, "uid"), int_of(e, "gid"), str(e, "target"), err);
		} else if (str(e, "sha256")) {
			strbuf_reset(&object);
			strbuf_addf(&object, "%s/.objects/%.2s/%s", s->store, str(e, "sha256"),
				    str(e, "sha256"));
			FILE *f = fopen(strbuf_cstr(&object), "rb");
			if (!f) {
				rc = error_set(err, "the content of %s (%s) is missing: %s", path,
					       strbuf_cstr(&object), strerror(errno));
				break;
			}
			rc = add_entry_header(a, path, AE_IFREG, mode, int_of(e, "size"),
					      int_of(e, "mtime"), int_of(e, "uid"), int_of(e, "gid"),
					      NULL, err);
			if (rc == 0)
				rc = add_entry_data(a, f, path, err);
			fclose(f);
			s->out->copied_files++;
			s->out->copied_bytes += int_of(e, "size");
			if (s->progress)
				s->progress(s->progress_ctx, s->out);
		}
		if (rc < 0)
			break;
	}
	strbuf_release(&object);
	return rc;
}

static int write_remove_list(void *ctx, struct archive *a, struct error *err)
{
	struct sync *s = ctx;
	if (add_entry_header(a, ".cairn-remove", AE_IFREG, 0600, (int64_t)s->remove.len, 0, 0, 0,
			     NULL, err) < 0)
		return -1;
	if (archive_write_data(a, s->remove.buf, s->remove.len) < 0)
		return error_set(err, "making a tar: %s", archive_error_string(a));
	return 0;
}

int replica_sync_volume(struct docker *d, const char *store, json_t *manifest, size_t index,
			const char *volume, json_t *labels, const char *image,
			replica_progress_fn progress, void *progress_ctx, struct replica_sync *out,
			struct error *err)
{
	memset(out, 0, sizeof(*out));
	double started = clock_seconds();
	const char *id = str(manifest, "id");
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	char name[BACKUP_LIST_NAME_SIZE];
	backup_list_name(name, index);
	json_t *list = backup_read_json(st, id, name, err);
	sn_storage_free(st);
	if (!list)
		return -1;
	struct sync s = { .d = d, .store = store, .entries = json_object_get(list, "entries"),
			  .present = json_object(), .remove = STRBUF_INIT, .writes = json_array(),
			  .out = out, .progress = progress, .progress_ctx = progress_ctx };
	struct strbuf purpose = STRBUF_INIT, listing = STRBUF_INIT;
	strbuf_addf(&purpose, "sync of volume %s from backup %s", volume, id);
	const char *cmd[] = { "sh", "-c", sync_script, NULL };
	json_t *mounts = json_pack("[{s:s, s:s, s:s}]", "Type", "volume", "Source", volume, "Target",
				   "/media");
	struct helper h = { .image = image, .user = "0", .command = cmd, .mounts = mounts,
			    .purpose = strbuf_cstr(&purpose) };
	json_t *body = json_pack("{s:s, s:O}", "Name", volume, "Labels", labels);
	char *helper = NULL;
	long status;
	int rc = -1;
	if (docker_request(d, "POST", "/volumes/create", body, NULL, &status, err) < 0 ||
	    helper_create(d, &h, &helper, err) < 0 || helper_run(d, &h, helper, err) < 0 ||
	    helper_output(d, helper, true, &listing) < 0)
		goto out;
	parse_listing(&s, strbuf_cstr(&listing));
	plan_sync(&s);
	if (s.remove.len && (tar_into_container(d, helper, "/", write_remove_list, &s, err) < 0 ||
			     helper_run(d, &h, helper, err) < 0))
		goto out;
	if (json_array_size(s.writes) &&
	    tar_into_container(d, helper, "/media", write_files, &s, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && !strstr(error_msg(err), h.purpose))
		error_wrap(err, "%s", h.purpose);
	helper_remove(d, helper);
	free(helper);
	json_decref(body);
	json_decref(mounts);
	json_decref(s.present);
	json_decref(s.writes);
	strbuf_release(&s.remove);
	strbuf_release(&purpose);
	strbuf_release(&listing);
	json_decref(list);
	out->seconds = clock_seconds() - started;
	return rc;
}

/* ---- the steps, for status ---- */

static void steps_dir(struct strbuf *sb, const char *store, const char *dependency)
{
	strbuf_addf(sb, "%s/.replicas/", store);
	for (const char *c = dependency; *c; c++)
		strbuf_addc(sb, *c == '/' ? '.' : *c);
}

int replica_record_step(const char *store, const char *dependency, const char *step,
			const char *component, const char *backup, double seconds, const char *note,
			struct error *err)
{
	if (!store)
		return 0;
	char finished[UTC_TIME_SIZE];
	utc_time_format((long long)time(NULL), finished);
	json_t *j = json_pack("{s:s, s:s, s:s, s:f, s:s, s:s}", "step", step, "component", component,
			      "backup", backup, "seconds", seconds, "finished", finished, "note",
			      note ? note : "");
	struct strbuf dir = STRBUF_INIT, tmp = STRBUF_INIT, path = STRBUF_INIT;
	strbuf_addf(&dir, "%s/.replicas", store);
	mkdir(strbuf_cstr(&dir), 0750);
	strbuf_reset(&dir);
	steps_dir(&dir, store, dependency);
	mkdir(strbuf_cstr(&dir), 0750);
	strbuf_addf(&path, "%s/%s.", strbuf_cstr(&dir), step);
	for (const char *c = component; *c; c++)
		strbuf_addc(&path, *c == '/' ? '.' : *c);
	strbuf_adds(&path, ".json");
	strbuf_addf(&tmp, "%s.%ld", strbuf_cstr(&path), (long)getpid());
	int rc = json_dump_file(j, strbuf_cstr(&tmp), JSON_COMPACT) == 0 &&
			 rename(strbuf_cstr(&tmp), strbuf_cstr(&path)) == 0
		 ? 0
		 : error_set(err, "cannot write %s: %s", strbuf_cstr(&path), strerror(errno));
	if (rc < 0)
		unlink(strbuf_cstr(&tmp));
	json_decref(j);
	strbuf_release(&dir);
	strbuf_release(&tmp);
	strbuf_release(&path);
	return rc;
}

static int by_finished(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(str(x, "finished"), str(y, "finished"));
	return c ? c : strcmp(str(x, "step"), str(y, "step"));
}

json_t *replica_steps(const char *store, const char *dependency)
{
	json_t *out = json_array();
	if (!store)
		return out;
	struct strbuf dir = STRBUF_INIT, path = STRBUF_INIT;
	steps_dir(&dir, store, dependency);
	DIR *d = opendir(strbuf_cstr(&dir));
	struct dirent *e;
	VEC(json_t *) steps = { 0 };
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", strbuf_cstr(&dir), e->d_name);
		json_t *j = json_load_file(strbuf_cstr(&path), 0, NULL);
		if (j && str(j, "finished") && str(j, "step"))
			vec_push(&steps, j);
		else
			json_decref(j);
	}
	if (d)
		closedir(d);
	if (steps.len)
		qsort(steps.items, steps.len, sizeof(*steps.items), by_finished);
	for (size_t i = 0; i < steps.len; i++)
		json_array_append_new(out, steps.items[i]);
	vec_release(&steps);
	strbuf_release(&dir);
	strbuf_release(&path);
	return out;
}
