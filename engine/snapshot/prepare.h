/* Prepared copies of snapshots: a snapshot restored into a PostgreSQL
 * container (data directory inside it), stopped cleanly and committed as an
 * image labelled with the snapshot, so that a demo's database starts with
 * its data in well under a second. Used by the CLI and the docker driver. */
#ifndef CAIRN_SNAPSHOT_PREPARE_H
#define CAIRN_SNAPSHOT_PREPARE_H

#include "snapshot.h"

#include "engine/drivers/docker/docker_api.h"

#include <stdbool.h>
#include <stdint.h>

/* The image prepared copies start from: Debian's PostgreSQL, built by
 * tools/images. */
#define SNAPSHOT_BASE_IMAGE "cairn/postgres:15"
/* Prepared images are named cairn-data/<ns>.<name>:<the id's time>. */
#define SNAPSHOT_IMAGE_REPOSITORY "cairn-data/"

/* The image name of snapshot id of dataset "ns/name"; heap. */
char *snapshot_image_name(const char *dataset, const char *id);

struct snapshot_prepare_options {
	const char *store;      /* the snapshot directory */
	const char *base_image; /* NULL: SNAPSHOT_BASE_IMAGE */
	/* called as each step ends: "container started", "PostgreSQL ready",
	 * "restored", "committed" */
	void (*step)(void *ctx, const char *step, double seconds);
	void *step_ctx;
	snapshot_progress_fn progress; /* per table restored */
	void *progress_ctx;
};

struct snapshot_prepare_result {
	char *image, *image_id;
	char *database, *user; /* what the application connects to (the source's) */
	bool reused;           /* the snapshot had an image already */
	int64_t rows;
	double seconds, start_seconds, ready_seconds, restore_seconds, commit_seconds;
};

/* Prepares snapshot id of store on the engine d: starts the base image,
 * creates the source URL's user (superuser: the copy is disposable) and
 * database, restores the snapshot into it, stops the server cleanly and
 * commits the container as snapshot_image_name(), labelled
 * cairn.snapshot=ID and cairn.snapshot.{dataset,build,created,database,user}
 * (and build_component when the build is a component's image tag).
 * An image of id already there is reused. The container is removed whether
 * it succeeds or not. */
int snapshot_prepare(struct docker *d, const char *id, const struct snapshot_prepare_options *o,
		     struct snapshot_prepare_result *out, struct error *err);
void snapshot_prepare_result_release(struct snapshot_prepare_result *r);

/* A prepared image as its labels describe it. */
struct snapshot_image {
	char *image, *image_id, *snapshot, *dataset, *build, *created, *database, *user;
	char *build_component; /* the component whose image tag is the build, or NULL */
	int64_t size;
};

/* The prepared images on d (of dataset "ns/name" only, when not NULL),
 * oldest snapshot first; free with snapshot_images_free. */
int snapshot_images(struct docker *d, const char *dataset, struct snapshot_image **out,
		    size_t *n, struct error *err);
void snapshot_image_release(struct snapshot_image *s);
void snapshot_images_free(struct snapshot_image *v, size_t n);

#endif
