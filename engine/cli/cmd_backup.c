/* `cairn backup NS/NAME | list | show | delete`: backups of a running
 * environment's databases and volumes, kept in a local directory. */
#include "cli.h"
#include "engine/backup/backup.h"

#include "base/parse.h"
#include "base/alloc.h"
#include "base/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char backup_usage[] =
	"usage: cairn backup NAMESPACE/NAME [--store DIR] [--jobs N] [-o json]\n"
	"       cairn backup list [NAMESPACE/NAME] [--store DIR] [-o json]\n"
	"       cairn backup show ID [--store DIR] [-o json]\n"
	"       cairn backup delete ID [--store DIR] [-o json]\n"
	"\n"
	"NAMESPACE/NAME  backs up the running environment of that dependency (the\n"
	"         latest policy generation): the database of every instance with\n"
	"         backup: {postgres: {database: D, user: U}} (pg_dump -Fd -j N by a\n"
	"         helper container of cairn/postgres:15 on the database container's\n"
	"         network) and the volume of every instance with backup: {volume:\n"
	"         NAME} (each file's content stored once by its SHA-256; a file whose\n"
	"         size and time did not change since the previous backup is neither\n"
	"         hashed nor stored again), with the image each component runs. Then\n"
	"         deletes the dependency's oldest backups beyond its backup: {keep: N}\n"
	"         (default 7), here and in its bucket when it has one.\n"
	"list     the backups (of one dependency), oldest first\n"
	"show     a backup's manifest\n"
	"delete   removes a backup, and the file contents no other backup has\n"
	"\n"
	"  --store DIR  where backups are kept (CAIRN_BACKUPS; default: backups/\n"
	"               beside a SQLite state, else ~/.local/share/cairn/backups)\n"
	"  --jobs N     pg_dump's parallel jobs (default 2)\n"
	"  -o json      backup: {id, dependency, seconds, parts: [{kind, service,\n"
	"               component, key, cluster, database and user | volume and path,\n"
	"               files, bytes, copied_files, copied_bytes, seconds}], pruned};\n"
	"               list: [manifest]; show: the manifest; delete: {deleted: ID}\n"
	"\n"
	"exit codes: 0 done, 1 failed (the message says why), 2 usage\n";

static void print_part(const struct backup_part *p)
{
	char bytes[32], copied[32];
	cli_format_bytes(p->bytes, bytes, sizeof(bytes));
	cli_format_bytes(p->copied_bytes, copied, sizeof(copied));
	if (strcmp(p->kind, "postgres") == 0)
		printf("  database %s of %s/%s: %s in %lld files, %.2f s\n", p->database, p->service,
		       p->component, bytes, (long long)p->files, p->seconds);
	else
		printf("  volume %s of %s/%s: %lld files, %s; new: %lld files, %s; %.2f s\n",
		       p->volume, p->service, p->component, (long long)p->files, bytes,
		       (long long)p->copied_files, copied, p->seconds);
}

static void on_part(void *ctx, const struct backup_part *p)
{
	if (*(bool *)ctx)
		print_part(p);
}

static int backup_create_cmd(struct cli *cli, const char *dependency, const char *store, int jobs)
{
	struct cli_current cur;
	if (cli_current_load(cli, &cur, 0) < 0)
		return EXIT_FAILURE_;
	const struct dep_result *dr = resolution_find_dep(cur.resolution, dependency);
	bool live = !cli->json;
	struct backup_options o = { .store = store, .generation = cur.generation, .jobs = jobs,
				    .keep = dr ? dr->dep->backup.keep : 0, .part_done = on_part,
				    .part_ctx = &live };
	struct backup_result res;
	struct error err = ERROR_INIT;
	int rc = backup_create(cur.policy, cur.resolution, dependency, &o, &res, &err);
	cli_current_release(&cur);
	if (rc < 0) {
		cli_error("%s", error_msg(&err));
		error_clear(&err);
		backup_result_release(&res);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		json_t *parts = json_array();
		for (size_t i = 0; i < res.nparts; i++)
			json_array_append_new(parts, backup_part_json(&res.parts[i]));
		json_t *j = json_pack("{s:s, s:s, s:f, s:o, s:O}", "id", res.id, "dependency",
				      dependency, "seconds", res.seconds, "parts", parts, "pruned",
				      res.pruned);
		cli_print_json_value(j);
		json_decref(j);
	} else {
		printf("backup %s of %s: %zu part%s, %.2f s\n", res.id, dependency, res.nparts,
		       res.nparts == 1 ? "" : "s", res.seconds);
		size_t i;
		json_t *id;
		json_array_foreach(res.pruned, i, id)
			printf("  deleted backup %s (keep)\n", json_string_value(id));
	}
	backup_result_release(&res);
	return EXIT_DONE;
}

static int backup_list_cmd(struct cli *cli, const char *dependency, const char *store)
{
	json_t *list;
	struct error err = ERROR_INIT;
	if (backup_list(store, dependency, &list, &err) < 0) {
		cli_error("backup list: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		cli_print_json_value(list);
	} else {
		printf("%-44s %-20s %-6s %10s %s\n", "BACKUP", "CREATED", "PARTS", "SECONDS", "BUILD");
		size_t i;
		json_t *m;
		json_array_foreach(list, i, m)
		{
			json_t *build = json_object_get(m, "build");
			const char *k;
			json_t *v;
			struct strbuf images = STRBUF_INIT;
			json_object_foreach(build, k, v)
				strbuf_addf(&images, "%s%s=%s", images.len ? " " : "", k, json_string_value(v));
			printf("%-44s %-20s %-6zu %10.2f %s\n", json_string_value(json_object_get(m, "id")),
			       json_string_value(json_object_get(m, "created")),
			       json_array_size(json_object_get(m, "parts")),
			       json_real_value(json_object_get(m, "seconds")), strbuf_cstr(&images));
			strbuf_release(&images);
		}
	}
	json_decref(list);
	return EXIT_DONE;
}

static int backup_show_cmd(struct cli *cli, const char *id, const char *store)
{
	json_t *m;
	struct error err = ERROR_INIT;
	if (backup_show(store, id, &m, &err) < 0) {
		cli_error("backup show: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	if (cli->json) {
		cli_print_json_value(m);
	} else {
		char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(text);
		free(text);
	}
	json_decref(m);
	return EXIT_DONE;
}

static int backup_delete_cmd(struct cli *cli, const char *id, const char *store)
{
	struct error err = ERROR_INIT;
	if (backup_delete(store, id, &err) < 0) {
		cli_error("backup delete: %s", error_msg(&err));
		error_clear(&err);
		return EXIT_FAILURE_;
	}
	cli_print_deleted(cli, "backup", id);
	return EXIT_DONE;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv))
		return cli_help(backup_usage);
	const char *words[2] = { NULL, NULL }, *given = NULL;
	size_t nwords = 0;
	long long jobs = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--store") == 0 && i + 1 < argc)
			given = argv[++i];
		else if (strncmp(a, "--store=", 8) == 0)
			given = a + 8;
		else if (strcmp(a, "--jobs") == 0 && i + 1 < argc &&
			 parse_integer(argv[i + 1], 1, 64, &jobs) == 0)
			i++;
		else if (a[0] != '-' && nwords < 2)
			words[nwords++] = a;
		else {
			cli_error("backup: unexpected argument '%s'\n%s", a, backup_usage);
			return EXIT_USAGE;
		}
	}
	if (cli->server) {
		cli_error("backup works on this machine's backups, not through --server");
		return EXIT_USAGE;
	}
	const char *sub = words[0], *arg = words[1];
	bool create = sub && strchr(sub, '/') && !arg;
	bool list = sub && strcmp(sub, "list") == 0;
	bool one = sub && (strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0) && arg;
	if (!create && !list && !one) {
		cli_error("backup needs NAMESPACE/NAME, list, show ID or delete ID\n%s", backup_usage);
		return EXIT_USAGE;
	}
	char *store = cli_data_dir(cli, given, "CAIRN_BACKUPS", "backups");
	int rc;
	if (create)
		rc = backup_create_cmd(cli, sub, store, jobs);
	else if (list)
		rc = backup_list_cmd(cli, arg, store);
	else if (strcmp(sub, "show") == 0)
		rc = backup_show_cmd(cli, arg, store);
	else
		rc = backup_delete_cmd(cli, arg, store);
	free(store);
	return rc;
}
