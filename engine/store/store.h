/* The revision store: policy generations (who, when, which objects changed),
 * the desired state of each generation, and the log of applied actions. One
 * interface, several backends (SQLite is the embedded default); a backend is
 * one file implementing struct store_backend (store_backend.h).
 *
 * A struct store is one connection: use it from one thread at a time. Strings
 * handed to callbacks are valid only during the call; copy what you keep. */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>

struct store;
struct store_txn;

enum store_change_kind { STORE_CREATED, STORE_UPDATED, STORE_DELETED };

/* "created", "updated" or "deleted". */
const char *store_change_name(enum store_change_kind change);

/* One object changed by a generation; body is its new JSON (NULL when deleted). */
struct store_change {
	const char *kind, *ns, *name;
	enum store_change_kind change;
	const char *body;
};

/* One generation as the log shows it, with how many objects it changed. */
struct store_generation {
	long long generation;
	const char *user;
	const char *verb; /* "apply", "delete", ... */
	long long time;   /* unix seconds, UTC */
	size_t created, updated, deleted;
};

/* Opens the store at location, creating the database and its schema (and the
 * directory above it) when missing. location is a path or sqlite:PATH;
 * postgres:// is refused until that backend exists. Errors name the location:
 * "cannot open state database .cairn/state.db: file is not a database". */
int store_open(struct store **out, const char *location, struct error *err);
/* Closes s, rolling back a transaction left open; store_close(NULL) does nothing. */
void store_close(struct store *s);

/* Takes the write lock (waiting up to 10 s for another writer): until
 * store_commit_generation() or store_abort(), reads through s see a stable
 * store and no other process can commit, so a read-modify-write is serialized
 * with every other writer. One transaction per store at a time. */
int store_begin(struct store *s, struct store_txn **out, struct error *err);
/* Rolls back: nothing of the transaction is kept. store_abort(NULL) does nothing. */
void store_abort(struct store_txn *t);
/* Records generation N+1 (N the latest) made by user with verb at the current
 * time: its changes, the new object versions and the desired state (JSON,
 * may be NULL), then commits. A change must match the store: created objects
 * must not exist, updated and deleted ones must; each object at most once;
 * created and updated ones need a body. The transaction is finished either
 * way (rolled back on error). */
int store_commit_generation(struct store_txn *t, const char *user, const char *verb,
			    const struct store_change *changes, size_t n, const char *state_json,
			    long long *generation, struct error *err);
/* The same, stamped with `when` (unix seconds) instead of the clock. */
int store_commit_generation_at(struct store_txn *t, const char *user, const char *verb,
			       long long when, const struct store_change *changes, size_t n,
			       const char *state_json, long long *generation, struct error *err);

/* The latest generation, 0 when there is none. */
int store_current_generation(struct store *s, long long *out, struct error *err);

typedef int (*store_object_fn)(void *ctx, const char *kind, const char *ns, const char *name,
			       const char *body);
/* Calls fn for every object of generation gen (0: the empty store before the
 * first), in (kind, ns, name) order; a non-zero return from fn stops the walk
 * and is returned. A generation that does not exist is an error. */
int store_list_objects(struct store *s, long long gen, store_object_fn fn, void *ctx,
		       struct error *err);

typedef int (*store_generation_fn)(void *ctx, const struct store_generation *g);
/* Calls fn for every generation, newest first; a non-zero return stops. */
int store_log(struct store *s, store_generation_fn fn, void *ctx, struct error *err);

/* Fills *out with generation gen; its strings are heap copies freed by
 * store_generation_release(). A generation that does not exist is an error. */
int store_generation_get(struct store *s, long long gen, struct store_generation *out,
			 struct error *err);
void store_generation_release(struct store_generation *g);

typedef int (*store_change_fn)(void *ctx, const struct store_change *c, const char *old_body);
/* Calls fn for every object generation gen changed, in (kind, ns, name)
 * order, with its body before (NULL when created) and after (c->body, NULL
 * when deleted); a non-zero return stops and is returned. */
int store_generation_changes(struct store *s, long long gen, store_change_fn fn, void *ctx,
			     struct error *err);

typedef int (*store_diff_fn)(void *ctx, const char *kind, const char *ns, const char *name,
			     const char *old_body, const char *new_body);
/* Calls fn, in (kind, ns, name) order, for every object that differs between
 * generations `from` and `to` (either may be 0, the empty store; from > to
 * gives the reverse diff): old_body NULL means created, new_body NULL
 * deleted. A non-zero return from fn stops and is returned. */
int store_diff(struct store *s, long long from, long long to, store_diff_fn fn, void *ctx,
	       struct error *err);

/* The desired state stored with generation gen (0: the latest) as a heap
 * string (free() it), or NULL when there is no generation yet or it has none. */
int store_load_state(struct store *s, long long gen, char **json, struct error *err);

/* The outcome of one applied action (executor). message may be NULL. */
struct store_action {
	long long generation;
	const char *action, *instance, *status, *message;
	long long started, finished; /* unix seconds, UTC */
};

/* Appends a to the action log (its own transaction, or the open one). */
int store_record_action(struct store *s, const struct store_action *a, struct error *err);
typedef int (*store_action_fn)(void *ctx, const struct store_action *a);
/* Actions recorded for generation gen, in the order recorded; a non-zero
 * return from fn stops and is returned. */
int store_list_actions(struct store *s, long long gen, store_action_fn fn, void *ctx,
		       struct error *err);

/* The converge lock: one apply at a time per store, across processes, so
 * two applies never interleave their actions. With wait, blocks until the
 * holder finishes; without, returns -1 with *busy set when it is held. The
 * lock is released by store_unlock_apply() or when the process dies. */
int store_lock_apply(struct store *s, bool wait, bool *busy, struct error *err);
void store_unlock_apply(struct store *s);

#endif
