/* A fresh store for every store test, on SQLite (a file in a new temporary
 * directory) or, when CAIRN_TEST_POSTGRES names a server, on PostgreSQL (a
 * database created for the test and dropped after it). Included by the store
 * test files only; each test runs in its own process. */
#ifndef CAIRN_TEST_STORE_FIXTURE_H
#define CAIRN_TEST_STORE_FIXTURE_H

#include "base/lazy/pq.h"
#include "engine/store/store.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];       /* a private temporary directory, on both backends */
static char db[1024];      /* the store location every test uses */
static char pg_admin[1024]; /* CAIRN_TEST_POSTGRES, when set */
static char pg_name[64];   /* the test's own database */

static bool on_postgres(void)
{
	return pg_admin[0] != '\0';
}

/* url with its database name replaced by name. */
static void pg_url_with_db(char *out, size_t size, const char *url, const char *name)
{
	const char *host = strstr(url, "://");
	cr_assert_not_null(host, "CAIRN_TEST_POSTGRES is not a URL: %s", url);
	host += 3;
	const char *path = host + strcspn(host, "/?");
	const char *query = path + strcspn(path, "?");
	snprintf(out, size, "%.*s/%s%s", (int)(path - url), url, name, query);
}

/* Runs sql on the server's admin database, or on the test's database with own. */
static void pg_exec(const char *sql, bool own)
{
	char url[1024];
	if (own)
		pg_url_with_db(url, sizeof(url), pg_admin, pg_name);
	PGconn *c = PQconnectdb(own ? url : pg_admin);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "cannot connect to %s: %s", own ? url : pg_admin,
		     PQerrorMessage(c));
	PGresult *r = PQexec(c, "SET client_min_messages = warning");
	PQclear(r);
	r = PQexec(c, sql);
	ExecStatusType status = PQresultStatus(r);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	cr_assert(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, "%s: %s", sql, msg);
}

/* Runs sql on the test's database behind the store's back (schema tests). */
static void store_raw_exec(const char *sql)
{
	if (on_postgres()) {
		pg_exec(sql, true);
		return;
	}
	sqlite3 *raw;
	cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
	char *msg = NULL;
	int rc = sqlite3_exec(raw, sql, NULL, NULL, &msg);
	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "");
	sqlite3_close(raw);
}

/* Marks the test's database as having schema version v. */
static void store_raw_set_version(int v)
{
	char sql[128];
	if (on_postgres())
		snprintf(sql, sizeof(sql), "UPDATE cairn_schema SET version = %d", v);
	else
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	store_raw_exec(sql);
}

static int fixture_remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *url = getenv("CAIRN_TEST_POSTGRES");
	if (url && *url) {
		/* Each test runs in its own process: the pid names its database.
		 * Made first, so that a server that does not answer leaves nothing. */
		snprintf(pg_admin, sizeof(pg_admin), "%s", url);
		snprintf(pg_name, sizeof(pg_name), "cairn_test_%ld", (long)getpid());
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_name);
		pg_exec(sql, false);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", pg_name);
		pg_exec(sql, false);
		pg_url_with_db(db, sizeof(db), url, pg_name);
	}
	strcpy(dir, "/tmp/cairn-store-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	if (!on_postgres())
		snprintf(db, sizeof(db), "%s/state.db", dir);
}

static void teardown(void)
{
	nftw(dir, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (on_postgres()) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_name);
		pg_exec(sql, false);
	}
}

static struct store *open_store(const char *location)
{
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_open(&s, location, &err), 0, "%s", error_msg(&err));
	return s;
}

#endif
