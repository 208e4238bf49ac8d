/* Backups of a running environment: the PostgreSQL databases and volumes
 * its instances' `backup` params name (pg_dump -Fd -j through a helper
 * container on the database container's network; a content-addressed copy
 * of a volume's files, where a file whose size and time did not change
 * since the previous backup is neither hashed nor stored again), with the
 * images every
 * component runs. Kept in a directory: ID/ holds manifest.json, the dump
 * files (postgres-N.*) and the file lists (volume-N.json); .objects/ holds
 * the files' contents by SHA-256, shared by all backups. Used by the CLI
 * and the server; replicas restore from them. */
#ifndef CAIRN_BACKUP_H
#define CAIRN_BACKUP_H

#include "base/error.h"
#include "engine/core/engine.h"
#include "engine/jobs/daily.h"
#include "replica.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stdint.h>

struct backup_part {
	char *kind;                  /* "postgres" or "volume" */
	char *service, *component;   /* whose instance it is */
	char *key, *cluster;
	char *database, *user;       /* postgres */
	char *volume, *path;         /* volume: its name and where it is mounted */
	int64_t files, bytes;        /* what the part holds */
	int64_t copied_files, copied_bytes; /* of those, new in the store */
	double seconds;
};

/* As the manifest and -o json show it; new reference. */
json_t *backup_part_json(const struct backup_part *p);

struct backup_options {
	const char *store;  /* the backup directory */
	int64_t keep;       /* backups of the dependency kept, this one included */
	long long generation; /* of the policy the dependency comes from */
	int jobs;           /* pg_dump -j; 0: 2 */
	const char *image;  /* of the helper; NULL: cairn/postgres:15 */
	/* called as each part is done */
	void (*part_done)(void *ctx, const struct backup_part *part);
	void *part_ctx;
};

struct backup_result {
	char *id;
	struct backup_part *parts;
	size_t nparts;
	double seconds;
	json_t *pruned; /* ids deleted by keep */
};

/* Backs up dependency "ns/name" of resolution r (its instances on the
 * docker clusters of p). An error names the part, its container and what
 * failed; nothing is stored then. */
int backup_create(const struct policy *p, const struct resolution *r, const char *dependency,
		  const struct backup_options *o, struct backup_result *out, struct error *err);
void backup_result_release(struct backup_result *r);

/* The manifests of the backups in store (of dependency "ns/name" only when
 * not NULL), oldest first; new reference. */
int backup_list(const char *store, const char *dependency, json_t **out, struct error *err);
/* The manifest of backup id; new reference. */
int backup_show(const char *store, const char *id, json_t **out, struct error *err);
/* Deletes backup id, then the contents no backup refers to any more. */
int backup_delete(const char *store, const char *id, struct error *err);

/* Backups of a dependency with backup: {store: {s3: …}} are kept in that
 * bucket too (keys backups/ID/FILE and objects/NS.NAME/SHA256 under its
 * prefix).
 * *out stays NULL (and 0 is returned) for one without; key files are read
 * relative to the working directory. */
struct backup_remote;
int backup_remote_open(struct backup_remote **out, const struct dependency *dep, struct error *err);
void backup_remote_close(struct backup_remote *r);
/* "s3://bucket/prefix/", for messages. */
const char *backup_remote_where(const struct backup_remote *r);
/* Uploads backup id from the directory store (contents the bucket lacks,
 * its files, its manifest last), then deletes there the dependency's
 * oldest beyond keep and the contents no backup in the bucket refers to
 * (*pruned: their ids, a new array). */
int backup_remote_publish(struct backup_remote *r, const char *store, const char *id, int64_t keep,
			  json_t **pruned, struct error *err);
/* The id of the dependency's newest backup in the bucket (heap), NULL when none. */
int backup_remote_newest(struct backup_remote *r, char **id, struct error *err);
/* Makes backup id complete in the directory store, with its contents
 * (nothing to do when it is there already). */
int backup_remote_fetch(struct backup_remote *r, const char *store, const char *id,
			struct error *err);

/* `cairn serve`'s backups: the job BACKUP_JOB (payload {"backup":
 * "NS/NAME"}) backs the dependency up as the latest generation has it
 * into the directory store, with its keep; backup_daily_task has the daily
 * schedule queue it once a day for each dependency with backup: {schedule:
 * "HH:MM"} (key backup:NS/NAME, fact backup-scheduled:NS/NAME). */
#define BACKUP_JOB "dependency-backup"
extern const struct daily_task backup_daily_task;
struct backup_jobs;
struct backup_jobs_env {
	const char *users_path, *secrets_path;
	const char *store; /* the backup directory */
	struct jobs *jobs; /* the job kind is registered here */
};
int backup_jobs_new(struct backup_jobs **out, const struct backup_jobs_env *env, struct error *err);
/* After the jobs stopped. */
void backup_jobs_free(struct backup_jobs *bj);

#endif
