/* Running programs: no shell (argv is passed as is, so no quoting problems
 * and no injection), each started the same way: its standard streams set,
 * no other descriptor of ours, signals as a fresh process has them. */
#ifndef CAIRN_RUN_H
#define CAIRN_RUN_H

#include "error.h"
#include "strbuf.h"

#include <stdbool.h>
#include <sys/types.h>

/* Runs argv[0] (looked up in PATH when it has no '/') with argv, waits, and
 * appends its output, stdout and stderr together, to out (may be NULL).
 * *status is its exit status, or 128 + the signal that killed it. -1 with
 * err only when it could not run. For short commands such as `nginx -t`. */
int run_capture(const char *const argv[], struct strbuf *out, int *status, struct error *err);

/* How run_spawn starts a program; RUN_SPAWN_INIT reads and writes /dev/null. */
struct run_spawn {
	/* descriptors its stdin, stdout and stderr are copies of; -1: /dev/null */
	int in, out, err;
	/* its stderr is this file, created or truncated, mode 0600 */
	const char *err_path;
	/* its own process group, so that a Ctrl-C meant for cairn does not
	 * reach it while cairn cleans up */
	bool own_group;
};
#define RUN_SPAWN_INIT { .in = -1, .out = -1, .err = -1 }

/* Starts argv[0] (looked up in PATH when it has no '/'). Every other
 * descriptor is closed in it; no signal is blocked and SIGPIPE, SIGINT,
 * SIGTERM and SIGHUP have their default action. Returns 0 and *pid, or
 * the errno value of why it could not start (ENOENT: not installed). */
int run_spawn(const char *const argv[], const struct run_spawn *how, pid_t *pid);

/* Waits for pid (through EINTR); its exit status, or 128 + the signal
 * that killed it; -1 when pid is not our child. */
int run_wait(pid_t pid);

#endif
