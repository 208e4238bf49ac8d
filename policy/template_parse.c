/* Templates compiled: the part of Go's text/template that Aptomi policies
 * use, lexed and parsed once into a flat list of text, print and branch
 * nodes over small expression trees (template_internal.h). Not a general
 * text/template: no variables, range, with, define or method calls. */
#include "template_internal.h"

#include "base/arena.h"
#include "base/sha256.h"
#include "base/vec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const template_function_names[NFUNCTIONS] = {
	[FN_DEFAULT] = "default", [FN_PRINTF] = "printf", [FN_PRINT] = "print",
	[FN_INDEX] = "index",     [FN_LEN] = "len",       [FN_LOWER] = "lower",
	[FN_UPPER] = "upper",     [FN_TRIM] = "trim",     [FN_REPLACE] = "replace",
	[FN_EQ] = "eq",           [FN_NE] = "ne",         [FN_NOT] = "not",
	[FN_AND] = "and",         [FN_OR] = "or",
};

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
				int h = i + 1 < n ? hex_digit(s[i + 1]) : -1;
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
		if (!(hex ? hex_digit(*c) >= 0 : is_digit(*c))) {
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
		if (strlen(template_function_names[i]) == t->len && memcmp(template_function_names[i], t->s, t->len) == 0)
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
			perr(ps, "too many arguments in call to %s", template_function_names[fn]);
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
