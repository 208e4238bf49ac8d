/* The dataset kind: decoding and per-object checks. Names of tables,
 * columns and constraints are checked against the source database when a
 * snapshot is made (engine/snapshot), not here: the policy cannot see it. */
#include "decode.h"

#include "base/arena.h"
#include "base/suggest.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

static const char *const anon_names[ANON_COUNT] = {
	"email", "first_name", "last_name", "full_name", "phone", "digits",
	"text",  "hash",       "null",      "const",     "regex", "date_shift",
};

const char *anon_kind_name(enum anon_kind k)
{
	return (unsigned)k < ANON_COUNT ? anon_names[k] : "unknown";
}

int anon_kind_parse(const char *s, enum anon_kind *out)
{
	for (int k = 0; k < ANON_COUNT; k++) {
		if (strcmp(s, anon_names[k]) == 0) {
			*out = (enum anon_kind)k;
			return 0;
		}
	}
	return -1;
}

/* A PostgreSQL name part: 1 to 63 bytes, no dot, no control character. */
static bool name_part_ok(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '.' || (unsigned char)s[i] < 0x20)
			return false;
	return true;
}

/* Whether s is `parts` dot-separated name parts, the first one optional
 * ("table" or "schema.table" for parts 2). */
static bool dotted_name_ok(const char *s, int parts)
{
	int n = 1;
	for (const char *c = s; *c; c++)
		n += *c == '.';
	if (n != parts && n != parts - 1)
		return false;
	for (;;) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		if (!name_part_ok(s, len))
			return false;
		if (!dot)
			return true;
		s = dot + 1;
	}
}

static const struct istr *want_table(struct load *ld, const struct ynode *v, const struct istr *s)
{
	if (!dotted_name_ok(s->s, 2)) {
		lerr(ld, v->pos, "invalid table '%s': expected 'table' or 'schema.table'", s->s);
		return NULL;
	}
	return s;
}

/* source */

static void source_url(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	const struct istr *s = want_text(ld, v, "'url'");
	if (!s)
		return;
	const char *rest = NULL;
	if (strncmp(s->s, "postgres://", 11) == 0)
		rest = s->s + 11;
	else if (strncmp(s->s, "postgresql://", 13) == 0)
		rest = s->s + 13;
	if (!rest) {
		lerr(ld, v->pos, "url '%s' is not a PostgreSQL URL (postgres://user@host:port/db)",
		     s->s);
		return;
	}
	/* The policy is stored in every generation and shown to every viewer: a
	 * password in it would be readable by all of them. */
	const char *at = strchr(rest, '@');
	const char *slash = strchr(rest, '/');
	const char *colon = strchr(rest, ':');
	if ((at && (!slash || at < slash) && colon && colon < at) || strstr(rest, "password=")) {
		lerr(ld, v->pos,
		     "url holds a password: policy is readable by every viewer; give "
		     "'password_file' or libpq's PGPASSFILE instead");
		return;
	}
	d->source_url = s;
}

static void source_password_file(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->password_file = want_text(ld, v, "'password_file'");
}

static const struct field source_fields[] = {
	{ "url", V_SCALAR, true, source_url },
	{ "password_file", V_SCALAR, false, source_password_file },
};

static void ds_source(struct load *ld, void *target, const struct ynode *v)
{
	DECODE(ld, v, source_fields, target);
}

/* build */

static void build_dependency(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->build_dependency = want_locator(ld, v, "dependency");
}

static void build_component(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	const struct istr *s = want_text(ld, v, "'component'");
	if (s && check_ident(ld, v->pos, "component", s) == 0)
		d->build_component = s;
}

static const struct field build_fields[] = {
	{ "dependency", V_SCALAR, true, build_dependency },
	{ "component", V_SCALAR, true, build_component },
};

static void ds_build(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	if (v->kind == YNODE_MAP) {
		DECODE(ld, v, build_fields, target);
		return;
	}
	const struct istr *s = v->kind == YNODE_SCALAR && !is_null(v) ? v->str : NULL;
	if (!s || s->len == 0 || s->len > 256 || strchr(s->s, '\n')) {
		lerr(ld, v->pos,
		     "build must be a build name (like \"1.4.2\") or {dependency: NS/NAME, "
		     "component: NAME}, not %s",
		     ynode_describe(v));
		return;
	}
	d->build = s;
}

/* roots */

static void root_table(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset_root *r = target;
	const struct istr *s = want_text(ld, v, "'table'");
	if (s)
		r->table = want_table(ld, v, s);
}

static void root_where(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset_root *r = target;
	const struct istr *s = want_text(ld, v, "'where'");
	if (s && (s->len == 0 || strlen(s->s) != s->len || strchr(s->s, ';'))) {
		lerr(ld, v->pos, "'where' must be one SQL condition, without ';'");
		return;
	}
	r->where = s;
}

static const struct field root_fields[] = {
	{ "table", V_SCALAR, true, root_table },
	{ "where", V_SCALAR, false, root_where },
};

static void ds_roots(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->roots = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*d->roots));
	for (size_t i = 0; i < v->len; i++) {
		const struct ynode *item = v->items[i];
		if (item->kind != YNODE_MAP) {
			lerr(ld, item->pos, "a root must be a mapping {table, where}, not %s",
			     ynode_describe(item));
			continue;
		}
		struct dataset_root *r = &d->roots[d->nroots];
		memset(r, 0, sizeof(*r));
		r->pos = item->pos;
		int before = ld->errors;
		size_t mark = ctx_push(ld, "root %zu", i + 1);
		DECODE(ld, item, root_fields, r);
		ctx_pop(ld, mark);
		if (ld->errors == before)
			d->nroots++;
	}
}

/* tables */

static void table_whole(struct load *ld, void *target, const struct ynode *v)
{
	want_bool(ld, v, "whole", &((struct dataset_table *)target)->whole);
}

static const struct field table_fields[] = {
	{ "whole", V_SCALAR, true, table_whole },
};

static void ds_tables(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->tables = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*d->tables));
	for (size_t i = 0; i < v->len; i++) {
		const struct ypair *pr = &v->pairs[i];
		struct dataset_table *t = &d->tables[d->ntables];
		memset(t, 0, sizeof(*t));
		t->pos = pr->key_pos;
		if (!dotted_name_ok(pr->key->s, 2)) {
			lerr(ld, pr->key_pos, "invalid table '%s': expected 'table' or 'schema.table'",
			     pr->key->s);
			continue;
		}
		t->table = pr->key;
		if (pr->value->kind != YNODE_MAP) {
			lerr(ld, pr->value->pos, "table '%s' must be a mapping like {whole: true}, not %s",
			     pr->key->s, ynode_describe(pr->value));
			continue;
		}
		int before = ld->errors;
		size_t mark = ctx_push(ld, "table %s", pr->key->s);
		DECODE(ld, pr->value, table_fields, t);
		ctx_pop(ld, mark);
		if (ld->errors == before)
			d->ntables++;
	}
}

/* references */

static void ref_children(struct load *ld, void *target, const struct ynode *v)
{
	want_bool(ld, v, "children", &((struct dataset_reference *)target)->children);
}

static const struct field reference_fields[] = {
	{ "children", V_SCALAR, true, ref_children },
};

static void ds_references(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->references = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*d->references));
	for (size_t i = 0; i < v->len; i++) {
		const struct ypair *pr = &v->pairs[i];
		struct dataset_reference *r = &d->references[d->nreferences];
		memset(r, 0, sizeof(*r));
		r->pos = pr->key_pos;
		if (!name_part_ok(pr->key->s, pr->key->len)) {
			lerr(ld, pr->key_pos, "invalid constraint name '%s'", pr->key->s);
			continue;
		}
		r->constraint = pr->key;
		if (pr->value->kind != YNODE_MAP) {
			lerr(ld, pr->value->pos,
			     "reference '%s' must be a mapping like {children: true}, not %s",
			     pr->key->s, ynode_describe(pr->value));
			continue;
		}
		int before = ld->errors;
		size_t mark = ctx_push(ld, "reference %s", pr->key->s);
		DECODE(ld, pr->value, reference_fields, r);
		ctx_pop(ld, mark);
		if (ld->errors == before)
			d->nreferences++;
	}
}

/* anonymize */

static void anon_regex_pattern(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset_anon *a = target;
	const struct istr *s = want_text(ld, v, "'pattern'");
	if (!s)
		return;
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)s->s, s->len, PCRE2_UTF, &code, &offset, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		lerr(ld, v->pos, "pattern '%s' does not compile at offset %zu: %s", s->s,
		     (size_t)offset, (const char *)msg);
		return;
	}
	pcre2_code_free(re);
	a->value = s;
}

static void anon_regex_replace(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset_anon *a = target;
	a->replace = v->kind == YNODE_SCALAR && is_null(v) ? intern(ld->in, "", 0) : v->str;
}

static const struct field regex_fields[] = {
	{ "pattern", V_SCALAR, true, anon_regex_pattern },
	{ "replace", V_SCALAR, true, anon_regex_replace },
};

static void anon_const(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset_anon *a = target;
	/* {const: null} means what "null" means, not the text "null". */
	a->kind = is_null(v) ? ANON_NULL : ANON_CONST;
	a->value = v->str;
}

static void anon_regex(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset_anon *a = target;
	a->kind = ANON_REGEX;
	DECODE(ld, v, regex_fields, a);
}

static void anon_date_shift(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset_anon *a = target;
	a->kind = ANON_DATE_SHIFT;
	ynode_scalar(v, &a->days, NULL, NULL);
	if (a->days < 1 || a->days > 36500)
		lerr(ld, v->pos, "date_shift must be a number of days from 1 to 36500, not %lld",
		     (long long)a->days);
}

static const struct field anon_map_fields[] = {
	{ "const", V_SCALAR, true, anon_const },
	{ "regex", V_MAP, true, anon_regex },
	{ "date_shift", V_INT, true, anon_date_shift },
};

static const char *const anon_scalar_names[] = {
	"email", "first_name", "last_name", "full_name", "phone", "digits", "text", "hash", "null",
};

static void decode_transformer(struct load *ld, struct dataset_anon *a, const struct ynode *v)
{
	const size_t nscalars = sizeof(anon_scalar_names) / sizeof(*anon_scalar_names);
	if (is_null(v)) { /* an unquoted null means what "null" means */
		a->kind = ANON_NULL;
		return;
	}
	if (v->kind == YNODE_SCALAR) {
		enum anon_kind k;
		if (anon_kind_parse(v->str->s, &k) == 0 && k < ANON_CONST) {
			a->kind = k;
			return;
		}
		const char *near = suggest_nearest(v->str->s, anon_scalar_names, nscalars);
		if (near)
			lerr(ld, v->pos, "unknown transformer '%s' (did you mean '%s'?)", v->str->s,
			     near);
		else
			lerr(ld, v->pos,
			     "unknown transformer '%s' (expected email, first_name, last_name, "
			     "full_name, phone, digits, text, hash, \"null\", {const: V}, {regex: "
			     "{pattern, replace}} or {date_shift: DAYS})",
			     v->str->s);
		return;
	}
	if (v->kind != YNODE_MAP || v->len != 1) {
		lerr(ld, v->pos,
		     "a transformer is a name (like email) or a mapping with one key: const, regex "
		     "or date_shift");
		return;
	}
	const struct ypair *pr = &v->pairs[0];
	for (size_t k = 0; k < sizeof(anon_map_fields) / sizeof(*anon_map_fields); k++) {
		if (strcmp(pr->key->s, anon_map_fields[k].key) == 0) {
			decode_map(ld, v, &anon_map_fields[k], 1, a);
			return;
		}
	}
	static const char *const keys[] = { "const", "regex", "date_shift" };
	const char *near = suggest_nearest(pr->key->s, keys, 3);
	lerr(ld, pr->key_pos, "unknown transformer '%s'%s%s%s", pr->key->s,
	     near ? " (did you mean '" : " (expected const, regex or date_shift",
	     near ? near : "", near ? "'?)" : ")");
}

static void ds_anonymize(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->anonymize = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*d->anonymize));
	for (size_t i = 0; i < v->len; i++) {
		const struct ypair *pr = &v->pairs[i];
		struct dataset_anon *a = &d->anonymize[d->nanonymize];
		memset(a, 0, sizeof(*a));
		a->pos = pr->key_pos;
		const char *dot = strrchr(pr->key->s, '.');
		if (!dot || !dotted_name_ok(pr->key->s, 3)) {
			lerr(ld, pr->key_pos,
			     "invalid column '%s': expected 'table.column' or 'schema.table.column'",
			     pr->key->s);
			continue;
		}
		a->table = intern(ld->in, pr->key->s, (size_t)(dot - pr->key->s));
		a->column = intern_cstr(ld->in, dot + 1);
		int before = ld->errors;
		size_t mark = ctx_push(ld, "%s", pr->key->s);
		decode_transformer(ld, a, pr->value);
		ctx_pop(ld, mark);
		if (ld->errors == before)
			d->nanonymize++;
	}
}

/* the rest */

static void ds_key_file(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->key_file = want_text(ld, v, "'key_file'");
}

static void ds_keep(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	ynode_scalar(v, &d->keep, NULL, NULL);
	if (d->keep < 1 || d->keep > 1000)
		lerr(ld, v->pos, "keep must be from 1 to 1000, not %lld", (long long)d->keep);
}

static void ds_max_rows(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	ynode_scalar(v, &d->max_rows, NULL, NULL);
	if (d->max_rows < 1)
		lerr(ld, v->pos, "max_rows must be 1 or more, not %lld", (long long)d->max_rows);
}

/* store: {s3: {endpoint, bucket, prefix, region, access_key_file, secret_key_file}} */

static void store_s3(struct load *ld, void *target, const struct ynode *v)
{
	decode_s3_location(ld, &((struct dataset *)target)->s3, v);
}

static const struct field store_fields[] = {
	{ "s3", V_MAP, true, store_s3 },
};

static void ds_store(struct load *ld, void *target, const struct ynode *v)
{
	DECODE(ld, v, store_fields, target);
}

/* schedule: "HH:MM", daily in the server's local time */
static void ds_schedule(struct load *ld, void *target, const struct ynode *v)
{
	struct dataset *d = target;
	d->scheduled = want_time_of_day(ld, v, &d->schedule_minute) == 0;
}

static const struct field dataset_fields[] = {
	HEAD_FIELDS,
	{ "source", V_MAP, true, ds_source },
	{ "build", V_ANY, false, ds_build },
	{ "roots", V_LIST, false, ds_roots },
	{ "tables", V_MAP, false, ds_tables },
	{ "references", V_MAP, false, ds_references },
	{ "anonymize", V_MAP, false, ds_anonymize },
	{ "key_file", V_SCALAR, false, ds_key_file },
	{ "keep", V_INT, false, ds_keep },
	{ "max_rows", V_INT, false, ds_max_rows },
	{ "schedule", V_SCALAR, false, ds_schedule },
	{ "store", V_MAP, false, ds_store },
};

/* Defaults, and checks across fields, once every key is decoded. */
static void dataset_finish(struct load *ld, struct object *o, const struct ynode *n)
{
	struct dataset *d = (struct dataset *)o;
	if (!d->keep)
		d->keep = DATASET_KEEP_DEFAULT;
	if (!d->max_rows)
		d->max_rows = DATASET_MAX_ROWS_DEFAULT;
	bool whole = false;
	for (uint32_t i = 0; i < d->ntables; i++)
		whole |= d->tables[i].whole;
	if (ld->errors == 0 && d->nroots == 0 && !whole)
		lerr(ld, n->pos, "nothing to take: give 'roots' or a table with whole: true");
	bool keyed = false;
	for (uint32_t i = 0; i < d->nanonymize; i++)
		keyed |= d->anonymize[i].kind != ANON_NULL && d->anonymize[i].kind != ANON_CONST &&
			 d->anonymize[i].kind != ANON_REGEX;
	if (keyed && !d->key_file)
		lerr(ld, n->pos,
		     "anonymize needs 'key_file': the HMAC-SHA256 key that makes its output "
		     "deterministic");
}

const struct kind_table dataset_table = {
	sizeof(struct dataset), dataset_fields, sizeof(dataset_fields) / sizeof(*dataset_fields),
	dataset_finish,
};
