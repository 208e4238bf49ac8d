/* Criteria expressions (Aptomi's govaluate dialect, reference §1.3, plus
 * matches()): a precedence-climbing parser builds a flat tree once, with names
 * interned and literal regular expressions compiled by PCRE2, and a recursive
 * walk evaluates it against a label set without allocating in the common path.
 * Not a general govaluate: no dates, no method calls, no user functions.
 *
 * Evaluating one expression is not thread-safe when it holds a regular
 * expression: each compiled pattern keeps one PCRE2 match block, reused by
 * every evaluation so that matching does not allocate. Different expressions
 * may be evaluated concurrently. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "expr.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep the parser's and the evaluator's recursion small whatever the text. */
#define MAX_NESTING 128
#define MAX_TREE_DEPTH 512
/* A string built by `+` beyond this is a mistake, not a label. */
#define MAX_STRING (1u << 24)

enum op {
	OP_NONE,
	OP_OR, OP_AND,
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_RE, OP_NRE,
	OP_BAND, OP_BOR, OP_BXOR,
	OP_SHL, OP_SHR,
	OP_ADD, OP_SUB,
	OP_MUL, OP_DIV, OP_MOD,
	OP_POW,
	OP_NOT, OP_BNOT, OP_QUEST, OP_COLON, OP_COALESCE,
	OP_COUNT
};

static const char *const op_text[OP_COUNT] = {
	[OP_NONE] = "", [OP_OR] = "||", [OP_AND] = "&&", [OP_EQ] = "==", [OP_NE] = "!=",
	[OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=", [OP_RE] = "=~",
	[OP_NRE] = "!~", [OP_BAND] = "&", [OP_BOR] = "|", [OP_BXOR] = "^", [OP_SHL] = "<<",
	[OP_SHR] = ">>", [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/",
	[OP_MOD] = "%", [OP_POW] = "**", [OP_NOT] = "!", [OP_BNOT] = "~", [OP_QUEST] = "?",
	[OP_COLON] = ":", [OP_COALESCE] = "??",
};

/* Binding of binary operators, loosest first; as in govaluate, bitwise
 * operators bind tighter than comparisons (unlike C). 0: not binary. */
static int op_prec(enum op op)
{
	switch (op) {
	case OP_OR: return 1;
	case OP_AND: return 2;
	case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE:
	case OP_RE: case OP_NRE: return 3;
	case OP_BAND: case OP_BOR: case OP_BXOR: return 4;
	case OP_SHL: case OP_SHR: return 5;
	case OP_ADD: case OP_SUB: return 6;
	case OP_MUL: case OP_DIV: case OP_MOD: return 7;
	case OP_POW: return 8;
	default: return 0;
	}
}

/* Node kinds: every binary operator is its own kind (the enum op value), the
 * rest follow. */
enum kind {
	K_NEG = OP_COUNT, /* unary minus */
	K_NUM, K_STR, K_BOOL,
	K_LABEL,       /* key; c != 0 when the name is `service` (the struct wins when present) */
	K_SVC_NAME, K_SVC_NS,
	K_SVC_LABEL,   /* key */
	K_MISSING,     /* an accessor nothing provides: always a missing parameter */
	K_TERNARY,     /* a ? b : c */
	K_IN,          /* args[a .. a+b) */
	K_MATCH,       /* a against the precompiled re; c != 0 negates (`!~`) */
};

struct node {
	uint8_t kind;
	uint16_t depth;
	uint32_t a, b, c;
	union {
		double num;
		bool boolean;
		const struct istr *str; /* string literal, or the key of a name */
		struct {
			pcre2_code *code;
			pcre2_match_data *md;
		} re;
	} u;
};

struct expr {
	char *text;
	struct node *nodes;
	uint32_t nnodes, cap;
	uint32_t *args;
	uint32_t nargs;
	uint32_t root;
};

/* ---- values ---- */

enum vtype { V_NUM, V_BOOL, V_STR };

static const char *const vtype_name[] = { [V_NUM] = "number", [V_BOOL] = "bool", [V_STR] = "string" };

struct val {
	uint8_t t;
	bool b;
	uint32_t len;
	double n;
	/* V_STR: the bytes. Other types: the label's text when the value came
	 * from a label (matches() reads it), else NULL. */
	const char *s;
};

/* ---- lexer ---- */

enum tkind { T_EOF, T_NUM, T_STR, T_NAME, T_LPAREN, T_RPAREN, T_COMMA, T_OP };

struct token {
	uint8_t kind;
	uint8_t op;
	bool bracketed;  /* T_NAME written as [name] */
	bool dotted;     /* T_NAME contains accessors */
	size_t start, end; /* source span */
	double num;
};

struct parser {
	struct expr *e;
	struct intern *in;
	const char *s;
	size_t len, pos;
	struct token tok;
	unsigned nesting;
	struct strbuf sb;
	struct error *err;
};

static int parse_error(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int parse_error(struct parser *p, size_t at, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "unable to compile expression '%s': column %zu: ", p->s, at + 1);
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	error_set(p->err, "%s", strbuf_cstr(&sb));
	strbuf_release(&sb);
	return -1;
}

static bool is_name_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_name_char(char ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9');
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static void skip_space(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

/* The longest operator at s, or OP_NONE. */
static enum op lex_op(const char *s, size_t avail, size_t *len)
{
	static const struct { const char *text; enum op op; } two[] = {
		{ "**", OP_POW }, { "==", OP_EQ }, { "!=", OP_NE }, { ">=", OP_GE }, { "<=", OP_LE },
		{ "=~", OP_RE }, { "!~", OP_NRE }, { "&&", OP_AND }, { "||", OP_OR }, { "<<", OP_SHL },
		{ ">>", OP_SHR }, { "??", OP_COALESCE },
	};
	if (avail >= 2) {
		for (size_t i = 0; i < sizeof(two) / sizeof(*two); i++) {
			if (s[0] == two[i].text[0] && s[1] == two[i].text[1]) {
				*len = 2;
				return two[i].op;
			}
		}
	}
	*len = 1;
	switch (s[0]) {
	case '+': return OP_ADD;
	case '-': return OP_SUB;
	case '*': return OP_MUL;
	case '/': return OP_DIV;
	case '%': return OP_MOD;
	case '&': return OP_BAND;
	case '|': return OP_BOR;
	case '^': return OP_BXOR;
	case '!': return OP_NOT;
	case '~': return OP_BNOT;
	case '<': return OP_LT;
	case '>': return OP_GT;
	case '?': return OP_QUEST;
	case ':': return OP_COLON;
	default: return OP_NONE;
	}
}

static int next(struct parser *p)
{
	skip_space(p);
	struct token *t = &p->tok;
	memset(t, 0, sizeof(*t));
	t->start = p->pos;
	if (p->pos >= p->len) {
		t->kind = T_EOF;
		t->end = p->pos;
		return 0;
	}
	const char *s = p->s;
	char ch = s[p->pos];
	if (is_digit(ch)) {
		/* govaluate reads digits and dots, then ParseFloat: no hex, no exponent. */
		size_t i = p->pos;
		while (i < p->len && (is_digit(s[i]) || s[i] == '.'))
			i++;
		char buf[64];
		size_t n = i - p->pos;
		if (n >= sizeof(buf))
			return parse_error(p, p->pos, "number '%.*s' is too long", (int)n, s + p->pos);
		memcpy(buf, s + p->pos, n);
		buf[n] = '\0';
		char *end;
		t->num = strtod(buf, &end);
		if (*end != '\0')
			return parse_error(p, p->pos, "invalid number '%s'", buf);
		t->kind = T_NUM;
		p->pos = i;
	} else if (ch == '\'' || ch == '"') {
		size_t i = p->pos + 1;
		while (i < p->len && s[i] != ch) {
			if (s[i] == '\\' && i + 1 < p->len)
				i++;
			i++;
		}
		if (i >= p->len)
			return parse_error(p, p->pos, "unclosed string literal");
		t->kind = T_STR;
		p->pos = i + 1;
	} else if (ch == '[') {
		size_t i = p->pos + 1;
		while (i < p->len && s[i] != ']')
			i++;
		if (i >= p->len)
			return parse_error(p, p->pos, "unclosed '['");
		if (i == p->pos + 1)
			return parse_error(p, p->pos, "empty name in brackets");
		t->kind = T_NAME;
		t->bracketed = true;
		p->pos = i + 1;
	} else if (is_name_start(ch)) {
		size_t i = p->pos;
		for (;;) {
			while (i < p->len && is_name_char(s[i]))
				i++;
			if (i >= p->len || s[i] != '.')
				break;
			if (i + 1 >= p->len || !is_name_start(s[i + 1]))
				return parse_error(p, i, "expected a name after '.'");
			t->dotted = true;
			i++;
		}
		t->kind = T_NAME;
		p->pos = i;
	} else if (ch == '(' || ch == ')' || ch == ',') {
		t->kind = ch == '(' ? T_LPAREN : ch == ')' ? T_RPAREN : T_COMMA;
		p->pos++;
	} else {
		size_t n;
		enum op op = lex_op(s + p->pos, p->len - p->pos, &n);
		if (op == OP_NONE) {
			if ((unsigned char)ch < 0x20 || (unsigned char)ch >= 0x7f)
				return parse_error(p, p->pos, "unexpected byte 0x%02x", (unsigned char)ch);
			return parse_error(p, p->pos, "unexpected character '%c'", ch);
		}
		t->kind = T_OP;
		t->op = (uint8_t)op;
		p->pos += n;
	}
	t->end = p->pos;
	return 0;
}

/* How the current token reads in a message. */
static void describe(const struct parser *p, char *buf, size_t size)
{
	const struct token *t = &p->tok;
	if (t->kind == T_EOF) {
		snprintf(buf, size, "the end");
		return;
	}
	size_t n = t->end - t->start;
	if (n > 24)
		snprintf(buf, size, "'%.24s...'", p->s + t->start);
	else
		snprintf(buf, size, "'%.*s'", (int)n, p->s + t->start);
}

/* ---- tree building ---- */

static uint32_t add_node(struct parser *p, uint8_t kind, uint32_t a, uint32_t b, uint32_t c,
			 unsigned nchildren)
{
	struct expr *e = p->e;
	if (e->nnodes == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 8;
		e->nodes = xrealloc(e->nodes, e->cap * sizeof(*e->nodes));
	}
	struct node *n = &e->nodes[e->nnodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->a = a;
	n->b = b;
	n->c = c;
	uint16_t depth = 0;
	uint32_t kids[3] = { a, b, c };
	for (unsigned i = 0; i < nchildren; i++)
		if (e->nodes[kids[i]].depth > depth)
			depth = e->nodes[kids[i]].depth;
	n->depth = (uint16_t)(depth + 1);
	return e->nnodes++;
}

static int check_depth(struct parser *p, uint32_t node, size_t at)
{
	if (p->e->nodes[node].depth > MAX_TREE_DEPTH)
		return parse_error(p, at, "expression is too deeply nested");
	return 0;
}

/* Compiles a literal pattern into node n (a K_MATCH). */
static int compile_regex(struct parser *p, uint32_t n, const struct istr *pattern, size_t at)
{
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern->s, pattern->len,
				       PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &offset, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		return parse_error(p, at, "invalid regular expression '%s': %s at offset %zu",
				   pattern->s, (const char *)msg, (size_t)offset);
	}
	/* JIT is an optimisation: without it pcre2_match interprets. */
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	struct node *nd = &p->e->nodes[n];
	nd->u.re.code = re;
	nd->u.re.md = pcre2_match_data_create_from_pattern(re, NULL);
	if (!nd->u.re.md) {
		fprintf(stderr, "cairn: out of memory\n");
		abort();
	}
	return 0;
}

static int parse_ternary(struct parser *p, uint32_t *out);

static int expect_operand_error(struct parser *p)
{
	if (p->tok.kind == T_EOF)
		return parse_error(p, p->tok.start, "expected an operand");
	char what[40];
	describe(p, what, sizeof(what));
	return parse_error(p, p->tok.start, "expected an operand, found %s", what);
}

/* The unescaped text of the current string token, interned. */
static const struct istr *string_literal(struct parser *p)
{
	const struct token *t = &p->tok;
	strbuf_reset(&p->sb);
	for (size_t i = t->start + 1; i + 1 < t->end; i++) {
		if (p->s[i] == '\\')
			i++; /* govaluate: a backslash takes the next character as it is */
		strbuf_addc(&p->sb, p->s[i]);
	}
	return intern(p->in, p->sb.buf ? p->sb.buf : "", p->sb.len);
}

/* A name token (`a`, `a.b.c`, `[a-b]`) into a lookup node. */
static uint32_t name_node(struct parser *p)
{
	const struct token *t = &p->tok;
	const char *s = p->s + t->start;
	size_t len = t->end - t->start;
	if (t->bracketed || !t->dotted) {
		if (t->bracketed) {
			s++;
			len -= 2;
		}
		uint32_t n = add_node(p, K_LABEL, 0, 0, len == 7 && memcmp(s, "service", 7) == 0, 0);
		p->e->nodes[n].u.str = intern(p->in, s, len);
		return n;
	}
	/* Accessors exist only on the service struct; on a label they find nothing. */
	static const char name[] = "service.Name", ns[] = "service.Namespace", lab[] = "service.Labels.";
	if (len == sizeof(name) - 1 && memcmp(s, name, len) == 0)
		return add_node(p, K_SVC_NAME, 0, 0, 0, 0);
	if (len == sizeof(ns) - 1 && memcmp(s, ns, len) == 0)
		return add_node(p, K_SVC_NS, 0, 0, 0, 0);
	size_t pl = sizeof(lab) - 1;
	if (len > pl && memcmp(s, lab, pl) == 0 && !memchr(s + pl, '.', len - pl)) {
		uint32_t n = add_node(p, K_SVC_LABEL, 0, 0, 0, 0);
		p->e->nodes[n].u.str = intern(p->in, s + pl, len - pl);
		return n;
	}
	return add_node(p, K_MISSING, 0, 0, 0, 0);
}

static int parse_call(struct parser *p, size_t name_at, size_t name_len, uint32_t *out)
{
	const char *name = p->s + name_at;
	bool is_in = name_len == 2 && memcmp(name, "in", 2) == 0;
	bool is_matches = name_len == 7 && memcmp(name, "matches", 7) == 0;
	if (!is_in && !is_matches)
		return parse_error(p, name_at, "unknown function '%.*s'", (int)name_len, name);
	int rc = -1;
	uint32_t *args = NULL;
	size_t *arg_at = NULL;
	size_t nargs = 0, cap = 0;
	if (next(p) < 0 || next(p) < 0) /* the name, then '(' */
		goto out;
	if (p->tok.kind == T_RPAREN) {
		if (next(p) < 0)
			goto out;
	} else {
		for (;;) {
			if (nargs == cap) {
				cap = cap ? cap * 2 : 4;
				args = xrealloc(args, cap * sizeof(*args));
				arg_at = xrealloc(arg_at, cap * sizeof(*arg_at));
			}
			arg_at[nargs] = p->tok.start;
			if (parse_ternary(p, &args[nargs]) < 0)
				goto out;
			nargs++;
			if (p->tok.kind == T_RPAREN) {
				if (next(p) < 0)
					goto out;
				break;
			}
			if (p->tok.kind != T_COMMA) {
				char what[40];
				describe(p, what, sizeof(what));
				parse_error(p, p->tok.start, "expected ',' or ')' in the arguments of %.*s(), found %s",
					    (int)name_len, name, what);
				goto out;
			}
			if (next(p) < 0)
				goto out;
		}
	}
	struct expr *e = p->e;
	if (is_matches) {
		if (nargs != 2) {
			parse_error(p, name_at, "matches() takes a value and a pattern, got %zu argument%s",
				    nargs, nargs == 1 ? "" : "s");
			goto out;
		}
		if (e->nodes[args[1]].kind != K_STR) {
			parse_error(p, arg_at[1], "the pattern of matches() must be a string literal");
			goto out;
		}
		const struct istr *pattern = e->nodes[args[1]].u.str;
		*out = add_node(p, K_MATCH, args[0], 0, 0, 1);
		if (compile_regex(p, *out, pattern, arg_at[1]) < 0)
			goto out;
	} else {
		uint32_t first = e->nargs;
		e->args = xrealloc(e->args, (e->nargs + nargs + 1) * sizeof(*e->args));
		uint16_t depth = 0;
		for (size_t i = 0; i < nargs; i++) {
			e->args[e->nargs++] = args[i];
			if (e->nodes[args[i]].depth > depth)
				depth = e->nodes[args[i]].depth;
		}
		*out = add_node(p, K_IN, first, (uint32_t)nargs, 0, 0);
		e->nodes[*out].depth = (uint16_t)(depth + 1);
	}
	rc = check_depth(p, *out, name_at);
out:
	free(args);
	free(arg_at);
	return rc;
}

static int parse_primary(struct parser *p, uint32_t *out)
{
	struct token *t = &p->tok;
	size_t at = t->start;
	switch (t->kind) {
	case T_NUM:
		*out = add_node(p, K_NUM, 0, 0, 0, 0);
		p->e->nodes[*out].u.num = t->num;
		return next(p);
	case T_STR:
		*out = add_node(p, K_STR, 0, 0, 0, 0);
		p->e->nodes[*out].u.str = string_literal(p);
		return next(p);
	case T_LPAREN: {
		if (next(p) < 0 || parse_ternary(p, out) < 0)
			return -1;
		if (t->kind != T_RPAREN) {
			char what[40];
			describe(p, what, sizeof(what));
			return parse_error(p, t->start, "expected ')' to close '(' at column %zu, found %s",
					   at + 1, what);
		}
		return next(p);
	}
	case T_NAME: {
		size_t len = t->end - t->start;
		const char *s = p->s + t->start;
		if (!t->bracketed && !t->dotted) {
			if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0)) {
				*out = add_node(p, K_BOOL, 0, 0, 0, 0);
				p->e->nodes[*out].u.boolean = len == 4;
				return next(p);
			}
			size_t save = p->pos;
			skip_space(p);
			bool call = p->pos < p->len && p->s[p->pos] == '(';
			p->pos = save;
			if (call)
				return parse_call(p, at, len, out);
		}
		*out = name_node(p);
		return next(p);
	}
	default:
		return expect_operand_error(p);
	}
}

static int parse_unary(struct parser *p, uint32_t *out)
{
	struct token *t = &p->tok;
	if (t->kind != T_OP || (t->op != OP_NOT && t->op != OP_SUB && t->op != OP_BNOT))
		return parse_primary(p, out);
	size_t at = t->start;
	uint8_t kind = t->op == OP_SUB ? K_NEG : t->op;
	if (++p->nesting > MAX_NESTING)
		return parse_error(p, at, "expression is too deeply nested");
	uint32_t operand;
	if (next(p) < 0 || parse_unary(p, &operand) < 0)
		return -1;
	p->nesting--;
	*out = add_node(p, kind, operand, 0, 0, 1);
	return check_depth(p, *out, at);
}

static int parse_binary(struct parser *p, int min_prec, uint32_t *out)
{
	uint32_t left;
	if (parse_unary(p, &left) < 0)
		return -1;
	for (;;) {
		struct token *t = &p->tok;
		int prec = t->kind == T_OP ? op_prec(t->op) : 0;
		if (prec == 0 || prec < min_prec)
			break;
		enum op op = t->op;
		size_t at = t->start;
		if (next(p) < 0)
			return -1;
		size_t right_at = t->start;
		uint32_t right;
		if (parse_binary(p, prec + 1, &right) < 0)
			return -1;
		struct node *rn = &p->e->nodes[right];
		if ((op == OP_RE || op == OP_NRE) && rn->kind == K_STR) {
			/* A literal pattern is compiled once, here. */
			const struct istr *pattern = rn->u.str;
			left = add_node(p, K_MATCH, left, 0, op == OP_NRE, 1);
			if (compile_regex(p, left, pattern, right_at) < 0)
				return -1;
		} else {
			left = add_node(p, op, left, right, 0, 2);
		}
		if (check_depth(p, left, at) < 0)
			return -1;
	}
	*out = left;
	return 0;
}

/* cond ? a : b and a ?? b, the loosest, grouping to the right. */
static int parse_ternary(struct parser *p, uint32_t *out)
{
	size_t at = p->tok.start;
	if (++p->nesting > MAX_NESTING)
		return parse_error(p, at, "expression is too deeply nested");
	uint32_t cond;
	if (parse_binary(p, 1, &cond) < 0)
		return -1;
	struct token *t = &p->tok;
	if (t->kind == T_OP && t->op == OP_QUEST) {
		size_t q_at = t->start;
		uint32_t yes, no;
		if (next(p) < 0 || parse_ternary(p, &yes) < 0)
			return -1;
		if (t->kind != T_OP || t->op != OP_COLON) {
			char what[40];
			describe(p, what, sizeof(what));
			return parse_error(p, t->start, "expected ':' for the '?' at column %zu, found %s",
					   q_at + 1, what);
		}
		if (next(p) < 0 || parse_ternary(p, &no) < 0)
			return -1;
		cond = add_node(p, K_TERNARY, cond, yes, no, 3);
		if (check_depth(p, cond, q_at) < 0)
			return -1;
	} else if (t->kind == T_OP && t->op == OP_COALESCE) {
		size_t q_at = t->start;
		uint32_t other;
		if (next(p) < 0 || parse_ternary(p, &other) < 0)
			return -1;
		cond = add_node(p, OP_COALESCE, cond, other, 0, 2);
		if (check_depth(p, cond, q_at) < 0)
			return -1;
	}
	p->nesting--;
	*out = cond;
	return 0;
}

int expr_compile(struct expr **out, struct intern *in, const char *text, struct error *err)
{
	*out = NULL;
	struct expr *e = xcalloc(1, sizeof(*e));
	e->text = xstrdup(text);
	struct parser p = { .e = e, .in = in, .s = e->text, .len = strlen(text), .err = err };
	int rc = -1;
	if (next(&p) < 0 || parse_ternary(&p, &e->root) < 0)
		goto out;
	if (p.tok.kind != T_EOF) {
		char what[40];
		describe(&p, what, sizeof(what));
		parse_error(&p, p.tok.start, "unexpected %s after the expression", what);
		goto out;
	}
	*out = e;
	e = NULL;
	rc = 0;
out:
	strbuf_release(&p.sb);
	expr_free(e);
	return rc;
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	for (uint32_t i = 0; i < e->nnodes; i++) {
		if (e->nodes[i].kind == K_MATCH) {
			pcre2_match_data_free(e->nodes[i].u.re.md);
			pcre2_code_free(e->nodes[i].u.re.code);
		}
	}
	free(e->nodes);
	free(e->args);
	free(e->text);
	free(e);
}

const char *expr_text(const struct expr *e)
{
	return e->text;
}

/* ---- evaluation ---- */

enum { R_ERR = -1, R_OK = 0, R_MISSING = 1 };

/* Strings built by `+` live here until the evaluation ends: a small buffer on
 * the stack, then heap blocks that are never moved (values point into them). */
struct scratch {
	char buf[256];
	size_t used;
	char **heap;
	size_t nheap, cap;
};

struct ctx {
	const struct expr *e;
	const struct expr_env *env;
	struct error *err;
	struct scratch sc;
};

static char *scratch_alloc(struct scratch *sc, size_t n)
{
	if (n <= sizeof(sc->buf) - sc->used) {
		char *r = sc->buf + sc->used;
		sc->used += n;
		return r;
	}
	if (sc->nheap == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 4;
		sc->heap = xrealloc(sc->heap, sc->cap * sizeof(*sc->heap));
	}
	return sc->heap[sc->nheap++] = xmalloc(n ? n : 1);
}

static void scratch_release(struct scratch *sc)
{
	for (size_t i = 0; i < sc->nheap; i++)
		free(sc->heap[i]);
	free(sc->heap);
}

static int eval_error(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int eval_error(struct ctx *c, const char *fmt, ...)
{
	if (!c->err)
		return R_ERR;
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "unable to evaluate expression '%s': ", c->e->text);
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	error_set(c->err, "%s", strbuf_cstr(&sb));
	strbuf_release(&sb);
	return R_ERR;
}

/* A label value as govaluate sees it after Aptomi's conversion (§1.3). */
static void label_value(const struct istr *v, struct val *out)
{
	out->s = v->s;
	out->len = v->len;
	switch (v->type) {
	case SCALAR_INT:
		out->t = V_NUM;
		out->n = (double)v->integer;
		break;
	case SCALAR_BOOL:
		out->t = V_BOOL;
		out->b = v->boolean;
		break;
	default:
		out->t = V_STR;
		break;
	}
}

static void string_value(const char *s, size_t len, struct val *out)
{
	out->t = V_STR;
	out->s = s;
	out->len = (uint32_t)len;
}

static void bool_value(bool b, struct val *out)
{
	out->t = V_BOOL;
	out->b = b;
	out->s = NULL;
}

static void num_value(double n, struct val *out)
{
	out->t = V_NUM;
	out->n = n;
	out->s = NULL;
}

/* Go's %v of a float64 (strconv 'g', shortest): the fewest digits that read
 * back, in %e form when the exponent is below -4 or at least 6. */
static size_t format_number(double x, char *buf, size_t size)
{
	if (isnan(x))
		return (size_t)snprintf(buf, size, "NaN");
	if (isinf(x))
		return (size_t)snprintf(buf, size, x > 0 ? "+Inf" : "-Inf");
	if (x == 0)
		return (size_t)snprintf(buf, size, signbit(x) ? "-0" : "0");
	char tmp[40];
	int prec = 1;
	for (; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, x);
		if (strtod(tmp, NULL) == x)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, x);
	int exp = atoi(strchr(tmp, 'e') + 1);
	if (exp < -4 || exp >= 6)
		return (size_t)snprintf(buf, size, "%s", tmp);
	int decimals = prec - 1 - exp;
	return (size_t)snprintf(buf, size, "%.*f", decimals > 0 ? decimals : 0, x);
}

/* The text `+` concatenates: govaluate formats with %v. */
static const char *value_text(const struct val *v, char *buf, size_t size, size_t *len)
{
	switch (v->t) {
	case V_STR:
		*len = v->len;
		return v->s;
	case V_BOOL:
		*len = v->b ? 4 : 5;
		return v->b ? "true" : "false";
	default:
		*len = format_number(v->n, buf, size);
		return buf;
	}
}

static bool values_equal(const struct val *a, const struct val *b)
{
	if (a->t != b->t)
		return false;
	switch (a->t) {
	case V_NUM: return a->n == b->n;
	case V_BOOL: return a->b == b->b;
	default: return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	}
}

/* Go's int64(f) on amd64: out of range and NaN give the smallest int64. */
static int64_t to_int(double d)
{
	if (isnan(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)d;
}

/* The text matches() and =~ read: a string, or a label's own text. */
static int match_subject(struct ctx *c, enum op op, const struct val *v, const char **s, size_t *len)
{
	if (v->t == V_STR || v->s) {
		*s = v->s;
		*len = v->len;
		return R_OK;
	}
	if (op == OP_NONE)
		return eval_error(c, "matches() needs a string, got %s", vtype_name[v->t]);
	return eval_error(c, "operator '%s' needs a string on its left, got %s", op_text[op],
			  vtype_name[v->t]);
}

static int run_match(struct ctx *c, pcre2_code *re, pcre2_match_data *md, const char *s, size_t len,
		     bool *matched)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
	if (rc >= 0) {
		*matched = true;
		return R_OK;
	}
	if (rc == PCRE2_ERROR_NOMATCH) {
		*matched = false;
		return R_OK;
	}
	PCRE2_UCHAR msg[256];
	pcre2_get_error_message(rc, msg, sizeof(msg));
	return eval_error(c, "regular expression match failed: %s", (const char *)msg);
}

/* `=~` with a pattern computed at evaluation: compiled here, each time. */
static int dynamic_match(struct ctx *c, enum op op, const struct val *l, const struct val *r,
			 struct val *out)
{
	const char *s, *pat;
	size_t len, plen;
	if (match_subject(c, op, l, &s, &len) < 0)
		return R_ERR;
	if (r->t != V_STR && !r->s)
		return eval_error(c, "operator '%s' needs a string pattern, got %s", op_text[op],
				  vtype_name[r->t]);
	pat = r->s;
	plen = r->len;
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, plen, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
				       &code, &offset, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		return eval_error(c, "invalid regular expression '%.*s': %s at offset %zu", (int)plen, pat,
				  (const char *)msg, (size_t)offset);
	}
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	bool matched = false;
	int rc = md ? run_match(c, re, md, s, len, &matched) : eval_error(c, "out of memory");
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	if (rc == R_OK)
		bool_value(matched != (op == OP_NRE), out);
	return rc;
}

static int binary(struct ctx *c, enum op op, const struct val *l, const struct val *r, struct val *out)
{
	switch (op) {
	case OP_EQ:
	case OP_NE:
		bool_value(values_equal(l, r) == (op == OP_EQ), out);
		return R_OK;
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE: {
		int cmp;
		if (l->t == V_NUM && r->t == V_NUM) {
			/* NaN compares false every way, as in Go. */
			bool res = op == OP_LT ? l->n < r->n : op == OP_LE ? l->n <= r->n
				 : op == OP_GT ? l->n > r->n : l->n >= r->n;
			bool_value(res, out);
			return R_OK;
		}
		if (l->t != V_STR || r->t != V_STR)
			return eval_error(c, "cannot compare %s and %s", vtype_name[l->t], vtype_name[r->t]);
		size_t n = l->len < r->len ? l->len : r->len;
		cmp = memcmp(l->s, r->s, n);
		if (cmp == 0)
			cmp = l->len < r->len ? -1 : l->len > r->len;
		bool_value(op == OP_LT ? cmp < 0 : op == OP_LE ? cmp <= 0 : op == OP_GT ? cmp > 0 : cmp >= 0,
			   out);
		return R_OK;
	}
	case OP_RE:
	case OP_NRE:
		return dynamic_match(c, op, l, r, out);
	case OP_ADD:
		if (l->t == V_NUM && r->t == V_NUM) {
			num_value(l->n + r->n, out);
			return R_OK;
		}
		if (l->t == V_STR || r->t == V_STR) {
			char lb[40], rb[40];
			size_t ll, rl;
			const char *ls = value_text(l, lb, sizeof(lb), &ll);
			const char *rs = value_text(r, rb, sizeof(rb), &rl);
			if (ll + rl > MAX_STRING)
				return eval_error(c, "string built by '+' is too long");
			char *s = scratch_alloc(&c->sc, ll + rl);
			memcpy(s, ls, ll);
			memcpy(s + ll, rs, rl);
			string_value(s, ll + rl, out);
			return R_OK;
		}
		return eval_error(c, "operator '+' needs numbers or a string, got %s and %s",
				  vtype_name[l->t], vtype_name[r->t]);
	default:
		break;
	}
	if (l->t != V_NUM || r->t != V_NUM)
		return eval_error(c, "operator '%s' needs numbers, got %s and %s", op_text[op],
				  vtype_name[l->t], vtype_name[r->t]);
	double a = l->n, b = r->n;
	switch (op) {
	case OP_SUB: num_value(a - b, out); break;
	case OP_MUL: num_value(a * b, out); break;
	case OP_DIV: num_value(a / b, out); break;
	case OP_MOD: num_value(fmod(a, b), out); break;
	case OP_POW: num_value(pow(a, b), out); break;
	case OP_BAND: num_value((double)(to_int(a) & to_int(b)), out); break;
	case OP_BOR: num_value((double)(to_int(a) | to_int(b)), out); break;
	case OP_BXOR: num_value((double)(to_int(a) ^ to_int(b)), out); break;
	case OP_SHL:
	case OP_SHR: {
		int64_t x = to_int(a);
		uint64_t count = (uint64_t)to_int(b);
		int64_t res;
		if (op == OP_SHL)
			res = count >= 64 ? 0 : (int64_t)((uint64_t)x << count);
		else
			res = count >= 64 ? (x < 0 ? -1 : 0) : (x < 0 ? ~(~x >> count) : x >> count);
		num_value((double)res, out);
		break;
	}
	default:
		return eval_error(c, "unknown operator");
	}
	return R_OK;
}

static int eval_node(struct ctx *c, uint32_t i, struct val *out);

/* A label, or a field or label of the service struct (rule criteria). */
static int eval_name(struct ctx *c, const struct node *n, struct val *out)
{
	const struct expr_env *env = c->env;
	const struct istr *v;
	const char *s;
	switch (n->kind) {
	case K_LABEL:
		/* In rule criteria `service` is the struct, which has no scalar value. */
		if (n->c && env->service)
			return R_MISSING;
		if (!(v = labels_get(env->labels, n->u.str)))
			return R_MISSING;
		label_value(v, out);
		return R_OK;
	case K_SVC_LABEL:
		/* The struct's labels are passed as they are: always strings. */
		if (!(v = env->service ? labels_get(env->service->labels, n->u.str) : NULL))
			return R_MISSING;
		string_value(v->s, v->len, out);
		return R_OK;
	default: /* K_SVC_NAME, K_SVC_NS */
		s = !env->service ? NULL : n->kind == K_SVC_NAME ? env->service->name : env->service->ns;
		if (!s)
			return R_MISSING;
		string_value(s, strlen(s), out);
		return R_OK;
	}
}

/* !, unary - and ~. */
static int eval_unary(struct ctx *c, const struct node *n, struct val *out)
{
	struct val v;
	int rc = eval_node(c, n->a, &v);
	if (rc != R_OK)
		return rc;
	if (n->kind == OP_NOT) {
		if (v.t != V_BOOL)
			return eval_error(c, "operator '!' needs a bool, got %s", vtype_name[v.t]);
		bool_value(!v.b, out);
		return R_OK;
	}
	if (v.t != V_NUM)
		return eval_error(c, "operator '%s' needs a number, got %s",
				  n->kind == K_NEG ? "-" : "~", vtype_name[v.t]);
	num_value(n->kind == K_NEG ? -v.n : (double)~to_int(v.n), out);
	return R_OK;
}

/* && and ||. */
static int eval_logic(struct ctx *c, const struct node *n, struct val *out)
{
	struct val l, r;
	bool is_and = n->kind == OP_AND;
	int rc = eval_node(c, n->a, &l);
	if (rc != R_OK)
		return rc;
	/* Short-circuit: the right side is not looked at, so a label it
	 * misses does not make the expression false. */
	if (l.t == V_BOOL && l.b != is_and) {
		bool_value(l.b, out);
		return R_OK;
	}
	if ((rc = eval_node(c, n->b, &r)) != R_OK)
		return rc;
	if (l.t != V_BOOL || r.t != V_BOOL)
		return eval_error(c, "operator '%s' needs bools, got %s and %s", op_text[n->kind],
				  vtype_name[l.t], vtype_name[r.t]);
	bool_value(r.b, out);
	return R_OK;
}

/* in(v, a, b, ...). */
static int eval_in(struct ctx *c, const struct node *n, struct val *out)
{
	if (n->b == 0)
		return eval_error(c, "in() needs at least one argument");
	struct val v, arg;
	const uint32_t *args = c->e->args + n->a;
	int rc = eval_node(c, args[0], &v);
	if (rc != R_OK)
		return rc;
	bool found = false;
	/* govaluate evaluates every argument before the call: a missing one
	 * counts even after a match. */
	for (uint32_t k = 1; k < n->b; k++) {
		if ((rc = eval_node(c, args[k], &arg)) != R_OK)
			return rc;
		found = found || values_equal(&v, &arg);
	}
	bool_value(found, out);
	return R_OK;
}

/* =~ and !~ against a regular expression compiled with the expression. */
static int eval_match(struct ctx *c, const struct node *n, struct val *out)
{
	struct val v;
	const char *s;
	size_t len;
	bool matched = false;
	int rc = eval_node(c, n->a, &v);
	if (rc != R_OK)
		return rc;
	if (match_subject(c, n->c ? OP_NRE : OP_NONE, &v, &s, &len) < 0)
		return R_ERR;
	if (run_match(c, n->u.re.code, n->u.re.md, s, len, &matched) < 0)
		return R_ERR;
	bool_value(matched != (n->c != 0), out);
	return R_OK;
}

static int eval_node(struct ctx *c, uint32_t i, struct val *out)
{
	const struct node *n = &c->e->nodes[i];
	int rc;
	switch (n->kind) {
	case K_NUM:
		num_value(n->u.num, out);
		return R_OK;
	case K_STR:
		string_value(n->u.str->s, n->u.str->len, out);
		return R_OK;
	case K_BOOL:
		bool_value(n->u.boolean, out);
		return R_OK;
	case K_LABEL:
	case K_SVC_NAME:
	case K_SVC_NS:
	case K_SVC_LABEL:
		return eval_name(c, n, out);
	case K_MISSING:
		return R_MISSING;
	case K_NEG:
	case OP_BNOT:
	case OP_NOT:
		return eval_unary(c, n, out);
	case OP_AND:
	case OP_OR:
		return eval_logic(c, n, out);
	case K_TERNARY: {
		struct val cond;
		if ((rc = eval_node(c, n->a, &cond)) != R_OK)
			return rc;
		if (cond.t != V_BOOL)
			return eval_error(c, "the condition of '?' must be a bool, got %s", vtype_name[cond.t]);
		return eval_node(c, cond.b ? n->b : n->c, out);
	}
	case OP_COALESCE:
		/* Values are never nil here (a missing name ends the evaluation),
		 * so the left side always stands. */
		return eval_node(c, n->a, out);
	case K_IN:
		return eval_in(c, n, out);
	case K_MATCH:
		return eval_match(c, n, out);
	default: {
		struct val l, r;
		if ((rc = eval_node(c, n->a, &l)) != R_OK)
			return rc;
		if ((rc = eval_node(c, n->b, &r)) != R_OK)
			return rc;
		return binary(c, n->kind, &l, &r, out);
	}
	}
}

int expr_eval(const struct expr *e, const struct expr_env *env, struct error *err)
{
	static const struct expr_env empty;
	struct ctx c;
	c.e = e;
	c.env = env ? env : &empty;
	c.err = err;
	c.sc.used = 0;
	c.sc.heap = NULL;
	c.sc.nheap = c.sc.cap = 0;
	struct val v;
	int rc = eval_node(&c, e->root, &v);
	if (rc == R_OK && v.t != V_BOOL) {
		if (err)
			error_set(err, "expression '%s' didn't evaluate to boolean", e->text);
		rc = R_ERR;
	}
	scratch_release(&c.sc);
	if (rc == R_ERR)
		return -1;
	return rc == R_OK && v.b;
}

int criteria_eval(const struct criteria *c, const struct expr_env *env, struct error *err)
{
	if (!c)
		return 1;
	for (size_t i = 0; i < c->nall; i++) {
		int rc = expr_eval(c->all[i], env, err);
		if (rc < 0)
			return err ? error_wrap(err, "can't evaluate 'require-all' in criteria") : -1;
		if (rc == 0)
			return 0;
	}
	for (size_t i = 0; i < c->nnone; i++) {
		int rc = expr_eval(c->none[i], env, err);
		if (rc < 0)
			return err ? error_wrap(err, "can't evaluate 'require-none' in criteria") : -1;
		if (rc == 1)
			return 0;
	}
	if (c->nany == 0)
		return 1;
	for (size_t i = 0; i < c->nany; i++) {
		int rc = expr_eval(c->any[i], env, err);
		if (rc < 0)
			return err ? error_wrap(err, "can't evaluate 'require-any' in criteria") : -1;
		if (rc == 1)
			return 1;
	}
	return 0;
}

void criteria_free(struct criteria *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nall; i++)
		expr_free(c->all[i]);
	for (size_t i = 0; i < c->nany; i++)
		expr_free(c->any[i]);
	for (size_t i = 0; i < c->nnone; i++)
		expr_free(c->none[i]);
	free(c->all);
	free(c->any);
	free(c->none);
	free(c);
}
