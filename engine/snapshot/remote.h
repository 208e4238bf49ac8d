/* Snapshots of a dataset with `store: {s3: …}`: made in the local snapshot
 * directory as always, then published to S3-compatible storage (every
 * file, the manifest last, so a listing never sees one half uploaded) where
 * `keep` is applied; fetched back into the local directory (each file
 * checked against the manifest's SHA-256) before a restore or a prepare
 * reads them. Credentials come from the dataset's key files and never
 * appear in a message. Used by the CLI and the server. */
#ifndef CAIRN_SNAPSHOT_REMOTE_H
#define CAIRN_SNAPSHOT_REMOTE_H

#include "base/error.h"
#include "policy/policy.h"

#include <jansson.h>

struct snapshot_remote;

/* The remote store of ds; *out stays NULL (and 0 is returned) when ds keeps
 * its snapshots in the local directory only. Key files are read relative
 * to the working directory. */
int snapshot_remote_open(struct snapshot_remote **out, const struct dataset *ds, struct error *err);
void snapshot_remote_close(struct snapshot_remote *r);
/* "s3://bucket/prefix/", for messages and listings. */
const char *snapshot_remote_where(const struct snapshot_remote *r);

/* Uploads snapshot id from the directory store, then deletes in the bucket
 * the oldest snapshots of the dataset beyond its keep (*pruned: their ids,
 * a new JSON array). */
int snapshot_remote_publish(struct snapshot_remote *r, const char *store, const char *id,
			    json_t **pruned, struct error *err);
/* Makes snapshot id complete in the directory store (nothing to do when it
 * is there already). */
int snapshot_remote_fetch(struct snapshot_remote *r, const char *store, const char *id,
			  struct error *err);
/* The manifests of the dataset's complete snapshots in the bucket, oldest
 * first, each with "stored": the bucket's place; new reference. */
int snapshot_remote_list(struct snapshot_remote *r, json_t **out, struct error *err);
/* Deletes snapshot id from the bucket (its manifest first). */
int snapshot_remote_delete(struct snapshot_remote *r, const char *id, struct error *err);

#endif
