/* SQLite backend of the store: one database file, WAL mode, every write in a
 * BEGIN IMMEDIATE transaction so concurrent processes make consecutive
 * generations. Object versions carry [gen_from, gen_to) so any generation's
 * objects can be listed without copying them per generation. */
#include "store_backend.h"
#include "base/alloc.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct sqlite_store {
	struct store base;
	struct store_txn txn;
	sqlite3 *db;
	char *path;
	bool in_txn;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS generations ("
	"  id INTEGER PRIMARY KEY, user TEXT NOT NULL, verb TEXT NOT NULL,"
	"  time INTEGER NOT NULL, state TEXT);"
	"CREATE TABLE IF NOT EXISTS objects ("
	"  kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,"
	"  gen_from INTEGER NOT NULL, gen_to INTEGER);"
	"CREATE INDEX IF NOT EXISTS objects_live ON objects(kind, ns, name, gen_to);"
	"CREATE INDEX IF NOT EXISTS objects_from ON objects(gen_from);"
	"CREATE TABLE IF NOT EXISTS changes ("
	"  generation INTEGER NOT NULL, kind TEXT NOT NULL, ns TEXT NOT NULL,"
	"  name TEXT NOT NULL, change TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS changes_gen ON changes(generation);"
	"CREATE TABLE IF NOT EXISTS actions ("
	"  id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, action TEXT NOT NULL,"
	"  instance TEXT NOT NULL, status TEXT NOT NULL, message TEXT,"
	"  started INTEGER, finished INTEGER);"
	"CREATE INDEX IF NOT EXISTS actions_gen ON actions(generation);"
	"PRAGMA user_version = 1;";

static struct sqlite_store *of(struct store *s)
{
	return (struct sqlite_store *)s;
}

static int db_error(struct sqlite_store *st, struct error *err, const char *what)
{
	return error_set(err, "state %s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static int accepts(const char *location)
{
	return strstr(location, "://") == NULL;
}

static const char *path_of(const char *location)
{
	return strncmp(location, "sqlite:", 7) == 0 ? location + 7 : location;
}

/* Creates the directories above path, like mkdir -p of its dirname. */
static int make_parent_dirs(const char *path, struct error *err)
{
	char *copy = xstrdup(path);
	int rc = 0;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			rc = error_set(err, "cannot create directory %s for the state database: %s", copy,
				       strerror(errno));
			break;
		}
		*p = '/';
	}
	free(copy);
	return rc;
}

static void sqlite_close(struct store *s)
{
	struct sqlite_store *st = of(s);
	if (st->in_txn)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

static int sqlite_open(struct store **out, const char *location, struct error *err)
{
	const char *path = path_of(location);
	if (!*path)
		return error_set(err, "no path in state location '%s'", location);
	if (make_parent_dirs(path, err) < 0)
		return -1;
	struct sqlite_store *st = xcalloc(1, sizeof(*st));
	st->base.backend = &store_sqlite;
	st->txn.store = &st->base;
	st->path = xstrdup(path);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		error_set(err, "cannot open state database %s: %s", path,
			  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		sqlite_close(&st->base);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 30000);
	if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
				 "PRAGMA foreign_keys = ON;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		error_set(err, "cannot open state database %s: %s", path, sqlite3_errmsg(st->db));
		sqlite_close(&st->base);
		return -1;
	}
	*out = &st->base;
	return 0;
}

static int sqlite_begin(struct store *s, struct store_txn **out, struct error *err)
{
	struct sqlite_store *st = of(s);
	if (st->in_txn)
		return error_set(err, "state %s: a transaction is already open", st->path);
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(st, err, "cannot take the write lock");
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

static int prepare(struct sqlite_store *st, sqlite3_stmt **stmt, const char *sql, struct error *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return db_error(st, err, "cannot prepare a query");
	return 0;
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
	return rc == SQLITE_ROW ? 0 : db_error(st, err, "cannot read the latest generation");
}

static int sqlite_current_generation(struct store *s, long long *out, struct error *err)
{
	return current_generation(of(s), out, err);
}

static const char *const change_names[] = { "created", "updated", "deleted" };

static int sqlite_commit_generation(struct store_txn *t, const char *user, const char *verb,
				    const struct store_change *changes, size_t n,
				    const char *state_json, long long *generation, struct error *err)
{
	struct sqlite_store *st = of(t->store);
	sqlite3_stmt *ins_gen = NULL, *close_obj = NULL, *ins_obj = NULL, *ins_change = NULL;
	long long gen = 0;
	int rc = -1;
	if (!st->in_txn)
		return error_set(err, "state %s: commit without a transaction", st->path);
	if (current_generation(st, &gen, err) < 0)
		goto out;
	gen++;
	if (prepare(st, &ins_gen, "INSERT INTO generations(id, user, verb, time, state) VALUES (?, ?, ?, ?, ?)", err) < 0 ||
	    prepare(st, &close_obj, "UPDATE objects SET gen_to = ? WHERE kind = ? AND ns = ? AND name = ? AND gen_to IS NULL", err) < 0 ||
	    prepare(st, &ins_obj, "INSERT INTO objects(kind, ns, name, body, gen_from) VALUES (?, ?, ?, ?, ?)", err) < 0 ||
	    prepare(st, &ins_change, "INSERT INTO changes(generation, kind, ns, name, change) VALUES (?, ?, ?, ?, ?)", err) < 0)
		goto out;
	sqlite3_bind_int64(ins_gen, 1, gen);
	sqlite3_bind_text(ins_gen, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins_gen, 3, verb, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins_gen, 4, (long long)time(NULL));
	if (state_json)
		sqlite3_bind_text(ins_gen, 5, state_json, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(ins_gen, 5);
	if (sqlite3_step(ins_gen) != SQLITE_DONE) {
		db_error(st, err, "cannot record the generation");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct store_change *c = &changes[i];
		sqlite3_reset(close_obj);
		sqlite3_bind_int64(close_obj, 1, gen);
		sqlite3_bind_text(close_obj, 2, c->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(close_obj, 3, c->ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(close_obj, 4, c->name, -1, SQLITE_STATIC);
		if (sqlite3_step(close_obj) != SQLITE_DONE) {
			db_error(st, err, "cannot record a change");
			goto out;
		}
		if (c->change != STORE_DELETED) {
			sqlite3_reset(ins_obj);
			sqlite3_bind_text(ins_obj, 1, c->kind, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins_obj, 2, c->ns, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins_obj, 3, c->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins_obj, 4, c->body ? c->body : "{}", -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins_obj, 5, gen);
			if (sqlite3_step(ins_obj) != SQLITE_DONE) {
				db_error(st, err, "cannot record an object");
				goto out;
			}
		}
		sqlite3_reset(ins_change);
		sqlite3_bind_int64(ins_change, 1, gen);
		sqlite3_bind_text(ins_change, 2, c->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_change, 3, c->ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_change, 4, c->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_change, 5, change_names[c->change], -1, SQLITE_STATIC);
		if (sqlite3_step(ins_change) != SQLITE_DONE) {
			db_error(st, err, "cannot record a change");
			goto out;
		}
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_error(st, err, "cannot commit the generation");
		goto out;
	}
	st->in_txn = false;
	*generation = gen;
	rc = 0;
out:
	sqlite3_finalize(ins_gen);
	sqlite3_finalize(close_obj);
	sqlite3_finalize(ins_obj);
	sqlite3_finalize(ins_change);
	if (rc < 0)
		sqlite_abort(t);
	return rc;
}

static const char *text(sqlite3_stmt *q, int col)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	return t ? (const char *)t : "";
}

static int sqlite_list_objects(struct store *s, long long gen, store_object_fn fn, void *ctx,
			       struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT kind, ns, name, body FROM objects WHERE gen_from <= ?1 "
			    "AND (gen_to IS NULL OR gen_to > ?1) ORDER BY kind, ns, name", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, gen);
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW)
		stop = fn(ctx, text(q, 0), text(q, 1), text(q, 2), text(q, 3));
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : db_error(st, err, "cannot list objects");
}

static int sqlite_log(struct store *s, store_generation_fn fn, void *ctx, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q,
		    "SELECT g.id, g.user, g.verb, g.time,"
		    " (SELECT COUNT(*) FROM changes c WHERE c.generation = g.id AND c.change = 'created'),"
		    " (SELECT COUNT(*) FROM changes c WHERE c.generation = g.id AND c.change = 'updated'),"
		    " (SELECT COUNT(*) FROM changes c WHERE c.generation = g.id AND c.change = 'deleted')"
		    " FROM generations g ORDER BY g.id DESC",
		    err) < 0)
		return -1;
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_generation g = {
			sqlite3_column_int64(q, 0), text(q, 1), text(q, 2), sqlite3_column_int64(q, 3),
			(size_t)sqlite3_column_int64(q, 4), (size_t)sqlite3_column_int64(q, 5),
			(size_t)sqlite3_column_int64(q, 6),
		};
		stop = fn(ctx, &g);
	}
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : db_error(st, err, "cannot read the log");
}

static int sqlite_load_state(struct store *s, long long gen, char **json, struct error *err)
{
	struct sqlite_store *st = of(s);
	sqlite3_stmt *q;
	if (prepare(st, &q, "SELECT state FROM generations WHERE id = ?", err) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, gen);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
		*json = xstrdup(text(q, 0));
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, err, "cannot read a stored state");
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
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : db_error(st, err, "cannot record an action");
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
		struct store_action a = { sqlite3_column_int64(q, 0), text(q, 1), text(q, 2), text(q, 3),
					  sqlite3_column_type(q, 4) == SQLITE_NULL ? NULL : text(q, 4),
					  sqlite3_column_int64(q, 5), sqlite3_column_int64(q, 6) };
		stop = fn(ctx, &a);
	}
	sqlite3_finalize(q);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : db_error(st, err, "cannot list actions");
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
	.log = sqlite_log,
	.load_state = sqlite_load_state,
	.record_action = sqlite_record_action,
	.list_actions = sqlite_list_actions,
};
