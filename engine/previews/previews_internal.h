/* What the previews files share among themselves (config, GitHub client,
 * webhook parsing, host names); not for the rest of the server, which uses
 * previews.h. Split out so tests and the fuzzer reach the pure parts. */
#ifndef CAIRN_PREVIEWS_INTERNAL_H
#define CAIRN_PREVIEWS_INTERNAL_H

#include "previews.h"

#include "base/strbuf.h"

#include <stdbool.h>
#include <stdint.h>

struct preview_repo {
	char *name;           /* "owner/repo" as configured */
	char *contract;       /* "ns/name" */
	char *ns;             /* where pr-<n> dependencies go */
	char *user;           /* who they are created as */
	char *host;           /* host name pattern */
	char *url;            /* URL pattern ({host}) */
	char **trigger;       /* author associations that may trigger */
	size_t ntrigger;
	char *approval_label; /* what a fork's PR needs */
	char *ttl;            /* as written ("72h"), NULL: none */
};

struct previews_config {
	char *api_url;        /* no trailing slash */
	char *token;          /* NULL when no token_file */
	char *secret;         /* webhook secret, NULL when none */
	size_t secret_len;
	char *domain;
	struct preview_repo *repos;
	size_t nrepos;
	long long reap_ms;    /* reaper period */
	long long sweep_ms;   /* closed-PR sweep period */
	long long github_timeout_ms;
};

/* The configured repository called name (case-insensitive), or NULL. */
const struct preview_repo *previews_config_repo(const struct previews_config *c,
						const char *name);

/* The host name of a PR's preview: the repository's pattern with {repo},
 * {owner}, {pr}, {branch} and {domain}, lower-cased, each label DNS-safe
 * and at most 63 bytes (longer ones cut, with a short hash to stay unique). */
void preview_host(const struct preview_repo *r, const char *domain, long long pr,
		  const char *branch, struct strbuf *out);
/* The preview URL: the repository's url pattern with {host}. */
/* A repository's url when its config gives none: the router's URL for the
 * host, with its port when it is not 80 (seen after the converge). */
#define PREVIEW_DEFAULT_URL "http://{host}"
void preview_url(const struct preview_repo *r, const char *host, struct strbuf *out);
/* Whether a pattern uses only the placeholders above; err names the first other. */
int preview_pattern_check(const char *pattern, const char *const *allowed, struct error *err);

/* True when sig is "sha256=<hex>" of the HMAC-SHA256 of body under secret
 * (compared in constant time). */
bool webhook_signature_ok(const char *secret, size_t secret_len, const char *sig,
			  const char *body, size_t len);

/* A pull_request delivery, as far as previews care. Heap strings. */
struct webhook_pr {
	char *action, *repo, *sha, *branch, *author, *association, *head_repo;
	char *label;          /* the label added, for "labeled" */
	char *updated_at;     /* pull_request.updated_at, "YYYY-MM-DDTHH:MM:SSZ"; NULL when absent or not so */
	long long number;
	bool fork;
	char **labels;
	size_t nlabels;
};
/* Parses a pull_request body; -1 with err when it is not one. */
int webhook_parse_pr(const char *body, size_t len, struct webhook_pr *out, struct error *err);
void webhook_pr_release(struct webhook_pr *pr);

/* One GitHub API call. status is the HTTP status, 0 when no answer came
 * (err then says why); body the answer (heap, may be NULL). */
struct github_reply {
	long status;
	char *body;
};
int github_call(const struct previews_config *c, const char *method, const char *path,
		const char *json, struct github_reply *out, struct error *err);
void github_reply_release(struct github_reply *r);

#endif
