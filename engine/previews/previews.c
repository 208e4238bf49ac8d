/* Preview environments: the GitHub webhook's decisions (who may trigger,
 * forks, closed PRs), the `github-pr` job that writes the dependency pr-<n>,
 * converges and reports to GitHub, and the two background loops of expiry
 * (the reaper of expired dependencies and the sweep of closed PRs). */
#include "previews_internal.h"


#include "base/alloc.h"
#include "base/map.h"
#include "base/sha256.h"
#include "base/log.h"
#include "base/sleeper.h"
#include "base/vec.h"
#include "engine/apply/converge.h"
#include "engine/apply/reconcile.h"
#include "engine/apply/revise.h"
#include "policy/policy.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define JOB_KIND "github-pr"
#define STATUS_CONTEXT "cairn/preview"

struct previews {
	const struct previews_config *c;
	char *state, *users_path, *secrets_path;
	struct jobs *jobs;

	pthread_mutex_t mu; /* the counters and the pool */
	struct sleeper sleeper; /* the reaper's and the sweep's naps */
	struct previews_stats stats;
	VEC(struct store *) pool; /* idle store connections for webhook calls */

	pthread_t reaper, sweeper;
	bool reaper_running, sweeper_running;
};

/* ---- small helpers ---- */

static void count(struct previews *p, unsigned long long *field, unsigned long long n)
{
	pthread_mutex_lock(&p->mu);
	*field += n;
	pthread_mutex_unlock(&p->mu);
}

/* An intern pool and the users file, per thread (neither is shared). */
struct env {
	struct intern *in;
	struct users *users;
};

static int env_load(struct previews *p, struct env *e, struct error *err)
{
	e->in = intern_new();
	e->users = users_new(e->in);
	struct diags d = DIAGS_INIT;
	int rc = users_load(e->users, p->users_path, &d);
	if (rc == 0 && p->secrets_path)
		rc = users_load_secrets(e->users, p->secrets_path, &d);
	if (rc < 0) {
		error_set(err, "%s", d.len ? d.items[0] : "cannot load the users file");
		diags_release(&d);
		users_free(e->users);
		intern_free(e->in);
		memset(e, 0, sizeof(*e));
		return -1;
	}
	diags_release(&d);
	return 0;
}

static void env_release(struct env *e)
{
	users_free(e->users);
	intern_free(e->in);
	memset(e, 0, sizeof(*e));
}

static void pr_key(struct strbuf *sb, const char *prefix, const char *repo, long long n)
{
	strbuf_addf(sb, "%s%s#%lld", prefix, repo, n);
}

/* Revises as the repository's user (or as system), one object given as JSON. */
static int revise_one(struct store *s, struct env *e, enum revise_verb verb, const char *user,
		      bool system, const char *log_verb, const char *json,
		      struct revise_result *res, struct error *err)
{
	struct revise_text text = { "preview", json, strlen(json) };
	struct revise_request req = { .verb = verb, .user = user, .texts = &text, .ntexts = 1,
				      .log_verb = log_verb, .system = system };
	return revise_policy(s, e->in, e->users, &req, res, err);
}

/* ---- GitHub reports ---- */

/* How a GitHub call went: 0 fine, 1 refused (4xx, noted), -1 transient. */
static int github_outcome(struct github_reply *r, const char *what, struct strbuf *notes,
			  struct error *err)
{
	if (r->status >= 200 && r->status < 300)
		return 0;
	if (r->status >= 500 || r->status == 0 || r->status == 429) {
		error_set(err, "github %s: answered %ld", what, r->status);
		return -1;
	}
	json_t *root = r->body ? json_loads(r->body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(root, "message"));
	strbuf_addf(notes, "%sgithub %s refused (%ld%s%s)", notes->len ? "; " : "", what, r->status,
		    msg ? ": " : "", msg ? msg : "");
	json_decref(root);
	return 1;
}

/* POSTs json to path; -1 transient (err), 1 refused (notes), 0 with *reply kept. */
static int github_post(struct previews *p, const char *path, json_t *body, const char *what,
		       struct github_reply *reply, struct strbuf *notes, struct error *err)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	int rc = github_call(p->c, "POST", path, text, reply, err);
	free(text);
	if (rc < 0)
		return -1;
	rc = github_outcome(reply, what, notes, err);
	if (rc != 0)
		github_reply_release(reply);
	return rc;
}

static bool sha_ok(const char *sha)
{
	if (!sha)
		return false;
	size_t n = strlen(sha);
	if (n < 7 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f')))
			return false;
	return true;
}

/* The deployment, its status and the commit status of one preview. */
static enum job_outcome github_report(struct previews *p, struct store *s,
				      const struct preview_repo *r, long long n, const char *sha,
				      bool ok, const char *url, const char *description,
				      struct strbuf *notes, struct error *err)
{
	if (!sha_ok(sha)) {
		strbuf_addf(notes, "%snot reported to github: no commit sha", notes->len ? "; " : "");
		return JOB_DONE;
	}
	struct strbuf path = STRBUF_INIT, env = STRBUF_INIT, key = STRBUF_INIT;
	struct github_reply reply = { 0 };
	enum job_outcome outcome = JOB_DONE;
	strbuf_addf(&env, "pr-%lld", n);

	strbuf_addf(&path, "/repos/%s/deployments", r->name);
	json_t *dep = json_pack("{s:s, s:s, s:b, s:b, s:[], s:s, s:{s:s}}", "ref", sha,
				"environment", env.buf, "transient_environment", 1, "auto_merge", 0,
				"required_contexts", "description", "cairn preview", "payload",
				"url", url);
	int rc = github_post(p, path.buf, dep, "create deployment", &reply, notes, err);
	if (rc < 0) {
		outcome = JOB_RETRY;
		goto out;
	}
	if (rc == 0) {
		json_t *root = json_loads(reply.body ? reply.body : "", 0, NULL);
		long long id = (long long)json_integer_value(json_object_get(root, "id"));
		json_decref(root);
		github_reply_release(&reply);
		if (id > 0) {
			char idtext[32];
			snprintf(idtext, sizeof(idtext), "%lld", id);
			pr_key(&key, "pr-deployment:", r->name, n);
			if (store_kv_set(s, key.buf, idtext, err) < 0) {
				outcome = JOB_RETRY;
				goto out;
			}
			strbuf_reset(&path);
			strbuf_addf(&path, "/repos/%s/deployments/%lld/statuses", r->name, id);
			json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:b}", "state",
					       ok ? "success" : "failure", "environment_url", url,
					       "log_url", url, "description", description,
					       "auto_inactive", 1);
			rc = github_post(p, path.buf, st, "create deployment status", &reply, notes,
					 err);
			github_reply_release(&reply);
			if (rc < 0) {
				outcome = JOB_RETRY;
				goto out;
			}
		}
	}
	strbuf_reset(&path);
	strbuf_addf(&path, "/repos/%s/statuses/%s", r->name, sha);
	json_t *cs = json_pack("{s:s, s:s, s:s, s:s}", "state", ok ? "success" : "failure",
			       "target_url", url, "description", description, "context",
			       STATUS_CONTEXT);
	rc = github_post(p, path.buf, cs, "create commit status", &reply, notes, err);
	github_reply_release(&reply);
	if (rc < 0)
		outcome = JOB_RETRY;
out:
	strbuf_release(&path);
	strbuf_release(&env);
	strbuf_release(&key);
	return outcome;
}

/* Marks the PR's last deployment inactive (closed previews). */
static enum job_outcome github_deactivate(struct previews *p, struct store *s,
					  const struct preview_repo *r, long long n,
					  struct strbuf *notes, struct error *err)
{
	struct strbuf key = STRBUF_INIT, path = STRBUF_INIT;
	char *id = NULL;
	struct github_reply reply = { 0 };
	enum job_outcome outcome = JOB_DONE;
	pr_key(&key, "pr-deployment:", r->name, n);
	if (store_kv_get(s, key.buf, &id, err) < 0) {
		outcome = JOB_RETRY;
		goto out;
	}
	if (!id)
		goto out;
	strbuf_addf(&path, "/repos/%s/deployments/%s/statuses", r->name, id);
	json_t *st = json_pack("{s:s, s:s}", "state", "inactive", "description",
			       "pull request closed");
	int rc = github_post(p, path.buf, st, "mark deployment inactive", &reply, notes, err);
	github_reply_release(&reply);
	if (rc < 0) {
		outcome = JOB_RETRY;
		goto out;
	}
	if (store_kv_set(s, key.buf, NULL, err) < 0)
		outcome = JOB_RETRY;
out:
	free(id);
	strbuf_release(&key);
	strbuf_release(&path);
	return outcome;
}

/* ---- the github-pr job ---- */

struct pr_job {
	const char *action, *repo, *sha, *branch, *author;
	long long number;
};

/* Whether url is http://HOST/ or http://HOST:PORT/ (a route's, not a
 * published port's). */
static bool url_has_host(const char *url, const char *host)
{
	size_t n = strlen(host);
	return strncmp(url, "http://", 7) == 0 && strncasecmp(url + 7, host, n) == 0 &&
	       (url[7 + n] == ':' || url[7 + n] == '/' || url[7 + n] == '\0');
}

/* Where the router answers for host among the instances serving dep_id, as
 * the drivers observe them after the converge (heap, without the trailing
 * slash; NULL when none): with the router's port when it is not 80. */
static char *routed_url(const struct reconcile_result *rr, const char *dep_id, const char *host)
{
	struct fleet *f = fleet_open(rr->policy, NULL);
	char *url = NULL;
	for (size_t i = 0; !url && i < rr->resolution->ninstances; i++) {
		const struct instance *in = rr->resolution->instances[i];
		bool serves = false;
		for (uint32_t k = 0; k < in->ndeps && !serves; k++)
			serves = strcmp(in->deps[k], dep_id) == 0;
		size_t n;
		const struct observed *o = serves && !in->root ? fleet_find(f, in->key, NULL, &n) : NULL;
		if (o && o->url && url_has_host(o->url, host)) {
			url = xstrdup(o->url);
			size_t len = strlen(url);
			if (len && url[len - 1] == '/')
				url[len - 1] = '\0';
		}
	}
	fleet_close(f);
	return url;
}

/* Converges after a change; a failure to even start is transient. With
 * dep_id, *url is where dep_id's router answers for host (routed_url). */
static int converge_latest(struct store *s, struct env *e, const char *dep_id, const char *host,
			   size_t *unsuccessful, char **url, struct error *err)
{
	struct exec_options eo = { 0 };
	struct reconcile_result rr;
	*unsuccessful = 0;
	if (reconcile_latest(s, e->in, e->users, true, &eo, &rr, err) < 0)
		return error_wrap(err, "converge");
	*unsuccessful = rr.converge.unsuccessful;
	if (dep_id)
		*url = routed_url(&rr, dep_id, host);
	reconcile_result_release(&rr);
	return 0;
}

/* The dependency pr-<n> of the latest generation, as its stored JSON (heap), or NULL. */
static int current_dependency(struct store *s, struct env *e, const char *ns, const char *name,
			      char **json, struct error *err)
{
	*json = NULL;
	struct policy *pol = NULL;
	long long gen;
	if (revise_load_generation(s, e->in, 0, &pol, &gen, err) < 0)
		return -1;
	const struct object *o = policy_get(pol, KIND_DEPENDENCY, ns, name);
	if (o)
		*json = xstrdup(o->json);
	policy_free(pol);
	return 0;
}

static enum job_outcome pr_close(struct previews *p, struct job_run *run, struct env *e,
				 const struct preview_repo *r, const struct pr_job *pj, bool report,
				 struct strbuf *notes, struct error *err)
{
	struct store *s = job_store(run);
	struct strbuf key = STRBUF_INIT, name = STRBUF_INIT;
	char *json = NULL;
	struct revise_result res = { 0 };
	enum job_outcome outcome = JOB_RETRY;

	/* First the marker: from now on no delivery brings the preview back. */
	pr_key(&key, "pr-closed:", r->name, pj->number);
	if (store_kv_set(s, key.buf, "closed", err) < 0)
		goto out;
	strbuf_addf(&name, "pr-%lld", pj->number);
	if (current_dependency(s, e, r->ns, name.buf, &json, err) < 0)
		goto out;
	if (json) {
		if (revise_one(s, e, REVISE_DELETE, r->user, false, NULL, json, &res, err) < 0) {
			if (error_is_refusal(err)) {
				error_wrap(err, "cannot delete %s/%s as %s", r->ns, name.buf, r->user);
				outcome = JOB_FAILED;
			}
			goto out;
		}
		size_t bad;
		if (converge_latest(s, e, NULL, NULL, &bad, NULL, err) < 0)
			goto out;
		strbuf_addf(notes, "%sdeleted %s/%s", notes->len ? "; " : "", r->ns, name.buf);
		if (bad)
			strbuf_addf(notes, " (%zu actions did not succeed)", bad);
	} else {
		strbuf_addf(notes, "%s%s/%s was already gone", notes->len ? "; " : "", r->ns,
			    name.buf);
	}
	outcome = report ? github_deactivate(p, s, r, pj->number, notes, err) : JOB_DONE;
out:
	revise_result_release(&res);
	free(json);
	strbuf_release(&key);
	strbuf_release(&name);
	return outcome;
}

/* The dependency pr-<n> as JSON: kept `expires` and `pinned` of the one in
 * place (cairn extend), labels from the PR. */
static char *pr_object(const struct preview_repo *r, const struct pr_job *pj, const char *host,
		       const char *existing)
{
	char name[40], number[24];
	snprintf(name, sizeof(name), "pr-%lld", pj->number);
	snprintf(number, sizeof(number), "%lld", pj->number);
	json_t *labels = json_pack("{s:s, s:s, s:s}", "repo", r->name, "pr", number, "host", host);
	if (pj->branch)
		json_object_set_new(labels, "branch", json_string(pj->branch));
	if (pj->sha)
		json_object_set_new(labels, "sha", json_string(pj->sha));
	if (pj->author)
		json_object_set_new(labels, "author", json_string(pj->author));
	json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:o}", "kind", "dependency",
			      "metadata", "namespace", r->ns, "name", name, "user", r->user,
			      "contract", r->contract, "labels", labels);
	if (r->ttl)
		json_object_set_new(o, "ttl", json_string(r->ttl));
	json_t *old = existing ? json_loads(existing, 0, NULL) : NULL;
	json_t *v;
	if ((v = json_object_get(old, "expires")))
		json_object_set(o, "expires", v);
	if ((v = json_object_get(old, "pinned")))
		json_object_set(o, "pinned", v);
	json_decref(old);
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

static enum job_outcome pr_upsert(struct previews *p, struct job_run *run, struct env *e,
				  const struct preview_repo *r, const struct pr_job *pj,
				  struct strbuf *notes, struct error *err)
{
	struct store *s = job_store(run);
	struct strbuf host = STRBUF_INIT, url = STRBUF_INIT, name = STRBUF_INIT,
		      desc = STRBUF_INIT, dep_id = STRBUF_INIT;
	char *existing = NULL, *json = NULL;
	struct revise_result res = { 0 };
	enum job_outcome outcome = JOB_RETRY;

	preview_host(r, p->c->domain, pj->number, pj->branch, &host);
	preview_url(r, host.buf, &url);
	strbuf_addf(&name, "pr-%lld", pj->number);
	if (current_dependency(s, e, r->ns, name.buf, &existing, err) < 0)
		goto out;
	if (job_cancelled(run)) {
		outcome = JOB_CANCELLED;
		goto out;
	}
	json = pr_object(r, pj, host.buf, existing);
	/* The same object again (a redelivery, a retry): no revision, which
	 * would hold the store's write lock for nothing. */
	json_t *a = existing ? json_loads(existing, 0, NULL) : NULL, *b = json_loads(json, 0, NULL);
	bool same = a && b && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	bool refused = false;
	if (same) {
		res.status = REVISE_UNCHANGED;
	} else if (revise_one(s, e, REVISE_APPLY, r->user, false, NULL, json, &res, err) < 0) {
		if (!error_is_refusal(err))
			goto out;
		refused = true; /* said on the pull request, as a failed status */
		strbuf_addf(&desc, "refused: %s",
			    res.diags.len ? res.diags.items[0] : error_msg(err));
		error_clear(err);
	}
	bool ok = !refused;
	if (!refused) {
		if (job_cancelled(run)) {
			outcome = JOB_CANCELLED;
			goto out;
		}
		size_t bad;
		char *routed = NULL;
		strbuf_addf(&dep_id, "%s/%s", r->ns, name.buf);
		if (converge_latest(s, e, dep_id.buf, host.buf, &bad, &routed, err) < 0)
			goto out;
		/* The default URL names the host alone; the router may listen on
		 * another port than 80. A URL the config spells out is kept. */
		if (routed && strcmp(r->url, PREVIEW_DEFAULT_URL) == 0) {
			strbuf_reset(&url);
			strbuf_adds(&url, routed);
		}
		free(routed);
		if (bad) {
			ok = false;
			strbuf_addf(&desc, "%zu actions did not succeed", bad);
		} else {
			strbuf_addf(&desc, "preview at %s", url.buf);
		}
	}
	if (job_cancelled(run)) {
		outcome = JOB_CANCELLED;
		goto out;
	}
	/* GitHub limits descriptions to 140 characters. */
	if (desc.len > 140)
		strbuf_truncate(&desc, 140);
	strbuf_addf(notes, "%s%s/%s %s: %s", notes->len ? "; " : "", r->ns, name.buf,
		    res.status == REVISE_UNCHANGED ? "unchanged" : ok ? "ready" : "failed", desc.buf);
	outcome = github_report(p, s, r, pj->number, pj->sha, ok, url.buf, desc.buf, notes, err);
	if (outcome == JOB_DONE && refused) {
		error_set(err, "%s", notes->buf);
		strbuf_reset(notes);
		outcome = JOB_FAILED;
	}
out:
	revise_result_release(&res);
	free(existing);
	free(json);
	strbuf_release(&host);
	strbuf_release(&url);
	strbuf_release(&name);
	strbuf_release(&dep_id);
	strbuf_release(&desc);
	return outcome;
}

static enum job_outcome pr_job_run(void *ctx, struct job_run *run, const struct store_job *job,
				   struct error *err)
{
	struct previews *p = ctx;
	struct store *s = job_store(run);
	json_t *root = json_loads(job->payload ? job->payload : "", 0, NULL);
	struct pr_job pj = {
		.action = json_string_value(json_object_get(root, "action")),
		.repo = json_string_value(json_object_get(root, "repo")),
		.sha = json_string_value(json_object_get(root, "sha")),
		.branch = json_string_value(json_object_get(root, "branch")),
		.author = json_string_value(json_object_get(root, "author")),
		.number = (long long)json_integer_value(json_object_get(root, "number")),
	};
	struct env e = { 0 };
	struct strbuf key = STRBUF_INIT, notes = STRBUF_INIT;
	char *closed = NULL;
	enum job_outcome outcome = JOB_FAILED;
	const struct preview_repo *r = NULL;

	if (!pj.action || !pj.repo || pj.number <= 0) {
		error_set(err, "job %lld: payload without action, repo or number", job->id);
		goto out;
	}
	if (!(r = previews_config_repo(p->c, pj.repo))) {
		error_set(err, "repository %s is not configured for previews", pj.repo);
		goto out;
	}
	if (env_load(p, &e, err) < 0) {
		outcome = JOB_RETRY;
		goto out;
	}
	pr_key(&key, "pr-closed:", r->name, pj.number);
	if (strcmp(pj.action, "close") == 0) {
		outcome = pr_close(p, run, &e, r, &pj, true, &notes, err);
		goto out;
	}
	if (strcmp(pj.action, "reopened") == 0) {
		if (store_kv_set(s, key.buf, NULL, err) < 0) {
			outcome = JOB_RETRY;
			goto out;
		}
	} else {
		if (store_kv_get(s, key.buf, &closed, err) < 0) {
			outcome = JOB_RETRY;
			goto out;
		}
		/* A push that arrives after the close never brings the preview back
		 * (and removes one a superseded close left behind). */
		if (closed) {
			strbuf_adds(&notes, "pull request is closed: ");
			outcome = pr_close(p, run, &e, r, &pj, false, &notes, err);
			goto out;
		}
	}
	outcome = pr_upsert(p, run, &e, r, &pj, &notes, err);
out:
	if (notes.len && !err->msg)
		error_set(err, "%s", notes.buf);
	else if (notes.len && outcome == JOB_DONE)
		error_wrap(err, "%s", notes.buf);
	free(closed);
	strbuf_release(&key);
	strbuf_release(&notes);
	env_release(&e);
	json_decref(root);
	return outcome;
}

/* ---- webhook ---- */

static struct store *pool_take(struct previews *p, struct error *err)
{
	struct store *s = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->pool.len)
		s = p->pool.items[--p->pool.len];
	pthread_mutex_unlock(&p->mu);
	if (!s && store_open(&s, p->state, err) < 0)
		return NULL;
	return s;
}

static void pool_give(struct previews *p, struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&p->mu);
	vec_push(&p->pool, s);
	pthread_mutex_unlock(&p->mu);
}

static int respond(char **response, int code, const char *status, long long job,
		   const char *error)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "{\"status\": ");
	strbuf_add_json_string(&sb, status);
	if (job)
		strbuf_addf(&sb, ", \"job\": %lld", job);
	if (error) {
		strbuf_adds(&sb, ", \"error\": ");
		strbuf_add_json_string(&sb, error);
	}
	strbuf_addc(&sb, '}');
	*response = strbuf_detach(&sb);
	return code;
}

static bool in_list(char *const *items, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcasecmp(items[i], s) == 0)
			return true;
	return false;
}

/* One delivery of the webhook, from its headers to its queued job. */
struct delivery {
	struct previews *p;
	char **response;
	struct webhook_pr pr;
	const struct preview_repo *r;
	struct store *s;
	bool working;         /* a store_work transaction is open */
	const char *action;   /* what the job does: "close", or the pull request's action */
	struct strbuf why;    /* why the delivery is ignored, when it is */
	struct strbuf closed_key, updated_key;
	struct error err;
};

/* The answer, and its HTTP code: a step that ends the delivery returns it. */
static int answer(struct delivery *dv, int code, const char *status, long long job,
		  const char *error)
{
	return respond(dv->response, code, status, job, error);
}

static int failed(struct delivery *dv)
{
	return answer(dv, 500, "error", 0, error_msg(&dv->err));
}

static int ignored(struct delivery *dv)
{
	count(dv->p, &dv->p->stats.ignored, 1);
	return answer(dv, 200, "ignored", 0, dv->why.buf);
}

/* Nothing of the delivery is looked at before its signature holds; then
 * the headers, and the events other than a pull request's. 0 to go on. */
static int check_headers(struct delivery *dv, const char *event, const char *delivery,
			 const char *signature, const char *body, size_t len)
{
	struct previews *p = dv->p;
	if (!webhook_signature_ok(p->c->secret, p->c->secret_len, signature, body, len)) {
		count(p, &p->stats.rejected_signature, 1);
		return answer(dv, 401, "rejected", 0,
			      signature ? "wrong X-Hub-Signature-256" : "missing X-Hub-Signature-256");
	}
	if (!event || !*event)
		return answer(dv, 400, "error", 0, "missing X-GitHub-Event");
	if (!delivery || !*delivery || strlen(delivery) > 128)
		return answer(dv, 400, "error", 0, "missing or oversized X-GitHub-Delivery");
	if (strcmp(event, "ping") == 0)
		return answer(dv, 200, "pong", 0, NULL);
	if (strcmp(event, "pull_request") != 0) {
		strbuf_addf(&dv->why, "event '%s' is not handled", event);
		return ignored(dv);
	}
	if (webhook_parse_pr(body, len, &dv->pr, &dv->err) < 0)
		return answer(dv, 400, "error", 0, error_msg(&dv->err));
	return 0;
}

/* From the claim to the queued job, one transaction: a delivery is never
 * marked seen without its job (GitHub's redelivery would be a duplicate).
 * What is claimed is the signed body's SHA-256, not X-GitHub-Delivery,
 * which the signature does not cover: the same body under a new id is a
 * replay too, and a redelivery is the same body. */
static int claim(struct delivery *dv, const char *body, size_t len)
{
	if (!(dv->s = pool_take(dv->p, &dv->err)))
		return failed(dv);
	char body_hash[SHA256_HEX_SIZE];
	sha256_hex(body, len, body_hash);
	if (store_work_begin(dv->s, &dv->err) < 0)
		return failed(dv);
	dv->working = true;
	bool fresh;
	if (store_delivery_claim(dv->s, "github-body", body_hash, &fresh, &dv->err) < 0)
		return failed(dv);
	if (!fresh) {
		count(dv->p, &dv->p->stats.duplicates, 1);
		return answer(dv, 200, "duplicate", 0, NULL);
	}
	return 0;
}

/* An event older than one already taken (a captured body sent again
 * later) never undoes it: the pull request's updated_at only grows. */
static int check_fresh(struct delivery *dv)
{
	const char *at = dv->pr.updated_at;
	if (!at)
		return 0;
	char *newest = NULL;
	if (store_kv_get(dv->s, dv->updated_key.buf, &newest, &dv->err) < 0)
		return failed(dv);
	if (newest && strcmp(at, newest) < 0)
		strbuf_addf(&dv->why, "stale event: the pull request was updated at %s, this event "
				      "is of %s", newest, at);
	free(newest);
	return dv->why.len ? ignored(dv) : 0;
}

/* What the job is to do: close, or make the preview, when the author may
 * trigger it, a fork's pull request carries the approval label, and the
 * pull request is open. A close is marked at once, a reopen unmarks it. */
static int choose_action(struct delivery *dv)
{
	const struct webhook_pr *pr = &dv->pr;
	const struct preview_repo *r = dv->r;
	const char *action = dv->action = pr->action;
	if (strcmp(action, "closed") == 0) {
		dv->action = "close";
		return store_kv_set(dv->s, dv->closed_key.buf, "closed", &dv->err) < 0 ? failed(dv) : 0;
	}
	bool makes = strcmp(action, "opened") == 0 || strcmp(action, "reopened") == 0 ||
		     strcmp(action, "synchronize") == 0 ||
		     (strcmp(action, "labeled") == 0 && pr->label &&
		      strcasecmp(pr->label, r->approval_label) == 0);
	if (!makes) {
		strbuf_addf(&dv->why, "action '%s' is not handled", action);
	} else if (!in_list(r->trigger, r->ntrigger, pr->association)) {
		strbuf_addf(&dv->why, "author association %s may not trigger previews of %s",
			    pr->association ? pr->association : "(none)", r->name);
	} else if (pr->fork && !in_list(pr->labels, pr->nlabels, r->approval_label)) {
		strbuf_addf(&dv->why, "pull request from a fork: waiting for label '%s'",
			    r->approval_label);
	} else if (strcmp(action, "reopened") == 0) {
		if (store_kv_set(dv->s, dv->closed_key.buf, NULL, &dv->err) < 0)
			return failed(dv);
	} else {
		char *closed = NULL;
		if (store_kv_get(dv->s, dv->closed_key.buf, &closed, &dv->err) < 0)
			return failed(dv);
		if (closed)
			strbuf_adds(&dv->why, "pull request is closed");
		free(closed);
	}
	return dv->why.len ? ignored(dv) : 0;
}

/* The job, queued in the delivery's transaction, which then commits. */
static int queue_job(struct delivery *dv)
{
	const struct webhook_pr *pr = &dv->pr;
	json_t *labels = json_array();
	for (size_t i = 0; i < pr->nlabels; i++)
		json_array_append_new(labels, json_string(pr->labels[i]));
	json_t *pl = json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:o, s:b, s:s?}", "action",
			       dv->action, "repo", dv->r->name, "number", (json_int_t)pr->number,
			       "sha", pr->sha, "branch", pr->branch, "author", pr->author,
			       "association", pr->association, "labels", labels, "fork", pr->fork,
			       "head_repo", pr->head_repo);
	char *payload = json_dumps(pl, JSON_COMPACT);
	json_decref(pl);
	struct strbuf jkey = STRBUF_INIT;
	pr_key(&jkey, "pr:", dv->r->name, pr->number);
	long long id = 0;
	int rc = pr->updated_at ? store_kv_set(dv->s, dv->updated_key.buf, pr->updated_at, &dv->err)
				: 0;
	if (rc == 0)
		rc = store_job_enqueue(dv->s, JOB_KIND, jkey.buf, payload, true, &id, &dv->err);
	strbuf_release(&jkey);
	free(payload);
	if (rc < 0 || (dv->working = false, store_work_commit(dv->s, &dv->err) < 0))
		return failed(dv);
	jobs_wake(dv->p->jobs);
	count(dv->p, &dv->p->stats.queued, 1);
	return answer(dv, 202, "queued", id, NULL);
}

static int handle_delivery(struct delivery *dv, const char *event, const char *delivery,
			   const char *signature, const char *body, size_t len)
{
	int code = check_headers(dv, event, delivery, signature, body, len);
	if (code || (code = claim(dv, body, len)))
		return code;
	dv->r = previews_config_repo(dv->p->c, dv->pr.repo);
	if (!dv->r) {
		strbuf_addf(&dv->why, "repository %s is not configured", dv->pr.repo);
		return ignored(dv);
	}
	pr_key(&dv->updated_key, "pr-updated:", dv->r->name, dv->pr.number);
	pr_key(&dv->closed_key, "pr-closed:", dv->r->name, dv->pr.number);
	if ((code = check_fresh(dv)) || (code = choose_action(dv)))
		return code;
	return queue_job(dv);
}

int previews_github_webhook(struct previews *p, const char *event, const char *delivery,
			    const char *signature, const char *body, size_t len, char **response)
{
	struct delivery dv = { .p = p, .response = response, .why = STRBUF_INIT,
			       .closed_key = STRBUF_INIT, .updated_key = STRBUF_INIT,
			       .err = ERROR_INIT };
	count(p, &p->stats.deliveries, 1);
	int code = handle_delivery(&dv, event, delivery, signature, body, len);
	/* Answers other than 5xx are final: what was written stays (the
	 * delivery is seen, a close is marked); a failure undoes it all. */
	if (dv.working) {
		if (code < 500 && store_work_commit(dv.s, &dv.err) < 0) {
			free(*response);
			*response = NULL;
			code = failed(&dv);
		}
		if (code >= 500)
			store_work_abort(dv.s);
	}
	if (code >= 500)
		log_event(LOG_ERROR, "previews", "webhook delivery %s: %s",
			  delivery ? delivery : "(none)", error_msg(&dv.err));
	pool_give(p, dv.s);
	webhook_pr_release(&dv.pr);
	error_clear(&dv.err);
	strbuf_release(&dv.why);
	strbuf_release(&dv.closed_key);
	strbuf_release(&dv.updated_key);
	return code;
}

/* ---- expiry: the reaper ---- */

/* When each dependency last changed: "ns/name" (interned) -> unix seconds. */
struct changed_at {
	struct intern *in;
	struct map *times;
};

static int note_change(void *ctx, const char *ns, const char *name, long long generation,
		       long long time)
{
	struct changed_at *c = ctx;
	struct strbuf k = STRBUF_INIT;
	strbuf_addf(&k, "%s/%s", ns, name);
	const struct istr *key = intern(c->in, k.buf, k.len);
	map_put(c->times, key->s, key->len, (void *)(intptr_t)time);
	strbuf_release(&k);
	return 0;
}

static void reap_once(struct previews *p, struct store *s)
{
	struct error err = ERROR_INIT;
	struct env e = { 0 };
	struct policy *pol = NULL;
	struct revise_result res = { 0 };
	struct strbuf list = STRBUF_INIT, names = STRBUF_INIT;
	long long current;
	size_t n = 0;
	struct intern *in = intern_new();
	struct map changed = MAP_INIT;

	if (store_current_generation(s, &current, &err) < 0 || current == 0)
		goto out;
	if (revise_load_generation(s, in, current, &pol, NULL, &err) < 0 ||
	    store_last_changes(s, "dependency", note_change, &(struct changed_at){ in, &changed },
			       &err) < 0)
		goto out;
	long long now = (long long)time(NULL);
	/* One revision deletes every expired dependency: a list of their objects. */
	strbuf_addc(&list, '[');
	for (size_t i = 0; i < pol->ndeps; i++) {
		const struct dependency *d = pol->deps[i];
		struct strbuf k = STRBUF_INIT;
		strbuf_addf(&k, "%s/%s", d->obj.ns->s, d->obj.name->s);
		long long deadline =
			dependency_deadline(d, (long long)(intptr_t)map_get(&changed, k.buf, k.len));
		strbuf_release(&k);
		if (!deadline || deadline > now)
			continue;
		strbuf_adds(&list, n ? "," : "");
		strbuf_adds(&list, d->obj.json);
		strbuf_addf(&names, "%s%s/%s", n ? ", " : "", d->obj.ns->s, d->obj.name->s);
		n++;
	}
	strbuf_addc(&list, ']');
	if (n == 0)
		goto out;
	if (env_load(p, &e, &err) < 0)
		goto out;
	if (revise_one(s, &e, REVISE_DELETE, REVISE_SYSTEM_USER, true, "expire", list.buf, &res,
		       &err) < 0) {
		if (error_is_refusal(&err))
			error_wrap(&err, "cannot delete expired %s", names.buf);
		goto out;
	}
	count(p, &p->stats.reaped, res.deleted);
	log_event(LOG_INFO, "previews", "expired %s (generation %lld)", names.buf, res.generation);
	long long id;
	if (jobs_enqueue(p->jobs, s, "reconcile", "reconcile", NULL, true, &id, &err) < 0)
		goto out;
out:
	if (err.msg)
		log_event(LOG_ERROR, "previews", "reaper: %s", err.msg);
	revise_result_release(&res);
	policy_free(pol);
	env_release(&e);
	map_release(&changed);
	intern_free(in);
	strbuf_release(&list);
	strbuf_release(&names);
	error_clear(&err);
}

/* ---- expiry: the sweep of closed PRs ---- */

struct closed_pr {
	const struct preview_repo *r;
	long long number;
};

static void sweep_once(struct previews *p, struct store *s)
{
	struct error err = ERROR_INIT;
	struct policy *pol = NULL;
	struct intern *in = intern_new();
	VEC(struct closed_pr) closed = { 0 };
	struct strbuf path = STRBUF_INIT;

	if (p->c->nrepos == 0)
		goto out;
	long long current;
	if (store_current_generation(s, &current, &err) < 0 || current == 0)
		goto out;
	if (revise_load_generation(s, in, current, &pol, NULL, &err) < 0)
		goto out;
	const struct istr *k_repo = intern_cstr(in, "repo"), *k_pr = intern_cstr(in, "pr");
	for (size_t i = 0; i < pol->ndeps; i++) {
		const struct dependency *d = pol->deps[i];
		const struct istr *repo = labels_get(&d->labels, k_repo);
		const struct istr *pr = labels_get(&d->labels, k_pr);
		if (!repo || !pr || pr->type != SCALAR_INT || pr->integer <= 0)
			continue;
		const struct preview_repo *r = previews_config_repo(p->c, repo->s);
		char name[40];
		snprintf(name, sizeof(name), "pr-%lld", (long long)pr->integer);
		/* Only what previews made: pr-<n> in the repository's namespace. */
		if (!r || strcmp(d->obj.ns->s, r->ns) != 0 || strcmp(d->obj.name->s, name) != 0)
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "/repos/%s/pulls/%lld", r->name, (long long)pr->integer);
		struct github_reply reply;
		if (github_call(p->c, "GET", path.buf, NULL, &reply, &err) < 0 ||
		    reply.status >= 500 || reply.status == 429) {
			/* Fail closed: without GitHub's word on every PR, delete nothing. */
			if (!err.msg)
				error_set(&err, "github GET %s answered %ld", path.buf, reply.status);
			github_reply_release(&reply);
			error_wrap(&err, "sweep: deleting nothing");
			goto out;
		}
		if (reply.status != 200) {
			log_event(LOG_WARNING, "previews",
				  "sweep: github GET %s answered %ld: keeping %s/%s", path.buf,
				  reply.status, d->obj.ns->s, d->obj.name->s);
			github_reply_release(&reply);
			continue;
		}
		json_t *root = json_loads(reply.body ? reply.body : "", 0, NULL);
		const char *state = json_string_value(json_object_get(root, "state"));
		if (state && strcmp(state, "closed") == 0)
			vec_push(&closed, ((struct closed_pr){ r, (long long)pr->integer }));
		json_decref(root);
		github_reply_release(&reply);
	}
	for (size_t i = 0; i < closed.len; i++) {
		const struct closed_pr *c = &closed.items[i];
		struct strbuf jkey = STRBUF_INIT;
		pr_key(&jkey, "pr:", c->r->name, c->number);
		json_t *pl = json_pack("{s:s, s:s, s:I, s:s}", "action", "close", "repo", c->r->name,
				       "number", (json_int_t)c->number, "source", "sweep");
		char *payload = json_dumps(pl, JSON_COMPACT);
		json_decref(pl);
		long long id;
		int rc = jobs_enqueue(p->jobs, s, JOB_KIND, jkey.buf, payload, true, &id, &err);
		free(payload);
		strbuf_release(&jkey);
		if (rc < 0)
			goto out;
		log_event(LOG_INFO, "previews",
			  "sweep: %s#%lld is closed on github: job %lld deletes its preview",
			  c->r->name, c->number, id);
	}
out:
	if (err.msg)
		log_event(LOG_ERROR, "previews", "%s", err.msg);
	vec_release(&closed);
	policy_free(pol);
	intern_free(in);
	strbuf_release(&path);
	error_clear(&err);
}

/* ---- background loops ---- */

/* Whether this server runs the period of `name` that now falls in: of
 * several servers sharing the store, the first to ask does. */
static bool period_won(struct store *s, const char *name, long long ms, struct error *err)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long period = ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) / ms;
	char key[64], value[24];
	snprintf(key, sizeof(key), "schedule:%s", name);
	snprintf(value, sizeof(value), "%020lld", period); /* fixed width: byte order is number order */
	bool won = false;
	return store_kv_advance(s, key, value, &won, err) == 0 && won;
}

/* Runs once(p, store) every ms until stopping, on its own store connection,
 * once per period across the servers sharing the store. */
static void background_loop(struct previews *p, const char *name, long long ms,
			    void (*once)(struct previews *p, struct store *s))
{
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	while (sleeper_nap(&p->sleeper, ms)) {
		if (!s && store_open(&s, p->state, &err) < 0) {
			log_event(LOG_ERROR, "previews", "%s: %s", name, error_msg(&err));
			error_clear(&err);
			continue;
		}
		if (period_won(s, name, ms, &err))
			once(p, s);
		if (err.msg)
			log_event(LOG_ERROR, "previews", "%s: %s", name, error_msg(&err));
		error_clear(&err);
	}
	store_close(s);
}

static void *reaper_main(void *arg)
{
	struct previews *p = arg;
	background_loop(p, "reaper", p->c->reap_ms, reap_once);
	return NULL;
}

static void *sweeper_main(void *arg)
{
	struct previews *p = arg;
	background_loop(p, "sweep", p->c->sweep_ms, sweep_once);
	return NULL;
}

/* ---- life cycle ---- */

int previews_new(struct previews **out, const struct previews_config *c,
		 const struct previews_env *env, struct error *err)
{
	*out = NULL;
	if (!env || !env->state || !env->users_path || !env->jobs)
		return error_set(err, "previews need a store, a users file and jobs");
	/* Each repository's user must exist now, not at the first delivery. */
	struct intern *in = intern_new();
	struct users *u = users_new(in);
	struct diags d = DIAGS_INIT;
	int rc = users_load(u, env->users_path, &d);
	if (rc < 0)
		error_set(err, "%s", d.len ? d.items[0] : "cannot load the users file");
	for (size_t i = 0; rc == 0 && i < c->nrepos; i++)
		if (!users_find(u, c->repos[i].user))
			rc = error_set(err, "repository %s: user '%s' is not in the users file %s",
				       c->repos[i].name, c->repos[i].user, env->users_path);
	diags_release(&d);
	users_free(u);
	intern_free(in);
	if (rc < 0)
		return -1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct previews *p = xcalloc(1, sizeof(*p));
	p->c = c;
	p->state = xstrdup(env->state);
	p->users_path = xstrdup(env->users_path);
	p->secrets_path = env->secrets_path ? xstrdup(env->secrets_path) : NULL;
	p->jobs = env->jobs;
	pthread_mutex_init(&p->mu, NULL);
	sleeper_init(&p->sleeper);
	jobs_register(p->jobs, JOB_KIND, pr_job_run, p);
	*out = p;
	return 0;
}

int previews_start(struct previews *p, struct error *err)
{
	sleeper_restart(&p->sleeper);
	int rc = pthread_create(&p->reaper, NULL, reaper_main, p);
	if (rc != 0)
		return error_set(err, "cannot start the expiry reaper: %s", strerror(rc));
	p->reaper_running = true;
	rc = pthread_create(&p->sweeper, NULL, sweeper_main, p);
	if (rc != 0) {
		previews_stop(p);
		return error_set(err, "cannot start the closed-PR sweep: %s", strerror(rc));
	}
	p->sweeper_running = true;
	return 0;
}

void previews_stop(struct previews *p)
{
	if (!p)
		return;
	sleeper_stop(&p->sleeper);
	if (p->reaper_running)
		pthread_join(p->reaper, NULL);
	if (p->sweeper_running)
		pthread_join(p->sweeper, NULL);
	p->reaper_running = p->sweeper_running = false;
}

void previews_free(struct previews *p)
{
	if (!p)
		return;
	previews_stop(p);
	for (size_t i = 0; i < p->pool.len; i++)
		store_close(p->pool.items[i]);
	vec_release(&p->pool);
	sleeper_destroy(&p->sleeper);
	pthread_mutex_destroy(&p->mu);
	free(p->state);
	free(p->users_path);
	free(p->secrets_path);
	free(p);
}

void previews_get_stats(struct previews *p, struct previews_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->stats;
	pthread_mutex_unlock(&p->mu);
}
