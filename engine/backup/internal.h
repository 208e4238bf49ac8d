/* What backup.c and media.c share. Internal to engine/backup. */
#ifndef CAIRN_BACKUP_INTERNAL_H
#define CAIRN_BACKUP_INTERNAL_H

#include "backup.h"
#include "replica.h"

#include "engine/drivers/docker/docker_api.h"
#include "engine/snapshot/storage.h"

#include <jansson.h>
#include <stdbool.h>

/* An exclusive lock on the directory (its .lock file): the descriptor to
 * close, or -1 with err. */
int backup_lock(const char *store, struct error *err);
/* "ns.name." — what the ids of a dependency's backups start with; heap. */
char *backup_id_prefix(const char *dependency);
bool backup_has_prefix(const char *s, const char *prefix);
/* The id of the dependency's newest backup in st (heap), or NULL. */
char *backup_newest(struct sn_storage *st, const char *dependency);
/* The names in dir that start with prefix (and not with '.'), sorted;
 * heap strings in a heap array. */
int backup_list_files(const char *dir, const char *prefix, char ***names, size_t *n,
		      struct error *err);
/* A JSON file of a complete backup; new reference. */
json_t *backup_read_json(struct sn_storage *st, const char *id, const char *name,
			 struct error *err);

/* Copies the files of part p (a volume mounted in the running container)
 * as part index of backup id: contents new to the store into .objects/,
 * the list into volume-INDEX.json. A file of the same path, size and time
 * in the previous backup's list (when previous is not NULL) is skipped in
 * the stream: neither hashed nor stored. */
int backup_take_volume(struct sn_storage *st, const char *store, const char *id,
		       const char *previous, size_t index, struct backup_part *p,
		       struct docker *d, const char *container, struct error *err);
/* The file holding the list of part index's files: "volume-INDEX.json". */
#define BACKUP_LIST_NAME_SIZE 48
void backup_list_name(char out[BACKUP_LIST_NAME_SIZE], size_t index);
/* Reads a JSON file ("manifest.json", a list) of one backup; NULL with err. */
typedef json_t *(*backup_list_fn)(void *ctx, const char *name, struct error *err);
/* Adds to refs (a set) the contents the volume lists of manifest refer to,
 * each list read by list_of; -1 when one cannot be read. */
int backup_add_refs(json_t *manifest, backup_list_fn list_of, void *ctx, json_t *refs,
		    struct error *err);
/* A backup_list_fn of the backup id in st. */
struct backup_stored {
	struct sn_storage *st;
	const char *id;
};
json_t *backup_stored_list(void *ctx, const char *name, struct error *err);
/* Deletes the contents in .objects/ that no backup's list refers to. */
int backup_collect_garbage(struct sn_storage *st, const char *store, struct error *err);

#endif
