/* `cairn replica start|stop NS/NAME`: a replica dependency stopped (its
 * stack and database removed, its media kept) or started again (made anew
 * from the newest backup), by rewriting the dependency's `stopped` as the
 * calling user, then converging. */
#include "cli.h"
#include "engine/apply/revise.h"

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

/* stopped: true, or no `stopped`; only a replica */
static const char *set_stopped(void *ctx, const struct dependency *dep, json_t *obj)
{
	if (!dep->replica.on)
		return "the dependency is not a replica (it has no replica: {of: NS/NAME})";
	if (*(const bool *)ctx)
		json_object_set_new(obj, "stopped", json_true());
	else
		json_object_del(obj, "stopped");
	return NULL;
}

int cmd_replica(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv))
		return cli_help(replica_usage);
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
	struct revise_result res;
	int rc = cli_rewrite_dependency(cli, "replica", id, user,
					stop ? "replica-stop" : "replica-start", set_stopped, &stop, &res);
	char *apply = NULL;
	if (rc != EXIT_DONE)
		goto out;
	if (!cli->json)
		printf("replica %s %s (generation %lld)\n", id, stop ? "stops" : "starts",
		       res.generation);
	rc = cli_converge(cli, &opts, res.policy, res.resolution, res.generation,
			  cli->json ? &apply : NULL);
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:I, s:b}", "id", id, "generation",
				      (json_int_t)res.generation, "stopped", stop);
		json_object_set_new(j, "apply", apply ? json_loads(apply, 0, NULL) : json_null());
		cli_print_json_value(j);
		json_decref(j);
	}
out:
	revise_result_release(&res);
	free(apply);
	return rc;
}
