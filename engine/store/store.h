/* The revision store: policy generations (who, when, which objects changed),
 * the desired state of each generation, and the log of applied actions. One
 * interface, several backends (SQLite is the embedded default); a backend is
 * one file implementing struct store_backend (store_backend.h).
 *
 * A struct store is one connection: use it from one thread at a time. Strings
 * handed to callbacks are valid only during the call; copy what you keep.
 *
 * A failure says its kind (base/error.h): ERROR_TRANSIENT when the database
 * cannot be reached (it restarted, it is down; the next call connects
 * again), ERROR_BUSY when another process holds a lock, ERROR_NOT_FOUND for
 * a generation or job that does not exist, ERROR_IO for the disk. */
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
	const char *origin; /* where it was written (policy.h object.origin), or NULL */
};

/* One generation as the log shows it, with how many objects it changed. */
struct store_generation {
	long long generation;
	const char *user;
	const char *verb; /* "apply", "delete", ... */
	long long time;   /* unix seconds, UTC */
	size_t created, updated, deleted;
};

/* "<directory of a SQLite state>/name" (heap), or NULL when the location is
 * PostgreSQL: where files that go with a state (snapshots, caches) live. */
char *store_beside(const char *location, const char *name);

/* Opens the store at location, creating the database and its schema (and the
 * directory above it) when missing. location is a path, sqlite:PATH, or a
 * libpq URI postgres://... or postgresql://... (the database must exist; its
 * tables are created, and an older schema is upgraded in place). Errors name
 * the location, with any password in it shown as ***:
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

/* origin: where the object was written (NULL for objects stored without). */
typedef int (*store_object_fn)(void *ctx, const char *kind, const char *ns, const char *name,
			       const char *body, const char *origin);
/* Calls fn for every object of generation gen (0: the empty store before the
 * first), in (kind, ns, name) order; a non-zero return from fn stops the walk
 * and is returned. A generation that does not exist is an error. */
int store_list_objects(struct store *s, long long gen, store_object_fn fn, void *ctx,
		       struct error *err);

typedef int (*store_changed_fn)(void *ctx, const char *ns, const char *name, long long generation,
				long long time);
/* For every object of kind in the latest generation, in (ns, name) order:
 * the generation that last created or updated it and that generation's
 * time. One indexed query, however long the history (expiry counts a ttl
 * from it). A non-zero return from fn stops and is returned. */
int store_last_changes(struct store *s, const char *kind, store_changed_fn fn, void *ctx,
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
 * holder finishes; without, returns -1 with an ERROR_BUSY error when it is
 * held. The lock is released by store_unlock_apply() or when the process dies. */
int store_lock_apply(struct store *s, bool wait, struct error *err);
void store_unlock_apply(struct store *s);

/* ---- Server data: API tokens, webhook deliveries, jobs, small facts ----
 * Same guarantees on every backend; each call is its own transaction. */

/* API tokens. Only a hash of each token is stored (the caller hashes it:
 * hex SHA-256), so a leaked database gives no usable token. */
struct store_token {
	long long id;
	const char *user, *name;
	long long created, last_used; /* unix seconds; last_used 0 when never */
	bool revoked;
};
/* name may be NULL (stored as ""); a hash already stored is an error. */
int store_token_add(struct store *s, const char *user, const char *name, const char *hash,
		    long long *id, struct error *err);
/* The unrevoked token with this hash: *found, and t with its user and name
 * as heap copies (store_token_release) and last_used as it was before this
 * use, which is stamped. */
int store_token_use(struct store *s, const char *hash, struct store_token *t, bool *found,
		    struct error *err);
void store_token_release(struct store_token *t);
/* *found false when no token has that id. */
int store_token_revoke(struct store *s, long long id, bool *found, struct error *err);
typedef int (*store_token_fn)(void *ctx, const struct store_token *t);
/* Every token, oldest first; a non-zero return from fn stops and is returned. */
int store_token_list(struct store *s, store_token_fn fn, void *ctx, struct error *err);

/* A transaction of server data alone (tokens, deliveries, jobs, facts; not
 * generations): the calls between store_work_begin() and store_work_commit()
 * take effect together or, after store_work_abort() or a crash, not at all —
 * a delivery is never marked seen without its job queued. Writers of other
 * connections wait meanwhile: keep it short. */
int store_work_begin(struct store *s, struct error *err);
int store_work_commit(struct store *s, struct error *err);
void store_work_abort(struct store *s);

/* Webhook deliveries, for de-duplication: *fresh is true only the first time
 * (source, id) is claimed, across processes and servers. */
int store_delivery_claim(struct store *s, const char *source, const char *id, bool *fresh,
			 struct error *err);

/* Jobs: work the server does in the background (reconciles, webhook work),
 * kept in the store so that a job in flight when the server dies is resumed.
 * Jobs with the same key (e.g. "pr:owner/repo#12") run one at a time, oldest
 * first. */
enum store_job_status { STORE_JOB_QUEUED, STORE_JOB_RUNNING, STORE_JOB_DONE, STORE_JOB_FAILED,
			STORE_JOB_CANCELLED };
/* "queued", "running", "done", "failed", "cancelled". */
const char *store_job_status_name(enum store_job_status status);

struct store_job {
	long long id;
	const char *kind, *key, *payload; /* payload: JSON, may be NULL */
	enum store_job_status status;
	bool cancel_requested; /* a newer job of the key superseded this running one */
	int attempts;          /* claims so far */
	long long not_before, created, updated; /* unix seconds */
	const char *message;   /* last outcome or error, may be NULL */
	const char *owner;     /* the server running it (store_job_claim), NULL when none */
	long long lease_until; /* unix seconds: the owner's hold ends then unless renewed */
};
/* Queues a job due now. With supersede, the queued jobs of the same key are
 * cancelled ("superseded by job N") and a running one gets cancel_requested,
 * so the newest job of a key wins. */
int store_job_enqueue(struct store *s, const char *kind, const char *key, const char *payload,
		      bool supersede, long long *id, struct error *err);
/* Claims the oldest queued job due at `now` whose key has no running job
 * (and no older queued job, so a key's jobs keep their order even while one
 * waits for a retry): it becomes running, held by owner until now + lease_s,
 * and its attempts grow by one. Running jobs whose lease ended before now
 * go back to the queue first (their server died): they are taken over.
 * Atomic across processes: a job is never claimed twice. *found false when
 * none is due. Fills out with heap copies (store_job_release). */
int store_job_claim(struct store *s, long long now, const char *owner, long long lease_s,
		    struct store_job *out, bool *found, struct error *err);
/* Extends to lease_until the lease of every job owner runs (a heartbeat);
 * *n counts them. A job another server took over is no longer owner's. */
int store_job_renew(struct store *s, const char *owner, long long lease_until, size_t *n,
		    struct error *err);
/* Ends a job owner runs as done, failed or cancelled; message may be NULL. */
int store_job_finish(struct store *s, long long id, const char *owner, enum store_job_status status,
		     const char *message, struct error *err);
/* Puts a job owner runs back in the queue, due at not_before (a retry).
 * cancel_requested stays set, so whoever claims it next sees it. Finishing
 * or retrying a job that is not running, or that another owner took over,
 * is an error. */
int store_job_retry(struct store *s, long long id, const char *owner, long long not_before,
		    const char *message, struct error *err);
/* One job by id (heap copies); *found false when none. */
int store_job_get(struct store *s, long long id, struct store_job *out, bool *found,
		  struct error *err);
void store_job_release(struct store_job *j);
/* Running jobs whose lease ended before now go back to the queue, due now,
 * their attempts kept; *n counts them (store_job_claim does it too). */
int store_job_requeue_expired(struct store *s, size_t *n, struct error *err);
/* A server that stops puts back the jobs it runs: due now, attempts kept. */
int store_job_release_owned(struct store *s, const char *owner, size_t *n, struct error *err);
typedef int (*store_job_fn)(void *ctx, const struct store_job *j);
/* The newest `limit` jobs (0: all), newest first. */
int store_job_list(struct store *s, size_t limit, store_job_fn fn, void *ctx, struct error *err);

/* Small named facts that outlive a process (e.g. that a pull request was
 * closed). value NULL deletes the key. */
int store_kv_set(struct store *s, const char *key, const char *value, struct error *err);
/* *value a heap copy (free() it), NULL when the key is absent. */
int store_kv_get(struct store *s, const char *key, char **value, struct error *err);
/* Sets key to value when it is absent or holds a smaller value (byte
 * order): *advanced is true for the one caller, across processes and
 * servers, that moved it. Schedules claim a period with it ("2026-12-06"). */
int store_kv_advance(struct store *s, const char *key, const char *value, bool *advanced,
		     struct error *err);
/* Calls fn for every key that starts with prefix, in key order; a non-zero
 * return from fn stops the walk and is returned. */
typedef int (*store_kv_fn)(void *ctx, const char *key, const char *value);
int store_kv_list(struct store *s, const char *prefix, store_kv_fn fn, void *ctx, struct error *err);

#endif
