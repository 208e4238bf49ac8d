/* Shared pieces of the params and cluster config checks (params_check.h). */
#include "params_check.h"

#include "base/strbuf.h"
#include "base/suggest.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pc_error(struct param_check *c, struct pos pos, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	diags_add_at(c->diags, pos, "%s%s", c->prefix, strbuf_cstr(&msg));
	strbuf_release(&msg);
	c->errors++;
}

static void unknown_key(struct param_check *c, struct pos pos, const char *what, const char *k,
			const char *const *known, size_t nknown)
{
	for (size_t j = 0; j < nknown; j++)
		if (strcmp(k, known[j]) == 0)
			return;
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t j = 0; j < nknown; j++) {
		size_t d = edit_distance(k, known[j]);
		if (d < best_d)
			best = known[j], best_d = d;
	}
	if (best)
		pc_error(c, pos, "unknown %s key '%s' (did you mean '%s'?)", what, k, best);
	else
		pc_error(c, pos, "unknown %s key '%s'", what, k);
}

void pc_keys(struct param_check *c, const struct pnode *map, const char *const *known,
	     size_t nknown, const char *what)
{
	for (uint32_t i = 0; i < map->len; i++)
		unknown_key(c, map->children[i]->pos, what, map->keys[i]->s, known, nknown);
}

void pc_ykeys(struct param_check *c, const struct ynode *map, const char *const *known,
	      size_t nknown, const char *what)
{
	for (size_t i = 0; i < map->len; i++)
		unknown_key(c, map->pairs[i].key_pos, what, map->pairs[i].key->s, known, nknown);
}

const struct pnode *pc_get(const struct pnode *map, const char *key)
{
	for (uint32_t i = 0; i < map->len; i++)
		if (strcmp(map->keys[i]->s, key) == 0)
			return map->children[i];
	return NULL;
}

bool pc_is_scalar(const struct pnode *n)
{
	return n->kind == PNODE_STRING || n->kind == PNODE_INT || n->kind == PNODE_FLOAT ||
	       n->kind == PNODE_BOOL;
}

const char *pc_shape(const struct pnode *n)
{
	switch (n->kind) {
	case PNODE_MAP:
		return "a mapping";
	case PNODE_LIST:
		return "a list";
	case PNODE_NULL:
		return "null";
	default:
		return "a scalar";
	}
}

const char *pc_constant_text(const struct pnode *n, char *buf, size_t size)
{
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

bool pc_safe_path(const char *s)
{
	if (s[0] != '/')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("/._-+@", *s))
			return false;
	return true;
}

void pc_no_secrets(struct param_check *c, const struct pnode *n, const char *key)
{
	if (n->kind == PNODE_STRING && n->tmpl && template_uses_secrets(n->tmpl)) {
		pc_error(c, n->pos, "%s reads .User.Secrets: secrets may only be used in env", key);
		return;
	}
	if (n->kind == PNODE_MAP || n->kind == PNODE_LIST)
		for (uint32_t i = 0; i < n->len; i++)
			pc_no_secrets(c, n->children[i], key);
}

int pc_check_object(const struct policy *p, const struct object *o, struct diags *diags,
		    const char *code_type, pc_params_fn params_fn, const char *cluster_type,
		    pc_cluster_fn cluster_fn)
{
	struct param_check c = { .diags = diags };
	struct strbuf prefix = STRBUF_INIT;
	if (o->kind == KIND_SERVICE) {
		const struct service *s = (const struct service *)o;
		for (uint32_t i = 0; i < s->ncomponents; i++) {
			const struct component *comp = &s->components[i];
			if (!comp->code || !comp->code->type || strcmp(comp->code->type->s, code_type))
				continue;
			strbuf_reset(&prefix);
			strbuf_addf(&prefix, "%s: component '%s': params: ", object_describe(p, o),
				    comp->name ? comp->name->s : "?");
			c.prefix = strbuf_cstr(&prefix);
			params_fn(&c, comp->code->params, comp->code->pos);
		}
	} else if (o->kind == KIND_CLUSTER) {
		const struct cluster *cl = (const struct cluster *)o;
		if (cl->type && strcmp(cl->type->s, cluster_type) == 0) {
			strbuf_addf(&prefix, "%s: config: ", object_describe(p, o));
			c.prefix = strbuf_cstr(&prefix);
			cluster_fn(&c, cl);
		}
	}
	strbuf_release(&prefix);
	return c.errors ? -1 : 0;
}
