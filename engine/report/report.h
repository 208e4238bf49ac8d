/* What `cairn` shows of plans, statuses, explanations, revisions and policy
 * changes: for people (text) or as the stable JSON documented in the README.
 * Shared by the CLI and the server's API, so that `cairn --server` prints
 * exactly what the local command prints. Formatting only: no effects. */
#ifndef CAIRN_REPORT_H
#define CAIRN_REPORT_H

#include "engine/core/engine.h"
#include "engine/apply/revise.h"

#include <stdbool.h>
#include <stdio.h>

struct fleet;
struct store;

/* {"generation": N, "actions": [{"action", "instance", "dependency"}]} */
void report_plan_json(struct strbuf *out, long long generation, const struct plan *plan);
void report_plan_text(struct strbuf *out, const struct plan *plan);

/* {"generation": N, "dependencies": [...], "instances": [...]}; with a fleet
 * (what runs, observed), each instance also has "state" (container state,
 * "missing", "unknown" when its cluster cannot be reached; for a service
 * instance its network's "present"/"missing"; null when nothing runs for it),
 * "container", "health" and "url". */
void report_status_json(struct strbuf *out, long long generation, const struct resolution *r,
			const struct fleet *fleet);
void report_status_text(struct strbuf *out, long long generation, const struct resolution *r,
			const struct fleet *fleet);
/* What runs for one instance, as the status shows it: state as in the status
 * JSON (NULL when nothing runs for it or there is no fleet), and for a
 * component its container's name, health, URL and, for a `data` component,
 * the snapshot and its build (NULL when none). The strings belong to the
 * fleet. */
struct report_seen {
	const char *state, *container, *health, *url, *snapshot, *build;
	const char *nodes; /* tasks of a swarm service: NULL for others */
	long long tasks_running, tasks_wanted;
};
struct report_seen report_observed(const struct fleet *fleet, const struct instance *in);

/* One dependency's explanation. */
void report_explain_json(struct strbuf *out, const struct dep_result *d);
void report_explain_text(struct strbuf *out, const struct dep_result *d);

/* The outcome of `policy apply|delete` before converging. Text: the
 * generation line, the plan and the dependencies not resolved. JSON: PLAN,
 * or {"plan": PLAN, "status": STATUS} for a dry run. */
void report_revise_text(struct strbuf *out, const struct revise_request *req, const struct revise_result *res);
void report_revise_json(struct strbuf *out, const struct revise_request *req, const struct revise_result *res);

/* Why a change was refused, in a few words: "3402 errors in 1 file; nothing
 * was stored" (files are those the diagnostics name, "file:line:col: ..."). */
void report_refusal_reason(struct strbuf *out, const struct diags *d);
/* {"error": "WHAT refused: REASON", "diagnostics": [every one]}: what the
 * API answers and `-o json` prints for a refusal. */
void report_refusal_json(struct strbuf *out, const char *what, const struct diags *d);

/* `policy log`: {"generations": [...]} newest first, or one line each. */
int report_log(struct strbuf *out, struct store *s, bool json, struct error *err);
/* `policy show`: the objects of generation gen (0: the latest); a
 * generation that does not exist is an error naming the latest. */
int report_show(struct strbuf *out, struct store *s, long long gen, bool json, struct error *err);
/* `policy diff`: {"from", "to", "changes": [...]}, or one line per object. */
int report_diff(struct strbuf *out, struct store *s, long long from, long long to, bool json,
		struct error *err);

#endif
