/* `cairn policy apply|delete|log|show|diff`. */
#include "cli.h"
#include "output.h"
#include "engine/revise.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char apply_usage[] =
	"usage: cairn policy apply --user USER -f PATH... [--dry-run | --no-apply] [options]\n"
	"       cairn policy delete --user USER -f PATH... [--dry-run | --no-apply] [options]\n"
	"\n"
	"Checks every object of the files (or directories, read recursively for\n"
	"*.yaml and *.yml) against the ACL as USER, validates the resulting policy,\n"
	"resolves it and stores it as a new generation, printing the plan; then\n"
	"makes what runs match it (as `cairn apply`). All or nothing: a refused\n"
	"object changes nothing.\n"
	"\n"
	"  --user USER   who makes the change (from the users file)\n"
	"  -f PATH       a policy file or directory; may be repeated\n"
	"  --dry-run     show what would change; store nothing, run nothing\n"
	"  --no-apply    store the generation only\n"
	"  -o json       with --dry-run: {\"plan\": PLAN, \"status\": STATUS}; otherwise\n"
	"                PLAN, with \"apply\": RESULT when it converged\n"
	"options of the converge step:\n";

static int cmd_revise(struct cli *cli, int argc, char **argv, enum revise_verb verb)
{
	if (cli_wants_help(argc, argv)) {
		fputs(apply_usage, stdout);
		fputs(converge_options_usage, stdout);
		return EXIT_DONE;
	}
	struct converge_cli copts = { 0 };
	bool no_apply = false;
	struct revise_request req = { 0 };
	req.verb = verb;
	const char **paths = calloc((size_t)argc, sizeof(*paths));
	int rc = EXIT_USAGE, k;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			req.user = argv[++i];
		else if (strncmp(argv[i], "--user=", 7) == 0)
			req.user = argv[i] + 7;
		else if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) && i + 1 < argc)
			paths[req.npaths++] = argv[++i];
		else if (strcmp(argv[i], "--dry-run") == 0)
			req.dry_run = true;
		else if (strcmp(argv[i], "--no-apply") == 0)
			no_apply = true;
		else if ((k = converge_option(&copts, argc, argv, &i)) != 0) {
			if (k < 0)
				goto out;
		} else {
			cli_error("policy %s: unexpected argument '%s'\n%s", argv[0], argv[i], apply_usage);
			goto out;
		}
	}
	if (!req.user || !req.npaths) {
		cli_error("policy %s needs --user and at least one -f PATH\n%s", argv[0], apply_usage);
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
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		revise_result_release(&res);
		goto out;
	}
	if (res.status == REVISE_REFUSED) {
		cli_print_diags(&res.diags);
		cli_error("policy %s refused: nothing changed", argv[0]);
		rc = EXIT_REFUSED;
	} else if (cli->json) {
		/* Written part by part: on a large policy each part is megabytes. */
		struct strbuf sb = STRBUF_INIT;
		if (req.dry_run) {
			fputs("{\"plan\":", stdout);
			output_plan_json(&sb, res.generation, res.plan);
			fputs(sb.buf, stdout);
			strbuf_release(&sb);
			fputs(",\"status\":", stdout);
			output_status_json(&sb, res.generation, res.resolution, NULL);
			fputs(sb.buf, stdout);
			cli_print_json("}");
			rc = EXIT_DONE;
		} else {
			output_plan_json(&sb, res.generation, res.plan);
			rc = EXIT_DONE;
			char *result = NULL;
			if (!no_apply)
				rc = cli_converge(cli, &copts, res.policy, res.resolution, res.generation,
						  &result);
			if (result) {
				strbuf_truncate(&sb, sb.len - 1); /* the plan's closing brace */
				strbuf_addf(&sb, ",\"apply\":%s}", result);
				free(result);
			}
			cli_print_json(sb.buf);
		}
		strbuf_release(&sb);
	} else {
		if (res.status == REVISE_UNCHANGED)
			printf("policy unchanged: every object is already as given (generation %lld)\n",
			       res.generation);
		else if (req.dry_run)
			printf("dry run: would make generation %lld (%zu created, %zu updated, %zu deleted)\n",
			       res.generation + 1, res.created, res.updated, res.deleted);
		else
			printf("generation %lld by %s: %zu created, %zu updated, %zu deleted\n",
			       res.generation, req.user, res.created, res.updated, res.deleted);
		output_plan_text(stdout, res.plan);
		for (size_t i = 0; i < res.resolution->ndeps; i++) {
			const struct dep_result *d = &res.resolution->deps[i];
			if (!d->resolved)
				printf("  not resolved: %s: %s\n", d->id, d->reason);
		}
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

struct log_ctx {
	struct cli *cli;
	struct strbuf json;
	size_t count;
};

static void format_time(long long t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_generation(void *ctx_, const struct store_generation *g)
{
	struct log_ctx *ctx = ctx_;
	char when[32];
	format_time(g->time, when, sizeof(when));
	if (ctx->cli->json) {
		strbuf_adds(&ctx->json, ctx->count ? ",{" : "{");
		strbuf_addf(&ctx->json, "\"generation\":%lld,\"user\":", g->generation);
		strbuf_add_json_string(&ctx->json, g->user);
		strbuf_addf(&ctx->json, ",\"time\":\"%s\",\"verb\":", when);
		strbuf_add_json_string(&ctx->json, g->verb);
		strbuf_addf(&ctx->json, ",\"created\":%zu,\"updated\":%zu,\"deleted\":%zu}",
			    g->created, g->updated, g->deleted);
	} else {
		printf("generation %lld  %s  %-8s %-6s %zu created, %zu updated, %zu deleted\n",
		       g->generation, when, g->user, g->verb, g->created, g->updated, g->deleted);
	}
	ctx->count++;
	return 0;
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
	struct log_ctx ctx = { cli, STRBUF_INIT, 0 };
	struct error err = ERROR_INIT;
	strbuf_adds(&ctx.json, "{\"generations\":[");
	int rc = store_log(store, print_generation, &ctx, &err);
	strbuf_adds(&ctx.json, "]}");
	if (rc < 0) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
	} else if (cli->json) {
		cli_print_json(ctx.json.buf);
	} else if (!ctx.count) {
		printf("no policy generations yet\n");
	}
	strbuf_release(&ctx.json);
	return rc < 0 ? EXIT_FAILURE_ : EXIT_DONE;
}

struct show_ctx {
	struct cli *cli;
	struct strbuf out;
	size_t count;
};

static int show_object(void *ctx_, const char *kind, const char *ns, const char *name,
		       const char *body)
{
	struct show_ctx *ctx = ctx_;
	if (ctx->cli->json) {
		strbuf_adds(&ctx->out, ctx->count ? "," : "");
		strbuf_adds(&ctx->out, body);
	} else {
		strbuf_addf(&ctx->out, "# %s %s/%s\n- ", kind, ns, name);
		/* JSON is YAML: indent the body under the list item. */
		for (const char *p = body; *p; p++) {
			strbuf_addc(&ctx->out, *p);
			if (*p == '\n' && p[1])
				strbuf_adds(&ctx->out, "  ");
		}
		if (ctx->out.len && ctx->out.buf[ctx->out.len - 1] != '\n')
			strbuf_addc(&ctx->out, '\n');
	}
	ctx->count++;
	return 0;
}

static int parse_generation(const char *s, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static int cmd_show(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn policy show [--generation N] [-o json]\n\n"
		"Prints every object of a generation (default: the latest) as YAML.\n";
	long long gen = 0;
	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return EXIT_DONE;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--generation") == 0 && i + 1 < argc) {
			if (parse_generation(argv[++i], &gen) < 0) {
				cli_error("--generation takes a positive number, not '%s'", argv[i]);
				return EXIT_USAGE;
			}
		} else {
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	struct store *store = cli_store(cli);
	if (!store)
		return EXIT_FAILURE_;
	struct error err = ERROR_INIT;
	long long current;
	if (store_current_generation(store, &current, &err) < 0)
		goto fail;
	if (!gen)
		gen = current;
	if (gen == 0 || gen > current) {
		cli_error(current ? "generation %lld does not exist (the latest is %lld)"
				  : "no policy generations yet", gen, current);
		return EXIT_FAILURE_;
	}
	struct show_ctx ctx = { cli, STRBUF_INIT, 0 };
	if (cli->json)
		strbuf_addf(&ctx.out, "{\"generation\":%lld,\"objects\":[", gen);
	else
		strbuf_addf(&ctx.out, "# generation %lld\n", gen);
	if (store_list_objects(store, gen, show_object, &ctx, &err) < 0) {
		strbuf_release(&ctx.out);
		goto fail;
	}
	if (cli->json) {
		strbuf_adds(&ctx.out, "]}");
		cli_print_json(ctx.out.buf);
	} else {
		fputs(ctx.out.buf, stdout);
	}
	strbuf_release(&ctx.out);
	return EXIT_DONE;
fail:
	cli_error("%s", error_msg(&err));
	error_clear(&err);
	return EXIT_FAILURE_;
}

struct diff_ctx {
	struct cli *cli;
	struct strbuf out;
	size_t count;
};

static int diff_object(void *ctx_, const char *kind, const char *ns, const char *name,
		       const char *old_body, const char *new_body)
{
	struct diff_ctx *ctx = ctx_;
	const char *what = !old_body ? "created" : !new_body ? "deleted" : "updated";
	if (ctx->cli->json) {
		strbuf_adds(&ctx->out, ctx->count ? ",{" : "{");
		strbuf_adds(&ctx->out, "\"kind\":");
		strbuf_add_json_string(&ctx->out, kind);
		strbuf_adds(&ctx->out, ",\"namespace\":");
		strbuf_add_json_string(&ctx->out, ns);
		strbuf_adds(&ctx->out, ",\"name\":");
		strbuf_add_json_string(&ctx->out, name);
		strbuf_addf(&ctx->out, ",\"change\":\"%s\",\"old\":%s,\"new\":%s}", what,
			    old_body ? old_body : "null", new_body ? new_body : "null");
	} else {
		strbuf_addf(&ctx->out, "%s %s %s/%s\n", what, kind, ns, name);
		if (old_body && new_body)
			strbuf_addf(&ctx->out, "  - %s\n  + %s\n", old_body, new_body);
	}
	ctx->count++;
	return 0;
}

static int cmd_diff(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "usage: cairn policy diff N M [-o json]\n\n"
				    "Lists the objects created, updated and deleted from generation N to M.\n";
	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return EXIT_DONE;
	}
	long long n, m;
	if (argc != 3 || parse_generation(argv[1], &n) < 0 || parse_generation(argv[2], &m) < 0) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	struct store *store = cli_store(cli);
	if (!store)
		return EXIT_FAILURE_;
	struct diff_ctx ctx = { cli, STRBUF_INIT, 0 };
	struct error err = ERROR_INIT;
	if (cli->json)
		strbuf_addf(&ctx.out, "{\"from\":%lld,\"to\":%lld,\"changes\":[", n, m);
	if (store_diff(store, n, m, diff_object, &ctx, &err) < 0) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		strbuf_release(&ctx.out);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		strbuf_adds(&ctx.out, "]}");
		cli_print_json(ctx.out.buf);
	} else if (!ctx.count) {
		printf("no changes between generations %lld and %lld\n", n, m);
	} else {
		fputs(ctx.out.buf, stdout);
	}
	strbuf_release(&ctx.out);
	return EXIT_DONE;
}

int cmd_policy(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn policy apply|delete|log|show|diff ...  (cairn policy SUBCOMMAND --help)\n";
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "apply") == 0)
		return cmd_revise(cli, argc - 1, argv + 1, REVISE_APPLY);
	if (strcmp(sub, "delete") == 0)
		return cmd_revise(cli, argc - 1, argv + 1, REVISE_DELETE);
	if (strcmp(sub, "log") == 0)
		return cmd_log(cli, argc - 1, argv + 1);
	if (strcmp(sub, "show") == 0)
		return cmd_show(cli, argc - 1, argv + 1);
	if (strcmp(sub, "diff") == 0)
		return cmd_diff(cli, argc - 1, argv + 1);
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
		fputs(usage, stdout);
		return EXIT_DONE;
	}
	cli_error("unknown policy subcommand '%s'", sub);
	fputs(usage, stderr);
	return EXIT_USAGE;
}
