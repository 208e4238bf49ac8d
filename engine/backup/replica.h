/* Replicas: a dependency with `replica: {of: NS/NAME}` is made from a backup
 * of that dependency. The docker driver pins each component to the image
 * the backup recorded, restores the database into a fresh container before
 * anything that needs it starts, and syncs a volume's files from the
 * backup into a volume that belongs to the replica's dependency (its
 * slot), copying only what differs. Everything comes from the backup
 * directory; nothing reaches production. */
#ifndef CAIRN_BACKUP_REPLICA_H
#define CAIRN_BACKUP_REPLICA_H

#include "base/error.h"
#include "engine/drivers/docker/docker_api.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What runs pg_dump, pg_restore and file listings: Debian's PostgreSQL on
 * busybox, built by tools/images. */
#define BACKUP_HELPER_IMAGE "cairn/postgres:15"

/* Where backups are found when nothing else says so: set once by the
 * program (the CLI's CAIRN_BACKUPS or default), read by the driver. */
void backup_set_default_store(const char *dir);
const char *backup_default_store(void);

/* The manifest of backup id of dependency `of` ("ns/name"), or of its
 * newest backup when id is NULL; new reference. The error says how to make
 * one when there is none. */
int replica_backup(const char *store, const char *of, const char *id, json_t **manifest,
		   struct error *err);

/* The index in the manifest's parts of the part of kind ("postgres",
 * "volume") of service/component; -1 when it has none. */
long replica_part(json_t *manifest, const char *kind, const char *service, const char *component);

/* The text a restored database carries as its comment: the backup's id. */
#define REPLICA_MARKER_PREFIX "cairn replica of "

/* Restores part index (a database) of the backup into the PostgreSQL of the
 * running container, through a helper of image on its network: waits until
 * it accepts connections; when the database carries the backup's marker
 * already, does nothing (out->restored false); else drops it, creates the
 * part's user (when missing) and database, pg_restore -j jobs, and marks it. */
struct replica_restore {
	bool restored;       /* false: it carried the mark already */
	double wait_seconds; /* until PostgreSQL accepted connections */
	double restore_seconds; /* then, until restored and marked */
};
int replica_restore_database(struct docker *d, const char *store, json_t *manifest, size_t index,
			     const char *container, const char *image, int jobs,
			     struct replica_restore *out, struct error *err);

struct replica_sync {
	int64_t files, bytes;               /* in the backup's list */
	int64_t to_copy_files, to_copy_bytes; /* what differs: to be written */
	int64_t copied_files, copied_bytes; /* written into the volume */
	int64_t removed;                    /* paths the backup does not have */
	double seconds;
};

/* Makes the files of volume (created with labels when missing) those of
 * part index (a volume) of the backup: paths the backup does not have are
 * removed, files whose size or time differ (or that are missing) are
 * written with the backup's mode, owner and time; the rest is not touched.
 * Through helpers of image that mount the volume. */
/* progress (may be NULL) is called as files are written, with out's counts. */
typedef void (*replica_progress_fn)(void *ctx, const struct replica_sync *so_far);
int replica_sync_volume(struct docker *d, const char *store, json_t *manifest, size_t index,
			const char *volume, json_t *labels, const char *image,
			replica_progress_fn progress, void *progress_ctx, struct replica_sync *out,
			struct error *err);

/* Records that step ("restore", "sync") of the replica dependency ("ns/name")
 * for component ("service/component") finished in seconds, from backup,
 * with what it did (note): kept in the store's .replicas/ directory, one
 * file per step and component, the newest replacing the one before. */
int replica_record_step(const char *store, const char *dependency, const char *step,
			const char *component, const char *backup, double seconds, const char *note,
			struct error *err);
/* The steps recorded for the dependency, oldest first: [{step, component,
 * backup, seconds, finished, note}]; an empty array when none. New
 * reference. */
json_t *replica_steps(const char *store, const char *dependency);

#endif
