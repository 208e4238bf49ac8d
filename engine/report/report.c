/* Printing plans, statuses, explanations, revisions and policy changes, as
 * text or JSON (see report.h). Moved here from the CLI so the server's API
 * answers with the same documents. */
#include "report.h"
#include "engine/backup/replica.h"
#include "engine/apply/converge.h"
#include "engine/store/store.h"
#include "base/map.h"
#include "base/timefmt.h"

#include <string.h>
#include <time.h>

/* ,"name":"value" (value JSON-escaped). */
static void string_field(struct strbuf *out, const char *name, const char *value)
{
	strbuf_adds(out, ",\"");
	strbuf_adds(out, name);
	strbuf_adds(out, "\":");
	strbuf_add_json_string(out, value);
}

void report_plan_json(struct strbuf *out, long long generation, const struct plan *plan)
{
	strbuf_addf(out, "{\"generation\":%lld,\"actions\":[", generation);
	for (size_t i = 0; i < plan->len; i++) {
		const struct plan_action *a = &plan->actions[i];
		strbuf_adds(out, i ? ",{" : "{");
		strbuf_addf(out, "\"action\":\"%s\",\"instance\":", plan_verb_name(a->verb));
		strbuf_add_json_string(out, a->instance);
		string_field(out, "dependency", a->dependency);
		strbuf_addc(out, '}');
	}
	strbuf_adds(out, "]}");
}

void report_plan_text(struct strbuf *out, const struct plan *plan)
{
	if (!plan->len) {
		strbuf_addf(out, "plan: nothing to do\n");
		return;
	}
	for (size_t i = 0; i < plan->len; i++) {
		const struct plan_action *a = &plan->actions[i];
		strbuf_addf(out, "  %-7s %s  (%s)\n", plan_verb_name(a->verb), a->instance, a->dependency);
	}
	strbuf_addf(out, "plan: %zu to create, %zu to update, %zu to delete, %zu to attach, %zu to detach\n",
		plan->count[PLAN_CREATE], plan->count[PLAN_UPDATE], plan->count[PLAN_DELETE],
		plan->count[PLAN_ATTACH], plan->count[PLAN_DETACH]);
}

static void json_string_or_null(struct strbuf *out, const char *s)
{
	if (s)
		strbuf_add_json_string(out, s);
	else
		strbuf_adds(out, "null");
}

static void json_list(struct strbuf *out, const char **items, uint32_t n)
{
	strbuf_addc(out, '[');
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			strbuf_addc(out, ',');
		strbuf_add_json_string(out, items[i]);
	}
	strbuf_addc(out, ']');
}

struct report_seen report_observed(const struct fleet *fleet, const struct instance *in)
{
	struct report_seen s = { 0 };
	if (!fleet || (!in->root && !in->code_type))
		return s;
	if (!fleet_reachable(fleet, in->cluster)) {
		s.state = "unknown";
		return s;
	}
	size_t n;
	const struct observed *o = fleet_find(fleet, in->key, in->root ? "network" : NULL, &n);
	if (!o) {
		s.state = "missing";
		return s;
	}
	s.state = o->state;
	if (!in->root) {
		s.container = o->name;
		s.health = o->health;
		s.url = o->url;
		s.snapshot = o->snapshot;
		s.build = o->snapshot_build;
		s.nodes = o->nodes;
		s.tasks_running = o->tasks_running;
		s.tasks_wanted = o->tasks_wanted;
	}
	return s;
}

/* {of, backup, steps}: what a replica dependency is made from and how its
 * steps went (engine/backup/replica.h). */
static json_t *replica_json(const struct dep_result *d)
{
	const struct dependency *dep = d->dep;
	char *of = dependency_replica_of(dep);
	json_t *j = json_pack("{s:s, s:s?, s:o}", "of", of, "backup",
			      dep->replica.backup ? dep->replica.backup->s : NULL, "steps",
			      replica_steps(backup_default_store(), d->id));
	free(of);
	return j;
}

void report_status_json(struct strbuf *out, long long generation, const struct resolution *r,
			const struct fleet *fleet)
{
	strbuf_addf(out, "{\"generation\":%lld,\"dependencies\":[", generation);
	for (size_t i = 0; i < r->ndeps; i++) {
		const struct dep_result *d = &r->deps[i];
		strbuf_adds(out, i ? ",{\"id\":" : "{\"id\":");
		strbuf_add_json_string(out, d->id);
		string_field(out, "user", d->dep->user->s);
		strbuf_addf(out, ",\"resolved\":%s,\"instance\":", d->resolved ? "true" : "false");
		json_string_or_null(out, d->root ? d->root->key : NULL);
		strbuf_adds(out, ",\"reason\":");
		json_string_or_null(out, d->reason);
		if (d->dep->replica.on) {
			json_t *replica = replica_json(d);
			char *text = json_dumps(replica, JSON_COMPACT);
			strbuf_adds(out, ",\"replica\":");
			strbuf_adds(out, text);
			free(text);
			json_decref(replica);
		}
		strbuf_addc(out, '}');
	}
	strbuf_adds(out, "],\"instances\":[");
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		strbuf_adds(out, i ? ",{\"key\":" : "{\"key\":");
		strbuf_add_json_string(out, in->key);
		string_field(out, "contract", in->contract);
		string_field(out, "context", in->context);
		string_field(out, "service", in->service);
		string_field(out, "component", in->component);
		string_field(out, "cluster", in->cluster);
		strbuf_adds(out, ",\"dependencies\":");
		json_list(out, in->deps, in->ndeps);
		strbuf_adds(out, ",\"params\":");
		strbuf_adds(out, in->params_public ? in->params_public->s : "{}");
		strbuf_adds(out, ",\"discovery\":");
		strbuf_adds(out, in->discovery ? in->discovery->s : "{}");
		if (fleet) {
			struct report_seen s = report_observed(fleet, in);
			strbuf_adds(out, ",\"state\":");
			json_string_or_null(out, s.state);
			strbuf_adds(out, ",\"container\":");
			json_string_or_null(out, s.container);
			strbuf_adds(out, ",\"health\":");
			json_string_or_null(out, s.health);
			strbuf_adds(out, ",\"url\":");
			json_string_or_null(out, s.url);
			strbuf_adds(out, ",\"snapshot\":");
			json_string_or_null(out, s.snapshot);
			strbuf_adds(out, ",\"build\":");
			json_string_or_null(out, s.build);
			if (s.nodes) {
				strbuf_addf(out, ",\"tasks\":{\"running\":%lld,\"wanted\":%lld,\"nodes\":",
					    s.tasks_running, s.tasks_wanted);
				strbuf_add_json_string(out, s.nodes);
				strbuf_addc(out, '}');
			}
		}
		strbuf_addc(out, '}');
	}
	strbuf_adds(out, "]}");
}

void report_status_text(struct strbuf *out, long long generation, const struct resolution *r,
			const struct fleet *fleet)
{
	strbuf_addf(out, "generation %lld: %zu of %zu dependencies resolved, %zu instances\n", generation,
		r->nresolved, r->ndeps, r->ninstances);
	for (size_t i = 0; i < r->ndeps; i++) {
		const struct dep_result *d = &r->deps[i];
		if (d->resolved)
			strbuf_addf(out, "  ok      %s (user %s) -> %s\n", d->id, d->dep->user->s, d->root->key);
		else
			strbuf_addf(out, "  FAILED  %s (user %s): %s\n", d->id, d->dep->user->s, d->reason);
		if (!d->dep->replica.on)
			continue;
		json_t *replica = replica_json(d);
		strbuf_addf(out, "          replica of %s%s%s\n", json_string_value(json_object_get(replica, "of")),
			d->dep->replica.backup ? ", backup " : "",
			d->dep->replica.backup ? d->dep->replica.backup->s : "");
		size_t k;
		json_t *step;
		json_array_foreach(json_object_get(replica, "steps"), k, step)
			strbuf_addf(out, "          %s %s %.2f s at %s: %s\n",
				json_string_value(json_object_get(step, "step")),
				json_string_value(json_object_get(step, "component")),
				json_real_value(json_object_get(step, "seconds")),
				json_string_value(json_object_get(step, "finished")),
				json_string_value(json_object_get(step, "note")));
		json_decref(replica);
	}
	if (r->ninstances)
		strbuf_addf(out, "instances:\n");
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		strbuf_addf(out, "  %s  [%s]", in->key, in->code_type ? in->code_type : "service");
		struct report_seen s = report_observed(fleet, in);
		if (s.state)
			strbuf_addf(out, "  %s%s%s%s%s", s.state, s.health ? " (" : "", s.health ? s.health : "",
				s.health ? ")" : "", s.url ? "  " : "");
		if (s.url)
			strbuf_adds(out, s.url);
		if (s.nodes)
			strbuf_addf(out, "  %lld/%lld tasks%s%s", s.tasks_running, s.tasks_wanted,
				*s.nodes ? " on " : "", s.nodes);
		if (s.snapshot)
			strbuf_addf(out, "  data %s (build %s)", s.snapshot, s.build ? s.build : "unknown");
		for (uint32_t d = 0; d < in->ndeps; d++)
			strbuf_addf(out, "%s%s", d ? ", " : "  used by ", in->deps[d]);
		strbuf_addc(out, '\n');
	}
}

void report_explain_json(struct strbuf *out, const struct dep_result *d)
{
	strbuf_adds(out, "{\"id\":");
	strbuf_add_json_string(out, d->id);
	string_field(out, "user", d->dep->user->s);
	string_field(out, "contract", d->dep->contract->s);
	strbuf_addf(out, ",\"resolved\":%s,\"context\":", d->resolved ? "true" : "false");
	json_string_or_null(out, d->context);
	strbuf_adds(out, ",\"instance\":");
	json_string_or_null(out, d->root ? d->root->key : NULL);
	strbuf_adds(out, ",\"reason\":");
	json_string_or_null(out, d->reason);
	strbuf_adds(out, ",\"events\":");
	json_list(out, d->events, d->nevents);
	strbuf_addc(out, '}');
}

void report_explain_text(struct strbuf *out, const struct dep_result *d)
{
	strbuf_addf(out, "%s: %s\n", d->id, d->resolved ? "resolved" : "not resolved");
	for (uint32_t i = 0; i < d->nevents; i++)
		strbuf_addf(out, "  %s\n", d->events[i]);
	if (!d->resolved)
		strbuf_addf(out, "reason: %s\n", d->reason);
}

void report_revise_text(struct strbuf *out, const struct revise_request *req, const struct revise_result *res)
{
	if (res->status == REVISE_UNCHANGED)
		strbuf_addf(out, "policy unchanged: every object is already as given (generation %lld)\n",
			res->generation);
	else if (req->dry_run)
		strbuf_addf(out, "dry run: would make generation %lld (%zu created, %zu updated, %zu deleted)\n",
			res->generation + 1, res->created, res->updated, res->deleted);
	else if (req->verb == REVISE_ROLLBACK)
		strbuf_addf(out, "generation %lld by %s, a rollback of %lld: %zu created, %zu updated, %zu deleted\n",
			res->generation, req->user, req->rollback_to, res->created, res->updated,
			res->deleted);
	else
		strbuf_addf(out, "generation %lld by %s: %zu created, %zu updated, %zu deleted\n",
			res->generation, req->user, res->created, res->updated, res->deleted);
	report_plan_text(out, res->plan);
	for (size_t i = 0; i < res->resolution->ndeps; i++) {
		const struct dep_result *d = &res->resolution->deps[i];
		if (!d->resolved)
			strbuf_addf(out, "  not resolved: %s: %s\n", d->id, d->reason);
	}
}

void report_revise_json(struct strbuf *out, const struct revise_request *req, const struct revise_result *res)
{
	if (req->dry_run) {
		strbuf_adds(out, "{\"plan\":");
		report_plan_json(out, res->generation, res->plan);
		strbuf_adds(out, ",\"status\":");
		report_status_json(out, res->generation, res->resolution, NULL);
		strbuf_adds(out, "}\n");
	} else {
		report_plan_json(out, res->generation, res->plan);
		strbuf_addc(out, '\n');
	}
}

struct list_ctx {
	struct strbuf *out;
	bool json;
	size_t count;
};

/* The file a diagnostic names: its text before ":LINE:COL: ", or 0 chars. */
static size_t diag_file_len(const char *msg)
{
	for (const char *c = strchr(msg, ':'); c; c = strchr(c + 1, ':')) {
		const char *p = c + 1;
		size_t digits = strspn(p, "0123456789");
		if (digits && p[digits] == ':' && strspn(p + digits + 1, "0123456789"))
			return (size_t)(c - msg);
	}
	return 0;
}

void report_refusal_reason(struct strbuf *out, const struct diags *d)
{
	struct map files = MAP_INIT;
	for (size_t i = 0; i < d->len; i++) {
		size_t n = diag_file_len(d->items[i]);
		if (n)
			map_put(&files, d->items[i], n, d->items[i]);
	}
	strbuf_addf(out, "%zu error%s", d->len, d->len == 1 ? "" : "s");
	if (files.len)
		strbuf_addf(out, " in %zu file%s", files.len, files.len == 1 ? "" : "s");
	strbuf_adds(out, "; nothing was stored");
	map_release(&files);
}

void report_refusal_json(struct strbuf *out, const char *what, const struct diags *d)
{
	struct strbuf msg = STRBUF_INIT;
	strbuf_addf(&msg, "%s refused: ", what);
	report_refusal_reason(&msg, d);
	strbuf_adds(out, "{\"error\":");
	strbuf_add_json_string(out, strbuf_cstr(&msg));
	strbuf_adds(out, ",\"diagnostics\":[");
	for (size_t i = 0; i < d->len; i++) {
		if (i)
			strbuf_addc(out, ',');
		strbuf_add_json_string(out, d->items[i]);
	}
	strbuf_adds(out, "]}");
	strbuf_release(&msg);
}

static int log_generation(void *ctx_, const struct store_generation *g)
{
	struct list_ctx *ctx = ctx_;
	char when[UTC_TIME_SIZE];
	utc_time_format(g->time, when);
	if (ctx->json) {
		strbuf_adds(ctx->out, ctx->count ? ",{" : "{");
		strbuf_addf(ctx->out, "\"generation\":%lld,\"user\":", g->generation);
		strbuf_add_json_string(ctx->out, g->user);
		strbuf_addf(ctx->out, ",\"time\":\"%s\",\"verb\":", when);
		strbuf_add_json_string(ctx->out, g->verb);
		long long of;
		if (sscanf(g->verb, "rollback of %lld", &of) == 1)
			strbuf_addf(ctx->out, ",\"rollback_of\":%lld", of);
		strbuf_addf(ctx->out, ",\"created\":%zu,\"updated\":%zu,\"deleted\":%zu}", g->created,
			    g->updated, g->deleted);
	} else {
		strbuf_addf(ctx->out, "generation %lld  %s  %-8s %-6s %zu created, %zu updated, %zu deleted\n",
			    g->generation, when, g->user, g->verb, g->created, g->updated, g->deleted);
	}
	ctx->count++;
	return 0;
}

int report_log(struct strbuf *out, struct store *s, bool json, struct error *err)
{
	struct list_ctx ctx = { out, json, 0 };
	if (json)
		strbuf_adds(out, "{\"generations\":[");
	if (store_log(s, log_generation, &ctx, err) < 0)
		return -1;
	if (json)
		strbuf_adds(out, "]}");
	else if (!ctx.count)
		strbuf_adds(out, "no policy generations yet\n");
	return 0;
}

static int show_object(void *ctx_, const char *kind, const char *ns, const char *name,
		       const char *body, const char *origin)
{
	struct list_ctx *ctx = ctx_;
	if (ctx->json) {
		strbuf_adds(ctx->out, ctx->count ? "," : "");
		strbuf_adds(ctx->out, body);
	} else {
		strbuf_addf(ctx->out, "# %s %s/%s\n- ", kind, ns, name);
		/* JSON is YAML: indent the body under the list item. */
		for (const char *p = body; *p; p++) {
			strbuf_addc(ctx->out, *p);
			if (*p == '\n' && p[1])
				strbuf_adds(ctx->out, "  ");
		}
		if (ctx->out->len && ctx->out->buf[ctx->out->len - 1] != '\n')
			strbuf_addc(ctx->out, '\n');
	}
	ctx->count++;
	return 0;
}

int report_show(struct strbuf *out, struct store *s, long long gen, bool json, struct error *err)
{
	long long current;
	if (store_current_generation(s, &current, err) < 0)
		return -1;
	if (!gen)
		gen = current;
	if (gen <= 0 || gen > current) {
		if (current)
			return error_set(err, "generation %lld does not exist (the latest is %lld)", gen,
					 current);
		return error_set(err, "no policy generations yet");
	}
	struct list_ctx ctx = { out, json, 0 };
	if (json)
		strbuf_addf(out, "{\"generation\":%lld,\"objects\":[", gen);
	else
		strbuf_addf(out, "# generation %lld\n", gen);
	if (store_list_objects(s, gen, show_object, &ctx, err) < 0)
		return -1;
	if (json)
		strbuf_adds(out, "]}");
	return 0;
}

static int diff_object(void *ctx_, const char *kind, const char *ns, const char *name,
		       const char *old_body, const char *new_body)
{
	struct list_ctx *ctx = ctx_;
	const char *what = !old_body ? "created" : !new_body ? "deleted" : "updated";
	if (ctx->json) {
		strbuf_adds(ctx->out, ctx->count ? ",{" : "{");
		strbuf_adds(ctx->out, "\"kind\":");
		strbuf_add_json_string(ctx->out, kind);
		strbuf_adds(ctx->out, ",\"namespace\":");
		strbuf_add_json_string(ctx->out, ns);
		strbuf_adds(ctx->out, ",\"name\":");
		strbuf_add_json_string(ctx->out, name);
		strbuf_addf(ctx->out, ",\"change\":\"%s\",\"old\":%s,\"new\":%s}", what,
			    old_body ? old_body : "null", new_body ? new_body : "null");
	} else {
		strbuf_addf(ctx->out, "%s %s %s/%s\n", what, kind, ns, name);
		if (old_body && new_body)
			strbuf_addf(ctx->out, "  - %s\n  + %s\n", old_body, new_body);
	}
	ctx->count++;
	return 0;
}

int report_diff(struct strbuf *out, struct store *s, long long from, long long to, bool json,
		struct error *err)
{
	struct list_ctx ctx = { out, json, 0 };
	if (json)
		strbuf_addf(out, "{\"from\":%lld,\"to\":%lld,\"changes\":[", from, to);
	if (store_diff(s, from, to, diff_object, &ctx, err) < 0)
		return -1;
	if (json)
		strbuf_adds(out, "]}");
	else if (!ctx.count)
		strbuf_addf(out, "no changes between generations %lld and %lld\n", from, to);
	return 0;
}
