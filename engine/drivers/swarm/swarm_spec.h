/* From an instance's rendered docker params to a Swarm ServiceSpec: the
 * docker driver builds the container (docker_spec.h) from the params it
 * knows, the swarm rows (swarm_params.h) build the rest, and the container
 * body becomes the service's task template. The spec carries the hash of
 * what was asked as its `cairn.hash` label. Pure: no engine is called. */
#ifndef CAIRN_SWARM_SPEC_H
#define CAIRN_SWARM_SPEC_H

#include "base/error.h"

#include <jansson.h>
#include <stdbool.h>

struct swarm_target {
	const char *key;       /* instance key */
	const char *cluster;
	const char *name;      /* service name (a DNS label) */
	const char *alias;     /* name on its networks ({{ .Discovery.instance }}) */
	const char *const *networks; /* overlay networks: its service's, then its consumers' */
	size_t nnetworks;
	int level;             /* 0 for an instance that needs nothing */
	const char *component;
	/* The params with secret values masked (instance.params_public): an
	 * env var whose value is "(secret)" there reads .User.Secrets. NULL
	 * when none does. */
	const char *params_public;
};

struct swarm_spec {
	json_t *body;        /* POST /services/create body */
	char *hash;          /* sha256 hex of the body without per-apply labels */
	char *image;
	long long replicas;  /* tasks wanted; -1 for mode: global */
	bool health;         /* a health check is configured */
	/* The Swarm secrets it reads: name -> base64 of the value. An env var
	 * NAME read from the users' secrets becomes the secret NAME's file
	 * (/run/secrets/NAME, env NAME_FILE gives its path), named after the
	 * hash of its value: a new value is a new secret and rolls the tasks.
	 * The body's ContainerSpec.Secrets lack SecretID until the action has
	 * made them. */
	json_t *secrets;
};

/* Errors name the param: "params: replicas must be a number of tasks, not 'x'". */
int swarm_spec_build(struct swarm_spec *out, const char *params_json, const struct swarm_target *t,
		     struct error *err);
/* The service labels that change with every apply without changing what
 * runs: cairn.generation and cairn.dependencies (never on the tasks, or
 * every apply would roll every service). */
void swarm_spec_stamp(struct swarm_spec *s, long long generation, const char *const *deps,
		      size_t ndeps);
void swarm_spec_release(struct swarm_spec *s);

#endif
