/* What a store backend implements; store.c checks arguments and dispatches
 * to it. Internal to the store module: a new backend is one file defining a
 * struct store_backend and one line in store.c's table. */
#ifndef CAIRN_STORE_BACKEND_H
#define CAIRN_STORE_BACKEND_H

#include "store.h"

/* Generation numbers reaching a backend are already checked: they exist (or
 * are 0, the empty store, where the operation allows it). */
struct store_backend {
	const char *name;
	/* Whether location is this backend's (then open() is called with it). */
	int (*accepts)(const char *location);
	int (*open)(struct store **out, const char *location, struct error *err);
	void (*close)(struct store *s);
	int (*begin)(struct store *s, struct store_txn **out, struct error *err);
	void (*abort)(struct store_txn *t);
	/* Must finish the transaction (commit, or roll back on error). */
	int (*commit_generation)(struct store_txn *t, const char *user, const char *verb,
				 long long when, const struct store_change *changes, size_t n,
				 const char *state_json, long long *generation, struct error *err);
	int (*current_generation)(struct store *s, long long *out, struct error *err);
	/* Objects of generation gen that generation `except` does not have in the
	 * same version (except < 0: none excluded), in (kind, ns, name) order. */
	int (*list_objects)(struct store *s, long long gen, long long except, store_object_fn fn,
			    void *ctx, struct error *err);
	int (*last_changes)(struct store *s, const char *kind, store_changed_fn fn, void *ctx,
			    struct error *err);
	int (*log)(struct store *s, store_generation_fn fn, void *ctx, struct error *err);
	int (*generation_get)(struct store *s, long long gen, struct store_generation *out,
			      struct error *err);
	int (*generation_changes)(struct store *s, long long gen, store_change_fn fn, void *ctx,
				  struct error *err);
	/* *json stays NULL when the generation has no state. */
	int (*load_state)(struct store *s, long long gen, char **json, struct error *err);
	int (*record_action)(struct store *s, const struct store_action *a, struct error *err);
	int (*list_actions)(struct store *s, long long gen, store_action_fn fn, void *ctx,
			    struct error *err);
	/* The converge lock (store_lock_apply); ERROR_BUSY when wait is false
	 * and another holder has it. */
	int (*lock_apply)(struct store *s, bool wait, struct error *err);
	void (*unlock_apply)(struct store *s);

	/* Server data (store.h): arguments are checked, strings non-NULL except
	 * where store.h allows NULL; out-parameters are reset by store.c. */
	int (*token_add)(struct store *s, const char *user, const char *name, const char *hash,
			 long long *id, struct error *err);
	/* Fills t (user and name heap) with last_used as it was, then stamps now. */
	int (*token_use)(struct store *s, const char *hash, long long now, struct store_token *t,
			 bool *found, struct error *err);
	int (*token_revoke)(struct store *s, long long id, bool *found, struct error *err);
	int (*token_list)(struct store *s, store_token_fn fn, void *ctx, struct error *err);
	int (*work_begin)(struct store *s, struct error *err);
	int (*work_commit)(struct store *s, struct error *err);
	void (*work_abort)(struct store *s);
	int (*delivery_claim)(struct store *s, const char *source, const char *id, long long now,
			      bool *fresh, struct error *err);
	int (*job_enqueue)(struct store *s, const char *kind, const char *key, const char *payload,
			   bool supersede, long long now, long long *id, struct error *err);
	/* Requeues expired leases, then claims, in one transaction. */
	int (*job_claim)(struct store *s, long long now, const char *owner, long long lease_until,
			 struct store_job *out, bool *found, struct error *err);
	int (*job_renew)(struct store *s, const char *owner, long long lease_until, long long now,
			 size_t *n, struct error *err);
	/* Ends a job owner runs (status done, failed, cancelled) or, with
	 * status queued, puts it back in the queue due at not_before. */
	int (*job_finish)(struct store *s, long long id, const char *owner,
			  enum store_job_status status, const char *message, long long not_before,
			  long long now, struct error *err);
	int (*job_get)(struct store *s, long long id, struct store_job *out, bool *found,
		       struct error *err);
	/* Requeues the running jobs of owner or, owner NULL, those whose lease
	 * ended before now. */
	int (*job_requeue)(struct store *s, const char *owner, long long now, size_t *n,
			   struct error *err);
	int (*job_list)(struct store *s, size_t limit, store_job_fn fn, void *ctx, struct error *err);
	/* value NULL deletes. */
	int (*kv_set)(struct store *s, const char *key, const char *value, long long now,
		      struct error *err);
	int (*kv_get)(struct store *s, const char *key, char **value, struct error *err);
	int (*kv_advance)(struct store *s, const char *key, const char *value, long long now,
			  bool *advanced, struct error *err);
	int (*kv_list)(struct store *s, const char *prefix, store_kv_fn fn, void *ctx,
		       struct error *err);
};

/* Every backend's store starts with this header. */
struct store {
	const struct store_backend *backend;
};

struct store_txn {
	struct store *store;
};

extern const struct store_backend store_sqlite;
extern const struct store_backend store_postgres;

/* Shared by the backends. */
int store_job_status_parse(const char *name, enum store_job_status *out);
/* Copies a job's strings to the heap (a backend's row into store_job_get's out). */
void store_job_copy(struct store_job *out, const struct store_job *row);

#endif
