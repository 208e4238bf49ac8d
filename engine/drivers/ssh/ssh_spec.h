/* What a `code.type: process` instance asks for, read from its rendered
 * params (checked again here: templates are only known once rendered), and
 * the release it makes: an artifact identified by its content hash plus the
 * way it is run, hashed into a release id. */
#ifndef CAIRN_SSH_SPEC_H
#define CAIRN_SSH_SPEC_H

#include "base/error.h"
#include "base/strbuf.h"

#include <jansson.h>
#include <stdbool.h>

struct process_spec {
	char *artifact;     /* local path */
	char *start;
	json_t *env;        /* {NAME: "value"}, owned */
	int port;           /* 0: a unix socket */
	char *health_http;  /* NULL or "/path" */
	char *health_cmd;   /* NULL or a command */
	int health_timeout_s;
	int canary;         /* 0: blue-green, else the percent */
	bool routed;
	char *route_host, *route_prefix;
	int drain_s;
};

/* Reads rendered params (JSON). domain is the cluster's default route host. */
int process_spec_parse(struct process_spec *s, const char *params_json, const char *domain,
		       struct error *err);
void process_spec_release(struct process_spec *s);

/* The release id (12 hex) of a spec whose artifact hashes to artifact_hash:
 * the same artifact run differently is another release. */
void process_spec_rid(const struct process_spec *s, const char *artifact_hash, char rid[13]);

/* The artifact: a directory (packed as a tar stream of a deterministic walk:
 * names sorted, owners and times zeroed) or a .tar.gz/.tgz/.tar file. Fills
 * hash (64 hex) and *upload (the file to send: the artifact itself, or the
 * tar written into dir), *tgz (gzip-compressed). */
int process_artifact_hash(const char *artifact, const char *dir, char hash[65], char **upload,
			  bool *tgz, struct error *err);

#endif
