/* Printing plans, statuses and explanations, as text or JSON. */
#include "output.h"
#include "engine/converge.h"

#include <string.h>

void output_plan_json(struct strbuf *out, long long generation, const struct plan *plan)
{
	strbuf_addf(out, "{\"generation\":%lld,\"actions\":[", generation);
	for (size_t i = 0; i < plan->len; i++) {
		const struct plan_action *a = &plan->actions[i];
		strbuf_adds(out, i ? ",{" : "{");
		strbuf_addf(out, "\"action\":\"%s\",\"instance\":", plan_verb_name(a->verb));
		strbuf_add_json_string(out, a->instance);
		strbuf_adds(out, ",\"dependency\":");
		strbuf_add_json_string(out, a->dependency);
		strbuf_addc(out, '}');
	}
	strbuf_adds(out, "]}");
}

void output_plan_text(FILE *f, const struct plan *plan)
{
	if (!plan->len) {
		fprintf(f, "plan: nothing to do\n");
		return;
	}
	for (size_t i = 0; i < plan->len; i++) {
		const struct plan_action *a = &plan->actions[i];
		fprintf(f, "  %-7s %s  (%s)\n", plan_verb_name(a->verb), a->instance, a->dependency);
	}
	fprintf(f, "plan: %zu to create, %zu to update, %zu to delete, %zu to attach, %zu to detach\n",
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

struct seen {
	const char *state, *container, *health, *url;
};

/* What runs for an instance, as output_status_* show it. */
static struct seen observe(const struct fleet *fleet, const struct instance *in)
{
	struct seen s = { 0 };
	if (!fleet || (!in->root && !in->code_type))
		return s;
	if (!fleet_reachable(fleet, in->cluster)) {
		s.state = "unknown";
		return s;
	}
	size_t n;
	const struct observed *o = fleet_find(fleet, in->key, in->root ? "network" : "container", &n);
	if (!o) {
		s.state = "missing";
		return s;
	}
	s.state = o->state;
	if (!in->root) {
		s.container = o->name;
		s.health = o->health;
		s.url = o->url;
	}
	return s;
}

void output_status_json(struct strbuf *out, long long generation, const struct resolution *r,
			const struct fleet *fleet)
{
	strbuf_addf(out, "{\"generation\":%lld,\"dependencies\":[", generation);
	for (size_t i = 0; i < r->ndeps; i++) {
		const struct dep_result *d = &r->deps[i];
		strbuf_adds(out, i ? ",{\"id\":" : "{\"id\":");
		strbuf_add_json_string(out, d->id);
		strbuf_adds(out, ",\"user\":");
		strbuf_add_json_string(out, d->dep->user->s);
		strbuf_addf(out, ",\"resolved\":%s,\"instance\":", d->resolved ? "true" : "false");
		json_string_or_null(out, d->root ? d->root->key : NULL);
		strbuf_adds(out, ",\"reason\":");
		json_string_or_null(out, d->reason);
		strbuf_addc(out, '}');
	}
	strbuf_adds(out, "],\"instances\":[");
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		strbuf_adds(out, i ? ",{\"key\":" : "{\"key\":");
		strbuf_add_json_string(out, in->key);
		strbuf_adds(out, ",\"contract\":");
		strbuf_add_json_string(out, in->contract);
		strbuf_adds(out, ",\"context\":");
		strbuf_add_json_string(out, in->context);
		strbuf_adds(out, ",\"service\":");
		strbuf_add_json_string(out, in->service);
		strbuf_adds(out, ",\"component\":");
		strbuf_add_json_string(out, in->component);
		strbuf_adds(out, ",\"cluster\":");
		strbuf_add_json_string(out, in->cluster);
		strbuf_adds(out, ",\"dependencies\":");
		json_list(out, in->deps, in->ndeps);
		strbuf_adds(out, ",\"params\":");
		strbuf_adds(out, in->params_public ? in->params_public->s : "{}");
		strbuf_adds(out, ",\"discovery\":");
		strbuf_adds(out, in->discovery ? in->discovery->s : "{}");
		if (fleet) {
			struct seen s = observe(fleet, in);
			strbuf_adds(out, ",\"state\":");
			json_string_or_null(out, s.state);
			strbuf_adds(out, ",\"container\":");
			json_string_or_null(out, s.container);
			strbuf_adds(out, ",\"health\":");
			json_string_or_null(out, s.health);
			strbuf_adds(out, ",\"url\":");
			json_string_or_null(out, s.url);
		}
		strbuf_addc(out, '}');
	}
	strbuf_adds(out, "]}");
}

void output_status_text(FILE *f, long long generation, const struct resolution *r,
			const struct fleet *fleet)
{
	fprintf(f, "generation %lld: %zu of %zu dependencies resolved, %zu instances\n", generation,
		r->nresolved, r->ndeps, r->ninstances);
	for (size_t i = 0; i < r->ndeps; i++) {
		const struct dep_result *d = &r->deps[i];
		if (d->resolved)
			fprintf(f, "  ok      %s (user %s) -> %s\n", d->id, d->dep->user->s, d->root->key);
		else
			fprintf(f, "  FAILED  %s (user %s): %s\n", d->id, d->dep->user->s, d->reason);
	}
	if (r->ninstances)
		fprintf(f, "instances:\n");
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		fprintf(f, "  %s  [%s]", in->key, in->code_type ? in->code_type : "service");
		struct seen s = observe(fleet, in);
		if (s.state)
			fprintf(f, "  %s%s%s%s%s", s.state, s.health ? " (" : "", s.health ? s.health : "",
				s.health ? ")" : "", s.url ? "  " : "");
		if (s.url)
			fputs(s.url, f);
		for (uint32_t d = 0; d < in->ndeps; d++)
			fprintf(f, "%s%s", d ? ", " : "  used by ", in->deps[d]);
		fputc('\n', f);
	}
}

void output_explain_json(struct strbuf *out, const struct dep_result *d)
{
	strbuf_adds(out, "{\"id\":");
	strbuf_add_json_string(out, d->id);
	strbuf_adds(out, ",\"user\":");
	strbuf_add_json_string(out, d->dep->user->s);
	strbuf_adds(out, ",\"contract\":");
	strbuf_add_json_string(out, d->dep->contract->s);
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

void output_explain_text(FILE *f, const struct dep_result *d)
{
	fprintf(f, "%s: %s\n", d->id, d->resolved ? "resolved" : "not resolved");
	for (uint32_t i = 0; i < d->nevents; i++)
		fprintf(f, "  %s\n", d->events[i]);
	if (!d->resolved)
		fprintf(f, "reason: %s\n", d->reason);
}
