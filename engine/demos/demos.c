/* Demos (demos.h): a dependency demo-<random> made through a revision like
 * any other, so the ACL, validation and the policy log apply. */
#include "demos.h"
#include "base/parse.h"

#include "engine/apply/converge.h"
#include "engine/apply/reconcile.h"
#include "engine/report/report.h"
#include "engine/apply/revise.h"

#include "base/alloc.h"
#include "base/strbuf.h"
#include "base/timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Eight letters and digits from the kernel's random source: a DNS label
 * that nobody can guess from another demo's. */
#define DEMO_NAME_LEN 8

static int random_name(char out[DEMO_NAME_LEN + 1], struct error *err)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char raw[DEMO_NAME_LEN];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return error_set(err, "no randomness for a demo's name");
	for (size_t i = 0; i < DEMO_NAME_LEN; i++)
		out[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
	out[0] = alphabet[raw[0] % 26]; /* a letter first: a name, not a number */
	out[DEMO_NAME_LEN] = '\0';
	return 0;
}

/* A request refused for its input: -1 with the reason in err (ERROR_INPUT)
 * and in refused. */
static int refuse(struct diags *refused, struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(struct diags *refused, struct error *err, const char *fmt, ...)
{
	struct strbuf why = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&why, fmt, ap);
	va_end(ap);
	diags_add(refused, "%s", strbuf_cstr(&why));
	error_set_kind(err, ERROR_INPUT, "%s", strbuf_cstr(&why));
	strbuf_release(&why);
	return -1;
}

/* Revises one object as user; a refusal's reasons go into refused. */
static int revise_one(struct store *s, struct intern *in, const struct users *users,
		      const struct revise_request *req, struct revise_result *res,
		      struct diags *refused, struct error *err)
{
	if (revise_policy(s, in, users, req, res, err) == 0)
		return 0;
	for (size_t i = 0; error_is_refusal(err) && i < res->diags.len; i++)
		diags_add(refused, "%s", res->diags.items[i]);
	return -1;
}

/* Applies one object as user. */
static int apply_one(struct store *s, struct intern *in, const struct users *users,
		     const char *user, const char *log_verb, const char *json, bool dry_run,
		     struct revise_result *res, struct diags *refused, struct error *err)
{
	struct revise_text text = { "demo", json, strlen(json) };
	struct revise_request req = { .verb = REVISE_APPLY, .user = user, .texts = &text,
				      .ntexts = 1, .dry_run = dry_run, .log_verb = log_verb };
	return revise_one(s, in, users, &req, res, refused, err);
}

/* A demo made of a dry run's result: refused unless it resolves. */
static int check_resolves(const struct revise_result *res, const char *id, struct diags *refused,
			  struct error *err)
{
	const struct dep_result *d = resolution_find_dep(res->resolution, id);
	if (d && d->resolved)
		return 0;
	return refuse(refused, err, "%s would not resolve: %s", id,
		      d && d->reason ? d->reason : "it is not in the policy");
}

int demo_request(struct store *s, struct intern *in, const struct users *users,
		 const struct demo_request *r, struct demo_created *out, struct diags *refused,
		 struct error *err)
{
	memset(out, 0, sizeof(*out));
	const char *slash = r->contract ? strchr(r->contract, '/') : NULL;
	if (!slash || slash == r->contract || !slash[1] || strchr(slash + 1, '/'))
		return refuse(refused, err, "a demo needs its contract as NAMESPACE/NAME, not '%s'",
			      r->contract ? r->contract : "");
	const char *ttl = r->ttl ? r->ttl : DEMO_TTL_DEFAULT;
	int64_t seconds;
	if (parse_duration_seconds(ttl, &seconds) < 0 || seconds <= 0)
		return refuse(refused, err,
			      "ttl '%s' is not a positive duration (like 90m, 24h or 7d)", ttl);
	long long expires = (long long)time(NULL) + seconds;
	char when[UTC_TIME_SIZE];
	utc_time_format(expires, when);
	struct strbuf host = STRBUF_INIT, id = STRBUF_INIT;
	struct revise_result res = { 0 };
	char *json = NULL;
	int rc = -1;
	bool free_name = false;
	/* A name another dependency has already is never taken over: another. */
	for (int attempt = 0; attempt < 4 && !free_name; attempt++) {
		char name[DEMO_NAME_LEN + 1];
		if (random_name(name, err) < 0)
			goto out;
		strbuf_reset(&host);
		strbuf_reset(&id);
		strbuf_addf(&host, "%s.demo.%s", name, r->domain ? r->domain : "localhost");
		strbuf_addf(&id, "%.*s/demo-%s", (int)(slash - r->contract), r->contract, name);
		/* expires, not ttl: a demo lives its days from the request, whatever
		 * changes it later (a refresh of its data) */
		json_t *o = json_pack("{s:s, s:{s:s%, s:s}, s:s, s:s, s:{s:s, s:s, s:s}, s:s}",
				      "kind", "dependency", "metadata", "namespace", r->contract,
				      (size_t)(slash - r->contract), "name", strchr(id.buf, '/') + 1,
				      "user", r->user, "contract", slash + 1, "labels", DEMO_LABEL,
				      name, DEMO_LABEL_HOST, host.buf, DEMO_LABEL_BY,
				      r->requested_by ? r->requested_by : r->user, "expires", when);
		free(json);
		json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(o);
		/* A dry run first: a demo whose dependency would not resolve (a
		 * label the contract needs, a template error) is refused, not
		 * stored. */
		if (apply_one(s, in, users, r->user, "demo", json, true, &res, refused, err) < 0)
			goto out;
		free_name = !res.updated && res.status != REVISE_UNCHANGED;
		if (free_name && check_resolves(&res, id.buf, refused, err) < 0)
			goto out;
		revise_result_release(&res);
	}
	if (!free_name) {
		refuse(refused, err, "no free demo name in namespace %.*s after 4 tries",
		       (int)(slash - r->contract), r->contract);
		goto out;
	}
	if (apply_one(s, in, users, r->user, "demo", json, false, &res, refused, err) < 0)
		goto out;
	out->id = strbuf_detach(&id);
	out->host = strbuf_detach(&host);
	out->expires = expires;
	out->generation = res.generation;
	rc = 0;
out:
	revise_result_release(&res);
	free(json);
	strbuf_release(&host);
	strbuf_release(&id);
	return rc;
}

void demo_created_release(struct demo_created *c)
{
	free(c->id);
	free(c->host);
	memset(c, 0, sizeof(*c));
}

static const char *dep_label(const struct dependency *d, const char *key)
{
	for (uint32_t i = 0; i < d->labels.len; i++)
		if (strcmp(d->labels.items[i].key->s, key) == 0)
			return d->labels.items[i].value->s;
	return NULL;
}

json_t *demo_list(const struct resolution *r, const struct fleet *fleet)
{
	json_t *list = json_array();
	for (size_t i = 0; i < r->ndeps; i++) {
		const struct dep_result *d = &r->deps[i];
		const struct dependency *dep = d->dep;
		if (!dep_label(dep, DEMO_LABEL))
			continue;
		/* What runs: the first URL of its instances, the data of its
		 * data component; running when every instance runs. */
		const char *url = NULL, *snapshot = NULL, *build = NULL, *state = NULL;
		size_t total = 0, running = 0;
		for (size_t k = 0; fleet && k < r->ninstances; k++) {
			const struct instance *in = r->instances[k];
			if (!instance_serves(in, d->id))
				continue;
			struct report_seen seen = report_observed(fleet, in);
			if (!seen.state)
				continue;
			total++;
			running += !strcmp(seen.state, "running") || !strcmp(seen.state, "present");
			if (!url)
				url = seen.url;
			if (!snapshot && seen.snapshot)
				snapshot = seen.snapshot, build = seen.build;
		}
		if (fleet)
			state = !d->resolved ? "not resolved"
				: total && running == total ? "running"
				: running ? "partial"
				: "pending";
		char expires[UTC_TIME_SIZE];
		if (dep->expires)
			utc_time_format(dep->expires, expires);
		const char *by = dep_label(dep, DEMO_LABEL_BY);
		json_array_append_new(
			list,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:b, s:b, s:s?, s:s?, "
				  "s:s?, s:s?, s:s?}",
				  "id", d->id, "namespace", dep->obj.ns->s, "name", dep->obj.name->s,
				  "user", dep->user->s, "requested_by", by ? by : dep->user->s,
				  "contract", dep->contract->s, "host", dep_label(dep, DEMO_LABEL_HOST),
				  "expires", dep->expires ? expires : NULL, "pinned", dep->pinned,
				  "resolved", d->resolved, "reason", d->reason, "state", state, "url",
				  url, "snapshot", snapshot, "build", build));
	}
	return list;
}

/* The stored object of dependency id ("ns/name") in the latest generation:
 * 0 with *obj (new reference); refused when there is none. */
static int stored_dependency(struct store *s, struct intern *in, const char *id, json_t **obj,
			     struct diags *refused, struct error *err)
{
	*obj = NULL;
	const char *slash = strchr(id, '/');
	struct policy *pol = NULL;
	if (revise_load_generation(s, in, 0, &pol, NULL, err) < 0)
		return -1;
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - id), id);
	const struct object *o = policy_get(pol, KIND_DEPENDENCY, ns, slash + 1);
	if (o)
		*obj = json_loads(o->json, 0, NULL);
	policy_free(pol);
	if (*obj)
		return 0;
	return refuse(refused, err, "there is no dependency %s", id);
}

/* Sets label snapshot of dependency id to value, as user. */
static int set_snapshot_label(struct store *s, struct intern *in, const struct users *users,
			      const char *id, const char *user, const char *value,
			      long long *generation, struct diags *refused, struct error *err)
{
	json_t *obj;
	if (stored_dependency(s, in, id, &obj, refused, err) < 0)
		return -1;
	json_t *labels = json_object_get(obj, "labels");
	if (!json_is_object(labels))
		json_object_set_new(obj, "labels", labels = json_object());
	json_object_set_new(labels, DEMO_LABEL_SNAPSHOT, json_string(value));
	char *json = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	struct revise_result res = { 0 };
	int rc = apply_one(s, in, users, user, "refresh", json, false, &res, refused, err);
	if (rc == 0)
		*generation = res.generation;
	revise_result_release(&res);
	free(json);
	return rc;
}

int demo_delete(struct store *s, struct intern *in, const struct users *users, const char *id,
		const char *user, struct revise_result *res, struct diags *refused,
		struct error *err)
{
	memset(res, 0, sizeof(*res));
	const char *slash = id ? strchr(id, '/') : NULL;
	if (!slash || slash == id || !slash[1] || strchr(slash + 1, '/'))
		return refuse(refused, err, "demo delete needs NAMESPACE/NAME, not '%s'",
			      id ? id : "");
	json_t *obj;
	if (stored_dependency(s, in, id, &obj, refused, err) < 0)
		return -1;
	if (!json_string_value(json_object_get(json_object_get(obj, "labels"), DEMO_LABEL))) {
		json_decref(obj);
		return refuse(refused, err,
			      "dependency %s is not a demo (it has no label %s): delete it with "
			      "cairn policy delete",
			      id, DEMO_LABEL);
	}
	char *json = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	struct revise_text text = { "demo", json, strlen(json) };
	struct revise_request req = { .verb = REVISE_DELETE, .user = user, .texts = &text,
				      .ntexts = 1 };
	int rc = revise_one(s, in, users, &req, res, refused, err);
	free(json);
	return rc;
}

/* The snapshot the data component of dependency id runs, observed. */
static char *running_snapshot(const struct reconcile_result *rr, const char *id)
{
	struct fleet *f = fleet_open(rr->policy, NULL);
	char *found = NULL;
	for (size_t k = 0; k < rr->resolution->ninstances && !found; k++) {
		const struct instance *in = rr->resolution->instances[k];
		for (uint32_t j = 0; j < in->ndeps && !found; j++) {
			if (strcmp(in->deps[j], id) != 0)
				continue;
			struct report_seen seen = report_observed(f, in);
			if (seen.snapshot)
				found = xstrdup(seen.snapshot);
		}
	}
	fleet_close(f);
	return found;
}

int demo_refresh(struct store *s, struct intern *in, const struct users *users,
		 const char *id, const char *user, const struct exec_options *eo,
		 struct demo_refreshed *out, struct diags *refused, struct error *err)
{
	memset(out, 0, sizeof(*out));
	const char *slash = id ? strchr(id, '/') : NULL;
	if (!slash || slash == id || !slash[1] || strchr(slash + 1, '/'))
		return refuse(refused, err, "demo refresh needs NAMESPACE/NAME, not '%s'",
			      id ? id : "");
	/* latest for one converge, then the snapshot that brought, so that
	 * the demo keeps it when newer ones are prepared */
	if (set_snapshot_label(s, in, users, id, user, "latest", &out->generation, refused, err) < 0)
		return -1;
	struct reconcile_result rr;
	if (reconcile_latest(s, in, users, true, eo, &rr, err) < 0)
		return error_wrap(err, "refresh %s: converge", id);
	out->unsuccessful = rr.converge.unsuccessful;
	out->snapshot = rr.converge.unsuccessful ? NULL : running_snapshot(&rr, id);
	reconcile_result_release(&rr);
	if (!out->snapshot) {
		error_set(err, "refresh %s: its data did not start on the newest snapshot (%zu "
			       "actions did not succeed): see cairn status",
			  id, out->unsuccessful);
		return -1;
	}
	return set_snapshot_label(s, in, users, id, user, out->snapshot, &out->generation,
				  refused, err);
}

void demo_refreshed_release(struct demo_refreshed *r)
{
	free(r->snapshot);
	memset(r, 0, sizeof(*r));
}
