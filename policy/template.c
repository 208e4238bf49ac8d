/* Templates: the part of Go's text/template that Aptomi policies use, compiled
 * once into a flat list of text, print and branch nodes over small expression
 * trees, and rendered without allocating in the common path. Not a general
 * text/template: no variables, range, with, define or method calls. */
#include "template.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/strbuf.h"
#include "base/vec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep rendering's recursion and stack use small whatever the text. */
#define MAX_ARGS 32
#define MAX_DEPTH 48
#define NO_NODE UINT32_MAX
/* replace can grow text geometrically through a pipeline; a value this big is a mistake. */
#define MAX_VALUE (1u << 20)

enum fn {
	FN_DEFAULT, FN_PRINTF, FN_PRINT, FN_INDEX, FN_LEN, FN_LOWER, FN_UPPER,
	FN_TRIM, FN_REPLACE, FN_EQ, FN_NE, FN_NOT, FN_AND, FN_OR,
};

#define NFUNCTIONS (FN_OR + 1)

static const char *const function_names[NFUNCTIONS] = {
	[FN_DEFAULT] = "default", [FN_PRINTF] = "printf", [FN_PRINT] = "print",
	[FN_INDEX] = "index",     [FN_LEN] = "len",       [FN_LOWER] = "lower",
	[FN_UPPER] = "upper",     [FN_TRIM] = "trim",     [FN_REPLACE] = "replace",
	[FN_EQ] = "eq",           [FN_NE] = "ne",         [FN_NOT] = "not",
	[FN_AND] = "and",         [FN_OR] = "or",
};

/* Where a field chain starts. */
enum root { R_SCOPE, R_USER, R_LABELS, R_USER_NAME, R_USER_LABELS, R_USER_SECRETS, R_DISCOVERY, R_DATA };

enum ekind { E_STR, E_INT, E_BOOL, E_FIELD, E_BAD, E_CALL };

struct texpr {
	uint8_t kind;
	uint8_t fn;    /* E_CALL */
	uint8_t root;  /* E_FIELD */
	uint8_t depth; /* of the tree below, bounded by MAX_DEPTH */
	uint32_t n;    /* E_CALL: argc; E_FIELD: path length after the root; E_STR: length */
	const char *src; /* the source text, for messages */
	uint32_t srclen;
	const struct istr *is; /* E_STR: the interned literal */
	union {
		const char *s; /* E_STR; E_BAD: the message */
		int64_t i;
		bool b;
		const struct istr **path;
		struct texpr **args;
	} u;
};

enum op { OP_TEXT, OP_PRINT, OP_IF, OP_JUMP };

struct tnode {
	uint8_t op;
	uint32_t target; /* OP_IF: where to go when false; OP_JUMP: where to go */
	uint32_t len;    /* OP_TEXT */
	const char *text;
	const struct texpr *e;
};

struct template {
	struct arena *arena;
	const struct intern *in; /* to look up keys computed while rendering */
	const char *text;
	size_t textlen;
	struct tnode *nodes;
	uint32_t nnodes;
	bool constant, secrets, novalue;
	bool beyond_labels; /* reads something other than .Labels */
};

const struct dnode *dnode_get(const struct dnode *n, const struct istr *key)
{
	for (; n; n = n->fallback)
		for (uint32_t i = 0; i < n->len; i++)
			if (n->entries[i].key == key)
				return n->entries[i].child;
	return NULL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Go identifiers: letters (any non-ASCII byte counts as one), digits, '_'. */
static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (unsigned char)c >= 0x80;
}

static bool is_ident_char(char c)
{
	return is_ident_start(c) || is_digit(c);
}

/* ---- compiling ---- */

enum tkind {
	T_RDELIM, T_FIELD, T_DOT, T_IDENT, T_STRING, T_RAW, T_NUMBER, T_PIPE, T_LPAREN, T_RPAREN,
};

struct token {
	uint8_t kind;
	bool trim; /* T_RDELIM written " -}}" */
	const char *s;
	uint32_t len;
};

struct ctl {
	uint32_t if_node; /* the IF whose false target is still open, or NO_NODE after else */
	uint32_t jumps;   /* JUMPs to the end, chained through their targets */
	bool has_else;
};

struct parser {
	struct template *t;
	struct intern *in;
	const char *p;        /* lexer position */
	struct token tok;     /* lookahead */
	const char *last_end; /* end of the last consumed token */
	char *msg;            /* the first compile error, in the arena */
	VEC(struct tnode) nodes;
	VEC(struct ctl) ctl;
};

__attribute__((format(printf, 2, 3))) static int perr(struct parser *ps, const char *fmt, ...)
{
	if (!ps->msg) {
		va_list ap;
		va_start(ap, fmt);
		ps->msg = arena_vprintf(ps->t->arena, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int lex_number(struct parser *ps, const char *p)
{
	const char *start = p;
	if (*p == '-' || *p == '+')
		p++;
	while (is_ident_char(*p) || *p == '.' ||
	       ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E' || p[-1] == 'p' || p[-1] == 'P')))
		p++;
	ps->tok = (struct token){ .kind = T_NUMBER, .s = start, .len = (uint32_t)(p - start) };
	ps->p = p;
	return 0;
}

static int lex_quoted(struct parser *ps, const char *p)
{
	const char *start = p;
	char q = *p++;
	for (;;) {
		if (!*p || (q == '"' && *p == '\n'))
			return perr(ps, q == '"' ? "unterminated quoted string" : "unterminated raw quoted string");
		if (q == '"' && *p == '\\' && p[1]) {
			p += 2;
			continue;
		}
		if (*p++ == q)
			break;
	}
	ps->tok = (struct token){ .kind = q == '"' ? T_STRING : T_RAW, .s = start, .len = (uint32_t)(p - start) };
	ps->p = p;
	return 0;
}

/* Reads the next token of an action into ps->tok. */
static int lex(struct parser *ps)
{
	const char *p = ps->p, *q = p;
	while (is_space(*q))
		q++;
	if (q > p && q[0] == '-' && q[1] == '}' && q[2] == '}') {
		ps->tok = (struct token){ .kind = T_RDELIM, .trim = true, .s = q, .len = 3 };
		ps->p = q + 3;
		return 0;
	}
	p = q;
	ps->tok = (struct token){ .s = p, .len = 1 };
	char c = *p;
	if (!c)
		return perr(ps, "unclosed action");
	if (c == '}' && p[1] == '}') {
		ps->tok.kind = T_RDELIM;
		ps->tok.len = 2;
		ps->p = p + 2;
		return 0;
	}
	if (c == '.' && is_ident_start(p[1])) {
		do {
			p++;
			while (is_ident_char(*p))
				p++;
		} while (*p == '.' && is_ident_start(p[1]));
		if (*p == '.')
			return perr(ps, "bad field syntax: %.*s", (int)(p + 1 - q), q);
		ps->tok.kind = T_FIELD;
	} else if (c == '.' && is_digit(p[1])) {
		return lex_number(ps, p);
	} else if (c == '.') {
		ps->tok.kind = T_DOT;
		p++;
	} else if (c == '"' || c == '`') {
		return lex_quoted(ps, p);
	} else if (c == '\'') {
		return perr(ps, "character constants are not supported");
	} else if (c == '$') {
		return perr(ps, "variables are not supported");
	} else if (is_digit(c) || ((c == '-' || c == '+') && is_digit(p[1]))) {
		return lex_number(ps, p);
	} else if (is_ident_start(c)) {
		while (is_ident_char(*p))
			p++;
		ps->tok.kind = T_IDENT;
	} else if (c == '|' || c == '(' || c == ')') {
		ps->tok.kind = c == '|' ? T_PIPE : c == '(' ? T_LPAREN : T_RPAREN;
		p++;
	} else if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f) {
		return perr(ps, "unrecognized character in action: '%c'", c);
	} else {
		return perr(ps, "unrecognized character in action: byte 0x%02x", (unsigned char)c);
	}
	ps->tok.len = (uint32_t)(p - ps->tok.s);
	ps->p = p;
	return 0;
}

static int advance(struct parser *ps)
{
	ps->last_end = ps->tok.s + ps->tok.len;
	return lex(ps);
}

static bool tok_is(const struct parser *ps, const char *word)
{
	return ps->tok.kind == T_IDENT && strlen(word) == ps->tok.len &&
	       memcmp(ps->tok.s, word, ps->tok.len) == 0;
}

static bool is_operand_start(const struct parser *ps)
{
	switch (ps->tok.kind) {
	case T_FIELD: case T_DOT: case T_IDENT: case T_STRING: case T_RAW: case T_NUMBER: case T_LPAREN:
		return true;
	default:
		return false;
	}
}

static bool is_keyword(const struct token *t)
{
	static const char *const words[] = { "if", "else", "end", "range", "with", "define",
					     "template", "block", "break", "continue", "nil" };
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strlen(words[i]) == t->len && memcmp(words[i], t->s, t->len) == 0)
			return true;
	return false;
}

static struct texpr *new_expr(struct parser *ps, enum ekind kind, const char *src, const char *end)
{
	struct texpr *e = arena_alloc(ps->t->arena, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->src = src;
	e->srclen = (uint32_t)(end - src);
	return e;
}

static void put_utf8(char **w, uint32_t cp)
{
	char *o = *w;
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	*w = o;
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string literal token as its value (Go's strconv.Unquote), in the arena. */
static struct texpr *make_string(struct parser *ps)
{
	const char *s = ps->tok.s + 1;
	size_t n = ps->tok.len - 2;
	char *buf = arena_alloc(ps->t->arena, n + 1), *w = buf;
	if (ps->tok.kind == T_RAW) {
		memcpy(buf, s, n);
		w += n;
	}
	for (size_t i = 0; ps->tok.kind == T_STRING && i < n; i++) {
		if (s[i] != '\\') {
			*w++ = s[i];
			continue;
		}
		char c = s[++i], simple = 0;
		switch (c) {
		case 'a': simple = '\a'; break;
		case 'b': simple = '\b'; break;
		case 'f': simple = '\f'; break;
		case 'n': simple = '\n'; break;
		case 'r': simple = '\r'; break;
		case 't': simple = '\t'; break;
		case 'v': simple = '\v'; break;
		case '\\': simple = '\\'; break;
		case '"': simple = '"'; break;
		default: break;
		}
		if (simple) {
			*w++ = simple;
		} else if (c == 'x' || c == 'u' || c == 'U') {
			int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			uint32_t v = 0;
			for (int d = 0; d < digits; d++) {
				int h = i + 1 < n ? hex_value(s[i + 1]) : -1;
				if (h < 0) {
					perr(ps, "invalid escape \\%c in string %.*s", c, (int)ps->tok.len, ps->tok.s);
					return NULL;
				}
				v = v * 16 + (uint32_t)h;
				i++;
			}
			if (c == 'x') {
				*w++ = (char)v;
			} else if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) {
				perr(ps, "invalid unicode escape in string %.*s", (int)ps->tok.len, ps->tok.s);
				return NULL;
			} else {
				put_utf8(&w, v);
			}
		} else if (c >= '0' && c <= '7') {
			uint32_t v = 0;
			for (int d = 0; d < 3; d++, i++) {
				if (i >= n || s[i] < '0' || s[i] > '7') {
					perr(ps, "invalid octal escape in string %.*s", (int)ps->tok.len, ps->tok.s);
					return NULL;
				}
				v = v * 8 + (uint32_t)(s[i] - '0');
			}
			i--;
			if (v > 255) {
				perr(ps, "invalid octal escape in string %.*s", (int)ps->tok.len, ps->tok.s);
				return NULL;
			}
			*w++ = (char)v;
		} else {
			perr(ps, "invalid escape \\%c in string %.*s", c ? c : '0', (int)ps->tok.len, ps->tok.s);
			return NULL;
		}
	}
	*w = '\0';
	struct texpr *e = new_expr(ps, E_STR, ps->tok.s, ps->tok.s + ps->tok.len);
	e->u.s = buf;
	e->n = (uint32_t)(w - buf);
	e->is = intern(ps->in, buf, e->n);
	return e;
}

static struct texpr *make_number(struct parser *ps)
{
	char buf[64];
	const struct token *t = &ps->tok;
	if (t->len >= sizeof(buf)) {
		perr(ps, "bad number syntax: %.*s", (int)t->len, t->s);
		return NULL;
	}
	memcpy(buf, t->s, t->len);
	buf[t->len] = '\0';
	const char *digits = buf + (buf[0] == '-' || buf[0] == '+');
	bool hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
	for (const char *c = digits + (hex ? 2 : 0); *c; c++) {
		if (!(hex ? hex_value(*c) >= 0 : is_digit(*c))) {
			if (*c == '.' || *c == 'e' || *c == 'E' || *c == 'p' || *c == 'P')
				perr(ps, "floating-point numbers are not supported: %s", buf);
			else
				perr(ps, "bad number syntax: %s", buf);
			return NULL;
		}
	}
	if (!digits[hex ? 2 : 0]) {
		perr(ps, "bad number syntax: %s", buf);
		return NULL;
	}
	errno = 0;
	char *end;
	long long v = strtoll(buf, &end, hex ? 16 : 10);
	if (errno || *end) {
		perr(ps, "number out of range: %s", buf);
		return NULL;
	}
	struct texpr *e = new_expr(ps, E_INT, t->s, t->s + t->len);
	e->u.i = v;
	return e;
}

/* A field chain such as .User.Labels.team, checked against what a scope holds.
 * Anything else is a render error, as in Go, where fields are found at run time. */
static struct texpr *make_field(struct parser *ps)
{
	const char *s = ps->tok.s, *end = s + ps->tok.len;
	struct texpr *e = new_expr(ps, E_FIELD, s, end);
	struct elem {
		const char *s;
		uint32_t len;
	} el[8];
	uint32_t n = 0, total = 0;
	for (const char *p = s; p < end; total++) {
		const char *q = ++p;
		while (q < end && *q != '.')
			q++;
		if (n < sizeof(el) / sizeof(*el))
			el[n++] = (struct elem){ p, (uint32_t)(q - p) };
		p = q;
	}
#define EL_IS(i, word) (el[i].len == strlen(word) && memcmp(el[i].s, word, el[i].len) == 0)
	uint32_t skip; /* elements that name the root */
	uint32_t keys; /* keys the root takes after it */
	const char *leaf = "string";
	if (EL_IS(0, "Labels")) {
		e->root = R_LABELS, skip = 1, keys = 1;
	} else if (EL_IS(0, "Discovery")) {
		e->root = R_DISCOVERY, skip = 1, keys = UINT32_MAX;
	} else if (EL_IS(0, "Data")) {
		e->root = R_DATA, skip = 1, keys = 1;
	} else if (EL_IS(0, "User") && total == 1) {
		e->root = R_USER, skip = 1, keys = 0;
	} else if (EL_IS(0, "User") && EL_IS(1, "Name")) {
		e->root = R_USER_NAME, skip = 2, keys = 0;
	} else if (EL_IS(0, "User") && EL_IS(1, "Labels")) {
		e->root = R_USER_LABELS, skip = 2, keys = 1;
	} else if (EL_IS(0, "User") && EL_IS(1, "Secrets")) {
		e->root = R_USER_SECRETS, skip = 2, keys = 1;
		ps->t->secrets = true;
	} else {
		uint32_t bad = EL_IS(0, "User") ? 1 : 0;
		e->kind = E_BAD;
		e->u.s = arena_printf(ps->t->arena, "can't evaluate field %.*s (%.*s)", (int)el[bad].len,
				      el[bad].s, (int)e->srclen, e->src);
		return e;
	}
#undef EL_IS
	if (e->root != R_LABELS && e->root != R_DATA) /* .Data renders constants */
		ps->t->beyond_labels = true;
	if (total - skip > keys) {
		uint32_t bad = skip + keys;
		e->kind = E_BAD;
		e->u.s = arena_printf(ps->t->arena, "can't evaluate field %.*s in type %s (%.*s)",
				      (int)el[bad].len, el[bad].s, leaf, (int)e->srclen, e->src);
		return e;
	}
	e->n = total - skip;
	e->u.path = arena_alloc(ps->t->arena, (e->n ? e->n : 1) * sizeof(*e->u.path));
	/* Discovery paths may be longer than el[]: walk the text again. */
	const char *p = s;
	for (uint32_t i = 0; i < total; i++) {
		const char *q = ++p;
		while (q < end && *q != '.')
			q++;
		if (i >= skip)
			e->u.path[i - skip] = intern(ps->in, p, (size_t)(q - p));
		p = q;
	}
	return e;
}

static struct texpr *parse_pipeline(struct parser *ps, enum tkind closer, unsigned depth);

/* The function named by t, or -1. */
static int lookup_function(const struct token *t)
{
	for (int i = 0; i < NFUNCTIONS; i++)
		if (strlen(function_names[i]) == t->len && memcmp(function_names[i], t->s, t->len) == 0)
			return i;
	return -1;
}

static struct texpr *make_call(struct parser *ps, int fn, const char *src, struct texpr **args,
			       uint32_t argc)
{
	struct texpr *e = new_expr(ps, E_CALL, src, ps->last_end);
	e->fn = (uint8_t)fn;
	e->n = argc;
	e->u.args = arena_alloc(ps->t->arena, (argc ? argc : 1) * sizeof(*args));
	unsigned depth = 0;
	for (uint32_t i = 0; i < argc; i++) {
		e->u.args[i] = args[i];
		if (args[i]->depth > depth)
			depth = args[i]->depth;
	}
	if (depth + 1 > MAX_DEPTH) {
		perr(ps, "expression nested too deeply");
		return NULL;
	}
	e->depth = (uint8_t)(depth + 1);
	return e;
}

static struct texpr *parse_operand(struct parser *ps, unsigned depth)
{
	struct texpr *e = NULL;
	switch (ps->tok.kind) {
	case T_FIELD:
		e = make_field(ps);
		break;
	case T_DOT:
		e = new_expr(ps, E_FIELD, ps->tok.s, ps->tok.s + 1);
		e->root = R_SCOPE;
		ps->t->beyond_labels = true;
		break;
	case T_STRING:
	case T_RAW:
		e = make_string(ps);
		break;
	case T_NUMBER:
		e = make_number(ps);
		break;
	case T_IDENT:
		if (tok_is(ps, "true") || tok_is(ps, "false")) {
			e = new_expr(ps, E_BOOL, ps->tok.s, ps->tok.s + ps->tok.len);
			e->u.b = tok_is(ps, "true");
		} else if (is_keyword(&ps->tok)) {
			perr(ps, "unexpected %.*s in operand", (int)ps->tok.len, ps->tok.s);
		} else {
			/* A function name as an operand is a call without arguments. */
			const char *start = ps->tok.s;
			int fn = lookup_function(&ps->tok);
			if (fn < 0)
				perr(ps, "function \"%.*s\" not defined", (int)ps->tok.len, ps->tok.s);
			else if (advance(ps) == 0)
				return make_call(ps, fn, start, NULL, 0);
			return NULL;
		}
		break;
	case T_LPAREN:
		if (advance(ps) < 0 || !(e = parse_pipeline(ps, T_RPAREN, depth + 1)))
			return NULL;
		if (advance(ps) < 0)
			return NULL;
		if (ps->tok.kind == T_FIELD && ps->tok.s == ps->last_end) {
			perr(ps, "field chains after ( ) are not supported: %.*s", (int)ps->tok.len, ps->tok.s);
			return NULL;
		}
		return e;
	default:
		perr(ps, "unexpected %.*s in operand", (int)ps->tok.len, ps->tok.s);
		break;
	}
	if (!e || advance(ps) < 0)
		return NULL;
	return e;
}

static struct texpr *parse_command(struct parser *ps, struct texpr *piped, int stage, unsigned depth)
{
	const char *start = ps->tok.s;
	if (!is_operand_start(ps)) {
		if (ps->tok.kind == T_RDELIM || ps->tok.kind == T_PIPE || ps->tok.kind == T_RPAREN)
			perr(ps, "missing value for command");
		else
			perr(ps, "unexpected %.*s in command", (int)ps->tok.len, ps->tok.s);
		return NULL;
	}
	int fn = -1;
	if (ps->tok.kind == T_IDENT && !tok_is(ps, "true") && !tok_is(ps, "false")) {
		if (is_keyword(&ps->tok)) {
			perr(ps, "unexpected %.*s in command", (int)ps->tok.len, ps->tok.s);
			return NULL;
		}
		if ((fn = lookup_function(&ps->tok)) < 0) {
			perr(ps, "function \"%.*s\" not defined", (int)ps->tok.len, ps->tok.s);
			return NULL;
		}
	}
	if (fn < 0) {
		if (piped) {
			perr(ps, "non executable command in pipeline stage %d", stage);
			return NULL;
		}
		struct texpr *e = parse_operand(ps, depth);
		if (e && is_operand_start(ps)) {
			perr(ps, "can't give argument to non-function %.*s", (int)e->srclen, e->src);
			return NULL;
		}
		return e;
	}
	struct texpr *args[MAX_ARGS];
	uint32_t argc = 0;
	if (advance(ps) < 0)
		return NULL;
	while (is_operand_start(ps)) {
		if (argc + 1 >= MAX_ARGS) {
			perr(ps, "too many arguments in call to %s", function_names[fn]);
			return NULL;
		}
		if (!(args[argc++] = parse_operand(ps, depth)))
			return NULL;
	}
	if (piped)
		args[argc++] = piped;
	return make_call(ps, fn, start, args, argc);
}

/* command ('|' command)*, ending before closer. */
static struct texpr *parse_pipeline(struct parser *ps, enum tkind closer, unsigned depth)
{
	if (depth > MAX_DEPTH) {
		perr(ps, "expression nested too deeply");
		return NULL;
	}
	const char *start = ps->tok.s;
	struct texpr *e = parse_command(ps, NULL, 1, depth);
	for (int stage = 2; e && ps->tok.kind == T_PIPE; stage++) {
		if (advance(ps) < 0 || !(e = parse_command(ps, e, stage, depth)))
			return NULL;
		e->src = start;
		e->srclen = (uint32_t)(ps->last_end - start);
	}
	if (!e)
		return NULL;
	if (ps->tok.kind != closer) {
		if (closer == T_RPAREN && ps->tok.kind == T_RDELIM)
			perr(ps, "unclosed left paren");
		else if (ps->tok.kind == T_RPAREN)
			perr(ps, "unexpected right paren");
		else
			perr(ps, "unexpected %.*s in operand", (int)ps->tok.len, ps->tok.s);
		return NULL;
	}
	return e;
}

static uint32_t emit(struct parser *ps, enum op op, const struct texpr *e)
{
	struct tnode n = { .op = (uint8_t)op, .e = e, .target = NO_NODE };
	vec_push(&ps->nodes, n);
	return (uint32_t)ps->nodes.len - 1;
}

static void emit_text(struct parser *ps, const char *s, size_t len)
{
	if (!len)
		return;
	uint32_t i = emit(ps, OP_TEXT, NULL);
	ps->nodes.items[i].text = s;
	ps->nodes.items[i].len = (uint32_t)len;
}

static int expect_rdelim(struct parser *ps, const char *what)
{
	if (ps->tok.kind != T_RDELIM)
		return perr(ps, "unexpected %.*s in %s", (int)ps->tok.len, ps->tok.s, what);
	return 0;
}

/* Parses one action after its left delimiter; ps->tok ends as its T_RDELIM. */
static int parse_action(struct parser *ps)
{
	if (lex(ps) < 0)
		return -1;
	if (tok_is(ps, "if")) {
		struct texpr *cond;
		if (advance(ps) < 0 || !(cond = parse_pipeline(ps, T_RDELIM, 0)))
			return -1;
		struct ctl c = { .if_node = emit(ps, OP_IF, cond), .jumps = NO_NODE };
		vec_push(&ps->ctl, c);
		return 0;
	}
	if (tok_is(ps, "else")) {
		if (!ps->ctl.len)
			return perr(ps, "unexpected {{else}}");
		struct ctl *c = &ps->ctl.items[ps->ctl.len - 1];
		if (c->has_else)
			return perr(ps, "expected {{end}}; found {{else}}");
		if (advance(ps) < 0)
			return -1;
		struct texpr *cond = NULL;
		if (tok_is(ps, "if")) {
			if (advance(ps) < 0 || !(cond = parse_pipeline(ps, T_RDELIM, 0)))
				return -1;
		} else if (expect_rdelim(ps, "{{else}}") < 0) {
			return -1;
		}
		uint32_t j = emit(ps, OP_JUMP, NULL);
		ps->nodes.items[j].target = c->jumps;
		c->jumps = j;
		ps->nodes.items[c->if_node].target = (uint32_t)ps->nodes.len;
		if (cond) {
			c->if_node = emit(ps, OP_IF, cond);
		} else {
			c->if_node = NO_NODE;
			c->has_else = true;
		}
		return 0;
	}
	if (tok_is(ps, "end")) {
		if (advance(ps) < 0 || expect_rdelim(ps, "{{end}}") < 0)
			return -1;
		if (!ps->ctl.len)
			return perr(ps, "unexpected {{end}}");
		struct ctl *c = &ps->ctl.items[--ps->ctl.len];
		uint32_t here = (uint32_t)ps->nodes.len;
		if (c->if_node != NO_NODE)
			ps->nodes.items[c->if_node].target = here;
		for (uint32_t j = c->jumps; j != NO_NODE;) {
			uint32_t next = ps->nodes.items[j].target;
			ps->nodes.items[j].target = here;
			j = next;
		}
		return 0;
	}
	if (ps->tok.kind == T_IDENT && is_keyword(&ps->tok) && !tok_is(ps, "nil"))
		return perr(ps, "{{%.*s}} is not supported", (int)ps->tok.len, ps->tok.s);
	if (tok_is(ps, "nil"))
		return perr(ps, "nil is not a command");
	struct texpr *e = parse_pipeline(ps, T_RDELIM, 0);
	if (!e)
		return -1;
	emit(ps, OP_PRINT, e);
	return 0;
}

/* A comment action, p just after its opening slash-star; sets ps->p and the trim flag. */
static int parse_comment(struct parser *ps, const char *p)
{
	const char *close = strstr(p, "*/");
	if (!close)
		return perr(ps, "unclosed comment");
	close += 2;
	if (is_space(close[0]) && close[1] == '-' && close[2] == '}' && close[3] == '}') {
		ps->tok = (struct token){ .kind = T_RDELIM, .trim = true };
		ps->p = close + 4;
	} else if (close[0] == '}' && close[1] == '}') {
		ps->tok = (struct token){ .kind = T_RDELIM };
		ps->p = close + 2;
	} else {
		return perr(ps, "comment ends before closing delimiter");
	}
	return 0;
}

static int parse_text(struct parser *ps, const char *text)
{
	const char *p = text;
	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			emit_text(ps, p, strlen(p));
			break;
		}
		ps->t->constant = false;
		bool ltrim = open[2] == '-' && is_space(open[3]);
		size_t len = (size_t)(open - p);
		while (ltrim && len && is_space(p[len - 1]))
			len--;
		emit_text(ps, p, len);
		const char *inside = open + (ltrim ? 4 : 2);
		if (inside[0] == '/' && inside[1] == '*') {
			if (parse_comment(ps, inside + 2) < 0)
				return -1;
		} else {
			ps->p = ltrim ? open + 3 : open + 2;
			if (parse_action(ps) < 0)
				return -1;
		}
		p = ps->p;
		while (ps->tok.trim && is_space(*p))
			p++;
	}
	if (ps->ctl.len)
		return perr(ps, "unexpected EOF: missing {{end}} for {{if}}");
	return 0;
}

int template_compile(struct template **out, struct intern *in, const char *text, struct error *err)
{
	struct arena *a = arena_new();
	struct template *t = arena_alloc(a, sizeof(*t));
	t->arena = a;
	t->in = in;
	t->textlen = strlen(text);
	t->text = arena_strndup(a, text, t->textlen);
	t->constant = true;
	struct parser ps = { .t = t, .in = in };
	int rc = parse_text(&ps, t->text);
	if (rc < 0) {
		error_set(err, "unable to compile template '%s': %s", text, ps.msg);
		template_free(t);
		t = NULL;
		goto out;
	}
	t->nnodes = (uint32_t)ps.nodes.len;
	t->nodes = arena_alloc(a, (t->nnodes ? t->nnodes : 1) * sizeof(*t->nodes));
	if (t->nnodes)
		memcpy(t->nodes, ps.nodes.items, t->nnodes * sizeof(*t->nodes));
	t->novalue = memmem(t->text, t->textlen, "<no value>", 10) != NULL;
out:
	vec_release(&ps.nodes);
	vec_release(&ps.ctl);
	*out = t;
	return rc;
}

void template_free(struct template *t)
{
	if (t)
		arena_free(t->arena);
}

const char *template_text(const struct template *t)
{
	return t->text;
}

bool template_is_constant(const struct template *t)
{
	return t->constant;
}

bool template_uses_secrets(const struct template *t)
{
	return t->secrets;
}

bool template_reads_only_labels(const struct template *t)
{
	return !t->beyond_labels;
}

/* ---- rendering ---- */

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
	const char *name = function_names[e->fn];
	if (min == max)
		return rfail(r, "wrong number of args for %s: want %u got %u", name, min, e->n);
	if (max == UINT32_MAX)
		return rfail(r, "wrong number of args for %s: want at least %u got %u", name, min, e->n);
	return rfail(r, "wrong number of args for %s: want %u or %u got %u", name, min, max, e->n);
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
	const char *s, *s2, *s3;
	size_t len, len2, len3;
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
	case FN_UPPER: {
		if (as_text(r, &argv[0], &s, &len) < 0)
			return -1;
		char *p = scratch_alloc(r->scr, len ? len : 1);
		for (size_t i = 0; i < len; i++) {
			char c = s[i];
			if (e->fn == FN_LOWER && c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			else if (e->fn == FN_UPPER && c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			p[i] = c;
		}
		set_str(v, p, len, NULL);
		return 0;
	}
	case FN_TRIM:
		if (as_text(r, &argv[0], &s, &len) < 0)
			return -1;
		while (len && (is_space(*s) || *s == '\v' || *s == '\f'))
			s++, len--;
		while (len && (is_space(s[len - 1]) || s[len - 1] == '\v' || s[len - 1] == '\f'))
			len--;
		set_str(v, s, len, NULL);
		return 0;
	case FN_REPLACE:
		/* Sprig's replace OLD NEW SRC: every OLD in SRC becomes NEW. */
		if (as_text(r, &argv[0], &s, &len) < 0 || as_text(r, &argv[1], &s2, &len2) < 0 ||
		    as_text(r, &argv[2], &s3, &len3) < 0)
			return -1;
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
