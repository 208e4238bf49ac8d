/* The revision store: policy generations (who, when, which objects changed),
 * the desired state of each generation, and the log of applied actions. One
 * interface, several backends (SQLite is the embedded default); a backend is
 * one file implementing struct store_backend (store_backend.h). */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "base/error.h"

#include <stddef.h>

struct store;
struct store_txn;

enum store_change_kind { STORE_CREATED, STORE_UPDATED, STORE_DELETED };

/* One object changed by a generation; body is its JSON (NULL when deleted). */
struct store_change {
	const char *kind, *ns, *name;
	enum store_change_kind change;
	const char *body;
};

struct store_generation {
	long long generation;
	const char *user;
	const char *verb; /* "apply", "delete", ... */
	long long time;   /* unix seconds, UTC */
	size_t created, updated, deleted;
};

/* Opens (creating if needed) the store at location: a path or sqlite:PATH.
 * The parent directory is created. Errors name the location. */
int store_open(struct store **out, const char *location, struct error *err);
void store_close(struct store *s);

/* Takes the write lock: until store_commit_generation() or store_abort(),
 * reads through s see a stable store and no other writer can commit, so a
 * read-modify-write is serialized with every other process. */
int store_begin(struct store *s, struct store_txn **out, struct error *err);
void store_abort(struct store_txn *t);
/* Records generation N+1 with its changes and desired state, and commits.
 * The transaction is finished either way. */
int store_commit_generation(struct store_txn *t, const char *user, const char *verb,
			    const struct store_change *changes, size_t n, const char *state_json,
			    long long *generation, struct error *err);

/* The latest generation, 0 when there is none. */
int store_current_generation(struct store *s, long long *out, struct error *err);

typedef int (*store_object_fn)(void *ctx, const char *kind, const char *ns, const char *name,
			       const char *body);
/* Calls fn for every object of generation gen, in (kind, ns, name) order;
 * a non-zero return from fn stops the walk and is returned. */
int store_list_objects(struct store *s, long long gen, store_object_fn fn, void *ctx,
		       struct error *err);

typedef int (*store_generation_fn)(void *ctx, const struct store_generation *g);
/* Calls fn for every generation, newest first. */
int store_log(struct store *s, store_generation_fn fn, void *ctx, struct error *err);

typedef int (*store_diff_fn)(void *ctx, const char *kind, const char *ns, const char *name,
			     const char *old_body, const char *new_body);
/* Calls fn for every object that differs between generations `from` and `to`
 * (old_body NULL: created; new_body NULL: deleted). */
int store_diff(struct store *s, long long from, long long to, store_diff_fn fn, void *ctx,
	       struct error *err);

/* The desired state stored with generation gen (heap string, free() it), or
 * NULL when gen is 0 or has none. */
int store_load_state(struct store *s, long long gen, char **json, struct error *err);

/* The outcome of one applied action (executor). */
struct store_action {
	long long generation;
	const char *action, *instance, *status, *message;
	long long started, finished;
};

int store_record_action(struct store *s, const struct store_action *a, struct error *err);
typedef int (*store_action_fn)(void *ctx, const struct store_action *a);
/* Actions recorded for generation gen, in the order recorded. */
int store_list_actions(struct store *s, long long gen, store_action_fn fn, void *ctx,
		       struct error *err);

#endif
