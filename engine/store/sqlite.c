/* SQLite backend of the store: one database file in WAL mode; every write is
 * a BEGIN IMMEDIATE transaction, so concurrent processes make consecutive
 * generations. Object versions carry [gen_from, gen_to) so any generation's
 * objects can be listed without copying them per generation. Not for sharing
 * one connection between threads. */
#include "store_backend.h"
#include "base/alloc.h"
#include "base/strbuf.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long a writer waits for another one before giving up. */
#define BUSY_TIMEOUT_MS 10000

struct sqlite_store {
	struct store base;
	struct store_txn txn;
	struct timespec busy_since; /* when the current wait for a lock began */
	sqlite3 *db;
	char *path;
	bool in_txn;
	int apply_lock; /* fd of PATH.apply-lock while the converge lock is held, else -1 */
};

/* migrations[i] takes the schema from version i to i + 1 (PRAGMA
 * user_version); a new version is one more entry, never an edit. */
static const char *const migrations[] = {
	"CREATE TABLE generations ("
	"  id INTEGER PRIMARY KEY, user TEXT NOT NULL, verb TEXT NOT NULL,"
	"  time INTEGER NOT NULL, state TEXT);"
	/* One row per version of an object, live from gen_from until gen_to. */
	"CREATE TABLE objects ("
	"  kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,"
	"  gen_from INTEGER NOT NULL REFERENCES generations(id),"
	"  gen_to INTEGER REFERENCES generations(id),"
	"  CHECK (gen_to IS NULL OR gen_to > gen_from));"
	"CREATE INDEX objects_key ON objects(kind, ns, name, gen_from);"
	"CREATE UNIQUE INDEX objects_live ON objects(kind, ns, name) WHERE gen_to IS NULL;"
	"CREATE TABLE changes ("
	"  generation INTEGER NOT NULL REFERENCES generations(id),"
	"  kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
	"  change TEXT NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),"
	"  PRIMARY KEY (generation, kind, ns, name)) WITHOUT ROWID;"
	"CREATE TABLE actions ("
	"  id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, action TEXT NOT NULL,"
	"  instance TEXT NOT NULL, status TEXT NOT NULL, message TEXT,"
	"  started INTEGER NOT NULL, finished INTEGER NOT NULL);"
	"CREATE INDEX actions_generation ON actions(generation, id);",
	/* 2: the server's data. */
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY, user TEXT NOT NULL, name TEXT NOT NULL,"
	"  hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,"
	"  last_used INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE deliveries ("
	"  source TEXT NOT NULL, id TEXT NOT NULL, received INTEGER NOT NULL,"
	"  PRIMARY KEY (source, id)) WITHOUT ROWID;"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT,"
	"  status TEXT NOT NULL"
	"   CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),"
	"  cancel_requested INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
	"  not_before INTEGER NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	"  message TEXT);"
	"CREATE INDEX jobs_queue ON jobs(status, not_before, id);"
	"CREATE INDEX jobs_key ON jobs(key, status, id);"
	"CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated INTEGER NOT NULL)"
	"  WITHOUT ROWID;",
	/* 3: where each object was written. */
	"ALTER TABLE objects ADD COLUMN origin TEXT;",
	/* 4: jobs are leased to the server running them. */
	("ALTER TABLE jobs ADD COLUMN owner TEXT;"
	 "ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;"),
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(*migrations)))

static struct sqlite_store *of(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* The kind of SQLite's last failure: what a caller may wait out, what the
 * disk did, or anything else. */
static enum error_kind kind_of(sqlite3 *db)
{
	switch (sqlite3_errcode(db)) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ERROR_BUSY;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return ERROR_IO;
	default:
		return ERROR_FAILED;
	}
}

/* "cannot list objects in state database .cairn/state.db: disk I/O error" */
static int fail(struct sqlite_store *st, struct error *err, const char *what)
{
	return error_set_kind(err, kind_of(st->db), "%s in state database %s: %s", what, st->path,
			      sqlite3_errmsg(st->db));
}

static int accepts(const char *location)
{
	return strncmp(location, "sqlite:", 7) == 0 || strstr(location, "://") == NULL;
}

/* Creates the directories above path, like mkdir -p of its dirname. */
static int make_parent_dirs(const char *path, struct error *err)
{
	char *copy = xstrdup(path);
	int rc = 0;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			rc = error_set(err, "cannot open state database %s: cannot create directory %s: %s",
				       path, copy, strerror(errno));
			break;
		}
		*p = '/';
	}
	free(copy);
	return rc;
}

static int prepare(struct sqlite_store *st, sqlite3_stmt **stmt, const char *sql, struct error *err)
{
	*stmt = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return fail(st, err, "cannot prepare a query");
	return 0;
}

/* Steps write statement q once and finalizes it; a failure says `what`.
 * *changed (unless NULL): the rows it changed. */
static int write_once(struct sqlite_store *st, sqlite3_stmt *q, const char *what, size_t *changed,
		      struct error *err)
{
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return fail(st, err, what);
	if (changed)
		*changed = (size_t)sqlite3_changes(st->db);
	return 0;
}

/* A column that may be NULL; sqlite's pointer, valid until the next step. */
static const char *text_or_null(sqlite3_stmt *q, int col)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? NULL
							   : (const char *)sqlite3_column_text(q, col);
}

static const char *text(sqlite3_stmt *q, int col)
{
	const char *t = text_or_null(q, col);
	return t ? t : "";
}

static int user_version(struct sqlite_store *st, int *out)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Brings the schema to SCHEMA_VERSION under the write lock, so two processes
 * opening a new database at once create it once. */
static int migrate(struct sqlite_store *st, struct error *err)
{
	int version = 0;
	if (user_version(st, &version) < 0)
		goto db_error;
	if (version == SCHEMA_VERSION)
		return 0;
	if (version > SCHEMA_VERSION)
		goto too_new;
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto db_error;
	if (user_version(st, &version) < 0)
		goto rollback;
	if (version > SCHEMA_VERSION) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		goto too_new;
	}
	for (; version < SCHEMA_VERSION; version++)
		if (sqlite3_exec(st->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK)
			goto rollback;
	/* PRAGMA takes no parameters; the number is ours, not input. */
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto rollback;
	return 0;
rollback:
	error_set(err, "cannot open state database %s: cannot create its tables: %s", st->path,
		  sqlite3_errmsg(st->db));
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
db_error:
	return error_set(err, "cannot open state database %s: %s", st->path, sqlite3_errmsg(st->db));
too_new:
	return error_set(err, "cannot open state database %s: it has schema version %d, newer than this "
			      "cairn knows (%d); upgrade cairn",
			 st->path, version, SCHEMA_VERSION);
}

/* Waits for another connection's lock in steps of at most 1 ms, up to
 * BUSY_TIMEOUT_MS. SQLite's own timeout sleeps up to 100 ms at a time, which
 * leaves a short request (a webhook delivery) waiting long after the lock
 * was released while a writer commits many small transactions. */
static int wait_while_busy(void *ctx, int count)
{
	struct sqlite_store *st = ctx;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		st->busy_since = now;
	long long waited = (now.tv_sec - st->busy_since.tv_sec) * 1000LL +
			   (now.tv_nsec - st->busy_since.tv_nsec) / 1000000;
	if (waited >= BUSY_TIMEOUT_MS)
		return 0;
	struct timespec step = { 0, count < 20 ? 100000 : 1000000 };
	nanosleep(&step, NULL);
	return 1;
}

/* WAL lets readers (log, show, plan) run while a writer commits. Switching a
 * new database to it needs the file to itself and SQLite does not wait for
 * that (no busy handler), so when two processes open a new database at once
 * the second one retries here for up to the busy timeout. */
static int use_wal(struct sqlite_store *st)
{
	int rc = SQLITE_OK;
	for (int waited = 0; waited <= BUSY_TIMEOUT_MS; waited += 10) {
		rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		sqlite3_sleep(10);
	}
	return rc;
}

static void sqlite_close(struct store *s)
{
	struct sqlite_store *st = of(s);
	if (st->in_txn)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	if (st->apply_lock >= 0)
		close(st->apply_lock);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

static int sqlite_open(struct store **out, const char *location, struct error *err)
{
	const char *path = strncmp(location, "sqlite:", 7) == 0 ? location + 7 : location;
	if (!*path)
		return error_set(err, "cannot open state database %s: no path after sqlite:", location);
	if (make_parent_dirs(path, err) < 0)
		return -1;
	struct sqlite_store *st = xcalloc(1, sizeof(*st));
	st->base.backend = &store_sqlite;
	st->txn.store = &st->base;
	st->path = xstrdup(path);
	st->apply_lock = -1;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		error_set(err, "cannot open state database %s: %s", path,
			  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_handler(st->db, wait_while_busy, st);
	/* Generations commit with FULL sync (sqlite_commit_generation): once
	 * reported, one must survive a power cut. The rest (deliveries, jobs,
	 * actions, tokens) commits with NORMAL: in WAL mode that survives the
	 * process dying, and a power cut can lose only what was written since
	 * the last generation — but a webhook delivery then costs no fsync. */
	if (use_wal(st) != SQLITE_OK ||
	    sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", NULL, NULL,
			 NULL) != SQLITE_OK) {
		error_set(err, "cannot open state database %s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (migrate(st, err) < 0)
		goto fail;
	*out = &st->base;
	return 0;
fail:
	sqlite_close(&st->base);
	return -1;
}

static int sqlite_begin(struct store *s, struct store_txn **out, struct error *err)
{
	struct sqlite_store *st = of(s);
	if (st->in_txn)
		return error_set(err, "state database %s: a transaction is already open", st->path);
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY)
		return error_set_kind(err, ERROR_BUSY,
				      "cannot take the write lock of state database %s: another "
				      "process has held it for over %d s",
				      st->path, BUSY_TIMEOUT_MS / 1000);
	if (rc != SQLITE_OK)
		return fail(st, err, "cannot take the write lock");
	st->in_txn = true;
	*out = &st->txn;
	return 0;
}

static void sqlite_abort(struct store_txn *t)
{
	struct sqlite_store *st = of(t->store);
	if (!st->in_txn)
		return;
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_txn = false;
}

static int current_generation(struct sqlite_store *st, long long *out, struct error *err)
{
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT COALESCE(MAX(id), 0) FROM generations", err) < 0)
		return -1;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : fail(st, err, "cannot read the latest generation");
}

static int sqlite_current_generation(struct store *s, long long *out, struct error *err)
{
	return current_generation(of(s), out, err);
}

static void bind_key(sqlite3_stmt *q, int first, const struct store_change *c)
{
	sqlite3_bind_text(q, first, c->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, first + 1, c->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, first + 2, c->name, -1, SQLITE_STATIC);
}

/* Steps a write statement once and makes it ready for the next binding. */
static int run(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : rc;
}

/* Records one change: its row in changes, the end of the version it
 * replaces and the new version. Returns 0, or -1 with err set. */
static int record_change(struct sqlite_store *st, sqlite3_stmt *ins_change, sqlite3_stmt *close_obj,
			 sqlite3_stmt *ins_obj, long long gen, const struct store_change *c,
			 struct error *err)
{
	const char *verb = c->change == STORE_CREATED ? "create"
			   : c->change == STORE_UPDATED ? "update"
							: "delete";
	int rc;
	sqlite3_bind_int64(ins_change, 1, gen);
	bind_key(ins_change, 2, c);
	sqlite3_bind_text(ins_change, 5, store_change_name(c->change), -1, SQLITE_STATIC);
	if ((rc = run(ins_change)) != 0) {
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return error_set(err, "%s %s/%s is changed twice in one generation", c->kind,
					 c->ns, c->name);
		return fail(st, err, "cannot record a change");
	}
	sqlite3_bind_int64(close_obj, 1, gen);
	bind_key(close_obj, 2, c);
	if (run(close_obj) != 0)
		return fail(st, err, "cannot record a change");
	int existed = sqlite3_changes(st->db) > 0;
	if (c->change == STORE_CREATED && existed)
		return error_set(err, "cannot create %s %s/%s: it already exists", c->kind, c->ns,
				 c->name);
	if (c->change != STORE_CREATED && !existed)
		return error_set(err, "cannot %s %s %s/%s: it does not exist", verb, c->kind, c->ns,
				 c->name);
	if (c->change == STORE_DELETED)
		return 0;
	if (!c->body)
		return error_set(err, "cannot %s %s %s/%s without a body", verb, c->kind, c->ns,
				 c->name);
	bind_key(ins_obj, 1, c);
	sqlite3_bind_text(ins_obj, 4, c->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins_obj, 5, gen);
	if (c->origin)
		sqlite3_bind_text(ins_obj, 6, c->origin, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(ins_obj, 6);
	if (run(ins_obj) != 0)
		return fail(st, err, "cannot record an object");
	return 0;
}

static int sqlite_commit_generation(struct store_txn *t, const char *user, const char *verb,
				    long long when, const struct store_change *changes, size_t n,
				    const char *state_json, long long *generation, struct error *err)
{
	struct sqlite_store *st = of(t->store);
	sqlite3_stmt *ins_gen = NULL, *close_obj = NULL, *ins_obj = NULL, *ins_change = NULL;
	long long gen = 0;
	int rc = -1;
	if (!st->in_txn)
		return error_set(err, "state database %s: commit without a transaction", st->path);
	/* The write lock is held since store_begin(): nobody else can take gen. */
	if (current_generation(st, &gen, err) < 0)
		goto out;
	gen++;
	if (prepare(st, &ins_gen, "INSERT INTO generations(id, user, verb, time, state) VALUES (?, ?, ?, ?, ?)", err) < 0 ||
	    prepare(st, &ins_change, "INSERT INTO changes(generation, kind, ns, name, change) VALUES (?, ?, ?, ?, ?)", err) < 0 ||
	    prepare(st, &close_obj, "UPDATE objects SET gen_to = ? WHERE kind = ? AND ns = ? AND name = ? AND gen_to IS NULL", err) < 0 ||
	    prepare(st, &ins_obj, "INSERT INTO objects(kind, ns, name, body, gen_from, origin) VALUES (?, ?, ?, ?, ?, ?)", err) < 0)
		goto out;
	sqlite3_bind_int64(ins_gen, 1, gen);
	sqlite3_bind_text(ins_gen, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins_gen, 3, verb, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins_gen, 4, when);
	if (state_json)
		sqlite3_bind_text(ins_gen, 5, state_json, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(ins_gen, 5);
	if (run(ins_gen) != 0) {
		fail(st, err, "cannot record the generation");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (record_change(st, ins_change, close_obj, ins_obj, gen, &changes[i], err) < 0)
			goto out;
	sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	int committed = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (committed != SQLITE_OK) {
		fail(st, err, "cannot commit the generation");
		goto out;
	}
	st->in_txn = false;
	*generation = gen;
	rc = 0;
out:
	sqlite3_finalize(ins_gen);
	sqlite3_finalize(ins_change);
	sqlite3_finalize(close_obj);
	sqlite3_finalize(ins_obj);
	if (rc < 0) {
		sqlite_abort(t);
		if (gen)
			error_wrap(err, "generation %lld not recorded", gen);
	}
	return rc;
}

static int sqlite_list_objects(struct store *s, long long gen, long long except, store_object_fn fn,
			       void *ctx, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	/* gen_from is at least 1, so except = -1 or 0 excludes nothing. */
	if (prepare(st, &q, "SELECT kind, ns, name, body, origin FROM objects"
			    " WHERE gen_from <= ?1 AND (gen_to IS NULL OR gen_to > ?1)"
			    " AND NOT (gen_from <= ?2 AND (gen_to IS NULL OR gen_to > ?2))"
			    " ORDER BY kind, ns, name",
		    err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, gen);
	sqlite3_bind_int64(q, 2, except);
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW)
		stop = fn(ctx, text(q, 0), text(q, 1), text(q, 2), text(q, 3), text_or_null(q, 4));
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot list objects");
}

static int sqlite_last_changes(struct store *s, const char *kind, store_changed_fn fn, void *ctx,
			       struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	/* The live version of an object began with the generation that last changed it. */
	if (prepare(st, &q, "SELECT o.ns, o.name, o.gen_from, g.time FROM objects o"
			    " JOIN generations g ON g.id = o.gen_from"
			    " WHERE o.kind = ?1 AND o.gen_to IS NULL ORDER BY o.ns, o.name",
		    err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW)
		stop = fn(ctx, text(q, 0), text(q, 1), sqlite3_column_int64(q, 2),
			  sqlite3_column_int64(q, 3));
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot list the last changes");
}

static const char generation_query[] =
	"SELECT g.id, g.user, g.verb, g.time,"
	" COALESCE(SUM(c.change = 'created'), 0), COALESCE(SUM(c.change = 'updated'), 0),"
	" COALESCE(SUM(c.change = 'deleted'), 0)"
	" FROM generations g LEFT JOIN changes c ON c.generation = g.id";

static struct store_generation generation_row(sqlite3_stmt *q)
{
	return (struct store_generation){
		.generation = sqlite3_column_int64(q, 0),
		.user = text(q, 1),
		.verb = text(q, 2),
		.time = sqlite3_column_int64(q, 3),
		.created = (size_t)sqlite3_column_int64(q, 4),
		.updated = (size_t)sqlite3_column_int64(q, 5),
		.deleted = (size_t)sqlite3_column_int64(q, 6),
	};
}

static int sqlite_log(struct store *s, store_generation_fn fn, void *ctx, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	char sql[sizeof(generation_query) + 64];
	snprintf(sql, sizeof(sql), "%s GROUP BY g.id ORDER BY g.id DESC", generation_query);
	if (prepare(st, &q, sql, err) < 0)
		return -1;
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_generation g = generation_row(q);
		stop = fn(ctx, &g);
	}
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot read the log");
}

static int sqlite_generation_get(struct store *s, long long gen, struct store_generation *out,
				 struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	char sql[sizeof(generation_query) + 64];
	snprintf(sql, sizeof(sql), "%s WHERE g.id = ? GROUP BY g.id", generation_query);
	if (prepare(st, &q, sql, err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, gen);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*out = generation_row(q);
		out->user = xstrdup(out->user);
		out->verb = xstrdup(out->verb);
	}
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return error_set_kind(err, ERROR_NOT_FOUND, "generation %lld does not exist", gen);
	return rc == SQLITE_ROW ? 0 : fail(st, err, "cannot read a generation");
}

static int sqlite_generation_changes(struct store *s, long long gen, store_change_fn fn, void *ctx,
				     struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	/* The version a change ended has gen_to = gen, the one it made gen_from = gen. */
	if (prepare(st, &q, "SELECT c.kind, c.ns, c.name, c.change, old.body, new.body FROM changes c"
			    " LEFT JOIN objects old ON old.kind = c.kind AND old.ns = c.ns"
			    "  AND old.name = c.name AND old.gen_to = c.generation"
			    " LEFT JOIN objects new ON new.kind = c.kind AND new.ns = c.ns"
			    "  AND new.name = c.name AND new.gen_from = c.generation"
			    " WHERE c.generation = ? ORDER BY c.kind, c.ns, c.name",
		    err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, gen);
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *change = text(q, 3);
		struct store_change c = {
			.kind = text(q, 0),
			.ns = text(q, 1),
			.name = text(q, 2),
			.change = strcmp(change, "created") == 0   ? STORE_CREATED
				  : strcmp(change, "updated") == 0 ? STORE_UPDATED
								   : STORE_DELETED,
			.body = text_or_null(q, 5),
		};
		stop = fn(ctx, &c, text_or_null(q, 4));
	}
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot list the changes of a generation");
}

static int sqlite_load_state(struct store *s, long long gen, char **json, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT state FROM generations WHERE id = ?", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, gen);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && text_or_null(q, 0))
		*json = xstrdup(text(q, 0));
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(st, err, "cannot read a stored state");
	return 0;
}

static int sqlite_record_action(struct store *s, const struct store_action *a, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "INSERT INTO actions(generation, action, instance, status, message, started, finished)"
			    " VALUES (?, ?, ?, ?, ?, ?, ?)", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, a->generation);
	sqlite3_bind_text(q, 2, a->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, a->instance, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, a->status, -1, SQLITE_STATIC);
	if (a->message)
		sqlite3_bind_text(q, 5, a->message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, a->started);
	sqlite3_bind_int64(q, 7, a->finished);
	return write_once(st, q, "cannot record an action", NULL, err);
}

static int sqlite_list_actions(struct store *s, long long gen, store_action_fn fn, void *ctx,
			       struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT generation, action, instance, status, message, started, finished"
			    " FROM actions WHERE generation = ? ORDER BY id", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, gen);
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_action a = {
			.generation = sqlite3_column_int64(q, 0),
			.action = text(q, 1),
			.instance = text(q, 2),
			.status = text(q, 3),
			.message = text_or_null(q, 4),
			.started = sqlite3_column_int64(q, 5),
			.finished = sqlite3_column_int64(q, 6),
		};
		stop = fn(ctx, &a);
	}
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot list actions");
}

/* An flock on a file beside the database: the kernel releases it when the
 * process dies, so a killed apply never leaves the lock behind. */
static int sqlite_lock_apply(struct store *s, bool wait, struct error *err)
{
	struct sqlite_store *st = of(s);
	if (st->apply_lock >= 0)
		return 0;
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "%s.apply-lock", st->path);
	int fd = open(strbuf_cstr(&p), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		error_set(err, "cannot open %s: %s", strbuf_cstr(&p), strerror(errno));
		strbuf_release(&p);
		return -1;
	}
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR && wait)
			continue;
		if (errno == EWOULDBLOCK)
			error_set_kind(err, ERROR_BUSY, "another apply is running on state database %s",
				       st->path);
		else
			error_set_kind(err, ERROR_IO, "cannot lock %s: %s", strbuf_cstr(&p),
				       strerror(errno));
		close(fd);
		strbuf_release(&p);
		return -1;
	}
	strbuf_release(&p);
	st->apply_lock = fd;
	return 0;
}

static void sqlite_unlock_apply(struct store *s)
{
	struct sqlite_store *st = of(s);
	if (st->apply_lock >= 0) {
		close(st->apply_lock); /* releases the flock */
		st->apply_lock = -1;
	}
}

/* ---- Server data ---- */

/* A write of several statements in its own BEGIN IMMEDIATE transaction, or
 * inside the one store_begin() opened. */
static int own_begin(struct sqlite_store *st, bool *own, struct error *err)
{
	*own = !st->in_txn;
	if (!*own)
		return 0;
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY)
		return error_set_kind(err, ERROR_BUSY,
				      "cannot take the write lock of state database %s: another "
				      "process has held it for over %d s",
				      st->path, BUSY_TIMEOUT_MS / 1000);
	return rc == SQLITE_OK ? 0 : fail(st, err, "cannot take the write lock");
}

/* Commits (rc 0) or rolls back our own transaction; returns rc, or -1 when
 * the commit fails. */
static int own_end(struct sqlite_store *st, bool own, int rc, struct error *err)
{
	if (!own)
		return rc;
	if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = fail(st, err, "cannot commit");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	} else if (rc != 0) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

static void bind_text_or_null(sqlite3_stmt *q, int col, const char *v)
{
	if (v)
		sqlite3_bind_text(q, col, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, col);
}

static int sqlite_token_add(struct store *s, const char *user, const char *name, const char *hash,
			    long long *id, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "INSERT INTO tokens(user, name, hash, created) VALUES (?, ?, ?, unixepoch())",
		    err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return error_set(err, "cannot add a token for %s: a token with the same hash exists", user);
	if (rc != SQLITE_DONE)
		return fail(st, err, "cannot add a token");
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

static int sqlite_token_use(struct store *s, const char *hash, long long now, struct store_token *t,
			    bool *found, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT id, user, name, created, last_used FROM tokens"
			    " WHERE hash = ? AND NOT revoked", err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		t->id = sqlite3_column_int64(q, 0);
		t->user = xstrdup(text(q, 1));
		t->name = xstrdup(text(q, 2));
		t->created = sqlite3_column_int64(q, 3);
		t->last_used = sqlite3_column_int64(q, 4);
		*found = true;
		rc = sqlite3_step(q);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return fail(st, err, "cannot look up a token");
	if (!*found)
		return 0;
	if (prepare(st, &q, "UPDATE tokens SET last_used = ? WHERE id = ?", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, now);
	sqlite3_bind_int64(q, 2, t->id);
	return write_once(st, q, "cannot stamp a token's use", NULL, err);
}

static int sqlite_token_revoke(struct store *s, long long id, bool *found, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "UPDATE tokens SET revoked = 1 WHERE id = ?", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	size_t changed = 0;
	int rc = write_once(st, q, "cannot revoke a token", &changed, err);
	*found = rc == 0 && changed > 0;
	return rc;
}

static int sqlite_token_list(struct store *s, store_token_fn fn, void *ctx, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT id, user, name, created, last_used, revoked FROM tokens ORDER BY id",
		    err) < 0)
		return -1;
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_token t = {
			.id = sqlite3_column_int64(q, 0),
			.user = text(q, 1),
			.name = text(q, 2),
			.created = sqlite3_column_int64(q, 3),
			.last_used = sqlite3_column_int64(q, 4),
			.revoked = sqlite3_column_int(q, 5) != 0,
		};
		stop = fn(ctx, &t);
	}
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot list tokens");
}

static int sqlite_work_begin(struct store *s, struct error *err)
{
	struct sqlite_store *st = of(s);
	bool own;
	if (st->in_txn)
		return error_set(err, "state database %s: a transaction is already open", st->path);
	if (own_begin(st, &own, err) < 0)
		return -1;
	st->in_txn = true;
	return 0;
}

static int sqlite_work_commit(struct store *s, struct error *err)
{
	struct sqlite_store *st = of(s);
	if (!st->in_txn)
		return error_set(err, "state database %s: no transaction is open", st->path);
	st->in_txn = false;
	return own_end(st, true, 0, err);
}

static void sqlite_work_abort(struct store *s)
{
	struct sqlite_store *st = of(s);
	if (!st->in_txn)
		return;
	st->in_txn = false;
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sqlite_delivery_claim(struct store *s, const char *source, const char *id, long long now,
				 bool *fresh, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	/* The primary key makes the insert the claim: only one writer can add the row. */
	if (prepare(st, &q, "INSERT INTO deliveries(source, id, received) VALUES (?, ?, ?)"
			    " ON CONFLICT DO NOTHING", err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, now);
	size_t changed = 0;
	int rc = write_once(st, q, "cannot record a delivery", &changed, err);
	*fresh = rc == 0 && changed > 0;
	return rc;
}

#define JOB_COLUMNS                                                                              \
	"id, kind, key, payload, status, cancel_requested, attempts, not_before, created, updated, " \
	"message, owner, lease_until"

/* A row of JOB_COLUMNS into heap copies. */
static void job_row(sqlite3_stmt *q, struct store_job *out)
{
	struct store_job j = {
		.id = sqlite3_column_int64(q, 0),
		.kind = text(q, 1),
		.key = text(q, 2),
		.payload = text_or_null(q, 3),
		.status = STORE_JOB_QUEUED,
		.cancel_requested = sqlite3_column_int(q, 5) != 0,
		.attempts = sqlite3_column_int(q, 6),
		.not_before = sqlite3_column_int64(q, 7),
		.created = sqlite3_column_int64(q, 8),
		.updated = sqlite3_column_int64(q, 9),
		.message = text_or_null(q, 10),
		.owner = text_or_null(q, 11),
		.lease_until = sqlite3_column_int64(q, 12),
	};
	/* The CHECK constraint keeps status one of the names. */
	store_job_status_parse(text(q, 4), &j.status);
	store_job_copy(out, &j);
}

static int sqlite_job_enqueue(struct store *s, const char *kind, const char *key, const char *payload,
			      bool supersede, long long now, long long *id, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *ins = NULL, *cancel = NULL, *flag = NULL;
	bool own;
	int rc = -1;
	if (own_begin(st, &own, err) < 0)
		return -1;
	if (prepare(st, &ins, "INSERT INTO jobs(kind, key, payload, status, not_before, created, updated)"
			      " VALUES (?1, ?2, ?3, 'queued', ?4, ?4, ?4)", err) < 0)
		goto out;
	sqlite3_bind_text(ins, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, key, -1, SQLITE_STATIC);
	bind_text_or_null(ins, 3, payload);
	sqlite3_bind_int64(ins, 4, now);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		fail(st, err, "cannot queue a job");
		goto out;
	}
	long long job = sqlite3_last_insert_rowid(st->db);
	if (supersede) {
		char message[64];
		snprintf(message, sizeof(message), "superseded by job %lld", job);
		if (prepare(st, &cancel, "UPDATE jobs SET status = 'cancelled', message = ?1, updated = ?2"
					 " WHERE key = ?3 AND status = 'queued' AND id <> ?4", err) < 0 ||
		    prepare(st, &flag, "UPDATE jobs SET cancel_requested = 1, updated = ?1"
				       " WHERE key = ?2 AND status = 'running'", err) < 0)
			goto out;
		sqlite3_bind_text(cancel, 1, message, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(cancel, 2, now);
		sqlite3_bind_text(cancel, 3, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(cancel, 4, job);
		sqlite3_bind_int64(flag, 1, now);
		sqlite3_bind_text(flag, 2, key, -1, SQLITE_STATIC);
		if (sqlite3_step(cancel) != SQLITE_DONE || sqlite3_step(flag) != SQLITE_DONE) {
			fail(st, err, "cannot supersede jobs");
			goto out;
		}
	}
	*id = job;
	rc = 0;
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(cancel);
	sqlite3_finalize(flag);
	return own_end(st, own, rc, err);
}

/* Puts running jobs back in the queue: owner's or, owner NULL, those whose
 * lease ended before now. */
static int requeue(struct sqlite_store *st, const char *owner, long long now, size_t *n,
		   struct error *err)
{
	sqlite3_stmt *q;
	if (prepare(st, &q, owner ? "UPDATE jobs SET status = 'queued', not_before = ?1,"
				    " updated = ?1, owner = NULL,"
				    " message = 'put back by ' || owner || ' as it stopped'"
				    " WHERE status = 'running' AND owner = ?2"
				  : "UPDATE jobs SET status = 'queued', not_before = ?1,"
				    " updated = ?1, owner = NULL, message = 'taken back: the lease of '"
				    " || COALESCE(owner, 'an older server') || ' ended'"
				    " WHERE status = 'running' AND lease_until < ?1",
		    err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, now);
	if (owner)
		sqlite3_bind_text(q, 2, owner, -1, SQLITE_STATIC);
	return write_once(st, q, "cannot requeue running jobs", n, err);
}

static int sqlite_job_claim(struct store *s, long long now, const char *owner,
			    long long lease_until, struct store_job *out, bool *found,
			    struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q = NULL;
	bool own;
	size_t expired;
	int rc = -1;
	/* BEGIN IMMEDIATE: the choice and the update happen under the write
	 * lock, so two processes never claim the same job. A job is a candidate
	 * only when it is the oldest unfinished one of its key. */
	if (own_begin(st, &own, err) < 0)
		return -1;
	if (requeue(st, NULL, now, &expired, err) < 0)
		goto out;
	if (prepare(st, &q, "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
			    " updated = ?1, owner = ?2, lease_until = ?3"
			    " WHERE id = (SELECT j.id FROM jobs j WHERE j.status = 'queued'"
			    "  AND j.not_before <= ?1 AND NOT EXISTS (SELECT 1 FROM jobs o"
			    "   WHERE o.key = j.key AND (o.status = 'running'"
			    "    OR (o.status = 'queued' AND o.id < j.id)))"
			    "  ORDER BY j.id LIMIT 1)"
			    " RETURNING " JOB_COLUMNS, err) < 0)
		goto out;
	sqlite3_bind_int64(q, 1, now);
	sqlite3_bind_text(q, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, lease_until);
	int step = sqlite3_step(q);
	if (step == SQLITE_ROW) {
		job_row(q, out);
		*found = true;
		step = sqlite3_step(q);
	}
	if (step != SQLITE_DONE) {
		if (*found)
			store_job_release(out);
		*found = false;
		fail(st, err, "cannot claim a job");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(q);
	rc = own_end(st, own, rc, err);
	if (rc < 0 && *found) {
		store_job_release(out);
		*found = false;
	}
	return rc;
}

static int sqlite_job_renew(struct store *s, const char *owner, long long lease_until,
			    long long now, size_t *n, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "UPDATE jobs SET lease_until = ?2 WHERE status = 'running' AND owner = ?1",
		    err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, lease_until);
	return write_once(st, q, "cannot renew the leases of running jobs", n, err);
}

/* Why job id cannot be finished by owner: it does not exist, is not
 * running, or another owner took it over. */
static int job_not_running(struct sqlite_store *st, long long id, const char *owner,
			   struct error *err)
{
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT status, owner FROM jobs WHERE id = ?", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && strcmp(text(q, 0), "running") == 0)
		error_set(err, "job %lld is run by %s now, not by %s", id,
			  text_or_null(q, 1) ? text(q, 1) : "nobody", owner);
	else if (rc == SQLITE_ROW)
		error_set(err, "job %lld is not running (it is %s)", id, text(q, 0));
	else if (rc == SQLITE_DONE)
		error_set_kind(err, ERROR_NOT_FOUND, "job %lld does not exist", id);
	else
		fail(st, err, "cannot read a job");
	sqlite3_finalize(q);
	return -1;
}

static int sqlite_job_finish(struct store *s, long long id, const char *owner,
			     enum store_job_status status, const char *message, long long not_before,
			     long long now, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	/* A retry leaves the job to whoever claims it next; an end keeps who ran it. */
	if (prepare(st, &q, "UPDATE jobs SET status = ?1, message = ?2, updated = ?3,"
			    " not_before = CASE WHEN ?1 = 'queued' THEN ?4 ELSE not_before END,"
			    " owner = CASE WHEN ?1 = 'queued' THEN NULL ELSE owner END"
			    " WHERE id = ?5 AND status = 'running' AND owner = ?6", err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, store_job_status_name(status), -1, SQLITE_STATIC);
	bind_text_or_null(q, 2, message);
	sqlite3_bind_int64(q, 3, now);
	sqlite3_bind_int64(q, 4, not_before);
	sqlite3_bind_int64(q, 5, id);
	sqlite3_bind_text(q, 6, owner, -1, SQLITE_STATIC);
	size_t changed = 0;
	if (write_once(st, q, "cannot update a job", &changed, err) < 0)
		return -1;
	return changed ? 0 : job_not_running(st, id, owner, err);
}

static int sqlite_job_get(struct store *s, long long id, struct store_job *out, bool *found,
			  struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		job_row(q, out);
		*found = true;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(st, err, "cannot read a job");
}

static int sqlite_job_requeue(struct store *s, const char *owner, long long now, size_t *n,
			      struct error *err)
{
	return requeue(of(s), owner, now, n, err);
}

static int sqlite_job_list(struct store *s, size_t limit, store_job_fn fn, void *ctx,
			   struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT " JOB_COLUMNS " FROM jobs ORDER BY id DESC LIMIT ?", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, limit ? (long long)limit : -1);
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_job j;
		job_row(q, &j);
		stop = fn(ctx, &j);
		store_job_release(&j);
	}
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot list jobs");
}

static int sqlite_kv_set(struct store *s, const char *key, const char *value, long long now,
			 struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, value ? "INSERT INTO kv(key, value, updated) VALUES (?1, ?2, ?3)"
				    " ON CONFLICT(key) DO UPDATE SET value = ?2, updated = ?3"
				  : "DELETE FROM kv WHERE key = ?1",
		    err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if (value) {
		sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, now);
	}
	return write_once(st, q, "cannot set a value", NULL, err);
}

static int sqlite_kv_get(struct store *s, const char *key, char **value, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT value FROM kv WHERE key = ?", err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*value = xstrdup(text(q, 0));
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(st, err, "cannot get a value");
}

static int sqlite_kv_advance(struct store *s, const char *key, const char *value, long long now,
			     bool *advanced, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	/* One writer at a time: the comparison and the write are one step. */
	if (prepare(st, &q, "INSERT INTO kv(key, value, updated) VALUES (?1, ?2, ?3)"
			    " ON CONFLICT(key) DO UPDATE SET value = ?2, updated = ?3"
			    " WHERE kv.value < ?2", err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, now);
	size_t changed = 0;
	int rc = write_once(st, q, "cannot advance a value", &changed, err);
	*advanced = rc == 0 && changed > 0;
	return rc;
}

static int sqlite_kv_list(struct store *s, const char *prefix, store_kv_fn fn, void *ctx,
			  struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	/* substr, not LIKE: a prefix may hold % and _ */
	if (prepare(st, &q, "SELECT key, value FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
		    err) < 0)
		return -1;
	sqlite3_bind_text(q, 1, prefix, -1, SQLITE_STATIC);
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW)
		stop = fn(ctx, text(q, 0), text(q, 1));
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : fail(st, err, "cannot list values");
}

const struct store_backend store_sqlite = {
	.name = "sqlite",
	.accepts = accepts,
	.open = sqlite_open,
	.close = sqlite_close,
	.begin = sqlite_begin,
	.abort = sqlite_abort,
	.commit_generation = sqlite_commit_generation,
	.current_generation = sqlite_current_generation,
	.list_objects = sqlite_list_objects,
	.last_changes = sqlite_last_changes,
	.log = sqlite_log,
	.generation_get = sqlite_generation_get,
	.generation_changes = sqlite_generation_changes,
	.load_state = sqlite_load_state,
	.record_action = sqlite_record_action,
	.list_actions = sqlite_list_actions,
	.lock_apply = sqlite_lock_apply,
	.unlock_apply = sqlite_unlock_apply,
	.token_add = sqlite_token_add,
	.token_use = sqlite_token_use,
	.token_revoke = sqlite_token_revoke,
	.token_list = sqlite_token_list,
	.work_begin = sqlite_work_begin,
	.work_commit = sqlite_work_commit,
	.work_abort = sqlite_work_abort,
	.delivery_claim = sqlite_delivery_claim,
	.job_enqueue = sqlite_job_enqueue,
	.job_claim = sqlite_job_claim,
	.job_renew = sqlite_job_renew,
	.job_finish = sqlite_job_finish,
	.job_get = sqlite_job_get,
	.job_requeue = sqlite_job_requeue,
	.job_list = sqlite_job_list,
	.kv_set = sqlite_kv_set,
	.kv_get = sqlite_kv_get,
	.kv_advance = sqlite_kv_advance,
	.kv_list = sqlite_kv_list,
};
