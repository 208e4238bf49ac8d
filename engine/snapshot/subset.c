/* The closure over foreign keys: a worklist of key rows per table, each row
 * moving at most once from absent to reached-as-parent (UP) and once to
 * reached-as-child-or-root (DOWN), so cycles and self-references end. */
#include "subset.h"

#include "policy/policy.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/suggest.h"
#include "base/vec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Keys per query: large enough that a round costs few round trips, small
 * enough that one array parameter stays a few hundred kilobytes. */
#define BATCH 5000

enum { ABSENT = 0, UP = 1, DOWN = 2 };

/* Open-addressing set of packed row ids (partition << 48 | block << 16 |
 * offset) with their state; 0 is never a row id, since offsets start at 1. */
struct rowset {
	uint64_t *keys;
	uint8_t *state;
	size_t cap, len;
};

static size_t rowset_slot(const struct rowset *rs, uint64_t key)
{
	uint64_t h = key * 0x9E3779B97F4A7C15ull;
	size_t i = (size_t)(h >> 20) & (rs->cap - 1);
	while (rs->keys[i] && rs->keys[i] != key)
		i = (i + 1) & (rs->cap - 1);
	return i;
}

static void rowset_grow(struct rowset *rs)
{
	struct rowset old = *rs;
	rs->cap = old.cap ? old.cap * 2 : 1024;
	rs->keys = xcalloc(rs->cap, sizeof(*rs->keys));
	rs->state = xcalloc(rs->cap, sizeof(*rs->state));
	for (size_t i = 0; i < old.cap; i++) {
		if (!old.keys[i])
			continue;
		size_t j = rowset_slot(rs, old.keys[i]);
		rs->keys[j] = old.keys[i];
		rs->state[j] = old.state[i];
	}
	free(old.keys);
	free(old.state);
}

/* The state of key, set to `to` when that is higher; returns the old one. */
static int rowset_raise(struct rowset *rs, uint64_t key, int to)
{
	if ((rs->len + 1) * 2 > rs->cap)
		rowset_grow(rs);
	size_t i = rowset_slot(rs, key);
	int old = rs->keys[i] ? rs->state[i] : ABSENT;
	if (!rs->keys[i]) {
		rs->keys[i] = key;
		rs->len++;
	}
	if (to > old)
		rs->state[i] = (uint8_t)to;
	return old;
}

static void rowset_release(struct rowset *rs)
{
	free(rs->keys);
	free(rs->state);
	memset(rs, 0, sizeof(*rs));
}

/* Key rows waiting to be followed: each row is the table's key columns'
 * text values (NULL for SQL NULL), in the frontier's arena. */
struct frontier {
	struct arena *arena;
	VEC(char **) up;          /* newly taken: need their parents */
	VEC(char **) down;        /* taken as roots or children: need their children */
	VEC(char **) parent_only; /* taken as parents: children along children: true only */
};

struct table_state {
	bool all;
	bool all_down; /* all, and a root: its rows' children are followed */
	size_t *keycols; /* columns of every foreign key it holds or is referenced by */
	size_t nkeycols;
	const char *select; /* "SELECT tableoid, ctid, <keycols> FROM <table>" */
	struct rowset rows;
	VEC(uint32_t) partitions; /* tableoid by partition index */
	struct frontier next;
	int64_t count;
};

struct fk_state {
	size_t *child_pos, *parent_pos; /* the columns' positions in the tables' key rows */
	struct map asked;               /* parent key tuples already fetched */
	struct arena *asked_arena;
};

struct subset_run {
	PGconn *conn;
	struct sn_catalog *c;
	const struct dataset *ds;
	struct table_state *ts;
	struct fk_state *fs;
	struct arena *arena;
	int64_t total;
	unsigned queries;
	struct error *err;
};

/* ---- setting up ---- */

static int apply_references(struct sn_catalog *c, const struct dataset *ds, struct error *err)
{
	for (uint32_t i = 0; i < ds->nreferences; i++) {
		const struct dataset_reference *r = &ds->references[i];
		bool found = false;
		struct suggestion s;
		suggest_begin(&s, r->constraint->s, SUGGEST_ANY);
		for (size_t k = 0; k < c->nfks; k++) {
			if (strcmp(c->fks[k].name, r->constraint->s) == 0) {
				c->fks[k].children = r->children ? 1 : 0;
				found = true;
			}
			suggest_offer(&s, c->fks[k].name);
		}
		const char *best = suggest_best(&s);
		if (!found)
			return error_set(err,
					 "%s:%u:%u: dataset %s/%s: references: the source has no "
					 "foreign key '%s'%s%s%s",
					 r->pos.file, r->pos.line, r->pos.col, ds->obj.ns->s,
					 ds->obj.name->s, r->constraint->s,
					 best ? " (the nearest is '" : "", best ? best : "",
					 best ? "')" : "");
	}
	return 0;
}

static int position_of(const struct table_state *t, size_t col)
{
	for (size_t i = 0; i < t->nkeycols; i++)
		if (t->keycols[i] == col)
			return (int)i;
	return -1;
}

static void add_keycol(struct arena *a, struct table_state *t, size_t col, size_t max)
{
	if (!t->keycols)
		t->keycols = arena_alloc(a, (max ? max : 1) * sizeof(*t->keycols));
	if (position_of(t, col) < 0)
		t->keycols[t->nkeycols++] = col;
}

static void plan_keys(struct subset_run *run)
{
	struct sn_catalog *c = run->c;
	for (size_t k = 0; k < c->nfks; k++) {
		const struct sn_fk *fk = &c->fks[k];
		for (size_t i = 0; i < fk->ncols; i++) {
			add_keycol(run->arena, &run->ts[fk->child], fk->child_cols[i],
				   c->tables[fk->child].ncols);
			add_keycol(run->arena, &run->ts[fk->parent], fk->parent_cols[i],
				   c->tables[fk->parent].ncols);
		}
	}
	for (size_t k = 0; k < c->nfks; k++) {
		const struct sn_fk *fk = &c->fks[k];
		struct fk_state *f = &run->fs[k];
		f->child_pos = arena_alloc(run->arena, fk->ncols * sizeof(size_t));
		f->parent_pos = arena_alloc(run->arena, fk->ncols * sizeof(size_t));
		for (size_t i = 0; i < fk->ncols; i++) {
			f->child_pos[i] = (size_t)position_of(&run->ts[fk->child], fk->child_cols[i]);
			f->parent_pos[i] =
				(size_t)position_of(&run->ts[fk->parent], fk->parent_cols[i]);
		}
		f->asked_arena = arena_new();
	}
	for (size_t t = 0; t < c->ntables; t++) {
		struct table_state *ts = &run->ts[t];
		struct strbuf sb = STRBUF_INIT;
		strbuf_adds(&sb, "SELECT tableoid, ctid");
		for (size_t i = 0; i < ts->nkeycols; i++)
			strbuf_addf(&sb, ", %s",
				    sn_quote_ident(run->arena, c->tables[t].cols[ts->keycols[i]].name));
		strbuf_addf(&sb, " FROM %s", c->tables[t].qname);
		ts->select = arena_strndup(run->arena, sb.buf, sb.len);
		strbuf_release(&sb);
		ts->next.arena = arena_new();
	}
}

/* ---- reading key rows ---- */

static uint64_t row_id(struct table_state *t, const char *tableoid, const char *ctid)
{
	uint32_t oid = (uint32_t)strtoul(tableoid, NULL, 10);
	size_t part = 0;
	while (part < t->partitions.len && t->partitions.items[part] != oid)
		part++;
	if (part == t->partitions.len)
		vec_push(&t->partitions, oid);
	unsigned long block = 0, offset = 0;
	if (ctid[0] == '(') {
		char *end;
		block = strtoul(ctid + 1, &end, 10);
		if (*end == ',')
			offset = strtoul(end + 1, NULL, 10);
	}
	return (uint64_t)part << 48 | (uint64_t)block << 16 | (uint64_t)(offset & 0xffff);
}

static int check_max_rows(struct subset_run *run, size_t t)
{
	if (run->total <= run->ds->max_rows)
		return 0;
	return error_set(run->err,
			 "dataset %s/%s takes more than max_rows (%" PRId64 ") rows: %" PRId64
			 " reached while following rows into table %s; narrow its roots or "
			 "set children: false on a reference",
			 run->ds->obj.ns->s, run->ds->obj.name->s, run->ds->max_rows, run->total,
			 run->c->tables[t].label);
}

/* One key row of table t reached in mode UP or DOWN. */
static void ingest(struct subset_run *run, size_t t, PGresult *r, int row, int mode)
{
	struct table_state *ts = &run->ts[t];
	uint64_t id = row_id(ts, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1));
	int old = rowset_raise(&ts->rows, id, mode);
	if (old >= mode)
		return;
	if (old == ABSENT) {
		ts->count++;
		run->total++;
	}
	char **vals = arena_alloc(ts->next.arena, (ts->nkeycols ? ts->nkeycols : 1) * sizeof(char *));
	for (size_t i = 0; i < ts->nkeycols; i++)
		vals[i] = PQgetisnull(r, row, (int)i + 2)
				  ? NULL
				  : arena_strdup(ts->next.arena, PQgetvalue(r, row, (int)i + 2));
	if (old == ABSENT)
		vec_push(&ts->next.up, vals);
	if (mode == DOWN)
		vec_push(&ts->next.down, vals);
	else
		vec_push(&ts->next.parent_only, vals);
}

/* Runs a query returning key rows of table t (tableoid, ctid, key columns)
 * row by row, so a large result never sits in memory, and ingests each. */
static int fetch(struct subset_run *run, size_t t, const char *sql, int nparams,
		 const char *const *params, int mode)
{
	run->queries++;
	if (!PQsendQueryParams(run->conn, sql, nparams, NULL, params, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(run->conn))
		return error_set(run->err, "querying table %s: %s", run->c->tables[t].label,
				 PQerrorMessage(run->conn));
	int rc = 0;
	PGresult *r;
	while ((r = PQgetResult(run->conn))) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE) {
			if (rc == 0) {
				ingest(run, t, r, 0, mode);
				if (check_max_rows(run, t) < 0)
					rc = -1;
			}
		} else if (st != PGRES_TUPLES_OK && rc == 0) {
			rc = error_set(run->err, "querying table %s: %s", run->c->tables[t].label,
				       PQresultErrorMessage(r));
		}
		PQclear(r);
	}
	return rc;
}

/* ---- following references ---- */

static void add_array_elem(struct strbuf *sb, const char *v)
{
	if (sb->len > 1)
		strbuf_addc(sb, ',');
	strbuf_addc(sb, '"');
	for (const char *c = v; *c; c++) {
		if (*c == '"' || *c == '\\')
			strbuf_addc(sb, '\\');
		strbuf_addc(sb, *c);
	}
	strbuf_addc(sb, '"');
}

/* Fetches the rows of table `to` whose columns `cols` equal one of the
 * tuples, each tuple the values at positions `pos` of a key row of `from`,
 * in batches; tuples with a NULL are skipped (they reference nothing). When
 * asked is given, tuples in it are skipped and the rest added. */
static int follow(struct subset_run *run, char **const *rows, size_t nrows, const size_t *pos,
		  size_t to, const size_t *cols, size_t ncols, int mode, struct fk_state *asked)
{
	const struct sn_table *t = &run->c->tables[to];
	struct strbuf sql = STRBUF_INIT;
	strbuf_addf(&sql, "%s WHERE ", run->ts[to].select);
	if (ncols == 1) {
		strbuf_addf(&sql, "%s = ANY($1::%s[])", sn_quote_ident(run->arena, t->cols[cols[0]].name),
			    t->cols[cols[0]].type);
	} else {
		strbuf_addc(&sql, '(');
		for (size_t i = 0; i < ncols; i++)
			strbuf_addf(&sql, "%s%s", i ? ", " : "",
				    sn_quote_ident(run->arena, t->cols[cols[i]].name));
		strbuf_adds(&sql, ") IN (SELECT * FROM unnest(");
		for (size_t i = 0; i < ncols; i++)
			strbuf_addf(&sql, "%s$%zu::%s[]", i ? ", " : "", i + 1, t->cols[cols[i]].type);
		strbuf_adds(&sql, "))");
	}
	struct strbuf *arrays = xcalloc(ncols, sizeof(*arrays));
	const char **params = xcalloc(ncols, sizeof(*params));
	struct strbuf tuple = STRBUF_INIT;
	int rc = 0;
	size_t inbatch = 0;
	for (size_t i = 0; i <= nrows && rc == 0; i++) {
		if (i < nrows) {
			bool null = false;
			for (size_t k = 0; k < ncols; k++)
				null |= rows[i][pos[k]] == NULL;
			if (null)
				continue;
			if (asked) {
				strbuf_reset(&tuple);
				for (size_t k = 0; k < ncols; k++)
					strbuf_addf(&tuple, "%zu:%s", strlen(rows[i][pos[k]]),
						    rows[i][pos[k]]);
				if (map_get(&asked->asked, tuple.buf, tuple.len))
					continue;
				char *key = arena_strndup(asked->asked_arena, tuple.buf, tuple.len);
				map_put(&asked->asked, key, tuple.len, key);
			}
			for (size_t k = 0; k < ncols; k++) {
				if (arrays[k].len == 0)
					strbuf_addc(&arrays[k], '{');
				add_array_elem(&arrays[k], rows[i][pos[k]]);
			}
			inbatch++;
		}
		if (inbatch && (inbatch == BATCH || i == nrows)) {
			for (size_t k = 0; k < ncols; k++) {
				strbuf_addc(&arrays[k], '}');
				params[k] = strbuf_cstr(&arrays[k]);
			}
			rc = fetch(run, to, strbuf_cstr(&sql), (int)ncols, params, mode);
			for (size_t k = 0; k < ncols; k++)
				strbuf_reset(&arrays[k]);
			inbatch = 0;
		}
	}
	for (size_t k = 0; k < ncols; k++)
		strbuf_release(&arrays[k]);
	free(arrays);
	free(params);
	strbuf_release(&tuple);
	strbuf_release(&sql);
	return rc;
}

/* One round: every table's waiting rows fetch their parents and children;
 * what those bring waits for the next round. */
static int round_once(struct subset_run *run, bool *more)
{
	struct sn_catalog *c = run->c;
	struct frontier *work = xcalloc(c->ntables, sizeof(*work));
	for (size_t t = 0; t < c->ntables; t++) {
		work[t] = run->ts[t].next;
		memset(&run->ts[t].next, 0, sizeof(run->ts[t].next));
		run->ts[t].next.arena = arena_new();
	}
	int rc = 0;
	*more = false;
	for (size_t k = 0; k < c->nfks && rc == 0; k++) {
		const struct sn_fk *fk = &c->fks[k];
		struct fk_state *fs = &run->fs[k];
		const struct frontier *child = &work[fk->child];
		/* Parents of every newly taken row. */
		if (!run->ts[fk->parent].all && child->up.len)
			rc = follow(run, child->up.items, child->up.len, fs->child_pos, fk->parent,
				    fk->parent_cols, fk->ncols, UP, fs);
		/* Children of rows taken as roots or children, and along children:
		 * true also of rows taken as parents; never along children: false. */
		const struct frontier *parent = &work[fk->parent];
		if (rc == 0 && !run->ts[fk->child].all && fk->children != 0)
			rc = follow(run, parent->down.items, parent->down.len, fs->parent_pos,
				    fk->child, fk->child_cols, fk->ncols, DOWN, NULL);
		if (rc == 0 && !run->ts[fk->child].all && fk->children == 1)
			rc = follow(run, parent->parent_only.items, parent->parent_only.len,
				    fs->parent_pos, fk->child, fk->child_cols, fk->ncols, DOWN, NULL);
	}
	for (size_t t = 0; t < c->ntables; t++) {
		vec_release(&work[t].up);
		vec_release(&work[t].down);
		vec_release(&work[t].parent_only);
		arena_free(work[t].arena);
		const struct frontier *n = &run->ts[t].next;
		*more |= n->up.len || n->down.len || n->parent_only.len;
	}
	free(work);
	return rc;
}

/* ---- starting points ---- */

/* "a" IS NOT NULL AND "b" IS NOT NULL for the columns of a foreign key. */
static void add_not_null(struct subset_run *run, struct strbuf *sb, const struct sn_table *t,
			 const size_t *cols, size_t ncols)
{
	for (size_t i = 0; i < ncols; i++)
		strbuf_addf(sb, "%s%s IS NOT NULL", i ? " AND " : "",
			    sn_quote_ident(run->arena, t->cols[cols[i]].name));
}

static void add_column_list(struct subset_run *run, struct strbuf *sb, const struct sn_table *t,
			    const size_t *cols, size_t ncols)
{
	strbuf_addc(sb, '(');
	for (size_t i = 0; i < ncols; i++)
		strbuf_addf(sb, "%s%s", i ? ", " : "", sn_quote_ident(run->arena, t->cols[cols[i]].name));
	strbuf_addc(sb, ')');
}

static int mark_all(struct subset_run *run, size_t t, bool down)
{
	struct table_state *ts = &run->ts[t];
	ts->all_down |= down;
	if (ts->all)
		return 0;
	ts->all = true;
	struct strbuf sql = STRBUF_INIT;
	strbuf_addf(&sql, "SELECT count(*) FROM %s", run->c->tables[t].qname);
	run->queries++;
	PGresult *r = PQexec(run->conn, strbuf_cstr(&sql));
	strbuf_release(&sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		error_set(run->err, "counting table %s: %s", run->c->tables[t].label,
			  PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	ts->count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	run->total += ts->count;
	PQclear(r);
	return check_max_rows(run, t);
}

/* Tables taken whole, and roots without a condition, are taken whole; then
 * the parents of their rows and, for roots, their children, each with one
 * query per reference; then the other roots. */
static int start(struct subset_run *run)
{
	const struct dataset *ds = run->ds;
	struct sn_catalog *c = run->c;
	for (uint32_t i = 0; i < ds->ntables; i++) {
		const struct dataset_table *dt = &ds->tables[i];
		size_t t;
		if (sn_catalog_table(c, dt->table->s, &t, run->err) < 0)
			return error_wrap(run->err, "%s:%u:%u: dataset %s/%s: tables", dt->pos.file,
					  dt->pos.line, dt->pos.col, ds->obj.ns->s, ds->obj.name->s);
		if (dt->whole && mark_all(run, t, false) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < ds->nroots; i++) {
		const struct dataset_root *root = &ds->roots[i];
		size_t t;
		if (sn_catalog_table(c, root->table->s, &t, run->err) < 0)
			return error_wrap(run->err, "%s:%u:%u: dataset %s/%s: roots", root->pos.file,
					  root->pos.line, root->pos.col, ds->obj.ns->s,
					  ds->obj.name->s);
		if (!root->where && mark_all(run, t, true) < 0)
			return -1;
	}
	for (size_t k = 0; k < c->nfks; k++) {
		const struct sn_fk *fk = &c->fks[k];
		struct table_state *child = &run->ts[fk->child], *parent = &run->ts[fk->parent];
		struct strbuf sql = STRBUF_INIT;
		int rc = 0;
		if (child->all && !parent->all) {
			strbuf_addf(&sql, "%s WHERE ", parent->select);
			add_column_list(run, &sql, &c->tables[fk->parent], fk->parent_cols, fk->ncols);
			strbuf_adds(&sql, " IN (SELECT ");
			add_column_list(run, &sql, &c->tables[fk->child], fk->child_cols, fk->ncols);
			strbuf_addf(&sql, " FROM %s)", c->tables[fk->child].qname);
			rc = fetch(run, fk->parent, strbuf_cstr(&sql), 0, NULL, UP);
		} else if (parent->all && !child->all &&
			   (parent->all_down ? fk->children != 0 : fk->children == 1)) {
			/* Every row of the parent is taken: every child that
			 * references one is one whose key columns are all set. */
			strbuf_addf(&sql, "%s WHERE ", child->select);
			add_not_null(run, &sql, &c->tables[fk->child], fk->child_cols, fk->ncols);
			rc = fetch(run, fk->child, strbuf_cstr(&sql), 0, NULL, DOWN);
		}
		strbuf_release(&sql);
		if (rc < 0)
			return -1;
	}
	for (uint32_t i = 0; i < ds->nroots; i++) {
		size_t t;
		if (!ds->roots[i].where || sn_catalog_table(c, ds->roots[i].table->s, &t, run->err) < 0)
			continue;
		if (run->ts[t].all)
			continue;
		struct strbuf sql = STRBUF_INIT;
		strbuf_addf(&sql, "%s WHERE (%s)", run->ts[t].select, ds->roots[i].where->s);
		int rc = fetch(run, t, strbuf_cstr(&sql), 0, NULL, DOWN);
		strbuf_release(&sql);
		if (rc < 0)
			return error_wrap(run->err, "%s:%u:%u: dataset %s/%s: roots: where",
					  ds->roots[i].pos.file, ds->roots[i].pos.line,
					  ds->roots[i].pos.col, ds->obj.ns->s, ds->obj.name->s);
	}
	return 0;
}

/* ---- the result ---- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void collect(struct subset_run *run, size_t t, struct sn_subset_table *out,
		    struct arena *a)
{
	struct table_state *ts = &run->ts[t];
	out->all = ts->all;
	out->count = ts->count;
	if (ts->all)
		return;
	uint64_t *ids = xmalloc((ts->rows.len ? ts->rows.len : 1) * sizeof(*ids));
	size_t n = 0;
	for (size_t i = 0; i < ts->rows.cap; i++)
		if (ts->rows.keys[i])
			ids[n++] = ts->rows.keys[i];
	qsort(ids, n, sizeof(*ids), u64_cmp);
	out->nparts = ts->partitions.len;
	out->parts = arena_alloc(a, (out->nparts ? out->nparts : 1) * sizeof(*out->parts));
	for (size_t p = 0; p < out->nparts; p++) {
		out->parts[p].tableoid = ts->partitions.items[p];
		out->parts[p].ctids = arena_alloc(a, n * sizeof(char *) + 1);
	}
	for (size_t i = 0; i < n; i++) {
		struct sn_rows *rows = &out->parts[ids[i] >> 48];
		rows->ctids[rows->len++] =
			arena_printf(a, "(%u,%u)", (unsigned)(ids[i] >> 16 & 0xffffffffu),
				     (unsigned)(ids[i] & 0xffff));
	}
	free(ids);
}

int sn_subset_compute(PGconn *conn, struct sn_catalog *c, const struct dataset *ds,
		      struct sn_subset *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (apply_references(c, ds, err) < 0)
		return -1;
	struct subset_run run = { .conn = conn, .c = c, .ds = ds, .err = err };
	run.arena = arena_new();
	run.ts = xcalloc(c->ntables ? c->ntables : 1, sizeof(*run.ts));
	run.fs = xcalloc(c->nfks ? c->nfks : 1, sizeof(*run.fs));
	plan_keys(&run);
	unsigned rounds = 0;
	int rc = start(&run);
	for (bool more = true; rc == 0 && more; rounds++)
		rc = round_once(&run, &more);
	if (rc == 0) {
		out->arena = arena_new();
		out->ntables = c->ntables;
		out->tables = arena_alloc(out->arena, (c->ntables ? c->ntables : 1) * sizeof(*out->tables));
		for (size_t t = 0; t < c->ntables; t++)
			collect(&run, t, &out->tables[t], out->arena);
		out->total = run.total;
		out->rounds = rounds;
		out->queries = run.queries;
	}
	for (size_t t = 0; t < c->ntables; t++) {
		struct table_state *ts = &run.ts[t];
		rowset_release(&ts->rows);
		vec_release(&ts->partitions);
		vec_release(&ts->next.up);
		vec_release(&ts->next.down);
		vec_release(&ts->next.parent_only);
		arena_free(ts->next.arena);
	}
	for (size_t k = 0; k < c->nfks; k++) {
		map_release(&run.fs[k].asked);
		arena_free(run.fs[k].asked_arena);
	}
	free(run.ts);
	free(run.fs);
	arena_free(run.arena);
	return rc;
}

void sn_subset_release(struct sn_subset *s)
{
	arena_free(s->arena);
	memset(s, 0, sizeof(*s));
}
