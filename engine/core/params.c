/* The walker of param tables (params.h), over three kinds of tree: a
 * policy's params (pnode: templates, positions), a cluster's config (ynode:
 * positions) and rendered params (JSON: values only). */
#include "params.h"

#include "base/parse.h"
#include "base/strbuf.h"
#include "base/suggest.h"
#include "policy/template.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum node_kind { NODE_NULL, NODE_SCALAR, NODE_LIST, NODE_MAP };

/* One kind of tree, seen through the few questions the walker asks. */
struct tree_ops {
	enum node_kind (*kind)(const void *n);
	/* A scalar's text; NULL when only known once rendered (a template). */
	const char *(*text)(const void *n, char *buf, size_t size);
	size_t (*len)(const void *n);
	const char *(*key)(const void *map, size_t i);
	struct pos (*key_pos)(const void *map, size_t i);
	const void *(*child)(const void *n, size_t i);
	struct pos (*pos)(const void *n);
	/* Somewhere in n a template reads .User.Secrets. */
	bool (*secrets)(const void *n);
};

struct param_walk {
	const struct tree_ops *ops;
	const void *root;
	const char *prefix;
	struct diags *diags; /* checking policy or config: errors at positions */
	struct error *err;   /* rendered: the first error */
	int errors;
	struct strbuf path;  /* "volumes[2]" */
};

/* ---- pnode: a policy's params ---- */

static enum node_kind pnode_kind(const void *v)
{
	const struct pnode *n = v;
	switch (n->kind) {
	case PNODE_NULL:
		return NODE_NULL;
	case PNODE_MAP:
		return NODE_MAP;
	case PNODE_LIST:
		return NODE_LIST;
	default:
		return NODE_SCALAR;
	}
}

static const char *pnode_text(const void *v, char *buf, size_t size)
{
	const struct pnode *n = v;
	switch (n->kind) {
	case PNODE_STRING:
		return template_is_constant(n->tmpl) ? template_text(n->tmpl) : NULL;
	case PNODE_INT:
		snprintf(buf, size, "%" PRId64, n->integer);
		return buf;
	case PNODE_FLOAT:
		snprintf(buf, size, "%.17g", n->real);
		return buf;
	case PNODE_BOOL:
		return n->boolean ? "true" : "false";
	default:
		return NULL;
	}
}

static size_t pnode_len(const void *v)
{
	return ((const struct pnode *)v)->len;
}

static const char *pnode_key(const void *v, size_t i)
{
	return ((const struct pnode *)v)->keys[i]->s;
}

static const void *pnode_child(const void *v, size_t i)
{
	return ((const struct pnode *)v)->children[i];
}

static struct pos pnode_pos(const void *v)
{
	return ((const struct pnode *)v)->pos;
}

static struct pos pnode_key_pos(const void *v, size_t i)
{
	return ((const struct pnode *)v)->children[i]->pos;
}

static bool pnode_secrets(const void *v)
{
	const struct pnode *n = v;
	if (n->kind == PNODE_STRING)
		return n->tmpl && template_uses_secrets(n->tmpl);
	for (uint32_t i = 0; (n->kind == PNODE_MAP || n->kind == PNODE_LIST) && i < n->len; i++)
		if (pnode_secrets(n->children[i]))
			return true;
	return false;
}

static const struct tree_ops pnode_ops = { pnode_kind, pnode_text,  pnode_len, pnode_key,
					   pnode_key_pos, pnode_child, pnode_pos, pnode_secrets };

/* ---- ynode: a cluster's config ---- */

static enum node_kind ynode_kind(const void *v)
{
	const struct ynode *n = v;
	if (n->kind == YNODE_MAP)
		return NODE_MAP;
	if (n->kind == YNODE_SEQ)
		return NODE_LIST;
	return ynode_scalar(n, NULL, NULL, NULL) == YSCALAR_NULL ? NODE_NULL : NODE_SCALAR;
}

static const char *ynode_text(const void *v, char *buf, size_t size)
{
	return ((const struct ynode *)v)->str->s;
}

static size_t ynode_len(const void *v)
{
	return ((const struct ynode *)v)->len;
}

static const char *ynode_key(const void *v, size_t i)
{
	return ((const struct ynode *)v)->pairs[i].key->s;
}

static struct pos ynode_key_pos(const void *v, size_t i)
{
	return ((const struct ynode *)v)->pairs[i].key_pos;
}

static const void *ynode_child(const void *v, size_t i)
{
	const struct ynode *n = v;
	return n->kind == YNODE_MAP ? n->pairs[i].value : n->items[i];
}

static struct pos ynode_pos(const void *v)
{
	return ((const struct ynode *)v)->pos;
}

static bool no_secrets(const void *v)
{
	return false; /* config and rendered values are not templates */
}

static const struct tree_ops ynode_ops = { ynode_kind, ynode_text,  ynode_len, ynode_key,
					   ynode_key_pos, ynode_child, ynode_pos, no_secrets };

/* ---- JSON: rendered params ---- */

static enum node_kind json_kind(const void *v)
{
	const json_t *n = v;
	if (json_is_object(n))
		return NODE_MAP;
	if (json_is_array(n))
		return NODE_LIST;
	return json_is_null(n) ? NODE_NULL : NODE_SCALAR;
}

const char *param_json_text(const json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, size, "%.17g", json_real_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return NULL;
}

static const char *json_text(const void *v, char *buf, size_t size)
{
	return param_json_text(v, buf, size);
}

static size_t json_len(const void *v)
{
	const json_t *n = v;
	return json_is_object(n) ? json_object_size(n) : json_array_size(n);
}

/* Objects by index: jansson iterates in insertion order. */
static void *json_iter_at(const json_t *n, size_t i)
{
	void *it = json_object_iter((json_t *)n);
	while (it && i--)
		it = json_object_iter_next((json_t *)n, it);
	return it;
}

static const char *json_key(const void *v, size_t i)
{
	return json_object_iter_key(json_iter_at(v, i));
}

static const void *json_child(const void *v, size_t i)
{
	const json_t *n = v;
	if (json_is_array(n))
		return json_array_get(n, i);
	return json_object_iter_value(json_iter_at(n, i));
}

static struct pos no_pos(const void *v)
{
	return (struct pos){ 0 };
}

static struct pos no_key_pos(const void *v, size_t i)
{
	return (struct pos){ 0 };
}

static const struct tree_ops json_ops = { json_kind, json_text,  json_len, json_key,
					  no_key_pos, json_child, no_pos,  no_secrets };

/* ---- the walk ---- */

static void walk_error_at(struct param_walk *w, struct pos pos, const char *fmt, va_list ap)
{
	w->errors++;
	struct strbuf msg = STRBUF_INIT;
	strbuf_vaddf(&msg, fmt, ap);
	if (w->diags)
		diags_add_at(w->diags, pos, "%s%s", w->prefix, strbuf_cstr(&msg));
	else if (w->errors == 1)
		error_set(w->err, "%s%s", w->prefix, strbuf_cstr(&msg));
	strbuf_release(&msg);
}

static void walk_error(struct param_walk *w, struct pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void walk_error(struct param_walk *w, struct pos pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	walk_error_at(w, pos, fmt, ap);
	va_end(ap);
}

void param_error(struct param_walk *w, const void *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	walk_error_at(w, w->ops->pos(n), fmt, ap);
	va_end(ap);
}

const void *param_get(struct param_walk *w, const void *map, const char *key)
{
	if (!map || w->ops->kind(map) != NODE_MAP)
		return NULL;
	for (size_t i = 0, n = w->ops->len(map); i < n; i++)
		if (strcmp(w->ops->key(map, i), key) == 0)
			return w->ops->child(map, i);
	return NULL;
}

const char *param_text(struct param_walk *w, const void *n, char *buf, size_t size)
{
	return n && w->ops->kind(n) == NODE_SCALAR ? w->ops->text(n, buf, size) : NULL;
}

bool param_is_list(struct param_walk *w, const void *n)
{
	return n && w->ops->kind(n) == NODE_LIST;
}

size_t param_len(struct param_walk *w, const void *list)
{
	return w->ops->len(list);
}

const void *param_item(struct param_walk *w, const void *list, size_t i)
{
	return w->ops->child(list, i);
}

const char *param_path(struct param_walk *w)
{
	return strbuf_cstr(&w->path);
}

const void *param_root(struct param_walk *w)
{
	return w->root;
}

static const char *shape_name(enum node_kind k)
{
	switch (k) {
	case NODE_NULL:
		return "null";
	case NODE_LIST:
		return "a list";
	case NODE_MAP:
		return "a mapping";
	default:
		return "a scalar";
	}
}

/* The row of key k in a mapping's table or in its bases, NULL if none. */
static const struct param *field_of(const struct param *p, const char *k)
{
	for (; p; p = p->base)
		for (const struct param *f = p->fields; f && f->key; f++)
			if (strcmp(f->key, k) == 0)
				return f;
	return NULL;
}

/* The known key nearest to k, when one is close. */
static const char *nearest_key(const struct param *p, const char *k)
{
	struct suggestion s;
	suggest_begin(&s, k, SUGGEST_TYPO);
	for (; p; p = p->base)
		for (const struct param *f = p->fields; f && f->key; f++)
			suggest_offer(&s, f->key);
	return suggest_best(&s);
}

static void walk(struct param_walk *w, const struct param *p, const void *n);

/* Walks child n of the current path, named by ".key" or "[i]". */
static void walk_child(struct param_walk *w, const struct param *p, const void *n,
		       const char *key, size_t index)
{
	size_t mark = w->path.len;
	if (key)
		strbuf_addf(&w->path, "%s%s", mark ? "." : "", key);
	else
		strbuf_addf(&w->path, "[%zu]", index);
	walk(w, p, n);
	strbuf_truncate(&w->path, mark);
}

static void walk_map(struct param_walk *w, const struct param *p, const void *n)
{
	const struct tree_ops *o = w->ops;
	size_t len = o->len(n);
	for (size_t i = 0; i < len; i++) {
		const char *k = o->key(n, i);
		const struct param *f = field_of(p, k);
		if (!f) {
			const char *near = nearest_key(p, k);
			walk_error(w, o->key_pos(n, i), "unknown %s key '%s'%s%s%s", p->noun, k,
				   near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
			continue;
		}
		const void *v = o->child(n, i);
		if (!(f->flags & PARAM_SECRETS) && o->secrets(v))
			walk_error(w, o->pos(v), "%s%s%s reads .User.Secrets: secrets may only be used in env",
				   param_path(w), w->path.len ? "." : "", k);
		else
			walk_child(w, f, v, k, 0);
	}
	for (const struct param *t = p; t; t = t->base)
		for (const struct param *f = t->fields; f && f->key; f++) {
			if (!(f->flags & PARAM_REQUIRED) || param_get(w, n, f->key) ||
			    field_of(p, f->key) != f) /* shadowed by an own row */
				continue;
			if (w->path.len)
				walk_error(w, o->pos(n), "%s needs '%s'%s%s%s", param_path(w), f->key,
					   f->hint ? " (" : "", f->hint ? f->hint : "", f->hint ? ")" : "");
			else
				walk_error(w, o->pos(n), "missing '%s'%s%s%s", f->key, f->hint ? " (" : "",
					   f->hint ? f->hint : "", f->hint ? ")" : "");
		}
	for (const struct param *t = p; t; t = t->base)
		if (t->also)
			t->also(w, n);
}

static void walk_dict(struct param_walk *w, const struct param *p, const void *n)
{
	const struct tree_ops *o = w->ops;
	for (size_t i = 0, len = o->len(n); i < len; i++) {
		const char *k = o->key(n, i);
		const char *problem = p->name_problem ? p->name_problem(k) : NULL;
		if (problem)
			walk_error(w, o->key_pos(n, i), "%s name '%s' %s", param_path(w), k, problem);
		else
			walk_child(w, p->item, o->child(n, i), k, 0);
	}
}

static void walk(struct param_walk *w, const struct param *p, const void *n)
{
	const struct tree_ops *o = w->ops;
	enum node_kind k = o->kind(n);
	const char *path = param_path(w); /* "" at the top: the prefix ends in "params: " */
	if (k == NODE_SCALAR && (p->shape & PARAM_SCALAR)) {
		char buf[64];
		const char *text = o->text(n, buf, sizeof(buf));
		if (text && p->valid && !p->valid(text))
			walk_error(w, o->pos(n), "%s%smust be %s, not '%s'", path, *path ? " " : "",
				   p->expected, text);
	} else if (k == NODE_MAP && (p->shape & PARAM_MAP)) {
		walk_map(w, p, n);
	} else if (k == NODE_MAP && (p->shape & PARAM_DICT)) {
		walk_dict(w, p, n);
	} else if (k == NODE_LIST && (p->shape & PARAM_LIST)) {
		for (size_t i = 0, len = o->len(n); i < len; i++)
			walk_child(w, p->item, o->child(n, i), NULL, i);
	} else {
		walk_error(w, o->pos(n), "%s%smust be %s, not %s", path, *path ? " " : "",
			   p->expected, shape_name(k));
	}
}

static int walk_tree(const struct tree_ops *ops, const struct param *table, const void *root,
		     const char *prefix, struct diags *diags, struct error *err)
{
	struct param_walk w = { .ops = ops, .root = root, .prefix = prefix, .diags = diags,
				.err = err, .path = STRBUF_INIT };
	walk(&w, table, root);
	strbuf_release(&w.path);
	return w.errors ? -1 : 0;
}

int params_check_policy(const struct param *table, const struct pnode *params, struct pos at,
			const char *prefix, struct diags *diags)
{
	if (!params) {
		diags_add_at(diags, at, "%snone given; they must be %s", prefix, table->expected);
		return -1;
	}
	return walk_tree(&pnode_ops, table, params, prefix, diags, NULL);
}

int params_check_config(const struct param *table, const struct ynode *config, struct pos at,
			const char *prefix, struct diags *diags)
{
	for (const struct param *f = table->fields; !config && f->key; f++)
		if (f->flags & PARAM_REQUIRED) {
			diags_add_at(diags, at, "%sconfig needs '%s'%s%s%s", prefix, f->key,
				     f->hint ? " (" : "", f->hint ? f->hint : "", f->hint ? ")" : "");
			return -1;
		}
	if (!config)
		return 0;
	return walk_tree(&ynode_ops, table, config, prefix, diags, NULL);
}

int params_check_rendered(const struct param *table, const json_t *params, struct error *err)
{
	return walk_tree(&json_ops, table, params, "params: ", NULL, err);
}

json_t *params_config_json(const struct ynode *config)
{
	if (!config)
		return json_object();
	switch (ynode_kind(config)) {
	case NODE_MAP: {
		json_t *map = json_object();
		for (size_t i = 0; i < config->len; i++)
			json_object_set_new(map, config->pairs[i].key->s,
					    params_config_json(config->pairs[i].value));
		return map;
	}
	case NODE_LIST: {
		json_t *list = json_array();
		for (size_t i = 0; i < config->len; i++)
			json_array_append_new(list, params_config_json(config->items[i]));
		return list;
	}
	case NODE_NULL:
		return json_null();
	default:
		return json_string(config->str->s);
	}
}

void param_keep_text(const char **field, const json_t *v)
{
	if (json_is_string(v))
		*field = json_string_value(v);
}

int params_build(const struct param *table, const json_t *params, void *request,
		 struct error *err)
{
	for (const struct param *f = table->fields; f->key; f++) {
		const json_t *v = json_object_get(params, f->key);
		if (!v)
			continue;
		if (f->build && f->build(request, v, err) < 0)
			return -1;
		if (f->flags & PARAM_TEXT)
			param_keep_text((const char **)((char *)request + f->at), v);
		if (!f->build && f->fields && json_is_object(v) && params_build(f, v, request, err) < 0)
			return -1;
	}
	return 0;
}

bool param_nonempty(const char *s)
{
	return *s != '\0';
}

bool param_port(const char *s)
{
	int p;
	return parse_port(s, &p) == 0;
}

bool param_duration(const char *s)
{
	int64_t ns;
	return parse_duration(s, &ns) == 0;
}

bool param_bool(const char *s)
{
	bool b;
	return parse_bool(s, &b) == 0;
}

bool param_safe_path(const char *s)
{
	if (s[0] != '/')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("/._-+@", *s))
			return false;
	return true;
}
