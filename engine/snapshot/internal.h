/* What snapshot.c and restore.c share. Internal to engine/snapshot. */
#ifndef CAIRN_SNAPSHOT_INTERNAL_H
#define CAIRN_SNAPSHOT_INTERNAL_H

#include "storage.h"
#include "base/lazy/pq.h"

#include <jansson.h>

/* The line between the schema before the data and after it in schema.sql. */
#define POST_DATA_MARK "-- cairn: post-data\n"

/* A connection to url (a libpq URL) as a snapshot makes it: UTF8, named. */
PGconn *sn_connect(const char *url, const char *password, struct error *err);
/* Runs sql; with value, the first column of the first row (heap, or NULL). */
int sn_exec(PGconn *conn, const char *sql, char **value, struct error *err);
/* Runs a PostgreSQL client program (pg_dump, psql) with the password in its
 * environment only for that run; its messages go into err on failure. */
int sn_run_client(const char *const argv[], const char *password, struct error *err);
/* The manifest of a complete snapshot; new reference. */
json_t *sn_read_manifest(struct sn_storage *st, const char *id, struct error *err);

#endif
