/* A fresh database holding hard_cases.sql, in the PostgreSQL that
 * with_postgres.sh started (CAIRN_TEST_POSTGRES). Header-only: each test
 * program of tests/unit/engine/snapshot includes it once. */
#ifndef CAIRN_TEST_SNAPSHOT_PG_FIXTURE_H
#define CAIRN_TEST_SNAPSHOT_PG_FIXTURE_H

#include "base/lazy/pq.h"
#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static const char *pg_url(void)
{
	const char *url = getenv("CAIRN_TEST_POSTGRES");
	cr_assert(url && *url, "CAIRN_TEST_POSTGRES is not set: run through with_postgres.sh");
	return url;
}

/* A connection to database `db` of the test server. */
static PGconn *pg_connect(const char *db)
{
	const char *keys[] = { "dbname", "dbname", NULL };
	const char *vals[] = { pg_url(), db, NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	cr_assert_eq(PQstatus(conn), CONNECTION_OK, "connecting to %s: %s", db, PQerrorMessage(conn));
	return conn;
}

static void pg_exec(PGconn *conn, const char *sql)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);
	cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
		  PQresultErrorMessage(r));
	PQclear(r);
}

/* The first value of the first row of a query, heap-owned. */
static char *pg_value(PGconn *conn, const char *sql)
{
	PGresult *r = PQexec(conn, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
	char *v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	return v;
}

/* (Re)creates database db from tests/unit/engine/snapshot/hard_cases.sql. */
static void pg_create_hard_cases(const char *db)
{
	PGconn *admin = pg_connect("postgres");
	struct strbuf sql = STRBUF_INIT;
	strbuf_addf(&sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db);
	pg_exec(admin, strbuf_cstr(&sql));
	strbuf_reset(&sql);
	strbuf_addf(&sql, "CREATE DATABASE \"%s\"", db);
	pg_exec(admin, strbuf_cstr(&sql));
	PQfinish(admin);

	FILE *f = fopen(CAIRN_SOURCE_DIR "/tests/unit/engine/snapshot/hard_cases.sql", "r");
	cr_assert_not_null(f);
	strbuf_reset(&sql);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&sql, buf, n);
	fclose(f);
	PGconn *conn = pg_connect(db);
	pg_exec(conn, strbuf_cstr(&sql));
	PQfinish(conn);
	strbuf_release(&sql);
}

#endif
