/* The `cairn` command: global options, then one of the commands. */
#include "cli.h"
#include "base/alloc.h"
#include "base/strbuf.h"
#include "engine/backup/replica.h"
#include "engine/store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: cairn [--state LOC] [--users FILE] [--secrets FILE] [--server URL [--token T]] [-o json]\n"
	"             COMMAND ...\n"
	"\n"
	"commands:\n"
	"  policy apply --user U -f PATH... [--dry-run|--no-apply]\n"
	"                                                 add or change policy objects, converge\n"
	"  policy delete --user U -f PATH...              delete policy objects\n"
	"  policy log                                     list policy generations\n"
	"  policy show [--generation N]                   print the objects of a generation\n"
	"  policy diff N M                                what changed between two generations\n"
	"  policy rollback N --user U [--dry-run|--no-apply]\n"
	"                                                 a new generation with the objects of N\n"
	"  plan                                           what the current policy changes\n"
	"  status                                         dependencies, instances, what runs\n"
	"  apply                                          make what runs match the policy\n"
	"  logs INSTANCE [-f]                             output of an instance's container\n"
	"  extend NS/NAME --user U (--ttl D|--until T|--pin|--unpin)\n"
	"                                                 move a dependency's expiry, or pin it\n"
	"  explain NAMESPACE/DEPENDENCY                   how a dependency resolved, or why not\n"
	"  rollback INSTANCE                              a process instance back to its release before\n"
	"  rollout promote|abort INSTANCE                 end a canary: all traffic to the new or old release\n"
	"  serve [--config FILE] [--listen ADDR:PORT]     run the team server (HTTP API)\n"
	"  token create|list|revoke                       API tokens for the server\n"
	"  snapshot create|list|show|restore|delete|prepare|images\n"
	"                                                 anonymized subsets of a dataset's database,\n"
	"                                                 prepared as PostgreSQL images\n"
	"  demo request|list|refresh|delete               demos: a contract's environment with its data\n"
	"  backup NS/NAME | list|show|delete              an environment's databases and volumes\n"
	"  replica start|stop NS/NAME --user U            a replica made again from a backup, or removed\n"
	"\n"
	"global options (each also read from the environment):\n"
	"  --state LOC      state database (CAIRN_STATE; default .cairn/state.db):\n"
	"                   a SQLite file or postgres://user@host/db (the password\n"
	"                   from ~/.pgpass or PGPASSFILE; one in the URL is hidden\n"
	"                   from ps once read, but better kept out of it)\n"
	"  --users FILE     users file (CAIRN_USERS); kept parsed in a cache beside a\n"
	"                   SQLite state (CAIRN_USERS_CACHE=DIR, or off)\n"
	"  --secrets FILE   users' secrets (CAIRN_SECRETS)\n"
	"  -o json          machine-readable output\n"
	"  --server URL     send policy, plan, status and explain to a cairn server\n"
	"                   (CAIRN_SERVER)\n"
	"  --token-file F   API token for --server, read from a file (CAIRN_TOKEN_FILE;\n"
	"                   see cairn token create)\n"
	"  --token T        the same given as is (CAIRN_TOKEN): hidden from ps once\n"
	"                   read, but prefer the file or the variable\n"
	"\n"
	"exit codes: 0 done, 1 failure, 2 usage, 3 refused (validation, ACL, or\n"
	"another apply running with --no-wait), 130 interrupted\n"
	"`cairn COMMAND --help` describes a command.\n";

static const struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	bool remote; /* with --server, cmd_remote answers it */
} commands[] = {
	{ "policy", cmd_policy, true },
	{ "plan", cmd_plan, true },
	{ "status", cmd_status, true },
	{ "explain", cmd_explain, true },
	{ "apply", cmd_apply, true },
	{ "logs", cmd_logs, true },
	{ "serve", cmd_serve, false },
	{ "token", cmd_token, false },
	{ "extend", cmd_extend, false },
	{ "rollback", cmd_rollback, false },
	{ "rollout", cmd_rollout, false },
	{ "snapshot", cmd_snapshot, false },
	{ "demo", cmd_demo, false },
	{ "backup", cmd_backup, false },
	{ "replica", cmd_replica, false },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static const char *option_value(int *i, int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc) {
		cli_error("%s needs a value", name);
		return NULL;
	}
	return argv[++*i];
}

/* A heap copy of an argument whose secret part (len bytes from at) is then
 * overwritten in place, so that ps and /proc/PID/cmdline no longer show it. */
static char *hide_in_argv(const char *arg, size_t at, size_t len)
{
	char *copy = xstrdup(arg);
	memset((char *)arg + at, '*', len);
	return copy;
}

/* The password of "scheme://user:password@host/...", if any: start and length. */
static bool url_password(const char *url, size_t *at, size_t *len)
{
	const char *p = strstr(url, "://");
	if (!p)
		return false;
	p += 3;
	size_t authority = strcspn(p, "/?#");
	const char *end = memrchr(p, '@', authority);
	const char *colon = end ? memchr(p, ':', (size_t)(end - p)) : NULL;
	if (!colon || colon + 1 == end)
		return false;
	*at = (size_t)(colon + 1 - url);
	*len = (size_t)(end - colon - 1);
	return true;
}

/* The token of a token file: its first line. */
static char *read_token_file(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	if (strbuf_read_file(&sb, path) < 0) {
		cli_error("cannot read the token file %s: %s", path, strerror(errno));
		strbuf_release(&sb);
		return NULL;
	}
	size_t n = strcspn(strbuf_cstr(&sb), "\r\n");
	char *token = xstrndup(strbuf_cstr(&sb), n);
	explicit_bzero(sb.buf, sb.len);
	strbuf_release(&sb);
	if (!*token) {
		cli_error("the token file %s is empty", path);
		free(token);
		return NULL;
	}
	return token;
}

static bool is_option(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* The global options' defaults, from the environment. An empty variable
 * means unset (CAIRN_SECRETS= cairn …). */
static void cli_from_env(struct cli *cli)
{
	cli->state = getenv("CAIRN_STATE");
	cli->users_path = getenv("CAIRN_USERS");
	cli->secrets_path = getenv("CAIRN_SECRETS");
	cli->state_set = cli->state && *cli->state;
	cli->server = getenv("CAIRN_SERVER");
	cli->token = getenv("CAIRN_TOKEN");
	if (cli->server && !*cli->server)
		cli->server = NULL;
	if (!cli->state || !*cli->state)
		cli->state = ".cairn/state.db";
	if (cli->users_path && !*cli->users_path)
		cli->users_path = NULL;
	if (cli->secrets_path && !*cli->secrets_path)
		cli->secrets_path = NULL;
}

/* What the global options took out of argv (secrets hidden there), to
 * wipe and free at the end. */
struct taken {
	char *token, *state;
	const char *token_file;
};

/* Global options may come before or after the command name; the rest of
 * the arguments go to the command in order. Returns 0, or -1 after saying
 * what is wrong. */
static int parse_global_options(struct cli *cli, int argc, char **argv, char **rest, int *nrest,
				struct taken *t)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (is_option(a, "--state")) {
			if (!(v = option_value(&i, argc, argv, "--state")))
				return -1;
			size_t at, len;
			if (url_password(v, &at, &len)) {
				free(t->state);
				v = t->state = hide_in_argv(v, at, len);
			}
			cli->state = v;
			cli->state_set = true;
		} else if (is_option(a, "--users")) {
			if (!(v = option_value(&i, argc, argv, "--users")))
				return -1;
			cli->users_path = v;
		} else if (is_option(a, "--server")) {
			if (!(v = option_value(&i, argc, argv, "--server")))
				return -1;
			cli->server = *v ? v : NULL;
		} else if (is_option(a, "--token")) {
			if (!(v = option_value(&i, argc, argv, "--token")))
				return -1;
			free(t->token);
			cli->token = t->token = hide_in_argv(v, 0, strlen(v));
		} else if (is_option(a, "--token-file")) {
			if (!(t->token_file = option_value(&i, argc, argv, "--token-file")))
				return -1;
		} else if (is_option(a, "--secrets")) {
			if (!(v = option_value(&i, argc, argv, "--secrets")))
				return -1;
			cli->secrets_path = v;
		} else if (strcmp(a, "-o") == 0 || is_option(a, "--output")) {
			v = strcmp(a, "-o") == 0 ? (i + 1 < argc ? argv[++i] : NULL)
						 : option_value(&i, argc, argv, "--output");
			if (!v || strcmp(v, "json") != 0) {
				cli_error("-o takes 'json'");
				return -1;
			}
			cli->json = true;
		} else if (strcmp(a, "-ojson") == 0) {
			cli->json = true;
		} else {
			rest[(*nrest)++] = argv[i];
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* Out of memory is fatal everywhere (base/alloc.h), in jansson too. */
	json_set_alloc_funcs(xmalloc, free);
	struct cli cli = { 0 };
	cli_from_env(&cli);
	char **rest = xcalloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0;
	int rc = EXIT_USAGE;
	struct taken taken = { .token_file = getenv("CAIRN_TOKEN_FILE") };
	if (parse_global_options(&cli, argc, argv, rest, &nrest, &taken) < 0)
		goto out;
	if (taken.token_file && *taken.token_file && !taken.token) {
		if (!(taken.token = read_token_file(taken.token_file))) {
			rc = EXIT_FAILURE_;
			goto out;
		}
		cli.token = taken.token;
	}
	if (nrest == 0 || strcmp(rest[0], "help") == 0 || strcmp(rest[0], "-h") == 0 ||
	    strcmp(rest[0], "--help") == 0) {
		fputs(usage, nrest ? stdout : stderr);
		rc = nrest ? EXIT_DONE : EXIT_USAGE;
		goto out;
	}
	cli.intern = intern_new();
	/* where the docker driver finds the backups replicas are made from */
	char *backups = cli_data_dir(&cli, NULL, "CAIRN_BACKUPS", "backups");
	backup_set_default_store(backups);
	free(backups);
	const struct command *c = find_command(rest[0]);
	if (!c) {
		cli_error("unknown command '%s' (see cairn --help)", rest[0]);
		rc = EXIT_USAGE;
		goto out;
	}
	rc = cli.server && c->remote ? cmd_remote(&cli, nrest, rest) : CLI_LOCAL;
	if (rc == CLI_LOCAL)
		rc = c->run(&cli, nrest, rest);
out:
	backup_set_default_store(NULL);
	if (cli.store)
		store_close(cli.store);
	users_free(cli.users);
	intern_free(cli.intern);
	free(rest);
	if (taken.token)
		explicit_bzero(taken.token, strlen(taken.token));
	free(taken.token);
	free(taken.state);
	return rc;
}
