/* `cairn serve`: the team server (engine/server) with its options; flags
 * win over the config file, which wins over the defaults. */
#include "cli.h"
#include "engine/server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char serve_usage[] =
	"usage: cairn serve [--config FILE] [--listen ADDR:PORT] [--state LOC] [--users FILE]\n"
	"                   [--secrets FILE]\n"
	"\n"
	"Runs the team server: the REST API under /api/v1 (the policy commands, as\n"
	"the authenticated user), /webhook/github (preview environments), /healthz\n"
	"and /metrics. Policy changes queue a reconcile job that makes what runs\n"
	"match them. SIGTERM or SIGINT stops it cleanly. It logs one JSON object\n"
	"per line to stderr (time, level, source, then the event's fields).\n"
	"\n"
	"  --config FILE        YAML: listen, state, users, secrets, public_url,\n"
	"                       threads, timeout, workers, job_lease, max_body,\n"
	"                       max_connections, max_connections_per_client, and the\n"
	"                       previews' github, repositories, expiry, domain\n"
	"  --listen ADDR:PORT   default 127.0.0.1:8470 (port 0: any free port)\n"
	"  --state, --users, --secrets   as for every command (CAIRN_STATE, ...)\n";

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv))
		return cli_help(serve_usage);
	const char *config = NULL, *listen = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen = argv[++i];
		else if (strncmp(argv[i], "--listen=", 9) == 0)
			listen = argv[i] + 9;
		else {
			cli_error("serve: unexpected argument '%s'", argv[i]);
			fputs(serve_usage, stderr);
			return EXIT_USAGE;
		}
	}
	struct server_config c = { 0 };
	int rc = EXIT_FAILURE_;
	if (config) {
		struct diags d = DIAGS_INIT;
		if (server_config_load(&c, config, &d) < 0) {
			cli_print_diags(&d);
			diags_release(&d);
			cli_error("serve: the config file %s is not valid", config);
			rc = EXIT_USAGE;
			goto out;
		}
		diags_release(&d);
	}
	if (listen)
		server_config_set(&c.listen, listen);
	if (cli->state_set || !c.state)
		server_config_set(&c.state, cli->state);
	if (cli->users_path)
		server_config_set(&c.users, cli->users_path);
	if (cli->secrets_path)
		server_config_set(&c.secrets, cli->secrets_path);
	struct error err = ERROR_INIT;
	if (server_run(&c, &err) < 0) {
		cli_error("serve: %s", error_msg(&err));
		error_clear(&err);
		goto out;
	}
	rc = EXIT_DONE;
out:
	server_config_release(&c);
	return rc;
}
