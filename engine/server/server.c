/* The server's config file and lifetime (see server.h). Signals are
 * blocked in every thread and taken by sigwait in the main one, so a
 * SIGTERM never interrupts a handler half-way. */
#include "server.h"

#include "api.h"
#include "auth.h"
#include "http.h"
#include "engine/backup/backup.h"
#include "engine/jobs/jobs.h"
#include "engine/demos/demos.h"
#include "engine/previews/previews.h"
#include "web.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/arena.h"
#include "base/suggest.h"
#include "engine/store/store.h"
#include "policy/policy.h"
#include "policy/yaml.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void server_config_set(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

void server_config_release(struct server_config *c)
{
	free(c->path);
	free(c->listen);
	free(c->state);
	free(c->users);
	free(c->secrets);
	free(c->public_url);
	memset(c, 0, sizeof(*c));
}

static const char *const server_keys[] = { "listen", "state", "users", "secrets", "public_url",
					   "threads", "timeout", "workers", "job_lease", "max_body",
					   "max_connections", "max_connections_per_client", NULL };
/* Read by previews_config_load and demos_config_load from the same file. */
static const char *const environment_keys[] = { "github", "repositories", "expiry", "domain",
						 "demos", NULL };

static bool in_list(const char *const *list, const char *k)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], k) == 0)
			return true;
	return false;
}

static void unknown_key(struct diags *d, const struct ypair *p)
{
	struct suggestion s;
	suggest_begin(&s, p->key->s, SUGGEST_TYPO);
	for (size_t i = 0; server_keys[i]; i++)
		suggest_offer(&s, server_keys[i]);
	for (size_t i = 0; environment_keys[i]; i++)
		suggest_offer(&s, environment_keys[i]);
	const char *best = suggest_best(&s);
	if (best)
		diags_add_at(d, p->key_pos, "unknown key '%s' in the server config (did you mean '%s'?)",
			     p->key->s, best);
	else
		diags_add_at(d, p->key_pos,
			     "unknown key '%s' in the server config (known: listen, state, users, "
			     "secrets, public_url, threads, timeout, workers, job_lease, max_body, "
			     "max_connections, max_connections_per_client, github, "
			     "repositories, expiry, domain, demos)",
			     p->key->s);
}

/* A path relative to the config file's directory; locations with a scheme
 * (postgres://…) are kept as they are. */
static char *relative_to(const char *dir, const char *value)
{
	if (value[0] == '/' || strstr(value, "://"))
		return xstrdup(value);
	const char *prefix = "";
	if (strncmp(value, "sqlite:", 7) == 0) {
		prefix = "sqlite:";
		value += 7;
		if (value[0] == '/')
			return xstrdup(value - 7);
	}
	size_t n = strlen(prefix) + strlen(dir) + strlen(value) + 2;
	char *out = xmalloc(n);
	snprintf(out, n, "%s%s/%s", prefix, dir, value);
	return out;
}

static int number(const struct ynode *v, const char *key, long long min, long long max,
		  long long *out, struct diags *d)
{
	int64_t i;
	if (v->kind != YNODE_SCALAR || ynode_scalar(v, &i, NULL, NULL) != YSCALAR_INT || i < min ||
	    i > max) {
		diags_add_at(d, v->pos, "%s must be a number from %lld to %lld", key, min, max);
		return -1;
	}
	*out = i;
	return 0;
}

int server_config_load(struct server_config *c, const char *path, struct diags *d)
{
	struct arena *a = arena_new();
	struct intern *in = intern_new();
	struct ynode **docs = NULL;
	size_t ndocs = 0, before = d->len;
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	if (!*dir) {
		free(dir);
		dir = xstrdup("/");
	}
	server_config_set(&c->path, path);
	if (yaml_parse_file(a, in, path, &docs, &ndocs, d) < 0)
		goto out;
	if (ndocs == 0 || (docs[0]->kind == YNODE_SCALAR &&
			   ynode_scalar(docs[0], NULL, NULL, NULL) == YSCALAR_NULL))
		goto out;
	if (docs[0]->kind != YNODE_MAP) {
		diags_add_at(d, docs[0]->pos, "the server config must be a mapping, not %s",
			     ynode_describe(docs[0]));
		goto out;
	}
	for (size_t i = 0; i < docs[0]->len; i++) {
		const struct ypair *p = &docs[0]->pairs[i];
		const char *k = p->key->s;
		const struct ynode *v = p->value;
		long long n;
		if (in_list(environment_keys, k))
			continue;
		if (!in_list(server_keys, k)) {
			unknown_key(d, p);
			continue;
		}
		if (strcmp(k, "threads") == 0) {
			if (number(v, k, 1, 256, &n, d) == 0)
				c->threads = (unsigned)n;
			continue;
		}
		if (strcmp(k, "timeout") == 0) {
			if (number(v, k, 1, 3600, &n, d) == 0)
				c->timeout = (unsigned)n;
			continue;
		}
		if (strcmp(k, "workers") == 0) {
			if (number(v, k, 1, 64, &n, d) == 0)
				c->workers = (unsigned)n;
			continue;
		}
		if (strcmp(k, "job_lease") == 0) {
			if (number(v, k, 1, 3600, &n, d) == 0)
				c->job_lease = (unsigned)n;
			continue;
		}
		if (strcmp(k, "max_connections") == 0) {
			if (number(v, k, 1, 100000, &n, d) == 0)
				c->max_connections = (unsigned)n;
			continue;
		}
		if (strcmp(k, "max_connections_per_client") == 0) {
			if (number(v, k, 1, 100000, &n, d) == 0)
				c->max_per_client = (unsigned)n;
			continue;
		}
		if (strcmp(k, "max_body") == 0) {
			if (number(v, k, 1024, 1LL << 30, &n, d) == 0)
				c->max_body = (size_t)n;
			continue;
		}
		if (v->kind != YNODE_SCALAR || ynode_scalar(v, NULL, NULL, NULL) == YSCALAR_NULL ||
		    !*v->str->s) {
			diags_add_at(d, v->pos, "%s must be a string, not %s", k, ynode_describe(v));
			continue;
		}
		const char *s = v->str->s;
		if (strcmp(k, "listen") == 0) {
			server_config_set(&c->listen, s);
		} else if (strcmp(k, "public_url") == 0) {
			server_config_set(&c->public_url, s);
		} else {
			char **field = strcmp(k, "state") == 0 ? &c->state
				       : strcmp(k, "users") == 0 ? &c->users
								 : &c->secrets;
			free(*field);
			*field = relative_to(dir, s);
		}
	}
	if (ndocs > 1)
		diags_add_at(d, docs[1]->pos, "the server config is one YAML document");
out:
	free(dir);
	intern_free(in);
	arena_free(a);
	return d->len > before ? -1 : 0;
}

/* Refuses to start with a users file or store that cannot be used, rather
 * than answering every request with an error. */
static int check_inputs(const struct server_config *c, struct error *err)
{
	struct intern *in = intern_new();
	struct users *u = users_new(in);
	struct diags d = DIAGS_INIT;
	int rc = users_load(u, c->users, &d);
	if (rc == 0 && c->secrets)
		rc = users_load_secrets(u, c->secrets, &d);
	if (rc < 0)
		error_set(err, "%s", d.len ? d.items[0] : "cannot load users");
	diags_release(&d);
	users_free(u);
	intern_free(in);
	if (rc < 0)
		return -1;
	struct store *s = NULL;
	if (store_open(&s, c->state, err) < 0)
		return -1;
	store_close(s);
	return 0;
}

/* What a running server is made of: made in order, taken down in reverse. */
struct server {
	const struct server_config *c;
	struct auth_guard *guard;
	struct jobs *jobs;
	struct previews_config *pc;
	struct demos_config *dc;
	struct previews *previews;
	struct api *api;
	char *snapshots;
	struct demos_schedule *schedule;
	struct backup_jobs *backups;
	struct daily *daily;
	struct http_route routes[64]; /* the API's and the web page's (web.c) */
	size_t nroutes;
	struct http_server *http;
	bool jobs_started, previews_started;
};

/* The config file's sections beyond the server's own. */
static int load_sections(struct server *sv, struct error *err)
{
	struct diags d = DIAGS_INIT;
	int rc = previews_config_load(&sv->pc, sv->c->path, &d);
	if (rc < 0)
		error_set(err, "%s", d.len ? d.items[0] : "cannot load the previews configuration");
	else if ((rc = demos_config_load(&sv->dc, sv->c->path, &d)) < 0)
		error_set(err, "%s", d.len ? d.items[0] : "cannot load the demos configuration");
	diags_release(&d);
	return rc;
}

/* Where scheduled datasets write snapshots: where the config says, else
 * beside a SQLite state, else in the user's data directory (as the CLI). */
static char *snapshots_dir(const struct demos_config *dc, const char *state)
{
	if (dc->snapshots)
		return xstrdup(dc->snapshots);
	char *dir = store_beside(state, "snapshots");
	if (dir)
		return dir;
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	if (asprintf(&dir, "%s%s/cairn/snapshots", xdg && *xdg ? xdg : home ? home : ".",
		     xdg && *xdg ? "" : "/.local/share") < 0)
		abort();
	return dir;
}

/* The job queue and everything that queues or runs jobs: previews, the
 * API, scheduled datasets and backups, the daily schedule. */
static int make_parts(struct server *sv, struct error *err)
{
	const struct server_config *c = sv->c;
	struct jobs_options jo = { .state = c->state, .workers = c->workers,
				   .lease_s = c->job_lease };
	if (jobs_new(&sv->jobs, &jo, err) < 0 || load_sections(sv, err) < 0)
		return -1;
	struct previews_env pe = { .state = c->state, .users_path = c->users,
				   .secrets_path = c->secrets, .jobs = sv->jobs };
	if (previews_new(&sv->previews, sv->pc, &pe, err) < 0)
		return -1;
	struct api_env ae = { .state = c->state, .users_path = c->users, .secrets_path = c->secrets,
			      .public_url = c->public_url, .jobs = sv->jobs,
			      .previews = sv->previews, .demos = sv->dc, .guard = sv->guard };
	if (api_new(&sv->api, &ae, err) < 0)
		return -1;
	jobs_register(sv->jobs, "reconcile", api_reconcile_job, sv->api);
	sv->snapshots = snapshots_dir(sv->dc, c->state);
	struct demos_schedule_env se = { .users_path = c->users, .secrets_path = c->secrets,
					 .snapshots = sv->snapshots, .jobs = sv->jobs };
	if (demos_schedule_new(&sv->schedule, &se, err) < 0)
		return -1;
	/* Scheduled backups: where the CLI keeps them (CAIRN_BACKUPS, or beside
	 * a SQLite state), which is also where replicas are made from. */
	struct backup_jobs_env be = { .users_path = c->users, .secrets_path = c->secrets,
				      .store = backup_default_store(), .jobs = sv->jobs };
	const struct daily_task tasks[] = { demos_daily_task, backup_daily_task };
	if (backup_jobs_new(&sv->backups, &be, err) < 0 ||
	    daily_new(&sv->daily, c->state, sv->jobs, sv->dc->interval_ms, tasks, 2, err) < 0)
		return -1;
	size_t napi, nweb;
	const struct http_route *api_r = api_routes(&napi), *web_r = web_routes(&nweb);
	if (napi + nweb > sizeof(sv->routes) / sizeof(sv->routes[0]))
		return error_set(err, "too many routes (%zu) for the server's table", napi + nweb);
	for (size_t i = 0; i < napi + nweb; i++)
		sv->routes[sv->nroutes++] = i < napi ? api_r[i] : web_r[i - napi];
	return 0;
}

/* The job workers, previews, the daily schedule, then the listener. */
static int start_parts(struct server *sv, struct error *err)
{
	const struct server_config *c = sv->c;
	struct http_options ho = { .listen = c->listen ? c->listen : SERVER_DEFAULT_LISTEN,
				   .threads = c->threads, .timeout_s = c->timeout,
				   .max_body = c->max_body,
				   .max_connections = c->max_connections,
				   .max_per_client = c->max_per_client, .routes = sv->routes,
				   .nroutes = sv->nroutes, .authenticate = api_authenticate,
				   .ctx = sv->api };
	if (jobs_start(sv->jobs, err) < 0)
		return -1;
	sv->jobs_started = true;
	if (previews_start(sv->previews, err) < 0)
		return -1;
	sv->previews_started = true;
	if (daily_start(sv->daily, err) < 0 || http_start(&sv->http, &ho, err) < 0)
		return -1;
	api_set_http(sv->api, sv->http);
	/* The address as given, with the port actually bound (for port 0). */
	char where[300];
	const char *colon = strrchr(ho.listen, ':');
	snprintf(where, sizeof(where), "%.*s:%u", (int)(colon - ho.listen), ho.listen,
		 http_port(sv->http));
	log_event(LOG_INFO, "server", "listening on http://%s (state %s)", where, c->state);
	return 0;
}

static void server_release(struct server *sv)
{
	http_stop(sv->http);
	daily_stop(sv->daily);
	if (sv->previews_started)
		previews_stop(sv->previews);
	if (sv->jobs_started)
		jobs_stop(sv->jobs);
	previews_free(sv->previews);
	previews_config_free(sv->pc);
	daily_free(sv->daily);
	demos_schedule_free(sv->schedule);
	backup_jobs_free(sv->backups);
	free(sv->snapshots);
	demos_config_free(sv->dc);
	jobs_free(sv->jobs);
	api_free(sv->api);
	auth_guard_free(sv->guard);
}

int server_run(const struct server_config *c, struct error *err)
{
	struct server sv = { .c = c, .guard = auth_guard_new() };
	int rc = -1;

	/* Blocked before any thread starts, so every thread inherits the mask. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);

	if (!c->users) {
		error_set(err, "no users file: pass --users FILE, set CAIRN_USERS or `users:` in the config file");
		goto out;
	}
	if (check_inputs(c, err) < 0 || make_parts(&sv, err) < 0 || start_parts(&sv, err) < 0)
		goto out;
	int sig = 0;
	sigwait(&set, &sig);
	log_event(LOG_INFO, "server", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	http_quiesce(sv.http);
	rc = 0;
out:
	server_release(&sv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		log_event(LOG_INFO, "server", "stopped");
	return rc;
}
