/* The server's routes (see api.h). Handlers read and write the store
 * through their thread's own connection; a policy change goes through
 * revise_policy as the authenticated user, exactly as `cairn policy apply`
 * does, and a stored generation queues a `reconcile` job instead of
 * converging in the request. */
#include "api.h"

#include "auth.h"
#include "engine/previews/previews.h"

#include "base/parse.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/lazy/mhd.h"
#include "engine/apply/converge.h"
#include "engine/apply/reconcile.h"
#include "engine/report/report.h"
#include "engine/apply/revise.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

/* Requests a thread serves before it starts over with a fresh intern pool:
 * interned strings of old request bodies are never freed otherwise. */
#define THREAD_RENEW_AFTER 5000

struct api {
	struct api_env env;
	struct http_server *http;
	pthread_key_t key;
	pthread_mutex_t mu; /* guards the counters below */
	unsigned long long actions[EXEC_CANCELLED + 1];
	unsigned long long reconciles;
};

/* What one thread keeps between requests. */
struct api_thread {
	struct api *api;
	struct intern *in;
	struct users *users;
	struct timespec users_mtime, secrets_mtime;
	struct store *store;
	unsigned long uses;
	char *user; /* the caller of the current request */
	enum auth_method method;
};

static void thread_reset(struct api_thread *t)
{
	users_free(t->users);
	t->users = NULL;
	intern_free(t->in);
	t->in = NULL;
	t->uses = 0;
}

static void thread_free(void *p)
{
	struct api_thread *t = p;
	thread_reset(t);
	store_close(t->store);
	free(t->user);
	free(t);
}

static struct api_thread *thread_get(struct api *a)
{
	struct api_thread *t = pthread_getspecific(a->key);
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		t->api = a;
		pthread_setspecific(a->key, t);
	}
	if (++t->uses > THREAD_RENEW_AFTER)
		thread_reset(t);
	if (!t->in)
		t->in = intern_new();
	return t;
}

static struct store *thread_store(struct api_thread *t, struct error *err)
{
	if (!t->store && store_open(&t->store, t->api->env.state, err) < 0)
		return NULL;
	return t->store;
}

static bool mtime_changed(const char *path, struct timespec *seen)
{
	struct stat st;
	if (!path || stat(path, &st) < 0)
		return false;
	bool changed = st.st_mtim.tv_sec != seen->tv_sec || st.st_mtim.tv_nsec != seen->tv_nsec;
	*seen = st.st_mtim;
	return changed;
}

/* The users, loaded again when the users or secrets file changed; NULL with
 * err when they cannot be read and none were loaded before. */
static const struct users *thread_users(struct api_thread *t, struct error *err)
{
	const struct api_env *e = &t->api->env;
	bool changed = mtime_changed(e->users_path, &t->users_mtime);
	changed |= mtime_changed(e->secrets_path, &t->secrets_mtime);
	if (t->users && !changed)
		return t->users;
	struct users *u = users_new(t->in);
	struct diags d = DIAGS_INIT;
	int rc = users_load(u, e->users_path, &d);
	if (rc == 0 && e->secrets_path)
		rc = users_load_secrets(u, e->secrets_path, &d);
	if (rc < 0) {
		users_free(u);
		if (!t->users)
			error_set(err, "cannot load users: %s", d.len ? d.items[0] : e->users_path);
		else
			log_event(LOG_ERROR, "api",
				  "users file changed but cannot be loaded, keeping the previous "
				  "users: %s",
				  d.len ? d.items[0] : e->users_path);
		diags_release(&d);
		return t->users;
	}
	diags_release(&d);
	users_free(t->users);
	t->users = u;
	return u;
}

/* ---- helpers ---- */

static bool want_text(const struct http_request *req)
{
	const char *f = http_query(req, "format");
	return f && strcmp(f, "text") == 0;
}

static bool query_flag(const struct http_request *req, const char *key, bool dflt)
{
	const char *v = http_query(req, key);
	if (!v)
		return dflt;
	return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	       *v == '\0';
}

/* The body of a text reply, emptied, for a report to write into. */
static struct strbuf *text_reply(struct http_response *res, int status)
{
	res->status = status;
	res->content_type = "text/plain; charset=utf-8";
	strbuf_reset(&res->body);
	return &res->body;
}

/* Opens this thread's store and users for a handler; fills res when it cannot. */
static struct api_thread *prepare(struct api *a, struct http_response *res, struct store **s,
				  const struct users **users)
{
	struct api_thread *t = thread_get(a);
	struct error err = ERROR_INIT;
	if (!(*s = thread_store(t, &err)) || (users && !(*users = thread_users(t, &err)))) {
		http_error(res, 503, "%s", error_msg(&err));
		error_clear(&err);
		return NULL;
	}
	return t;
}

int api_view_open(void *ctx, bool need_users, struct api_view *v, struct http_response *res)
{
	struct api *a = ctx;
	const struct users *users = NULL;
	struct api_thread *t = prepare(a, res, &v->store, need_users ? &users : NULL);
	if (!t)
		return -1;
	v->env = &a->env;
	v->in = t->in;
	v->users = users;
	return 0;
}

/* ---- authentication ---- */

int api_authenticate(void *ctx, struct http_request *req, struct http_response *res)
{
	struct api *a = ctx;
	struct store *s;
	const struct users *users;
	struct api_thread *t = prepare(a, res, &s, &users);
	if (!t)
		return -1;
	struct error err = ERROR_INIT;
	free(t->user);
	t->user = NULL;
	struct auth_client client = { .guard = a->env.guard, .peer = req->peer };
	int rc = auth_check(s, users, &client, http_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
			    &t->user, &t->method, &err);
	if (rc < 0)
		memcpy(req->tried, client.tried, sizeof(req->tried));
	if (rc == AUTH_FAILED) {
		http_error(res, 503, "%s", error_msg(&err));
	} else if (rc == AUTH_THROTTLED) {
		http_throttled(res, client.retry_after, error_msg(&err));
	} else if (rc < 0) {
		http_error(res, 401, "%s", error_msg(&err));
		/* Bearer only: a Basic challenge would make browsers prompt, then
		 * send the password with any request, cross-site forms included. */
		http_add_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"cairn\"");
	}
	error_clear(&err);
	if (rc < 0)
		return -1;
	req->user = t->user;
	return 0;
}

/* ---- policy apply and delete ---- */

struct parts {
	struct revise_text *items; /* what revise_policy reads: nitems of them */
	size_t nitems;
	size_t len, cap; /* multipart parts */
	struct strbuf *bufs;
	char **names;
};

/* A multipart/form-data body: one policy file per part, named by its filename. */
static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	(void)kind, (void)content_type, (void)transfer_encoding;
	struct parts *p = cls;
	if (off == 0 || p->len == 0) {
		if (p->len == p->cap) {
			p->cap = p->cap ? 2 * p->cap : 8;
			p->items = xrealloc(p->items, p->cap * sizeof(*p->items));
			p->bufs = xrealloc(p->bufs, p->cap * sizeof(*p->bufs));
			p->names = xrealloc(p->names, p->cap * sizeof(*p->names));
		}
		p->bufs[p->len] = (struct strbuf)STRBUF_INIT;
		p->names[p->len] = xstrdup(filename && *filename ? filename : key ? key : "request");
		p->len++;
	}
	strbuf_add(&p->bufs[p->len - 1], data, size);
	return MHD_YES;
}

static void parts_release(struct parts *p)
{
	for (size_t i = 0; i < p->len; i++) {
		strbuf_release(&p->bufs[i]);
		free(p->names[i]);
	}
	free(p->items);
	free(p->bufs);
	free(p->names);
}

static int request_texts(struct http_request *req, struct parts *p, struct http_response *res)
{
	const char *ct = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
		struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 64 * 1024, on_part, p);
		if (!pp || MHD_post_process(pp, req->body, req->len) != MHD_YES) {
			if (pp)
				MHD_destroy_post_processor(pp);
			http_error(res, 400, "malformed multipart body");
			return -1;
		}
		MHD_destroy_post_processor(pp);
		p->items = xrealloc(p->items, (p->len ? p->len : 1) * sizeof(*p->items));
		for (size_t i = 0; i < p->len; i++)
			p->items[i] = (struct revise_text){ p->names[i], strbuf_cstr(&p->bufs[i]),
							    p->bufs[i].len };
		p->nitems = p->len;
		return 0;
	}
	p->items = xcalloc(1, sizeof(*p->items));
	p->items[0] = (struct revise_text){ "request", req->body, req->len };
	p->nitems = 1;
	return 0;
}

void api_reply_failure(struct http_response *res, const char *what, const struct diags *reasons,
		       const struct error *err)
{
	if (!error_is_refusal(err) || !reasons->len) {
		http_fail(res, err);
		return;
	}
	struct strbuf text = STRBUF_INIT;
	report_refusal_json(&text, what, reasons);
	http_reply(res, http_status_of(err), strbuf_cstr(&text));
	strbuf_release(&text);
}

static void revise(struct api *a, struct http_request *req, struct http_response *res,
		   enum revise_verb verb)
{
	const char *verb_name = verb == REVISE_APPLY	  ? "apply"
				: verb == REVISE_DELETE ? "delete"
							: "rollback";
	struct store *s;
	const struct users *users;
	struct api_thread *t = prepare(a, res, &s, &users);
	if (!t)
		return;
	const char *as = http_query(req, "user");
	if (as && strcasecmp(as, req->user) != 0) {
		http_error(res, 403, "authenticated as %s: cannot make changes as %s", req->user, as);
		return;
	}
	struct parts parts = { 0 };
	long long to = 0;
	if (verb == REVISE_ROLLBACK) {
		const char *g = http_query(req, "generation");
		char *end = NULL;
		to = g ? strtoll(g, &end, 10) : 0;
		if (!g || !*g || *end || to <= 0) {
			http_error(res, 400, "a rollback needs ?generation=N, a positive number");
			return;
		}
	} else if (request_texts(req, &parts, res) < 0) {
		parts_release(&parts);
		return;
	}
	struct revise_request rq = { .verb = verb, .user = req->user, .texts = parts.items,
				     .ntexts = parts.nitems, .rollback_to = to,
				     .dry_run = query_flag(req, "dry_run", false) };
	bool apply = query_flag(req, "apply", true);
	struct revise_result rr;
	struct error err = ERROR_INIT;
	if (revise_policy(s, t->in, users, &rq, &rr, &err) < 0) {
		char what[32];
		snprintf(what, sizeof(what), "policy %s", verb_name);
		api_reply_failure(res, what, &rr.diags, &err);
		goto out;
	}
	long long job = 0;
	if (rr.status == REVISE_DONE && !rq.dry_run && apply) {
		char payload[96];
		snprintf(payload, sizeof(payload), "{\"generation\":%lld}", rr.generation);
		if (jobs_enqueue(a->env.jobs, s, "reconcile", "reconcile", payload, true, &job, &err) < 0) {
			error_wrap(&err, "generation %lld stored, but its reconcile job could not be queued",
				   rr.generation);
			http_fail(res, &err);
			goto out;
		}
	}
	int status = job ? 202 : 200;
	if (want_text(req)) {
		report_revise_text(text_reply(res, status), &rq, &rr);
	} else {
		/* The CLI's document, plus the job that will converge it. */
		struct strbuf *body = &res->body;
		res->status = status;
		report_revise_json(body, &rq, &rr);
		while (body->len && body->buf[body->len - 1] == '\n')
			strbuf_truncate(body, body->len - 1);
		if (body->len && body->buf[body->len - 1] == '}')
			strbuf_truncate(body, body->len - 1);
		if (job)
			strbuf_addf(&res->body, ",\"job\":%lld", job);
		strbuf_adds(&res->body, "}");
	}
	char num[32];
	snprintf(num, sizeof(num), "%lld", rr.generation);
	http_add_header(res, "X-Cairn-Generation", num);
	if (job) {
		snprintf(num, sizeof(num), "%lld", job);
		http_add_header(res, "X-Cairn-Job", num);
	}
out:
	error_clear(&err);
	revise_result_release(&rr);
	parts_release(&parts);
}

static void h_apply(void *ctx, struct http_request *req, struct http_response *res)
{
	revise(ctx, req, res, REVISE_APPLY);
}

static void h_delete(void *ctx, struct http_request *req, struct http_response *res)
{
	revise(ctx, req, res, REVISE_DELETE);
}

static void h_rollback(void *ctx, struct http_request *req, struct http_response *res)
{
	revise(ctx, req, res, REVISE_ROLLBACK);
}

/* ---- plan, status, explain ---- */

struct current {
	long long generation;
	struct policy *policy;
	struct resolution *resolution;
	struct acl *acl;
};

static void current_release(struct current *c)
{
	resolution_free(c->resolution);
	acl_free(c->acl);
	policy_free(c->policy);
	memset(c, 0, sizeof(*c));
}

/* The latest generation resolved with the current users, as the CLI's
 * cli_current_load does; fills res when it cannot. */
static struct api_thread *current_load(struct api *a, struct current *c, unsigned flags,
				       struct http_response *res)
{
	memset(c, 0, sizeof(*c));
	struct store *s;
	const struct users *users;
	struct api_thread *t = prepare(a, res, &s, &users);
	if (!t)
		return NULL;
	struct error err = ERROR_INIT;
	if (revise_load_generation(s, t->in, 0, &c->policy, &c->generation, &err) < 0 ||
	    (c->acl = acl_new(c->policy),
	     resolve_policy(&c->resolution, c->policy, users, c->acl, flags, &err) < 0)) {
		http_fail(res, &err);
		error_clear(&err);
		current_release(c);
		return NULL;
	}
	return t;
}

static void h_plan(void *ctx, struct http_request *req, struct http_response *res)
{
	struct current c;
	struct api_thread *t = current_load(ctx, &c, 0, res);
	if (!t)
		return;
	struct error err = ERROR_INIT;
	char *prev_json = NULL;
	struct state *prev = NULL;
	if (store_load_state(t->store, c.generation, &prev_json, &err) < 0 ||
	    (prev_json && state_from_json(&prev, prev_json, &err) < 0)) {
		http_fail(res, &err);
		error_clear(&err);
		goto out;
	}
	struct state *next = state_from_resolution(c.resolution);
	struct plan *plan = plan_diff(prev, next);
	if (want_text(req)) {
		report_plan_text(text_reply(res, 200), plan);
	} else {
		res->status = 200;
		report_plan_json(&res->body, c.generation, plan);
	}
	plan_free(plan);
	state_free(next);
out:
	state_free(prev);
	free(prev_json);
	current_release(&c);
}

static void h_status(void *ctx, struct http_request *req, struct http_response *res)
{
	struct current c;
	if (!current_load(ctx, &c, 0, res))
		return;
	struct fleet *fleet = fleet_open(c.policy, NULL);
	const struct diags *problems = fleet_problems(fleet);
	for (size_t i = 0; i < problems->len; i++)
		http_add_header(res, "X-Cairn-Problem", problems->items[i]);
	if (want_text(req)) {
		report_status_text(text_reply(res, 200), c.generation, c.resolution, fleet);
	} else {
		res->status = 200;
		report_status_json(&res->body, c.generation, c.resolution, fleet);
	}
	fleet_close(fleet);
	current_release(&c);
}

static void h_explain(void *ctx, struct http_request *req, struct http_response *res)
{
	const char *id = http_query(req, "dependency");
	if (!id || !strchr(id, '/')) {
		http_error(res, 400, "explain needs ?dependency=NAMESPACE/NAME");
		return;
	}
	struct current c;
	if (!current_load(ctx, &c, RESOLVE_EXPLAIN, res))
		return;
	const struct dep_result *d = resolution_find_dep(c.resolution, id);
	if (!d) {
		http_error(res, 404, "no dependency %s in generation %lld", id, c.generation);
	} else if (want_text(req)) {
		report_explain_text(text_reply(res, 200), d);
	} else {
		res->status = 200;
		report_explain_json(&res->body, d);
	}
	current_release(&c);
}

/* ---- revisions ---- */

/* A report into res: JSON or text, 404 with the message when it fails. */
static void reply_report(struct http_request *req, struct http_response *res, int rc,
			 struct strbuf *out, struct error *err)
{
	if (rc < 0) {
		http_error(res, 404, "%s", error_msg(err));
		error_clear(err);
	} else if (want_text(req)) {
		strbuf_add(text_reply(res, 200), out->buf ? out->buf : "", out->len);
	} else {
		http_reply(res, 200, strbuf_cstr(out));
	}
	strbuf_release(out);
}

static void h_revisions(void *ctx, struct http_request *req, struct http_response *res)
{
	struct store *s;
	if (!prepare(ctx, res, &s, NULL))
		return;
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int rc = report_log(&out, s, !want_text(req), &err);
	if (rc < 0) {
		http_fail(res, &err);
		error_clear(&err);
		strbuf_release(&out);
		return;
	}
	reply_report(req, res, rc, &out, &err);
}

static void h_revision(void *ctx, struct http_request *req, struct http_response *res)
{
	long long gen = 0; /* "latest" */
	if (strcmp(req->args[0], "latest") != 0 && parse_positive(req->args[0], &gen) < 0) {
		http_error(res, 400, "a generation is a positive number or 'latest', not '%s'",
			   req->args[0]);
		return;
	}
	struct store *s;
	if (!prepare(ctx, res, &s, NULL))
		return;
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int rc = report_show(&out, s, gen, !want_text(req), &err);
	reply_report(req, res, rc, &out, &err);
}

static void h_revision_diff(void *ctx, struct http_request *req, struct http_response *res)
{
	long long to, from;
	if (parse_positive(req->args[0], &to) < 0) {
		http_error(res, 400, "a generation is a positive number, not '%s'", req->args[0]);
		return;
	}
	const char *f = http_query(req, "from");
	if (!f)
		from = to - 1;
	else if (strcmp(f, "0") == 0)
		from = 0;
	else if (parse_positive(f, &from) < 0) {
		http_error(res, 400, "from= takes a generation number, not '%s'", f);
		return;
	}
	struct store *s;
	if (!prepare(ctx, res, &s, NULL))
		return;
	long long current;
	struct error err = ERROR_INIT;
	if (store_current_generation(s, &current, &err) < 0) {
		http_error(res, 503, "%s", error_msg(&err));
		error_clear(&err);
		return;
	}
	if (to > current || from > current) {
		http_error(res, 404, "generation %lld does not exist (the latest is %lld)",
			   to > current ? to : from, current);
		return;
	}
	struct strbuf out = STRBUF_INIT;
	int rc = report_diff(&out, s, from, to, !want_text(req), &err);
	reply_report(req, res, rc, &out, &err);
}

/* ---- jobs ---- */

static void time_rfc3339(long long t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *job_json(const struct store_job *j)
{
	char created[32], updated[32], due[32];
	time_rfc3339(j->created, created, sizeof(created));
	time_rfc3339(j->updated, updated, sizeof(updated));
	time_rfc3339(j->not_before, due, sizeof(due));
	json_t *payload = j->payload ? json_loads(j->payload, 0, NULL) : NULL;
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:i, s:b, s:s, s:s, s:s, s:s?, s:o, s:s?}", "id",
			      (json_int_t)j->id, "kind", j->kind, "key", j->key, "status",
			      store_job_status_name(j->status), "attempts", j->attempts,
			      "cancel_requested", j->cancel_requested, "created", created, "updated",
			      updated, "not_before", due, "message", j->message, "payload",
			      payload ? payload : json_null(), "owner", j->owner);
	/* The lease matters while the job runs: until then its server holds it. */
	if (j->status == STORE_JOB_RUNNING) {
		char lease[32];
		time_rfc3339(j->lease_until, lease, sizeof(lease));
		json_object_set_new(o, "lease_until", json_string(lease));
	}
	return o;
}

static int add_job(void *ctx, const struct store_job *j)
{
	json_array_append_new(ctx, job_json(j));
	return 0;
}

static void reply_json(struct http_response *res, int status, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	http_reply(res, status, text);
	free(text);
	json_decref(doc);
}

static void h_jobs(void *ctx, struct http_request *req, struct http_response *res)
{
	long long limit = 100;
	const char *l = http_query(req, "limit");
	if (l && (parse_positive(l, &limit) < 0 || limit > 10000)) {
		http_error(res, 400, "limit= takes a number from 1 to 10000, not '%s'", l);
		return;
	}
	struct store *s;
	if (!prepare(ctx, res, &s, NULL))
		return;
	json_t *list = json_array();
	struct error err = ERROR_INIT;
	if (store_job_list(s, (size_t)limit, add_job, list, &err) < 0) {
		json_decref(list);
		http_error(res, 503, "%s", error_msg(&err));
		error_clear(&err);
		return;
	}
	reply_json(res, 200, json_pack("{s:o}", "jobs", list));
}

static void h_job(void *ctx, struct http_request *req, struct http_response *res)
{
	long long id;
	if (parse_positive(req->args[0], &id) < 0) {
		http_error(res, 400, "a job id is a positive number, not '%s'", req->args[0]);
		return;
	}
	struct store *s;
	if (!prepare(ctx, res, &s, NULL))
		return;
	struct store_job j;
	bool found = false;
	struct error err = ERROR_INIT;
	if (store_job_get(s, id, &j, &found, &err) < 0) {
		http_error(res, 503, "%s", error_msg(&err));
		error_clear(&err);
		return;
	}
	if (!found) {
		http_error(res, 404, "no job %lld", id);
		return;
	}
	reply_json(res, 200, job_json(&j));
	store_job_release(&j);
}

/* ---- who, health, metrics, webhooks ---- */

static void h_whoami(void *ctx, struct http_request *req, struct http_response *res)
{
	struct api *a = ctx;
	struct store *s;
	const struct users *users;
	struct api_thread *t = prepare(a, res, &s, &users);
	if (!t)
		return;
	const struct user *u = users_find(users, req->user);
	reply_json(res, 200,
		   json_pack("{s:s, s:b, s:s, s:s?}", "user", req->user, "admin", u && u->admin,
			     "method", t->method == AUTH_TOKEN ? "token" : "password", "server",
			     a->env.public_url));
}

static void h_healthz(void *ctx, struct http_request *req, struct http_response *res)
{
	(void)req;
	struct api_thread *t = thread_get(ctx);
	struct error err = ERROR_INIT;
	long long gen;
	struct store *s = thread_store(t, &err);
	if (!s || store_current_generation(s, &gen, &err) < 0) {
		reply_json(res, 503, json_pack("{s:s, s:s}", "status", "unavailable", "error",
					       error_msg(&err)));
		error_clear(&err);
		/* Open again next time: the connection may be what broke. */
		store_close(t->store);
		t->store = NULL;
		return;
	}
	reply_json(res, 200, json_pack("{s:s, s:I}", "status", "ok", "generation", (json_int_t)gen));
}

static void h_metrics(void *ctx, struct http_request *req, struct http_response *res)
{
	(void)req;
	struct api *a = ctx;
	res->status = 200;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	struct strbuf *o = &res->body;
	if (a->http)
		http_metrics(a->http, o);
	struct jobs_stats js;
	jobs_get_stats(a->env.jobs, &js);
	strbuf_adds(o, "# HELP cairn_jobs_total Jobs that ended (or were put back for a retry), by outcome.\n"
		       "# TYPE cairn_jobs_total counter\n");
	strbuf_addf(o, "cairn_jobs_total{outcome=\"done\"} %llu\n", js.done);
	strbuf_addf(o, "cairn_jobs_total{outcome=\"failed\"} %llu\n", js.failed);
	strbuf_addf(o, "cairn_jobs_total{outcome=\"retried\"} %llu\n", js.retried);
	strbuf_addf(o, "cairn_jobs_total{outcome=\"cancelled\"} %llu\n", js.cancelled);
	strbuf_addf(o, "cairn_jobs_total{outcome=\"lost\"} %llu\n", js.lost);
	strbuf_addf(o, "# HELP cairn_jobs_seconds_total Time spent in job handlers.\n"
		       "# TYPE cairn_jobs_seconds_total counter\ncairn_jobs_seconds_total %.3f\n",
		    js.seconds);
	strbuf_addf(o, "# HELP cairn_jobs_running Jobs running now.\n"
		       "# TYPE cairn_jobs_running gauge\ncairn_jobs_running %u\n", js.running);
	if (a->env.previews) {
		struct previews_stats ps;
		previews_get_stats(a->env.previews, &ps);
		strbuf_adds(o, "# HELP cairn_webhook_deliveries_total GitHub deliveries, by what became of them.\n"
			       "# TYPE cairn_webhook_deliveries_total counter\n");
		strbuf_addf(o, "cairn_webhook_deliveries_total{result=\"received\"} %llu\n", ps.deliveries);
		strbuf_addf(o, "cairn_webhook_deliveries_total{result=\"bad_signature\"} %llu\n",
			    ps.rejected_signature);
		strbuf_addf(o, "cairn_webhook_deliveries_total{result=\"duplicate\"} %llu\n", ps.duplicates);
		strbuf_addf(o, "cairn_webhook_deliveries_total{result=\"queued\"} %llu\n", ps.queued);
		strbuf_addf(o, "cairn_webhook_deliveries_total{result=\"ignored\"} %llu\n", ps.ignored);
		strbuf_addf(o, "# HELP cairn_previews_reaped_total Expired dependencies deleted.\n"
			       "# TYPE cairn_previews_reaped_total counter\ncairn_previews_reaped_total %llu\n",
			    ps.reaped);
	}
	pthread_mutex_lock(&a->mu);
	strbuf_adds(o, "# HELP cairn_apply_actions_total Actions run by reconcile jobs, by outcome.\n"
		       "# TYPE cairn_apply_actions_total counter\n");
	for (int s = EXEC_DONE; s <= EXEC_CANCELLED; s++)
		strbuf_addf(o, "cairn_apply_actions_total{status=\"%s\"} %llu\n",
			    exec_status_name((enum exec_status)s), a->actions[s]);
	strbuf_addf(o, "# HELP cairn_reconciles_total Reconcile jobs run.\n"
		       "# TYPE cairn_reconciles_total counter\ncairn_reconciles_total %llu\n",
		    a->reconciles);
	pthread_mutex_unlock(&a->mu);
}

static void h_webhook(void *ctx, struct http_request *req, struct http_response *res)
{
	struct api *a = ctx;
	if (!a->env.previews) {
		http_error(res, 404, "no previews configured on this server");
		return;
	}
	char *body = NULL;
	int status = previews_github_webhook(a->env.previews, http_header(req, "X-GitHub-Event"),
					     http_header(req, "X-GitHub-Delivery"),
					     http_header(req, "X-Hub-Signature-256"), req->body,
					     req->len, &body);
	http_reply(res, status, body ? body : "{}");
	free(body);
}

static const struct http_route routes[] = {
	{ "GET", "/healthz", h_healthz, false, false },
	{ "GET", "/metrics", h_metrics, false, false },
	{ "POST", "/webhook/github", h_webhook, false, true },
	{ "GET", "/api/v1/whoami", h_whoami, true, false },
	{ "POST", "/api/v1/policy", h_apply, true, false },
	{ "POST", "/api/v1/policy/delete", h_delete, true, false },
	{ "POST", "/api/v1/policy/rollback", h_rollback, true, false },
	{ "GET", "/api/v1/plan", h_plan, true, false },
	{ "GET", "/api/v1/status", h_status, true, false },
	{ "GET", "/api/v1/explain", h_explain, true, false },
	{ "GET", "/api/v1/revisions", h_revisions, true, false },
	{ "GET", "/api/v1/revisions/{}", h_revision, true, false },
	{ "GET", "/api/v1/revisions/{}/diff", h_revision_diff, true, false },
	{ "GET", "/api/v1/jobs", h_jobs, true, false },
	{ "GET", "/api/v1/jobs/{}", h_job, true, false },
};

const struct http_route *api_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* ---- the reconcile job ---- */

struct job_watch {
	struct job_run *run;
	volatile sig_atomic_t stop;
};

static void watch(void *ctx, const struct exec *x, const struct exec_action *act)
{
	(void)x, (void)act;
	struct job_watch *w = ctx;
	if (!w->stop && job_cancelled(w->run))
		w->stop = 1;
}

enum job_outcome api_reconcile_job(void *ctx, struct job_run *run, const struct store_job *job,
				   struct error *err)
{
	(void)job;
	struct api *a = ctx;
	struct api_thread *t = thread_get(a);
	const struct users *users = thread_users(t, err);
	if (!users)
		return JOB_RETRY;
	struct job_watch w = { run, 0 };
	struct exec_options eo = { 0 };
	eo.stop = &w.stop;
	eo.report = watch;
	eo.report_ctx = &w;
	struct reconcile_result rr;
	if (reconcile_latest(job_store(run), t->in, users, false, &eo, &rr, err) < 0)
		return JOB_RETRY; /* the store, or an apply running elsewhere: try again later */
	size_t n[EXEC_CANCELLED + 1] = { 0 };
	size_t total = rr.converge.exec ? exec_count(rr.converge.exec) : 0;
	if (rr.converge.exec)
		exec_tally(rr.converge.exec, n);
	pthread_mutex_lock(&a->mu);
	for (int s = EXEC_DONE; s <= EXEC_CANCELLED; s++)
		a->actions[s] += n[s];
	a->reconciles++;
	pthread_mutex_unlock(&a->mu);
	enum job_outcome outcome = JOB_DONE;
	if (w.stop) {
		error_set(err, "generation %lld: stopped, %zu of %zu actions done", rr.generation,
			  n[EXEC_DONE], total);
		outcome = JOB_CANCELLED;
	} else if (rr.converge.unsuccessful) {
		const char *first = "";
		for (size_t i = 0; i < total && !*first; i++) {
			const struct exec_action *x = exec_get(rr.converge.exec, i);
			if (x->status == EXEC_FAILED && x->message)
				first = x->message;
		}
		error_set(err, "generation %lld: %zu of %zu actions did not succeed%s%s", rr.generation,
			  rr.converge.unsuccessful, total, *first ? ": " : "", first);
		outcome = JOB_RETRY;
	} else if (rr.generation == 0) {
		error_set(err, "no policy generation yet: nothing to do");
	} else {
		error_set(err, "generation %lld: %zu actions done", rr.generation, n[EXEC_DONE]);
	}
	reconcile_result_release(&rr);
	return outcome;
}

/* ---- lifetime ---- */

int api_new(struct api **out, const struct api_env *env, struct error *err)
{
	struct api *a = xcalloc(1, sizeof(*a));
	a->env = *env;
	if (pthread_key_create(&a->key, thread_free) != 0) {
		free(a);
		return error_set(err, "cannot create the per-thread key");
	}
	pthread_mutex_init(&a->mu, NULL);
	*out = a;
	return 0;
}

void api_set_http(struct api *a, struct http_server *h)
{
	a->http = h;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	/* The calling thread's own context, if it served anything (tests). */
	struct api_thread *t = pthread_getspecific(a->key);
	if (t) {
		pthread_setspecific(a->key, NULL);
		thread_free(t);
	}
	pthread_key_delete(a->key);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
