/* The subset against a real PostgreSQL on the hard-case schema: the rows
 * taken are exactly what the rules give for hand-checked datasets (roots,
 * children, parents, children: true and false, cycles, a self-reference,
 * composite keys, partitions, a table without a primary key), whole tables,
 * max_rows, and names the source lacks. */
#include "engine/snapshot/subset.h"
#include "policy/policy.h"
#include "pg_fixture.h"

#include "base/arena.h"

#include <string.h>

#define DB "subset_hard"

struct run {
	struct intern *in;
	struct policy *p;
	PGconn *conn;
	struct sn_catalog cat;
	struct sn_subset sub;
	struct error err;
	int rc;
};

/* Loads one dataset from yaml and computes its subset of DB in a read-only
 * REPEATABLE READ transaction, left open so the test can read the rows. */
static void subset_of(struct run *r, const char *yaml)
{
	memset(r, 0, sizeof(*r));
	r->in = intern_new();
	r->p = policy_new(r->in);
	struct diags d = DIAGS_INIT;
	int rc = policy_add_yaml(r->p, "d.yaml", yaml, strlen(yaml), 0, &d);
	cr_assert_eq(rc, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
	const struct dataset *ds = (const struct dataset *)r->p->objects[0];
	r->conn = pg_connect(DB);
	pg_exec(r->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	cr_assert_eq(sn_catalog_read(r->conn, &r->cat, &r->err), 0, "%s", error_msg(&r->err));
	r->rc = sn_subset_compute(r->conn, &r->cat, ds, &r->sub, &r->err);
}

static void done(struct run *r)
{
	sn_subset_release(&r->sub);
	sn_catalog_release(&r->cat);
	PQfinish(r->conn);
	policy_free(r->p);
	intern_free(r->in);
	error_clear(&r->err);
}

/* The taken rows of a table as "expr" values, sorted and comma-separated
 * ("all" when the table is taken whole, "" when none). */
static char *taken(struct run *r, const char *table, const char *expr)
{
	size_t t;
	struct error err = ERROR_INIT;
	cr_assert_eq(sn_catalog_table(&r->cat, table, &t, &err), 0, "%s", error_msg(&err));
	const struct sn_subset_table *st = &r->sub.tables[t];
	if (st->all)
		return strdup("all");
	struct strbuf where = STRBUF_INIT;
	for (size_t p = 0; p < st->nparts; p++) {
		strbuf_addf(&where, "%s(tableoid = %u AND ctid = ANY('{", p ? " OR " : "",
			    st->parts[p].tableoid);
		for (size_t i = 0; i < st->parts[p].len; i++)
			strbuf_addf(&where, "%s\"%s\"", i ? "," : "", st->parts[p].ctids[i]);
		strbuf_adds(&where, "}'::tid[]))");
	}
	if (!st->nparts)
		strbuf_adds(&where, "false");
	struct strbuf sql = STRBUF_INIT;
	strbuf_addf(&sql, "SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM (SELECT (%s)::text AS v FROM %s WHERE %s) x",
		    expr, r->cat.tables[t].qname, strbuf_cstr(&where));
	char *v = pg_value(r->conn, strbuf_cstr(&sql));
	int64_t n = 0;
	for (const char *c = v; *c; c++)
		n += *c == ',';
	cr_expect_eq(st->count, *v ? n + 1 : 0, "%s: count %lld", table, (long long)st->count);
	strbuf_release(&sql);
	strbuf_release(&where);
	return v;
}

static void expect_taken(struct run *r, const char *table, const char *expr, const char *want)
{
	char *got = taken(r, table, expr);
	cr_expect_str_eq(got, want, "%s: taken %s, expected %s", table, got, want);
	free(got);
}

#define HEAD "- kind: dataset\n  metadata: {namespace: main, name: d}\n  source: {url: \"postgres://x@db/x\"}\n"

static void setup(void)
{
	pg_create_hard_cases(DB);
}

TestSuite(subset, .init = setup, .timeout = 60);

Test(subset, root_children_parents_cycles_and_children_true)
{
	struct run r;
	subset_of(&r, HEAD "  roots: [{table: customer, where: \"customer_id = 1\"}]\n"
			   "  references: {film_actor_film_id_fkey: {children: true}}\n");
	cr_assert_eq(r.rc, 0, "%s", error_msg(&r.err));
	/* customer 1 is the root; its children (rentals, payments in both
	 * partitions, invoices and their lines by composite key, audit rows
	 * without a primary key) come along, and every row's parents: store 1,
	 * its manager staff 1 (the cycle), staff 2 who rented and reports to
	 * staff 1 (the self-reference), inventory 1, film 1, language 1. Store 1
	 * came only as a parent: its other customers and inventory do not. Film
	 * 1 also came only as a parent, but film_actor_film_id_fkey says
	 * children: true, so its cast (and their actors) come. */
	expect_taken(&r, "customer", "customer_id", "1");
	expect_taken(&r, "store", "store_id", "1");
	expect_taken(&r, "staff", "staff_id", "1,2");
	expect_taken(&r, "rental", "rental_id", "1");
	expect_taken(&r, "inventory", "inventory_id", "1");
	expect_taken(&r, "film", "film_id", "1");
	expect_taken(&r, "language", "language_id", "1");
	expect_taken(&r, "film_actor", "actor_id || '/' || film_id", "1/1,2/1");
	expect_taken(&r, "actor", "actor_id", "1,2");
	expect_taken(&r, "payment", "payment_id", "1,2");
	expect_taken(&r, "sales.invoice", "store_id || '/' || invoice_no", "1/100");
	expect_taken(&r, "sales.invoice_line", "store_id || '/' || invoice_no || '/' || line",
		     "1/100/1,1/100/2");
	expect_taken(&r, "audit_log", "note", "x,z");
	cr_expect_eq(r.sub.total, 19);
	cr_expect_gt(r.sub.rounds, 2);
	done(&r);
}

Test(subset, parent_only_rows_do_not_pull_children_by_default)
{
	struct run r;
	subset_of(&r, HEAD "  roots: [{table: customer, where: \"customer_id = 1\"}]\n");
	cr_assert_eq(r.rc, 0, "%s", error_msg(&r.err));
	expect_taken(&r, "film", "film_id", "1");
	expect_taken(&r, "film_actor", "actor_id", "");
	expect_taken(&r, "actor", "actor_id", "");
	cr_expect_eq(r.sub.total, 15);
	done(&r);
}

Test(subset, children_false_is_never_followed_down)
{
	struct run r;
	subset_of(&r, HEAD "  roots: [{table: customer, where: \"customer_id = 1\"}]\n"
			   "  references:\n"
			   "    rental_customer_id_fkey: {children: false}\n"
			   "    payment_customer_id_fkey: {children: false}\n");
	cr_assert_eq(r.rc, 0, "%s", error_msg(&r.err));
	expect_taken(&r, "customer", "customer_id", "1");
	expect_taken(&r, "rental", "rental_id", "");
	expect_taken(&r, "payment", "payment_id", "");
	expect_taken(&r, "inventory", "inventory_id", "");
	expect_taken(&r, "staff", "staff_id", "1");
	expect_taken(&r, "sales.invoice_line", "line", "1,2");
	done(&r);
}

Test(subset, a_store_root_follows_the_cycle_both_ways)
{
	struct run r;
	subset_of(&r, HEAD "  roots: [{table: store, where: \"store_id = 2\"}]\n");
	cr_assert_eq(r.rc, 0, "%s", error_msg(&r.err));
	/* Store 2's children: staff 3, customer 3, inventory 2, invoice 2/100;
	 * their children: rental 2 (customer 3, inventory 2, staff 3), payment
	 * 3, invoice line 2/100/1; parents: staff 1 (store 2's manager is staff
	 * 3 who reports to staff 1), whose store 1 comes as a parent only; film
	 * 2, language 2. */
	expect_taken(&r, "store", "store_id", "1,2");
	expect_taken(&r, "staff", "staff_id", "1,3");
	expect_taken(&r, "customer", "customer_id", "3");
	expect_taken(&r, "rental", "rental_id", "2");
	expect_taken(&r, "payment", "payment_id", "3");
	expect_taken(&r, "inventory", "inventory_id", "2");
	expect_taken(&r, "film", "film_id", "2");
	expect_taken(&r, "language", "language_id", "2");
	expect_taken(&r, "sales.invoice_line", "line", "1");
	expect_taken(&r, "audit_log", "note", "");
	done(&r);
}

Test(subset, whole_tables_and_roots_without_where)
{
	struct run r;
	subset_of(&r, HEAD "  roots: [{table: film}]\n  tables: {language: {whole: true}, audit_log: {whole: true}}\n");
	cr_assert_eq(r.rc, 0, "%s", error_msg(&r.err));
	/* Every film is a root: their inventory and casts come as children,
	 * and the inventory's rentals as theirs, and the rentals' payments; as
	 * parents, the actors, stores, staff and customers. The customers came
	 * only as parents: their invoices do not. The audit log is taken
	 * whole, its customers as parents. */
	expect_taken(&r, "film", "film_id", "all");
	expect_taken(&r, "language", "language_id", "all");
	expect_taken(&r, "audit_log", "note", "all");
	expect_taken(&r, "film_actor", "film_id", "1,1,2,3");
	expect_taken(&r, "actor", "actor_id", "1,2,3");
	expect_taken(&r, "inventory", "inventory_id", "1,2,3");
	expect_taken(&r, "rental", "rental_id", "1,2,3");
	expect_taken(&r, "payment", "payment_id", "1,2,3");
	expect_taken(&r, "customer", "customer_id", "1,2,3");
	expect_taken(&r, "staff", "staff_id", "1,2,3");
	expect_taken(&r, "store", "store_id", "1,2");
	expect_taken(&r, "sales.invoice", "invoice_no", "");
	cr_expect_eq(r.sub.total, 3 + 2 + 3 + 4 + 3 + 3 + 3 + 3 + 3 + 3 + 2);
	done(&r);
}

Test(subset, max_rows_refuses_with_the_count_reached)
{
	struct run r;
	subset_of(&r, HEAD "  roots: [{table: customer, where: \"customer_id = 1\"}]\n  max_rows: 5\n");
	cr_expect_eq(r.rc, -1);
	cr_expect(strstr(error_msg(&r.err), "more than max_rows (5) rows: 6 reached"), "%s",
		  error_msg(&r.err));
	done(&r);
}

Test(subset, names_the_source_lacks)
{
	struct run r;
	subset_of(&r, HEAD "  roots: [{table: custmer, where: \"true\"}]\n");
	cr_expect_eq(r.rc, -1);
	cr_expect(strstr(error_msg(&r.err), "d.yaml:4:11: dataset main/d: roots: the source has no table 'custmer' (the nearest is 'customer')"),
		  "%s", error_msg(&r.err));
	done(&r);

	subset_of(&r, HEAD "  roots: [{table: customer}]\n  references: {rental_custmer_id_fkey: {children: false}}\n");
	cr_expect_eq(r.rc, -1);
	cr_expect(strstr(error_msg(&r.err), "no foreign key 'rental_custmer_id_fkey' (the nearest is 'rental_customer_id_fkey')"),
		  "%s", error_msg(&r.err));
	done(&r);

	subset_of(&r, HEAD "  roots: [{table: customer, where: \"no_such_column = 1\"}]\n");
	cr_expect_eq(r.rc, -1);
	cr_expect(strstr(error_msg(&r.err), "roots: where: querying table public.customer"),
		  "%s", error_msg(&r.err));
	cr_expect(strstr(error_msg(&r.err), "no_such_column"), "%s", error_msg(&r.err));
	done(&r);
}
