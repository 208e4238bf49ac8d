/* The `cairn` command: global options, then one of the commands. */
#include "cli.h"
#include "base/alloc.h"
#include "engine/backup/replica.h"
#include "base/strbuf.h"
#include "engine/report/report.h"
#include "engine/apply/revise.h"
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

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("cairn: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void print_first_diags(const struct diags *d, const char *more)
{
	for (size_t i = 0; i < d->len && i < CLI_DIAGS_SHOWN; i++)
		fprintf(stderr, "%s\n", d->items[i]);
	if (d->len > CLI_DIAGS_SHOWN)
		fprintf(stderr, "… and %zu more error%s%s\n", d->len - CLI_DIAGS_SHOWN,
			d->len - CLI_DIAGS_SHOWN == 1 ? "" : "s", more);
}

void cli_print_diags(const struct diags *d)
{
	print_first_diags(d, "");
}

int cli_refused(struct cli *cli, const char *what, const struct diags *d)
{
	struct strbuf sb = STRBUF_INIT;
	if (cli->json) {
		report_refusal_json(&sb, what, d);
		cli_print_json(strbuf_cstr(&sb));
		strbuf_reset(&sb);
	} else {
		print_first_diags(d, " (-o json lists all)");
	}
	report_refusal_reason(&sb, d);
	cli_error("%s refused: %s", what, strbuf_cstr(&sb));
	strbuf_release(&sb);
	return EXIT_REFUSED;
}

void cli_print_json(const char *text)
{
	fputs(text, stdout);
	fputc('\n', stdout);
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	return false;
}

char *cli_beside_state(const struct cli *cli, const char *name)
{
	return store_beside(cli->state, name);
}

void cli_print_json_value(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_print_json(s);
	free(s);
}

void cli_print_deleted(const struct cli *cli, const char *what, const char *id)
{
	if (cli->json) {
		json_t *j = json_pack("{s:s}", "deleted", id);
		cli_print_json_value(j);
		json_decref(j);
	} else {
		printf("deleted %s %s\n", what, id);
	}
}

void cli_format_bytes(long long n, char *out, size_t size)
{
	if (n < 10 * 1024)
		snprintf(out, size, "%lld B", n);
	else if (n < 10 * 1024 * 1024)
		snprintf(out, size, "%.1f kB", (double)n / 1024);
	else
		snprintf(out, size, "%.1f MB", (double)n / (1024 * 1024));
}

int cli_rewrite_dependency(struct cli *cli, const char *what, const char *id, const char *user,
			   const char *log_verb, cli_dependency_edit edit, void *ctx,
			   struct revise_result *res)
{
	memset(res, 0, sizeof(*res));
	const char *slash = strchr(id, '/');
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	if (!store)
		return EXIT_FAILURE_;
	int rc = EXIT_FAILURE_;
	struct policy *pol = NULL;
	json_t *obj = NULL;
	char *text = NULL;
	struct error err = ERROR_INIT;
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - id), id);
	if (revise_load_generation(store, cli->intern, 0, &pol, NULL, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	const struct dependency *dep =
		(const struct dependency *)policy_get(pol, KIND_DEPENDENCY, ns, slash + 1);
	obj = dep ? json_loads(dep->obj.json, 0, NULL) : NULL;
	const char *refusal = !dep ? "no such dependency"
			      : !json_is_object(obj) ? "its stored JSON does not read"
						    : edit(ctx, dep, obj);
	if (refusal) {
		cli_error("%s %s: %s", what, id, refusal);
		rc = EXIT_REFUSED;
		goto out;
	}
	text = json_dumps(obj, JSON_COMPACT);
	struct revise_text rt = { what, text, strlen(text) };
	struct revise_request req = { .verb = REVISE_APPLY, .user = user, .texts = &rt,
				      .ntexts = 1, .log_verb = log_verb };
	if (revise_policy(store, cli->intern, users, &req, res, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	if (res->status == REVISE_REFUSED) {
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "%s %s", what, id);
		rc = cli_refused(cli, strbuf_cstr(&sb), &res->diags);
		strbuf_release(&sb);
		goto out;
	}
	rc = EXIT_DONE;
out:
	error_clear(&err);
	free(text);
	json_decref(obj);
	policy_free(pol);
	return rc;
}

char *cli_data_dir(const struct cli *cli, const char *given, const char *env_name,
		   const char *name)
{
	if (given && *given)
		return xstrdup(given);
	const char *env = getenv(env_name);
	if (env && *env)
		return xstrdup(env);
	char *beside = cli_beside_state(cli, name);
	if (beside)
		return beside;
	struct strbuf sb = STRBUF_INIT;
	if (getenv("XDG_DATA_HOME") && *getenv("XDG_DATA_HOME"))
		strbuf_addf(&sb, "%s/cairn/%s", getenv("XDG_DATA_HOME"), name);
	else
		strbuf_addf(&sb, "%s/.local/share/cairn/%s", getenv("HOME") ? getenv("HOME") : ".", name);
	return strbuf_detach(&sb);
}

/* Where parsed users files are kept (CAIRN_USERS_CACHE, "off" for none):
 * beside a state database that is a file, else in the user's cache. */
static char *users_cache_dir(const struct cli *cli)
{
	const char *env = getenv("CAIRN_USERS_CACHE");
	if (env && *env)
		return strcmp(env, "off") == 0 ? NULL : xstrdup(env);
	char *beside = cli_beside_state(cli, "cache");
	if (beside)
		return beside;
	struct strbuf sb = STRBUF_INIT;
	if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME"))
		strbuf_addf(&sb, "%s/cairn", getenv("XDG_CACHE_HOME"));
	else if (getenv("HOME") && *getenv("HOME"))
		strbuf_addf(&sb, "%s/.cache/cairn", getenv("HOME"));
	else
		return NULL;
	return strbuf_detach(&sb);
}

struct users *cli_users(struct cli *cli)
{
	if (cli->users)
		return cli->users;
	if (!cli->users_path) {
		cli_error("no users file: pass --users FILE or set CAIRN_USERS");
		return NULL;
	}
	struct users *u = users_new(cli->intern);
	struct diags d = DIAGS_INIT;
	char *cache = users_cache_dir(cli);
	bool hit;
	int rc = users_load_cached(u, cli->users_path, cache, &hit, &d);
	free(cache);
	if (rc == 0 && cli->secrets_path)
		rc = users_load_secrets(u, cli->secrets_path, &d);
	if (rc < 0) {
		cli_print_diags(&d);
		diags_release(&d);
		users_free(u);
		return NULL;
	}
	diags_release(&d);
	cli->users = u;
	return u;
}

struct store *cli_store(struct cli *cli)
{
	if (cli->store)
		return cli->store;
	struct error err = ERROR_INIT;
	if (store_open(&cli->store, cli->state, &err) < 0) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		return NULL;
	}
	return cli->store;
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

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	cli.state = getenv("CAIRN_STATE");
	cli.users_path = getenv("CAIRN_USERS");
	cli.secrets_path = getenv("CAIRN_SECRETS");
	cli.state_set = cli.state && *cli.state;
	cli.server = getenv("CAIRN_SERVER");
	cli.token = getenv("CAIRN_TOKEN");
	if (cli.server && !*cli.server)
		cli.server = NULL;
	if (!cli.state || !*cli.state)
		cli.state = ".cairn/state.db";
	/* An empty variable means unset (CAIRN_SECRETS= cairn …). */
	if (cli.users_path && !*cli.users_path)
		cli.users_path = NULL;
	if (cli.secrets_path && !*cli.secrets_path)
		cli.secrets_path = NULL;

	/* Global options may come before or after the command name; the rest
	 * of the arguments go to the command in order. */
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0;
	int rc = EXIT_USAGE;
	char *owned_token = NULL, *owned_state = NULL; /* secrets taken out of argv */
	const char *token_file = getenv("CAIRN_TOKEN_FILE");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (is_option(a, "--state")) {
			if (!(v = option_value(&i, argc, argv, "--state")))
				goto out;
			size_t at, len;
			if (url_password(v, &at, &len)) {
				free(owned_state);
				v = owned_state = hide_in_argv(v, at, len);
			}
			cli.state = v;
			cli.state_set = true;
		} else if (is_option(a, "--users")) {
			if (!(v = option_value(&i, argc, argv, "--users")))
				goto out;
			cli.users_path = v;
		} else if (is_option(a, "--server")) {
			if (!(v = option_value(&i, argc, argv, "--server")))
				goto out;
			cli.server = *v ? v : NULL;
		} else if (is_option(a, "--token")) {
			if (!(v = option_value(&i, argc, argv, "--token")))
				goto out;
			free(owned_token);
			cli.token = owned_token = hide_in_argv(v, 0, strlen(v));
		} else if (is_option(a, "--token-file")) {
			if (!(token_file = option_value(&i, argc, argv, "--token-file")))
				goto out;
		} else if (is_option(a, "--secrets")) {
			if (!(v = option_value(&i, argc, argv, "--secrets")))
				goto out;
			cli.secrets_path = v;
		} else if (strcmp(a, "-o") == 0 || is_option(a, "--output")) {
			v = strcmp(a, "-o") == 0 ? (i + 1 < argc ? argv[++i] : NULL)
						 : option_value(&i, argc, argv, "--output");
			if (!v || strcmp(v, "json") != 0) {
				cli_error("-o takes 'json'");
				goto out;
			}
			cli.json = true;
		} else if (strcmp(a, "-ojson") == 0) {
			cli.json = true;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	if (token_file && *token_file && !owned_token) {
		if (!(owned_token = read_token_file(token_file))) {
			rc = EXIT_FAILURE_;
			goto out;
		}
		cli.token = owned_token;
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
	const char *cmd = rest[0];
	if (cli.server && (strcmp(cmd, "policy") == 0 || strcmp(cmd, "plan") == 0 ||
			   strcmp(cmd, "status") == 0 || strcmp(cmd, "explain") == 0 ||
			   strcmp(cmd, "apply") == 0 || strcmp(cmd, "logs") == 0))
		rc = cmd_remote(&cli, nrest, rest);
	else if (strcmp(cmd, "serve") == 0)
		rc = cmd_serve(&cli, nrest, rest);
	else if (strcmp(cmd, "token") == 0)
		rc = cmd_token(&cli, nrest, rest);
	else if (strcmp(cmd, "policy") == 0)
		rc = cmd_policy(&cli, nrest, rest);
	else if (strcmp(cmd, "plan") == 0)
		rc = cmd_plan(&cli, nrest, rest);
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(&cli, nrest, rest);
	else if (strcmp(cmd, "explain") == 0)
		rc = cmd_explain(&cli, nrest, rest);
	else if (strcmp(cmd, "apply") == 0)
		rc = cmd_apply(&cli, nrest, rest);
	else if (strcmp(cmd, "logs") == 0)
		rc = cmd_logs(&cli, nrest, rest);
	else if (strcmp(cmd, "extend") == 0)
		rc = cmd_extend(&cli, nrest, rest);
	else if (strcmp(cmd, "rollback") == 0)
		rc = cmd_rollback(&cli, nrest, rest);
	else if (strcmp(cmd, "rollout") == 0)
		rc = cmd_rollout(&cli, nrest, rest);
	else if (strcmp(cmd, "snapshot") == 0)
		rc = cmd_snapshot(&cli, nrest, rest);
	else if (strcmp(cmd, "demo") == 0)
		rc = cmd_demo(&cli, nrest, rest);
	else if (strcmp(cmd, "backup") == 0)
		rc = cmd_backup(&cli, nrest, rest);
	else if (strcmp(cmd, "replica") == 0)
		rc = cmd_replica(&cli, nrest, rest);
	else {
		cli_error("unknown command '%s' (see cairn --help)", cmd);
		rc = EXIT_USAGE;
	}
out:
	backup_set_default_store(NULL);
	if (cli.store)
		store_close(cli.store);
	users_free(cli.users);
	intern_free(cli.intern);
	free(rest);
	if (owned_token)
		explicit_bzero(owned_token, strlen(owned_token));
	free(owned_token);
	free(owned_state);
	return rc;
}
