/* `cairn plan`, `cairn status`, `cairn explain`: the current generation,
 * resolved with the current users file. */
#include "cli.h"
#include "engine/report/report.h"
#include "engine/apply/converge.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the command's only answer is its usage (-h, or any argument). */
static bool usage_only(int argc, char **argv, const char *usage, int *rc)
{
	if (cli_wants_help(argc, argv))
		*rc = cli_help(usage);
	else if (argc > 1)
		*rc = cli_usage_error(usage);
	else
		return false;
	return true;
}

int cmd_plan(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn plan [-o json]\n\n"
		"Resolves the latest policy generation with the current users and prints\n"
		"the actions that turn the last stored desired state into it. Changes nothing.\n";
	int rc;
	if (usage_only(argc, argv, usage, &rc))
		return rc;
	struct cli_current c;
	if (cli_current_load(cli, &c, 0) < 0)
		return EXIT_FAILURE_;
	struct error err = ERROR_INIT;
	char *prev_json = NULL;
	struct state *prev = NULL;
	rc = EXIT_FAILURE_;
	if (store_load_state(cli->store, c.generation, &prev_json, &err) < 0 ||
	    (prev_json && state_from_json(&prev, prev_json, &err) < 0)) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		goto out;
	}
	struct state *next = state_from_resolution(c.resolution);
	struct plan *plan = plan_diff(prev, next);
	struct strbuf sb = STRBUF_INIT;
	if (cli->json) {
		report_plan_json(&sb, c.generation, plan);
		strbuf_addc(&sb, '\n');
	} else {
		report_plan_text(&sb, plan);
	}
	cli_print_text(&sb);
	plan_free(plan);
	state_free(next);
	rc = EXIT_DONE;
out:
	state_free(prev);
	free(prev_json);
	cli_current_release(&c);
	return rc;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn status [-o json]\n\n"
		"Every dependency (resolved or why not) and every instance of the latest\n"
		"policy generation, with what really runs for it: its container's state,\n"
		"health and URL, observed on its cluster now.\n";
	int rc;
	if (usage_only(argc, argv, usage, &rc))
		return rc;
	struct cli_current c;
	if (cli_current_load(cli, &c, 0) < 0)
		return EXIT_FAILURE_;
	struct fleet *fleet = fleet_open(c.policy, NULL);
	const struct diags *problems = fleet_problems(fleet);
	for (size_t i = 0; i < problems->len; i++)
		cli_error("%s", problems->items[i]);
	struct strbuf sb = STRBUF_INIT;
	if (cli->json) {
		report_status_json(&sb, c.generation, c.resolution, fleet);
		strbuf_addc(&sb, '\n');
	} else {
		report_status_text(&sb, c.generation, c.resolution, fleet);
	}
	cli_print_text(&sb);
	fleet_close(fleet);
	cli_current_release(&c);
	return EXIT_DONE;
}

int cmd_explain(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn explain NAMESPACE/DEPENDENCY [-o json]\n\n"
		"How a dependency resolved: which context of each contract matched and\n"
		"why, which rules fired, which instances it uses — or why it failed.\n";
	if (cli_wants_help(argc, argv))
		return cli_help(usage);
	if (argc != 2 || !strchr(argv[1], '/'))
		return cli_usage_error(usage);
	struct cli_current c;
	if (cli_current_load(cli, &c, RESOLVE_EXPLAIN) < 0)
		return EXIT_FAILURE_;
	const struct dep_result *d = resolution_find_dep(c.resolution, argv[1]);
	int rc = EXIT_DONE;
	if (!d) {
		cli_error("no dependency %s in generation %lld", argv[1], c.generation);
		rc = EXIT_FAILURE_;
	} else {
		struct strbuf sb = STRBUF_INIT;
		if (cli->json) {
			report_explain_json(&sb, d);
			strbuf_addc(&sb, '\n');
		} else {
			report_explain_text(&sb, d);
		}
		cli_print_text(&sb);
	}
	cli_current_release(&c);
	return rc;
}
