/* The subset: which rows of which tables a snapshot takes. Every root row;
 * from roots and rows reached as children, their children recursively; every
 * row's parents recursively; a row reached only as a parent pulls in its
 * children only along references with children: true, and references with
 * children: false are never followed from parent to children. Rows are
 * identified by (partition, ctid), which the snapshot's REPEATABLE READ
 * transaction keeps stable, so tables without a primary key work like any
 * other. Set-at-a-time: one query per table and reference per round, keys
 * passed as arrays. Internal to engine/snapshot. */
#ifndef CAIRN_SNAPSHOT_SUBSET_H
#define CAIRN_SNAPSHOT_SUBSET_H

#include "catalog.h"

struct dataset;

/* The rows taken of one table, in physical order. */
struct sn_rows {
	uint32_t tableoid; /* the table itself, or one of its partitions */
	size_t len;
	char **ctids; /* "(block,offset)" */
};

struct sn_subset_table {
	bool all;       /* every row: `whole`, or a root without `where` */
	int64_t count;  /* rows taken */
	struct sn_rows *parts; /* when not all: rows per partition (one entry for a plain table) */
	size_t nparts;
};

struct sn_subset {
	struct arena *arena;
	struct sn_subset_table *tables; /* as the catalog's */
	size_t ntables;
	int64_t total;
	unsigned rounds;  /* of the closure */
	unsigned queries; /* sent to the source */
};

/* Applies the dataset's references to c's foreign keys and computes the
 * subset over conn, in the caller's REPEATABLE READ transaction. Names the
 * dataset gives that the source lacks are errors naming the nearest one; a
 * subset over ds->max_rows is refused with the count reached. */
int sn_subset_compute(PGconn *conn, struct sn_catalog *c, const struct dataset *ds,
		      struct sn_subset *out, struct error *err);
void sn_subset_release(struct sn_subset *s);

#endif
