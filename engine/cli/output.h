/* How the CLI prints plans, statuses and explanations: for people on a
 * terminal, or as the stable JSON documented in the README (-o json). */
#ifndef CAIRN_CLI_OUTPUT_H
#define CAIRN_CLI_OUTPUT_H

#include "engine/engine.h"

#include <stdio.h>

/* {"generation": N, "actions": [{"action", "instance", "dependency"}]} */
void output_plan_json(struct strbuf *out, long long generation, const struct plan *plan);
void output_plan_text(FILE *f, const struct plan *plan);

struct fleet;

/* {"generation": N, "dependencies": [...], "instances": [...]}; with a fleet
 * (what runs, observed), each instance also has "state" (container state,
 * "missing", "unknown" when its cluster cannot be reached; for a service
 * instance its network's "present"/"missing"; null when nothing runs for it),
 * "container", "health" and "url". */
void output_status_json(struct strbuf *out, long long generation, const struct resolution *r,
			const struct fleet *fleet);
void output_status_text(FILE *f, long long generation, const struct resolution *r,
			const struct fleet *fleet);

/* One dependency's explanation. */
void output_explain_json(struct strbuf *out, const struct dep_result *d);
void output_explain_text(FILE *f, const struct dep_result *d);

#endif
