/* `cairn apply` and `cairn logs`, and the converge step `cairn policy apply`
 * runs after storing a generation: options, the apply lock, Ctrl-C, and
 * progress (a live line on a terminal, one line per action on a pipe). */
#include "cli.h"

#include "base/clock.h"
#include "engine/apply/converge.h"
#include "engine/apply/reconcile.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_apply(struct cli *cli, int argc, char **argv)
{
	static const char usage_head[] =
		"usage: cairn apply [options]\n\n"
		"Makes what runs match the latest policy generation: observes every\n"
		"cluster, then creates, replaces, starts and removes only what differs.\n"
		"Safe to interrupt and to run again.\n\n";
	if (cli_wants_help(argc, argv)) {
		fputs(usage_head, stdout);
		fputs(converge_options_usage, stdout);
		return EXIT_DONE;
	}
	struct converge_cli opts = { 0 };
	for (int i = 1; i < argc; i++) {
		int k = converge_option(&opts, argc, argv, &i);
		if (k < 0)
			return EXIT_USAGE;
		if (k == 0) {
			cli_error("apply: unexpected argument '%s'", argv[i]);
			fputs(usage_head, stderr);
			fputs(converge_options_usage, stderr);
			return EXIT_USAGE;
		}
	}
	struct cli_current c;
	if (cli_current_load(cli, &c, 0) < 0)
		return EXIT_FAILURE_;
	struct error err = ERROR_INIT;
	if (reconcile_check_removals(cli->store, c.generation, c.resolution, &err) < 0) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		cli_current_release(&c);
		return EXIT_REFUSED;
	}
	char *json = NULL;
	int rc = cli_converge(cli, &opts, c.policy, c.resolution, c.generation, &json);
	if (json)
		cli_print_json(json);
	free(json);
	cli_current_release(&c);
	return rc;
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn logs INSTANCE [-f]\n\n"
		"The output of an instance's container. INSTANCE is its key\n"
		"(cluster#namespace#contract#context#…#component, see `cairn status`),\n"
		"or any unique part of it.\n\n"
		"  -f, --follow   keep printing until interrupted\n";
	if (cli_wants_help(argc, argv))
		return cli_help(usage);
	const char *which = NULL;
	bool follow = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0)
			follow = true;
		else if (!which)
			which = argv[i];
		else
			return cli_usage_error(usage);
	}
	if (!which)
		return cli_usage_error(usage);
	struct cli_current c;
	if (cli_current_load(cli, &c, 0) < 0)
		return EXIT_FAILURE_;
	const struct resolution *r = c.resolution;
	struct fleet *fleet = NULL;
	struct error err = ERROR_INIT;
	int rc = EXIT_FAILURE_;
	/* The instance: its exact key, or the one code instance whose key contains it. */
	const char *key = NULL;
	size_t matches = 0;
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		if (strcmp(in->key, which) == 0) {
			key = in->key, matches = 1;
			break;
		}
		if (in->code_type && strstr(in->key, which))
			key = in->key, matches++;
	}
	if (matches == 0) {
		cli_error("no instance matches '%s' (see cairn status)", which);
		goto out;
	}
	if (matches > 1) {
		cli_error("'%s' matches %zu instances: give more of the key", which, matches);
		goto out;
	}
	fleet = fleet_open(c.policy, NULL);
	if (fleet_logs(fleet, key, follow, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	rc = EXIT_DONE;
out:
	error_clear(&err);
	fleet_close(fleet);
	cli_current_release(&c);
	return rc;
}
