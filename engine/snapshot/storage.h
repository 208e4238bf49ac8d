/* Where snapshots are kept, behind one small interface: a snapshot is a set
 * of named files written under a pending name and made visible all at once
 * by commit, so a create that is killed leaves nothing that looks whole.
 * A local directory is the one backend; an S3-compatible bucket is the next
 * (write each file, then the manifest last). Internal to engine/snapshot. */
#ifndef CAIRN_SNAPSHOT_STORAGE_H
#define CAIRN_SNAPSHOT_STORAGE_H

#include "base/error.h"

#include <stddef.h>
#include <stdio.h>

struct sn_storage;

/* Snapshots in directory dir (made when missing), one subdirectory each. */
struct sn_storage *sn_storage_local(const char *dir, struct error *err);
void sn_storage_free(struct sn_storage *st);
/* Where the storage is, for messages. */
const char *sn_storage_where(const struct sn_storage *st);

/* Starts snapshot id; pending ones left by dead processes are removed. */
int sn_storage_begin(struct sn_storage *st, const char *id, struct error *err);
/* A new file of the pending snapshot, for writing. */
FILE *sn_storage_create(struct sn_storage *st, const char *id, const char *name,
			struct error *err);
/* Flushes a file made by sn_storage_create to the disk and closes it. */
int sn_storage_close(FILE *f, const char *name, struct error *err);
/* Makes the pending snapshot visible under id. */
int sn_storage_commit(struct sn_storage *st, const char *id, struct error *err);
/* Forgets the pending snapshot. */
void sn_storage_abort(struct sn_storage *st, const char *id);

/* The ids of the complete snapshots, sorted; heap strings in a heap array. */
int sn_storage_list(struct sn_storage *st, char ***ids, size_t *n, struct error *err);
void sn_storage_list_free(char **ids, size_t n);
/* A file of a complete snapshot, for reading; its size in *size when not NULL. */
FILE *sn_storage_open(struct sn_storage *st, const char *id, const char *name, long long *size,
		      struct error *err);
/* Deletes a complete snapshot. */
int sn_storage_remove(struct sn_storage *st, const char *id, struct error *err);

#endif
