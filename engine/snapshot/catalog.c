/* Reading the source's tables, columns and foreign keys from pg_catalog. */
#include "catalog.h"

#include "base/arena.h"
#include "base/strbuf.h"
#include "base/suggest.h"
#include "base/sha256.h"

#include <openssl/evp.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

/* Ordinary and partitioned tables outside the system schemas and not owned
 * by an extension; partitions are read through their parent. */
static const char tables_sql[] =
	"SELECT c.oid, n.nspname, c.relname, c.relkind = 'p',"
	"  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)"
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
	"  AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
	"  AND n.nspname NOT LIKE 'pg\\_%'"
	"  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
	"                  AND d.objid = c.oid AND d.deptype = 'e')"
	" ORDER BY n.nspname, c.relname";

/* The category of a domain is that of its base type. */
static const char columns_sql[] =
	"SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnum,"
	"  a.attnotnull, a.attgenerated <> '', a.attidentity,"
	"  (SELECT b.typcategory FROM pg_type b"
	"    WHERE b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)"
	" FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
	" WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped"
	" ORDER BY a.attrelid, a.attnum";

/* Columns that are alone the key of a unique index without a predicate. */
static const char unique_sql[] =
	"SELECT i.indrelid, i.indkey[0] FROM pg_index i"
	" WHERE i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] > 0 AND i.indpred IS NULL"
	"  AND i.indrelid = ANY($1::oid[])";

static const char partitions_sql[] =
	"SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname)"
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.relispartition AND c.relkind = 'r'";

/* Constraints cloned onto partitions have a parent constraint: the parent's
 * one stands for them. */
static const char fks_sql[] =
	"SELECT con.conname, con.conrelid, con.confrelid, con.conkey::text, con.confkey::text"
	" FROM pg_constraint con"
	" WHERE con.contype = 'f' AND con.conparentid = 0"
	"  AND con.conrelid = ANY($1::oid[]) AND con.confrelid = ANY($1::oid[])"
	" ORDER BY con.conname, con.conrelid";

const char *sn_quote_ident(struct arena *a, const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addc(&sb, '"');
	for (const char *c = name; *c; c++) {
		if (*c == '"')
			strbuf_addc(&sb, '"');
		strbuf_addc(&sb, *c);
	}
	strbuf_addc(&sb, '"');
	char *out = arena_strndup(a, sb.buf, sb.len);
	strbuf_release(&sb);
	return out;
}

static PGresult *query(PGconn *conn, const char *sql, const char *param, struct error *err)
{
	const char *params[1] = { param };
	PGresult *r = PQexecParams(conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		error_set(err, "reading the source's catalog: %s", PQresultErrorMessage(r));
		PQclear(r);
		return NULL;
	}
	return r;
}

static int table_by_oid(const struct sn_catalog *c, uint32_t oid)
{
	/* Tables are in name order, not oid order; a schema's few hundred
	 * tables make a linear scan cheap enough for reading the catalog once. */
	for (size_t i = 0; i < c->ntables; i++)
		if (c->tables[i].oid == oid)
			return (int)i;
	return -1;
}

static int column_by_attnum(const struct sn_table *t, long attnum)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (t->cols[i].attnum == attnum)
			return (int)i;
	return -1;
}

/* "{1,2}" into column indices of t; the count, or -1. */
static int parse_attnums(struct arena *a, const struct sn_table *t, const char *s, size_t **out)
{
	size_t n = 1;
	for (const char *c = s; *c; c++)
		n += *c == ',';
	*out = arena_alloc(a, n * sizeof(**out));
	size_t k = 0;
	if (*s == '{')
		s++;
	while (*s && *s != '}') {
		char *end;
		long attnum = strtol(s, &end, 10);
		int col = column_by_attnum(t, attnum);
		if (end == s || col < 0 || k == n)
			return -1;
		(*out)[k++] = (size_t)col;
		s = *end == ',' ? end + 1 : end;
	}
	return (int)k;
}

static uint32_t oid_at(const PGresult *r, int row, int col)
{
	return (uint32_t)strtoul(PQgetvalue(r, row, col), NULL, 10);
}

/* The tables, in name order, and their oids as an array literal ("{1,2}")
 * for the queries that follow. */
static int read_tables(PGconn *conn, struct sn_catalog *c, struct strbuf *oids, struct error *err)
{
	PGresult *r = query(conn, tables_sql, NULL, err);
	if (!r)
		return -1;
	c->ntables = (size_t)PQntuples(r);
	c->tables = arena_alloc(c->arena, (c->ntables ? c->ntables : 1) * sizeof(*c->tables));
	strbuf_addc(oids, '{');
	for (size_t i = 0; i < c->ntables; i++) {
		struct sn_table *t = &c->tables[i];
		t->oid = oid_at(r, (int)i, 0);
		t->schema = arena_strdup(c->arena, PQgetvalue(r, (int)i, 1));
		t->name = arena_strdup(c->arena, PQgetvalue(r, (int)i, 2));
		t->partitioned = PQgetvalue(r, (int)i, 3)[0] == 't';
		t->has_pk = PQgetvalue(r, (int)i, 4)[0] == 't';
		t->qname = arena_printf(c->arena, "%s.%s", sn_quote_ident(c->arena, t->schema),
					sn_quote_ident(c->arena, t->name));
		t->label = arena_printf(c->arena, "%s.%s", t->schema, t->name);
		strbuf_addf(oids, "%s%u", i ? "," : "", t->oid);
	}
	strbuf_addc(oids, '}');
	PQclear(r);
	return 0;
}

static int read_columns(PGconn *conn, struct sn_catalog *c, const char *oids, struct error *err)
{
	PGresult *r = query(conn, columns_sql, oids, err);
	if (!r)
		return -1;
	size_t nrows = (size_t)PQntuples(r);
	/* Rows come grouped by table: count, then fill. */
	for (size_t i = 0; i < nrows; i++) {
		int ti = table_by_oid(c, oid_at(r, (int)i, 0));
		if (ti >= 0)
			c->tables[ti].ncols++;
	}
	for (size_t i = 0; i < c->ntables; i++) {
		size_t n = c->tables[i].ncols;
		c->tables[i].cols = arena_alloc(c->arena, (n ? n : 1) * sizeof(struct sn_column));
		c->tables[i].ncols = 0;
	}
	for (size_t i = 0; i < nrows; i++) {
		int ti = table_by_oid(c, oid_at(r, (int)i, 0));
		if (ti < 0)
			continue;
		struct sn_table *t = &c->tables[ti];
		struct sn_column *col = &t->cols[t->ncols++];
		col->name = arena_strdup(c->arena, PQgetvalue(r, (int)i, 1));
		col->type = arena_strdup(c->arena, PQgetvalue(r, (int)i, 2));
		col->attnum = (int16_t)atoi(PQgetvalue(r, (int)i, 3));
		col->notnull = PQgetvalue(r, (int)i, 4)[0] == 't';
		col->generated = PQgetvalue(r, (int)i, 5)[0] == 't';
		col->identity = PQgetvalue(r, (int)i, 6)[0];
		col->category = PQgetvalue(r, (int)i, 7)[0];
	}
	PQclear(r);
	return 0;
}

static int read_partitions(PGconn *conn, struct sn_catalog *c, struct error *err)
{
	PGresult *r = query(conn, partitions_sql, NULL, err);
	if (!r)
		return -1;
	c->npartitions = (size_t)PQntuples(r);
	c->partitions = arena_alloc(c->arena, (c->npartitions ? c->npartitions : 1) *
						      sizeof(*c->partitions));
	for (size_t i = 0; i < c->npartitions; i++) {
		c->partitions[i].oid = oid_at(r, (int)i, 0);
		c->partitions[i].qname = arena_strdup(c->arena, PQgetvalue(r, (int)i, 1));
	}
	PQclear(r);
	return 0;
}

/* Marks the columns that are unique on their own. */
static int read_unique(PGconn *conn, struct sn_catalog *c, const char *oids, struct error *err)
{
	PGresult *r = query(conn, unique_sql, oids, err);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		int ti = table_by_oid(c, oid_at(r, i, 0));
		int col = ti < 0 ? -1 : column_by_attnum(&c->tables[ti], atol(PQgetvalue(r, i, 1)));
		if (col >= 0)
			c->tables[ti].cols[col].unique = true;
	}
	PQclear(r);
	return 0;
}

static int read_fks(PGconn *conn, struct sn_catalog *c, const char *oids, struct error *err)
{
	PGresult *r = query(conn, fks_sql, oids, err);
	if (!r)
		return -1;
	size_t nrows = (size_t)PQntuples(r);
	c->fks = arena_alloc(c->arena, (nrows ? nrows : 1) * sizeof(*c->fks));
	int rc = 0;
	for (size_t i = 0; i < nrows && rc == 0; i++) {
		struct sn_fk *fk = &c->fks[c->nfks];
		int child = table_by_oid(c, oid_at(r, (int)i, 1));
		int parent = table_by_oid(c, oid_at(r, (int)i, 2));
		if (child < 0 || parent < 0)
			continue;
		fk->name = arena_strdup(c->arena, PQgetvalue(r, (int)i, 0));
		fk->child = (size_t)child;
		fk->parent = (size_t)parent;
		fk->children = -1;
		int nc = parse_attnums(c->arena, &c->tables[child], PQgetvalue(r, (int)i, 3),
				       &fk->child_cols);
		int np = parse_attnums(c->arena, &c->tables[parent], PQgetvalue(r, (int)i, 4),
				       &fk->parent_cols);
		if (nc <= 0 || nc != np) {
			rc = error_set(err, "reading the source's catalog: foreign key %s of %s has "
					    "columns cairn cannot read",
				       fk->name, c->tables[child].label);
			break;
		}
		fk->ncols = (size_t)nc;
		c->nfks++;
	}
	PQclear(r);
	return rc;
}

int sn_catalog_read(PGconn *conn, struct sn_catalog *c, struct error *err)
{
	memset(c, 0, sizeof(*c));
	c->arena = arena_new();
	struct strbuf oids = STRBUF_INIT;
	int rc = read_tables(conn, c, &oids, err);
	if (rc == 0)
		rc = read_columns(conn, c, strbuf_cstr(&oids), err);
	if (rc == 0)
		rc = read_partitions(conn, c, err);
	if (rc == 0)
		rc = read_unique(conn, c, strbuf_cstr(&oids), err);
	if (rc == 0)
		rc = read_fks(conn, c, strbuf_cstr(&oids), err);
	strbuf_release(&oids);
	if (rc < 0)
		sn_catalog_release(c);
	return rc;
}

void sn_catalog_release(struct sn_catalog *c)
{
	arena_free(c->arena);
	memset(c, 0, sizeof(*c));
}

int sn_catalog_table(const struct sn_catalog *c, const char *name, size_t *out, struct error *err)
{
	const char *dot = strchr(name, '.');
	int found = -1, matches = 0;
	for (size_t i = 0; i < c->ntables; i++) {
		const struct sn_table *t = &c->tables[i];
		if (dot ? strcmp(t->label, name) == 0 : strcmp(t->name, name) == 0) {
			if (dot || strcmp(t->schema, "public") == 0) {
				*out = i;
				return 0;
			}
			found = (int)i;
			matches++;
		}
	}
	if (matches == 1) {
		*out = (size_t)found;
		return 0;
	}
	if (matches > 1)
		return error_set(err, "table '%s' is in %d schemas: write it as schema.%s", name,
				 matches, name);
	struct suggestion s;
	suggest_begin(&s, name, SUGGEST_ANY);
	for (size_t i = 0; i < c->ntables; i++) {
		const struct sn_table *t = &c->tables[i];
		suggest_offer(&s, dot || strcmp(t->schema, "public") != 0 ? t->label : t->name);
	}
	const char *best = suggest_best(&s);
	if (best)
		return error_set(err, "the source has no table '%s' (the nearest is '%s')", name,
				 best);
	return error_set(err, "the source has no table '%s' (it has no tables at all)", name);
}

int sn_catalog_column(const struct sn_catalog *c, size_t ti, const char *name, size_t *out,
		      struct error *err)
{
	const struct sn_table *t = &c->tables[ti];
	struct suggestion s;
	suggest_begin(&s, name, SUGGEST_ANY);
	for (size_t i = 0; i < t->ncols; i++) {
		if (strcmp(t->cols[i].name, name) == 0) {
			*out = i;
			return 0;
		}
		suggest_offer(&s, t->cols[i].name);
	}
	const char *best = suggest_best(&s);
	if (best)
		return error_set(err, "table %s has no column '%s' (the nearest is '%s')", t->label,
				 name, best);
	return error_set(err, "table %s has no column '%s' (it has no columns)", t->label, name);
}

const char *sn_partition_name(const struct sn_catalog *c, uint32_t oid)
{
	for (size_t i = 0; i < c->npartitions; i++)
		if (c->partitions[i].oid == oid)
			return c->partitions[i].qname;
	return NULL;
}

void sn_catalog_fingerprint(const struct sn_catalog *c, char out[65])
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < c->ntables; i++) {
		const struct sn_table *t = &c->tables[i];
		strbuf_addf(&sb, "table %s%s\n", t->label, t->partitioned ? " partitioned" : "");
		for (size_t k = 0; k < t->ncols; k++)
			strbuf_addf(&sb, "  %s %s%s%s%s\n", t->cols[k].name, t->cols[k].type,
				    t->cols[k].notnull ? " not null" : "",
				    t->cols[k].generated ? " generated" : "",
				    t->cols[k].unique ? " unique" : "");
	}
	for (size_t i = 0; i < c->nfks; i++) {
		const struct sn_fk *fk = &c->fks[i];
		strbuf_addf(&sb, "fk %s %s(", fk->name, c->tables[fk->child].label);
		for (size_t k = 0; k < fk->ncols; k++)
			strbuf_addf(&sb, "%s%s", k ? "," : "",
				    c->tables[fk->child].cols[fk->child_cols[k]].name);
		strbuf_addf(&sb, ") -> %s(", c->tables[fk->parent].label);
		for (size_t k = 0; k < fk->ncols; k++)
			strbuf_addf(&sb, "%s%s", k ? "," : "",
				    c->tables[fk->parent].cols[fk->parent_cols[k]].name);
		strbuf_adds(&sb, ")\n");
	}
	sha256_hex(sb.buf, sb.len, out);
	strbuf_release(&sb);
}
