/* `cairn extend NS/NAME`: moves a dependency's expiry or pins it, by
 * rewriting the dependency as the calling user (so the ACL applies and the
 * change is a generation in the policy log like any other). */
#include "cli.h"
#include "engine/revise.h"
#include "engine/store/store.h"

#include "base/timefmt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char extend_usage[] =
	"usage: cairn extend NAMESPACE/NAME --user USER (--ttl DURATION | --until TIME | --pin | --unpin)\n"
	"\n"
	"Changes when a dependency expires, as USER (the ACL applies), recorded as a\n"
	"new generation (verb \"extend\"). Nothing is converged: expiry changes no\n"
	"instance.\n"
	"\n"
	"  --ttl DURATION   expire DURATION from now (e.g. 24h, 7d): sets `expires`\n"
	"                   and drops `ttl`\n"
	"  --until TIME     expire at TIME (RFC 3339, e.g. 2026-12-01T00:00:00Z)\n"
	"  --pin            never expire (`pinned: true`), whatever expires/ttl say\n"
	"  --unpin          remove the pin\n"
	"  -o json          {\"id\": \"ns/name\", \"generation\": N, \"expires\": TIME|null,\n"
	"                   \"ttl\": TEXT|null, \"pinned\": BOOL}\n";

int cmd_extend(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(extend_usage, stdout);
		return EXIT_DONE;
	}
	const char *id = NULL, *user = NULL, *ttl = NULL, *until = NULL;
	int pin = -1; /* -1: unchanged, 0: unpin, 1: pin */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strncmp(a, "--user=", 7) == 0)
			user = a + 7;
		else if (strcmp(a, "--ttl") == 0 && i + 1 < argc)
			ttl = argv[++i];
		else if (strncmp(a, "--ttl=", 6) == 0)
			ttl = a + 6;
		else if (strcmp(a, "--until") == 0 && i + 1 < argc)
			until = argv[++i];
		else if (strncmp(a, "--until=", 8) == 0)
			until = a + 8;
		else if (strcmp(a, "--pin") == 0)
			pin = 1;
		else if (strcmp(a, "--unpin") == 0)
			pin = 0;
		else if (a[0] != '-' && !id)
			id = a;
		else {
			cli_error("extend: unexpected argument '%s'\n%s", a, extend_usage);
			return EXIT_USAGE;
		}
	}
	const char *slash = id ? strchr(id, '/') : NULL;
	if (!id || !slash || slash == id || !slash[1] || !user) {
		cli_error("extend needs NAMESPACE/NAME and --user\n%s", extend_usage);
		return EXIT_USAGE;
	}
	if ((ttl != NULL) + (until != NULL) + (pin >= 0) != 1) {
		cli_error("extend takes exactly one of --ttl, --until, --pin and --unpin\n%s",
			  extend_usage);
		return EXIT_USAGE;
	}
	int64_t secs = 0, when = 0;
	if (ttl && (!policy_parse_duration(ttl, &secs) || secs <= 0)) {
		cli_error("extend: --ttl '%s' is not a positive duration (like 90m, 24h or 7d)", ttl);
		return EXIT_USAGE;
	}
	if (until && !policy_parse_time(until, &when)) {
		cli_error("extend: --until '%s' is not an RFC 3339 time (like 2026-12-01T00:00:00Z)",
			  until);
		return EXIT_USAGE;
	}
	if (cli->server) {
		cli_error("extend works on the state database (--state), not through --server");
		return EXIT_USAGE;
	}

	int rc = EXIT_FAILURE_;
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	struct policy *pol = NULL;
	json_t *obj = NULL;
	char *text = NULL;
	struct revise_result res = { 0 };
	struct error err = ERROR_INIT;
	char ns[256], expires[UTC_TIME_SIZE] = "";
	if (!store)
		goto out;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - id), id);
	if (revise_load_generation(store, cli->intern, 0, &pol, NULL, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	const struct object *o = policy_get(pol, KIND_DEPENDENCY, ns, slash + 1);
	if (!o) {
		cli_error("extend: dependency %s does not exist", id);
		rc = EXIT_REFUSED;
		goto out;
	}
	obj = json_loads(o->json, 0, NULL);
	if (!json_is_object(obj)) {
		cli_error("extend: dependency %s: its stored JSON does not read", id);
		goto out;
	}
	if (ttl || until) {
		utc_time_format(ttl ? (long long)time(NULL) + secs : when, expires);
		json_object_set_new(obj, "expires", json_string(expires));
		json_object_del(obj, "ttl");
	} else if (pin == 1) {
		json_object_set_new(obj, "pinned", json_true());
	} else {
		json_object_del(obj, "pinned");
	}
	text = json_dumps(obj, JSON_COMPACT);
	struct revise_text rt = { "extend", text, strlen(text) };
	struct revise_request req = { .verb = REVISE_APPLY, .user = user, .texts = &rt,
				      .ntexts = 1, .log_verb = "extend" };
	if (revise_policy(store, cli->intern, users, &req, &res, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	if (res.status == REVISE_REFUSED) {
		struct strbuf what = STRBUF_INIT;
		strbuf_addf(&what, "extend %s", id);
		rc = cli_refused(cli, strbuf_cstr(&what), &res.diags);
		strbuf_release(&what);
		goto out;
	}
	const struct dependency *d =
		(const struct dependency *)policy_get(res.policy, KIND_DEPENDENCY, ns, slash + 1);
	if (d->expires)
		utc_time_format(d->expires, expires);
	const char *ttl_text = json_string_value(json_object_get(obj, "ttl"));
	if (cli->json) {
		json_t *out = json_pack("{s:s, s:I, s:s?, s:s?, s:b}", "id", id, "generation",
					(json_int_t)res.generation, "expires",
					d->expires ? expires : NULL, "ttl", ttl_text, "pinned",
					d->pinned);
		char *s = json_dumps(out, JSON_COMPACT);
		cli_print_json(s);
		free(s);
		json_decref(out);
	} else {
		printf("%s: %s%s%s%s%s (%s generation %lld)\n", id,
		       d->pinned ? "pinned, never expires" : d->expires ? "expires " : "no expiry",
		       !d->pinned && d->expires ? expires : "",
		       !d->pinned && ttl_text ? (d->expires ? ", or " : "ttl ") : "",
		       !d->pinned && ttl_text ? ttl_text : "",
		       !d->pinned && ttl_text ? " after its last update" : "",
		       res.status == REVISE_UNCHANGED ? "unchanged," : "as", res.generation);
	}
	rc = EXIT_DONE;
out:
	error_clear(&err);
	revise_result_release(&res);
	free(text);
	json_decref(obj);
	policy_free(pol);
	return rc;
}
