/* The transformers and the per-column plan of a dataset's anonymization. */
#include "anon.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/sha256.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/vec.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Names that read as names in a demo; an output is one of these picked by
 * the HMAC, so the dictionaries need no more than variety. */
static const char *const first_names[] = {
	"Ada",    "Alan",   "Alice",  "Amara",  "Anna",   "Ben",    "Carla",  "Chen",
	"Clara",  "Dana",   "David",  "Elena",  "Emil",   "Eva",    "Farah",  "Felix",
	"Grace",  "Hana",   "Hugo",   "Ines",   "Ivan",   "Jade",   "Jonas",  "Kai",
	"Kim",    "Lara",   "Leo",    "Lina",   "Luca",   "Maya",   "Mila",   "Nadia",
	"Nico",   "Nora",   "Omar",   "Olga",   "Paul",   "Priya",  "Quinn",  "Rosa",
	"Ravi",   "Sara",   "Sven",   "Tara",   "Theo",   "Uma",    "Vera",   "Wen",
	"Xavier", "Yara",   "Yusuf",  "Zoe",    "Aiko",   "Bruno",  "Cyrus",  "Dara",
	"Enzo",   "Freya",  "Gita",   "Hiro",   "Iris",   "Joel",   "Kira",   "Lev",
};
static const char *const last_names[] = {
	"Abe",     "Adler",   "Baker",    "Berg",    "Costa",   "Cruz",    "Dahl",     "Diaz",
	"Eriksen", "Evans",   "Fischer",  "Flores",  "Garcia",  "Gray",    "Hansen",   "Hill",
	"Ito",     "Iyer",    "Jensen",   "Jones",   "Kato",    "Klein",   "Lang",     "Lopez",
	"Meyer",   "Moreau",  "Nagy",     "Novak",   "Olsen",   "Ortiz",   "Park",     "Patel",
	"Quist",   "Reyes",   "Rossi",    "Sato",    "Silva",   "Smirnov", "Tanaka",   "Torres",
	"Ueda",    "Vance",   "Vogel",    "Wagner",  "Weber",   "Xu",      "Yilmaz",   "Young",
	"Zhang",   "Zimmer",  "Alves",    "Brandt",  "Castro",  "Duarte",  "Engel",    "Fuchs",
	"Gomez",   "Horvat",  "Ibrahim",  "Jovanovic", "Kowalski", "Larsen", "Moretti", "Nguyen",
};
#define NNAMES(a) (sizeof(a) / sizeof(*(a)))

struct sn_transform {
	struct dataset_anon rule;
	EVP_MAC_CTX *mac; /* keyed once; re-initialized per value with the same key */
	pcre2_code *re;
	pcre2_match_data *md;
	bool unique;
	struct strbuf out;
	/* unique: what each input became, and the outputs given so far */
	struct arena *arena;
	struct map memo, given;
	/* columns sharing this transformer (sn_anonymizer): freed with the last */
	unsigned refs;
};

struct sn_transform *sn_transform_new(const struct dataset_anon *a, const unsigned char *key,
				      size_t keylen, bool unique, struct error *err)
{
	struct sn_transform *t = xcalloc(1, sizeof(*t));
	t->rule = *a;
	t->unique = unique && a->kind != ANON_NULL && a->kind != ANON_CONST;
	t->refs = 1;
	if (a->kind == ANON_REGEX) {
		int code;
		PCRE2_SIZE offset;
		t->re = pcre2_compile((PCRE2_SPTR)a->value->s, a->value->len, PCRE2_UTF, &code,
				      &offset, NULL);
		if (!t->re) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(code, msg, sizeof(msg));
			error_set(err, "pattern '%s' does not compile: %s", a->value->s,
				  (const char *)msg);
			free(t);
			return NULL;
		}
		t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
	} else if (a->kind != ANON_NULL && a->kind != ANON_CONST) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		t->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
		EVP_MAC_free(mac);
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
			OSSL_PARAM_construct_end(),
		};
		if (!t->mac || !EVP_MAC_init(t->mac, key, keylen, params)) {
			error_set(err, "HMAC-SHA256 is not available from OpenSSL");
			EVP_MAC_CTX_free(t->mac);
			free(t);
			return NULL;
		}
	}
	if (t->unique)
		t->arena = arena_new();
	return t;
}

void sn_transform_free(struct sn_transform *t)
{
	if (!t || --t->refs)
		return;
	EVP_MAC_CTX_free(t->mac);
	pcre2_match_data_free(t->md);
	pcre2_code_free(t->re);
	strbuf_release(&t->out);
	map_release(&t->memo);
	map_release(&t->given);
	arena_free(t->arena);
	free(t);
}

/* HMAC-SHA256(key, kind || 0 || value || 0 || attempt). */
static void prf(struct sn_transform *t, const char *value, unsigned attempt, unsigned char h[32])
{
	size_t len = 32;
	unsigned char a[4] = { (unsigned char)(attempt >> 24), (unsigned char)(attempt >> 16),
			       (unsigned char)(attempt >> 8), (unsigned char)attempt };
	/* The transformer's name keeps an email's digest apart from a name's. */
	const char *salt = anon_kind_name(t->rule.kind);
	EVP_MAC_init(t->mac, NULL, 0, NULL);
	EVP_MAC_update(t->mac, (const unsigned char *)salt, strlen(salt) + 1);
	EVP_MAC_update(t->mac, (const unsigned char *)value, strlen(value) + 1);
	EVP_MAC_update(t->mac, a, sizeof(a));
	EVP_MAC_final(t->mac, h, &len, 32);
}

static uint64_t take64(const unsigned char *h)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return v;
}

/* A stream of pseudo-random bytes for long values: block i is
 * HMAC(kind, value, attempt, i) — the first block is h itself. */
struct stream {
	struct sn_transform *t;
	const char *value;
	unsigned attempt, block;
	unsigned char h[32];
	size_t used;
};

static unsigned next_byte(struct stream *s)
{
	if (s->used == 32) {
		/* Blocks after the first vary the attempt's high bits. */
		prf(s->t, s->value, s->attempt | ++s->block << 16, s->h);
		s->used = 0;
	}
	return s->h[s->used++];
}

/* Days since 1970-01-01 of a civil date, and back (Howard Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int shift_date(struct sn_transform *t, const char *v, const unsigned char *h,
		      struct error *err)
{
	/* The infinite dates identify no one, and have no day to move. */
	if (!strcmp(v, "infinity") || !strcmp(v, "-infinity")) {
		strbuf_adds(&t->out, v);
		return 0;
	}
	int y, m, d, n = 0;
	if (sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || m < 1 || m > 12 ||
	    d < 1 || d > 31)
		return error_set(err, "date_shift: '%s' is not a date (YYYY-MM-DD...)", v);
	/* 1 to `days` days, earlier or later: never the date itself. */
	uint64_t r = take64(h);
	int64_t shift = (int64_t)(1 + (r >> 1) % (uint64_t)t->rule.days);
	if (r & 1)
		shift = -shift;
	int64_t ny;
	unsigned nm, nd;
	civil_from_days(days_from_civil(y, (unsigned)m, (unsigned)d) + shift, &ny, &nm, &nd);
	strbuf_addf(&t->out, "%04lld-%02u-%02u%s", (long long)ny, nm, nd, v + 10);
	return 0;
}

/* Letters stay letters of their case, digits digits; other ASCII stays;
 * every other character becomes a lowercase letter, so the length in
 * characters is kept and nothing of the original is. */
static void mask(struct sn_transform *t, const char *v, const unsigned char *h, bool digits_only,
		 unsigned attempt)
{
	struct stream s = { .t = t, .value = v, .attempt = attempt };
	memcpy(s.h, h, 32);
	for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
		if (*c >= '0' && *c <= '9') {
			strbuf_addc(&t->out, (char)('0' + next_byte(&s) % 10));
		} else if (digits_only || (*c < 0x80 && !((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))) {
			strbuf_addc(&t->out, (char)*c);
		} else if (*c >= 'A' && *c <= 'Z') {
			strbuf_addc(&t->out, (char)('A' + next_byte(&s) % 26));
		} else {
			strbuf_addc(&t->out, (char)('a' + next_byte(&s) % 26));
			if (*c >= 0xC0) /* skip the continuation bytes of one character */
				while ((c[1] & 0xC0) == 0x80)
					c++;
		}
	}
}

static int regex_replace(struct sn_transform *t, const char *v, struct error *err)
{
	PCRE2_SIZE len = strlen(v) * 2 + t->rule.replace->len + 64;
	for (;;) {
		strbuf_reset(&t->out);
		char *buf = xmalloc(len);
		PCRE2_SIZE outlen = len;
		int rc = pcre2_substitute(t->re, (PCRE2_SPTR)v, PCRE2_ZERO_TERMINATED, 0,
					  PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH,
					  t->md, NULL, (PCRE2_SPTR)t->rule.replace->s,
					  t->rule.replace->len, (PCRE2_UCHAR *)buf, &outlen);
		if (rc == PCRE2_ERROR_NOMEMORY) {
			free(buf);
			len = outlen + 1;
			continue;
		}
		if (rc < 0) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(rc, msg, sizeof(msg));
			free(buf);
			return error_set(err, "regex: %s", (const char *)msg);
		}
		strbuf_add(&t->out, buf, outlen);
		free(buf);
		return 0;
	}
}

static void add_lower(struct strbuf *sb, const char *s)
{
	for (; *s; s++)
		strbuf_addc(sb, *s >= 'A' && *s <= 'Z' ? (char)(*s + 32) : *s);
}

/* One attempt at transforming v into t->out. */
static int derive(struct sn_transform *t, const char *v, unsigned attempt, struct error *err)
{
	strbuf_reset(&t->out);
	unsigned char h[32];
	if (t->mac)
		prf(t, v, attempt, h);
	uint64_t r = t->mac ? take64(h) : 0;
	const char *first = first_names[r % NNAMES(first_names)];
	const char *last = last_names[(r >> 16) % NNAMES(last_names)];
	switch (t->rule.kind) {
	case ANON_EMAIL:
		add_lower(&t->out, first);
		strbuf_addc(&t->out, '.');
		add_lower(&t->out, last);
		strbuf_addf(&t->out, "%u@example.com", (unsigned)((r >> 32) % 10000));
		break;
	case ANON_FIRST_NAME:
		strbuf_adds(&t->out, first);
		break;
	case ANON_LAST_NAME:
		strbuf_adds(&t->out, last);
		break;
	case ANON_FULL_NAME:
		strbuf_addf(&t->out, "%s %s", first, last);
		break;
	case ANON_PHONE:
		/* 555-01xx numbers are reserved for fiction; the rest of the
		 * number varies so that phones stay distinct. */
		strbuf_addf(&t->out, "+1 555 01%02u %04u", (unsigned)((r >> 8) % 100),
			    (unsigned)((r >> 24) % 10000));
		break;
	case ANON_DIGITS:
		mask(t, v, h, true, attempt);
		break;
	case ANON_TEXT:
		mask(t, v, h, false, attempt);
		break;
	case ANON_HASH: {
		char hex[33];
		hex_encode(h, 16, hex);
		strbuf_adds(&t->out, hex);
		break;
	}
	case ANON_CONST:
		strbuf_adds(&t->out, t->rule.value->s);
		break;
	case ANON_REGEX:
		return regex_replace(t, v, err);
	case ANON_DATE_SHIFT:
		return shift_date(t, v, h, err);
	case ANON_NULL:
	case ANON_COUNT:
		break;
	}
	return 0;
}

int sn_transform_apply(struct sn_transform *t, const char *value, const char **out,
		       struct error *err)
{
	if (!value || t->rule.kind == ANON_NULL) {
		*out = NULL;
		return 0;
	}
	if (!t->unique) {
		if (derive(t, value, 0, err) < 0)
			return -1;
		*out = strbuf_cstr(&t->out);
		return 0;
	}
	size_t vlen = strlen(value);
	const char *known = map_get(&t->memo, value, vlen);
	if (known) {
		*out = known;
		return 0;
	}
	/* A collision with another input's output is retried with the next
	 * attempt; after a few, a counter makes the output distinct (for
	 * transformers whose outputs are few, like first_name). */
	for (unsigned attempt = 0;; attempt++) {
		if (derive(t, value, attempt, err) < 0)
			return -1;
		if (attempt >= 8)
			strbuf_addf(&t->out, "-%u", attempt);
		if (!map_get(&t->given, t->out.buf, t->out.len))
			break;
	}
	char *key = arena_strndup(t->arena, value, vlen);
	char *given = arena_strndup(t->arena, t->out.buf, t->out.len);
	map_put(&t->memo, key, vlen, given);
	map_put(&t->given, given, t->out.len, given);
	*out = given;
	return 0;
}

/* ---- the plan of a dataset ---- */

struct sn_anonymizer {
	const struct sn_catalog *c;
	struct sn_transform ***cols; /* per table, per column, or NULL */
};

static void add_warning(struct diags *w, const struct dataset *ds, const struct sn_table *t,
			const struct sn_column *col)
{
	diags_add(w,
		  "dataset %s/%s: column %s.%s is text in a table with anonymized columns but "
		  "has no rule: personal data in it would be copied as it is (add a rule, e.g. "
		  "%s.%s: text, or {const: \"\"})",
		  ds->obj.ns->s, ds->obj.name->s, t->label, col->name, t->label, col->name);
}

int sn_anonymizer_new(const struct dataset *ds, const struct sn_catalog *c,
		      const unsigned char *key, size_t keylen, struct sn_anonymizer **out,
		      struct diags *warnings, struct error *err)
{
	struct sn_anonymizer *a = xcalloc(1, sizeof(*a));
	a->c = c;
	a->cols = xcalloc(c->ntables ? c->ntables : 1, sizeof(*a->cols));
	for (size_t t = 0; t < c->ntables; t++)
		a->cols[t] = xcalloc(c->tables[t].ncols ? c->tables[t].ncols : 1,
				     sizeof(**a->cols));
	*out = a;
	for (uint32_t i = 0; i < ds->nanonymize; i++) {
		const struct dataset_anon *rule = &ds->anonymize[i];
		size_t t, col;
		if (sn_catalog_table(c, rule->table->s, &t, err) < 0 ||
		    sn_catalog_column(c, t, rule->column->s, &col, err) < 0)
			goto fail_at;
		if (a->cols[t][col]) {
			error_set(err, "column %s.%s has two rules", c->tables[t].label,
				  rule->column->s);
			goto fail_at;
		}
		a->cols[t][col] = sn_transform_new(rule, key, keylen, c->tables[t].cols[col].unique,
						    err);
		if (!a->cols[t][col])
			goto fail_at;
		continue;
fail_at:
		error_wrap(err, "%s:%u:%u: dataset %s/%s: anonymize: %s.%s", rule->pos.file,
			   rule->pos.line, rule->pos.col, ds->obj.ns->s, ds->obj.name->s,
			   rule->table->s, rule->column->s);
		sn_anonymizer_free(a);
		*out = NULL;
		return -1;
	}
	/* A column referencing an anonymized one gets its transformer (the
	 * same object, so a unique column's memory is shared), and so on down
	 * chains of references: repeat until nothing changes. */
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t k = 0; k < c->nfks; k++) {
			const struct sn_fk *fk = &c->fks[k];
			for (size_t i = 0; i < fk->ncols; i++) {
				struct sn_transform *p = a->cols[fk->parent][fk->parent_cols[i]];
				struct sn_transform **ch = &a->cols[fk->child][fk->child_cols[i]];
				if (p && !*ch) {
					p->refs++;
					*ch = p;
					changed = true;
				}
			}
		}
	}
	for (size_t t = 0; t < c->ntables; t++) {
		bool any = false;
		for (size_t col = 0; col < c->tables[t].ncols; col++)
			any |= a->cols[t][col] != NULL;
		if (!any)
			continue;
		for (size_t col = 0; col < c->tables[t].ncols; col++) {
			const struct sn_column *sc = &c->tables[t].cols[col];
			if (!a->cols[t][col] && sc->category == 'S' && warnings)
				add_warning(warnings, ds, &c->tables[t], sc);
		}
	}
	return 0;
}

void sn_anonymizer_free(struct sn_anonymizer *a)
{
	if (!a)
		return;
	for (size_t t = 0; t < a->c->ntables; t++) {
		for (size_t col = 0; col < a->c->tables[t].ncols; col++)
			sn_transform_free(a->cols[t][col]);
		free(a->cols[t]);
	}
	free(a->cols);
	free(a);
}

struct sn_transform *sn_anonymizer_column(const struct sn_anonymizer *a, size_t table, size_t col)
{
	return a->cols[table][col];
}
