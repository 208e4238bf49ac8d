/* `cairn rollback INSTANCE` and `cairn rollout promote|abort INSTANCE`: move
 * the traffic of a process instance (ssh clusters) between its releases on
 * every host, under the apply lock. The policy is not changed: the choice is
 * kept on the hosts until the policy asks for another release (README). */
#include "cli.h"

#include "engine/drivers/ssh/ssh_driver.h"
#include "engine/store/store.h"

#include <stdio.h>
#include <string.h>

static void report(void *ctx, const struct exec *x, const struct exec_action *a)
{
	(void)ctx;
	(void)x;
	if (!a || a->status == EXEC_RUNNING || a->status == EXEC_PENDING)
		return;
	double secs = a->finished_ms && a->started_ms ? (a->finished_ms - a->started_ms) / 1000.0 : 0;
	if (a->message)
		fprintf(stderr, "%-9s %-9s %s  %s: %s\n", exec_status_name(a->status), a->verb, a->where,
			a->target, a->message);
	else
		printf("%-9s %-9s %s  %.2fs\n", exec_status_name(a->status), a->verb, a->where, secs);
}

static int rollout(struct cli *cli, const char *key, enum ssh_rollout what)
{
	struct cli_current c;
	if (cli_current_load(cli, &c, 0) < 0)
		return EXIT_FAILURE_;
	int rc = EXIT_FAILURE_;
	struct error err = ERROR_INIT;
	bool locked = false;
	const struct instance *in = map_get(&c.resolution->by_key, key, strlen(key));
	if (!in) {
		cli_error("no instance %s in generation %lld (see cairn status)", key, c.generation);
		goto out;
	}
	const struct cluster *cl =
		(const struct cluster *)policy_get(c.policy, KIND_CLUSTER, "system", in->cluster);
	if (!cl || !cl->type || strcmp(cl->type->s, "ssh") != 0) {
		cli_error("instance %s is not on an ssh cluster: only process instances have releases to switch",
			  key);
		goto out;
	}
	if (store_lock_apply(cli->store, true, &err) < 0) {
		cli_error("%s", error_msg(&err));
		goto out;
	}
	locked = true;
	struct exec_options eo = { .attempts = 1, .report = report };
	size_t failed = 0;
	if (ssh_rollout(cl, in, what, &eo, &failed, &err) < 0) {
		cli_error("%s", error_msg(&err));
		rc = EXIT_REFUSED;
		goto out;
	}
	rc = failed ? EXIT_FAILURE_ : EXIT_DONE;
out:
	if (locked)
		store_unlock_apply(cli->store);
	error_clear(&err);
	cli_current_release(&c);
	return rc;
}

int cmd_rollback(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn rollback INSTANCE\n\n"
		"Switches a process instance back to the release it ran before, on every\n"
		"host of its ssh cluster (zero downtime: started, health-checked, then\n"
		"nginx switches). The next applies keep it there until the policy asks for\n"
		"another release of the instance.\n";
	if (cli_wants_help(argc, argv))
		return cli_help(usage);
	if (argc != 2)
		return cli_usage_error(usage);
	return rollout(cli, argv[1], SSH_ROLLBACK);
}

int cmd_rollout(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn rollout promote|abort INSTANCE\n\n"
		"For a process instance with update: {canary: P} while a canary runs:\n"
		"  promote   the new release takes all traffic, the old one stops\n"
		"  abort     the old release takes all traffic back, the new one stops (and\n"
		"            is not tried again until the policy asks for another release)\n";
	if (cli_wants_help(argc, argv))
		return cli_help(usage);
	if (argc != 3 || (strcmp(argv[1], "promote") && strcmp(argv[1], "abort")))
		return cli_usage_error(usage);
	return rollout(cli, argv[2], strcmp(argv[1], "promote") == 0 ? SSH_PROMOTE : SSH_ABORT);
}
