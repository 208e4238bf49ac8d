/* `cairn replica start|stop NS/NAME`: a replica dependency stopped (its
 * stack and database removed, its media kept) or started again (made anew
 * from the newest backup), by rewriting the dependency's `stopped` as the
 * calling user, then converging. */
#include "cli.h"
#include "engine/revise.h"

#include "base/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char replica_usage[] =
	"usage: cairn replica start|stop NAMESPACE/NAME --user USER [-o json] [converge options]\n"
	"\n"
	"A dependency with replica: {of: NS/NAME} is made from that dependency's\n"
	"backup (README: Replicas).\n"
	"\n"
	"stop   sets `stopped: true` and converges: the replica's containers, its\n"
	"       database and their volumes are removed; its media volume is kept\n"
	"start  removes `stopped` and converges: the replica is made again from the\n"
	"       newest backup (or the one its `backup:` names), copying only the\n"
	"       media that changed since it stopped\n"
	"\n"
	"Both are a new generation in the policy log (verb replica-start or\n"
	"replica-stop), as USER: the ACL applies.\n"
	"\n"
	"  -o json   {id, generation, stopped, apply}\n"
	"\n"
	"exit codes: 0 done, 1 failed, 2 usage, 3 refused\n";

int cmd_replica(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(replica_usage, stdout);
		return EXIT_DONE;
	}
	const char *sub = argc > 1 ? argv[1] : NULL, *id = NULL, *user = NULL;
	struct converge_cli opts = { 0 };
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		int used = converge_option(&opts, argc, argv, &i);
		if (used < 0)
			return EXIT_USAGE;
		if (used)
			continue;
		if (strcmp(a, "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strncmp(a, "--user=", 7) == 0)
			user = a + 7;
		else if (a[0] != '-' && !id)
			id = a;
		else {
			cli_error("replica: unexpected argument '%s'\n%s", a, replica_usage);
			return EXIT_USAGE;
		}
	}
	bool stop = sub && strcmp(sub, "stop") == 0;
	const char *slash = id ? strchr(id, '/') : NULL;
	if (!sub || (!stop && strcmp(sub, "start") != 0) || !slash || slash == id || !slash[1] ||
	    !user) {
		cli_error("replica needs start or stop, NAMESPACE/NAME and --user\n%s", replica_usage);
		return EXIT_USAGE;
	}
	if (cli->server) {
		cli_error("replica works on the state database (--state), not through --server");
		return EXIT_USAGE;
	}
	int rc = EXIT_FAILURE_;
	struct users *users = cli_users(cli);
	struct store *store = users ? cli_store(cli) : NULL;
	struct policy *pol = NULL;
	json_t *obj = NULL;
	char *text = NULL, *apply = NULL;
	struct revise_result res = { 0 };
	struct error err = ERROR_INIT;
	char ns[256];
	if (!store)
		goto out;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - id), id);
	if (revise_load_generation(store, cli->intern, 0, &pol, NULL, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	const struct dependency *dep =
		(const struct dependency *)policy_get(pol, KIND_DEPENDENCY, ns, slash + 1);
	if (!dep || !dep->replica.on) {
		cli_error("replica %s: %s", id,
			  dep ? "the dependency is not a replica (it has no replica: {of: NS/NAME})"
			      : "no such dependency");
		rc = EXIT_REFUSED;
		goto out;
	}
	obj = json_loads(dep->obj.json, 0, NULL);
	if (stop)
		json_object_set_new(obj, "stopped", json_true());
	else
		json_object_del(obj, "stopped");
	text = json_dumps(obj, JSON_COMPACT);
	struct revise_text rt = { "replica", text, strlen(text) };
	struct revise_request req = { .verb = REVISE_APPLY, .user = user, .texts = &rt, .ntexts = 1,
				      .log_verb = stop ? "replica-stop" : "replica-start" };
	if (revise_policy(store, cli->intern, users, &req, &res, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	if (res.status == REVISE_REFUSED) {
		struct strbuf what = STRBUF_INIT;
		strbuf_addf(&what, "replica %s %s", sub, id);
		rc = cli_refused(cli, strbuf_cstr(&what), &res.diags);
		strbuf_release(&what);
		goto out;
	}
	if (!cli->json)
		printf("replica %s %s (generation %lld)\n", id, stop ? "stops" : "starts",
		       res.generation);
	rc = cli_converge(cli, &opts, res.policy, res.resolution, res.generation,
			  cli->json ? &apply : NULL);
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:I, s:b}", "id", id, "generation",
				      (json_int_t)res.generation, "stopped", stop);
		json_object_set_new(j, "apply", apply ? json_loads(apply, 0, NULL) : json_null());
		char *s = json_dumps(j, JSON_COMPACT);
		cli_print_json(s);
		free(s);
		json_decref(j);
	}
out:
	error_clear(&err);
	revise_result_release(&res);
	free(text);
	free(apply);
	json_decref(obj);
	policy_free(pol);
	return rc;
}
