/* Prepared copies: a snapshot restored once into a PostgreSQL container
 * whose data directory is inside the container (not a volume), stopped
 * cleanly and committed as an image. A demo then starts that image and has
 * its data at once, instead of after a restore. */
#include "prepare.h"

#include "internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/lazy/pq.h"
#include "base/strbuf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long the server of a new container may take to accept connections
 * (it creates its cluster at first start: about a second here). */
#define READY_TIMEOUT_SECONDS 60.0

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* "main.shop-demo" of dataset "main/shop-demo", as a Docker repository
 * path component allows: lowercase letters and digits, separators between. */
static void add_repo_part(struct strbuf *sb, const char *s)
{
	bool sep = true; /* no separator first */
	for (; *s; s++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*s);
		if (isalnum(c) && c < 128) {
			strbuf_addc(sb, (char)c);
			sep = false;
		} else if (!sep) {
			strbuf_addc(sb, c == '.' || c == '_' ? (char)c : '-');
			sep = true;
		}
	}
	while (sb->len && strchr("-._", sb->buf[sb->len - 1]))
		strbuf_truncate(sb, sb->len - 1);
}

char *snapshot_image_name(const char *dataset, const char *id)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, SNAPSHOT_IMAGE_REPOSITORY);
	const char *slash = strchr(dataset, '/');
	char *ns = xstrndup(dataset, slash ? (size_t)(slash - dataset) : strlen(dataset));
	add_repo_part(&sb, ns);
	strbuf_addc(&sb, '.');
	add_repo_part(&sb, slash ? slash + 1 : "");
	free(ns);
	/* the tag: the id's time (and -n), after "NS.NAME." */
	const char *tag = id;
	for (int dots = 0; *tag && dots < 2; tag++)
		dots += *tag == '.';
	if (!*tag)
		tag = id;
	strbuf_addc(&sb, ':');
	for (const char *c = tag; *c && sb.len < 250; c++)
		strbuf_addc(&sb, isalnum((unsigned char)*c) || *c == '-' || *c == '.' || *c == '_'
					 ? *c
					 : '_');
	return strbuf_detach(&sb);
}

/* GET path?filters={"label":[label]} */
static int list_labelled(struct docker *d, const char *path, const char *label, json_t **out,
			 struct error *err)
{
	char *url = docker_filtered_path(path, json_pack("{s:[s]}", "label", label));
	long status;
	int rc = docker_request(d, "GET", url, NULL, out, &status, err);
	free(url);
	return rc;
}

static const char *label_of(json_t *image, const char *key)
{
	return json_string_value(json_object_get(json_object_get(image, "Labels"), key));
}

static int compare_created(const void *a, const void *b)
{
	const struct snapshot_image *x = a, *y = b;
	int c = strcmp(x->created, y->created);
	return c ? c : strcmp(x->snapshot, y->snapshot);
}

int snapshot_images(struct docker *d, const char *dataset, struct snapshot_image **out,
		    size_t *n, struct error *err)
{
	*out = NULL;
	*n = 0;
	struct strbuf label = STRBUF_INIT;
	strbuf_adds(&label, "cairn.snapshot");
	if (dataset)
		strbuf_addf(&label, ".dataset=%s", dataset);
	json_t *list = NULL;
	int rc = list_labelled(d, "/images/json", strbuf_cstr(&label), &list, err);
	strbuf_release(&label);
	if (rc < 0)
		return error_wrap(err, "prepared images");
	struct snapshot_image *v = xcalloc(json_array_size(list) + 1, sizeof(*v));
	size_t i;
	json_t *img;
	json_array_foreach(list, i, img)
	{
		const char *snap = label_of(img, "cairn.snapshot");
		json_t *tags = json_object_get(img, "RepoTags");
		const char *tag = json_string_value(json_array_get(tags, 0));
		if (!snap || !tag || strcmp(tag, "<none>:<none>") == 0)
			continue;
		struct snapshot_image *s = &v[(*n)++];
		const char *ds = label_of(img, "cairn.snapshot.dataset");
		const char *build = label_of(img, "cairn.snapshot.build");
		const char *created = label_of(img, "cairn.snapshot.created");
		const char *db = label_of(img, "cairn.snapshot.database");
		const char *user = label_of(img, "cairn.snapshot.user");
		const char *component = label_of(img, "cairn.snapshot.build_component");
		s->image = xstrdup(tag);
		s->image_id = xstrdup(or_empty(json_string_value(json_object_get(img, "Id"))));
		s->snapshot = xstrdup(snap);
		s->dataset = xstrdup(ds ? ds : "");
		s->build = xstrdup(build ? build : "unknown");
		s->created = xstrdup(created ? created : "");
		s->database = xstrdup(db ? db : "postgres");
		s->user = xstrdup(user ? user : "postgres");
		s->build_component = component ? xstrdup(component) : NULL;
		s->size = json_integer_value(json_object_get(img, "Size"));
	}
	json_decref(list);
	qsort(v, *n, sizeof(*v), compare_created);
	*out = v;
	return 0;
}

void snapshot_image_release(struct snapshot_image *s)
{
	free(s->image);
	free(s->image_id);
	free(s->snapshot);
	free(s->dataset);
	free(s->build);
	free(s->created);
	free(s->database);
	free(s->user);
	free(s->build_component);
	memset(s, 0, sizeof(*s));
}

void snapshot_images_free(struct snapshot_image *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snapshot_image_release(&v[i]);
	free(v);
}

/* ---- prepare ---- */

struct prepare {
	struct docker *d;
	const struct snapshot_prepare_options *o;
	struct snapshot_prepare_result *out;
	struct error *err;
	const char *id;
	json_t *manifest;
	char *container; /* its id, once created */
	char *address;   /* its IP address on the default bridge */
	char *database, *user;
	double mark;
};

static void step_done(struct prepare *p, const char *step, double *slot)
{
	double now = clock_seconds();
	*slot = now - p->mark;
	p->mark = now;
	if (p->o->step)
		p->o->step(p->o->step_ctx, step, *slot);
}

/* The database and user of the source URL: the copy has the same ones, so
 * the application connects to it as it would to the source. */
static int source_names(struct prepare *p)
{
	const char *source = json_string_value(json_object_get(p->manifest, "source"));
	char *msg = NULL;
	PQconninfoOption *opts = source ? PQconninfoParse(source, &msg) : NULL;
	if (!opts) {
		error_set(p->err, "snapshot %s: its source URL cannot be read%s%s", p->id,
			  msg ? ": " : "", msg ? msg : "");
		PQfreemem(msg);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, "dbname") == 0 && o->val && *o->val)
			p->database = xstrdup(o->val);
		else if (strcmp(o->keyword, "user") == 0 && o->val && *o->val)
			p->user = xstrdup(o->val);
	}
	PQconninfoFree(opts);
	if (!p->user)
		p->user = xstrdup("postgres");
	if (!p->database)
		p->database = xstrdup(p->user);
	return 0;
}

static void add_conninfo_value(struct strbuf *sb, const char *v)
{
	strbuf_addc(sb, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			strbuf_addc(sb, '\\');
		strbuf_addc(sb, *v);
	}
	strbuf_addc(sb, '\'');
}

static char *conninfo(const char *host, const char *user, const char *db)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "host=");
	add_conninfo_value(&sb, host);
	strbuf_adds(&sb, " port=5432 connect_timeout=5 user=");
	add_conninfo_value(&sb, user);
	strbuf_adds(&sb, " dbname=");
	add_conninfo_value(&sb, db);
	return strbuf_detach(&sb);
}

static int request(struct prepare *p, const char *method, const char *path, json_t *body,
		   json_t **resp)
{
	long status;
	int rc = docker_request(p->d, method, path, body, resp, &status, p->err);
	json_decref(body);
	return rc;
}

/* Removes a container (name or id) and its anonymous volumes, if it is there. */
static void delete_container(struct prepare *p, const char *ref)
{
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "/containers/%s?force=true&v=true", ref);
	struct error ignored = ERROR_INIT;
	long status;
	docker_request(p->d, "DELETE", strbuf_cstr(&path), NULL, NULL, &status, &ignored);
	error_clear(&ignored);
	strbuf_release(&path);
}

static char *container_name(const char *id)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "cairn-prepare-");
	for (const char *c = id; *c; c++)
		strbuf_addc(&sb, isalnum((unsigned char)*c) || *c == '-' || *c == '.' ? *c : '_');
	return strbuf_detach(&sb);
}

static int start_container(struct prepare *p)
{
	const char *base = p->o->base_image ? p->o->base_image : SNAPSHOT_BASE_IMAGE;
	struct strbuf path = STRBUF_INIT;
	json_t *resp = NULL;
	char *name = container_name(p->id);
	int rc = -1;
	delete_container(p, name); /* one left by a prepare that was killed */
	strbuf_addf(&path, "/containers/create?name=%s", name);
	json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "Image", base, "StopSignal", "SIGINT",
				 "Labels", "cairn.prepare", p->id);
	if (request(p, "POST", strbuf_cstr(&path), body, &resp) < 0) {
		if (strstr(error_msg(p->err), "No such image"))
			error_set(p->err, "image %s is missing: run tools/images (it builds it from "
					  "Debian's postgresql package)",
				  base);
		goto out;
	}
	const char *cid = json_string_value(json_object_get(resp, "Id"));
	p->container = xstrdup(cid ? cid : name);
	json_decref(resp);
	resp = NULL;
	strbuf_reset(&path);
	strbuf_addf(&path, "/containers/%s/start", p->container);
	if (request(p, "POST", strbuf_cstr(&path), NULL, NULL) < 0)
		goto out;
	strbuf_reset(&path);
	strbuf_addf(&path, "/containers/%s/json", p->container);
	if (request(p, "GET", strbuf_cstr(&path), NULL, &resp) < 0)
		goto out;
	const char *ip = json_string_value(
		json_object_get(json_object_get(resp, "NetworkSettings"), "IPAddress"));
	if (!ip || !*ip) {
		error_set(p->err, "container %s has no address on the default bridge network", name);
		goto out;
	}
	p->address = xstrdup(ip);
	rc = 0;
out:
	json_decref(resp);
	strbuf_release(&path);
	free(name);
	return rc;
}

/* The container's output, for a message about why it failed. */
static void add_container_log(struct prepare *p)
{
	struct error ignored = ERROR_INIT;
	json_t *state = NULL;
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "/containers/%s/json", p->container);
	long status;
	if (docker_request(p->d, "GET", strbuf_cstr(&path), NULL, &state, &status, &ignored) == 0) {
		json_t *st = json_object_get(state, "State");
		if (!json_is_true(json_object_get(st, "Running")))
			error_wrap(p->err, "the PostgreSQL container exited (%lld)",
				   (long long)json_integer_value(json_object_get(st, "ExitCode")));
	}
	json_decref(state);
	error_clear(&ignored);
	strbuf_release(&path);
}

static int wait_ready(struct prepare *p)
{
	char *admin = conninfo(p->address, "postgres", "postgres");
	double deadline = clock_seconds() + READY_TIMEOUT_SECONDS;
	int rc = -1;
	for (;;) {
		if (PQping(admin) == PQPING_OK) {
			rc = 0;
			break;
		}
		if (clock_seconds() > deadline) {
			error_set(p->err, "PostgreSQL in container %.12s did not accept connections "
					  "within %.0f s",
				  p->container, READY_TIMEOUT_SECONDS);
			add_container_log(p);
			break;
		}
		usleep(20 * 1000);
	}
	free(admin);
	return rc;
}

/* The source's user (a superuser: the schema may create extensions, and
 * the copy is disposable) and its database, owned by it. */
static int create_database(struct prepare *p)
{
	char *admin = conninfo(p->address, "postgres", "postgres");
	PGconn *conn = sn_connect(admin, NULL, p->err);
	free(admin);
	if (!conn)
		return -1;
	int rc = -1;
	char *user = PQescapeIdentifier(conn, p->user, strlen(p->user));
	char *db = PQescapeIdentifier(conn, p->database, strlen(p->database));
	struct strbuf sql = STRBUF_INIT;
	if (strcmp(p->user, "postgres") != 0) {
		strbuf_addf(&sql, "CREATE ROLE %s LOGIN SUPERUSER", user);
		if (sn_exec(conn, strbuf_cstr(&sql), NULL, p->err) < 0)
			goto out;
	}
	if (strcmp(p->database, "postgres") != 0) {
		strbuf_reset(&sql);
		strbuf_addf(&sql, "CREATE DATABASE %s OWNER %s", db, user);
		if (sn_exec(conn, strbuf_cstr(&sql), NULL, p->err) < 0)
			goto out;
	}
	rc = 0;
out:
	strbuf_release(&sql);
	PQfreemem(user);
	PQfreemem(db);
	PQfinish(conn);
	return rc;
}

/* The container was created with StopSignal SIGINT: docker stop asks for a
 * fast shutdown, whose checkpoint leaves a data directory that starts
 * without recovery. The server is the container's process, so its exit
 * status is the container's; an immediate shutdown exits 0 too, but
 * writes no shutdown checkpoint, which the server logs (log_checkpoints is
 * on by default). Either missing: nothing is committed. */
static int stop_cleanly(struct prepare *p)
{
	struct strbuf path = STRBUF_INIT;
	json_t *state = NULL;
	struct strbuf log = STRBUF_INIT;
	int rc = -1;
	strbuf_addf(&path, "/containers/%s/stop?t=60", p->container);
	if (request(p, "POST", strbuf_cstr(&path), NULL, NULL) < 0)
		goto out;
	strbuf_reset(&path);
	strbuf_addf(&path, "/containers/%s/json", p->container);
	if (request(p, "GET", strbuf_cstr(&path), NULL, &state) < 0)
		goto out;
	long long code = json_integer_value(json_object_get(json_object_get(state, "State"), "ExitCode"));
	if (docker_container_output(p->d, p->container, false, 20, 30000, &log, p->err) < 0)
		goto out;
	if (code != 0 || !strstr(strbuf_cstr(&log), "checkpoint complete") ||
	    !strstr(strbuf_cstr(&log), "database system is shut down")) {
		error_set(p->err, "PostgreSQL in container %.12s did not shut down cleanly (exit code "
				  "%lld%s): nothing was committed",
			  p->container, code,
			  code == 0 ? ", no shutdown checkpoint in its log" : "");
		goto out;
	}
	rc = 0;
out:
	strbuf_release(&log);
	json_decref(state);
	strbuf_release(&path);
	return rc;
}

static int commit_image(struct prepare *p)
{
	const char *dataset = json_string_value(json_object_get(p->manifest, "dataset"));
	const char *build = json_string_value(json_object_get(p->manifest, "build"));
	const char *created = json_string_value(json_object_get(p->manifest, "created"));
	const char *component = json_string_value(json_object_get(p->manifest, "build_component"));
	char *image = snapshot_image_name(dataset ? dataset : "data/x", p->id);
	char *colon = strrchr(image, ':');
	*colon = '\0';
	char *repo = curl_easy_escape(NULL, image, 0), *tag = curl_easy_escape(NULL, colon + 1, 0);
	*colon = ':';
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "/commit?container=%s&repo=%s&tag=%s", p->container, repo, tag);
	curl_free(repo);
	curl_free(tag);
	/* The labels say which snapshot the image holds; the rest of the config
	 * is the base image's. */
	json_t *body = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "Labels", "cairn.snapshot",
				 p->id, "cairn.snapshot.dataset", dataset ? dataset : "",
				 "cairn.snapshot.build", build ? build : "unknown",
				 "cairn.snapshot.created", created ? created : "",
				 "cairn.snapshot.database", p->database, "cairn.snapshot.user",
				 p->user);
	if (component)
		json_object_set_new(json_object_get(body, "Labels"), "cairn.snapshot.build_component",
				    json_string(component));
	json_t *resp = NULL;
	int rc = request(p, "POST", strbuf_cstr(&path), body, &resp);
	strbuf_release(&path);
	if (rc == 0) {
		p->out->image = image;
		p->out->image_id = xstrdup(or_empty(json_string_value(json_object_get(resp, "Id"))));
	} else {
		free(image);
	}
	json_decref(resp);
	return rc;
}

/* An image of this snapshot already: preparing twice reuses it. */
static int find_prepared(struct prepare *p, bool *found)
{
	struct strbuf label = STRBUF_INIT;
	strbuf_addf(&label, "cairn.snapshot=%s", p->id);
	json_t *list = NULL;
	int rc = list_labelled(p->d, "/images/json", strbuf_cstr(&label), &list, p->err);
	strbuf_release(&label);
	*found = false;
	json_t *img = json_array_get(list, 0);
	const char *tag = json_string_value(json_array_get(json_object_get(img, "RepoTags"), 0));
	if (rc == 0 && tag && strcmp(tag, "<none>:<none>") != 0) {
		*found = true;
		p->out->image = xstrdup(tag);
		p->out->image_id = xstrdup(or_empty(json_string_value(json_object_get(img, "Id"))));
	}
	json_decref(list);
	return rc;
}

int snapshot_prepare(struct docker *d, const char *id, const struct snapshot_prepare_options *o,
		     struct snapshot_prepare_result *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	struct prepare p = { .d = d, .o = o, .out = out, .err = err, .id = id, .mark = clock_seconds() };
	double started = p.mark;
	struct sn_storage *st = sn_storage_local(o->store, err);
	if (!st)
		return -1;
	int rc = -1;
	bool found;
	p.manifest = sn_read_manifest(st, id, err);
	if (!p.manifest || source_names(&p) < 0 || find_prepared(&p, &found) < 0)
		goto out;
	out->database = xstrdup(p.database);
	out->user = xstrdup(p.user);
	if (found) {
		out->reused = true;
		rc = 0;
		goto out;
	}
	if (start_container(&p) < 0)
		goto out;
	step_done(&p, "container started", &out->start_seconds);
	if (wait_ready(&p) < 0 || create_database(&p) < 0)
		goto out;
	step_done(&p, "PostgreSQL ready", &out->ready_seconds);
	char *url = conninfo(p.address, p.user, p.database);
	struct snapshot_restore_result rr;
	int rrc = snapshot_restore(o->store, id, url, o->progress, o->progress_ctx, &rr, err);
	free(url);
	if (rrc < 0)
		goto out;
	out->rows = rr.rows;
	snapshot_restore_result_release(&rr);
	step_done(&p, "restored", &out->restore_seconds);
	if (stop_cleanly(&p) < 0 || commit_image(&p) < 0)
		goto out;
	step_done(&p, "committed", &out->commit_seconds);
	rc = 0;
out:
	if (p.container)
		delete_container(&p, p.container);
	if (rc < 0)
		error_wrap(err, "prepare %s", id);
	out->seconds = clock_seconds() - started;
	json_decref(p.manifest);
	free(p.container);
	free(p.address);
	free(p.database);
	free(p.user);
	sn_storage_free(st);
	return rc;
}

void snapshot_prepare_result_release(struct snapshot_prepare_result *r)
{
	free(r->image);
	free(r->image_id);
	free(r->database);
	free(r->user);
	memset(r, 0, sizeof(*r));
}
