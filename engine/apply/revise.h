/* Policy revisions: applying or deleting a set of objects as a user. Every
 * object is checked against the ACL of the policy as it was, the result is
 * validated and resolved, and — unless it is a dry run — committed to the
 * store as one new generation together with its desired state. All or
 * nothing: a refusal changes nothing. Used by the CLI, the server and specs. */
#ifndef CAIRN_REVISE_H
#define CAIRN_REVISE_H

#include "engine/core/engine.h"

struct store;

/* ROLLBACK: the objects become those of generation rollback_to (the way
 * `git revert` keeps history); only the objects that change are judged by
 * the ACL, each as an apply or a delete of it would be. */
enum revise_verb { REVISE_APPLY, REVISE_DELETE, REVISE_ROLLBACK };

/* In-memory YAML (server request bodies, specs). */
struct revise_text {
	const char *name; /* for positions, e.g. "request" */
	const char *text;
	size_t len;
};

struct revise_request {
	enum revise_verb verb;
	const char *user;
	const char *const *paths; /* files or directories */
	size_t npaths;
	const struct revise_text *texts;
	size_t ntexts;
	long long rollback_to; /* REVISE_ROLLBACK: the generation whose objects come back */
	bool dry_run;
	/* What the policy log records instead of "apply"/"delete" (e.g. "expire"); NULL: those. */
	const char *log_verb;
	/* Act as the built-in `system` identity instead of `user`: a domain admin
	 * that is not in the users file and cannot log in, for the server's own
	 * work (expiry). The generation is recorded as made by "system". */
	bool system;
};

/* The name the built-in identity is recorded under. */
#define REVISE_SYSTEM_USER "system"

enum revise_status {
	REVISE_DONE,      /* committed (or, for a dry run, would be) */
	REVISE_UNCHANGED, /* every object was already as given: no new generation */
};

struct revise_result {
	enum revise_status status;
	struct diags diags;       /* every reason for a refusal */
	long long generation;     /* the new one; the current one when unchanged or dry */
	size_t created, updated, deleted;
	struct policy *policy;    /* the policy after the change */
	struct resolution *resolution;
	struct state *state;      /* desired state after the change */
	struct plan *plan;        /* from the last stored state to `state` */
};

/* Runs the request. Returns 0 with res->status set, or -1 with err: a
 * refusal (error_is_refusal: ERROR_FORBIDDEN when the ACL gave one of the
 * reasons, else ERROR_INPUT; err says the first, res->diags all of them),
 * or a failure that is not the user's (the store, I/O). Either way nothing
 * changed. */
int revise_policy(struct store *store, struct intern *in, const struct users *users,
		  const struct revise_request *req, struct revise_result *res, struct error *err);
void revise_result_release(struct revise_result *res);

/* The policy of a generation (0: the latest), validated, plus its number.
 * Objects are named "generation N" in positions. */
int revise_load_generation(struct store *store, struct intern *in, long long generation,
			   struct policy **out, long long *number, struct error *err);

#endif
