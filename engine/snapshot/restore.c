/* Restoring a snapshot into an empty database: pre-data schema with psql,
 * each table's JSON lines turned back into COPY text, post-data schema
 * (so indexes are built once and foreign keys are checked over the whole
 * restored data), sequences, ANALYZE. */
#include "snapshot.h"

#include "internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/sha256.h"
#include "base/strbuf.h"

#include <errno.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* COPY data gathered before it is sent. */
#define SEND_CHUNK (256 * 1024)

/* The user tables of the target, if any: a restore goes into an empty
 * database only. */
static const char first_table_sql[] =
	"SELECT n.nspname || '.' || c.relname FROM pg_class c"
	" JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
	"  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
	" ORDER BY 1 LIMIT 1";

/* One setval per sequence that a column owns (serial, identity): the next
 * value is past the largest one restored. */
static const char sequences_sql[] =
	"SELECT format('SELECT setval(%L, coalesce(max(%I), 0) + 1, false) FROM %s', s.seq,"
	"  a.attname, c.oid::regclass)"
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
	" CROSS JOIN LATERAL (SELECT pg_get_serial_sequence(c.oid::regclass::text, a.attname)"
	"   AS seq) s"
	" WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND s.seq IS NOT NULL"
	"  AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

static void add_ident(struct strbuf *sb, const char *name)
{
	strbuf_addc(sb, '"');
	for (const char *c = name; *c; c++) {
		if (*c == '"')
			strbuf_addc(sb, '"');
		strbuf_addc(sb, *c);
	}
	strbuf_addc(sb, '"');
}

/* A JSON value as a field of COPY text. */
static void add_copy_field(struct strbuf *sb, json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
		strbuf_adds(sb, "\\N");
		return;
	case JSON_TRUE:
		strbuf_addc(sb, 't');
		return;
	case JSON_FALSE:
		strbuf_addc(sb, 'f');
		return;
	case JSON_INTEGER:
		strbuf_addf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	case JSON_STRING:
		break;
	default: {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_t *s = json_string(text);
		free(text);
		add_copy_field(sb, s);
		json_decref(s);
		return;
	}
	}
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	const char *run = s;
	for (size_t i = 0; i < len; i++) {
		char c = s[i], esc;
		switch (c) {
		case '\\': esc = '\\'; break;
		case '\t': esc = 't'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		default: continue;
		}
		strbuf_add(sb, run, (size_t)(s + i - run));
		strbuf_addc(sb, '\\');
		strbuf_addc(sb, esc);
		run = s + i + 1;
	}
	strbuf_add(sb, run, (size_t)(s + len - run));
}

struct load {
	PGconn *conn;
	const char *table;
	json_t *columns; /* [{name, type}] */
	const char **names; /* the columns' names, in order */
	size_t *name_lens;
	size_t ncols;
	struct strbuf copy; /* COPY text not sent yet */
	int64_t rows;
	struct error *err;
};

static int send_copy(struct load *l)
{
	if (l->copy.len && PQputCopyData(l->conn, l->copy.buf, (int)l->copy.len) != 1)
		return error_set(l->err, "loading %s: %s", l->table, PQerrorMessage(l->conn));
	strbuf_reset(&l->copy);
	return 0;
}

/* The JSON string at *p (after its opening quote) appended to sb as a COPY
 * field; *p moves past the closing quote. False for what cairn's writer
 * never produces (a \u escape beyond ASCII): the caller then reads the
 * line with jansson. */
static bool fast_string(const char **p, const char *end, struct strbuf *sb)
{
	const char *s = *p, *run = s;
	for (; s < end; s++) {
		char c = *s, out;
		if (c == '"') {
			strbuf_add(sb, run, (size_t)(s - run));
			*p = s + 1;
			return true;
		}
		if (c == '\\') {
			strbuf_add(sb, run, (size_t)(s - run));
			if (++s == end)
				return false;
			switch (*s) {
			case 'n': strbuf_adds(sb, "\\n"); break;
			case 't': strbuf_adds(sb, "\\t"); break;
			case 'r': strbuf_adds(sb, "\\r"); break;
			case '\\': strbuf_adds(sb, "\\\\"); break;
			case '"': strbuf_addc(sb, '"'); break;
			case '/': strbuf_addc(sb, '/'); break;
			case 'b': strbuf_addc(sb, '\b'); break;
			case 'f': strbuf_addc(sb, '\f'); break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4; i++) {
					if (++s == end || !strchr("0123456789abcdefABCDEF", *s))
						return false;
					v = v * 16 + (unsigned)(*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
				}
				if (v == 0 || v >= 0x80)
					return false;
				out = (char)v;
				if (out == '\n' || out == '\t' || out == '\r' || out == '\\')
					strbuf_addc(sb, '\\');
				strbuf_addc(sb, out == '\n' ? 'n' : out == '\t' ? 't' : out == '\r' ? 'r' : out);
				break;
			}
			default:
				return false;
			}
			run = s + 1;
		} else if (c == '\t' || c == '\n' || c == '\r') {
			return false; /* raw control characters are not JSON */
		}
	}
	return false;
}

/* A line as cairn writes it — an object whose keys are the columns in
 * order, each value null, true, false, an integer or a string — appended
 * to l->copy as one COPY row. False (nothing appended) for any other line. */
static bool fast_line(struct load *l, const char *p, const char *end)
{
	size_t mark = l->copy.len;
	if (p == end || *p++ != '{')
		goto other;
	for (size_t i = 0; i < l->ncols; i++) {
		size_t n = l->name_lens[i];
		if (end - p < (ptrdiff_t)n + 3 || *p != '"' || memcmp(p + 1, l->names[i], n) != 0 ||
		    p[n + 1] != '"' || p[n + 2] != ':')
			goto other;
		p += n + 3;
		if (i)
			strbuf_addc(&l->copy, '\t');
		if (p == end)
			goto other;
		if (*p == '"') {
			p++;
			if (!fast_string(&p, end, &l->copy))
				goto other;
		} else if (end - p >= 4 && !memcmp(p, "null", 4)) {
			strbuf_adds(&l->copy, "\\N");
			p += 4;
		} else if (end - p >= 4 && !memcmp(p, "true", 4)) {
			strbuf_addc(&l->copy, 't');
			p += 4;
		} else if (end - p >= 5 && !memcmp(p, "false", 5)) {
			strbuf_addc(&l->copy, 'f');
			p += 5;
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			const char *num = p++;
			while (p < end && *p >= '0' && *p <= '9')
				p++;
			strbuf_add(&l->copy, num, (size_t)(p - num));
		} else {
			goto other;
		}
		if (p == end || *p != (i + 1 < l->ncols ? ',' : '}'))
			goto other;
		p++;
	}
	if (l->ncols == 0 && (p == end || *p++ != '}'))
		goto other;
	if (p != end)
		goto other;
	strbuf_addc(&l->copy, '\n');
	return true;
other:
	strbuf_truncate(&l->copy, mark);
	return false;
}

static int load_line(struct load *l, const char *line, size_t len, int64_t lineno)
{
	if (!fast_line(l, line, line + len)) {
		json_error_t je;
		json_t *row = json_loadb(line, len, 0, &je);
		if (!json_is_object(row)) {
			json_decref(row);
			return error_set(l->err, "%s: line %lld is not a JSON object: %s", l->table,
					 (long long)lineno, je.text);
		}
		for (size_t i = 0; i < l->ncols; i++) {
			if (i)
				strbuf_addc(&l->copy, '\t');
			json_t *v = json_object_get(row, l->names[i]);
			add_copy_field(&l->copy, v ? v : json_null());
		}
		strbuf_addc(&l->copy, '\n');
		json_decref(row);
	}
	l->rows++;
	return l->copy.len >= SEND_CHUNK ? send_copy(l) : 0;
}

/* Streams one table file through inflate, line by line, into COPY. */
static int load_file(struct load *l, FILE *f, const char *want_sha)
{
	z_stream z = { 0 };
	inflateInit2(&z, 15 + 32);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(sha, sha256_md(), NULL);
	unsigned char in[64 * 1024], out[256 * 1024];
	struct strbuf line = STRBUF_INIT;
	int64_t lineno = 0;
	int rc = 0, zr = Z_OK;
	size_t n;
	while (rc == 0 && zr != Z_STREAM_END && (n = fread(in, 1, sizeof(in), f)) > 0) {
		EVP_DigestUpdate(sha, in, n);
		z.next_in = in;
		z.avail_in = (uInt)n;
		while (rc == 0 && z.avail_in && zr != Z_STREAM_END) {
			z.next_out = out;
			z.avail_out = sizeof(out);
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END) {
				rc = error_set(l->err, "%s: the file is not gzip or is damaged (%s)",
					       l->table, z.msg ? z.msg : "inflate failed");
				break;
			}
			const char *p = (const char *)out, *end = p + (sizeof(out) - z.avail_out);
			while (rc == 0 && p < end) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				if (!nl) {
					strbuf_add(&line, p, (size_t)(end - p));
					break;
				}
				lineno++;
				if (line.len) {
					strbuf_add(&line, p, (size_t)(nl - p));
					rc = load_line(l, line.buf, line.len, lineno);
					strbuf_reset(&line);
				} else {
					rc = load_line(l, p, (size_t)(nl - p), lineno);
				}
				p = nl + 1;
			}
		}
	}
	/* The rest of the file counts for its checksum too. */
	while (rc == 0 && (n = fread(in, 1, sizeof(in), f)) > 0)
		EVP_DigestUpdate(sha, in, n);
	if (rc == 0 && zr != Z_STREAM_END)
		rc = error_set(l->err, "%s: the file ends early (truncated)", l->table);
	if (rc == 0 && line.len)
		rc = error_set(l->err, "%s: the last line has no newline (truncated)", l->table);
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_DigestFinal_ex(sha, md, &mdlen);
	char hex[SHA256_HEX_SIZE];
	hex_encode(md, sizeof(md), hex);
	if (rc == 0 && want_sha && strcmp(hex, want_sha) != 0)
		rc = error_set(l->err, "%s: the file's sha256 is %s, the manifest says %s (damaged)",
			       l->table, hex, want_sha);
	EVP_MD_CTX_free(sha);
	inflateEnd(&z);
	strbuf_release(&line);
	return rc;
}

static int load_table(PGconn *conn, struct sn_storage *st, const char *id, json_t *entry,
		      int64_t *rows, struct error *err)
{
	const char *table = json_string_value(json_object_get(entry, "table"));
	const char *schema = json_string_value(json_object_get(entry, "schema"));
	const char *name = json_string_value(json_object_get(entry, "name"));
	const char *file = json_string_value(json_object_get(entry, "file"));
	json_t *columns = json_object_get(entry, "columns");
	bool named = json_is_array(columns);
	size_t i;
	json_t *col;
	json_array_foreach(columns, i, col)
	named &= json_is_string(json_object_get(col, "name"));
	if (!table || !schema || !name || !file || !named)
		return error_set(err, "snapshot %s: manifest.json: a table entry lacks table, schema, "
				      "name, file or named columns",
				 id);
	struct strbuf sql = STRBUF_INIT;
	strbuf_adds(&sql, "COPY ");
	add_ident(&sql, schema);
	strbuf_addc(&sql, '.');
	add_ident(&sql, name);
	strbuf_adds(&sql, " (");
	json_array_foreach(columns, i, col)
	{
		if (i)
			strbuf_adds(&sql, ", ");
		add_ident(&sql, json_string_value(json_object_get(col, "name")));
	}
	strbuf_adds(&sql, ") FROM STDIN");
	FILE *f = sn_storage_open(st, id, file, NULL, err);
	if (!f) {
		strbuf_release(&sql);
		return -1;
	}
	PGresult *r = PQexec(conn, strbuf_cstr(&sql));
	strbuf_release(&sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		error_set(err, "loading %s: %s", table, PQresultErrorMessage(r));
		PQclear(r);
		fclose(f);
		return -1;
	}
	PQclear(r);
	struct load l = { .conn = conn, .table = table, .columns = columns, .err = err };
	l.ncols = json_array_size(columns);
	l.names = xcalloc(l.ncols + 1, sizeof(*l.names));
	l.name_lens = xcalloc(l.ncols + 1, sizeof(*l.name_lens));
	json_array_foreach(columns, i, col)
	{
		l.names[i] = json_string_value(json_object_get(col, "name"));
		l.name_lens[i] = strlen(l.names[i]);
	}
	int rc = load_file(&l, f, json_string_value(json_object_get(entry, "sha256")));
	fclose(f);
	if (rc == 0)
		rc = send_copy(&l);
	PQputCopyEnd(conn, rc == 0 ? NULL : error_msg(err));
	while ((r = PQgetResult(conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = error_set(err, "loading %s: %s", table, PQresultErrorMessage(r));
		PQclear(r);
	}
	strbuf_release(&l.copy);
	free(l.names);
	free(l.name_lens);
	*rows = l.rows;
	return rc;
}

/* Writes one part of schema.sql to a temporary file and runs it with psql
 * in one transaction. */
static int run_schema(const char *url, const char *sql, size_t len, const char *what,
		      struct error *err)
{
	char tmp[] = "/tmp/cairn-restore-XXXXXX";
	int fd = mkstemp(tmp);
	if (fd < 0)
		return error_set(err, "cannot make a temporary file: %s", strerror(errno));
	bool ok = write(fd, sql, len) == (ssize_t)len;
	close(fd);
	int rc = ok ? 0 : error_set(err, "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0) {
		const char *argv[] = { "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1",
				       "-f", tmp, "-d", url, NULL };
		rc = sn_run_client(argv, NULL, err);
	}
	unlink(tmp);
	return rc < 0 ? error_wrap(err, "restoring the schema %s", what) : 0;
}

static int set_sequences(PGconn *conn, struct error *err)
{
	PGresult *r = PQexec(conn, sequences_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		error_set(err, "setting sequences: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		if (sn_exec(conn, PQgetvalue(r, i, 0), NULL, err) < 0)
			rc = error_wrap(err, "setting sequences");
	PQclear(r);
	return rc;
}

/* Waits for the ANALYZE running on conn, if any. */
static int analyze_wait(PGconn *conn, struct error *err)
{
	int rc = 0;
	PGresult *r;
	while ((r = PQgetResult(conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = error_set(err, "analyzing: %s", PQresultErrorMessage(r));
		PQclear(r);
	}
	return rc;
}

/* Starts ANALYZE of the table just loaded, once the previous one is done. */
static int analyze_after(PGconn *conn, json_t *entry, struct error *err)
{
	if (analyze_wait(conn, err) < 0)
		return -1;
	struct strbuf sql = STRBUF_INIT;
	strbuf_adds(&sql, "ANALYZE ");
	add_ident(&sql, json_string_value(json_object_get(entry, "schema")));
	strbuf_addc(&sql, '.');
	add_ident(&sql, json_string_value(json_object_get(entry, "name")));
	int rc = PQsendQuery(conn, strbuf_cstr(&sql)) ? 0
						       : error_set(err, "analyzing: %s", PQerrorMessage(conn));
	strbuf_release(&sql);
	return rc;
}

static int read_schema(struct sn_storage *st, const char *id, struct strbuf *sb, struct error *err)
{
	FILE *f = sn_storage_open(st, id, "schema.sql", NULL, err);
	if (!f)
		return -1;
	char buf[64 * 1024];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(sb, buf, n);
	fclose(f);
	return 0;
}

int snapshot_restore(const char *store, const char *id, const char *url,
		     snapshot_progress_fn progress, void *progress_ctx,
		     struct snapshot_restore_result *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	double started = clock_seconds();
	struct sn_storage *st = sn_storage_local(store, err);
	if (!st)
		return -1;
	json_t *m = NULL;
	PGconn *conn = NULL, *analyzer = NULL;
	struct strbuf schema = STRBUF_INIT;
	char *found = NULL;
	int rc = -1;
	m = sn_read_manifest(st, id, err);
	if (!m || read_schema(st, id, &schema, err) < 0)
		goto done;
	const char *mark = strstr(strbuf_cstr(&schema), POST_DATA_MARK);
	json_t *tables = json_object_get(m, "tables");
	if (!mark || !json_is_array(tables)) {
		error_set(err, "snapshot %s: schema.sql or manifest.json is not one cairn wrote", id);
		goto done;
	}
	conn = sn_connect(url, NULL, err);
	if (!conn || sn_exec(conn, first_table_sql, &found, err) < 0)
		goto done;
	if (found) {
		error_set(err, "the database at %s is not empty: it has table %s (restore goes into an "
			       "empty database)",
			  url, found);
		goto done;
	}
	if (run_schema(url, schema.buf, (size_t)(mark - schema.buf), "before the data", err) < 0)
		goto done;
	/* Each table is analyzed on a second connection while the next one
	 * loads: the server's second core works while this process parses. */
	analyzer = sn_connect(url, NULL, err);
	if (!analyzer)
		goto done;
	out->tables = xcalloc(json_array_size(tables) + 1, sizeof(*out->tables));
	size_t i;
	json_t *entry;
	json_array_foreach(tables, i, entry)
	{
		double t0 = clock_seconds();
		struct snapshot_table *rt = &out->tables[out->ntables];
		if (load_table(conn, st, id, entry, &rt->rows, err) < 0 ||
		    analyze_after(analyzer, entry, err) < 0)
			goto done;
		rt->table = xstrdup(json_string_value(json_object_get(entry, "table")));
		rt->seconds = clock_seconds() - t0;
		out->ntables++;
		out->rows += rt->rows;
		if (progress)
			progress(progress_ctx, rt->table, rt->rows, 0, rt->seconds);
	}
	if (analyze_wait(analyzer, err) < 0 ||
	    run_schema(url, mark, strlen(mark), "after the data", err) < 0 ||
	    set_sequences(conn, err) < 0)
		goto done;
	out->seconds = clock_seconds() - started;
	rc = 0;
done:
	if (rc < 0)
		error_wrap(err, "restoring snapshot %s", id);
	free(found);
	strbuf_release(&schema);
	PQfinish(analyzer);
	PQfinish(conn);
	json_decref(m);
	sn_storage_free(st);
	return rc;
}

void snapshot_restore_result_release(struct snapshot_restore_result *r)
{
	for (size_t i = 0; i < r->ntables; i++)
		free(r->tables[i].table);
	free(r->tables);
	memset(r, 0, sizeof(*r));
}
