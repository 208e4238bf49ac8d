/* What backup.c and media.c share. Internal to engine/backup. */
#ifndef CAIRN_BACKUP_INTERNAL_H
#define CAIRN_BACKUP_INTERNAL_H

#include "backup.h"

#include "engine/drivers/docker/docker_api.h"
#include "engine/snapshot/storage.h"

#include <jansson.h>

double backup_now(void);
/* An exclusive lock on the directory (its .lock file): the descriptor to
 * close, or -1 with err. */
int backup_lock(const char *store, struct error *err);
/* A JSON file of a complete backup; new reference. */
json_t *backup_read_json(struct sn_storage *st, const char *id, const char *name,
			 struct error *err);

/* Copies the files of part p (a volume mounted in the running container)
 * as part index of backup id: contents new to the store into .objects/,
 * the list into volume-INDEX.json. A file of the same path, size and time
 * in the previous backup's list (when previous is not NULL) is not read. */
int backup_take_volume(struct sn_storage *st, const char *store, const char *id,
		       const char *previous, size_t index, struct backup_part *p,
		       struct docker *d, const char *container, struct error *err);
/* Deletes the contents in .objects/ that no backup's list refers to. */
int backup_collect_garbage(struct sn_storage *st, const char *store, struct error *err);

#endif
