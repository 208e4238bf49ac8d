/* Snapshots end to end against a real PostgreSQL: create from the
 * hard-case schema, restore into an empty database, and check there, with
 * queries independent of cairn's subset: every foreign key of every row
 * resolves, the rows are the subset's, anonymized values are consistent
 * across tables and keys, no original value of an anonymized column
 * remains anywhere, the schema's objects came back, sequences are past
 * the data; determinism across runs and keys; keep, schema changes, a
 * refused non-empty target, and a failed create that leaves nothing. */
#include "engine/snapshot/catalog.h"
#include "engine/snapshot/snapshot.h"
#include "pg_fixture.h"

#include "base/arena.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOURCE "snap_source"

static char workdir[] = "/tmp/cairn-snapshot-test-XXXXXX";
static char store[256], key1[256], key2[256];

/* The test server's URL for database db, as a dataset would give it. */
static char *url_of(const char *db)
{
	const char *base = pg_url(); /* postgres://postgres@/postgres?host=...&port=... */
	const char *q = strchr(base, '?');
	cr_assert(q && q - base > 9 && !strncmp(q - 9, "/postgres", 9), "unexpected URL %s", base);
	struct strbuf sb = STRBUF_INIT;
	strbuf_add(&sb, base, (size_t)(q - base - 8));
	strbuf_addf(&sb, "%s%s", db, q);
	return strbuf_detach(&sb);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(workdir));
	snprintf(store, sizeof(store), "%s/store", workdir);
	snprintf(key1, sizeof(key1), "%s/one.key", workdir);
	snprintf(key2, sizeof(key2), "%s/two.key", workdir);
	write_file(key1, "0123456789abcdef0123456789abcdef\n");
	write_file(key2, "fedcba9876543210fedcba9876543210\n");
	pg_create_hard_cases(SOURCE);
}

static void teardown(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 120);

struct loaded {
	struct intern *in;
	struct policy *p;
	const struct dataset *ds;
};

/* The shop dataset: customer 1 and what it reaches, anonymized with key. */
static void dataset(struct loaded *l, const char *key, const char *extra)
{
	char *url = url_of(SOURCE);
	struct strbuf y = STRBUF_INIT;
	strbuf_addf(&y,
		    "- kind: dataset\n"
		    "  metadata: {namespace: main, name: shop}\n"
		    "  source: {url: \"%s\"}\n"
		    "  roots: [{table: customer, where: \"customer_id = 1\"}]\n"
		    "  tables: {language: {whole: true}}\n"
		    "  anonymize:\n"
		    "    customer.email: email\n"
		    "    customer.first_name: first_name\n"
		    "    customer.last_name: last_name\n"
		    "    customer.phone: digits\n"
		    "    customer.note: text\n"
		    "    customer.born: {date_shift: 30}\n"
		    "    staff.email: email\n"
		    "    staff.name: full_name\n"
		    "    staff.password: \"null\"\n"
		    "  key_file: %s\n%s",
		    url, key, extra ? extra : "");
	free(url);
	l->in = intern_new();
	l->p = policy_new(l->in);
	struct diags d = DIAGS_INIT;
	cr_assert_eq(policy_add_yaml(l->p, "shop.yaml", y.buf, y.len, 0, &d), 0, "%s",
		     d.len ? d.items[0] : "");
	diags_release(&d);
	strbuf_release(&y);
	l->ds = (const struct dataset *)l->p->objects[0];
}

static void loaded_free(struct loaded *l)
{
	policy_free(l->p);
	intern_free(l->in);
}

static void create(const char *key, const char *extra, struct snapshot_result *res)
{
	struct loaded l;
	dataset(&l, key, extra);
	struct snapshot_options o = { .store = store, .build = "1.4.2", .generation = 7 };
	struct error err = ERROR_INIT;
	cr_assert_eq(snapshot_create(l.ds, &o, res, &err), 0, "%s", error_msg(&err));
	loaded_free(&l);
}

/* A new empty database named db, and the snapshot restored into it. */
static void restore_into(const char *id, const char *db)
{
	PGconn *admin = pg_connect("postgres");
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	pg_exec(admin, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	pg_exec(admin, sql);
	PQfinish(admin);
	char *url = url_of(db);
	struct snapshot_restore_result rr;
	struct error err = ERROR_INIT;
	cr_assert_eq(snapshot_restore(store, id, url, NULL, NULL, &rr, &err), 0, "%s",
		     error_msg(&err));
	snapshot_restore_result_release(&rr);
	free(url);
}

static int64_t count(PGconn *conn, const char *sql)
{
	char *v = pg_value(conn, sql);
	int64_t n = v ? strtoll(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* Every foreign key of the restored database, checked row by row with a
 * query of its own: the number of rows whose reference has no parent. */
static void expect_references_resolve(PGconn *conn)
{
	PGresult *r = PQexec(conn,
			     "SELECT format('SELECT count(*) FROM %s c WHERE NOT EXISTS (SELECT 1 FROM %s p WHERE %s) AND %s',"
			     "  con.conrelid::regclass, con.confrelid::regclass,"
			     "  string_agg(format('p.%I = c.%I', pa.attname, ca.attname), ' AND '),"
			     "  string_agg(format('c.%I IS NOT NULL', ca.attname), ' AND ')), con.conname"
			     " FROM pg_constraint con"
			     " CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(c, p)"
			     " JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.c"
			     " JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.p"
			     " WHERE con.contype = 'f' AND con.conparentid = 0"
			     " GROUP BY con.oid, con.conrelid, con.confrelid, con.conname");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
	cr_expect_eq(PQntuples(r), 19, "foreign keys restored: %d", PQntuples(r));
	for (int i = 0; i < PQntuples(r); i++)
		cr_expect_eq(count(conn, PQgetvalue(r, i, 0)), 0, "%s has dangling rows",
			     PQgetvalue(r, i, 1));
	PQclear(r);
}

/* No original value of an anonymized column is anywhere in the copy. */
static void expect_no_original_value(PGconn *src, PGconn *dst)
{
	PGresult *orig = PQexec(src,
				"SELECT v FROM (SELECT email::text v FROM customer UNION SELECT first_name FROM customer"
				" UNION SELECT last_name FROM customer UNION SELECT phone FROM customer"
				" UNION SELECT note FROM customer UNION SELECT born::text FROM customer"
				" UNION SELECT email FROM staff UNION SELECT name FROM staff"
				" UNION SELECT password FROM staff) x WHERE v IS NOT NULL");
	cr_assert_eq(PQresultStatus(orig), PGRES_TUPLES_OK);
	cr_assert_gt(PQntuples(orig), 15);
	PGresult *tables = PQexec(dst, "SELECT oid::regclass FROM pg_class WHERE relkind IN ('r')"
				       " AND relnamespace::regnamespace::text IN ('public', 'sales')");
	cr_assert_eq(PQntuples(tables), 14, "13 tables, payment as its 2 partitions");
	for (int t = 0; t < PQntuples(tables); t++) {
		for (int i = 0; i < PQntuples(orig); i++) {
			const char *params[1] = { PQgetvalue(orig, i, 0) };
			char sql[512];
			snprintf(sql, sizeof(sql),
				 "SELECT count(*) FROM %s x WHERE strpos(row_to_json(x)::text, $1) > 0",
				 PQgetvalue(tables, t, 0));
			PGresult *r = PQexecParams(dst, sql, 1, NULL, params, NULL, NULL, 0);
			cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
			cr_expect_str_eq(PQgetvalue(r, 0, 0), "0", "'%s' is still in %s", params[0],
					 PQgetvalue(tables, t, 0));
			PQclear(r);
		}
	}
	PQclear(tables);
	PQclear(orig);
}

Test(snapshot, create_restore_closure_and_anonymization)
{
	struct snapshot_result res;
	create(key1, NULL, &res);
	cr_assert_not_null(res.id);
	cr_expect(!strncmp(res.id, "main.shop.", 10), "%s", res.id);
	/* 15 rows of the subset (see test_subset) and the other language. */
	cr_expect_eq(res.rows, 16, "rows: %lld", (long long)res.rows);
	cr_expect_gt(res.bytes, 0);
	/* customer.mood's enum is not text; last_name has a rule; the text
	 * columns left without one are named. */
	bool warned = false;
	for (size_t i = 0; i < res.warnings.len; i++)
		warned |= strstr(res.warnings.items[i], "public.audit_log.note") != NULL;
	cr_expect(warned, "a warning names audit_log.note (%zu warnings)", res.warnings.len);

	json_t *m;
	struct error err = ERROR_INIT;
	cr_assert_eq(snapshot_show(store, res.id, &m, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(json_string_value(json_object_get(m, "build")), "1.4.2");
	cr_expect_eq(json_integer_value(json_object_get(m, "generation")), 7);
	cr_expect_eq(json_integer_value(json_object_get(m, "rows")), 16);
	cr_expect_eq(json_array_size(json_object_get(m, "tables")), 13);
	json_decref(m);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s/build.txt", store, res.id);
	cr_expect_eq(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/%s/public.customer.json.gz", store, res.id);
	cr_expect_eq(access(path, R_OK), 0);

	restore_into(res.id, "snap_restored");
	PGconn *src = pg_connect(SOURCE), *dst = pg_connect("snap_restored");
	expect_references_resolve(dst);
	cr_expect_eq(count(dst, "SELECT count(*) FROM customer"), 1);
	cr_expect_eq(count(dst, "SELECT count(*) FROM staff"), 2);
	cr_expect_eq(count(dst, "SELECT count(*) FROM payment"), 2);
	cr_expect_eq(count(dst, "SELECT count(*) FROM payment_2026"), 1);
	cr_expect_eq(count(dst, "SELECT count(*) FROM sales.invoice_line"), 2);
	cr_expect_eq(count(dst, "SELECT count(*) FROM audit_log"), 2);
	cr_expect_eq(count(dst, "SELECT count(*) FROM language"), 2);
	/* The same email in customer, staff and audit_log's reference became
	 * the same fake one everywhere. */
	cr_expect_eq(count(dst, "SELECT count(*) FROM customer c JOIN staff s ON s.email = c.email"
				" JOIN audit_log a ON a.customer_email = c.email WHERE c.customer_id = 1"
				" AND s.staff_id = 2"),
		     1);
	expect_no_original_value(src, dst);
	/* What was not anonymized came back as it was, byte for byte. */
	char *want = pg_value(src, "SELECT item FROM sales.invoice_line WHERE line = 1 AND store_id = 1");
	char *got = pg_value(dst, "SELECT item FROM sales.invoice_line WHERE line = 1 AND store_id = 1");
	cr_expect_str_eq(got, want);
	cr_expect(strchr(want, '\t') && strchr(want, '\n') && strchr(want, '\\') && strchr(want, 1));
	free(want);
	free(got);
	char *title = pg_value(dst, "SELECT title FROM film");
	cr_expect_str_eq(title, "Academy Dinosaur");
	free(title);
	char *mood = pg_value(dst, "SELECT mood::text || ' ' || store_id FROM customer");
	cr_expect_str_eq(mood, "happy 1");
	free(mood);
	/* The schema's other objects: trigger, view, enum, domain, partitions. */
	cr_expect_eq(count(dst, "SELECT count(*) FROM pg_trigger WHERE tgname = 'customer_touch'"), 1);
	cr_expect_eq(count(dst, "SELECT count(*) FROM customer_list"), 1);
	cr_expect_eq(count(dst, "SELECT count(*) FROM pg_type WHERE typname IN ('mood', 'email_t')"), 2);
	cr_expect_eq(count(dst, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'payment'::regclass"), 2);
	/* Tables were analyzed. */
	cr_expect_gt(count(dst, "SELECT count(*) FROM pg_stats WHERE tablename = 'customer'"), 0);
	/* Sequences continue past the data. */
	pg_exec(dst, "INSERT INTO language (name) VALUES ('German')");
	cr_expect_eq(count(dst, "SELECT max(language_id) FROM language"), 3);
	pg_exec(dst, "INSERT INTO customer (store_id, first_name, last_name) VALUES (1, 'N', 'N')");
	cr_expect_eq(count(dst, "SELECT max(customer_id) FROM customer"), 2);
	PQfinish(src);
	PQfinish(dst);

	/* A second restore into the now non-empty database is refused. */
	char *url = url_of("snap_restored");
	struct snapshot_restore_result rr;
	cr_expect_eq(snapshot_restore(store, res.id, url, NULL, NULL, &rr, &err), -1);
	cr_expect(strstr(error_msg(&err), "is not empty: it has table public.actor"), "%s",
		  error_msg(&err));
	error_clear(&err);
	free(url);
	snapshot_result_release(&res);
}

/* The sha256 of table's file in snapshot id, from its manifest. */
static char *file_sha(const char *id, const char *table)
{
	json_t *m;
	struct error err = ERROR_INIT;
	cr_assert_eq(snapshot_show(store, id, &m, &err), 0);
	size_t i;
	json_t *t;
	char *sha = NULL;
	json_array_foreach(json_object_get(m, "tables"), i, t)
	if (!strcmp(json_string_value(json_object_get(t, "table")), table))
		sha = strdup(json_string_value(json_object_get(t, "sha256")));
	json_decref(m);
	return sha;
}

Test(snapshot, deterministic_across_runs_and_keys)
{
	struct snapshot_result a, b, c;
	create(key1, NULL, &a);
	create(key1, NULL, &b);
	create(key2, NULL, &c);
	cr_expect_str_neq(a.id, b.id);
	static const char *const tables[] = { "public.customer", "public.staff", "public.audit_log",
					      "public.film" };
	for (size_t i = 0; i < 4; i++) {
		char *x = file_sha(a.id, tables[i]), *y = file_sha(b.id, tables[i]),
		     *z = file_sha(c.id, tables[i]);
		cr_expect_str_eq(x, y, "%s: same key, same bytes", tables[i]);
		if (strcmp(tables[i], "public.film") != 0)
			cr_expect_str_neq(x, z, "%s: another key, other values", tables[i]);
		else
			cr_expect_str_eq(x, z, "film has nothing anonymized");
		free(x);
		free(y);
		free(z);
	}
	/* keep: 3 (the default) — the fourth snapshot prunes the first. */
	struct snapshot_result d;
	create(key1, NULL, &d);
	cr_expect_eq(d.npruned, 1);
	if (d.npruned)
		cr_expect_str_eq(d.pruned[0], a.id);
	json_t *list;
	struct error err = ERROR_INIT;
	cr_assert_eq(snapshot_list(store, "main/shop", &list, &err), 0);
	cr_expect_eq(json_array_size(list), 3);
	json_decref(list);
	snapshot_result_release(&a);
	snapshot_result_release(&b);
	snapshot_result_release(&c);
	snapshot_result_release(&d);
}

Test(snapshot, schema_change_is_reported)
{
	struct snapshot_result a, b;
	create(key1, NULL, &a);
	cr_expect_null(a.schema_changed_since);
	PGconn *src = pg_connect(SOURCE);
	pg_exec(src, "ALTER TABLE film ADD COLUMN rating text");
	PQfinish(src);
	create(key1, NULL, &b);
	cr_expect_str_eq(b.schema_changed_since, a.id);
	snapshot_result_release(&a);
	snapshot_result_release(&b);
}

/* How many entries a directory has, hidden ones too. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

Test(snapshot, a_failed_create_leaves_nothing)
{
	struct loaded l;
	dataset(&l, key1, "  max_rows: 3\n");
	struct snapshot_options o = { .store = store };
	struct snapshot_result res;
	struct error err = ERROR_INIT;
	cr_expect_eq(snapshot_create(l.ds, &o, &res, &err), -1);
	cr_expect(strstr(error_msg(&err), "max_rows (3)"), "%s", error_msg(&err));
	cr_expect_eq(entries(store), 0);
	error_clear(&err);
	snapshot_result_release(&res);
	loaded_free(&l);

	dataset(&l, "/nonexistent/key", NULL);
	cr_expect_eq(snapshot_create(l.ds, &o, &res, &err), -1);
	cr_expect(strstr(error_msg(&err), "shop.yaml:1:3: dataset main/shop: cannot read key_file /nonexistent/key"),
		  "%s", error_msg(&err));
	error_clear(&err);
	snapshot_result_release(&res);
	loaded_free(&l);
}
