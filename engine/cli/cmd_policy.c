/* `cairn policy apply|delete|log|show|diff`. */
#include "cli.h"

#include "base/alloc.h"
#include "base/parse.h"
#include "engine/report/report.h"
#include "engine/apply/revise.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char apply_usage[] =
	"usage: cairn policy apply --user USER -f PATH... [--dry-run | --no-apply] [options]\n"
	"       cairn policy delete --user USER -f PATH... [--dry-run | --no-apply] [options]\n"
	"\n"
	"Checks every object of the files (or directories, read recursively for\n"
	"*.yaml and *.yml) against the ACL as USER, validates the resulting policy,\n"
	"resolves it and stores it as a new generation, printing the plan; then\n"
	"makes what runs match it (as `cairn apply`). All or nothing: a refused\n"
	"object changes nothing. Deleting a cluster together with every dependency\n"
	"placed on it (a whole file) removes what runs there, then the cluster.\n"
	"\n"
	"  --user USER   who makes the change (from the users file)\n"
	"  -f PATH       a policy file or directory; may be repeated\n"
	"  --dry-run     show what would change; store nothing, run nothing\n"
	"  --no-apply    store the generation only\n"
	"  -o json       with --dry-run: {\"plan\": PLAN, \"status\": STATUS}; otherwise\n"
	"                PLAN, with \"apply\": RESULT when it converged; when refused\n"
	"                {\"error\", \"diagnostics\"} (exit 3)\n"
	"options of the converge step:\n";

static const char rollback_usage[] =
	"usage: cairn policy rollback N --user USER [--dry-run | --no-apply] [options]\n"
	"\n"
	"Makes a new generation whose objects are those of generation N, the way\n"
	"`git revert` keeps history: objects N did not have are deleted, the others\n"
	"come back as N had them. Each object that changes is checked against the\n"
	"ACL as USER, as an apply or a delete of it would be; the log shows the new\n"
	"generation as a rollback of N. Then makes what runs match it.\n"
	"\n"
	"  --user USER   who makes the change (from the users file)\n"
	"  --dry-run     show what would change; store nothing, run nothing\n"
	"  --no-apply    store the generation only\n"
	"  -o json       as for policy apply\n"
	"options of the converge step:\n";

static int cmd_revise(struct cli *cli, int argc, char **argv, enum revise_verb verb)
{
	const char *usage = verb == REVISE_ROLLBACK ? rollback_usage : apply_usage;
	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		fputs(converge_options_usage, stdout);
		return EXIT_DONE;
	}
	struct converge_cli copts = { 0 };
	bool no_apply = false;
	struct revise_request req = { 0 };
	req.verb = verb;
	const char **paths = xcalloc((size_t)argc, sizeof(*paths));
	int rc = EXIT_USAGE, k;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			req.user = argv[++i];
		else if (strncmp(argv[i], "--user=", 7) == 0)
			req.user = argv[i] + 7;
		else if (verb != REVISE_ROLLBACK &&
			 (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) && i + 1 < argc)
			paths[req.npaths++] = argv[++i];
		else if (verb == REVISE_ROLLBACK && !req.rollback_to && argv[i][0] != '-') {
			if (parse_positive(argv[i], &req.rollback_to) < 0) {
				cli_error("policy rollback: N is a generation number, not '%s'", argv[i]);
				goto out;
			}
		}
		else if (strcmp(argv[i], "--dry-run") == 0)
			req.dry_run = true;
		else if (strcmp(argv[i], "--no-apply") == 0)
			no_apply = true;
		else if ((k = converge_option(&copts, argc, argv, &i)) != 0) {
			if (k < 0)
				goto out;
		} else {
			cli_error("policy %s: unexpected argument '%s'\n%s", argv[0], argv[i], usage);
			goto out;
		}
	}
	if (verb == REVISE_ROLLBACK && (!req.user || !req.rollback_to)) {
		cli_error("policy rollback needs a generation N and --user\n%s", usage);
		goto out;
	}
	if (verb != REVISE_ROLLBACK && (!req.user || !req.npaths)) {
		cli_error("policy %s needs --user and at least one -f PATH\n%s", argv[0], usage);
		goto out;
	}
	req.paths = paths;

	rc = EXIT_FAILURE_;
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	if (!store)
		goto out;
	struct revise_result res;
	struct error err = ERROR_INIT;
	if (revise_policy(store, cli->intern, users, &req, &res, &err) < 0) {
		char what[32];
		snprintf(what, sizeof(what), "policy %s", argv[0]);
		rc = cli_failed(cli, what, &res.diags, &err);
		error_clear(&err);
		revise_result_release(&res);
		goto out;
	}
	if (cli->json && req.dry_run) {
		struct strbuf sb = STRBUF_INIT;
		report_revise_json(&sb, &req, &res);
		cli_print_text(&sb);
		rc = EXIT_DONE;
	} else if (cli->json) {
		struct strbuf sb = STRBUF_INIT;
		report_plan_json(&sb, res.generation, res.plan);
		rc = EXIT_DONE;
		char *result = NULL;
		if (!no_apply)
			rc = cli_converge(cli, &copts, res.policy, res.resolution, res.generation, &result);
		if (result) {
			strbuf_truncate(&sb, sb.len - 1); /* the plan's closing brace */
			strbuf_addf(&sb, ",\"apply\":%s}", result);
			free(result);
		}
		cli_print_json(sb.buf);
		strbuf_release(&sb);
	} else {
		struct strbuf sb = STRBUF_INIT;
		report_revise_text(&sb, &req, &res);
		cli_print_text(&sb);
		rc = EXIT_DONE;
		if (!req.dry_run && !no_apply) {
			fflush(stdout);
			rc = cli_converge(cli, &copts, res.policy, res.resolution, res.generation, NULL);
		}
	}
	revise_result_release(&res);
out:
	free(paths);
	return rc;
}

/* Prints a report written into out (rc 0; JSON with -o json), or says why
 * it failed (rc -1); releases both. */
static int print_report(struct cli *cli, int rc, struct strbuf *out, struct error *err)
{
	if (rc < 0)
		cli_error("%s", error_msg(err));
	else if (cli->json)
		cli_print_json(strbuf_cstr(out));
	else
		fputs(strbuf_cstr(out), stdout);
	error_clear(err);
	strbuf_release(out);
	return rc < 0 ? EXIT_FAILURE_ : EXIT_DONE;
}

static int cmd_log(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv) || argc > 1) {
		fputs("usage: cairn policy log [-o json]\n\nLists policy generations, newest first: who, when, what changed.\n",
		      argc > 1 && !cli_wants_help(argc, argv) ? stderr : stdout);
		return argc > 1 && !cli_wants_help(argc, argv) ? EXIT_USAGE : EXIT_DONE;
	}
	struct store *store = cli_store(cli);
	if (!store)
		return EXIT_FAILURE_;
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int rc = report_log(&out, store, cli->json, &err);
	return print_report(cli, rc, &out, &err);
}

static int cmd_show(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn policy show [--generation N] [-o json]\n\n"
		"Prints every object of a generation (default: the latest) as YAML.\n";
	long long gen = 0;
	if (cli_wants_help(argc, argv))
		return cli_help(usage);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--generation") == 0 && i + 1 < argc) {
			if (parse_positive(argv[++i], &gen) < 0) {
				cli_error("--generation takes a positive number, not '%s'", argv[i]);
				return EXIT_USAGE;
			}
		} else {
			return cli_usage_error(usage);
		}
	}
	struct store *store = cli_store(cli);
	if (!store)
		return EXIT_FAILURE_;
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int rc = report_show(&out, store, gen, cli->json, &err);
	return print_report(cli, rc, &out, &err);
}

static int cmd_diff(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "usage: cairn policy diff N M [-o json]\n\n"
				    "Lists the objects created, updated and deleted from generation N to M.\n";
	if (cli_wants_help(argc, argv))
		return cli_help(usage);
	long long n, m;
	if (argc != 3 || parse_positive(argv[1], &n) < 0 || parse_positive(argv[2], &m) < 0)
		return cli_usage_error(usage);
	struct store *store = cli_store(cli);
	if (!store)
		return EXIT_FAILURE_;
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int rc = report_diff(&out, store, n, m, cli->json, &err);
	return print_report(cli, rc, &out, &err);
}

int cmd_policy(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn policy apply|delete|rollback|log|show|diff ...  (cairn policy SUBCOMMAND --help)\n";
	if (argc < 2)
		return cli_usage_error(usage);
	const char *sub = argv[1];
	if (strcmp(sub, "apply") == 0)
		return cmd_revise(cli, argc - 1, argv + 1, REVISE_APPLY);
	if (strcmp(sub, "delete") == 0)
		return cmd_revise(cli, argc - 1, argv + 1, REVISE_DELETE);
	if (strcmp(sub, "rollback") == 0)
		return cmd_revise(cli, argc - 1, argv + 1, REVISE_ROLLBACK);
	if (strcmp(sub, "log") == 0)
		return cmd_log(cli, argc - 1, argv + 1);
	if (strcmp(sub, "show") == 0)
		return cmd_show(cli, argc - 1, argv + 1);
	if (strcmp(sub, "diff") == 0)
		return cmd_diff(cli, argc - 1, argv + 1);
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
		return cli_help(usage);
	cli_error("unknown policy subcommand '%s'", sub);
	fputs(usage, stderr);
	return EXIT_USAGE;
}
