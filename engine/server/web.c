/* The web page's routes (see web.h). Every change goes through
 * revise_policy as the logged-in user, as `cairn policy apply` does, and a
 * stored generation queues the same `reconcile` job as POST /api/v1/policy.
 * What the page reads (environments, graph) is resolved from the latest
 * generation as GET /api/v1/status is, and observed through the fleet. */
#include "web.h"

#include "auth.h"
#include "engine/jobs/jobs.h"

#include "base/alloc.h"
#include "base/timefmt.h"
#include "engine/apply/converge.h"
#include "engine/demos/demos.h"
#include "engine/report/report.h"
#include "engine/apply/revise.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* What an extend adds to a dependency's expiry. */
#define EXTEND_SECONDS (24 * 3600)

static void reply_json(struct http_response *res, int status, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	http_reply(res, status, text);
	free(text);
	json_decref(doc);
}

/* ---- the page itself ---- */

static void serve_asset(struct http_response *res, const char *name)
{
	for (size_t i = 0; i < web_nassets; i++) {
		const struct web_asset *a = &web_assets[i];
		if (strcmp(a->name, name) != 0)
			continue;
		res->status = 200;
		res->content_type = a->content_type;
		strbuf_add(&res->body, a->data, a->len);
		/* Nothing inline runs, whatever a label smuggles into the page. */
		http_add_header(res, "Content-Security-Policy",
				"default-src 'self'; script-src 'self'; style-src 'self'; "
				"img-src 'self' data:; object-src 'none'; base-uri 'none'; "
				"frame-ancestors 'none'; form-action 'self'");
		http_add_header(res, "X-Content-Type-Options", "nosniff");
		http_add_header(res, "Referrer-Policy", "no-referrer");
		http_add_header(res, "Cache-Control", "no-cache");
		return;
	}
	http_error(res, 404, "no file %s in the web page", name);
}

static void h_index(void *ctx, struct http_request *req, struct http_response *res)
{
	(void)ctx, (void)req;
	serve_asset(res, "index.html");
}

static void h_static(void *ctx, struct http_request *req, struct http_response *res)
{
	(void)ctx;
	serve_asset(res, req->args[0]);
}

/* ---- login and logout ---- */

void web_session_name(const char *token_hash, char out[WEB_SESSION_NAME_MAX])
{
	snprintf(out, WEB_SESSION_NAME_MAX, AUTH_SESSION_PREFIX "%.12s", token_hash);
}

static void h_login(void *ctx, struct http_request *req, struct http_response *res)
{
	json_t *body = json_loadb(req->body, req->len, 0, NULL);
	const char *user = json_string_value(json_object_get(body, "user"));
	const char *password = json_string_value(json_object_get(body, "password"));
	if (!user || !password || !*user) {
		json_decref(body);
		http_error(res, 400, "login needs a JSON body {\"user\": NAME, \"password\": PASSWORD}");
		return;
	}
	struct api_view w;
	if (api_view_open(ctx, true, &w, res) < 0) {
		json_decref(body);
		return;
	}
	/* The same check as Basic credentials on every route (auth.c): crypt(3)
	 * in constant time, an unknown user costing as much as a known one. */
	struct strbuf plain = STRBUF_INIT, header = STRBUF_INIT;
	strbuf_addf(&plain, "%s:%s", user, password);
	unsigned char *b64 = xmalloc(4 * (plain.len / 3 + 1) + 1);
	EVP_EncodeBlock(b64, (const unsigned char *)plain.buf, (int)plain.len);
	strbuf_addf(&header, "Basic %s", (const char *)b64);
	char *name = NULL, *token = NULL;
	enum auth_method method;
	struct error err = ERROR_INIT;
	struct auth_client client = { .guard = w.env->guard, .peer = req->peer };
	int rc = strchr(user, ':') ? AUTH_REJECTED
				   : auth_check(w.store, w.users, &client, header.buf, &name, &method, &err);
	snprintf(req->tried, sizeof(req->tried), "%s", rc < 0 ? user : "");
	if (rc == AUTH_FAILED) {
		http_error(res, 503, "%s", error_msg(&err));
		goto out;
	}
	if (rc == AUTH_THROTTLED) {
		http_throttled(res, client.retry_after, error_msg(&err));
		goto out;
	}
	if (rc < 0) {
		http_error(res, 401, "wrong user name or password");
		goto out;
	}
	char hash[AUTH_HASH_HEX], label[WEB_SESSION_NAME_MAX];
	long long id;
	if (auth_token_new(&token, &err) < 0) {
		http_error(res, 500, "%s", error_msg(&err));
		goto out;
	}
	auth_token_hash(token, hash);
	web_session_name(hash, label);
	if (store_token_add(w.store, name, label, hash, &id, &err) < 0) {
		http_error(res, 503, "%s", error_msg(&err));
		goto out;
	}
	const struct user *u = users_find(w.users, name);
	reply_json(res, 200, json_pack("{s:s, s:s, s:b}", "token", token, "user", name, "admin",
				       u && u->admin));
out:
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	free(name);
	error_clear(&err);
	explicit_bzero(plain.buf, plain.len);
	explicit_bzero(header.buf, header.len);
	explicit_bzero(b64, strlen((char *)b64));
	free(b64);
	strbuf_release(&plain);
	strbuf_release(&header);
	json_decref(body);
}

struct session_find {
	const char *user, *name;
	long long id;
};

static int session_match(void *ctx, const struct store_token *t)
{
	struct session_find *f = ctx;
	if (!t->revoked && strcasecmp(t->user, f->user) == 0 && strcmp(t->name, f->name) == 0)
		f->id = t->id;
	return 0;
}

static void h_logout(void *ctx, struct http_request *req, struct http_response *res)
{
	const char *h = http_header(req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		http_error(res, 400, "logout ends a web session: send its bearer token");
		return;
	}
	const char *token = h + 7;
	while (*token == ' ')
		token++;
	struct api_view w;
	if (api_view_open(ctx, false, &w, res) < 0)
		return;
	char hash[AUTH_HASH_HEX], label[WEB_SESSION_NAME_MAX];
	auth_token_hash(token, hash);
	web_session_name(hash, label);
	struct session_find f = { req->user, label, 0 };
	struct error err = ERROR_INIT;
	bool found = false;
	if (store_token_list(w.store, session_match, &f, &err) < 0 ||
	    (f.id && store_token_revoke(w.store, f.id, &found, &err) < 0)) {
		http_error(res, 503, "%s", error_msg(&err));
		error_clear(&err);
	} else if (!found) {
		http_error(res, 400, "this token is not a web session: revoke it with cairn token revoke");
	} else {
		reply_json(res, 200, json_pack("{s:s}", "status", "logged out"));
	}
}

/* ---- the latest generation, resolved and observed ---- */

struct current {
	long long generation;
	struct policy *policy;
	struct acl *acl;
	struct resolution *resolution;
	struct fleet *fleet; /* NULL unless asked for */
};

static void current_release(struct current *c)
{
	fleet_close(c->fleet);
	resolution_free(c->resolution);
	acl_free(c->acl);
	policy_free(c->policy);
	memset(c, 0, sizeof(*c));
}

static int current_load(struct api_view *w, struct current *c, bool observe,
			struct http_response *res)
{
	memset(c, 0, sizeof(*c));
	struct error err = ERROR_INIT;
	if (revise_load_generation(w->store, w->in, 0, &c->policy, &c->generation, &err) < 0 ||
	    (c->acl = acl_new(c->policy),
	     resolve_policy(&c->resolution, c->policy, w->users, c->acl, 0, &err) < 0)) {
		http_fail(res, &err);
		error_clear(&err);
		current_release(c);
		return -1;
	}
	if (observe)
		c->fleet = fleet_open(c->policy, NULL);
	return 0;
}

/* When each dependency of r last changed: its generation and that
 * generation's time, in *out (heap, one per dependency; zero when unknown),
 * with index "ns/name" -> 1 + its place. One query to the store, however
 * long the history. */
struct last_change {
	long long generation, time;
};

struct changes_found {
	struct map *index;
	struct last_change *when;
};

static int change_found(void *ctx, const char *ns, const char *name, long long generation,
			long long time)
{
	struct changes_found *f = ctx;
	char key[512];
	int n = snprintf(key, sizeof(key), "%s/%s", ns, name);
	size_t i = n > 0 && (size_t)n < sizeof(key) ? (size_t)(uintptr_t)map_get(f->index, key, (size_t)n)
						    : 0;
	if (i)
		f->when[i - 1] = (struct last_change){ generation, time };
	return 0;
}

static int last_changes(struct store *s, const struct resolution *r, struct map *index,
			struct last_change **out, struct error *err)
{
	struct last_change *when = xcalloc(r->ndeps ? r->ndeps : 1, sizeof(*when));
	for (size_t i = 0; i < r->ndeps; i++)
		map_put(index, r->deps[i].id, strlen(r->deps[i].id), (void *)(uintptr_t)(i + 1));
	struct changes_found f = { index, when };
	if (store_last_changes(s, "dependency", change_found, &f, err) < 0) {
		free(when);
		return -1;
	}
	*out = when;
	return 0;
}

/* How the instances of one environment run. */
struct env_tally {
	size_t total, running, failed, unknown;
	const char *url;
};

static bool is_running(const char *state)
{
	return strcmp(state, "running") == 0 || strcmp(state, "present") == 0;
}

static bool is_failed(const char *state, const char *health)
{
	return strcmp(state, "exited") == 0 || strcmp(state, "dead") == 0 ||
	       (health && strcmp(health, "unhealthy") == 0);
}

static const char *env_state(const struct dep_result *d, const struct env_tally *t)
{
	if (!d->resolved)
		return "not resolved";
	if (d->dep->stopped)
		return "stopped";
	if (t->total == t->running)
		return "running";
	if (t->unknown == t->total)
		return "unknown";
	if (t->running)
		return "partial";
	if (t->failed)
		return "failed";
	return "pending";
}

static json_t *dep_labels(const struct dependency *d)
{
	json_t *obj = json_loads(d->obj.json, 0, NULL);
	json_t *labels = json_object_get(obj, "labels");
	json_t *out = json_is_object(labels) ? json_deep_copy(labels) : json_object();
	json_decref(obj);
	return out;
}

static void h_environments(void *ctx, struct http_request *req, struct http_response *res)
{
	(void)req;
	struct api_view w;
	struct current c;
	struct map index = MAP_INIT;
	struct last_change *when = NULL;
	struct env_tally *tally = NULL;
	struct error err = ERROR_INIT;
	if (api_view_open(ctx, true, &w, res) < 0)
		return;
	if (current_load(&w, &c, true, res) < 0)
		goto out;
	if (last_changes(w.store, c.resolution, &index, &when, &err) < 0) {
		http_error(res, 503, "%s", error_msg(&err));
		goto out;
	}
	const struct resolution *r = c.resolution;
	tally = xcalloc(r->ndeps ? r->ndeps : 1, sizeof(*tally));
	/* One pass over the instances: each counts for every dependency it serves. */
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		struct report_seen seen = report_observed(c.fleet, in);
		const char *state = seen.state, *health = seen.health, *url = seen.url;
		if (!state)
			continue;
		for (uint32_t k = 0; k < in->ndeps; k++) {
			size_t di = (size_t)(uintptr_t)map_get(&index, in->deps[k], strlen(in->deps[k]));
			if (!di)
				continue;
			struct env_tally *t = &tally[di - 1];
			t->total++;
			t->running += is_running(state);
			t->failed += is_failed(state, health);
			t->unknown += strcmp(state, "unknown") == 0;
			if (url && !t->url)
				t->url = url;
		}
	}
	json_t *list = json_array();
	for (size_t i = 0; i < r->ndeps; i++) {
		const struct dep_result *d = &r->deps[i];
		const struct dependency *dep = d->dep;
		char expires[UTC_TIME_SIZE], deadline[UTC_TIME_SIZE], changed[UTC_TIME_SIZE];
		long long dl = dependency_deadline(dep, when[i].time);
		if (dep->expires)
			utc_time_format(dep->expires, expires);
		if (dl)
			utc_time_format(dl, deadline);
		if (when[i].time)
			utc_time_format(when[i].time, changed);
		json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s?, s:s?, s:s?, s:s, s:b, "
				      "s:b, s:s?, s:s?, s:I, s:s?}",
				      "id", d->id, "namespace", dep->obj.ns->s, "name", dep->obj.name->s,
				      "user", dep->user->s, "contract", dep->contract->s, "labels",
				      dep_labels(dep), "resolved", d->resolved, "reason", d->reason,
				      "instance", d->root ? d->root->key : NULL, "url", tally[i].url,
				      "state", env_state(d, &tally[i]), "stopped", dep->stopped,
				      "pinned", dep->pinned, "expires", dep->expires ? expires : NULL,
				      "deadline", dl ? deadline : NULL, "generation",
				      (json_int_t)when[i].generation, "changed",
				      when[i].time ? changed : NULL);
		json_object_set_new(e, "ttl", dep->ttl ? json_integer(dep->ttl) : json_null());
		json_array_append_new(list, e);
	}
	json_t *problems = json_array();
	const struct diags *pd = fleet_problems(c.fleet);
	for (size_t i = 0; i < pd->len; i++)
		json_array_append_new(problems, json_string(pd->items[i]));
	char now[UTC_TIME_SIZE];
	utc_time_format((long long)time(NULL), now);
	reply_json(res, 200, json_pack("{s:I, s:s, s:o, s:o}", "generation", (json_int_t)c.generation,
				       "now", now, "environments", list, "problems", problems));
out:
	error_clear(&err);
	free(tally);
	free(when);
	map_release(&index);
	current_release(&c);
}

/* ---- an environment's graph ---- */

static void h_graph(void *ctx, struct http_request *req, struct http_response *res)
{
	struct api_view w;
	struct current c;
	struct map seen = MAP_INIT; /* key -> 1 + position in nodes */
	struct instance **nodes = NULL;
	uint32_t *level = NULL;
	if (api_view_open(ctx, true, &w, res) < 0)
		return;
	if (current_load(&w, &c, true, res) < 0)
		goto out;
	char id[512];
	snprintf(id, sizeof(id), "%s/%s", req->args[0], req->args[1]);
	const struct dep_result *d = resolution_find_dep(c.resolution, id);
	if (!d) {
		http_error(res, 404, "no environment %s in generation %lld", id, c.generation);
		goto out;
	}
	size_t n = 0;
	nodes = xmalloc((c.resolution->ninstances + 1) * sizeof(*nodes));
	level = xcalloc(c.resolution->ninstances + 1, sizeof(*level));
	if (d->root) {
		nodes[n++] = d->root;
		map_put(&seen, d->root->key, strlen(d->root->key), (void *)(uintptr_t)n);
	}
	/* Breadth first from the environment's service instance through what
	 * each instance needs. */
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < nodes[i]->nedges_out; k++) {
			struct instance *to = nodes[i]->edges_out[k];
			if (map_get(&seen, to->key, strlen(to->key)))
				continue;
			nodes[n++] = to;
			map_put(&seen, to->key, strlen(to->key), (void *)(uintptr_t)n);
		}
	/* Levels: the longest path from the root (the graph has no cycles, so
	 * n passes settle it). */
	for (size_t pass = 0, changed = 1; changed && pass < n; pass++) {
		changed = 0;
		for (size_t i = 0; i < n; i++)
			for (uint32_t k = 0; k < nodes[i]->nedges_out; k++) {
				const char *key = nodes[i]->edges_out[k]->key;
				size_t j = (size_t)(uintptr_t)map_get(&seen, key, strlen(key)) - 1;
				if (level[j] < level[i] + 1) {
					level[j] = level[i] + 1;
					changed = 1;
				}
			}
	}
	json_t *jn = json_array(), *je = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct instance *in = nodes[i];
		struct report_seen obs = report_observed(c.fleet, in);
		json_array_append_new(
			jn, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:i, s:s?, s:s?, s:s?}", "key",
				      in->key, "component", in->component, "service", in->service,
				      "context", in->context, "cluster", in->cluster, "code",
				      in->code_type, "root", in->root, "level", (int)level[i], "state",
				      obs.state, "health", obs.health, "url", obs.url));
		for (uint32_t k = 0; k < in->nedges_out; k++)
			json_array_append_new(je, json_pack("{s:s, s:s}", "from", in->key, "to",
							    in->edges_out[k]->key));
	}
	reply_json(res, 200, json_pack("{s:s, s:I, s:b, s:s?, s:o, s:o}", "id", id, "generation",
				       (json_int_t)c.generation, "resolved", d->resolved, "reason",
				       d->reason, "nodes", jn, "edges", je));
out:
	free(level);
	free(nodes);
	map_release(&seen);
	current_release(&c);
}

/* ---- actions: extend, stop, start, delete ---- */

enum web_action { ACT_EXTEND, ACT_STOP, ACT_START, ACT_DELETE };

static const char *const action_names[] = { "extend", "stop", "start", "delete" };

/* The dependency's JSON changed as the action says; NULL with res filled
 * when the action makes no sense for it. */
static json_t *changed_object(struct api_view *w, const struct current *c, const struct dependency *d,
			      enum web_action a, struct http_response *res)
{
	json_t *obj = json_loads(d->obj.json, 0, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		http_error(res, 500, "dependency %s/%s: its stored JSON does not read", d->obj.ns->s,
			   d->obj.name->s);
		return NULL;
	}
	if (a == ACT_STOP) {
		json_object_set_new(obj, "stopped", json_true());
	} else if (a == ACT_START) {
		json_object_del(obj, "stopped");
	} else if (a == ACT_EXTEND) {
		if (d->pinned || (!d->expires && !d->ttl)) {
			http_error(res, 409, "dependency %s/%s never expires: nothing to extend",
				   d->obj.ns->s, d->obj.name->s);
			json_decref(obj);
			return NULL;
		}
		long long changed = 0;
		if (d->ttl) {
			struct map index = MAP_INIT;
			struct last_change *when = NULL;
			struct error err = ERROR_INIT;
			if (last_changes(w->store, c->resolution, &index, &when, &err) < 0) {
				http_error(res, 503, "%s", error_msg(&err));
				error_clear(&err);
				map_release(&index);
				json_decref(obj);
				return NULL;
			}
			char key[512];
			int n = snprintf(key, sizeof(key), "%s/%s", d->obj.ns->s, d->obj.name->s);
			size_t i = (size_t)(uintptr_t)map_get(&index, key, (size_t)n);
			changed = i ? when[i - 1].time : 0;
			free(when);
			map_release(&index);
		}
		/* From the current expiry when it is still ahead, so extending
		 * never brings it closer. */
		long long now = (long long)time(NULL), from = dependency_deadline(d, changed);
		char expires[UTC_TIME_SIZE];
		utc_time_format((from > now ? from : now) + EXTEND_SECONDS, expires);
		json_object_set_new(obj, "expires", json_string(expires));
		json_object_del(obj, "ttl");
	}
	return obj;
}

static void act(void *ctx, struct http_request *req, struct http_response *res, enum web_action a)
{
	(void)ctx;
	struct api_view w;
	struct current c;
	struct revise_result rr = { 0 };
	json_t *obj = NULL;
	char *text = NULL;
	struct error err = ERROR_INIT;
	if (api_view_open(ctx, true, &w, res) < 0)
		return;
	if (current_load(&w, &c, false, res) < 0)
		goto out;
	const struct dependency *d =
		(const struct dependency *)policy_get(c.policy, KIND_DEPENDENCY, req->args[0], req->args[1]);
	if (!d) {
		http_error(res, 404, "no environment %s/%s in generation %lld", req->args[0],
			   req->args[1], c.generation);
		goto out;
	}
	if (!(obj = changed_object(&w, &c, d, a, res)))
		goto out;
	text = json_dumps(obj, JSON_COMPACT);
	struct revise_text rt = { "web", text, strlen(text) };
	struct revise_request rq = { .verb = a == ACT_DELETE ? REVISE_DELETE : REVISE_APPLY,
				     .user = req->user, .texts = &rt, .ntexts = 1,
				     .log_verb = a == ACT_DELETE ? NULL : action_names[a] };
	char what[600];
	snprintf(what, sizeof(what), "%s %s/%s", action_names[a], req->args[0], req->args[1]);
	if (revise_policy(w.store, w.in, w.users, &rq, &rr, &err) < 0) {
		api_reply_failure(res, what, &rr.diags, &err);
		goto out;
	}
	long long job = 0;
	if (rr.status == REVISE_DONE) {
		/* As POST /api/v1/policy does: the stored generation is converged
		 * by a reconcile job, newest wins. */
		char payload[96];
		snprintf(payload, sizeof(payload), "{\"generation\":%lld}", rr.generation);
		if (jobs_enqueue(w.env->jobs, w.store, "reconcile", "reconcile", payload, true, &job,
				 &err) < 0) {
			error_wrap(&err, "generation %lld stored, but its reconcile job could not be queued",
				   rr.generation);
			http_fail(res, &err);
			goto out;
		}
	}
	json_t *doc = json_pack("{s:s, s:s, s:I, s:b}", "id", strchr(what, ' ') + 1, "action",
				action_names[a], "generation", (json_int_t)rr.generation, "changed",
				rr.status == REVISE_DONE);
	json_object_set_new(doc, "job", job ? json_integer(job) : json_null());
	json_t *exp = json_object_get(obj, "expires");
	if (a == ACT_EXTEND && exp)
		json_object_set(doc, "expires", exp);
	reply_json(res, job ? 202 : 200, doc);
out:
	error_clear(&err);
	free(text);
	json_decref(obj);
	revise_result_release(&rr);
	current_release(&c);
}

static void h_extend(void *ctx, struct http_request *req, struct http_response *res)
{
	act(ctx, req, res, ACT_EXTEND);
}

static void h_stop(void *ctx, struct http_request *req, struct http_response *res)
{
	act(ctx, req, res, ACT_STOP);
}

static void h_start(void *ctx, struct http_request *req, struct http_response *res)
{
	act(ctx, req, res, ACT_START);
}

static void h_remove(void *ctx, struct http_request *req, struct http_response *res)
{
	act(ctx, req, res, ACT_DELETE);
}

/* ---- demos (engine/demos) ---- */

/* The newest job of each key "dataset:NS/NAME" (key -> JSON object). */
static int last_dataset_job(void *ctx, const struct store_job *j)
{
	json_t *by_key = ctx;
	if (!j->key || strncmp(j->key, "dataset:", 8) != 0 || json_object_get(by_key, j->key + 8))
		return 0;
	char updated[UTC_TIME_SIZE];
	utc_time_format(j->updated, updated);
	json_object_set_new(by_key, j->key + 8,
			    json_pack("{s:I, s:s, s:s?, s:s}", "id", (json_int_t)j->id, "status",
				      store_job_status_name(j->status), "message", j->message,
				      "updated", updated));
	return 0;
}

/* The datasets of the policy, their schedule and their last refresh job. */
static json_t *datasets_json(struct api_view *w, const struct current *c)
{
	json_t *list = json_array(), *jobs = json_object();
	struct error err = ERROR_INIT;
	if (store_job_list(w->store, 500, last_dataset_job, jobs, &err) < 0)
		error_clear(&err); /* the list goes without its jobs */
	for (size_t i = 0; i < c->policy->len; i++) {
		if (c->policy->objects[i]->kind != KIND_DATASET)
			continue;
		const struct dataset *d = (const struct dataset *)c->policy->objects[i];
		char id[512], at[24];
		snprintf(id, sizeof(id), "%s/%s", d->obj.ns->s, d->obj.name->s);
		snprintf(at, sizeof(at), "%02d:%02d", d->schedule_minute / 60, d->schedule_minute % 60);
		json_t *job = json_object_get(jobs, id);
		json_array_append_new(list, json_pack("{s:s, s:s?, s:O?}", "dataset", id, "schedule",
						      d->scheduled ? at : NULL, "last_job", job));
	}
	json_decref(jobs);
	return list;
}

/* GET /api/v1/demos: what the configured contracts offer (and whether the
 * caller may ask: a dependency in the contract's namespace), and the demos
 * with what runs for them. */
static void h_demos(void *ctx, struct http_request *req, struct http_response *res)
{
	struct api_view w;
	struct current c;
	if (api_view_open(ctx, true, &w, res) < 0)
		return;
	if (current_load(&w, &c, true, res) < 0)
		goto out;
	const struct demos_config *dc = w.env->demos;
	const struct user *u = users_find(w.users, req->user);
	json_t *offers = json_array();
	for (size_t i = 0; dc && i < dc->noffers; i++) {
		const char *contract = dc->offers[i].contract, *slash = strchr(contract, '/');
		char ns[256];
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - contract), contract);
		json_array_append_new(offers, json_pack("{s:s, s:s, s:b}", "contract", contract,
							"ttl", dc->offers[i].ttl, "allowed",
							u && acl_can_consume(c.acl, u, ns)));
	}
	reply_json(res, 200,
		   json_pack("{s:I, s:s, s:o, s:o, s:o}", "generation", (json_int_t)c.generation,
			     "domain", dc ? dc->domain : "localhost", "offers", offers, "demos",
			     demo_list(c.resolution, c.fleet), "datasets", datasets_json(&w, &c)));
out:
	current_release(&c);
}

/* POST /api/v1/demos {contract, ttl?}: a demo of a configured contract,
 * as the caller; converged by a reconcile job. */
static void h_demo_request(void *ctx, struct http_request *req, struct http_response *res)
{
	json_t *body = json_loadb(req->body, req->len, 0, NULL);
	const char *contract = json_string_value(json_object_get(body, "contract"));
	const json_t *ttl = json_object_get(body, "ttl");
	if (!contract || (ttl && !json_is_string(ttl))) {
		json_decref(body);
		http_error(res, 400, "a demo request is {\"contract\": \"NAMESPACE/NAME\", \"ttl\": "
				     "\"7d\"} (ttl optional)");
		return;
	}
	struct api_view w;
	if (api_view_open(ctx, true, &w, res) < 0) {
		json_decref(body);
		return;
	}
	const struct demo_offer *offer = demos_offer(w.env->demos, contract);
	if (!offer) {
		http_error(res, 404, "contract %s offers no demos (the server config's "
				     "demos.contracts)",
			   contract);
		json_decref(body);
		return;
	}
	struct demo_request r = { .contract = contract, .user = req->user,
				  .requested_by = req->user,
				  .ttl = ttl ? json_string_value(ttl) : offer->ttl,
				  .domain = w.env->demos->domain };
	struct demo_created made;
	struct diags refused = DIAGS_INIT;
	struct error err = ERROR_INIT;
	if (demo_request(w.store, w.in, w.users, &r, &made, &refused, &err) < 0) {
		api_reply_failure(res, "demo request", &refused, &err);
	} else {
		char payload[96], expires[UTC_TIME_SIZE];
		long long job = 0;
		snprintf(payload, sizeof(payload), "{\"generation\":%lld}", made.generation);
		if (jobs_enqueue(w.env->jobs, w.store, "reconcile", "reconcile", payload, true, &job,
				 &err) < 0) {
			error_wrap(&err, "demo %s stored (generation %lld), but its reconcile job could "
					 "not be queued",
				   made.id, made.generation);
			http_fail(res, &err);
		} else {
			utc_time_format(made.expires, expires);
			reply_json(res, 202,
				   json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", made.id, "host",
					     made.host, "expires", expires, "generation",
					     (json_int_t)made.generation, "job", (json_int_t)job));
		}
		demo_created_release(&made);
	}
	error_clear(&err);
	diags_release(&refused);
	json_decref(body);
}

static const struct http_route routes[] = {
	{ "GET", "/", h_index, false, false },
	{ "GET", "/static/{}", h_static, false, false },
	{ "POST", "/api/v1/login", h_login, false, false },
	{ "POST", "/api/v1/logout", h_logout, true, false },
	{ "GET", "/api/v1/environments", h_environments, true, false },
	{ "GET", "/api/v1/environments/{}/{}/graph", h_graph, true, false },
	{ "POST", "/api/v1/environments/{}/{}/extend", h_extend, true, false },
	{ "POST", "/api/v1/environments/{}/{}/stop", h_stop, true, false },
	{ "POST", "/api/v1/environments/{}/{}/start", h_start, true, false },
	{ "DELETE", "/api/v1/environments/{}/{}", h_remove, true, false },
	{ "GET", "/api/v1/demos", h_demos, true, false },
	{ "POST", "/api/v1/demos", h_demo_request, true, false },
};

const struct http_route *web_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
