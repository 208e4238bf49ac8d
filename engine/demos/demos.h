/* Demos: an environment on the engine, asked for with one call. A demo is a
 * dependency `demo-<random>` on a contract, made as the asking user (the
 * ACL applies), with labels saying which demo it is, its host name
 * (<random>.demo.<domain>) and who asked, and an expiry (seven days by
 * default), after which the server's reaper removes it like any expired
 * dependency. Its data comes from the contract's service: a component with
 * `data: {dataset: …}` runs the newest prepared snapshot. Used by the CLI
 * (`cairn demo`) and the server (`/api/v1/demos`). */
#ifndef CAIRN_DEMOS_H
#define CAIRN_DEMOS_H

#include "base/error.h"
#include "engine/core/engine.h"
#include "engine/apply/exec.h"
#include "engine/jobs/daily.h"

#include <jansson.h>
#include <stdbool.h>

struct store;
struct fleet;

/* How long a demo lives unless asked otherwise. */
#define DEMO_TTL_DEFAULT "7d"
/* The labels a demo's dependency carries. */
#define DEMO_LABEL "demo"             /* its random name: the contract's allocation key */
#define DEMO_LABEL_HOST "host"        /* <random>.demo.<domain>, for the `host` param */
#define DEMO_LABEL_BY "requested-by"  /* who asked */
#define DEMO_LABEL_SNAPSHOT "snapshot" /* the data: an id, or latest (demo refresh) */

struct demo_request {
	const char *contract;     /* NAMESPACE/NAME; the demo goes into its namespace */
	const char *user;         /* the dependency's user: the ACL applies */
	const char *requested_by; /* NULL: user */
	const char *ttl;          /* a duration (90m, 24h, 7d); NULL: DEMO_TTL_DEFAULT */
	const char *domain;       /* host names end in .demo.<domain>; NULL: localhost */
};

struct demo_created {
	char *id, *host;          /* "ns/demo-<random>", "<random>.demo.<domain>" */
	long long expires;        /* unix seconds */
	long long generation;
};

/* Makes the demo's dependency, as a new generation. Returns 0, or -1 with
 * err, and then nothing changed. A request the ACL or the policy refuses,
 * or whose dependency would not resolve, is a refusal (error_is_refusal:
 * ERROR_FORBIDDEN when the ACL gave a reason), every reason in refused;
 * anything else (the store, I/O) is not. Nothing is converged: the caller
 * does. */
int demo_request(struct store *s, struct intern *in, const struct users *users,
		 const struct demo_request *r, struct demo_created *out, struct diags *refused,
		 struct error *err);
void demo_created_release(struct demo_created *c);

/* The demos of a resolved policy (dependencies labelled `demo`), as a JSON
 * array of {id, namespace, name, user, requested_by, contract, host,
 * expires, pinned, resolved, reason, state, url, snapshot, build}; the last
 * five come from fleet (what runs), null without it. New reference. */
json_t *demo_list(const struct resolution *r, const struct fleet *fleet);

/* `demo refresh`: the data of dependency ns/name moves to the newest
 * prepared snapshot and stays there: label snapshot: latest, a converge
 * (with eo), then label snapshot: <the id it runs now>, as user. Same
 * returns as demo_request; -1 with err when the converge did not bring the
 * data up. */
struct demo_refreshed {
	char *snapshot;
	long long generation;
	size_t unsuccessful; /* actions of the converge */
};
int demo_refresh(struct store *s, struct intern *in, const struct users *users,
		 const char *id, const char *user, const struct exec_options *eo,
		 struct demo_refreshed *out, struct diags *refused, struct error *err);
void demo_refreshed_release(struct demo_refreshed *r);

/* The `demos:` section of the server's config file:
 *   demos:
 *     domain: example.test        # default: the config's `domain`, else localhost
 *     contracts:                  # what the web page offers
 *       - {contract: demo/shop, ttl: 7d}
 *     snapshots: DIR              # default: snapshots/ beside a SQLite state
 *     schedule_interval: 30s      # how often scheduled datasets and backups are looked at
 * Errors go to d with file:line:col. A file without it offers nothing. */
struct demo_offer {
	char *contract; /* NAMESPACE/NAME */
	char *ttl;      /* default DEMO_TTL_DEFAULT */
};
struct demos_config {
	char *domain;
	struct demo_offer *offers;
	size_t noffers;
	char *snapshots;         /* as given (relative to the config file's directory), or NULL */
	long long interval_ms;   /* 0: the default */
};
int demos_config_load(struct demos_config **out, const char *path, struct diags *d);
void demos_config_free(struct demos_config *c);
/* The offer of contract, NULL when it offers no demos. */
const struct demo_offer *demos_offer(const struct demos_config *c, const char *contract);

/* The build of dataset ds (heap, NULL when it has none): its fixed build,
 * or the image tag its `build: {dependency, component}` runs in r (r is
 * only read then). */
int dataset_build(const struct resolution *r, const struct dataset *ds, char **out,
		  struct error *err);

/* A dataset's refresh, what its `schedule` runs: a snapshot of the latest
 * generation's dataset into the directory snapshots (a failure leaves the
 * snapshots as they were), prepared on every docker cluster of the policy
 * (the local engine when it has none), then the images of the snapshots
 * `keep` deleted removed (kept where a demo still runs one). -1 with err
 * when the snapshot or a prepare failed (err says what was done). */
struct dataset_refreshed {
	char *id;      /* the snapshot */
	long long rows;
	char *message; /* what was done, for the job */
};
int dataset_refresh(struct store *s, struct intern *in, const struct users *users,
		    const char *dataset, const char *snapshots, struct dataset_refreshed *out,
		    struct error *err);
void dataset_refreshed_release(struct dataset_refreshed *r);

/* `cairn serve`'s refresh of datasets: the job DEMOS_REFRESH_JOB (payload
 * {"dataset": "NS/NAME"}) runs dataset_refresh; demos_daily_task has the
 * daily schedule queue it for each dataset with a `schedule`, once a day at
 * or after its time (key dataset:NS/NAME, fact dataset-scheduled:NS/NAME). */
#define DEMOS_REFRESH_JOB "dataset-refresh"
extern const struct daily_task demos_daily_task;
struct demos_schedule;
struct demos_schedule_env {
	const char *users_path, *secrets_path;
	const char *snapshots; /* the snapshot directory */
	struct jobs *jobs;     /* the job kind is registered here */
};
int demos_schedule_new(struct demos_schedule **out, const struct demos_schedule_env *env,
		       struct error *err);
/* After the jobs stopped. */
void demos_schedule_free(struct demos_schedule *ds);

/* Deletes demo id (a dependency labelled demo) as user; res then holds the
 * new generation to converge to (revise_result_release it). Same returns
 * as demo_request. */
struct revise_result;
int demo_delete(struct store *s, struct intern *in, const struct users *users, const char *id,
		const char *user, struct revise_result *res, struct diags *refused,
		struct error *err);

#endif
