/* The ssh driver's own verbs, beyond driver.h: moving traffic between the
 * releases an instance has on every host of its cluster (`cairn rollback`,
 * `cairn rollout promote|abort`). The choice is written on the hosts (the
 * instance's state file: `pinned`), so the next apply keeps it until the
 * policy asks for another release of that instance. */
#ifndef CAIRN_SSH_DRIVER_H
#define CAIRN_SSH_DRIVER_H

#include "engine/apply/driver.h"

extern const struct driver_ops ssh_driver_ops;

enum ssh_rollout {
	SSH_ROLLBACK, /* back to the release before (kept on the hosts), pinned */
	SSH_PROMOTE,  /* the canary takes all traffic, the old release stops */
	SSH_ABORT,    /* the old release takes all traffic back, the canary stops; pinned */
};

/* Does `what` for instance `in` (placed on ssh cluster c) on every host in
 * parallel, through the executor (eo: parallelism, timeouts, progress).
 * Returns 0 with *failed counting the hosts where it did not succeed (each
 * reported through eo), or -1 with err when nothing could start (the
 * instance is not a process, there is no release to go back to…). */
int ssh_rollout(const struct cluster *c, const struct instance *in, enum ssh_rollout what,
		const struct exec_options *eo, size_t *failed, struct error *err);

#endif
