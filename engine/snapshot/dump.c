/* COPY text in, anonymized JSON lines out, through zlib. */
#include "dump.h"

#include "base/alloc.h"
#include "base/strbuf.h"
#include "base/sha256.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Row ids per COPY of a subset. */
#define COPY_BATCH 20000
/* Compressed bytes gathered before a write. */
#define OUT_CHUNK (256 * 1024)

struct writer {
	FILE *out;
	z_stream z;
	EVP_MD_CTX *sha;
	unsigned char buf[OUT_CHUNK];
	int64_t bytes;
	bool failed;
};

static void drain(struct writer *w, int flush)
{
	do {
		w->z.next_out = w->buf;
		w->z.avail_out = sizeof(w->buf);
		deflate(&w->z, flush);
		size_t n = sizeof(w->buf) - w->z.avail_out;
		if (n && fwrite(w->buf, 1, n, w->out) != n)
			w->failed = true;
		EVP_DigestUpdate(w->sha, w->buf, n);
		w->bytes += (int64_t)n;
	} while (w->z.avail_out == 0);
}

static void put(struct writer *w, const char *data, size_t len)
{
	w->z.next_in = (Bytef *)data;
	w->z.avail_in = (uInt)len;
	while (w->z.avail_in)
		drain(w, Z_NO_FLUSH);
}

/* ---- COPY text format ---- */

/* Unescapes one field of a COPY text row in place; returns its end. */
static char *unescape(char *s, char *end)
{
	char *o = s;
	for (char *p = s; p < end; p++) {
		if (*p != '\\' || p + 1 == end) {
			*o++ = *p;
			continue;
		}
		char c = *++p;
		switch (c) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'v': *o++ = '\v'; break;
		case 'x': {
			int v = 0, n = 0;
			while (n < 2 && p + 1 < end && strchr("0123456789abcdefABCDEF", p[1])) {
				char h = *++p;
				v = v * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
				n++;
			}
			*o++ = (char)v;
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				int v = c - '0', n = 1;
				while (n < 3 && p + 1 < end && p[1] >= '0' && p[1] <= '7') {
					v = v * 8 + (*++p - '0');
					n++;
				}
				*o++ = (char)v;
			} else {
				*o++ = c;
			}
		}
	}
	*o = '\0';
	return o;
}

/* ---- JSON ---- */

static void add_json_string(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	strbuf_addc(sb, '"');
	const char *run = s;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c >= 0x20 && *c != '"' && *c != '\\')
			continue;
		strbuf_add(sb, run, (size_t)((const char *)c - run));
		run = (const char *)c + 1;
		switch (*c) {
		case '"': strbuf_adds(sb, "\\\""); break;
		case '\\': strbuf_adds(sb, "\\\\"); break;
		case '\n': strbuf_adds(sb, "\\n"); break;
		case '\t': strbuf_adds(sb, "\\t"); break;
		case '\r': strbuf_adds(sb, "\\r"); break;
		default:
			strbuf_adds(sb, "\\u00");
			strbuf_addc(sb, hex[*c >> 4]);
			strbuf_addc(sb, hex[*c & 15]);
		}
	}
	strbuf_adds(sb, run);
	strbuf_addc(sb, '"');
}

static bool is_integer_type(const char *type)
{
	return !strcmp(type, "integer") || !strcmp(type, "bigint") || !strcmp(type, "smallint");
}

bool sn_dump_column(const struct sn_column *col)
{
	return !col->generated;
}

/* The value of a column as JSON: null, true/false for booleans, a number
 * for integer columns, and the PostgreSQL text form as a string for every
 * other type, so a restore gives back exactly what was read. */
static void add_value(struct strbuf *sb, const struct sn_column *col, const char *v,
		      bool transformed)
{
	if (!v)
		strbuf_adds(sb, "null");
	else if (col->category == 'B' && !transformed && (v[0] == 't' || v[0] == 'f') && !v[1])
		strbuf_adds(sb, v[0] == 't' ? "true" : "false");
	else if (is_integer_type(col->type) && !transformed && *v)
		strbuf_adds(sb, v);
	else
		add_json_string(sb, v);
}

struct table_dump {
	PGconn *conn;
	const struct sn_table *t;
	const struct sn_anonymizer *an;
	size_t ti;
	struct writer w;
	struct strbuf line;
	char **fields;
	char **keys; /* per column: its name as a JSON key, "\"name\":", or NULL when not written */
	int64_t rows;
	struct error *err;
};

static int dump_row(struct table_dump *d, char *row, size_t len)
{
	if (len && row[len - 1] == '\n')
		len--;
	char *end = row + len;
	size_t n = 0; /* fields seen */
	for (char *f = row;;) {
		char *tab = memchr(f, '\t', (size_t)(end - f));
		char *fend = tab ? tab : end;
		if (n < d->t->ncols) {
			if (fend - f == 2 && f[0] == '\\' && f[1] == 'N') {
				d->fields[n] = NULL;
			} else {
				d->fields[n] = f;
				unescape(f, fend);
			}
		}
		n++;
		if (!tab)
			break;
		f = tab + 1;
	}
	strbuf_reset(&d->line);
	strbuf_addc(&d->line, '{');
	size_t k = 0;
	bool first = true;
	for (size_t i = 0; i < d->t->ncols; i++) {
		const struct sn_column *col = &d->t->cols[i];
		if (!sn_dump_column(col))
			continue;
		const char *v = k < n ? d->fields[k] : NULL;
		k++;
		struct sn_transform *tr = sn_anonymizer_column(d->an, d->ti, i);
		if (tr && sn_transform_apply(tr, v, &v, d->err) < 0)
			return error_wrap(d->err, "anonymizing %s.%s", d->t->label, col->name);
		if (!first)
			strbuf_addc(&d->line, ',');
		first = false;
		strbuf_adds(&d->line, d->keys[i]);
		add_value(&d->line, col, v, tr != NULL);
	}
	strbuf_adds(&d->line, "}\n");
	put(&d->w, d->line.buf, d->line.len);
	d->rows++;
	return 0;
}

static int run_copy(struct table_dump *d, const char *sql)
{
	PGresult *r = PQexec(d->conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		error_set(d->err, "reading table %s: %s", d->t->label, PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	int rc = 0;
	for (;;) {
		char *row;
		int len = PQgetCopyData(d->conn, &row, 0);
		if (len < 0)
			break;
		if (rc == 0)
			rc = dump_row(d, row, (size_t)len);
		PQfreemem(row);
	}
	while ((r = PQgetResult(d->conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = error_set(d->err, "reading table %s: %s", d->t->label,
				       PQresultErrorMessage(r));
		PQclear(r);
	}
	return rc;
}

/* "COPY (SELECT <written columns> FROM " */
static void copy_head(struct strbuf *sql, const struct sn_table *t, struct arena *a)
{
	strbuf_adds(sql, "COPY (SELECT ");
	bool first = true;
	for (size_t i = 0; i < t->ncols; i++) {
		if (!sn_dump_column(&t->cols[i]))
			continue;
		strbuf_addf(sql, "%s%s", first ? "" : ", ", sn_quote_ident(a, t->cols[i].name));
		first = false;
	}
	if (first) /* a table whose columns are all generated, or none */
		strbuf_adds(sql, "NULL");
	strbuf_adds(sql, " FROM ");
}

int sn_dump_table(PGconn *conn, const struct sn_catalog *c, size_t t,
		  const struct sn_subset_table *sub, const struct sn_anonymizer *an, FILE *out,
		  struct sn_dump_result *res, struct error *err)
{
	struct table_dump d = { .conn = conn, .t = &c->tables[t], .an = an, .ti = t, .err = err };
	d.w.out = out;
	d.w.sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(d.w.sha, sha256_md(), NULL);
	/* Level 1: compression is most of a dump's time at higher levels, for
	 * little gain on JSON lines. 15 + 16: a gzip header. */
	deflateInit2(&d.w.z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	d.fields = xcalloc(d.t->ncols + 1, sizeof(char *));

	d.keys = xcalloc(d.t->ncols + 1, sizeof(char *));
	for (size_t i = 0; i < d.t->ncols; i++) {
		if (!sn_dump_column(&d.t->cols[i]))
			continue;
		struct strbuf key = STRBUF_INIT;
		add_json_string(&key, d.t->cols[i].name);
		strbuf_addc(&key, ':');
		d.keys[i] = strbuf_detach(&key);
	}

	struct strbuf head = STRBUF_INIT, sql = STRBUF_INIT;
	copy_head(&head, d.t, c->arena);
	int rc = 0;
	if (sub->all) {
		strbuf_addf(&sql, "%s%s) TO STDOUT", strbuf_cstr(&head), d.t->qname);
		rc = run_copy(&d, strbuf_cstr(&sql));
	}
	for (size_t p = 0; !sub->all && p < sub->nparts && rc == 0; p++) {
		const struct sn_rows *rows = &sub->parts[p];
		for (size_t i = 0; i < rows->len && rc == 0; i += COPY_BATCH) {
			/* The partition itself, so that its ctids are looked up in it alone. */
			strbuf_reset(&sql);
			strbuf_adds(&sql, strbuf_cstr(&head));
			if (d.t->partitioned)
				strbuf_addf(&sql, "ONLY %s", sn_partition_name(c, rows->tableoid));
			else
				strbuf_adds(&sql, d.t->qname);
			strbuf_adds(&sql, " WHERE ctid = ANY('{");
			for (size_t k = i; k < rows->len && k < i + COPY_BATCH; k++)
				strbuf_addf(&sql, "%s\"%s\"", k > i ? "," : "", rows->ctids[k]);
			strbuf_adds(&sql, "}'::tid[])) TO STDOUT");
			rc = run_copy(&d, strbuf_cstr(&sql));
		}
	}
	strbuf_release(&head);
	for (size_t i = 0; i < d.t->ncols; i++)
		free(d.keys[i]);
	free(d.keys);
	strbuf_release(&sql);
	drain(&d.w, Z_FINISH);
	deflateEnd(&d.w.z);
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_DigestFinal_ex(d.w.sha, md, &mdlen);
	EVP_MD_CTX_free(d.w.sha);
	hex_encode(md, sizeof(md), res->sha256);
	res->rows = d.rows;
	res->bytes = d.w.bytes;
	strbuf_release(&d.line);
	free(d.fields);
	if (rc == 0 && d.w.failed)
		rc = error_set(err, "writing table %s: the disk refused (full?)", d.t->label);
	return rc;
}
