/* libyaml's event stream turned into a tree of positioned nodes in an arena
 * (h2o's configurator model). The only file that talks to libyaml; typing of
 * plain scalars (YAML 1.2 core schema) and JSON output live here too. */
#include "yaml.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/map.h"
#include "base/strbuf.h"
#include "base/suggest.h"
#include "base/vec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deeper nesting is refused: the tree is walked recursively later. */
#define MAX_DEPTH 256

/* Above this many keys a map checks duplicates with a hash map. */
#define DUP_LINEAR_MAX 32

/* A mapping or sequence being built. */
struct frame {
	struct ynode *node;
	VEC(struct ypair) pairs;
	VEC(struct ynode *) items;
	/* maps: a key was read and waits for its value */
	bool have_key;
	bool skip_value; /* the key was refused: drop the value */
	struct ypair pending;
	struct map seen; /* keys, once the map is large */
};

struct parse {
	struct arena *a;
	struct intern *in;
	const char *file;
	struct diags *diags;
	int errors;
	VEC(struct frame) stack;
	VEC(struct ynode *) docs;
	struct ynode *root;
	bool too_deep;
	/* yaml_parse_each: items of a top-level list go to fn one at a time,
	 * built in item_arena, which is emptied after each. */
	int (*fn)(void *ctx, const struct ynode *item);
	void *ctx;
	struct arena *item_arena;
	/* The input, to place reader errors (libyaml gives only an offset). */
	const char *text;
	size_t len;
	FILE *f;
};

/* Where a node starting now is allocated: inside a streamed item, the scratch arena. */
static struct arena *arena_for(struct parse *ps)
{
	return ps->fn && ps->stack.len >= 1 ? ps->item_arena : ps->a;
}

static struct pos mark_pos(const struct parse *ps, yaml_mark_t m)
{
	struct pos p = { ps->file, (uint32_t)m.line + 1, (uint32_t)m.column + 1 };
	return p;
}

static void frame_release(struct frame *f)
{
	vec_release(&f->pairs);
	vec_release(&f->items);
	map_release(&f->seen);
}

static bool key_seen(struct frame *f, const struct istr *key)
{
	if (f->pairs.len < DUP_LINEAR_MAX) {
		for (size_t i = 0; i < f->pairs.len; i++)
			if (f->pairs.items[i].key == key)
				return true;
		return false;
	}
	if (f->seen.len == 0)
		for (size_t i = 0; i < f->pairs.len; i++)
			map_put(&f->seen, f->pairs.items[i].key->s, f->pairs.items[i].key->len,
				(void *)f->pairs.items[i].key);
	return map_get(&f->seen, key->s, key->len) != NULL;
}

/* Hands a finished node to its parent (or makes it the document root). */
static void attach(struct parse *ps, struct ynode *n)
{
	if (ps->stack.len == 0) {
		ps->root = n;
		return;
	}
	struct frame *f = &ps->stack.items[ps->stack.len - 1];
	if (f->node->kind == YNODE_SEQ) {
		if (ps->fn && ps->stack.len == 1) {
			if (ps->fn(ps->ctx, n) != 0)
				ps->errors++;
			arena_free(ps->item_arena);
			ps->item_arena = arena_new();
			return;
		}
		vec_push(&f->items, n);
		return;
	}
	if (!f->have_key) {
		f->have_key = true;
		f->skip_value = false;
		if (n->kind != YNODE_SCALAR) {
			diags_add_at(ps->diags, n->pos, "yaml: mapping keys must be scalars, not %s",
				     ynode_describe(n));
			ps->errors++;
			f->skip_value = true;
			return;
		}
		f->pending.key = n->str;
		f->pending.key_pos = n->pos;
		return;
	}
	f->have_key = false;
	if (f->skip_value)
		return;
	if (key_seen(f, f->pending.key)) {
		const struct ypair *first = NULL;
		for (size_t i = 0; i < f->pairs.len && !first; i++)
			if (f->pairs.items[i].key == f->pending.key)
				first = &f->pairs.items[i];
		diags_add_at(ps->diags, f->pending.key_pos,
			     "yaml: duplicate key '%s' (first at line %u, column %u)",
			     f->pending.key->s, first ? first->key_pos.line : 0,
			     first ? first->key_pos.col : 0);
		ps->errors++;
		return;
	}
	f->pending.value = n;
	vec_push(&f->pairs, f->pending);
	if (f->seen.len)
		map_put(&f->seen, f->pending.key->s, f->pending.key->len, (void *)f->pending.key);
}

static struct ynode *node_new(struct parse *ps, enum ynode_kind k, yaml_mark_t m)
{
	struct ynode *n = arena_alloc(arena_for(ps), sizeof(*n));
	n->kind = k;
	n->pos = mark_pos(ps, m);
	return n;
}

static void refuse_anchor(struct parse *ps, const yaml_event_t *ev, const yaml_char_t *anchor)
{
	if (!anchor)
		return;
	diags_add_at(ps->diags, mark_pos(ps, ev->start_mark),
		     "yaml: anchor '&%s': aliases are not supported", (const char *)anchor);
	ps->errors++;
}

static void on_scalar(struct parse *ps, const yaml_event_t *ev)
{
	refuse_anchor(ps, ev, ev->data.scalar.anchor);
	struct ynode *n = node_new(ps, YNODE_SCALAR, ev->start_mark);
	const char *value = (const char *)ev->data.scalar.value;
	size_t length = ev->data.scalar.length;
	/* A NUL ("\0") would cut the string short wherever it is used as text. */
	if (memchr(value, '\0', length)) {
		diags_add_at(ps->diags, n->pos, "yaml: a string may not hold a NUL character");
		ps->errors++;
		length = 0;
	} else if (length > YAML_MAX_SCALAR) {
		diags_add_at(ps->diags, n->pos, "yaml: a scalar of %zu bytes: the limit is %d", length,
			     YAML_MAX_SCALAR);
		ps->errors++;
		length = 0;
	}
	n->str = intern(ps->in, value, length);
	/* An explicit !!str tag reads like quotes do. */
	const char *tag = (const char *)ev->data.scalar.tag;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		    (tag && strcmp(tag, YAML_STR_TAG) == 0);
	attach(ps, n);
}

static void on_start(struct parse *ps, const yaml_event_t *ev, enum ynode_kind k)
{
	refuse_anchor(ps, ev,
		      k == YNODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
	if (ps->stack.len >= MAX_DEPTH) {
		diags_add_at(ps->diags, mark_pos(ps, ev->start_mark),
			     "yaml: nested deeper than %d levels", MAX_DEPTH);
		ps->errors++;
		ps->too_deep = true;
		return;
	}
	struct frame f = { 0 };
	f.node = node_new(ps, k, ev->start_mark);
	vec_push(&ps->stack, f);
}

static void on_end(struct parse *ps)
{
	struct frame f = ps->stack.items[--ps->stack.len];
	struct ynode *n = f.node;
	struct arena *a = arena_for(ps);
	if (n->kind == YNODE_MAP) {
		n->len = f.pairs.len;
		n->pairs = arena_alloc(a, (n->len ? n->len : 1) * sizeof(*n->pairs));
		if (n->len)
			memcpy(n->pairs, f.pairs.items, n->len * sizeof(*n->pairs));
	} else {
		n->len = f.items.len;
		n->items = arena_alloc(a, (n->len ? n->len : 1) * sizeof(*n->items));
		if (n->len)
			memcpy(n->items, f.items.items, n->len * sizeof(*n->items));
	}
	frame_release(&f);
	attach(ps, n);
}

/* Where byte offset of the input is: libyaml's reader (bad UTF-8, control
 * characters) reports an offset, not a mark. */
static struct pos offset_pos(struct parse *ps, size_t offset)
{
	struct pos p = { ps->file, 1, 1 };
	if (ps->text) {
		for (size_t i = 0; i < offset && i < ps->len; i++, p.col++)
			if (ps->text[i] == '\n')
				p.line++, p.col = 0;
	} else if (ps->f && fseek(ps->f, 0, SEEK_SET) == 0) {
		int c;
		for (size_t i = 0; i < offset && (c = getc(ps->f)) != EOF; i++, p.col++)
			if (c == '\n')
				p.line++, p.col = 0;
	}
	return p;
}

/* One event; returns 1 at the end of the stream, -1 on a parser error. */
static int step(struct parse *ps, yaml_parser_t *parser)
{
	yaml_event_t ev;
	if (!yaml_parser_parse(parser, &ev)) {
		if (parser->error == YAML_READER_ERROR) {
			struct pos p = offset_pos(ps, parser->problem_offset);
			if (parser->problem_value >= 0)
				diags_add_at(ps->diags, p, "yaml: %s (byte 0x%02x)",
					     parser->problem ? parser->problem : "unreadable input",
					     (unsigned)parser->problem_value & 0xff);
			else
				diags_add_at(ps->diags, p, "yaml: %s",
					     parser->problem ? parser->problem : "unreadable input");
			ps->errors++;
			return -1;
		}
		struct pos p = mark_pos(ps, parser->problem_mark);
		if (parser->context)
			diags_add_at(ps->diags, p, "yaml: %s %s",
				     parser->problem ? parser->problem : "syntax error", parser->context);
		else
			diags_add_at(ps->diags, p, "yaml: %s",
				     parser->problem ? parser->problem : "syntax error");
		ps->errors++;
		return -1;
	}
	int done = 0;
	switch (ev.type) {
	case YAML_STREAM_END_EVENT:
		done = 1;
		break;
	case YAML_DOCUMENT_START_EVENT:
		ps->root = NULL;
		break;
	case YAML_DOCUMENT_END_EVENT:
		if (ps->root && ps->fn && ps->root->kind != YNODE_SEQ) {
			/* A document that is not a list is one item, handed over whole. */
			if (ps->fn(ps->ctx, ps->root) != 0)
				ps->errors++;
			arena_free(ps->item_arena);
			ps->item_arena = arena_new();
		} else if (ps->root) {
			vec_push(&ps->docs, ps->root);
		}
		ps->root = NULL;
		break;
	case YAML_SCALAR_EVENT:
		on_scalar(ps, &ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		on_start(ps, &ev, YNODE_SEQ);
		break;
	case YAML_MAPPING_START_EVENT:
		on_start(ps, &ev, YNODE_MAP);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		on_end(ps);
		break;
	case YAML_ALIAS_EVENT: {
		diags_add_at(ps->diags, mark_pos(ps, ev.start_mark),
			     "yaml: alias '*%s': aliases are not supported",
			     (const char *)ev.data.alias.anchor);
		ps->errors++;
		/* A null stands in, so the tree keeps its shape. */
		struct ynode *n = node_new(ps, YNODE_SCALAR, ev.start_mark);
		n->str = intern(ps->in, "", 0);
		attach(ps, n);
		break;
	}
	case YAML_STREAM_START_EVENT:
	case YAML_NO_EVENT:
		break;
	}
	yaml_event_delete(&ev);
	return ps->too_deep ? -1 : done;
}

/* Parses text, or the file f when text is NULL (read in libyaml's buffers). */
static void run(struct parse *ps, const char *text, size_t len, FILE *f)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		abort(); /* only fails on out of memory, which cairn treats as fatal */
	ps->text = text;
	ps->len = len;
	ps->f = f;
	if (text)
		yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	else
		yaml_parser_set_input_file(&parser, f);
	while (step(ps, &parser) == 0)
		;
	yaml_parser_delete(&parser);
	/* After a syntax error, frames still open are abandoned. */
	for (size_t i = 0; i < ps->stack.len; i++)
		frame_release(&ps->stack.items[i]);
	vec_release(&ps->stack);
}

int yaml_parse(struct arena *a, struct intern *in, const char *name, const char *text,
	       size_t len, struct ynode ***docs, size_t *ndocs, struct diags *diags)
{
	/* The file name is interned so positions outlive a temporary arena. */
	struct parse ps = { .a = a, .in = in, .file = intern_cstr(in, name)->s, .diags = diags };
	*docs = NULL;
	*ndocs = 0;
	run(&ps, text, len, NULL);
	*ndocs = ps.docs.len;
	if (ps.docs.len) {
		*docs = arena_alloc(a, ps.docs.len * sizeof(**docs));
		memcpy(*docs, ps.docs.items, ps.docs.len * sizeof(**docs));
	}
	vec_release(&ps.docs);
	return ps.errors ? -1 : 0;
}

static int parse_each(struct intern *in, const char *name, const char *text, size_t len, FILE *f,
		      int (*fn)(void *ctx, const struct ynode *item), void *ctx, struct diags *diags)
{
	struct arena *a = arena_new();
	struct parse ps = { .a = a, .in = in, .file = intern_cstr(in, name)->s, .diags = diags,
			    .fn = fn, .ctx = ctx, .item_arena = arena_new() };
	run(&ps, text, len, f);
	vec_release(&ps.docs);
	arena_free(ps.item_arena);
	arena_free(a);
	return ps.errors ? -1 : 0;
}

int yaml_parse_each(struct intern *in, const char *name, const char *text, size_t len,
		    int (*fn)(void *ctx, const struct ynode *item), void *ctx, struct diags *diags)
{
	return parse_each(in, name, text ? text : "", len, NULL, fn, ctx, diags);
}

/* The whole file as text (heap, free() it), or NULL after a diagnostic. */
static char *read_file(const char *path, size_t *len, struct diags *diags)
{
	struct strbuf sb = STRBUF_INIT;
	if (strbuf_read_file(&sb, path) < 0) {
		diags_add(diags, "%s: cannot read: %s", path, strerror(errno));
		strbuf_release(&sb);
		return NULL;
	}
	*len = sb.len;
	return strbuf_detach(&sb);
}

int yaml_parse_file_each(struct intern *in, const char *path,
			 int (*fn)(void *ctx, const struct ynode *item), void *ctx,
			 struct diags *diags)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		diags_add(diags, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = parse_each(in, path, NULL, 0, f, fn, ctx, diags);
	if (ferror(f)) {
		diags_add(diags, "%s: cannot read: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(f);
	return rc;
}

int yaml_parse_file(struct arena *a, struct intern *in, const char *path, struct ynode ***docs,
		    size_t *ndocs, struct diags *diags)
{
	*docs = NULL;
	*ndocs = 0;
	size_t len = 0;
	char *text = read_file(path, &len, diags);
	if (!text)
		return -1;
	int rc = yaml_parse(a, in, path, text, len, docs, ndocs, diags);
	free(text);
	return rc;
}

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->len; i++)
		if (strcmp(map->pairs[i].key->s, key) == 0)
			return map->pairs[i].value;
	return NULL;
}

static bool is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool all_digits(const char *s, const char *set)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

/* The core schema's float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	size_t before = strspn(s, "0123456789");
	s += before;
	size_t after = 0;
	if (*s == '.') {
		s++;
		after = strspn(s, "0123456789");
		s += after;
	}
	if (before == 0 && after == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		size_t exp = strspn(s, "0123456789");
		if (exp == 0)
			return false;
		s += exp;
	}
	return *s == '\0';
}

enum yscalar ynode_scalar(const struct ynode *n, int64_t *integer, double *real, bool *boolean)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	int64_t iv;
	double dv;
	bool bv;
	if (!integer)
		integer = &iv;
	if (!real)
		real = &dv;
	if (!boolean)
		boolean = &bv;
	if (!n || n->kind != YNODE_SCALAR || n->quoted)
		return YSCALAR_STRING;
	const char *s = n->str->s;
	if (strlen(s) != n->str->len)
		return YSCALAR_STRING; /* a NUL inside cannot be a number */
	if (is_one_of(s, nulls))
		return YSCALAR_NULL;
	if (is_one_of(s, trues) || is_one_of(s, falses)) {
		*boolean = is_one_of(s, trues);
		return YSCALAR_BOOL;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		const char *digits = s + 2;
		int base = s[1] == 'x' ? 16 : 8;
		if (!all_digits(digits, base == 16 ? "0123456789abcdefABCDEF" : "01234567"))
			return YSCALAR_STRING;
		errno = 0;
		unsigned long long v = strtoull(digits, NULL, base);
		if (errno || v > INT64_MAX)
			return YSCALAR_STRING;
		*integer = (int64_t)v;
		return YSCALAR_INT;
	}
	const char *body = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
	if (all_digits(body, "0123456789")) {
		errno = 0;
		long long v = strtoll(s, NULL, 10);
		if (errno == 0) {
			*integer = v;
			return YSCALAR_INT;
		}
		/* Too large for 64 bits: still a number. */
		*real = strtod(s, NULL);
		return YSCALAR_FLOAT;
	}
	if (is_one_of(body, infs)) {
		*real = s[0] == '-' ? -INFINITY : INFINITY;
		return YSCALAR_FLOAT;
	}
	if (is_one_of(s, nans)) {
		*real = NAN;
		return YSCALAR_FLOAT;
	}
	if (is_float_text(s)) {
		*real = strtod(s, NULL);
		return YSCALAR_FLOAT;
	}
	return YSCALAR_STRING;
}

const char *ynode_describe(const struct ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a list";
	case YNODE_SCALAR:
		break;
	}
	switch (ynode_scalar(n, NULL, NULL, NULL)) {
	case YSCALAR_NULL:
		return "null";
	case YSCALAR_BOOL:
		return "a boolean";
	case YSCALAR_INT:
		return "an integer";
	case YSCALAR_FLOAT:
		return "a number";
	case YSCALAR_STRING:
		break;
	}
	return "a string";
}

static void json_newline(struct strbuf *out, int indent, int depth)
{
	if (indent < 0)
		return;
	strbuf_addc(out, '\n');
	for (int i = 0; i < indent * depth; i++)
		strbuf_addc(out, ' ');
}

/* Shortest text that reads back as the same double, still looking like a float. */
static void json_real(struct strbuf *out, const struct ynode *n, double v)
{
	if (!isfinite(v)) {
		/* JSON has no infinities: keep the YAML spelling as a string. */
		strbuf_add_json_string(out, n->str->s);
		return;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	strbuf_adds(out, buf);
	if (!strpbrk(buf, ".eE"))
		strbuf_adds(out, ".0");
}

/* Whether text is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number_text(const char *s, bool *integer)
{
	*integer = true;
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (isdigit((unsigned char)*s))
		while (isdigit((unsigned char)*s))
			s++;
	else
		return false;
	if (*s == '.') {
		*integer = false;
		if (!isdigit((unsigned char)*++s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		*integer = false;
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

/* A number as written where JSON can say it (0.10 stays 0.10); an integer too
 * large for 64 bits as a string of its digits, never rounded to 1e+35 (JSON
 * readers refuse or round such integers). */
static void json_number(struct strbuf *out, const struct ynode *n, double v)
{
	bool integer;
	/* 1e400 is JSON's syntax but no reader's double: json_real says it. */
	if (json_number_text(n->str->s, &integer) && (integer || isfinite(v))) {
		if (integer)
			strbuf_add_json_string(out, n->str->s);
		else
			strbuf_adds(out, n->str->s);
		return;
	}
	json_real(out, n, v);
}

static void json_node(const struct ynode *n, struct strbuf *out, int indent, int depth)
{
	switch (n->kind) {
	case YNODE_SCALAR: {
		int64_t iv;
		double dv;
		bool bv;
		switch (ynode_scalar(n, &iv, &dv, &bv)) {
		case YSCALAR_NULL:
			strbuf_adds(out, "null");
			break;
		case YSCALAR_BOOL:
			strbuf_adds(out, bv ? "true" : "false");
			break;
		case YSCALAR_INT:
			strbuf_addf(out, "%lld", (long long)iv);
			break;
		case YSCALAR_FLOAT:
			json_number(out, n, dv);
			break;
		case YSCALAR_STRING:
			strbuf_add_json_string(out, n->str->s);
			break;
		}
		break;
	}
	case YNODE_MAP:
		if (n->len == 0) {
			strbuf_adds(out, "{}");
			break;
		}
		strbuf_addc(out, '{');
		for (size_t i = 0; i < n->len; i++) {
			if (i)
				strbuf_addc(out, ',');
			json_newline(out, indent, depth + 1);
			strbuf_add_json_string(out, n->pairs[i].key->s);
			strbuf_adds(out, indent < 0 ? ":" : ": ");
			json_node(n->pairs[i].value, out, indent, depth + 1);
		}
		json_newline(out, indent, depth);
		strbuf_addc(out, '}');
		break;
	case YNODE_SEQ:
		if (n->len == 0) {
			strbuf_adds(out, "[]");
			break;
		}
		strbuf_addc(out, '[');
		for (size_t i = 0; i < n->len; i++) {
			if (i)
				strbuf_addc(out, ',');
			json_newline(out, indent, depth + 1);
			json_node(n->items[i], out, indent, depth + 1);
		}
		json_newline(out, indent, depth);
		strbuf_addc(out, ']');
		break;
	}
}

void ynode_to_json(const struct ynode *n, struct strbuf *out, int indent)
{
	if (!n) {
		strbuf_adds(out, "null");
		return;
	}
	json_node(n, out, indent, 0);
}

void yaml_unknown_key(struct diags *d, const struct ypair *p, const char *where,
		      const char *const *known)
{
	struct suggestion s;
	suggest_begin(&s, p->key->s, SUGGEST_TYPO);
	for (size_t i = 0; known[i]; i++)
		suggest_offer(&s, known[i]);
	const char *best = suggest_best(&s);
	if (best)
		diags_add_at(d, p->key_pos, "unknown key '%s' in %s (did you mean '%s'?)", p->key->s,
			     where, best);
	else
		diags_add_at(d, p->key_pos, "unknown key '%s' in %s", p->key->s, where);
}
