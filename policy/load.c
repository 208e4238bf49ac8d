/* The policy's loader: decodes YAML (or stored JSON) into objects through
 * the field table of each kind (kinds.c), with errors that name the file,
 * line, column and object, recording the origin of every node, and adds
 * them to the store (objects.c) only when the whole load is clean. */
#include "policy.h"
#include "decode.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/strbuf.h"
#include "base/suggest.h"
#include "base/vec.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- loading: context and messages ---- */

void lerr(struct load *ld, struct pos pos, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	diags_add_at(ld->diags, pos, "%s%s%s", strbuf_cstr(&ld->prefix), strbuf_cstr(&ld->ctx),
		     strbuf_cstr(&msg));
	strbuf_release(&msg);
	ld->errors++;
	ld->total++;
}

/* Appends to the context; returns the length to restore with ctx_pop(). */
size_t ctx_push(struct load *ld, const char *fmt, ...)
{
	size_t mark = ld->ctx.len;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&ld->ctx, fmt, ap);
	va_end(ap);
	strbuf_adds(&ld->ctx, ": ");
	return mark;
}

void ctx_pop(struct load *ld, size_t mark)
{
	strbuf_truncate(&ld->ctx, mark);
}

/* ^[a-zA-Z][a-zA-Z0-9_-]{0,63}$ */
bool is_ident(const struct istr *s)
{
	if (s->len < 1 || s->len > 64 || strlen(s->s) != s->len)
		return false;
	char c = s->s[0];
	if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		return false;
	for (uint32_t i = 1; i < s->len; i++) {
		c = s->s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int check_ident(struct load *ld, struct pos pos, const char *what, const struct istr *s)
{
	if (is_ident(s))
		return 0;
	lerr(ld, pos,
	     "invalid %s '%s': must start with a letter and hold only letters, digits, '_' "
	     "and '-' (at most 64 characters)",
	     what, s->s);
	return -1;
}

bool is_null(const struct ynode *n)
{
	return !n || (n->kind == YNODE_SCALAR && ynode_scalar(n, NULL, NULL, NULL) == YSCALAR_NULL);
}

/* A scalar's text, or NULL (with an error) for anything else. */
const struct istr *want_text(struct load *ld, const struct ynode *n, const char *what)
{
	if (n->kind == YNODE_SCALAR && !is_null(n))
		return n->str;
	lerr(ld, n->pos, "%s must be a string, not %s", what, ynode_describe(n));
	return NULL;
}

/* A label or secret value: any scalar, stored as its text; null is empty. */
const struct istr *want_value(struct load *ld, const struct ynode *n, const char *what,
				     const char *key)
{
	if (n->kind != YNODE_SCALAR) {
		lerr(ld, n->pos, "%s '%s' must be a string, not %s", what, key, ynode_describe(n));
		return NULL;
	}
	if (is_null(n))
		return intern(ld->in, "", 0);
	return n->str;
}

/* "[ns/]name", each part an identifier. */
const struct istr *want_locator(struct load *ld, const struct ynode *n, const char *what)
{
	const struct istr *s = want_text(ld, n, what);
	if (!s)
		return NULL;
	const char *slash = strchr(s->s, '/');
	bool ok;
	if (!slash) {
		ok = is_ident(s);
	} else {
		const struct istr *ns = intern(ld->in, s->s, (size_t)(slash - s->s));
		const struct istr *name = intern_cstr(ld->in, slash + 1);
		ok = is_ident(ns) && is_ident(name);
	}
	if (!ok) {
		lerr(ld, n->pos, "invalid %s '%s': expected 'name' or 'namespace/name'", what, s->s);
		return NULL;
	}
	return s;
}

struct template *compile_template(struct load *ld, const struct ynode *n)
{
	struct template *t = NULL;
	struct error err = ERROR_INIT;
	if (template_compile(&t, ld->in, n->str->s, &err) < 0) {
		lerr(ld, n->pos, "%s", error_msg(&err));
		error_clear(&err);
		return NULL;
	}
	vec_push(&ld->pi->templates, t);
	return t;
}

/* ---- field tables ---- */

static const char *vtype_describe(enum vtype t)
{
	switch (t) {
	case V_SCALAR:
		return "a string";
	case V_INT:
		return "an integer";
	case V_MAP:
		return "a mapping";
	case V_LIST:
		return "a list";
	case V_ANY:
		break;
	}
	return "a value";
}

static bool type_ok(enum vtype t, const struct ynode *v)
{
	switch (t) {
	case V_ANY:
		return true;
	case V_SCALAR:
		return v->kind == YNODE_SCALAR;
	case V_INT:
		return v->kind == YNODE_SCALAR && ynode_scalar(v, NULL, NULL, NULL) == YSCALAR_INT;
	case V_MAP:
		return v->kind == YNODE_MAP;
	case V_LIST:
		return v->kind == YNODE_SEQ;
	}
	return false;
}

/* Decodes a mapping through a field table: unknown keys (with the nearest
 * valid one), wrong types and missing required keys are errors. A null value
 * counts as absent. Mappings and lists add their key to the context. */
void decode_map(struct load *ld, const struct ynode *n, const struct field *fields,
		       size_t nfields, void *target)
{
	const char *names[32];
	size_t nn = nfields < 32 ? nfields : 32;
	for (size_t i = 0; i < nn; i++)
		names[i] = fields[i].key;
	for (size_t i = 0; i < n->len; i++) {
		const struct ypair *pr = &n->pairs[i];
		const struct field *f = NULL;
		for (size_t k = 0; k < nfields && !f; k++)
			if (strcmp(fields[k].key, pr->key->s) == 0)
				f = &fields[k];
		if (!f) {
			const char *near = suggest_nearest(pr->key->s, names, nn);
			if (near)
				lerr(ld, pr->key_pos, "unknown key '%s' (did you mean '%s'?)",
				     pr->key->s, near);
			else
				lerr(ld, pr->key_pos, "unknown key '%s'", pr->key->s);
			continue;
		}
		if (is_null(pr->value) && f->type != V_ANY && f->type != V_SCALAR)
			continue;
		if (is_null(pr->value) && f->type == V_SCALAR && !f->required)
			continue;
		if (!type_ok(f->type, pr->value)) {
			lerr(ld, pr->value->pos, "'%s' must be %s, not %s", f->key,
			     vtype_describe(f->type), ynode_describe(pr->value));
			continue;
		}
		if (!f->decode)
			continue;
		bool nested = pr->value->kind != YNODE_SCALAR;
		size_t mark = nested ? ctx_push(ld, "%s", f->key) : ld->ctx.len;
		f->decode(ld, target, pr->value);
		ctx_pop(ld, mark);
	}
	for (size_t k = 0; k < nfields; k++) {
		if (!fields[k].required)
			continue;
		const struct ynode *v = ynode_get(n, fields[k].key);
		if (!v || (is_null(v) && fields[k].type != V_SCALAR))
			lerr(ld, n->pos, "missing '%s'", fields[k].key);
	}
}


/* ---- objects ---- */

struct meta {
	const struct istr *ns, *name;
};

static void meta_ns(struct load *ld, void *target, const struct ynode *v)
{
	struct meta *m = target;
	const struct istr *s = want_text(ld, v, "'namespace'");
	if (s && check_ident(ld, v->pos, "namespace", s) == 0)
		m->ns = s;
}

static void meta_name(struct load *ld, void *target, const struct ynode *v)
{
	struct meta *m = target;
	const struct istr *s = want_text(ld, v, "'name'");
	if (s && check_ident(ld, v->pos, "name", s) == 0)
		m->name = s;
}

static const struct field meta_fields[] = {
	{ "namespace", V_SCALAR, true, meta_ns },
	{ "name", V_SCALAR, true, meta_name },
	{ "generation", V_INT, false, NULL },
};


/* ---- origins: the positions of an object's nodes, in ynode_to_json's order ---- */

/* " line,col" (by hand: every object of every apply writes one per node) */
static void origin_add(struct strbuf *out, struct pos pos)
{
	char buf[24], *p = buf + sizeof(buf);
	uint32_t v = pos.col;
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	*--p = ',';
	v = pos.line;
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	*--p = ' ';
	strbuf_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

static void origin_nodes(const struct ynode *n, struct strbuf *out)
{
	origin_add(out, n->pos);
	for (size_t i = 0; n->kind == YNODE_MAP && i < n->len; i++) {
		origin_add(out, n->pairs[i].key_pos);
		origin_nodes(n->pairs[i].value, out);
	}
	for (size_t i = 0; n->kind == YNODE_SEQ && i < n->len; i++)
		origin_nodes(n->items[i], out);
}

static void origin_write(const struct ynode *n, struct strbuf *out)
{
	strbuf_addf(out, "%s\n", n->pos.file ? n->pos.file : "");
	origin_nodes(n, out);
}

/* Reads the next position of an origin into *pos; false when there is none. */
static bool origin_next(const char **s, const char *file, struct pos *pos)
{
	char *end;
	unsigned long line = strtoul(*s, &end, 10), col;
	if (end == *s || *end != ',')
		return false;
	col = strtoul(end + 1, &end, 10);
	if (line == 0 || line > UINT32_MAX || col > UINT32_MAX)
		return false;
	*pos = (struct pos){ file, (uint32_t)line, (uint32_t)col };
	*s = end;
	return true;
}

/* Reads positions for n and its nodes, and with write gives them to them;
 * false when origin has too few. */
static bool origin_walk(struct ynode *n, const char **s, const char *file, bool write)
{
	struct pos pos;
	if (!origin_next(s, file, &pos))
		return false;
	if (write)
		n->pos = pos;
	for (size_t i = 0; n->kind == YNODE_MAP && i < n->len; i++) {
		if (!origin_next(s, file, &pos) || !origin_walk(n->pairs[i].value, s, file, write))
			return false;
		if (write)
			n->pairs[i].key_pos = pos;
	}
	for (size_t i = 0; n->kind == YNODE_SEQ && i < n->len; i++)
		if (!origin_walk(n->items[i], s, file, write))
			return false;
	return true;
}

/* Gives n the positions of origin when it has exactly one per node; else n
 * keeps those of the stored JSON. */
static void origin_read(struct load *ld, struct ynode *n, const char *origin)
{
	const char *nl = origin ? strchr(origin, '\n') : NULL;
	if (!nl || nl == origin)
		return;
	const char *s = nl + 1;
	if (!origin_walk(n, &s, NULL, false) || *s)
		return;
	const char *file = arena_strndup(ld->p->arena, origin, (size_t)(nl - origin));
	s = nl + 1;
	origin_walk(n, &s, file, true);
}

static void load_object(struct load *ld, const struct ynode *n)
{
	ld->errors = 0;
	strbuf_reset(&ld->prefix);
	strbuf_reset(&ld->ctx);
	if (n->kind != YNODE_MAP) {
		lerr(ld, n->pos, "an object must be a mapping, not %s", ynode_describe(n));
		return;
	}
	const struct ynode *kn = ynode_get(n, "kind");
	enum kind k;
	if (is_null(kn)) {
		lerr(ld, n->pos, "missing 'kind'");
		return;
	}
	if (kn->kind != YNODE_SCALAR) {
		lerr(ld, kn->pos, "'kind' must be a string, not %s", ynode_describe(kn));
		return;
	}
	if (kind_parse(kn->str->s, &k) < 0) {
		const char *near = suggest_nearest(kn->str->s, kind_names, KIND_COUNT);
		if (near)
			lerr(ld, kn->pos, "unknown kind '%s' (did you mean '%s'?)", kn->str->s, near);
		else
			lerr(ld, kn->pos,
			     "unknown kind '%s' (expected service, contract, dependency, rule, "
			     "aclrule, cluster or dataset)",
			     kn->str->s);
		return;
	}

	struct meta meta = { 0 };
	const struct ynode *mn = ynode_get(n, "metadata");
	strbuf_addf(&ld->prefix, "%s: ", kind_names[k]);
	if (mn && mn->kind == YNODE_MAP) {
		size_t mark = ctx_push(ld, "metadata");
		DECODE(ld, mn, meta_fields, &meta);
		ctx_pop(ld, mark);
	}
	if (meta.ns && meta.name) {
		strbuf_reset(&ld->prefix);
		strbuf_addf(&ld->prefix, "%s %s/%s: ", kind_names[k], meta.ns->s, meta.name->s);
	}

	const struct kind_table *t = kind_tables[k];
	struct object *o = arena_alloc(ld->p->arena, t->size);
	o->kind = k;
	o->ns = meta.ns;
	o->name = meta.name;
	o->pos = n->pos;
	decode_map(ld, n, t->fields, t->nfields, o);
	if (t->finish)
		t->finish(ld, o, n);
	if (ld->errors || !meta.ns || !meta.name)
		return;

	struct pending pd = { .obj = o };
	char *key = arena_printf(ld->p->arena, "%s/%s/%s", kind_names[k], meta.ns->s, meta.name->s);
	pd.key = key;
	pd.keylen = strlen(key);
	const struct object *first = map_get(&ld->seen, key, pd.keylen);
	if (first) {
		lerr(ld, n->pos, "duplicate object (first defined at %s:%u:%u)", first->pos.file,
		     first->pos.line, first->pos.col);
		return;
	}
	struct strbuf json = STRBUF_INIT;
	ynode_to_json(n, &json, 2);
	o->json = arena_strndup(ld->p->arena, json.buf, json.len);
	strbuf_reset(&json);
	origin_write(n, &json);
	o->origin = arena_strndup(ld->p->arena, json.buf, json.len);
	strbuf_release(&json);
	map_put(&ld->seen, key, pd.keylen, o);
	vec_push(&ld->pending, pd);
}

static void load_text(struct load *ld, const char *name, const char *text, size_t len)
{
	struct arena *tmp = arena_new();
	struct ynode **docs;
	size_t ndocs;
	/* A file that is not well-formed YAML loads nothing: its tree may not be
	 * what its author meant. */
	if (yaml_parse(tmp, ld->in, name, text, len, &docs, &ndocs, ld->diags) < 0) {
		ld->total++;
		goto out;
	}
	for (size_t d = 0; d < ndocs; d++) {
		const struct ynode *doc = docs[d];
		if (doc->kind == YNODE_SEQ) {
			for (size_t i = 0; i < doc->len; i++)
				load_object(ld, doc->items[i]);
		} else if (doc->kind == YNODE_MAP) {
			load_object(ld, doc);
		} else if (!is_null(doc)) {
			strbuf_reset(&ld->prefix);
			strbuf_reset(&ld->ctx);
			lerr(ld, doc->pos, "a document must be a list of objects or one object, not %s",
			     ynode_describe(doc));
		}
	}
out:
	arena_free(tmp);
}

static void load_begin(struct load *ld, struct policy *p, struct diags *diags)
{
	memset(ld, 0, sizeof(*ld));
	ld->p = p;
	ld->pi = (struct policy_impl *)p;
	ld->in = p->intern;
	ld->diags = diags;
}

/* Adds what loaded; duplicates of earlier loads replace or are refused. */
static int load_commit(struct load *ld, unsigned flags)
{
	struct policy *p = ld->p;
	for (size_t i = 0; i < ld->pending.len; i++) {
		struct pending *pd = &ld->pending.items[i];
		struct object *old = map_get(&p->by_key, pd->key, pd->keylen);
		if (old && !(flags & POLICY_REPLACE)) {
			diags_add_at(ld->diags, pd->obj->pos, "%s %s/%s: already exists (defined at %s:%u:%u)",
				     kind_name(pd->obj->kind), pd->obj->ns->s, pd->obj->name->s,
				     old->pos.file, old->pos.line, old->pos.col);
			ld->total++;
			continue;
		}
		map_put(&p->by_key, pd->key, pd->keylen, pd->obj);
		p->validated = false;
		if (old) {
			for (size_t k = 0; k < p->len; k++) {
				if (p->objects[k] == old) {
					p->objects[k] = pd->obj;
					break;
				}
			}
			continue;
		}
		if (p->len == p->cap) {
			p->cap = p->cap ? p->cap * 2 : 64;
			p->objects = xrealloc(p->objects, p->cap * sizeof(*p->objects));
		}
		p->objects[p->len++] = pd->obj;
	}
	int rc = ld->total ? -1 : 0;
	vec_release(&ld->pending);
	map_release(&ld->seen);
	strbuf_release(&ld->prefix);
	strbuf_release(&ld->ctx);
	return rc;
}

int policy_add_yaml(struct policy *p, const char *name, const char *text, size_t len,
		    unsigned flags, struct diags *diags)
{
	struct load ld;
	load_begin(&ld, p, diags);
	load_text(&ld, name, text, len);
	return load_commit(&ld, flags);
}

int policy_add_stored(struct policy *p, const char *label, const char *json, const char *origin,
		      unsigned flags, struct diags *diags)
{
	struct load ld;
	load_begin(&ld, p, diags);
	struct arena *tmp = arena_new();
	struct ynode **docs;
	size_t ndocs;
	if (yaml_parse(tmp, ld.in, label, json, strlen(json), &docs, &ndocs, diags) < 0) {
		ld.total++;
	} else if (ndocs != 1 || docs[0]->kind != YNODE_MAP) {
		diags_add(diags, "%s: a stored object must be one mapping", label);
		ld.total++;
	} else {
		origin_read(&ld, docs[0], origin);
		load_object(&ld, docs[0]);
	}
	arena_free(tmp);
	return load_commit(&ld, flags);
}

static void load_file(void *ctx, const char *path)
{
	struct load *ld = ctx;
	struct strbuf sb = STRBUF_INIT;
	if (strbuf_read_file(&sb, path) < 0) {
		diags_add(ld->diags, "%s: cannot read: %s", path, strerror(errno));
		ld->total++;
	} else {
		load_text(ld, path, sb.buf ? sb.buf : "", sb.len);
	}
	strbuf_release(&sb);
}

static bool has_yaml_suffix(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static size_t each_in_dir(const char *dir, policy_file_fn fn, void *ctx, struct diags *diags)
{
	struct dirent **list = NULL;
	int n = scandir(dir, &list, NULL, name_cmp);
	if (n < 0) {
		diags_add(diags, "%s: cannot read directory: %s", dir, strerror(errno));
		return 1;
	}
	size_t problems = 0;
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		/* ., .., and hidden files such as editor swap files */
		if (name[0] == '.') {
			free(list[i]);
			continue;
		}
		struct strbuf path_sb = STRBUF_INIT;
		strbuf_addf(&path_sb, "%s/%s", dir, name);
		const char *path = strbuf_cstr(&path_sb);
		struct stat st;
		if (stat(path, &st) < 0) {
			diags_add(diags, "%s: cannot stat: %s", path, strerror(errno));
			problems++;
		} else if (S_ISDIR(st.st_mode)) {
			problems += each_in_dir(path, fn, ctx, diags);
		} else if (S_ISREG(st.st_mode) && has_yaml_suffix(name)) {
			fn(ctx, path);
		}
		strbuf_release(&path_sb);
		free(list[i]);
	}
	free(list);
	return problems;
}

size_t policy_each_file(const char *path, policy_file_fn fn, void *ctx, struct diags *diags)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		diags_add(diags, "%s: cannot open: %s", path, strerror(errno));
		return 1;
	}
	if (S_ISDIR(st.st_mode))
		return each_in_dir(path, fn, ctx, diags);
	fn(ctx, path);
	return 0;
}

int policy_add_path(struct policy *p, const char *path, unsigned flags, struct diags *diags)
{
	struct load ld;
	load_begin(&ld, p, diags);
	ld.total += policy_each_file(path, load_file, &ld, diags);
	return load_commit(&ld, flags);
}
