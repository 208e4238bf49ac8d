/* Templates rendered: a compiled template's nodes run against a scope
 * (.Labels, .User, .Discovery), without allocating in the common path. */
#include "template_internal.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct dnode *dnode_get(const struct dnode *n, const struct istr *key)
{
	for (; n; n = n->fallback)
		for (uint32_t i = 0; i < n->len; i++)
			if (n->entries[i].key == key)
				return n->entries[i].child;
	return NULL;
}

enum vkind { V_NONE, V_STR, V_INT, V_BOOL, V_LABELS, V_DNODE, V_SCOPE, V_USER };

/* Why a V_NONE is missing; for V_LABELS, which map it is. */
enum why { W_LABEL, W_USER_LABEL, W_SECRET, W_NO_SECRETS, W_NO_USER, W_DISCOVERY };

struct val {
	uint8_t kind, why;
	uint32_t len;  /* V_STR; V_NONE from a discovery field: length of the path that is missing */
	const char *s; /* V_STR; V_NONE: the missing key */
	const struct istr *is; /* the interned string, when known */
	union {
		int64_t i;
		bool b;
		const struct labels *ls;
		const struct dnode *dn;
	} u;
	const struct texpr *src; /* the expression the value comes from */
};

/* Intermediate strings of one render (printf, lower, replace...): a stack
 * block first, heap chunks freed at the end only when it overflows. */
struct chunk {
	struct chunk *next;
	char data[];
};

struct scratch {
	size_t used;
	struct chunk *chunks;
	char buf[512];
};

struct rctx {
	const struct template *t;
	const struct template_scope *sc;
	struct strbuf *out;
	struct error *err;
	struct scratch *scr;
};

static char *scratch_alloc(struct scratch *s, size_t n)
{
	if (n <= sizeof(s->buf) - s->used) {
		char *p = s->buf + s->used;
		s->used += n;
		return p;
	}
	struct chunk *c = xmalloc(sizeof(*c) + n);
	c->next = s->chunks;
	s->chunks = c;
	return c->data;
}

__attribute__((format(printf, 2, 3))) static int rfail(struct rctx *r, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	error_set(r->err, "unable to evaluate template '%s': %s", r->t->text, strbuf_cstr(&sb));
	strbuf_release(&sb);
	return -1;
}

#define SRC(v) (int)(v)->src->srclen, (v)->src->src

static int fail_missing(struct rctx *r, const struct val *v)
{
	switch (v->why) {
	case W_LABEL:
		return rfail(r, "no label '%s' (%.*s)", v->s, SRC(v));
	case W_USER_LABEL:
		return rfail(r, "no user label '%s' (%.*s)", v->s, SRC(v));
	case W_SECRET:
		return rfail(r, "no secret '%s' (%.*s)", v->s, SRC(v));
	case W_NO_SECRETS:
		return rfail(r, "user has no secrets (%.*s)", SRC(v));
	case W_NO_USER:
		return rfail(r, "no user name (%.*s)", SRC(v));
	default:
		if (v->src->kind == E_FIELD && v->len < v->src->srclen)
			return rfail(r, "no discovery value at %.*s (%.*s)", (int)v->len, v->src->src, SRC(v));
		if (v->src->kind == E_FIELD)
			return rfail(r, "no discovery value at %.*s", SRC(v));
		return rfail(r, "no discovery value '%s' (%.*s)", v->s, SRC(v));
	}
}

/* The error for a value that cannot be printed as text. */
static int fail_not_text(struct rctx *r, const struct val *v)
{
	switch (v->kind) {
	case V_NONE:
		return fail_missing(r, v);
	case V_LABELS:
		return rfail(r, "%.*s is a map, not a value", SRC(v));
	case V_DNODE:
		if (v->src->kind == E_FIELD)
			return rfail(r, "discovery value at %.*s is a map, not a value", SRC(v));
		return rfail(r, "discovery value %.*s is a map, not a value", SRC(v));
	default:
		return rfail(r, "%.*s is not a value", SRC(v));
	}
}

static void set_str(struct val *v, const char *s, size_t len, const struct istr *is)
{
	v->kind = V_STR;
	v->s = s;
	v->len = (uint32_t)len;
	v->is = is;
}

static void set_istr(struct val *v, const struct istr *is)
{
	set_str(v, is->s, is->len, is);
}

static void set_none(struct val *v, enum why why, const char *key)
{
	v->kind = V_NONE;
	v->why = (uint8_t)why;
	v->s = key;
}

static void set_dnode(struct val *v, const struct dnode *n)
{
	if (n->text) {
		set_str(v, n->text, strlen(n->text), NULL);
	} else {
		v->kind = V_DNODE;
		v->u.dn = n;
	}
}

static int eval_field(struct rctx *r, const struct texpr *e, struct val *v)
{
	const struct template_scope *sc = r->sc;
	const struct istr *is;
	const struct labels *ls = NULL;
	enum why why = W_LABEL;
	switch (e->root) {
	case R_SCOPE:
		v->kind = V_SCOPE;
		return 0;
	case R_USER:
		v->kind = V_USER;
		return 0;
	case R_USER_NAME:
		if (sc->user_name)
			set_str(v, sc->user_name, strlen(sc->user_name), NULL);
		else
			set_none(v, W_NO_USER, "");
		return 0;
	case R_LABELS:
		ls = sc->labels;
		break;
	case R_DATA: {
		const char *mark = NULL;
		if (e->n && strcmp(e->u.path[0]->s, "build") == 0)
			mark = TEMPLATE_DATA_BUILD;
		else if (e->n && strcmp(e->u.path[0]->s, "snapshot") == 0)
			mark = TEMPLATE_DATA_SNAPSHOT;
		else if (e->n && strcmp(e->u.path[0]->s, "dataset") == 0)
			mark = TEMPLATE_DATA_DATASET;
		if (!mark)
			return rfail(r, "no field %s in .Data (it has build, snapshot and dataset) (%.*s)",
				     e->n ? e->u.path[0]->s : "", (int)e->srclen, e->src);
		set_str(v, mark, strlen(mark), NULL);
		return 0;
	}
	case R_USER_LABELS:
		ls = sc->user_labels;
		why = W_USER_LABEL;
		break;
	case R_USER_SECRETS:
		if (!sc->user_secrets) {
			set_none(v, W_NO_SECRETS, "");
			return 0;
		}
		ls = sc->user_secrets;
		why = W_SECRET;
		break;
	default: {
		const struct dnode *n = sc->discovery;
		uint32_t plen = (uint32_t)strlen(".Discovery");
		for (uint32_t i = 0; i < e->n && n; i++) {
			if (n->text)
				return rfail(r, "discovery value at %.*s is a value, not a map", (int)plen, e->src);
			n = dnode_get(n, e->u.path[i]);
			plen += 1 + e->u.path[i]->len;
		}
		if (!n) {
			set_none(v, W_DISCOVERY, "");
			v->len = plen;
		} else {
			set_dnode(v, n);
		}
		return 0;
	}
	}
	if (!e->n) {
		v->kind = V_LABELS;
		v->why = (uint8_t)why;
		v->u.ls = ls;
	} else if ((is = labels_get(ls, e->u.path[0]))) {
		set_istr(v, is);
	} else {
		set_none(v, why, e->u.path[0]->s);
	}
	return 0;
}

static bool truth(const struct val *v)
{
	switch (v->kind) {
	case V_NONE:
		return false;
	case V_STR:
		return v->len > 0;
	case V_INT:
		return v->u.i != 0;
	case V_BOOL:
		return v->u.b;
	case V_LABELS:
		return v->u.ls && v->u.ls->len > 0;
	case V_DNODE:
		for (const struct dnode *n = v->u.dn; n; n = n->fallback)
			if (n->len)
				return true;
		return false;
	default:
		return true;
	}
}

/* v as text; integers are formatted into the scratch space. */
static int as_text(struct rctx *r, const struct val *v, const char **s, size_t *len)
{
	switch (v->kind) {
	case V_STR:
		*s = v->s;
		*len = v->len;
		return 0;
	case V_BOOL:
		*s = v->u.b ? "true" : "false";
		*len = strlen(*s);
		return 0;
	case V_INT: {
		char buf[24];
		int n = snprintf(buf, sizeof(buf), "%" PRId64, v->u.i);
		char *p = scratch_alloc(r->scr, (size_t)n);
		memcpy(p, buf, (size_t)n);
		*s = p;
		*len = (size_t)n;
		return 0;
	}
	default:
		return fail_not_text(r, v);
	}
}

static int print_val(struct rctx *r, const struct val *v)
{
	switch (v->kind) {
	case V_STR:
		strbuf_add(r->out, v->s, v->len);
		return 0;
	case V_INT:
		strbuf_addf(r->out, "%" PRId64, v->u.i);
		return 0;
	case V_BOOL:
		strbuf_adds(r->out, v->u.b ? "true" : "false");
		return 0;
	default:
		return fail_not_text(r, v);
	}
}

/* The text appended to out since mark becomes v (moved to the scratch space). */
static void take_output(struct rctx *r, size_t mark, struct val *v)
{
	size_t len = r->out->len - mark;
	char *p = scratch_alloc(r->scr, len ? len : 1);
	if (len)
		memcpy(p, r->out->buf + mark, len);
	strbuf_truncate(r->out, mark);
	set_str(v, p, len, NULL);
}

static const char *type_name(const struct val *v)
{
	return v->kind == V_INT ? "int" : v->kind == V_BOOL ? "bool" : "string";
}

/* Go's strconv.Quote for the bytes of s (valid UTF-8 passes through). */
static void add_quoted(struct strbuf *sb, const char *s, size_t len)
{
	strbuf_addc(sb, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc = 0;
		switch (c) {
		case '\a': esc = 'a'; break;
		case '\b': esc = 'b'; break;
		case '\f': esc = 'f'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		case '\v': esc = 'v'; break;
		case '\\': esc = '\\'; break;
		case '"': esc = '"'; break;
		default: break;
		}
		if (esc) {
			strbuf_addc(sb, '\\');
			strbuf_addc(sb, esc);
		} else if (c < 0x20 || c == 0x7f) {
			strbuf_addf(sb, "\\x%02x", c);
		} else {
			strbuf_addc(sb, (char)c);
		}
	}
	strbuf_addc(sb, '"');
}

/* A verb that does not fit its operand prints as Go does: %!d(string=x). */
static int bad_verb(struct rctx *r, char verb, const struct val *a)
{
	strbuf_addf(r->out, "%%!%c(%s=", verb, type_name(a));
	if (print_val(r, a) < 0)
		return -1;
	strbuf_addc(r->out, ')');
	return 0;
}

static int do_printf(struct rctx *r, const struct val *argv, uint32_t argc)
{
	if (argv[0].kind != V_STR)
		return rfail(r, "printf format must be a string (%.*s)", SRC(&argv[0]));
	const char *f = argv[0].s;
	size_t n = argv[0].len;
	uint32_t ai = 1;
	for (size_t i = 0; i < n; i++) {
		const char *pct = memchr(f + i, '%', n - i);
		size_t run = pct ? (size_t)(pct - (f + i)) : n - i;
		strbuf_add(r->out, f + i, run);
		i += run;
		if (i >= n)
			break;
		if (++i >= n) {
			strbuf_adds(r->out, "%!(NOVERB)");
			break;
		}
		char verb = f[i];
		if (verb == '%') {
			strbuf_addc(r->out, '%');
			continue;
		}
		if (ai >= argc) {
			strbuf_addf(r->out, "%%!%c(MISSING)", verb);
			continue;
		}
		const struct val *a = &argv[ai++];
		if (a->kind != V_STR && a->kind != V_INT && a->kind != V_BOOL)
			return fail_not_text(r, a);
		int rc = 0;
		if (verb == 'v' || (verb == 's' && a->kind == V_STR) || (verb == 'd' && a->kind == V_INT) ||
		    (verb == 't' && a->kind == V_BOOL))
			rc = print_val(r, a);
		else if (verb == 'q' && a->kind == V_STR)
			add_quoted(r->out, a->s, a->len);
		else
			rc = bad_verb(r, verb, a);
		if (rc < 0)
			return -1;
	}
	if (ai < argc) {
		strbuf_adds(r->out, "%!(EXTRA ");
		for (; ai < argc; ai++) {
			const struct val *a = &argv[ai];
			strbuf_addf(r->out, "%s=", type_name(a));
			if (print_val(r, a) < 0)
				return -1;
			if (ai + 1 < argc)
				strbuf_adds(r->out, ", ");
		}
		strbuf_addc(r->out, ')');
	}
	return 0;
}

/* Go's fmt.Sprint: a space between operands when neither is a string. */
static int do_print(struct rctx *r, const struct val *argv, uint32_t argc)
{
	for (uint32_t i = 0; i < argc; i++) {
		if (i && argv[i - 1].kind != V_STR && argv[i].kind != V_STR)
			strbuf_addc(r->out, ' ');
		if (print_val(r, &argv[i]) < 0)
			return -1;
	}
	return 0;
}

static bool dnode_seen_before(const struct dnode *top, const struct dnode *upto, const struct istr *key)
{
	for (const struct dnode *n = top; n != upto; n = n->fallback)
		for (uint32_t i = 0; i < n->len; i++)
			if (n->entries[i].key == key)
				return true;
	return false;
}

static int do_len(struct rctx *r, const struct val *a, struct val *v)
{
	int64_t n = 0;
	switch (a->kind) {
	case V_STR:
		n = a->len;
		break;
	case V_LABELS:
		n = a->u.ls ? a->u.ls->len : 0;
		break;
	case V_DNODE:
		for (const struct dnode *m = a->u.dn; m; m = m->fallback)
			for (uint32_t i = 0; i < m->len; i++)
				n += !dnode_seen_before(a->u.dn, m, m->entries[i].key);
		break;
	case V_NONE:
		return fail_missing(r, a);
	default:
		return rfail(r, "len of type %s (%.*s)", a->kind == V_INT ? "int" : a->kind == V_BOOL ? "bool" : "struct",
			     SRC(a));
	}
	v->kind = V_INT;
	v->u.i = n;
	return 0;
}

/* index ITEM KEY...: a propagated missing ITEM keeps its own reason. */
static int do_index(struct rctx *r, const struct texpr *e, const struct val *argv, uint32_t argc,
		    struct val *v)
{
	*v = argv[0];
	for (uint32_t k = 1; k < argc && v->kind != V_NONE; k++) {
		const struct val *key = &argv[k];
		if (v->kind != V_LABELS && v->kind != V_DNODE)
			return rfail(r, "can't index item of type %s (%.*s)",
				     v->kind == V_STR ? "string" : v->kind == V_INT ? "int" : v->kind == V_BOOL ? "bool" : "struct",
				     SRC(v));
		if (key->kind == V_NONE)
			return fail_missing(r, key);
		if (key->kind != V_STR)
			return rfail(r, "index key has type %s; should be string (%.*s)", type_name(key), SRC(key));
		const struct istr *ik = key->is ? key->is : intern_lookup(r->t->in, key->s, key->len);
		/* A key never interned is in no label set or discovery tree. */
		if (v->kind == V_LABELS) {
			const struct istr *is = ik ? labels_get(v->u.ls, ik) : NULL;
			if (is) {
				set_istr(v, is);
			} else if (v->why == W_SECRET && !v->u.ls) {
				set_none(v, W_NO_SECRETS, "");
			} else {
				char *s = scratch_alloc(r->scr, key->len + 1);
				memcpy(s, key->s, key->len);
				s[key->len] = '\0';
				set_none(v, (enum why)v->why, s);
			}
		} else {
			const struct dnode *n = ik ? dnode_get(v->u.dn, ik) : NULL;
			if (n) {
				set_dnode(v, n);
			} else {
				char *s = scratch_alloc(r->scr, key->len + 1);
				memcpy(s, key->s, key->len);
				s[key->len] = '\0';
				set_none(v, W_DISCOVERY, s);
			}
		}
		v->src = e;
	}
	return 0;
}

/* Go's eq for one pair: a missing value equals nothing, kinds must match. */
static int compare(struct rctx *r, const struct val *a, const struct val *b, bool *eq)
{
	if (a->kind == V_NONE || b->kind == V_NONE) {
		*eq = false;
		return 0;
	}
	const struct val *bad = a->kind > V_BOOL ? a : b->kind > V_BOOL ? b : NULL;
	if (bad)
		return rfail(r, "non-comparable type (%.*s)", SRC(bad));
	if (a->kind != b->kind)
		return rfail(r, "incompatible types for comparison (%.*s and %.*s)", SRC(a), SRC(b));
	if (a->kind == V_STR)
		*eq = a->len == b->len && (a->is == b->is || memcmp(a->s, b->s, a->len) == 0);
	else if (a->kind == V_INT)
		*eq = a->u.i == b->u.i;
	else
		*eq = a->u.b == b->u.b;
	return 0;
}

static int eval(struct rctx *r, const struct texpr *e, struct val *v);

static int arity(struct rctx *r, const struct texpr *e, uint32_t min, uint32_t max)
{
	if (e->n >= min && e->n <= max)
		return 0;
	const char *name = template_function_names[e->fn];
	if (min == max)
		return rfail(r, "wrong number of args for %s: want %u got %u", name, min, e->n);
	if (max == UINT32_MAX)
		return rfail(r, "wrong number of args for %s: want at least %u got %u", name, min, e->n);
	return rfail(r, "wrong number of args for %s: want %u or %u got %u", name, min, max, e->n);
}

/* lower and upper change ASCII letters only. */
static int do_case(struct rctx *r, enum fn fn, const struct val *arg,
		   struct val *v)
{
	const char *s;
	size_t len;
	if (as_text(r, arg, &s, &len) < 0)
		return -1;
	char *p = scratch_alloc(r->scr, len ? len : 1);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (fn == FN_LOWER && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (fn == FN_UPPER && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		p[i] = c;
	}
	set_str(v, p, len, NULL);
	return 0;
}

static int do_trim(struct rctx *r, const struct val *arg, struct val *v)
{
	const char *s;
	size_t len;
	if (as_text(r, arg, &s, &len) < 0)
		return -1;
	while (len && (is_space(*s) || *s == '\v' || *s == '\f'))
		s++, len--;
	while (len && (is_space(s[len - 1]) || s[len - 1] == '\v' || s[len - 1] == '\f'))
		len--;
	set_str(v, s, len, NULL);
	return 0;
}

/* Sprig's replace OLD NEW SRC: every OLD in SRC becomes NEW. */
static int do_replace(struct rctx *r, const struct val *argv, struct val *v)
{
	const char *s, *s2, *s3;
	size_t len, len2, len3;
	if (as_text(r, &argv[0], &s, &len) < 0 || as_text(r, &argv[1], &s2, &len2) < 0 ||
	    as_text(r, &argv[2], &s3, &len3) < 0)
		return -1;
	size_t mark = r->out->len;
	for (size_t i = 0; i < len3;) {
		if (r->out->len - mark > MAX_VALUE)
			return rfail(r, "result of replace is longer than %u bytes", MAX_VALUE);
		if (!len) {
			/* Go inserts NEW before every UTF-8 sequence and at the end. */
			unsigned char c = (unsigned char)s3[i];
			size_t step = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			if (step > len3 - i)
				step = len3 - i;
			strbuf_add(r->out, s2, len2);
			strbuf_add(r->out, s3 + i, step);
			i += step;
		} else if (len <= len3 - i && memcmp(s3 + i, s, len) == 0) {
			strbuf_add(r->out, s2, len2);
			i += len;
		} else {
			strbuf_addc(r->out, s3[i++]);
		}
	}
	if (!len)
		strbuf_add(r->out, s2, len2);
	take_output(r, mark, v);
	return 0;
}

static int eval_call(struct rctx *r, const struct texpr *e, struct val *v)
{
	static const uint32_t min[] = { [FN_DEFAULT] = 1, [FN_PRINTF] = 1, [FN_PRINT] = 0,
					[FN_INDEX] = 1, [FN_LEN] = 1, [FN_LOWER] = 1,
					[FN_UPPER] = 1, [FN_TRIM] = 1, [FN_REPLACE] = 3,
					[FN_EQ] = 2, [FN_NE] = 2, [FN_NOT] = 1,
					[FN_AND] = 1, [FN_OR] = 1 };
	static const uint32_t max[] = { [FN_DEFAULT] = 2, [FN_PRINTF] = UINT32_MAX,
					[FN_PRINT] = UINT32_MAX, [FN_INDEX] = UINT32_MAX,
					[FN_LEN] = 1, [FN_LOWER] = 1, [FN_UPPER] = 1, [FN_TRIM] = 1,
					[FN_REPLACE] = 3, [FN_EQ] = UINT32_MAX, [FN_NE] = 2,
					[FN_NOT] = 1, [FN_AND] = UINT32_MAX, [FN_OR] = UINT32_MAX };
	if (arity(r, e, min[e->fn], max[e->fn]) < 0)
		return -1;
	if (e->fn == FN_AND || e->fn == FN_OR) {
		/* Short-circuit: the first falsy (and) or truthy (or) operand, else the last. */
		for (uint32_t i = 0; i < e->n; i++) {
			if (eval(r, e->u.args[i], v) < 0)
				return -1;
			if (truth(v) == (e->fn == FN_OR))
				break;
		}
		return 0;
	}
	struct val argv[MAX_ARGS];
	for (uint32_t i = 0; i < e->n; i++)
		if (eval(r, e->u.args[i], &argv[i]) < 0)
			return -1;
	size_t mark = r->out->len;
	bool eq = false;
	switch (e->fn) {
	case FN_DEFAULT: {
		/* Sprig: the value when present and non-empty, else the default. */
		const struct val *given = &argv[e->n - 1];
		if (e->n == 2 && !truth(given))
			given = &argv[0];
		*v = *given;
		if (v->kind == V_NONE)
			set_str(v, "", 0, NULL);
		return 0;
	}
	case FN_PRINTF:
		if (do_printf(r, argv, e->n) < 0)
			return -1;
		take_output(r, mark, v);
		return 0;
	case FN_PRINT:
		if (do_print(r, argv, e->n) < 0)
			return -1;
		take_output(r, mark, v);
		return 0;
	case FN_INDEX:
		return do_index(r, e, argv, e->n, v);
	case FN_LEN:
		return do_len(r, &argv[0], v);
	case FN_LOWER:
	case FN_UPPER:
		return do_case(r, (enum fn)e->fn, &argv[0], v);
	case FN_TRIM:
		return do_trim(r, &argv[0], v);
	case FN_REPLACE:
		return do_replace(r, argv, v);
	case FN_EQ:
		for (uint32_t i = 1; i < e->n && !eq; i++)
			if (compare(r, &argv[0], &argv[i], &eq) < 0)
				return -1;
		break;
	case FN_NE:
		if (compare(r, &argv[0], &argv[1], &eq) < 0)
			return -1;
		eq = !eq;
		break;
	default: /* FN_NOT */
		eq = !truth(&argv[0]);
		break;
	}
	v->kind = V_BOOL;
	v->u.b = eq;
	return 0;
}

static int eval(struct rctx *r, const struct texpr *e, struct val *v)
{
	v->src = e;
	v->is = NULL;
	switch (e->kind) {
	case E_STR:
		set_str(v, e->u.s, e->n, e->is);
		return 0;
	case E_INT:
		v->kind = V_INT;
		v->u.i = e->u.i;
		return 0;
	case E_BOOL:
		v->kind = V_BOOL;
		v->u.b = e->u.b;
		return 0;
	case E_FIELD:
		return eval_field(r, e, v);
	case E_BAD:
		return rfail(r, "%s", e->u.s);
	default:
		/* Results keep e as their source, except values passed through
		 * (default, and, or, index of a missing item) which keep their own. */
		return eval_call(r, e, v);
	}
}

int template_render(const struct template *t, const struct template_scope *scope,
		    struct strbuf *out, struct error *err)
{
	size_t start = out->len;
	int rc = 0;
	if (t->constant) {
		if (t->novalue)
			return error_set(err, "unable to evaluate template '%s': output contains <no value>",
					 t->text);
		strbuf_add(out, t->text, t->textlen);
		return 0;
	}
	static const struct template_scope empty;
	struct scratch scr;
	scr.used = 0;
	scr.chunks = NULL;
	struct rctx r = { .t = t, .sc = scope ? scope : &empty, .out = out, .err = err, .scr = &scr };
	struct val v;
	for (uint32_t pc = 0; pc < t->nnodes;) {
		const struct tnode *n = &t->nodes[pc];
		switch (n->op) {
		case OP_TEXT:
			strbuf_add(out, n->text, n->len);
			pc++;
			break;
		case OP_PRINT:
			if ((rc = eval(&r, n->e, &v)) < 0 || (rc = print_val(&r, &v)) < 0)
				goto out;
			pc++;
			break;
		case OP_IF:
			if ((rc = eval(&r, n->e, &v)) < 0)
				goto out;
			pc = truth(&v) ? pc + 1 : n->target;
			break;
		default:
			pc = n->target;
			break;
		}
	}
	/* Aptomi treats "<no value>" anywhere in the output as a missing value. */
	const char *lt = out->len - start >= 10 ? memchr(out->buf + start, '<', out->len - start) : NULL;
	if (lt && memmem(lt, out->len - (size_t)(lt - out->buf), "<no value>", 10)) {
		rc = rfail(&r, "output contains <no value>");
		goto out;
	}
	strbuf_add(out, "", 0);
out:
	while (scr.chunks) {
		struct chunk *c = scr.chunks;
		scr.chunks = c->next;
		free(c);
	}
	if (rc < 0)
		strbuf_truncate(out, start);
	return rc;
}
