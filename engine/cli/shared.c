/* What the commands share (cli.h): the store and users they open, how
 * they print errors, refusals and JSON, where they keep data, the current
 * generation resolved, and a dependency rewritten as a revision. */
#include "cli.h"

#include "base/alloc.h"
#include "base/strbuf.h"
#include "engine/apply/revise.h"
#include "engine/report/report.h"
#include "engine/store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cli_failed(struct cli *cli, const char *what, const struct diags *reasons,
	       const struct error *err)
{
	if (error_is_refusal(err) && reasons->len)
		return cli_refused(cli, what, reasons);
	cli_error("%s", error_msg(err));
	return EXIT_FAILURE_;
}

void cli_print_text(struct strbuf *text)
{
	fwrite(text->buf ? text->buf : "", 1, text->len, stdout);
	strbuf_release(text);
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

int cli_help(const char *usage)
{
	fputs(usage, stdout);
	return EXIT_DONE;
}

int cli_usage_error(const char *usage)
{
	fputs(usage, stderr);
	return EXIT_USAGE;
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
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "%s %s", what, id);
		rc = cli_failed(cli, strbuf_cstr(&sb), &res->diags, &err);
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

void cli_current_release(struct cli_current *c)
{
	resolution_free(c->resolution);
	acl_free(c->acl);
	policy_free(c->policy);
	memset(c, 0, sizeof(*c));
}

int cli_current_load(struct cli *cli, struct cli_current *c, unsigned flags)
{
	memset(c, 0, sizeof(*c));
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	if (!store)
		return -1;
	struct error err = ERROR_INIT;
	if (revise_load_generation(store, cli->intern, 0, &c->policy, &c->generation, &err) < 0 ||
	    (c->acl = acl_new(c->policy),
	     resolve_policy(&c->resolution, c->policy, users, c->acl, flags, &err) < 0)) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		cli_current_release(c);
		return -1;
	}
	return 0;
}
