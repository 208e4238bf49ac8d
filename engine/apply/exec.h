/* The executor: runs a graph of actions (create a container, remove a
 * network…) with bounded parallelism. An action starts once every action it
 * depends on succeeded; one whose dependency failed is skipped. Transient
 * failures are retried with exponential backoff (2, 4, 8, 16 s… capped) up to
 * a number of attempts; each action has a deadline. Outcomes are reported,
 * in the calling thread, as they happen (to record them and show progress).
 * Drivers add the actions; the executor knows nothing about what they do. */
#ifndef CAIRN_EXEC_H
#define CAIRN_EXEC_H

#include "base/error.h"
#include "base/strbuf.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct exec;

/* What an action function is told: when it must give up, and which try this is. */
struct exec;

struct exec_call {
	long long deadline_ms; /* monotonic clock (clock_ms()) */
	unsigned attempt;      /* 1 for the first try */
	/* What a success did, when worth saying ("12 files, 3.1 MB copied"):
	 * it becomes the action's message. */
	struct strbuf *note;
	/* private: where exec_call_progress writes */
	struct exec *exec;
	size_t index;
};

/* How far a running action is ("3400 of 10000 files"), for progress lines:
 * the action's progress from the next tick on. Any thread. */
void exec_call_progress(const struct exec_call *ec, const char *text);

/* Runs one action. Returns 0 on success; -1 with err set on failure, of
 * kind ERROR_TRANSIENT when trying again later may succeed (no response
 * from the engine, a 5xx): the executor then retries it. Called from a
 * worker thread. */
typedef int (*exec_fn)(void *ctx, const struct exec_call *call, struct error *err);

enum exec_status { EXEC_PENDING, EXEC_RUNNING, EXEC_DONE, EXEC_FAILED, EXEC_SKIPPED, EXEC_CANCELLED };

/* "pending", "running", "ok", "failed", "skipped", "cancelled". */
const char *exec_status_name(enum exec_status s);

struct exec_action {
	const char *verb;   /* e.g. "create" */
	const char *target; /* e.g. the instance key */
	const char *where;  /* e.g. the cluster */
	enum exec_status status;
	unsigned attempts;
	long long started_ms, finished_ms; /* wall clock, unix ms */
	char *message;      /* the error, or why it was skipped; when done, NULL or
			       what it did (exec_call.note) */
	char *progress;     /* while it runs, what it said of how far it is, or NULL */
};

struct exec_options {
	unsigned parallel;       /* actions at once, 0: 8 */
	unsigned attempts;       /* tries per action, 0: 5 */
	long long backoff_ms;    /* first retry delay (doubles), 0: 2000 */
	long long backoff_max_ms;/* cap of the delay, 0: 16000 */
	long long timeout_ms;    /* per action, 0: 300000 */
	/* Set (e.g. from a SIGINT handler) to stop: no new action starts,
	 * running ones finish, the rest are cancelled. May be NULL. */
	volatile sig_atomic_t *stop;
	/* Called in exec_run's thread when an action starts (a->status RUNNING)
	 * and when it ends, and every tick (a == NULL) for progress. */
	void (*report)(void *ctx, const struct exec *x, const struct exec_action *a);
	void *report_ctx;
};

struct exec *exec_new(const struct exec_options *opts);
/* Frees x and every action's ctx with the free function given to exec_add. */
void exec_free(struct exec *x);

/* Adds an action; returns its index. verb, target and where are copied.
 * free_ctx (may be NULL) is called on ctx by exec_free. */
size_t exec_add(struct exec *x, const char *verb, const char *target, const char *where,
		exec_fn fn, void *ctx, void (*free_ctx)(void *));
/* Action `after` starts only once action `before` succeeded. */
void exec_order(struct exec *x, size_t before, size_t after);

/* Runs every action; returns the number that did not succeed (failed,
 * skipped or cancelled). */
size_t exec_run(struct exec *x);

size_t exec_count(const struct exec *x);
const struct exec_action *exec_get(const struct exec *x, size_t i);
/* Counts by status, for progress: out[EXEC_CANCELLED + 1]. */
void exec_tally(const struct exec *x, size_t out[]);

#endif
