/* `cairn demo request|list|refresh|delete`: demos of a contract, each its
 * own dependency demo-<random> with a host name and an expiry (engine/demos). */
#include "cli.h"
#include "engine/apply/converge.h"
#include "engine/demos/demos.h"
#include "engine/apply/reconcile.h"
#include "engine/apply/revise.h"
#include "engine/store/store.h"

#include "base/alloc.h"
#include "base/timefmt.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char demo_usage[] =
	"usage: cairn demo request --contract NAMESPACE/NAME --user USER [--ttl DURATION]\n"
	"                          [--domain DOMAIN] [--requested-by NAME] [--no-apply] [-o json]\n"
	"       cairn demo list [-o json]\n"
	"       cairn demo refresh NAMESPACE/NAME --user USER [-o json]\n"
	"       cairn demo delete NAMESPACE/NAME --user USER [-o json]\n"
	"\n"
	"request  makes dependency demo-<random> on the contract, in its namespace, as\n"
	"         USER (the ACL applies): labels demo=<random>, host=<random>.demo.DOMAIN\n"
	"         and requested-by, expiring after DURATION (default 7d; `cairn extend`\n"
	"         moves it); then converges, so a component with `data:` starts on the\n"
	"         newest prepared snapshot. Prints the demo's id, host, URL and expiry.\n"
	"         A demo whose dependency would not resolve is refused, not stored.\n"
	"list     the demos (dependencies labelled demo): who asked, host, URL, state,\n"
	"         data snapshot and build, expiry\n"
	"refresh  moves the demo's data to the newest prepared snapshot and keeps it\n"
	"         there (label snapshot: the id)\n"
	"delete   removes the demo's dependency and converges (its containers,\n"
	"         volumes and networks go)\n"
	"\n"
	"  --domain DOMAIN  host names end in .demo.DOMAIN (CAIRN_DEMO_DOMAIN; default\n"
	"                   localhost)\n"
	"  --no-apply       request: store the dependency, converge later (cairn apply)\n"
	"  -o json          request: {id, host, url, expires, generation, apply};\n"
	"                   list: [{id, namespace, name, user, requested_by, contract,\n"
	"                   host, expires, pinned, resolved, reason, state, url,\n"
	"                   snapshot, build}]; refresh: {id, snapshot, generation};\n"
	"                   delete: {deleted, generation, apply}\n"
	"\n"
	"exit codes: 0 done, 1 failed (the message says why), 2 usage, 3 refused\n";

struct demo_args {
	const char *sub, *id, *contract, *user, *ttl, *domain, *requested_by;
	bool no_apply;
};

static int parse_args(int argc, char **argv, struct demo_args *a)
{
	static const struct {
		const char *name;
		size_t offset;
	} values[] = {
		{ "--contract", offsetof(struct demo_args, contract) },
		{ "--user", offsetof(struct demo_args, user) },
		{ "--ttl", offsetof(struct demo_args, ttl) },
		{ "--domain", offsetof(struct demo_args, domain) },
		{ "--requested-by", offsetof(struct demo_args, requested_by) },
	};
	a->sub = argc > 1 ? argv[1] : NULL;
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		bool known = false;
		for (size_t k = 0; k < sizeof(values) / sizeof(*values) && !known; k++) {
			size_t n = strlen(values[k].name);
			const char **slot = (const char **)((char *)a + values[k].offset);
			if (strcmp(arg, values[k].name) == 0 && i + 1 < argc)
				*slot = argv[++i], known = true;
			else if (strncmp(arg, values[k].name, n) == 0 && arg[n] == '=')
				*slot = arg + n + 1, known = true;
		}
		if (known)
			continue;
		if (strcmp(arg, "--no-apply") == 0)
			a->no_apply = true;
		else if (arg[0] != '-' && !a->id)
			a->id = arg;
		else {
			cli_error("demo: unexpected argument '%s'\n%s", arg, demo_usage);
			return -1;
		}
	}
	return 0;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_print_json(s);
	free(s);
	json_decref(j);
}

/* The URL of dependency id's published port, observed after a converge. */
static char *demo_url(struct cli *cli, const char *id)
{
	struct cli_current c;
	if (cli_current_load(cli, &c, 0) < 0)
		return NULL;
	struct fleet *f = fleet_open(c.policy, NULL);
	json_t *list = demo_list(c.resolution, f);
	char *url = NULL;
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d)
	if (!url && strcmp(json_string_value(json_object_get(d, "id")), id) == 0 &&
	    json_string_value(json_object_get(d, "url")))
		url = xstrdup(json_string_value(json_object_get(d, "url")));
	json_decref(list);
	fleet_close(f);
	cli_current_release(&c);
	return url;
}

static int demo_request_cmd(struct cli *cli, const struct demo_args *a)
{
	if (!a->contract || !a->user) {
		cli_error("demo request needs --contract NAMESPACE/NAME and --user\n%s", demo_usage);
		return EXIT_USAGE;
	}
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	if (!store)
		return EXIT_FAILURE_;
	const char *domain = a->domain ? a->domain : getenv("CAIRN_DEMO_DOMAIN");
	struct demo_request req = { .contract = a->contract, .user = a->user,
				    .requested_by = a->requested_by, .ttl = a->ttl,
				    .domain = domain && *domain ? domain : NULL };
	struct demo_created made;
	struct diags refused = DIAGS_INIT;
	struct error err = ERROR_INIT;
	if (demo_request(store, cli->intern, users, &req, &made, &refused, &err) < 0) {
		error_wrap(&err, "demo request");
		int code = cli_failed(cli, "demo request", &refused, &err);
		error_clear(&err);
		diags_release(&refused);
		return code;
	}
	char expires[UTC_TIME_SIZE];
	utc_time_format(made.expires, expires);
	if (!cli->json)
		printf("demo %s at %s, expires %s (generation %lld)\n", made.id, made.host, expires,
		       made.generation);
	int code = EXIT_DONE;
	char *apply = NULL, *url = NULL;
	if (!a->no_apply) {
		struct cli_current c;
		if (cli_current_load(cli, &c, 0) < 0) {
			demo_created_release(&made);
			return EXIT_FAILURE_;
		}
		struct converge_cli opts = { 0 };
		code = cli_converge(cli, &opts, c.policy, c.resolution, c.generation,
				    cli->json ? &apply : NULL);
		cli_current_release(&c);
		url = demo_url(cli, made.id);
	}
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:s, s:s?, s:s, s:I}", "id", made.id, "host", made.host,
				      "url", url, "expires", expires, "generation",
				      (json_int_t)made.generation);
		json_object_set_new(j, "apply", apply ? json_loads(apply, 0, NULL) : json_null());
		print_json(j);
	} else if (url) {
		printf("demo %s answers at %s\n", made.id, url);
	}
	free(apply);
	free(url);
	demo_created_release(&made);
	return code;
}

static int demo_list_cmd(struct cli *cli)
{
	struct cli_current c;
	if (cli_current_load(cli, &c, 0) < 0)
		return EXIT_FAILURE_;
	struct fleet *f = fleet_open(c.policy, NULL);
	json_t *list = demo_list(c.resolution, f);
	fleet_close(f);
	cli_current_release(&c);
	if (cli->json) {
		print_json(list);
		return EXIT_DONE;
	}
	printf("%-24s %-12s %-28s %-34s %-8s %-36s %-12s %s\n", "DEMO", "REQUESTED BY", "HOST",
	       "URL", "STATE", "SNAPSHOT", "BUILD", "EXPIRES");
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d)
	{
#define FIELD(k) (json_string_value(json_object_get(d, k)) ? json_string_value(json_object_get(d, k)) : "-")
		printf("%-24s %-12s %-28s %-34s %-8s %-36s %-12s %s\n", FIELD("id"),
		       FIELD("requested_by"), FIELD("host"), FIELD("url"), FIELD("state"),
		       FIELD("snapshot"), FIELD("build"),
		       json_is_true(json_object_get(d, "pinned")) ? "never (pinned)" : FIELD("expires"));
#undef FIELD
	}
	json_decref(list);
	return EXIT_DONE;
}

static int demo_refresh_cmd(struct cli *cli, const struct demo_args *a)
{
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	if (!store)
		return EXIT_FAILURE_;
	struct demo_refreshed r;
	struct diags refused = DIAGS_INIT;
	struct error err = ERROR_INIT;
	struct exec_options eo = { 0 };
	if (demo_refresh(store, cli->intern, users, a->id, a->user, &eo, &r, &refused, &err) < 0) {
		error_wrap(&err, "demo refresh");
		int code = cli_failed(cli, "demo refresh", &refused, &err);
		error_clear(&err);
		diags_release(&refused);
		demo_refreshed_release(&r);
		return code;
	}
	if (cli->json)
		print_json(json_pack("{s:s, s:s, s:I}", "id", a->id, "snapshot", r.snapshot,
				     "generation", (json_int_t)r.generation));
	else
		printf("demo %s runs snapshot %s now, and keeps it (generation %lld)\n", a->id,
		       r.snapshot, r.generation);
	demo_refreshed_release(&r);
	return EXIT_DONE;
}

/* Deletes the demo's dependency as the user, then converges. */
static int demo_delete_cmd(struct cli *cli, const struct demo_args *a)
{
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	if (!store)
		return EXIT_FAILURE_;
	struct revise_result res = { 0 };
	struct diags refused = DIAGS_INIT;
	struct error err = ERROR_INIT;
	int code = EXIT_DONE;
	if (demo_delete(store, cli->intern, users, a->id, a->user, &res, &refused, &err) < 0) {
		error_wrap(&err, "demo delete");
		code = cli_failed(cli, "demo delete", &refused, &err);
		error_clear(&err);
	} else {
		struct converge_cli opts = { 0 };
		char *apply = NULL;
		if (!cli->json)
			printf("deleted demo %s (generation %lld)\n", a->id, res.generation);
		code = cli_converge(cli, &opts, res.policy, res.resolution, res.generation,
				    cli->json ? &apply : NULL);
		if (cli->json) {
			json_t *j = json_pack("{s:s, s:I}", "deleted", a->id, "generation",
					      (json_int_t)res.generation);
			json_object_set_new(j, "apply", apply ? json_loads(apply, 0, NULL) : json_null());
			print_json(j);
		}
		free(apply);
	}
	diags_release(&refused);
	revise_result_release(&res);
	return code;
}

int cmd_demo(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv))
		return cli_help(demo_usage);
	struct demo_args a = { 0 };
	if (parse_args(argc, argv, &a) < 0)
		return EXIT_USAGE;
	if (cli->server) {
		cli_error("demo works on the state database (--state); through a server, POST "
			  "/api/v1/demos");
		return EXIT_USAGE;
	}
	if (!a.sub) {
		cli_error("demo needs a command\n%s", demo_usage);
		return EXIT_USAGE;
	}
	if (strcmp(a.sub, "request") == 0)
		return demo_request_cmd(cli, &a);
	if (strcmp(a.sub, "list") == 0)
		return demo_list_cmd(cli);
	bool refresh = strcmp(a.sub, "refresh") == 0, del = strcmp(a.sub, "delete") == 0;
	if (!refresh && !del) {
		cli_error("demo: unknown command '%s'\n%s", a.sub, demo_usage);
		return EXIT_USAGE;
	}
	const char *slash = a.id ? strchr(a.id, '/') : NULL;
	if (!slash || slash == a.id || !slash[1] || !a.user) {
		cli_error("demo %s needs NAMESPACE/NAME and --user\n%s", a.sub, demo_usage);
		return EXIT_USAGE;
	}
	return refresh ? demo_refresh_cmd(cli, &a) : demo_delete_cmd(cli, &a);
}
