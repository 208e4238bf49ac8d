/* `cairn snapshot create|list|show|restore|delete`: snapshots of a
 * dataset's source database, kept in a local directory. */
#include "cli.h"
#include "engine/demos/demos.h"
#include "engine/apply/revise.h"
#include "engine/snapshot/prepare.h"
#include "engine/snapshot/remote.h"
#include "engine/snapshot/snapshot.h"
#include "engine/store/store.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char snapshot_usage[] =
	"usage: cairn snapshot create NAMESPACE/NAME [--store DIR] [-o json]\n"
	"       cairn snapshot list [NAMESPACE/NAME] [--store DIR] [-o json]\n"
	"       cairn snapshot show ID [--store DIR] [-o json]\n"
	"       cairn snapshot restore ID --into URL [--store DIR] [-o json]\n"
	"       cairn snapshot delete ID [--store DIR] [-o json]\n"
	"       cairn snapshot prepare ID [--docker ENDPOINT] [--store DIR] [-o json]\n"
	"       cairn snapshot images [NAMESPACE/NAME] [--docker ENDPOINT] [-o json]\n"
	"\n"
	"create   takes the dataset's rows from its source (the latest policy\n"
	"         generation's dataset NAMESPACE/NAME): its roots, their children,\n"
	"         every row's parents, anonymized; writes <schema>.<table>.json.gz,\n"
	"         schema.sql, build.txt and manifest.json as snapshot ID, then deletes\n"
	"         the oldest beyond the dataset's `keep`. Prints the id and per-table\n"
	"         rows, bytes and seconds; warns about text columns without a rule.\n"
	"list     the snapshots (of one dataset), oldest first\n"
	"show     a snapshot's manifest\n"
	"restore  into the empty database at URL (a libpq URL; the password from\n"
	"         PGPASSWORD or PGPASSFILE): schema, every table, indexes and\n"
	"         constraints, sequences past the data, ANALYZE. A database that has\n"
	"         a table is refused.\n"
	"delete   removes a snapshot\n"
	"prepare  restores the snapshot into a container of cairn/postgres:15 (built\n"
	"         by tools/images), as the source URL's user and database, stops it\n"
	"         cleanly and commits it as image cairn-data/NS.NAME:TIME, labelled\n"
	"         with the snapshot; a snapshot prepared already keeps its image\n"
	"images   the prepared images (of one dataset), oldest snapshot first\n"
	"\n"
	"  --store DIR  where snapshots are kept (CAIRN_SNAPSHOTS; default: snapshots/\n"
	"               beside a SQLite state, else ~/.local/share/cairn/snapshots)\n"
	"  --docker ENDPOINT  the engine that prepares and runs copies (DOCKER_HOST;\n"
	"               default unix:///var/run/docker.sock)\n"
	"  -o json      create: {id, dataset, generation, build, rows, bytes, seconds,\n"
	"               rounds, queries, tables: [{table, rows, bytes, seconds}],\n"
	"               warnings, schema_changed_since, pruned}; list: [manifest];\n"
	"               show: the manifest; restore: {id, rows, seconds, tables};\n"
	"               delete: {deleted: ID}; prepare: {id, image, image_id, reused,\n"
	"               database, user, rows, seconds, steps: {start, ready, restore,\n"
	"               commit}}; images: [{image, image_id, snapshot, dataset, build,\n"
	"               build_component, created, database, user, size}]\n"
	"\n"
	"exit codes: 0 done, 1 failed (the message says why), 2 usage, 3 no such dataset\n";

struct progress {
	bool tty;
	size_t done;
};

static void on_table(void *ctx, const char *table, int64_t rows, int64_t bytes, double seconds)
{
	struct progress *p = ctx;
	p->done++;
	if (p->tty)
		fprintf(stderr, "\r\033[K  %zu tables, last %s: %lld rows", p->done, table,
			(long long)rows);
}

static void end_progress(const struct progress *p)
{
	if (p->tty && p->done)
		fputs("\r\033[K", stderr);
}

/* What build.txt says: the dataset's build, or the image tag its build
 * component runs in the latest generation. */
static int build_of(struct cli *cli, const struct dataset *ds, char **out)
{
	struct error err = ERROR_INIT;
	if (!ds->build_dependency)
		return dataset_build(NULL, ds, out, &err); /* fixed, or none: nothing to resolve */
	struct cli_current cur;
	if (cli_current_load(cli, &cur, 0) < 0)
		return -1;
	int rc = dataset_build(cur.resolution, ds, out, &err);
	if (rc < 0)
		cli_error("%s", error_msg(&err));
	error_clear(&err);
	cli_current_release(&cur);
	return rc;
}

/* The S3 store of the dataset "ns/name", or of the dataset snapshot id
 * "ns.name.time" belongs to, in the latest generation; *out NULL when it
 * keeps its snapshots here only (or there is no policy). -1 after saying
 * why. */
static int remote_for(struct cli *cli, const char *what, struct snapshot_remote **out)
{
	*out = NULL;
	struct store *st = cli_store(cli);
	if (!st)
		return -1;
	struct policy *pol = NULL;
	struct error err = ERROR_INIT;
	if (revise_load_generation(st, cli->intern, 0, &pol, NULL, &err) < 0) {
		error_clear(&err); /* no policy yet: snapshots are local */
		return 0;
	}
	int rc = 0;
	for (size_t i = 0; i < pol->len && rc == 0 && !*out; i++) {
		if (pol->objects[i]->kind != KIND_DATASET)
			continue;
		const struct dataset *ds = (const struct dataset *)pol->objects[i];
		char slashed[600], dotted[600];
		snprintf(slashed, sizeof(slashed), "%s/%s", ds->obj.ns->s, ds->obj.name->s);
		snprintf(dotted, sizeof(dotted), "%s.%s.", ds->obj.ns->s, ds->obj.name->s);
		if (strcmp(what, slashed) != 0 && strncmp(what, dotted, strlen(dotted)) != 0)
			continue;
		if (snapshot_remote_open(out, ds, &err) < 0) {
			cli_error("snapshot: %s", error_msg(&err));
			rc = -1;
		}
	}
	error_clear(&err);
	policy_free(pol);
	return rc;
}

/* Brings snapshot id from its dataset's S3 store into the local directory
 * when it is kept there; -1 after saying why. */
static int fetch_remote(struct cli *cli, const char *id, const char *store)
{
	struct snapshot_remote *r;
	if (remote_for(cli, id, &r) < 0)
		return -1;
	struct error err = ERROR_INIT;
	int rc = r ? snapshot_remote_fetch(r, store, id, &err) : 0;
	if (rc < 0)
		cli_error("snapshot: %s", error_msg(&err));
	error_clear(&err);
	snapshot_remote_close(r);
	return rc;
}

/* What snapshot create made, for its output. */
struct created {
	const struct snapshot_result *res;
	const char *dataset, *build;
	long long generation, keep;
	const char *remote;    /* where the remote store keeps it; NULL: no remote */
	json_t *remote_pruned; /* the ids deleted there */
};

static void print_created_json(const struct created *c, const char *store)
{
	const struct snapshot_result *res = c->res;
	json_t *tables = json_array(), *warnings = json_array(), *pruned = json_array();
	for (size_t i = 0; i < res->ntables; i++)
		json_array_append_new(tables, json_pack("{s:s, s:I, s:I, s:f}", "table",
							res->tables[i].table, "rows",
							(json_int_t)res->tables[i].rows, "bytes",
							(json_int_t)res->tables[i].bytes, "seconds",
							res->tables[i].seconds));
	for (size_t i = 0; i < res->warnings.len; i++)
		json_array_append_new(warnings, json_string(res->warnings.items[i]));
	for (size_t i = 0; i < res->npruned; i++)
		json_array_append_new(pruned, json_string(res->pruned[i]));
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:f, s:i, s:i, s:o, s:o, s:s?, s:o, s:s, s:O?}",
			      "id", res->id, "dataset", c->dataset, "generation",
			      (json_int_t)c->generation, "build", c->build, "rows",
			      (json_int_t)res->rows, "bytes", (json_int_t)res->bytes, "seconds",
			      res->seconds, "rounds", (int)res->rounds, "queries", (int)res->queries,
			      "tables", tables, "warnings", warnings, "schema_changed_since",
			      res->schema_changed_since, "pruned", pruned, "stored",
			      c->remote ? c->remote : store, "pruned_stored", c->remote_pruned);
	cli_print_json_value(j);
	json_decref(j);
}

static void print_created_text(const struct created *c)
{
	const struct snapshot_result *res = c->res;
	char b[32];
	for (size_t i = 0; i < res->warnings.len; i++)
		fprintf(stderr, "warning: %s\n", res->warnings.items[i]);
	if (res->schema_changed_since)
		fprintf(stderr, "note: the source's schema changed since snapshot %s\n",
			res->schema_changed_since);
	printf("snapshot %s of dataset %s (generation %lld, build %s)\n", res->id, c->dataset,
	       c->generation, c->build);
	printf("  %-40s %10s %10s %8s\n", "TABLE", "ROWS", "BYTES", "SECONDS");
	for (size_t i = 0; i < res->ntables; i++) {
		cli_format_bytes(res->tables[i].bytes, b, sizeof(b));
		printf("  %-40s %10lld %10s %8.2f\n", res->tables[i].table,
		       (long long)res->tables[i].rows, b, res->tables[i].seconds);
	}
	cli_format_bytes(res->bytes, b, sizeof(b));
	printf("%lld rows in %zu tables, %s, %.2f s (subset: %u rounds, %u queries)\n",
	       (long long)res->rows, res->ntables, b, res->seconds, res->rounds, res->queries);
	for (size_t i = 0; i < res->npruned; i++)
		printf("deleted %s (keep: %lld)\n", res->pruned[i], c->keep);
	if (c->remote)
		printf("stored in %s\n", c->remote);
	size_t k;
	json_t *old;
	json_array_foreach(c->remote_pruned, k, old)
	printf("deleted %s from %s (keep: %lld)\n", json_string_value(old), c->remote, c->keep);
}

static int snapshot_create_cmd(struct cli *cli, const char *name, const char *store)
{
	const char *slash = strchr(name, '/');
	if (!slash || slash == name || !slash[1]) {
		cli_error("snapshot create needs NAMESPACE/NAME of a dataset\n%s", snapshot_usage);
		return EXIT_USAGE;
	}
	struct store *st = cli_store(cli);
	if (!st)
		return EXIT_FAILURE_;
	struct policy *pol = NULL;
	long long gen = 0;
	struct error err = ERROR_INIT;
	if (revise_load_generation(st, cli->intern, 0, &pol, &gen, &err) < 0) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - name), name);
	const struct dataset *ds = (const struct dataset *)policy_get(pol, KIND_DATASET, ns, slash + 1);
	int rc = EXIT_FAILURE_;
	char *build = NULL;
	struct snapshot_result res = { 0 };
	struct snapshot_remote *remote = NULL;
	json_t *remote_pruned = NULL;
	if (!ds) {
		cli_error("snapshot create: there is no dataset %s in generation %lld", name, gen);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (build_of(cli, ds, &build) < 0)
		goto out;
	struct progress pr = { .tty = isatty(STDERR_FILENO) && !cli->json };
	struct snapshot_options o = { .store = store, .build = build, .generation = gen,
				      .progress = on_table, .progress_ctx = &pr };
	int crc = snapshot_create(ds, &o, &res, &err);
	end_progress(&pr);
	if (crc < 0) {
		cli_error("snapshot create: %s", error_msg(&err));
		goto out;
	}
	if (snapshot_remote_open(&remote, ds, &err) < 0 ||
	    (remote && snapshot_remote_publish(remote, store, res.id, &remote_pruned, &err) < 0)) {
		cli_error("snapshot create: snapshot %s was made in %s, but: %s", res.id, store,
			  error_msg(&err));
		goto out;
	}
	struct created made = { &res, name, build ? build : "unknown", gen, ds->keep,
				remote ? snapshot_remote_where(remote) : NULL, remote_pruned };
	if (cli->json)
		print_created_json(&made, store);
	else
		print_created_text(&made);
	rc = EXIT_DONE;
out:
	error_clear(&err);
	json_decref(remote_pruned);
	snapshot_remote_close(remote);
	snapshot_result_release(&res);
	free(build);
	policy_free(pol);
	return rc;
}

static void print_manifest_line(json_t *m)
{
	char b[32];
	cli_format_bytes((long long)json_integer_value(json_object_get(m, "bytes")), b, sizeof(b));
	printf("%-48s %-24s %-20s %-12s %10lld %10s\n", json_string_value(json_object_get(m, "id")),
	       json_string_value(json_object_get(m, "dataset")),
	       json_string_value(json_object_get(m, "created")),
	       json_string_value(json_object_get(m, "build")),
	       (long long)json_integer_value(json_object_get(m, "rows")), b);
}

static int snapshot_list_cmd(struct cli *cli, const char *dataset, const char *store)
{
	json_t *list;
	struct error err = ERROR_INIT;
	struct snapshot_remote *r = NULL;
	if (dataset && remote_for(cli, dataset, &r) < 0)
		return EXIT_FAILURE_;
	int rc = r ? snapshot_remote_list(r, &list, &err) : snapshot_list(store, dataset, &list, &err);
	snapshot_remote_close(r);
	if (rc < 0) {
		cli_error("snapshot list: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		cli_print_json_value(list);
	} else {
		printf("%-48s %-24s %-20s %-12s %10s %10s\n", "ID", "DATASET", "CREATED", "BUILD",
		       "ROWS", "SIZE");
		size_t i;
		json_t *m;
		json_array_foreach(list, i, m)
		print_manifest_line(m);
	}
	json_decref(list);
	return EXIT_DONE;
}

static int snapshot_show_cmd(struct cli *cli, const char *id, const char *store)
{
	json_t *m;
	struct error err = ERROR_INIT;
	if (fetch_remote(cli, id, store) < 0)
		return EXIT_FAILURE_;
	if (snapshot_show(store, id, &m, &err) < 0) {
		cli_error("snapshot show: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		cli_print_json_value(m);
	} else {
		char b[32];
		cli_format_bytes((long long)json_integer_value(json_object_get(m, "bytes")), b, sizeof(b));
		printf("snapshot %s\n  dataset %s (generation %lld), build %s\n  created %s in %.2f s "
		       "from %s\n  %lld rows, %s\n  source schema %s\n",
		       json_string_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "dataset")),
		       (long long)json_integer_value(json_object_get(m, "generation")),
		       json_string_value(json_object_get(m, "build")),
		       json_string_value(json_object_get(m, "created")),
		       json_real_value(json_object_get(m, "seconds")),
		       json_string_value(json_object_get(m, "source")),
		       (long long)json_integer_value(json_object_get(m, "rows")), b,
		       json_string_value(json_object_get(m, "source_schema")));
		printf("  %-40s %10s %10s  %s\n", "TABLE", "ROWS", "BYTES", "ANONYMIZED");
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(m, "tables"), i, t)
		{
			struct strbuf anon = STRBUF_INIT;
			size_t k;
			json_t *c;
			json_array_foreach(json_object_get(t, "anonymized"), k, c)
			strbuf_addf(&anon, "%s%s", k ? ", " : "", json_string_value(c));
			cli_format_bytes((long long)json_integer_value(json_object_get(t, "bytes")), b,
				     sizeof(b));
			printf("  %-40s %10lld %10s  %s%s\n",
			       json_string_value(json_object_get(t, "table")),
			       (long long)json_integer_value(json_object_get(t, "rows")), b,
			       strbuf_cstr(&anon),
			       json_is_true(json_object_get(t, "whole")) ? " (whole)" : "");
			strbuf_release(&anon);
		}
	}
	json_decref(m);
	return EXIT_DONE;
}

static int snapshot_restore_cmd(struct cli *cli, const char *id, const char *into,
				const char *store)
{
	if (fetch_remote(cli, id, store) < 0)
		return EXIT_FAILURE_;
	struct progress pr = { .tty = isatty(STDERR_FILENO) && !cli->json };
	struct snapshot_restore_result res;
	struct error err = ERROR_INIT;
	int rc = snapshot_restore(store, id, into, on_table, &pr, &res, &err);
	end_progress(&pr);
	if (rc < 0) {
		cli_error("snapshot restore: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		json_t *tables = json_array();
		for (size_t i = 0; i < res.ntables; i++)
			json_array_append_new(tables, json_pack("{s:s, s:I, s:f}", "table",
								res.tables[i].table, "rows",
								(json_int_t)res.tables[i].rows,
								"seconds", res.tables[i].seconds));
		json_t *j = json_pack("{s:s, s:I, s:f, s:o}", "id", id, "rows", (json_int_t)res.rows,
				      "seconds", res.seconds, "tables", tables);
		cli_print_json_value(j);
		json_decref(j);
	} else {
		printf("restored snapshot %s: %lld rows in %zu tables, %.2f s\n", id,
		       (long long)res.rows, res.ntables, res.seconds);
	}
	snapshot_restore_result_release(&res);
	return EXIT_DONE;
}

static int snapshot_delete_cmd(struct cli *cli, const char *id, const char *store)
{
	struct error err = ERROR_INIT;
	struct snapshot_remote *r = NULL;
	if (remote_for(cli, id, &r) < 0)
		return EXIT_FAILURE_;
	/* from the bucket, then the local copy if there is one */
	int rc = r ? snapshot_remote_delete(r, id, &err) : 0;
	if (rc == 0 && snapshot_delete(store, id, &err) < 0) {
		if (r && strstr(error_msg(&err), "no snapshot"))
			error_clear(&err);
		else
			rc = -1;
	}
	snapshot_remote_close(r);
	if (rc < 0) {
		cli_error("snapshot delete: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	cli_print_deleted(cli, "snapshot", id);
	return EXIT_DONE;
}

static int open_docker(const char *endpoint, struct docker **d)
{
	if (!endpoint || !*endpoint)
		endpoint = getenv("DOCKER_HOST");
	struct docker_options o = { .endpoint = endpoint && *endpoint ? endpoint : NULL };
	struct error err = ERROR_INIT;
	if (docker_open(d, &o, &err) < 0) {
		cli_error("snapshot: %s", error_msg(&err));
		error_clear(&err);
		return -1;
	}
	return 0;
}

static void on_step(void *ctx, const char *step, double seconds)
{
	const struct progress *p = ctx;
	if (p->tty)
		fprintf(stderr, "\r\033[K  %s (%.2f s)\n", step, seconds);
}

static int snapshot_prepare_cmd(struct cli *cli, const char *id, const char *endpoint,
				const char *store)
{
	struct docker *d;
	if (fetch_remote(cli, id, store) < 0 || open_docker(endpoint, &d) < 0)
		return EXIT_FAILURE_;
	struct progress pr = { .tty = isatty(STDERR_FILENO) && !cli->json };
	struct snapshot_prepare_options o = { .store = store, .step = on_step, .step_ctx = &pr,
					      .progress = on_table, .progress_ctx = &pr };
	struct snapshot_prepare_result res;
	struct error err = ERROR_INIT;
	int rc = snapshot_prepare(d, id, &o, &res, &err);
	end_progress(&pr);
	docker_close(d);
	if (rc < 0) {
		cli_error("snapshot %s", error_msg(&err));
		error_clear(&err);
		snapshot_prepare_result_release(&res);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:f, s:{s:f, s:f, s:f, s:f}}",
				      "id", id, "image", res.image, "image_id", res.image_id,
				      "reused", res.reused, "database", res.database, "user",
				      res.user, "rows", (json_int_t)res.rows, "seconds", res.seconds,
				      "steps", "start", res.start_seconds, "ready",
				      res.ready_seconds, "restore", res.restore_seconds, "commit",
				      res.commit_seconds);
		cli_print_json_value(j);
		json_decref(j);
	} else if (res.reused) {
		printf("snapshot %s is prepared already: image %s (database %s, user %s)\n", id,
		       res.image, res.database, res.user);
	} else {
		printf("prepared snapshot %s as image %s (database %s, user %s): %lld rows, %.2f s "
		       "(start %.2f, ready %.2f, restore %.2f, commit %.2f)\n",
		       id, res.image, res.database, res.user, (long long)res.rows, res.seconds,
		       res.start_seconds, res.ready_seconds, res.restore_seconds, res.commit_seconds);
	}
	snapshot_prepare_result_release(&res);
	return EXIT_DONE;
}

static int snapshot_images_cmd(struct cli *cli, const char *dataset, const char *endpoint)
{
	struct docker *d;
	if (open_docker(endpoint, &d) < 0)
		return EXIT_FAILURE_;
	struct snapshot_image *v;
	size_t n;
	struct error err = ERROR_INIT;
	int rc = snapshot_images(d, dataset, &v, &n, &err);
	docker_close(d);
	if (rc < 0) {
		cli_error("snapshot images: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(
				a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:I}",
					     "image", v[i].image, "image_id", v[i].image_id,
					     "snapshot", v[i].snapshot, "dataset", v[i].dataset,
					     "build", v[i].build, "build_component",
					     v[i].build_component, "created", v[i].created,
					     "database", v[i].database, "user", v[i].user, "size",
					     (json_int_t)v[i].size));
		cli_print_json_value(a);
		json_decref(a);
	} else {
		printf("%-48s %-48s %-12s %10s\n", "IMAGE", "SNAPSHOT", "BUILD", "SIZE");
		for (size_t i = 0; i < n; i++) {
			char b[32];
			cli_format_bytes((long long)v[i].size, b, sizeof(b));
			printf("%-48s %-48s %-12s %10s\n", v[i].image, v[i].snapshot, v[i].build, b);
		}
	}
	snapshot_images_free(v, n);
	return EXIT_DONE;
}

int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv))
		return cli_help(snapshot_usage);
	const char *sub = argc > 1 ? argv[1] : NULL, *arg = NULL, *into = NULL, *given = NULL,
		   *endpoint = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--store") == 0 && i + 1 < argc)
			given = argv[++i];
		else if (strncmp(a, "--store=", 8) == 0)
			given = a + 8;
		else if (strcmp(a, "--into") == 0 && i + 1 < argc)
			into = argv[++i];
		else if (strncmp(a, "--into=", 7) == 0)
			into = a + 7;
		else if (strcmp(a, "--docker") == 0 && i + 1 < argc)
			endpoint = argv[++i];
		else if (strncmp(a, "--docker=", 9) == 0)
			endpoint = a + 9;
		else if (a[0] != '-' && !arg)
			arg = a;
		else {
			cli_error("snapshot: unexpected argument '%s'\n%s", a, snapshot_usage);
			return EXIT_USAGE;
		}
	}
	if (cli->server) {
		cli_error("snapshot works on this machine's snapshots, not through --server");
		return EXIT_USAGE;
	}
	bool list = sub && (strcmp(sub, "list") == 0 || strcmp(sub, "images") == 0);
	bool restore = sub && strcmp(sub, "restore") == 0;
	if (!sub || (!arg && !list) || (restore != (into != NULL))) {
		cli_error("snapshot %s needs %s\n%s", sub ? sub : "", restore ? "ID and --into URL" : "an argument",
			  snapshot_usage);
		return EXIT_USAGE;
	}
	char *store = cli_data_dir(cli, given, "CAIRN_SNAPSHOTS", "snapshots");
	int rc;
	if (strcmp(sub, "create") == 0)
		rc = snapshot_create_cmd(cli, arg, store);
	else if (strcmp(sub, "list") == 0)
		rc = snapshot_list_cmd(cli, arg, store);
	else if (strcmp(sub, "images") == 0)
		rc = snapshot_images_cmd(cli, arg, endpoint);
	else if (strcmp(sub, "prepare") == 0)
		rc = snapshot_prepare_cmd(cli, arg, endpoint, store);
	else if (strcmp(sub, "show") == 0)
		rc = snapshot_show_cmd(cli, arg, store);
	else if (restore)
		rc = snapshot_restore_cmd(cli, arg, into, store);
	else if (strcmp(sub, "delete") == 0)
		rc = snapshot_delete_cmd(cli, arg, store);
	else {
		cli_error("snapshot: unknown command '%s'\n%s", sub, snapshot_usage);
		rc = EXIT_USAGE;
	}
	free(store);
	return rc;
}
