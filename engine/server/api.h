/* The REST API under /api/v1 and the server's other routes (/healthz,
 * /metrics, /webhook/github): the same policy operations, ACL and documents
 * as the CLI (revise_policy, report.h), as the authenticated user. Each
 * thread that serves requests or runs jobs keeps its own store connection,
 * intern pool and users (reloaded when the users or secrets file changes). */
#ifndef CAIRN_SERVER_API_H
#define CAIRN_SERVER_API_H

#include "http.h"
#include "engine/jobs/jobs.h"

struct api;
struct auth_guard;
struct intern;
struct store;
struct users;
struct previews;

struct api_env {
	const char *state;        /* store location */
	const char *users_path;   /* users file */
	const char *secrets_path; /* may be NULL */
	const char *public_url;   /* may be NULL */
	struct jobs *jobs;
	struct previews *previews; /* may be NULL: /webhook/github answers 404 */
	const struct demos_config *demos; /* what POST /api/v1/demos offers */
	struct auth_guard *guard;  /* failed logins, shared by the API and the page */
};

int api_new(struct api **out, const struct api_env *env, struct error *err);
/* After every thread that used it ended (http_stop, jobs_stop). */
void api_free(struct api *a);
/* For /metrics: the HTTP counters. */
void api_set_http(struct api *a, struct http_server *h);

/* What a handler works with, kept by the thread that serves the request
 * (its own store connection, intern pool and users, reloaded when their
 * files change) and valid until the handler returns. */
struct api_view {
	const struct api_env *env;
	struct store *store;
	struct intern *in;
	const struct users *users; /* NULL unless asked for */
};
/* Fills v for a handler of the api's routes (ctx is the api); answers 503
 * in res and returns -1 when the store or the users cannot be had. */
int api_view_open(void *ctx, bool need_users, struct api_view *v, struct http_response *res);

/* Answers a change that failed: when err is a refusal, the refusal
 * document of `what` (every reason) with its status (422, or 403 for the
 * ACL); else err's status and message. */
void api_reply_failure(struct http_response *res, const char *what, const struct diags *reasons,
		       const struct error *err);

/* The route table and the authenticator for http_start (ctx: the api). */
const struct http_route *api_routes(size_t *n);
int api_authenticate(void *ctx, struct http_request *req, struct http_response *res);

/* The `reconcile` job: converges to the latest generation (reconcile_latest)
 * with this thread's intern and users. ctx: the api. */
enum job_outcome api_reconcile_job(void *ctx, struct job_run *run, const struct store_job *job,
				   struct error *err);

#endif
