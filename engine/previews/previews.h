/* Preview environments from GitHub: the pull_request webhook (signature
 * checked over the raw body before anything is parsed, deliveries
 * de-duplicated), one dependency `pr-<n>` per pull request of a configured
 * repository, created, updated and deleted by jobs (newest commit wins, a
 * closed PR never comes back), the preview URL reported to GitHub as a
 * deployment and commit status, and expiry: a reaper deletes dependencies
 * past `expires`/`ttl`, a sweep deletes previews whose PR is closed (nothing
 * when GitHub cannot be reached). */
#ifndef CAIRN_PREVIEWS_H
#define CAIRN_PREVIEWS_H

#include "base/error.h"
#include "engine/jobs/jobs.h"

#include <stddef.h>

struct users;
struct previews_config;
struct previews;

/* Reads the `github:` and `repositories:` sections of the server's config
 * file (other sections are the server's and ignored here). Errors go to d
 * with file:line:col. A file without them gives a config with no repository. */
int previews_config_load(struct previews_config **out, const char *path, struct diags *d);
void previews_config_free(struct previews_config *c);

struct previews_env {
	const char *state;        /* store location */
	const char *users_path;   /* users file (each thread loads its own copy) */
	const char *secrets_path; /* may be NULL */
	struct jobs *jobs;        /* previews registers its job kinds here */
};

int previews_new(struct previews **out, const struct previews_config *c,
		 const struct previews_env *env, struct error *err);
/* Starts the reaper and the closed-PR sweep (after jobs_start). */
int previews_start(struct previews *p, struct error *err);
void previews_stop(struct previews *p);
void previews_free(struct previews *p);

/* One delivery to POST /webhook/github, with its headers X-GitHub-Event,
 * X-GitHub-Delivery and X-Hub-Signature-256 (each may be NULL) and the raw
 * body. Returns the HTTP status (401 bad or missing signature, 400 malformed,
 * 202 queued, 200 ignored or duplicate) and sets *response to a heap JSON
 * body ({"status": "...", "job": N, "error": "..."}). Thread-safe. */
int previews_github_webhook(struct previews *p, const char *event, const char *delivery,
			    const char *signature, const char *body, size_t len, char **response);

/* Counters for /metrics. */
struct previews_stats {
	unsigned long long deliveries, rejected_signature, duplicates, queued, ignored, reaped;
};
void previews_get_stats(struct previews *p, struct previews_stats *out);

#endif
