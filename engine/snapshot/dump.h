/* Writing one table of a snapshot: its taken rows read with COPY (in
 * batches of row ids, or whole), each value anonymized when its column has
 * a transformer, written as one JSON object per line into a gzip stream.
 * Memory is that of one batch of row ids and one row, whatever the table's
 * size. Internal to engine/snapshot. */
#ifndef CAIRN_SNAPSHOT_DUMP_H
#define CAIRN_SNAPSHOT_DUMP_H

#include "anon.h"
#include "subset.h"

#include <stdio.h>

struct sn_dump_result {
	int64_t rows;
	int64_t bytes;     /* compressed, as written */
	char sha256[65];   /* of the file, hex */
};

/* The columns a snapshot holds: all but generated ones, which a restore
 * computes again. */
bool sn_dump_column(const struct sn_column *col);

/* Writes table t (what sub says of it) to out. */
int sn_dump_table(PGconn *conn, const struct sn_catalog *c, size_t t,
		  const struct sn_subset_table *sub, const struct sn_anonymizer *an, FILE *out,
		  struct sn_dump_result *res, struct error *err);

#endif
