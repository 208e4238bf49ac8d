/* `cairn extend NS/NAME`: moves a dependency's expiry or pins it, by
 * rewriting the dependency as the calling user (so the ACL applies and the
 * change is a generation in the policy log like any other). */
#include "cli.h"
#include "base/parse.h"
#include "engine/apply/revise.h"
#include "engine/store/store.h"

#include "base/alloc.h"
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

struct extension {
	const char *ttl, *until;
	int64_t secs, when;
	int pin;        /* -1: unchanged, 0: unpin, 1: pin */
	char *ttl_text; /* the `ttl` it keeps, heap */
};

static const char *extend_edit(void *ctx, const struct dependency *dep, json_t *obj)
{
	(void)dep;
	struct extension *x = ctx;
	if (x->ttl || x->until) {
		char expires[UTC_TIME_SIZE];
		utc_time_format(x->ttl ? (long long)time(NULL) + x->secs : x->when, expires);
		json_object_set_new(obj, "expires", json_string(expires));
		json_object_del(obj, "ttl");
	} else if (x->pin == 1) {
		json_object_set_new(obj, "pinned", json_true());
	} else {
		json_object_del(obj, "pinned");
	}
	const char *ttl = json_string_value(json_object_get(obj, "ttl"));
	x->ttl_text = ttl ? xstrdup(ttl) : NULL;
	return NULL;
}

int cmd_extend(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv))
		return cli_help(extend_usage);
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
	if (ttl && (parse_duration_seconds(ttl, &secs) < 0 || secs <= 0)) {
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

	struct extension x = { .ttl = ttl, .secs = secs, .until = until, .when = when, .pin = pin };
	struct revise_result res;
	int rc = cli_rewrite_dependency(cli, "extend", id, user, "extend", extend_edit, &x, &res);
	char expires[UTC_TIME_SIZE] = "", ns[256];
	if (rc != EXIT_DONE)
		goto out;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - id), id);
	const struct dependency *d =
		(const struct dependency *)policy_get(res.policy, KIND_DEPENDENCY, ns, slash + 1);
	if (d->expires)
		utc_time_format(d->expires, expires);
	const char *ttl_text = x.ttl_text;
	if (cli->json) {
		json_t *out = json_pack("{s:s, s:I, s:s?, s:s?, s:b}", "id", id, "generation",
					(json_int_t)res.generation, "expires",
					d->expires ? expires : NULL, "ttl", ttl_text, "pinned",
					d->pinned);
		cli_print_json_value(out);
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
	revise_result_release(&res);
	free(x.ttl_text);
	return rc;
}
