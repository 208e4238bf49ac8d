/* `cairn token create|list|revoke`: API tokens for the server, kept in the
 * state database as hashes only. Run where the state is (on the server's
 * machine); the token is printed once and cannot be shown again. */
#include "cli.h"

#include "base/parse.h"
#include "engine/server/auth.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char token_usage[] =
	"usage: cairn token create --user USER [--name NAME]\n"
	"       cairn token list\n"
	"       cairn token revoke ID\n"
	"\n"
	"API tokens for `cairn serve` (send as `Authorization: Bearer TOKEN`, or\n"
	"`cairn --server URL --token TOKEN`). create prints the token once: only its\n"
	"SHA-256 is stored. USER must be in the users file; the token acts as USER.\n";

static int token_create(struct cli *cli, int argc, char **argv)
{
	const char *user = NULL, *name = "";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else {
			cli_error("token create: unexpected argument '%s'", argv[i]);
			fputs(token_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (!user) {
		cli_error("token create needs --user USER");
		fputs(token_usage, stderr);
		return EXIT_USAGE;
	}
	struct users *users = cli_users(cli);
	if (!users)
		return EXIT_FAILURE_;
	const struct user *u = users_find(users, user);
	if (!u) {
		cli_error("token create: unknown user '%s': not in the users file", user);
		return EXIT_REFUSED;
	}
	struct store *s = cli_store(cli);
	if (!s)
		return EXIT_FAILURE_;
	struct error err = ERROR_INIT;
	char *token = NULL;
	long long id;
	char hash[AUTH_HASH_HEX];
	if (auth_token_new(&token, &err) < 0)
		goto fail;
	auth_token_hash(token, hash);
	if (store_token_add(s, u->name->s, name, hash, &id, &err) < 0)
		goto fail;
	if (cli->json) {
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "{\"id\":%lld,\"user\":", id);
		strbuf_add_json_string(&sb, u->name->s);
		strbuf_adds(&sb, ",\"name\":");
		strbuf_add_json_string(&sb, name);
		strbuf_addf(&sb, ",\"token\":\"%s\"}", token);
		cli_print_json(sb.buf);
		strbuf_release(&sb);
	} else {
		puts(token);
		fprintf(stderr, "cairn: token %lld for %s created; it is shown only this once\n", id,
			u->name->s);
	}
	free(token);
	return EXIT_DONE;
fail:
	free(token);
	cli_error("token create: %s", error_msg(&err));
	error_clear(&err);
	return EXIT_FAILURE_;
}

struct list_ctx {
	bool json;
	struct strbuf out;
	size_t count;
};

static void when(long long t, char *buf, size_t n)
{
	if (!t) {
		snprintf(buf, n, "never");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int list_one(void *ctx_, const struct store_token *t)
{
	struct list_ctx *ctx = ctx_;
	char created[32], used[32];
	when(t->created, created, sizeof(created));
	when(t->last_used, used, sizeof(used));
	if (ctx->json) {
		strbuf_addf(&ctx->out, "%s{\"id\":%lld,\"user\":", ctx->count ? "," : "", t->id);
		strbuf_add_json_string(&ctx->out, t->user);
		strbuf_adds(&ctx->out, ",\"name\":");
		strbuf_add_json_string(&ctx->out, t->name ? t->name : "");
		strbuf_addf(&ctx->out, ",\"created\":\"%s\",\"last_used\":", created);
		if (t->last_used)
			strbuf_addf(&ctx->out, "\"%s\"", used);
		else
			strbuf_adds(&ctx->out, "null");
		strbuf_addf(&ctx->out, ",\"revoked\":%s}", t->revoked ? "true" : "false");
	} else {
		strbuf_addf(&ctx->out, "%-5lld %-10s %-16s created %s  last used %s%s\n", t->id, t->user,
			    t->name && *t->name ? t->name : "-", created, used,
			    t->revoked ? "  REVOKED" : "");
	}
	ctx->count++;
	return 0;
}

static int token_list(struct cli *cli, int argc)
{
	if (argc > 1)
		return cli_usage_error(token_usage);
	struct store *s = cli_store(cli);
	if (!s)
		return EXIT_FAILURE_;
	struct list_ctx ctx = { cli->json, STRBUF_INIT, 0 };
	struct error err = ERROR_INIT;
	if (cli->json)
		strbuf_adds(&ctx.out, "{\"tokens\":[");
	int rc = store_token_list(s, list_one, &ctx, &err);
	if (rc < 0) {
		cli_error("token list: %s", error_msg(&err));
		error_clear(&err);
	} else if (cli->json) {
		strbuf_adds(&ctx.out, "]}");
		cli_print_json(ctx.out.buf);
	} else if (!ctx.count) {
		puts("no tokens");
	} else {
		fputs(ctx.out.buf, stdout);
	}
	strbuf_release(&ctx.out);
	return rc < 0 ? EXIT_FAILURE_ : EXIT_DONE;
}

static int token_revoke(struct cli *cli, int argc, char **argv)
{
	long long id;
	if (argc != 2 || parse_positive(argv[1], &id) < 0)
		return cli_usage_error(token_usage);
	struct store *s = cli_store(cli);
	if (!s)
		return EXIT_FAILURE_;
	struct error err = ERROR_INIT;
	bool found = false;
	if (store_token_revoke(s, id, &found, &err) < 0) {
		cli_error("token revoke: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	if (!found) {
		cli_error("token revoke: no token %lld (see cairn token list)", id);
		return EXIT_FAILURE_;
	}
	printf("token %lld revoked\n", id);
	return EXIT_DONE;
}

int cmd_token(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || cli_wants_help(argc, argv)) {
		fputs(token_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_DONE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "create") == 0)
		return token_create(cli, argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0)
		return token_list(cli, argc - 1);
	if (strcmp(sub, "revoke") == 0)
		return token_revoke(cli, argc - 1, argv + 1);
	cli_error("unknown token subcommand '%s'", sub);
	fputs(token_usage, stderr);
	return EXIT_USAGE;
}
