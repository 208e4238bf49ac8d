/* The source database's shape as a snapshot needs it, read from pg_catalog
 * inside the snapshot's transaction: ordinary and partitioned tables (not
 * their partitions, which are read through the parent) of every schema but
 * the system ones, their columns, and the foreign keys between them
 * (composite ones column by column). Internal to engine/snapshot. */
#ifndef CAIRN_SNAPSHOT_CATALOG_H
#define CAIRN_SNAPSHOT_CATALOG_H

#include "base/error.h"
#include "base/lazy/pq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

struct sn_column {
	const char *name;
	const char *type; /* format_type(): what a cast to it is written as */
	int16_t attnum;
	bool notnull;
	bool generated; /* GENERATED ALWAYS AS (...) STORED: never written on restore */
	char identity;  /* 'a' ALWAYS, 'd' BY DEFAULT, 0 */
	char category;  /* pg_type.typcategory of its base type: 'S' string, 'D' date/time... */
	bool unique;    /* alone under a unique index or primary key */
};

struct sn_table {
	uint32_t oid;
	const char *schema, *name;
	const char *qname; /* "schema"."name", quoted for SQL */
	const char *label; /* schema.name as messages and files show it */
	bool partitioned;
	bool has_pk;
	struct sn_column *cols;
	size_t ncols;
};

struct sn_fk {
	const char *name;
	size_t child, parent; /* table indices */
	size_t ncols;
	size_t *child_cols, *parent_cols; /* column indices, pairwise */
	int children; /* the dataset's reference: -1 default, 0 never, 1 also from parent-only rows */
};

struct sn_partition {
	uint32_t oid;
	const char *qname;
};

struct sn_catalog {
	struct arena *arena; /* everything below */
	struct sn_partition *partitions; /* leaf partitions of partitioned tables */
	size_t npartitions;
	struct sn_table *tables;
	size_t ntables;
	struct sn_fk *fks;
	size_t nfks;
};

/* Reads the catalog over conn (in the caller's transaction) into c. */
int sn_catalog_read(PGconn *conn, struct sn_catalog *c, struct error *err);
void sn_catalog_release(struct sn_catalog *c);

/* The table a dataset names: "schema.table", or "table" in public, else in
 * the one schema that has it. -1 when absent or ambiguous; the message names
 * it and the nearest existing table. */
int sn_catalog_table(const struct sn_catalog *c, const char *name, size_t *out, struct error *err);
/* A column of table t by name; -1 with the nearest existing column. */
int sn_catalog_column(const struct sn_catalog *c, size_t t, const char *name, size_t *out,
		      struct error *err);

/* The quoted name of a leaf partition, for SQL; NULL when unknown. */
const char *sn_partition_name(const struct sn_catalog *c, uint32_t oid);
/* A SHA-256 (hex) of the tables, columns, types and foreign keys: what a
 * restore and the next snapshot compare to see that the schema changed. */
void sn_catalog_fingerprint(const struct sn_catalog *c, char out[65]);

/* "name" with every '"' doubled and quotes around, for SQL; arena-owned. */
const char *sn_quote_ident(struct arena *a, const char *name);

#endif
