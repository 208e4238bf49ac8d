/* Creating, listing, showing and deleting snapshots. */
#include "snapshot.h"

#include "anon.h"
#include "internal.h"
#include "catalog.h"
#include "dump.h"
#include "storage.h"
#include "subset.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/lazy/pq.h"
#include "base/run.h"
#include "base/sha256.h"
#include "base/strbuf.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A whole file into sb, without trailing newlines. */
static int read_secret(const char *path, const char *what, struct strbuf *sb, struct error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return error_set(err, "cannot read %s %s: %s", what, path, strerror(errno));
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && sb->len < (1 << 20))
		strbuf_add(sb, buf, n);
	fclose(f);
	while (sb->len && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == '\r'))
		strbuf_truncate(sb, sb->len - 1);
	return 0;
}

PGconn *sn_connect(const char *url, const char *password, struct error *err)
{
	/* A NULL value is left to libpq's defaults (PGPASSWORD, PGPASSFILE). */
	const char *keys[] = { "dbname", "password", "application_name", "client_encoding", NULL };
	const char *vals[] = { url, password && *password ? password : NULL, "cairn snapshot", "UTF8",
			       NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		/* A password given in the URL is not repeated in messages. */
		struct strbuf shown = STRBUF_INIT;
		const char *scheme = strstr(url, "://");
		const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
		const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
		if (colon) {
			strbuf_add(&shown, url, (size_t)(colon - url));
			strbuf_addf(&shown, ":***%s", at);
		} else {
			strbuf_adds(&shown, url);
		}
		error_set(err, "cannot connect to %s: %s", strbuf_cstr(&shown), PQerrorMessage(conn));
		strbuf_release(&shown);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

int sn_exec(PGconn *conn, const char *sql, char **value, struct error *err)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = error_set(err, "%s", PQresultErrorMessage(r));
	else if (value)
		*value = PQntuples(r) ? xstrdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	return rc;
}

int sn_run_client(const char *const argv[], const char *password, struct error *err)
{
	if (password && *password)
		setenv("PGPASSWORD", password, 1);
	struct strbuf out = STRBUF_INIT;
	int status = 0;
	int rc = run_capture(argv, &out, &status, err);
	if (password && *password)
		unsetenv("PGPASSWORD");
	if (rc == 0 && status != 0)
		rc = error_set(err, "%s failed (exit %d): %s", argv[0], status, strbuf_cstr(&out));
	strbuf_release(&out);
	return rc;
}

/* pg_dump's schema, before and after the data, as of the snapshot's
 * transaction (its exported snapshot), appended to sb: one pg_dump of the
 * schema in its archive format, split by pg_restore, which needs no
 * connection. */
static int dump_schema(const char *url, const char *password, const char *pgsnap,
		       struct strbuf *sb, struct error *err)
{
	static const char *const sections[] = { "--section=pre-data", "--section=post-data" };
	char archive[] = "/tmp/cairn-schema-XXXXXX", part[] = "/tmp/cairn-schema-XXXXXX";
	int fd1 = mkstemp(archive), fd2 = fd1 < 0 ? -1 : mkstemp(part);
	if (fd2 < 0) {
		int saved = errno;
		if (fd1 >= 0) {
			close(fd1);
			unlink(archive);
		}
		return error_set(err, "cannot make a temporary file: %s", strerror(saved));
	}
	close(fd1);
	close(fd2);
	char *snapopt = NULL;
	if (asprintf(&snapopt, "--snapshot=%s", pgsnap) < 0)
		abort();
	const char *dump[] = { "pg_dump", "--schema-only", "-Fc", snapopt, "-f", archive, "-d", url,
			       NULL };
	int rc = sn_run_client(dump, password, err);
	for (int i = 0; i < 2 && rc == 0; i++) {
		const char *restore[] = { "pg_restore", sections[i], "--no-owner", "--no-privileges",
					  "-f", part, archive, NULL };
		rc = sn_run_client(restore, NULL, err);
		if (rc == 0 && i == 1) {
			if (sb->len && sb->buf[sb->len - 1] != '\n')
				strbuf_addc(sb, '\n');
			strbuf_adds(sb, POST_DATA_MARK);
		}
		if (rc == 0 && strbuf_read_file(sb, part) < 0)
			rc = error_set(err, "cannot read %s: %s", part, strerror(errno));
	}
	free(snapopt);
	unlink(archive);
	unlink(part);
	return rc < 0 ? error_wrap(err, "dumping the source's schema") : 0;
}

static int write_small(struct sn_storage *st, const char *id, const char *name, const char *data,
		       size_t len, struct error *err)
{
	FILE *f = sn_storage_create(st, id, name, err);
	if (!f)
		return -1;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return error_set(err, "cannot write %s: %s", name, strerror(errno));
	}
	return sn_storage_close(f, name, err);
}

json_t *sn_read_manifest(struct sn_storage *st, const char *id, struct error *err)
{
	FILE *f = sn_storage_open(st, id, "manifest.json", NULL, err);
	if (!f)
		return NULL;
	json_error_t je;
	json_t *m = json_loadf(f, 0, &je);
	fclose(f);
	if (!m)
		error_set(err, "snapshot %s: manifest.json: %s (line %d)", id, je.text, je.line);
	return m;
}

/* "ns.name." — what ids of a dataset's snapshots start with. */
static char *id_prefix(const struct dataset *ds)
{
	char *s = NULL;
	if (asprintf(&s, "%s.%s.", ds->obj.ns->s, ds->obj.name->s) < 0)
		abort();
	return s;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The newest snapshot of the dataset before this one, or NULL. */
static char *previous_of(struct sn_storage *st, const char *prefix)
{
	char **ids;
	size_t n;
	struct error err = ERROR_INIT;
	char *found = NULL;
	if (sn_storage_list(st, &ids, &n, &err) == 0) {
		for (size_t i = n; i-- > 0 && !found;)
			if (has_prefix(ids[i], prefix))
				found = xstrdup(ids[i]);
		sn_storage_list_free(ids, n);
	}
	error_clear(&err);
	return found;
}

struct create {
	const struct dataset *ds;
	const struct snapshot_options *o;
	struct snapshot_result *res;
	struct error *err;
	struct strbuf password, key;
	PGconn *conn;
	char *pgsnap;
	struct sn_catalog cat;
	struct sn_subset sub;
	struct sn_anonymizer *an;
	struct sn_storage *st;
	char *id;
	bool begun;
	char fingerprint[65];
	json_t *tables;
};

static int make_id(struct create *c)
{
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int n = 1; n < 100; n++) {
		free(c->id);
		if ((n == 1 ? asprintf(&c->id, "%s.%s.%s", c->ds->obj.ns->s, c->ds->obj.name->s, stamp)
			    : asprintf(&c->id, "%s.%s.%s-%d", c->ds->obj.ns->s, c->ds->obj.name->s,
				       stamp, n)) < 0)
			abort();
		error_clear(c->err);
		if (sn_storage_begin(c->st, c->id, c->err) == 0) {
			c->begun = true;
			return 0;
		}
		if (!strstr(error_msg(c->err), "already exists"))
			return -1;
	}
	return -1;
}

static const char *dataset_pos(const struct dataset *ds, struct strbuf *sb)
{
	strbuf_reset(sb);
	strbuf_addf(sb, "%s:%u:%u: dataset %s/%s", ds->obj.pos.file ? ds->obj.pos.file : "policy",
		    ds->obj.pos.line, ds->obj.pos.col, ds->obj.ns->s, ds->obj.name->s);
	return strbuf_cstr(sb);
}

static int read_secrets(struct create *c)
{
	const struct dataset *ds = c->ds;
	struct strbuf where = STRBUF_INIT;
	int rc = 0;
	if (ds->password_file &&
	    read_secret(ds->password_file->s, "password_file", &c->password, c->err) < 0)
		rc = error_wrap(c->err, "%s: source", dataset_pos(ds, &where));
	if (rc == 0 && ds->key_file) {
		if (read_secret(ds->key_file->s, "key_file", &c->key, c->err) < 0)
			rc = error_wrap(c->err, "%s", dataset_pos(ds, &where));
		else if (c->key.len < 16)
			rc = error_set(c->err,
				       "%s: key_file %s holds %zu bytes: an HMAC key needs at least "
				       "16 (e.g. openssl rand -hex 32 > %s)",
				       dataset_pos(ds, &where), ds->key_file->s, c->key.len,
				       ds->key_file->s);
	}
	strbuf_release(&where);
	return rc;
}

static json_t *table_entry(struct create *c, size_t t, const char *file,
			   const struct sn_dump_result *d)
{
	const struct sn_table *tb = &c->cat.tables[t];
	json_t *cols = json_array(), *anonymized = json_array();
	for (size_t i = 0; i < tb->ncols; i++) {
		if (!sn_dump_column(&tb->cols[i]))
			continue;
		json_array_append_new(cols, json_pack("{s:s, s:s}", "name", tb->cols[i].name, "type",
						      tb->cols[i].type));
		if (sn_anonymizer_column(c->an, t, i))
			json_array_append_new(anonymized, json_string(tb->cols[i].name));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:b, s:o, s:o}", "table", tb->label,
			 "schema", tb->schema, "name", tb->name, "file", file,
			 "rows", (json_int_t)d->rows, "bytes", (json_int_t)d->bytes, "sha256",
			 d->sha256, "whole", c->sub.tables[t].all, "columns", cols, "anonymized",
			 anonymized);
}

static int write_tables(struct create *c)
{
	c->res->tables = xcalloc(c->cat.ntables ? c->cat.ntables : 1, sizeof(*c->res->tables));
	c->tables = json_array();
	for (size_t t = 0; t < c->cat.ntables; t++) {
		const struct sn_table *tb = &c->cat.tables[t];
		double start = clock_seconds();
		char *file = NULL;
		if (asprintf(&file, "%s.json.gz", tb->label) < 0)
			abort();
		FILE *f = sn_storage_create(c->st, c->id, file, c->err);
		struct sn_dump_result d = { 0 };
		int rc = f ? sn_dump_table(c->conn, &c->cat, t, &c->sub.tables[t], c->an, f, &d, c->err)
			   : -1;
		if (f && rc == 0)
			rc = sn_storage_close(f, file, c->err);
		else if (f)
			fclose(f);
		if (rc == 0)
			json_array_append_new(c->tables, table_entry(c, t, file, &d));
		free(file);
		if (rc < 0)
			return -1;
		struct snapshot_table *rt = &c->res->tables[c->res->ntables++];
		rt->table = xstrdup(tb->label);
		rt->rows = d.rows;
		rt->bytes = d.bytes;
		rt->seconds = clock_seconds() - start;
		c->res->rows += d.rows;
		c->res->bytes += d.bytes;
		if (c->o->progress)
			c->o->progress(c->o->progress_ctx, tb->label, d.rows, d.bytes, rt->seconds);
	}
	return 0;
}

static int write_manifest(struct create *c, const char *schema_sha, double started)
{
	char created[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	char *dataset = NULL;
	if (asprintf(&dataset, "%s/%s", c->ds->obj.ns->s, c->ds->obj.name->s) < 0)
		abort();
	c->res->seconds = clock_seconds() - started;
	json_t *m = json_pack("{s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:o, s:{s:s, s:s}}",
			      "format", 1, "id", c->id, "dataset", dataset, "generation",
			      (json_int_t)c->o->generation, "created", created, "build",
			      c->o->build ? c->o->build : "unknown", "source", c->ds->source_url->s,
			      "source_schema", c->fingerprint, "rows", (json_int_t)c->res->rows,
			      "bytes", (json_int_t)c->res->bytes, "seconds", c->res->seconds,
			      "tables", json_incref(c->tables), "schema", "file", "schema.sql",
			      "sha256", schema_sha);
	free(dataset);
	/* the component whose image tag the build is: the one a demo must run
	 * at that tag (the docker driver checks) */
	if (c->ds->build_component)
		json_object_set_new(m, "build_component", json_string(c->ds->build_component->s));
	char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(m);
	int rc = write_small(c->st, c->id, "manifest.json", text, strlen(text), c->err);
	free(text);
	return rc;
}

/* Deletes the oldest snapshots of the dataset beyond `keep`. */
static void prune(struct create *c)
{
	char *prefix = id_prefix(c->ds);
	char **ids;
	size_t n;
	struct error err = ERROR_INIT;
	if (sn_storage_list(c->st, &ids, &n, &err) == 0) {
		size_t mine = 0;
		for (size_t i = 0; i < n; i++)
			mine += has_prefix(ids[i], prefix);
		for (size_t i = 0; i < n && mine > (size_t)c->ds->keep; i++) {
			if (!has_prefix(ids[i], prefix) || !strcmp(ids[i], c->id))
				continue;
			if (sn_storage_remove(c->st, ids[i], &err) == 0) {
				c->res->pruned = xrealloc(c->res->pruned,
							  (c->res->npruned + 1) * sizeof(char *));
				c->res->pruned[c->res->npruned++] = xstrdup(ids[i]);
				mine--;
			}
			error_clear(&err);
		}
		sn_storage_list_free(ids, n);
	}
	error_clear(&err);
	free(prefix);
}

static int create_run(struct create *c)
{
	const struct dataset *ds = c->ds;
	double started = clock_seconds();
	if (read_secrets(c) < 0)
		return -1;
	c->st = sn_storage_local(c->o->store, c->err);
	if (!c->st)
		return -1;
	c->conn = sn_connect(ds->source_url->s, c->password.buf, c->err);
	if (!c->conn)
		return -1;
	/* Every read, pg_dump's too, sees one snapshot of the source. */
	if (sn_exec(c->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL, c->err) < 0 ||
	    sn_exec(c->conn, "SELECT pg_export_snapshot()", &c->pgsnap, c->err) < 0 ||
	    sn_catalog_read(c->conn, &c->cat, c->err) < 0)
		return -1;
	sn_catalog_fingerprint(&c->cat, c->fingerprint);
	if (sn_subset_compute(c->conn, &c->cat, ds, &c->sub, c->err) < 0 ||
	    sn_anonymizer_new(ds, &c->cat, (const unsigned char *)c->key.buf, c->key.len, &c->an,
			      &c->res->warnings, c->err) < 0)
		return -1;
	c->res->rounds = c->sub.rounds;
	c->res->queries = c->sub.queries;

	char *prefix = id_prefix(ds);
	char *previous = previous_of(c->st, prefix);
	free(prefix);
	if (previous) {
		struct error ignored = ERROR_INIT;
		json_t *m = sn_read_manifest(c->st, previous, &ignored);
		const char *fp = json_string_value(json_object_get(m, "source_schema"));
		if (fp && strcmp(fp, c->fingerprint) != 0)
			c->res->schema_changed_since = xstrdup(previous);
		json_decref(m);
		error_clear(&ignored);
		free(previous);
	}

	if (make_id(c) < 0)
		return -1;
	struct strbuf schema = STRBUF_INIT;
	char schema_sha[65];
	int rc = dump_schema(ds->source_url->s, c->password.buf, c->pgsnap, &schema, c->err);
	if (rc == 0) {
		sha256_hex(schema.buf, schema.len, schema_sha);
		rc = write_small(c->st, c->id, "schema.sql", schema.buf, schema.len, c->err);
	}
	strbuf_release(&schema);
	if (rc < 0 || write_tables(c) < 0)
		return -1;
	const char *build = c->o->build ? c->o->build : "unknown";
	struct strbuf b = STRBUF_INIT;
	strbuf_addf(&b, "%s\n", build);
	rc = write_small(c->st, c->id, "build.txt", b.buf, b.len, c->err);
	strbuf_release(&b);
	/* The manifest last: a storage that cannot rename (a bucket) lists a
	 * snapshot by its manifest. */
	if (rc < 0 || write_manifest(c, schema_sha, started) < 0 ||
	    sn_storage_commit(c->st, c->id, c->err) < 0)
		return -1;
	c->begun = false;
	c->res->id = xstrdup(c->id);
	sn_exec(c->conn, "COMMIT", NULL, c->err);
	prune(c);
	return 0;
}

int snapshot_create(const struct dataset *ds, const struct snapshot_options *o,
		    struct snapshot_result *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	struct create c = { .ds = ds, .o = o, .res = out, .err = err };
	int rc = create_run(&c);
	if (c.begun)
		sn_storage_abort(c.st, c.id);
	if (rc < 0 && !strstr(error_msg(err), "dataset "))
		error_wrap(err, "dataset %s/%s", ds->obj.ns->s, ds->obj.name->s);
	json_decref(c.tables);
	free(c.id);
	sn_storage_free(c.st);
	sn_anonymizer_free(c.an);
	sn_subset_release(&c.sub);
	sn_catalog_release(&c.cat);
	free(c.pgsnap);
	PQfinish(c.conn);
	/* The password and the key do not stay in freed memory. */
	if (c.password.buf)
		OPENSSL_cleanse(c.password.buf, c.password.len);
	if (c.key.buf)
		OPENSSL_cleanse(c.key.buf, c.key.len);
	strbuf_release(&c.password);
	strbuf_release(&c.key);
	return rc;
}

void snapshot_result_release(struct snapshot_result *r)
{
	free(r->id);
	for (size_t i = 0; i < r->ntables; i++)
		free(r->tables[i].table);
	free(r->tables);
	diags_release(&r->warnings);
	free(r->schema_changed_since);
	for (size_t i = 0; i < r->npruned; i++)
		free(r->pruned[i]);
	free(r->pruned);
	memset(r, 0, sizeof(*r));
}

/* ---- list, show, delete ---- */

int snapshot_list(const char *store, const char *dataset, json_t **out, struct error *err)
{
	*out = NULL;
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	char **ids;
	size_t n;
	if (sn_storage_list(st, &ids, &n, err) < 0) {
		sn_storage_free(st);
		return -1;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		struct error ignored = ERROR_INIT;
		json_t *m = sn_read_manifest(st, ids[i], &ignored);
		error_clear(&ignored);
		if (!m)
			continue;
		const char *ds = json_string_value(json_object_get(m, "dataset"));
		if (!dataset || (ds && !strcmp(ds, dataset)))
			json_array_append(list, m);
		json_decref(m);
	}
	sn_storage_list_free(ids, n);
	sn_storage_free(st);
	*out = list;
	return 0;
}

int snapshot_show(const char *store, const char *id, json_t **out, struct error *err)
{
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	*out = sn_read_manifest(st, id, err);
	sn_storage_free(st);
	return *out ? 0 : -1;
}

int snapshot_delete(const char *store, const char *id, struct error *err)
{
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	int rc = sn_storage_remove(st, id, err);
	sn_storage_free(st);
	return rc;
}
