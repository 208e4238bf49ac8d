/* PostgreSQL backend of the store (libpq), for a team server and many
 * clients sharing one state: the same tables and semantics as sqlite.c.
 * Writers serialize on a transaction-level advisory lock, the converge lock
 * is a session-level one (gone when the connection dies). A connection the
 * database dropped (a restart, a failover) is made again before the next
 * statement that does not belong to a transaction; a statement in flight,
 * or a transaction, fails with the database's reason. Not for sharing one
 * connection between threads. */
#include "store_backend.h"
#include "base/alloc.h"
#include "base/strbuf.h"
#include "base/lazy/pq.h"

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a writer waits for another one before giving up. */
#define LOCK_TIMEOUT_S 10

/* Advisory locks are per database; the first key marks them as cairn's
 * ("cair"), the second says which. */
#define LOCK_CLASS "1667330418"
#define LOCK_SCHEMA LOCK_CLASS ", 1"
#define LOCK_WRITE LOCK_CLASS ", 2"
#define LOCK_APPLY LOCK_CLASS ", 3"
#define LOCK_JOBS LOCK_CLASS ", 4"

struct pg_store {
	struct store base;
	struct store_txn txn;
	PGconn *conn;
	char *shown; /* the location as messages show it: password hidden */
	bool in_txn;  /* store_begin or store_work_begin */
	bool in_own;  /* own_begin: a call's own transaction */
	bool apply_locked;
	bool apply_lost; /* the connection was made again and another apply had the lock */
	bool prepared; /* commit_statements are prepared on conn */
};

/* migrations[i] takes the schema from version i to i + 1 (cairn_schema); a
 * new version is one more entry, never an edit. Keys are COLLATE "C" so that
 * listings come in strcmp() order, as store_diff() merges them. */
static const char *const migrations[] = {
	"CREATE TABLE generations ("
	"  id BIGINT PRIMARY KEY, \"user\" TEXT NOT NULL, verb TEXT NOT NULL,"
	"  time BIGINT NOT NULL, state TEXT);"
	"CREATE TABLE objects ("
	"  kind TEXT COLLATE \"C\" NOT NULL, ns TEXT COLLATE \"C\" NOT NULL,"
	"  name TEXT COLLATE \"C\" NOT NULL, body TEXT NOT NULL,"
	"  gen_from BIGINT NOT NULL REFERENCES generations(id),"
	"  gen_to BIGINT REFERENCES generations(id),"
	"  CHECK (gen_to IS NULL OR gen_to > gen_from));"
	"CREATE INDEX objects_key ON objects(kind, ns, name, gen_from);"
	"CREATE INDEX objects_gen ON objects(gen_from);"
	"CREATE UNIQUE INDEX objects_live ON objects(kind, ns, name) WHERE gen_to IS NULL;"
	"CREATE TABLE changes ("
	"  generation BIGINT NOT NULL REFERENCES generations(id),"
	"  kind TEXT COLLATE \"C\" NOT NULL, ns TEXT COLLATE \"C\" NOT NULL,"
	"  name TEXT COLLATE \"C\" NOT NULL,"
	"  change TEXT NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),"
	"  PRIMARY KEY (generation, kind, ns, name));"
	"CREATE TABLE actions ("
	"  id BIGSERIAL PRIMARY KEY, generation BIGINT NOT NULL, action TEXT NOT NULL,"
	"  instance TEXT NOT NULL, status TEXT NOT NULL, message TEXT,"
	"  started BIGINT NOT NULL, finished BIGINT NOT NULL);"
	"CREATE INDEX actions_generation ON actions(generation, id);",
	/* 2: the server's data. */
	"CREATE TABLE tokens ("
	"  id BIGSERIAL PRIMARY KEY, \"user\" TEXT NOT NULL, name TEXT NOT NULL,"
	"  hash TEXT NOT NULL UNIQUE, created BIGINT NOT NULL,"
	"  last_used BIGINT NOT NULL DEFAULT 0, revoked BOOLEAN NOT NULL DEFAULT false);"
	"CREATE TABLE deliveries ("
	"  source TEXT NOT NULL, id TEXT NOT NULL, received BIGINT NOT NULL,"
	"  PRIMARY KEY (source, id));"
	"CREATE TABLE jobs ("
	"  id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT,"
	"  status TEXT NOT NULL"
	"   CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),"
	"  cancel_requested BOOLEAN NOT NULL DEFAULT false, attempts INTEGER NOT NULL DEFAULT 0,"
	"  not_before BIGINT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL,"
	"  message TEXT);"
	"CREATE INDEX jobs_queue ON jobs(status, not_before, id);"
	"CREATE INDEX jobs_key ON jobs(key, status, id);"
	"CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated BIGINT NOT NULL);",
	/* 3: where each object was written. */
	"ALTER TABLE objects ADD COLUMN origin TEXT;",
	/* 4: jobs are leased to the server running them. */
	("ALTER TABLE jobs ADD COLUMN owner TEXT;"
	 "ALTER TABLE jobs ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;"),
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(*migrations)))

static struct pg_store *of(struct store *s)
{
	return (struct pg_store *)s;
}

static int accepts(const char *location)
{
	return strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0;
}

/* location with the password of its user info and of a password=
 * parameter replaced by ***, for messages and logs. */
static char *redact(const char *location)
{
	struct strbuf b = STRBUF_INIT;
	const char *authority = strstr(location, "://") + 3;
	size_t len = strcspn(authority, "/?#");
	const char *at = memrchr(authority, '@', len);
	const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
	const char *rest = location;
	if (colon) {
		strbuf_add(&b, location, (size_t)(colon + 1 - location));
		strbuf_adds(&b, "***");
		rest = at;
	}
	const char *query = strchr(rest, '?');
	if (!query) {
		strbuf_adds(&b, rest);
		return strbuf_detach(&b);
	}
	strbuf_add(&b, rest, (size_t)(query + 1 - rest));
	for (const char *q = query + 1; *q;) {
		len = strcspn(q, "&#");
		if (len >= 9 && strncmp(q, "password=", 9) == 0) {
			strbuf_adds(&b, "password=***");
		} else {
			strbuf_add(&b, q, len);
		}
		q += len;
		if (*q != '&') {
			strbuf_adds(&b, q);
			break;
		}
		strbuf_addc(&b, '&');
		q++;
	}
	return strbuf_detach(&b);
}

/* The first line of libpq's message, without "ERROR:  " (a result's) or
 * its trailing newline. */
static void set_reason(struct strbuf *b, const char *msg)
{
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		msg += 8;
	size_t len = strcspn(msg, "\n");
	if (len == 0)
		strbuf_adds(b, "unknown error");
	else
		strbuf_add(b, msg, len);
}

/* "cannot list objects in state database postgres://...: <reason>" */
static int fail(struct pg_store *st, PGresult *r, struct error *err, const char *what)
{
	struct strbuf reason = STRBUF_INIT;
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!r && st->apply_lost)
		primary = "the connection was lost, and with it the apply lock, which another apply "
			  "holds now";
	set_reason(&reason, primary ? primary : PQerrorMessage(st->conn));
	/* A lost connection (or the apply lock lost with it) passes: the next
	 * call connects again. */
	bool lost = !r || PQstatus(st->conn) != CONNECTION_OK || st->apply_lost;
	error_set_kind(err, lost ? ERROR_TRANSIENT : ERROR_FAILED, "%s in state database %s: %s",
		       what, st->shown, strbuf_cstr(&reason));
	strbuf_release(&reason);
	return -1;
}

static bool is_state(PGresult *r, const char *sqlstate)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	return s && strcmp(s, sqlstate) == 0;
}

static bool ok(PGresult *r)
{
	ExecStatusType t = PQresultStatus(r);
	return t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK;
}

static void rollback(struct pg_store *st)
{
	PQclear(PQexec(st->conn, "ROLLBACK"));
}

/* Decimal text of a number, for a query parameter. */
struct num {
	char s[24];
};

static const char *num(struct num *n, long long v)
{
	snprintf(n->s, sizeof(n->s), "%lld", v);
	return n->s;
}

static long long int_at(PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *text_or_null(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static bool bool_at(PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col)[0] == 't';
}

static void ignore_notice(void *arg, const char *message)
{
}

/* Before a statement outside any transaction: a connection the database
 * dropped while idle is made again, with what the session held (the apply
 * lock). false when it cannot be: PQerrorMessage says why. An idle session
 * is never spoken to (no LISTEN here), so a socket with something to read
 * carries the server's goodbye ("terminating connection due to
 * administrator command") or its close. Inside a transaction nothing is
 * made again: the statements after a lost connection must fail with it,
 * not run on their own. */
static bool connected(struct pg_store *st)
{
	if (st->apply_lost)
		return false;
	if (st->in_txn || st->in_own)
		return true;
	struct pollfd said = { .fd = PQsocket(st->conn), .events = POLLIN };
	if (PQstatus(st->conn) == CONNECTION_OK && poll(&said, 1, 0) == 0)
		return true;
	PQreset(st->conn);
	if (PQstatus(st->conn) != CONNECTION_OK)
		return false;
	PQsetNoticeProcessor(st->conn, ignore_notice, NULL);
	st->prepared = false;
	if (st->apply_locked) {
		/* The lock went with the old session: an apply holding it must not
		 * go on without it, so take it back or fail until it unlocks. */
		PGresult *r = PQexec(st->conn, "SELECT pg_try_advisory_lock(" LOCK_APPLY ")");
		bool held = ok(r) && PQntuples(r) == 1 && bool_at(r, 0, 0);
		PQclear(r);
		if (!held) {
			st->apply_locked = false;
			st->apply_lost = true;
		}
	}
	return !st->apply_lost;
}

/* Runs sql with text parameters; the caller PQclear()s the result (NULL
 * when the connection cannot be made again: fail() says why). */
static PGresult *query(struct pg_store *st, const char *sql, int n, const char *const *params)
{
	if (!connected(st))
		return NULL;
	return PQexecParams(st->conn, sql, n, NULL, params, NULL, NULL, 0);
}

/* The same without parameters. */
static PGresult *run(struct pg_store *st, const char *sql)
{
	return connected(st) ? PQexec(st->conn, sql) : NULL;
}

/* Runs sql (no parameters, no rows wanted); 0 or -1 with err set. */
static int exec(struct pg_store *st, const char *sql, struct error *err, const char *what)
{
	PGresult *r = run(st, sql);
	int rc = ok(r) ? 0 : fail(st, r, err, what);
	PQclear(r);
	return rc;
}


/* Brings the schema to SCHEMA_VERSION under an advisory lock, so two
 * processes opening a new database at once create it once. */
static int migrate(struct pg_store *st, struct error *err)
{
	struct strbuf reason = STRBUF_INIT;
	int version = 0, from, rc = -1;
	/* Most opens find the schema current: one query, no lock. */
	PGresult *r = PQexec(st->conn, "SELECT version FROM cairn_schema");
	if (ok(r) && PQntuples(r) == 1 && int_at(r, 0, 0) == SCHEMA_VERSION) {
		PQclear(r);
		return 0;
	}
	PQclear(r);
	r = PQexec(st->conn, "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_SCHEMA ");"
				       " CREATE TABLE IF NOT EXISTS cairn_schema (version INTEGER NOT NULL)");
	if (!ok(r))
		goto db_error;
	PQclear(r);
	r = PQexec(st->conn, "SELECT version FROM cairn_schema");
	if (!ok(r))
		goto db_error;
	if (PQntuples(r) > 0) {
		version = (int)int_at(r, 0, 0);
	} else {
		PQclear(r);
		r = PQexec(st->conn, "INSERT INTO cairn_schema(version) VALUES (0)");
		if (!ok(r))
			goto db_error;
	}
	PQclear(r);
	r = NULL;
	if (version > SCHEMA_VERSION) {
		error_set(err, "cannot open state database %s: it has schema version %d, newer than this "
			       "cairn knows (%d); upgrade cairn",
			  st->shown, version, SCHEMA_VERSION);
		goto out;
	}
	for (from = version; version < SCHEMA_VERSION; version++) {
		r = PQexec(st->conn, migrations[version]);
		if (!ok(r))
			goto tables_error;
		PQclear(r);
	}
	r = NULL;
	if (from == SCHEMA_VERSION) {
		/* Another process created it while we waited for the lock. */
		rollback(st);
		rc = 0;
		goto out;
	}
	char sql[96];
	snprintf(sql, sizeof(sql), "UPDATE cairn_schema SET version = %d", SCHEMA_VERSION);
	r = PQexec(st->conn, sql);
	if (!ok(r))
		goto tables_error;
	PQclear(r);
	r = PQexec(st->conn, "COMMIT");
	if (!ok(r))
		goto tables_error;
	rc = 0;
	goto out;
tables_error:
	set_reason(&reason, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
				    ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
				    : PQerrorMessage(st->conn));
	error_set(err, "cannot open state database %s: cannot create its tables: %s", st->shown,
		  strbuf_cstr(&reason));
	goto out;
db_error:
	set_reason(&reason, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
				    ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
				    : PQerrorMessage(st->conn));
	error_set(err, "cannot open state database %s: %s", st->shown, strbuf_cstr(&reason));
out:
	PQclear(r);
	if (rc < 0)
		rollback(st);
	strbuf_release(&reason);
	return rc;
}

static void pg_close(struct store *s)
{
	struct pg_store *st = of(s);
	/* Ending the session rolls back an open transaction and releases the
	 * converge lock on the server. */
	PQfinish(st->conn);
	free(st->shown);
	free(st);
}

static int pg_open(struct store **out, const char *location, struct error *err)
{
	struct pg_store *st = xcalloc(1, sizeof(*st));
	st->base.backend = &store_postgres;
	st->txn.store = &st->base;
	st->shown = redact(location);
	/* Keywords before dbname are defaults the URI may override. */
	const char *keys[] = { "connect_timeout", "dbname", "fallback_application_name", NULL };
	const char *values[] = { "10", location, "cairn", NULL };
	st->conn = PQconnectdbParams(keys, values, 1);
	if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
		struct strbuf reason = STRBUF_INIT, shown = STRBUF_INIT;
		set_reason(&reason, st->conn ? PQerrorMessage(st->conn) : "out of memory");
		/* libpq quotes a malformed URI whole, password included. */
		const char *r = strbuf_cstr(&reason), *at;
		while ((at = strstr(r, location))) {
			strbuf_add(&shown, r, (size_t)(at - r));
			strbuf_adds(&shown, st->shown);
			r = at + strlen(location);
		}
		strbuf_adds(&shown, r);
		error_set(err, "cannot open state database %s: %s", st->shown, strbuf_cstr(&shown));
		strbuf_release(&reason);
		strbuf_release(&shown);
		goto fail;
	}
	PQsetNoticeProcessor(st->conn, ignore_notice, NULL);
	if (migrate(st, err) < 0)
		goto fail;
	*out = &st->base;
	return 0;
fail:
	pg_close(&st->base);
	return -1;
}

static int pg_begin(struct store *s, struct store_txn **out, struct error *err)
{
	struct pg_store *st = of(s);
	if (st->in_txn)
		return error_set(err, "state database %s: a transaction is already open", st->shown);
	/* READ COMMITTED: each read after the lock sees every generation
	 * committed before it, and no other writer can commit until we end. */
	PGresult *r = run(st, "BEGIN; SET LOCAL lock_timeout = '10s';"
				       " SELECT pg_advisory_xact_lock(" LOCK_WRITE ")");
	if (!ok(r)) {
		if (is_state(r, "55P03"))
			error_set_kind(err, ERROR_BUSY,
				       "cannot take the write lock of state database %s: another "
				       "process has held it for over %d s",
				       st->shown, LOCK_TIMEOUT_S);
		else
			fail(st, r, err, "cannot take the write lock");
		PQclear(r);
		rollback(st);
		return -1;
	}
	PQclear(r);
	st->in_txn = true;
	*out = &st->txn;
	return 0;
}

static void pg_abort(struct store_txn *t)
{
	struct pg_store *st = of(t->store);
	if (!st->in_txn)
		return;
	rollback(st);
	st->in_txn = false;
}

static int current_generation(struct pg_store *st, long long *out, struct error *err)
{
	PGresult *r = run(st, "SELECT COALESCE(MAX(id), 0) FROM generations");
	int rc = ok(r) && PQntuples(r) == 1 ? 0 : fail(st, r, err, "cannot read the latest generation");
	if (rc == 0)
		*out = int_at(r, 0, 0);
	PQclear(r);
	return rc;
}

static int pg_current_generation(struct store *s, long long *out, struct error *err)
{
	return current_generation(of(s), out, err);
}

/* The statements of a generation, prepared once per connection. */
static const char *const commit_statements[][2] = {
	{ "cairn_change", "INSERT INTO changes(generation, kind, ns, name, change)"
			  " VALUES ($1, $2, $3, $4, $5)" },
	{ "cairn_close", "UPDATE objects SET gen_to = $1 WHERE kind = $2 AND ns = $3 AND name = $4"
			 " AND gen_to IS NULL" },
	{ "cairn_object", "INSERT INTO objects(kind, ns, name, body, gen_from, origin)"
			 " VALUES ($1, $2, $3, $4, $5, $6)" },
};

static int prepare_commit(struct pg_store *st, struct error *err)
{
	if (st->prepared)
		return 0;
	for (size_t i = 0; i < sizeof(commit_statements) / sizeof(*commit_statements); i++) {
		PGresult *r = PQprepare(st->conn, commit_statements[i][0], commit_statements[i][1], 0, NULL);
		int rc = ok(r) ? 0 : fail(st, r, err, "cannot prepare a query");
		PQclear(r);
		if (rc < 0)
			return -1;
	}
	st->prepared = true;
	return 0;
}

/* Changes per pipeline round trip: their results (a few dozen bytes each)
 * fit the socket buffers, so sending never waits on unread results. */
#define BATCH 200

static bool sends_object(const struct store_change *c)
{
	return c->change != STORE_DELETED && c->body;
}

/* The next result of a pipeline, consuming the NULL that ends it. */
static PGresult *next_result(struct pg_store *st)
{
	PGresult *r = PQgetResult(st->conn);
	if (r && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
		PQclear(PQgetResult(st->conn));
	return r;
}

/* Checks the results of one change, in the order sqlite.c makes its checks;
 * rc is the batch's outcome so far (once failed, results are only read). */
static int check_change(struct pg_store *st, const struct store_change *c, int rc, struct error *err)
{
	const char *verb = c->change == STORE_CREATED ? "create"
			   : c->change == STORE_UPDATED ? "update"
							: "delete";
	PGresult *ins = next_result(st), *close = next_result(st);
	PGresult *obj = sends_object(c) ? next_result(st) : NULL;
	if (rc < 0) {
	} else if (!ok(ins)) {
		rc = is_state(ins, "23505") ? error_set(err, "%s %s/%s is changed twice in one generation",
							c->kind, c->ns, c->name)
					    : fail(st, ins, err, "cannot record a change");
	} else if (!ok(close)) {
		rc = fail(st, close, err, "cannot record a change");
	} else {
		bool existed = strcmp(PQcmdTuples(close), "0") != 0;
		if (c->change == STORE_CREATED && existed)
			rc = error_set(err, "cannot create %s %s/%s: it already exists", c->kind, c->ns,
				       c->name);
		else if (c->change != STORE_CREATED && !existed)
			rc = error_set(err, "cannot %s %s %s/%s: it does not exist", verb, c->kind, c->ns,
				       c->name);
		else if (c->change != STORE_DELETED && !c->body)
			rc = error_set(err, "cannot %s %s %s/%s without a body", verb, c->kind, c->ns,
				       c->name);
		else if (obj && !ok(obj))
			rc = fail(st, obj, err, "cannot record an object");
	}
	PQclear(ins);
	PQclear(close);
	PQclear(obj);
	return rc;
}

/* Records changes[0, n) of generation gen in one round trip: for each, its
 * row in changes, the end of the version it replaces and the new version. */
static int record_batch(struct pg_store *st, const char *gen, const struct store_change *changes,
			size_t n, struct error *err)
{
	if (PQenterPipelineMode(st->conn) != 1)
		return fail(st, NULL, err, "cannot record a change");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct store_change *c = &changes[i];
		const char *p[5] = { gen, c->kind, c->ns, c->name, store_change_name(c->change) };
		const char *o[6] = { c->kind, c->ns, c->name, c->body, gen, c->origin };
		if (!PQsendQueryPrepared(st->conn, "cairn_change", 5, p, NULL, NULL, 0) ||
		    !PQsendQueryPrepared(st->conn, "cairn_close", 4, p, NULL, NULL, 0) ||
		    (sends_object(c) && !PQsendQueryPrepared(st->conn, "cairn_object", 6, o, NULL, NULL, 0)))
			rc = fail(st, NULL, err, "cannot record a change");
	}
	if (rc == 0 && PQpipelineSync(st->conn) != 1)
		rc = fail(st, NULL, err, "cannot record a change");
	if (rc < 0) {
		/* Nothing was read yet: dropping the connection's state is all
		 * that is left; the transaction is rolled back by the caller. */
		PQexitPipelineMode(st->conn);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		rc = check_change(st, &changes[i], rc, err);
	PGresult *r = PQgetResult(st->conn);
	if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		if (rc == 0)
			rc = fail(st, r, err, "cannot record a change");
		/* Drain whatever is left so that the connection is usable again. */
		while (r && PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
			PQclear(r);
			r = PQgetResult(st->conn);
		}
	}
	PQclear(r);
	PQexitPipelineMode(st->conn);
	return rc;
}

static int pg_commit_generation(struct store_txn *t, const char *user, const char *verb,
				long long when, const struct store_change *changes, size_t n,
				const char *state_json, long long *generation, struct error *err)
{
	struct pg_store *st = of(t->store);
	long long gen = 0;
	int rc = -1;
	if (!st->in_txn)
		return error_set(err, "state database %s: commit without a transaction", st->shown);
	/* The write lock is held since store_begin(): nobody else can take gen. */
	if (current_generation(st, &gen, err) < 0)
		goto out;
	gen++;
	struct num g, w;
	const char *p[5] = { num(&g, gen), user, verb, num(&w, when), state_json };
	PGresult *r = query(st, "INSERT INTO generations(id, \"user\", verb, time, state)"
				" VALUES ($1, $2, $3, $4, $5)", 5, p);
	if (!ok(r)) {
		fail(st, r, err, "cannot record the generation");
		PQclear(r);
		goto out;
	}
	PQclear(r);
	if (prepare_commit(st, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i += BATCH)
		if (record_batch(st, g.s, changes + i, n - i < BATCH ? n - i : BATCH, err) < 0)
			goto out;
	r = PQexec(st->conn, "COMMIT");
	/* A COMMIT of a failed transaction answers COMMAND_OK with "ROLLBACK". */
	if (!ok(r) || strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		fail(st, r, err, "cannot commit the generation");
		PQclear(r);
		goto out;
	}
	PQclear(r);
	st->in_txn = false;
	*generation = gen;
	rc = 0;
out:
	if (rc < 0) {
		pg_abort(t);
		if (gen)
			error_wrap(err, "generation %lld not recorded", gen);
	}
	return rc;
}

static int pg_list_objects(struct store *s, long long gen, long long except, store_object_fn fn,
			   void *ctx, struct error *err)
{
	struct pg_store *st = of(s);
	struct num a, b;
	const char *p[2] = { num(&a, gen), num(&b, except) };
	/* gen_from is at least 1, so except = -1 or 0 excludes nothing. */
	PGresult *r = query(st, "SELECT kind, ns, name, body, origin FROM objects"
				" WHERE gen_from <= $1 AND (gen_to IS NULL OR gen_to > $1)"
				" AND NOT (gen_from <= $2 AND (gen_to IS NULL OR gen_to > $2))"
				" ORDER BY kind, ns, name", 2, p);
	if (!ok(r)) {
		fail(st, r, err, "cannot list objects");
		PQclear(r);
		return -1;
	}
	int stop = 0;
	for (int i = 0, rows = PQntuples(r); !stop && i < rows; i++)
		stop = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
			  PQgetvalue(r, i, 3), text_or_null(r, i, 4));
	PQclear(r);
	return stop;
}

static int pg_last_changes(struct store *s, const char *kind, store_changed_fn fn, void *ctx,
			   struct error *err)
{
	struct pg_store *st = of(s);
	const char *p[1] = { kind };
	/* The live version of an object began with the generation that last changed it. */
	PGresult *r = query(st, "SELECT o.ns, o.name, o.gen_from, g.time FROM objects o"
				" JOIN generations g ON g.id = o.gen_from"
				" WHERE o.kind = $1 AND o.gen_to IS NULL ORDER BY o.ns, o.name", 1, p);
	if (!ok(r)) {
		fail(st, r, err, "cannot list the last changes");
		PQclear(r);
		return -1;
	}
	int stop = 0;
	for (int i = 0, rows = PQntuples(r); !stop && i < rows; i++)
		stop = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), int_at(r, i, 2), int_at(r, i, 3));
	PQclear(r);
	return stop;
}

static const char generation_query[] =
	"SELECT g.id, g.\"user\", g.verb, g.time,"
	" COUNT(c.change) FILTER (WHERE c.change = 'created'),"
	" COUNT(c.change) FILTER (WHERE c.change = 'updated'),"
	" COUNT(c.change) FILTER (WHERE c.change = 'deleted')"
	" FROM generations g LEFT JOIN changes c ON c.generation = g.id";

static struct store_generation generation_row(PGresult *r, int i)
{
	return (struct store_generation){
		.generation = int_at(r, i, 0),
		.user = PQgetvalue(r, i, 1),
		.verb = PQgetvalue(r, i, 2),
		.time = int_at(r, i, 3),
		.created = (size_t)int_at(r, i, 4),
		.updated = (size_t)int_at(r, i, 5),
		.deleted = (size_t)int_at(r, i, 6),
	};
}

static int pg_log(struct store *s, store_generation_fn fn, void *ctx, struct error *err)
{
	struct pg_store *st = of(s);
	char sql[sizeof(generation_query) + 64];
	snprintf(sql, sizeof(sql), "%s GROUP BY g.id ORDER BY g.id DESC", generation_query);
	PGresult *r = run(st, sql);
	if (!ok(r)) {
		fail(st, r, err, "cannot read the log");
		PQclear(r);
		return -1;
	}
	int stop = 0;
	for (int i = 0, rows = PQntuples(r); !stop && i < rows; i++) {
		struct store_generation g = generation_row(r, i);
		stop = fn(ctx, &g);
	}
	PQclear(r);
	return stop;
}

static int pg_generation_get(struct store *s, long long gen, struct store_generation *out,
			     struct error *err)
{
	struct pg_store *st = of(s);
	char sql[sizeof(generation_query) + 64];
	snprintf(sql, sizeof(sql), "%s WHERE g.id = $1 GROUP BY g.id", generation_query);
	struct num g;
	const char *p[1] = { num(&g, gen) };
	PGresult *r = query(st, sql, 1, p);
	int rc = 0;
	if (!ok(r)) {
		rc = fail(st, r, err, "cannot read a generation");
	} else if (PQntuples(r) == 0) {
		rc = error_set_kind(err, ERROR_NOT_FOUND, "generation %lld does not exist", gen);
	} else {
		*out = generation_row(r, 0);
		out->user = xstrdup(out->user);
		out->verb = xstrdup(out->verb);
	}
	PQclear(r);
	return rc;
}

static int pg_generation_changes(struct store *s, long long gen, store_change_fn fn, void *ctx,
				 struct error *err)
{
	struct pg_store *st = of(s);
	struct num g;
	const char *p[1] = { num(&g, gen) };
	/* The version a change ended has gen_to = gen, the one it made gen_from = gen. */
	PGresult *r = query(st, "SELECT c.kind, c.ns, c.name, c.change, old.body, new.body FROM changes c"
				" LEFT JOIN objects old ON old.kind = c.kind AND old.ns = c.ns"
				"  AND old.name = c.name AND old.gen_to = c.generation"
				" LEFT JOIN objects new ON new.kind = c.kind AND new.ns = c.ns"
				"  AND new.name = c.name AND new.gen_from = c.generation"
				" WHERE c.generation = $1 ORDER BY c.kind, c.ns, c.name", 1, p);
	if (!ok(r)) {
		fail(st, r, err, "cannot list the changes of a generation");
		PQclear(r);
		return -1;
	}
	int stop = 0;
	for (int i = 0, rows = PQntuples(r); !stop && i < rows; i++) {
		const char *change = PQgetvalue(r, i, 3);
		struct store_change c = {
			.kind = PQgetvalue(r, i, 0),
			.ns = PQgetvalue(r, i, 1),
			.name = PQgetvalue(r, i, 2),
			.change = strcmp(change, "created") == 0   ? STORE_CREATED
				  : strcmp(change, "updated") == 0 ? STORE_UPDATED
								   : STORE_DELETED,
			.body = text_or_null(r, i, 5),
		};
		stop = fn(ctx, &c, text_or_null(r, i, 4));
	}
	PQclear(r);
	return stop;
}

static int pg_load_state(struct store *s, long long gen, char **json, struct error *err)
{
	struct pg_store *st = of(s);
	struct num g;
	const char *p[1] = { num(&g, gen) };
	PGresult *r = query(st, "SELECT state FROM generations WHERE id = $1", 1, p);
	int rc = 0;
	if (!ok(r))
		rc = fail(st, r, err, "cannot read a stored state");
	else if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		*json = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

static int pg_record_action(struct store *s, const struct store_action *a, struct error *err)
{
	struct pg_store *st = of(s);
	struct num g, b, e;
	const char *p[7] = { num(&g, a->generation), a->action, a->instance, a->status, a->message,
			     num(&b, a->started), num(&e, a->finished) };
	PGresult *r = query(st, "INSERT INTO actions(generation, action, instance, status, message, started, finished)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, p);
	int rc = ok(r) ? 0 : fail(st, r, err, "cannot record an action");
	PQclear(r);
	return rc;
}

static int pg_list_actions(struct store *s, long long gen, store_action_fn fn, void *ctx,
			   struct error *err)
{
	struct pg_store *st = of(s);
	struct num g;
	const char *p[1] = { num(&g, gen) };
	PGresult *r = query(st, "SELECT generation, action, instance, status, message, started, finished"
				" FROM actions WHERE generation = $1 ORDER BY id", 1, p);
	if (!ok(r)) {
		fail(st, r, err, "cannot list actions");
		PQclear(r);
		return -1;
	}
	int stop = 0;
	for (int i = 0, rows = PQntuples(r); !stop && i < rows; i++) {
		struct store_action a = {
			.generation = int_at(r, i, 0),
			.action = PQgetvalue(r, i, 1),
			.instance = PQgetvalue(r, i, 2),
			.status = PQgetvalue(r, i, 3),
			.message = text_or_null(r, i, 4),
			.started = int_at(r, i, 5),
			.finished = int_at(r, i, 6),
		};
		stop = fn(ctx, &a);
	}
	PQclear(r);
	return stop;
}

/* A session-level advisory lock: the server drops it when the connection
 * ends, so a killed apply never leaves the lock behind. */
static int pg_lock_apply(struct store *s, bool wait, struct error *err)
{
	struct pg_store *st = of(s);
	if (st->apply_locked)
		return 0;
	st->apply_lost = false; /* a new apply: what an earlier one lost is its own */
	PGresult *r = run(st, wait ? "SELECT pg_advisory_lock(" LOCK_APPLY ")"
				   : "SELECT pg_try_advisory_lock(" LOCK_APPLY ")");
	int rc = 0;
	if (!ok(r) || PQntuples(r) != 1) {
		rc = fail(st, r, err, "cannot take the apply lock");
	} else if (!wait && !bool_at(r, 0, 0)) {
		rc = error_set_kind(err, ERROR_BUSY, "another apply is running on state database %s",
				    st->shown);
	} else {
		st->apply_locked = true;
	}
	PQclear(r);
	return rc;
}

static void pg_unlock_apply(struct store *s)
{
	struct pg_store *st = of(s);
	st->apply_lost = false;
	if (!st->apply_locked)
		return;
	PQclear(PQexec(st->conn, "SELECT pg_advisory_unlock(" LOCK_APPLY ")"));
	st->apply_locked = false;
}

/* ---- Server data ---- */

/* Several statements in their own transaction, or inside the one
 * store_begin() opened. lock, when given, is an advisory lock taken first. */
static int own_begin(struct pg_store *st, const char *lock, bool *own, struct error *err)
{
	*own = !st->in_txn;
	struct strbuf sql = STRBUF_INIT;
	if (*own)
		strbuf_adds(&sql, "BEGIN;");
	if (lock)
		strbuf_addf(&sql, "SELECT pg_advisory_xact_lock(%s)", lock);
	int rc = sql.len ? exec(st, strbuf_cstr(&sql), err, "cannot start a transaction") : 0;
	strbuf_release(&sql);
	if (rc < 0 && *own)
		rollback(st);
	else if (*own)
		st->in_own = true;
	return rc;
}

static int own_end(struct pg_store *st, bool own, int rc, struct error *err)
{
	if (!own)
		return rc;
	st->in_own = false;
	if (rc != 0) {
		rollback(st);
		return rc;
	}
	PGresult *r = PQexec(st->conn, "COMMIT");
	if (!ok(r) || strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		rc = fail(st, r, err, "cannot commit");
		rollback(st);
	}
	PQclear(r);
	return rc;
}

static int pg_token_add(struct store *s, const char *user, const char *name, const char *hash,
			long long *id, struct error *err)
{
	struct pg_store *st = of(s);
	const char *p[3] = { user, name, hash };
	PGresult *r = query(st, "INSERT INTO tokens(\"user\", name, hash, created)"
				" VALUES ($1, $2, $3, EXTRACT(EPOCH FROM now())::bigint) RETURNING id", 3, p);
	int rc = 0;
	if (is_state(r, "23505"))
		rc = error_set(err, "cannot add a token for %s: a token with the same hash exists", user);
	else if (!ok(r) || PQntuples(r) != 1)
		rc = fail(st, r, err, "cannot add a token");
	else
		*id = int_at(r, 0, 0);
	PQclear(r);
	return rc;
}

static int pg_token_use(struct store *s, const char *hash, long long now, struct store_token *t,
			bool *found, struct error *err)
{
	struct pg_store *st = of(s);
	struct num n;
	const char *p[2] = { num(&n, now), hash };
	/* The row as it was, from the same statement that stamps it. */
	PGresult *r = query(st, "WITH o AS (SELECT id, last_used FROM tokens WHERE hash = $2"
				" AND NOT revoked) UPDATE tokens t SET last_used = $1 FROM o"
				" WHERE t.id = o.id RETURNING t.id, t.\"user\", t.name, t.created,"
				" o.last_used", 2, p);
	int rc = 0;
	if (!ok(r)) {
		rc = fail(st, r, err, "cannot look up a token");
	} else if (PQntuples(r) > 0) {
		t->id = int_at(r, 0, 0);
		t->user = xstrdup(PQgetvalue(r, 0, 1));
		t->name = xstrdup(PQgetvalue(r, 0, 2));
		t->created = int_at(r, 0, 3);
		t->last_used = int_at(r, 0, 4);
		*found = true;
	}
	PQclear(r);
	return rc;
}

static int pg_token_revoke(struct store *s, long long id, bool *found, struct error *err)
{
	struct pg_store *st = of(s);
	struct num n;
	const char *p[1] = { num(&n, id) };
	PGresult *r = query(st, "UPDATE tokens SET revoked = true WHERE id = $1", 1, p);
	int rc = 0;
	if (!ok(r))
		rc = fail(st, r, err, "cannot revoke a token");
	else
		*found = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	return rc;
}

static int pg_token_list(struct store *s, store_token_fn fn, void *ctx, struct error *err)
{
	struct pg_store *st = of(s);
	PGresult *r = run(st, "SELECT id, \"user\", name, created, last_used, revoked"
				       " FROM tokens ORDER BY id");
	if (!ok(r)) {
		fail(st, r, err, "cannot list tokens");
		PQclear(r);
		return -1;
	}
	int stop = 0;
	for (int i = 0, rows = PQntuples(r); !stop && i < rows; i++) {
		struct store_token t = {
			.id = int_at(r, i, 0),
			.user = PQgetvalue(r, i, 1),
			.name = PQgetvalue(r, i, 2),
			.created = int_at(r, i, 3),
			.last_used = int_at(r, i, 4),
			.revoked = bool_at(r, i, 5),
		};
		stop = fn(ctx, &t);
	}
	PQclear(r);
	return stop;
}

static int pg_work_begin(struct store *s, struct error *err)
{
	struct pg_store *st = of(s);
	bool own;
	if (st->in_txn)
		return error_set(err, "state database %s: a transaction is already open", st->shown);
	if (own_begin(st, NULL, &own, err) < 0)
		return -1;
	st->in_own = false; /* the work transaction's now: in_txn */
	st->in_txn = true;
	return 0;
}

static int pg_work_commit(struct store *s, struct error *err)
{
	struct pg_store *st = of(s);
	if (!st->in_txn)
		return error_set(err, "state database %s: no transaction is open", st->shown);
	st->in_txn = false;
	return own_end(st, true, 0, err);
}

static void pg_work_abort(struct store *s)
{
	struct pg_store *st = of(s);
	if (!st->in_txn)
		return;
	st->in_txn = false;
	rollback(st);
}

static int pg_delivery_claim(struct store *s, const char *source, const char *id, long long now,
			     bool *fresh, struct error *err)
{
	struct pg_store *st = of(s);
	struct num n;
	const char *p[3] = { source, id, num(&n, now) };
	/* The primary key makes the insert the claim: only one writer can add the row. */
	PGresult *r = query(st, "INSERT INTO deliveries(source, id, received) VALUES ($1, $2, $3)"
				" ON CONFLICT DO NOTHING", 3, p);
	int rc = 0;
	if (!ok(r))
		rc = fail(st, r, err, "cannot record a delivery");
	else
		*fresh = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	return rc;
}

#define JOB_COLUMNS                                                                              \
	"id, kind, key, payload, status, cancel_requested, attempts, not_before, created, updated, " \
	"message, owner, lease_until"

/* Row i of JOB_COLUMNS into heap copies. */
static void job_row(PGresult *r, int i, struct store_job *out)
{
	struct store_job j = {
		.id = int_at(r, i, 0),
		.kind = PQgetvalue(r, i, 1),
		.key = PQgetvalue(r, i, 2),
		.payload = text_or_null(r, i, 3),
		.status = STORE_JOB_QUEUED,
		.cancel_requested = bool_at(r, i, 5),
		.attempts = (int)int_at(r, i, 6),
		.not_before = int_at(r, i, 7),
		.created = int_at(r, i, 8),
		.updated = int_at(r, i, 9),
		.message = text_or_null(r, i, 10),
		.owner = text_or_null(r, i, 11),
		.lease_until = int_at(r, i, 12),
	};
	/* The CHECK constraint keeps status one of the names. */
	store_job_status_parse(PQgetvalue(r, i, 4), &j.status);
	store_job_copy(out, &j);
}

static int pg_job_enqueue(struct store *s, const char *kind, const char *key, const char *payload,
			  bool supersede, long long now, long long *id, struct error *err)
{
	struct pg_store *st = of(s);
	struct num n, j;
	bool own;
	int rc = -1;
	/* Superseding takes the jobs lock, so a claim never runs between the
	 * insert and the cancels. */
	if (own_begin(st, supersede ? LOCK_JOBS : NULL, &own, err) < 0)
		return -1;
	const char *p[4] = { kind, key, payload, num(&n, now) };
	PGresult *r = query(st, "INSERT INTO jobs(kind, key, payload, status, not_before, created, updated)"
				" VALUES ($1, $2, $3, 'queued', $4, $4, $4) RETURNING id", 4, p);
	if (!ok(r) || PQntuples(r) != 1) {
		fail(st, r, err, "cannot queue a job");
		goto out;
	}
	long long job = int_at(r, 0, 0);
	PQclear(r);
	r = NULL;
	if (supersede) {
		char message[64];
		snprintf(message, sizeof(message), "superseded by job %lld", job);
		const char *c[4] = { message, n.s, key, num(&j, job) };
		r = query(st, "UPDATE jobs SET status = 'cancelled', message = $1, updated = $2"
			      " WHERE key = $3 AND status = 'queued' AND id <> $4", 4, c);
		if (!ok(r)) {
			fail(st, r, err, "cannot supersede jobs");
			goto out;
		}
		PQclear(r);
		const char *f[2] = { n.s, key };
		r = query(st, "UPDATE jobs SET cancel_requested = true, updated = $1"
			      " WHERE key = $2 AND status = 'running'", 2, f);
		if (!ok(r)) {
			fail(st, r, err, "cannot supersede jobs");
			goto out;
		}
	}
	*id = job;
	rc = 0;
out:
	PQclear(r);
	return own_end(st, own, rc, err);
}

/* Puts running jobs back in the queue: owner's or, owner NULL, those whose
 * lease ended before now. */
static int requeue(struct pg_store *st, const char *owner, long long now, size_t *n,
		   struct error *err)
{
	struct num t;
	const char *p[2] = { num(&t, now), owner };
	PGresult *r = owner ? query(st, "UPDATE jobs SET status = 'queued', not_before = $1,"
					" updated = $1, owner = NULL,"
					" message = 'put back by ' || owner || ' as it stopped'"
					" WHERE status = 'running' AND owner = $2", 2, p)
			    : query(st, "UPDATE jobs SET status = 'queued', not_before = $1,"
					" updated = $1, owner = NULL, message = 'taken back: the lease of '"
					" || COALESCE(owner, 'an older server') || ' ended'"
					" WHERE status = 'running' AND lease_until < $1", 1, p);
	int rc = 0;
	if (!ok(r))
		rc = fail(st, r, err, "cannot requeue running jobs");
	else
		*n = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return rc;
}

static int pg_job_claim(struct store *s, long long now, const char *owner, long long lease_until,
			struct store_job *out, bool *found, struct error *err)
{
	struct pg_store *st = of(s);
	struct num n, l;
	bool own;
	size_t expired;
	/* Claims serialize on the jobs lock: the choice below, made after the
	 * previous claimer committed, sees its job running, so neither a job nor
	 * a key is ever taken twice. A job is a candidate only when it is the
	 * oldest unfinished one of its key. */
	if (own_begin(st, LOCK_JOBS, &own, err) < 0)
		return -1;
	if (requeue(st, NULL, now, &expired, err) < 0)
		return own_end(st, own, -1, err);
	const char *p[3] = { num(&n, now), owner, num(&l, lease_until) };
	PGresult *r = query(st, "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
				" updated = $1, owner = $2, lease_until = $3"
				" WHERE id = (SELECT j.id FROM jobs j WHERE j.status = 'queued'"
				"  AND j.not_before <= $1 AND NOT EXISTS (SELECT 1 FROM jobs o"
				"   WHERE o.key = j.key AND (o.status = 'running'"
				"    OR (o.status = 'queued' AND o.id < j.id)))"
				"  ORDER BY j.id LIMIT 1)"
				" RETURNING " JOB_COLUMNS, 3, p);
	int rc = 0;
	if (!ok(r)) {
		rc = fail(st, r, err, "cannot claim a job");
	} else if (PQntuples(r) > 0) {
		job_row(r, 0, out);
		*found = true;
	}
	PQclear(r);
	rc = own_end(st, own, rc, err);
	if (rc < 0 && *found) {
		store_job_release(out);
		*found = false;
	}
	return rc;
}

static int pg_job_renew(struct store *s, const char *owner, long long lease_until, long long now,
			size_t *n, struct error *err)
{
	struct pg_store *st = of(s);
	struct num l;
	const char *p[2] = { owner, num(&l, lease_until) };
	PGresult *r = query(st, "UPDATE jobs SET lease_until = $2"
				" WHERE status = 'running' AND owner = $1", 2, p);
	int rc = 0;
	if (!ok(r))
		rc = fail(st, r, err, "cannot renew the leases of running jobs");
	else
		*n = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return rc;
}

static int pg_job_finish(struct store *s, long long id, const char *owner,
			 enum store_job_status status, const char *message, long long not_before,
			 long long now, struct error *err)
{
	struct pg_store *st = of(s);
	struct num a, b, c;
	const char *p[6] = { store_job_status_name(status), message, num(&a, now), num(&b, not_before),
			     num(&c, id), owner };
	/* A retry leaves the job to whoever claims it next; an end keeps who ran it. */
	PGresult *r = query(st, "UPDATE jobs SET status = $1, message = $2, updated = $3,"
				" not_before = CASE WHEN $1 = 'queued' THEN $4 ELSE not_before END,"
				" owner = CASE WHEN $1 = 'queued' THEN NULL ELSE owner END"
				" WHERE id = $5 AND status = 'running' AND owner = $6", 6, p);
	if (!ok(r)) {
		fail(st, r, err, "cannot update a job");
		PQclear(r);
		return -1;
	}
	bool changed = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	if (changed)
		return 0;
	r = query(st, "SELECT status, owner FROM jobs WHERE id = $1", 1, p + 4);
	if (!ok(r))
		fail(st, r, err, "cannot read a job");
	else if (PQntuples(r) == 0)
		error_set_kind(err, ERROR_NOT_FOUND, "job %lld does not exist", id);
	else if (strcmp(PQgetvalue(r, 0, 0), "running") == 0)
		error_set(err, "job %lld is run by %s now, not by %s", id,
			  PQgetisnull(r, 0, 1) ? "nobody" : PQgetvalue(r, 0, 1), owner);
	else
		error_set(err, "job %lld is not running (it is %s)", id, PQgetvalue(r, 0, 0));
	PQclear(r);
	return -1;
}

static int pg_job_get(struct store *s, long long id, struct store_job *out, bool *found,
		      struct error *err)
{
	struct pg_store *st = of(s);
	struct num n;
	const char *p[1] = { num(&n, id) };
	PGresult *r = query(st, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = $1", 1, p);
	int rc = 0;
	if (!ok(r)) {
		rc = fail(st, r, err, "cannot read a job");
	} else if (PQntuples(r) > 0) {
		job_row(r, 0, out);
		*found = true;
	}
	PQclear(r);
	return rc;
}

static int pg_job_requeue(struct store *s, const char *owner, long long now, size_t *n,
			  struct error *err)
{
	return requeue(of(s), owner, now, n, err);
}

static int pg_job_list(struct store *s, size_t limit, store_job_fn fn, void *ctx, struct error *err)
{
	struct pg_store *st = of(s);
	struct num l;
	const char *p[1] = { limit ? num(&l, (long long)limit) : NULL }; /* LIMIT NULL: all */
	PGresult *r = query(st, "SELECT " JOB_COLUMNS " FROM jobs ORDER BY id DESC LIMIT $1::bigint",
			    1, p);
	if (!ok(r)) {
		fail(st, r, err, "cannot list jobs");
		PQclear(r);
		return -1;
	}
	int stop = 0;
	for (int i = 0, rows = PQntuples(r); !stop && i < rows; i++) {
		struct store_job j;
		job_row(r, i, &j);
		stop = fn(ctx, &j);
		store_job_release(&j);
	}
	PQclear(r);
	return stop;
}

static int pg_kv_set(struct store *s, const char *key, const char *value, long long now,
		     struct error *err)
{
	struct pg_store *st = of(s);
	struct num n;
	const char *p[3] = { key, value, num(&n, now) };
	PGresult *r = value ? query(st, "INSERT INTO kv(key, value, updated) VALUES ($1, $2, $3)"
					" ON CONFLICT (key) DO UPDATE SET value = $2, updated = $3", 3, p)
			    : query(st, "DELETE FROM kv WHERE key = $1", 1, p);
	int rc = ok(r) ? 0 : fail(st, r, err, "cannot set a value");
	PQclear(r);
	return rc;
}

static int pg_kv_get(struct store *s, const char *key, char **value, struct error *err)
{
	struct pg_store *st = of(s);
	const char *p[1] = { key };
	PGresult *r = query(st, "SELECT value FROM kv WHERE key = $1", 1, p);
	int rc = 0;
	if (!ok(r))
		rc = fail(st, r, err, "cannot get a value");
	else if (PQntuples(r) > 0)
		*value = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

static int pg_kv_advance(struct store *s, const char *key, const char *value, long long now,
			 bool *advanced, struct error *err)
{
	struct pg_store *st = of(s);
	struct num n;
	const char *p[3] = { key, value, num(&n, now) };
	/* The row lock of ON CONFLICT makes a second caller wait, then see the
	 * new value: only one of them advances it. */
	PGresult *r = query(st, "INSERT INTO kv(key, value, updated) VALUES ($1, $2, $3)"
				" ON CONFLICT (key) DO UPDATE SET value = $2, updated = $3"
				" WHERE kv.value COLLATE \"C\" < $2 COLLATE \"C\"", 3, p);
	int rc = 0;
	if (!ok(r))
		rc = fail(st, r, err, "cannot advance a value");
	else
		*advanced = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	return rc;
}

static int pg_kv_list(struct store *s, const char *prefix, store_kv_fn fn, void *ctx,
		      struct error *err)
{
	struct pg_store *st = of(s);
	const char *p[1] = { prefix };
	/* left(), not LIKE: a prefix may hold % and _ */
	PGresult *r = query(st, "SELECT key, value FROM kv WHERE left(key, length($1)) = $1 ORDER BY key",
			    1, p);
	if (!ok(r)) {
		int rc = fail(st, r, err, "cannot list values");
		PQclear(r);
		return rc;
	}
	int stop = 0;
	for (int i = 0; !stop && i < PQntuples(r); i++)
		stop = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	PQclear(r);
	return stop;
}

const struct store_backend store_postgres = {
	.name = "postgres",
	.accepts = accepts,
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.abort = pg_abort,
	.commit_generation = pg_commit_generation,
	.current_generation = pg_current_generation,
	.list_objects = pg_list_objects,
	.last_changes = pg_last_changes,
	.log = pg_log,
	.generation_get = pg_generation_get,
	.generation_changes = pg_generation_changes,
	.load_state = pg_load_state,
	.record_action = pg_record_action,
	.list_actions = pg_list_actions,
	.lock_apply = pg_lock_apply,
	.unlock_apply = pg_unlock_apply,
	.token_add = pg_token_add,
	.token_use = pg_token_use,
	.token_revoke = pg_token_revoke,
	.token_list = pg_token_list,
	.work_begin = pg_work_begin,
	.work_commit = pg_work_commit,
	.work_abort = pg_work_abort,
	.delivery_claim = pg_delivery_claim,
	.job_enqueue = pg_job_enqueue,
	.job_claim = pg_job_claim,
	.job_renew = pg_job_renew,
	.job_finish = pg_job_finish,
	.job_get = pg_job_get,
	.job_requeue = pg_job_requeue,
	.job_list = pg_job_list,
	.kv_set = pg_kv_set,
	.kv_get = pg_kv_get,
	.kv_advance = pg_kv_advance,
	.kv_list = pg_kv_list,
};
