/* Snapshots of production data: from a dataset's source PostgreSQL, the
 * rows its roots reach, closed under foreign keys, anonymized, written as
 * <schema>.<table>.json.gz (one JSON object per line), schema.sql,
 * build.txt and manifest.json into a snapshot directory; and restored into
 * an empty database. Used by the CLI and the server. */
#ifndef CAIRN_SNAPSHOT_H
#define CAIRN_SNAPSHOT_H

#include "base/error.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Called after each table is written or loaded. */
typedef void (*snapshot_progress_fn)(void *ctx, const char *table, int64_t rows, int64_t bytes,
				     double seconds);

struct snapshot_options {
	const char *store;   /* the snapshot directory */
	const char *build;   /* what build.txt says; NULL: "unknown" */
	int64_t generation;  /* of the policy the dataset comes from */
	snapshot_progress_fn progress;
	void *progress_ctx;
};

struct snapshot_table {
	char *table; /* schema.table */
	int64_t rows, bytes;
	double seconds;
};

struct snapshot_result {
	char *id;
	struct snapshot_table *tables;
	size_t ntables;
	int64_t rows, bytes;
	double seconds;
	unsigned rounds, queries; /* of the subset */
	struct diags warnings;    /* text columns without a rule */
	char *schema_changed_since; /* the previous snapshot's id when the source's schema changed */
	char **pruned;              /* snapshots deleted by `keep` */
	size_t npruned;
};

/* Takes a snapshot of ds (relative password and key files are read from the
 * working directory). Errors name the file, line and dataset where they can. */
int snapshot_create(const struct dataset *ds, const struct snapshot_options *o,
		    struct snapshot_result *out, struct error *err);
void snapshot_result_release(struct snapshot_result *r);

/* The manifests of the snapshots in store (of dataset "ns/name" only when
 * not NULL), oldest first, as a JSON array; new reference. */
int snapshot_list(const char *store, const char *dataset, json_t **out, struct error *err);
/* The manifest of snapshot id; new reference. */
int snapshot_show(const char *store, const char *id, json_t **out, struct error *err);
int snapshot_delete(const char *store, const char *id, struct error *err);

struct snapshot_restore_result {
	struct snapshot_table *tables;
	size_t ntables;
	int64_t rows;
	double seconds;
};

/* Restores snapshot id into the empty database at url (password from
 * PGPASSWORD/PGPASSFILE as libpq finds it): the schema before the data,
 * every table with COPY, the schema after the data (indexes, constraints,
 * triggers), sequences past the largest value, ANALYZE. A database that
 * has a table already is refused, naming it. */
int snapshot_restore(const char *store, const char *id, const char *url,
		     snapshot_progress_fn progress, void *progress_ctx,
		     struct snapshot_restore_result *out, struct error *err);
void snapshot_restore_result_release(struct snapshot_restore_result *r);

#endif
