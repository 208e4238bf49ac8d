/* From an instance's rendered docker params to the Engine API's container
 * create body: what cairn asks the engine for, and the hash of it that the
 * container carries as its `cairn.hash` label, so a later apply can tell
 * whether what runs is what is wanted. Pure: no engine is called here. */
#ifndef CAIRN_DOCKER_SPEC_H
#define CAIRN_DOCKER_SPEC_H

#include "base/error.h"

#include <jansson.h>
#include <stdbool.h>

/* What the spec needs besides the params. */
/* What a dataset's prepared image holds. */
struct docker_data {
	const char *image, *snapshot, *build, *dataset;
	const char *build_component; /* the component that must run image tag `build`, or NULL */
};

struct docker_target {
	const char *key;       /* instance key */
	const char *cluster;
	const char *name;      /* container name */
	const char *alias;     /* name on its networks ({{ .Discovery.instance }}) */
	const char *host;      /* host name for routing, e.g. kafka-1a2b3c4d.localhost
				  (the `host` param replaces it) */
	int http_port;         /* where the router listens when not 80, 0 for 80 */
	const char *router;    /* Traefik router name, unique per instance */
	const char *const *networks; /* first is the instance's own service network,
				       the one in the body (the others are connected after) */
	size_t nnetworks;
	int level;             /* 0 for an instance that needs nothing */
	const char *component; /* the instance's component name */
	/* The data its service instance runs (its component with a `data`
	 * param), for the markers of {{ .Data.* }} and the build check; NULL
	 * when there is none, with data_error saying why when choosing failed.
	 * Without data_image either (a check), stand-ins replace the markers. */
	const struct docker_data *data;
	const char *data_error;
	/* The prepared image a `data: {dataset: NS/NAME}` param runs (see
	 * engine/snapshot/prepare.h): fills *out (strings valid while the spec
	 * is built) or fails naming what to run. NULL when there is no engine
	 * to ask (a check): the dataset's name stands in. */
	int (*data_image)(void *ctx, const char *dataset, struct docker_data *out,
			  struct error *err);
	void *data_ctx;
	/* A replica's volume param slot_volume mounts slot_source, a volume of
	 * the replica's dependency that outlives the instance (not one of the
	 * instance's own volumes); NULL for others. */
	const char *slot_volume, *slot_source;
};

struct docker_spec {
	json_t *body;         /* POST /containers/create body, labels included */
	char *hash;           /* sha256 hex of everything but per-apply labels */
	char *image;
	char *dataset, *snapshot; /* of a `data` param, else NULL */
	json_t *volumes;      /* names of named volumes to create first (array) */
	bool health;          /* a health check is configured */
	bool exposed;         /* a port is published */
	char *url;            /* where it answers through the router, when exposed */
};

/* Builds the spec from params (the rendered params JSON). Errors name the
 * param: "params: memory must be a size such as 256m, not 'lots'". */
int docker_spec_build(struct docker_spec *out, const char *params_json,
		      const struct docker_target *t, struct error *err);
/* Adds the labels that change with every apply without making the
 * container different: cairn.generation and cairn.dependencies. */
void docker_spec_stamp(struct docker_spec *s, long long generation, const char *const *deps,
		       size_t ndeps);
/* The same two labels, set in labels (a JSON object). */
void docker_labels_stamp(json_t *labels, long long generation, const char *const *deps,
			 size_t ndeps);
void docker_spec_release(struct docker_spec *s);

/* The tag of an image reference: after the last ':' that follows the last
 * '/', the digest after '@', or "latest". Points into image. */
const char *docker_image_tag(const char *image);

/* A name Docker accepts for containers, networks and volumes: "cairn-" and
 * the key with every character outside [a-zA-Z0-9_.-] turned into '-'. */
char *docker_object_name(const char *key);
/* A DNS label (lower case, [a-z0-9-], at most 63 characters; long names are
 * cut and end in a hash of the whole so they stay unique). */
char *docker_dns_label(const char *s);

#endif
