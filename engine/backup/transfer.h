/* Moving files and running tools beside an instance's containers through
 * the Engine API only, so that it works on a remote engine as on the local
 * one: the tar of a path in a container read entry by entry (libarchive),
 * and short-lived helper containers of cairn's PostgreSQL image that share
 * a container's network (pg_dump, pg_restore, file listings). Internal to
 * engine/backup. */
#ifndef CAIRN_BACKUP_TRANSFER_H
#define CAIRN_BACKUP_TRANSFER_H

#include "base/error.h"
#include "base/lazy/archive.h"
#include "base/strbuf.h"
#include "engine/drivers/docker/docker_api.h"

#include <jansson.h>
#include <stdbool.h>

/* Called for each entry of the archive, with the reader at its data (read
 * it with archive_read_data, or leave it: the next entry skips it). A
 * non-zero return stops the walk and is returned. */
typedef int (*tar_entry_fn)(void *ctx, struct archive *a, struct archive_entry *e,
			    struct error *err);

/* Walks the tar of path in container (GET /containers/{container}/archive:
 * entries are named after path's last component, e.g. "media/a.jpg"),
 * streamed as the engine sends it. */
int tar_from_container(struct docker *d, const char *container, const char *path,
		       tar_entry_fn fn, void *ctx, struct error *err);

/* Writes the body of a tar into the archive; a non-zero return fails the
 * upload. */
typedef int (*tar_write_fn)(void *ctx, struct archive *a, struct error *err);
/* Extracts the tar fn writes into directory path of container (PUT
 * /containers/{container}/archive), streamed as it is made. */
int tar_into_container(struct docker *d, const char *container, const char *path,
		       tar_write_fn fn, void *ctx, struct error *err);

/* A helper container: image, command, the user it runs as, the container
 * whose network it shares (NULL: none), and mounts (a Docker Mounts array,
 * NULL: none). */
struct helper {
	const char *image, *user, *network_of;
	const char *const *command; /* NULL-terminated */
	json_t *mounts;
	const char *purpose; /* for messages: "pg_dump of database shop" */
};

/* Creates the container (labelled cairn.helper=purpose; removed at the
 * next helper_create of a process when a kill left it) and returns its id
 * in *id (heap). */
int helper_create(struct docker *d, const struct helper *h, char **id, struct error *err);
/* Starts it and waits until it exits; an exit status other than 0 is an
 * error carrying the last lines it wrote. */
int helper_run(struct docker *d, const struct helper *h, const char *id, struct error *err);
/* What it wrote: all of its stdout, or the last lines of both streams. */
int helper_output(struct docker *d, const char *id, bool whole_stdout, struct strbuf *out);
/* Removes it (and its anonymous volumes); NULL does nothing. */
void helper_remove(struct docker *d, const char *id);

/* The running container's id and inspect document (GET /containers/{name}/json):
 * an error says that the instance has no running container. */
int container_inspect(struct docker *d, const char *name, json_t **out, struct error *err);

#endif
