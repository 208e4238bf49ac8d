/* The field table of each kind of policy object, and the pieces several
 * kinds share (labels, label operations, criteria, parameter trees): what
 * each key of a service, contract, dependency, rule, ACL rule or cluster
 * decodes to, with its per-object checks. The dataset's are in dataset.c. */
#include "policy.h"
#include "decode.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/parse.h"
#include "base/strbuf.h"
#include "base/suggest.h"
#include "base/vec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- shared pieces: labels, label operations, criteria, parameter trees ---- */

static void decode_labels_into(struct load *ld, struct labels *ls, const struct ynode *v,
			       const char *what)
{
	vec_push(&ld->pi->labels, ls);
	for (size_t i = 0; i < v->len; i++) {
		const struct ypair *pr = &v->pairs[i];
		int bad = check_ident(ld, pr->key_pos, "label key", pr->key);
		const struct istr *val = want_value(ld, pr->value, what, pr->key->s);
		if (val && val->len > LABEL_VALUE_MAX) {
			lerr(ld, pr->value->pos, "%s '%s' is %zu bytes: the limit is %d", what,
			     pr->key->s, (size_t)val->len, LABEL_VALUE_MAX);
			continue;
		}
		if (bad == 0 && val)
			labels_set(ls, pr->key, val);
	}
}

static void op_set(struct load *ld, void *target, const struct ynode *v)
{
	struct label_ops *ops = target;
	decode_labels_into(ld, &ops->set, v, "label");
}

static void op_remove(struct load *ld, void *target, const struct ynode *v)
{
	struct label_ops *ops = target;
	if (is_null(v))
		return;
	if (v->kind == YNODE_SCALAR) {
		lerr(ld, v->pos, "'remove' must be a mapping or a list of label keys, not %s",
		     ynode_describe(v));
		return;
	}
	ops->remove = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*ops->remove));
	for (size_t i = 0; i < v->len; i++) {
		const struct istr *key;
		struct pos pos;
		if (v->kind == YNODE_MAP) {
			key = v->pairs[i].key;
			pos = v->pairs[i].key_pos;
		} else {
			key = want_text(ld, v->items[i], "a label key");
			pos = v->items[i]->pos;
			if (!key)
				continue;
		}
		if (check_ident(ld, pos, "label key", key) == 0)
			ops->remove[ops->nremove++] = key;
	}
}

static const struct field label_ops_fields[] = {
	{ "set", V_MAP, false, op_set },
	{ "remove", V_ANY, false, op_remove },
};

static struct label_ops *decode_label_ops(struct load *ld, const struct ynode *v)
{
	struct label_ops *ops = arena_alloc(ld->p->arena, sizeof(*ops));
	DECODE(ld, v, label_ops_fields, ops);
	return ops;
}

/* Compiles one clause's expressions into *out / *count. */
static void decode_clause(struct load *ld, const struct ynode *v, struct expr ***out,
			  size_t *count)
{
	*out = xmalloc((v->len ? v->len : 1) * sizeof(**out));
	for (size_t i = 0; i < v->len; i++) {
		const struct istr *text = want_text(ld, v->items[i], "an expression");
		if (!text)
			continue;
		struct expr *e = NULL;
		struct error err = ERROR_INIT;
		if (expr_compile(&e, ld->in, text->s, &err) < 0) {
			lerr(ld, v->items[i]->pos, "%s", error_msg(&err));
			error_clear(&err);
			continue;
		}
		(*out)[(*count)++] = e;
	}
}

static void crit_all(struct load *ld, void *target, const struct ynode *v)
{
	struct criteria *c = target;
	decode_clause(ld, v, &c->all, &c->nall);
}

static void crit_any(struct load *ld, void *target, const struct ynode *v)
{
	struct criteria *c = target;
	decode_clause(ld, v, &c->any, &c->nany);
}

static void crit_none(struct load *ld, void *target, const struct ynode *v)
{
	struct criteria *c = target;
	decode_clause(ld, v, &c->none, &c->nnone);
}

static const struct field criteria_fields[] = {
	{ "require-all", V_LIST, false, crit_all },
	{ "require-any", V_LIST, false, crit_any },
	{ "require-none", V_LIST, false, crit_none },
};

static struct criteria *decode_criteria(struct load *ld, const struct ynode *v)
{
	struct criteria *c = xcalloc(1, sizeof(*c));
	/* Owned by the policy from now on, even if the object is refused. */
	vec_push(&ld->pi->criteria, c);
	DECODE(ld, v, criteria_fields, c);
	return c;
}

static int key_cmp(const void *a, const void *b)
{
	const struct ypair *x = *(const struct ypair *const *)a;
	const struct ypair *y = *(const struct ypair *const *)b;
	return strcmp(x->key->s, y->key->s);
}

/* A parameter tree: string leaves compiled as templates, map keys sorted. */
static struct pnode *build_pnode(struct load *ld, const struct ynode *n)
{
	struct arena *a = ld->p->arena;
	struct pnode *pn = arena_alloc(a, sizeof(*pn));
	pn->pos = n->pos;
	switch (n->kind) {
	case YNODE_SCALAR:
		switch (ynode_scalar(n, &pn->integer, &pn->real, &pn->boolean)) {
		case YSCALAR_NULL:
			pn->kind = PNODE_NULL;
			break;
		case YSCALAR_BOOL:
			pn->kind = PNODE_BOOL;
			break;
		case YSCALAR_INT:
			pn->kind = PNODE_INT;
			break;
		case YSCALAR_FLOAT:
			pn->kind = PNODE_FLOAT;
			break;
		case YSCALAR_STRING:
			pn->kind = PNODE_STRING;
			pn->tmpl = compile_template(ld, n);
			break;
		}
		break;
	case YNODE_MAP: {
		pn->kind = PNODE_MAP;
		pn->len = (uint32_t)n->len;
		const struct ypair **sorted = xmalloc((n->len ? n->len : 1) * sizeof(*sorted));
		for (size_t i = 0; i < n->len; i++)
			sorted[i] = &n->pairs[i];
		qsort(sorted, n->len, sizeof(*sorted), key_cmp);
		pn->keys = arena_alloc(a, (n->len ? n->len : 1) * sizeof(*pn->keys));
		pn->children = arena_alloc(a, (n->len ? n->len : 1) * sizeof(*pn->children));
		for (size_t i = 0; i < n->len; i++) {
			size_t mark = ctx_push(ld, "%s", sorted[i]->key->s);
			pn->keys[i] = sorted[i]->key;
			pn->children[i] = build_pnode(ld, sorted[i]->value);
			ctx_pop(ld, mark);
		}
		free(sorted);
		break;
	}
	case YNODE_SEQ:
		pn->kind = PNODE_LIST;
		pn->len = (uint32_t)n->len;
		pn->children = arena_alloc(a, (n->len ? n->len : 1) * sizeof(*pn->children));
		for (size_t i = 0; i < n->len; i++)
			pn->children[i] = build_pnode(ld, n->items[i]);
		break;
	}
	return pn;
}

/* A copy of a YAML tree in the policy arena (the parse arena is temporary). */
static struct ynode *ynode_copy(struct arena *a, const struct ynode *n)
{
	struct ynode *c = arena_alloc(a, sizeof(*c));
	*c = *n;
	if (n->kind == YNODE_MAP) {
		c->pairs = arena_alloc(a, (n->len ? n->len : 1) * sizeof(*c->pairs));
		for (size_t i = 0; i < n->len; i++) {
			c->pairs[i] = n->pairs[i];
			c->pairs[i].value = ynode_copy(a, n->pairs[i].value);
		}
	} else if (n->kind == YNODE_SEQ) {
		c->items = arena_alloc(a, (n->len ? n->len : 1) * sizeof(*c->items));
		for (size_t i = 0; i < n->len; i++)
			c->items[i] = ynode_copy(a, n->items[i]);
	}
	return c;
}

/* ---- kinds ---- */

/* service */

/* "'docker' or 'process'": the types a policy may name, for messages. */
static const char *types_text(struct load *ld, const char *const *names, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb, "%s'%s'", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	const char *text = arena_strdup(ld->p->arena, strbuf_cstr(&sb));
	strbuf_release(&sb);
	return text;
}

static bool type_known(const char *t, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t, names[i]) == 0)
			return true;
	return n == 0;
}

static void code_type(struct load *ld, void *target, const struct ynode *v)
{
	struct code *code = target;
	const struct istr *t = want_text(ld, v, "'type'");
	if (!t)
		return;
	const struct policy_types *types = ld->p->types;
	const char *const *names = types ? types->code : NULL;
	size_t n = types ? types->ncode : 0;
	if (strcmp(t->s, "helm") == 0 || strcmp(t->s, "aptomi/code/kubernetes-helm") == 0)
		lerr(ld, v->pos, "code type '%s' is Aptomi's Kubernetes/Helm type; cairn runs %s code",
		     t->s, n ? types_text(ld, names, n) : "other");
	else if (!type_known(t->s, names, n))
		lerr(ld, v->pos, "unknown code type '%s' (cairn runs %s)", t->s, types_text(ld, names, n));
	else
		code->type = t;
}

static void code_params(struct load *ld, void *target, const struct ynode *v)
{
	struct code *code = target;
	code->params = build_pnode(ld, v);
}

static const struct field code_fields[] = {
	{ "type", V_SCALAR, true, code_type },
	{ "params", V_MAP, false, code_params },
};

static void comp_name(struct load *ld, void *target, const struct ynode *v)
{
	struct component *c = target;
	const struct istr *s = want_text(ld, v, "'name'");
	if (s && check_ident(ld, v->pos, "component name", s) == 0)
		c->name = s;
}

static void comp_contract(struct load *ld, void *target, const struct ynode *v)
{
	struct component *c = target;
	c->contract = want_locator(ld, v, "contract");
}

static void comp_code(struct load *ld, void *target, const struct ynode *v)
{
	struct component *c = target;
	struct code *code = arena_alloc(ld->p->arena, sizeof(*code));
	code->pos = v->pos;
	DECODE(ld, v, code_fields, code);
	c->code = code;
}

static void comp_discovery(struct load *ld, void *target, const struct ynode *v)
{
	struct component *c = target;
	c->discovery = build_pnode(ld, v);
}

static void comp_dependencies(struct load *ld, void *target, const struct ynode *v)
{
	struct component *c = target;
	c->deps = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*c->deps));
	c->dep_pos = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*c->dep_pos));
	for (size_t i = 0; i < v->len; i++) {
		const struct istr *s = want_text(ld, v->items[i], "a component name");
		if (!s || check_ident(ld, v->items[i]->pos, "component name", s) < 0)
			continue;
		c->dep_pos[c->ndeps] = v->items[i]->pos;
		c->deps[c->ndeps++] = s;
	}
}

static void comp_criteria(struct load *ld, void *target, const struct ynode *v)
{
	struct component *c = target;
	c->criteria = decode_criteria(ld, v);
}

static const struct field component_fields[] = {
	{ "name", V_SCALAR, true, comp_name },
	{ "contract", V_SCALAR, false, comp_contract },
	{ "code", V_MAP, false, comp_code },
	{ "discovery", V_MAP, false, comp_discovery },
	{ "dependencies", V_LIST, false, comp_dependencies },
	{ "criteria", V_MAP, false, comp_criteria },
};

/* "component kafka" / "context prod" for the context of messages. */
static size_t push_named(struct load *ld, const char *what, const struct ynode *item)
{
	const struct ynode *name = ynode_get(item, "name");
	if (name && name->kind == YNODE_SCALAR && !is_null(name))
		return ctx_push(ld, "%s %s", what, name->str->s);
	return ld->ctx.len;
}

static void svc_labels(struct load *ld, void *target, const struct ynode *v)
{
	struct service *s = target;
	decode_labels_into(ld, &s->labels, v, "label");
}

static void svc_components(struct load *ld, void *target, const struct ynode *v)
{
	struct service *s = target;
	s->components = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*s->components));
	s->ncomponents = (uint32_t)v->len;
	for (size_t i = 0; i < v->len; i++) {
		const struct ynode *item = v->items[i];
		struct component *c = &s->components[i];
		c->pos = item->pos;
		if (item->kind != YNODE_MAP) {
			lerr(ld, item->pos, "a component must be a mapping, not %s",
			     ynode_describe(item));
			continue;
		}
		size_t mark = push_named(ld, "component", item);
		DECODE(ld, item, component_fields, c);
		ctx_pop(ld, mark);
		bool code = !is_null(ynode_get(item, "code"));
		bool contract = !is_null(ynode_get(item, "contract"));
		const struct ynode *nm = ynode_get(item, "name");
		const char *name = nm && nm->kind == YNODE_SCALAR ? nm->str->s : "";
		if (code && contract)
			lerr(ld, item->pos, "component '%s' has both code and contract", name);
		else if (!code && !contract)
			lerr(ld, item->pos, "component '%s' has neither code nor contract", name);
		for (size_t j = 0; j < i && c->name; j++) {
			if (s->components[j].name == c->name) {
				lerr(ld, item->pos, "duplicate component '%s' (first at line %u, column %u)",
				     c->name->s, s->components[j].pos.line, s->components[j].pos.col);
				break;
			}
		}
	}
}

static const struct field service_fields[] = {
	HEAD_FIELDS,
	{ "labels", V_MAP, false, svc_labels },
	{ "components", V_LIST, false, svc_components },
};

/* contract */

static void alloc_service(struct load *ld, void *target, const struct ynode *v)
{
	struct context *cx = target;
	cx->alloc_service = want_locator(ld, v, "service");
}

static void alloc_keys(struct load *ld, void *target, const struct ynode *v)
{
	struct context *cx = target;
	cx->keys = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*cx->keys));
	for (size_t i = 0; i < v->len; i++) {
		const struct ynode *item = v->items[i];
		if (!want_text(ld, item, "an allocation key"))
			continue;
		struct template *t = compile_template(ld, item);
		if (t)
			cx->keys[cx->nkeys++] = t;
	}
}

static const struct field allocation_fields[] = {
	{ "service", V_SCALAR, true, alloc_service },
	{ "keys", V_LIST, false, alloc_keys },
};

static void ctx_name(struct load *ld, void *target, const struct ynode *v)
{
	struct context *cx = target;
	const struct istr *s = want_text(ld, v, "'name'");
	if (s && check_ident(ld, v->pos, "context name", s) == 0)
		cx->name = s;
}

static void ctx_criteria(struct load *ld, void *target, const struct ynode *v)
{
	struct context *cx = target;
	cx->criteria = decode_criteria(ld, v);
}

static void ctx_change_labels(struct load *ld, void *target, const struct ynode *v)
{
	struct context *cx = target;
	cx->change_labels = decode_label_ops(ld, v);
}

static void ctx_allocation(struct load *ld, void *target, const struct ynode *v)
{
	DECODE(ld, v, allocation_fields, target);
}

static const struct field context_fields[] = {
	{ "name", V_SCALAR, true, ctx_name },
	{ "criteria", V_MAP, false, ctx_criteria },
	{ "change-labels", V_MAP, false, ctx_change_labels },
	{ "allocation", V_MAP, true, ctx_allocation },
};

static void contract_change_labels(struct load *ld, void *target, const struct ynode *v)
{
	struct contract *ct = target;
	ct->change_labels = decode_label_ops(ld, v);
}

static void contract_contexts(struct load *ld, void *target, const struct ynode *v)
{
	struct contract *ct = target;
	ct->contexts = arena_alloc(ld->p->arena, (v->len ? v->len : 1) * sizeof(*ct->contexts));
	ct->ncontexts = (uint32_t)v->len;
	for (size_t i = 0; i < v->len; i++) {
		const struct ynode *item = v->items[i];
		struct context *cx = &ct->contexts[i];
		cx->pos = item->pos;
		if (item->kind != YNODE_MAP) {
			lerr(ld, item->pos, "a context must be a mapping, not %s", ynode_describe(item));
			continue;
		}
		size_t mark = push_named(ld, "context", item);
		DECODE(ld, item, context_fields, cx);
		ctx_pop(ld, mark);
		for (size_t j = 0; j < i && cx->name; j++) {
			if (ct->contexts[j].name == cx->name) {
				lerr(ld, item->pos, "duplicate context '%s' (first at line %u, column %u)",
				     cx->name->s, ct->contexts[j].pos.line, ct->contexts[j].pos.col);
				break;
			}
		}
	}
}

static const struct field contract_fields[] = {
	HEAD_FIELDS,
	{ "change-labels", V_MAP, false, contract_change_labels },
	{ "contexts", V_LIST, false, contract_contexts },
};

/* dependency */

static void dep_user(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	d->user = want_text(ld, v, "'user'");
}

static void dep_contract(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	d->contract = want_locator(ld, v, "contract");
}

static void dep_labels(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	decode_labels_into(ld, &d->labels, v, "label");
}

/* Exactly n decimal digits at s. */
static bool read_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* RFC 3339: 2026-12-01T00:00:00Z, optional fraction, Z or +hh:mm offset. */
static bool parse_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	if (!read_digits(s, 4, &y) || s[4] != '-' || !read_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !read_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !read_digits(s + 11, 2, &h) || s[13] != ':' || !read_digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !read_digits(s + 17, 2, &sec))
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int sign = 0;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if ((*p == '+' || *p == '-') && read_digits(p + 1, 2, &oh) && p[3] == ':' &&
		   read_digits(p + 4, 2, &om) && p[6] == '\0') {
		sign = *p == '+' ? 1 : -1;
	} else {
		return false;
	}
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return false;
	struct tm tm = { 0 };
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	int64_t t = (int64_t)timegm(&tm);
	*out = t - sign * (int64_t)(oh * 3600 + om * 60);
	return true;
}

int64_t dependency_deadline(const struct dependency *d, int64_t changed)
{
	if (d->pinned)
		return 0;
	int64_t deadline = d->expires;
	if (d->ttl && changed && (!deadline || changed + d->ttl < deadline))
		deadline = changed + d->ttl;
	return deadline;
}

bool policy_parse_time(const char *s, int64_t *out)
{
	return parse_rfc3339(s, out);
}


static void dep_expires(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	const struct istr *s = want_text(ld, v, "'expires'");
	if (s && !parse_rfc3339(s->s, &d->expires))
		lerr(ld, v->pos, "expires '%s' is not an RFC 3339 time (like 2026-12-01T00:00:00Z)",
		     s->s);
}

static void dep_ttl(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	int64_t secs = 0;
	const struct istr *s = want_text(ld, v, "'ttl'");
	if (!s)
		return;
	if (ynode_scalar(v, &secs, NULL, NULL) != YSCALAR_INT && parse_duration_seconds(s->s, &secs) < 0) {
		lerr(ld, v->pos,
		     "ttl '%s' is not a duration (like 90m, 36h, 7d or a number of seconds)", s->s);
		return;
	}
	if (secs <= 0) {
		lerr(ld, v->pos, "ttl must be positive, not '%s'", s->s);
		return;
	}
	d->ttl = secs;
}

void want_bool(struct load *ld, const struct ynode *v, const char *name, bool *out)
{
	bool b = false;
	if (v->kind != YNODE_SCALAR || ynode_scalar(v, NULL, NULL, &b) != YSCALAR_BOOL) {
		lerr(ld, v->pos, "%s must be true or false, not %s", name, ynode_describe(v));
		return;
	}
	*out = b;
}

int want_time_of_day(struct load *ld, const struct ynode *v, int *minute)
{
	const char *s = v->str->s;
	bool digits = strlen(s) == 5 && s[2] == ':';
	for (int i = 0; digits && i < 5; i++)
		digits = i == 2 || (s[i] >= '0' && s[i] <= '9');
	int h = digits ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
	int m = digits ? (s[3] - '0') * 10 + (s[4] - '0') : -1;
	if (!digits || h > 23 || m > 59) {
		lerr(ld, v->pos, "schedule must be a time of day \"HH:MM\" (00:00 to 23:59), not '%s'",
		     s);
		return -1;
	}
	*minute = h * 60 + m;
	return 0;
}

static void s3_endpoint(struct load *ld, void *target, const struct ynode *v)
{
	struct s3_location *d = target;
	const struct istr *s = want_text(ld, v, "'endpoint'");
	if (s && strncmp(s->s, "http://", 7) != 0 && strncmp(s->s, "https://", 8) != 0)
		lerr(ld, v->pos, "endpoint must be https://host[:port] (or http:// for a local server), "
				 "not '%s'",
		     s->s);
	else if (s && strchr(s->s, '@'))
		lerr(ld, v->pos, "endpoint holds credentials: give 'access_key_file' and "
				 "'secret_key_file' instead");
	else
		d->endpoint = s;
}

static void s3_bucket(struct load *ld, void *target, const struct ynode *v)
{
	struct s3_location *d = target;
	const struct istr *s = want_text(ld, v, "'bucket'");
	if (s && (s->len < 3 || s->len > 63 || strspn(s->s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != s->len))
		lerr(ld, v->pos, "bucket must be an S3 bucket name (3 to 63 lower-case letters, digits, "
				 "'.' and '-'), not '%s'",
		     s->s);
	else
		d->bucket = s;
}

static void s3_prefix(struct load *ld, void *target, const struct ynode *v)
{
	((struct s3_location *)target)->prefix = want_text(ld, v, "'prefix'");
}

static void s3_region(struct load *ld, void *target, const struct ynode *v)
{
	((struct s3_location *)target)->region = want_text(ld, v, "'region'");
}

static void s3_access_key_file(struct load *ld, void *target, const struct ynode *v)
{
	((struct s3_location *)target)->access_key_file = want_text(ld, v, "'access_key_file'");
}

static void s3_secret_key_file(struct load *ld, void *target, const struct ynode *v)
{
	((struct s3_location *)target)->secret_key_file = want_text(ld, v, "'secret_key_file'");
}

static const struct field s3_fields[] = {
	{ "endpoint", V_SCALAR, true, s3_endpoint },
	{ "bucket", V_SCALAR, true, s3_bucket },
	{ "prefix", V_SCALAR, false, s3_prefix },
	{ "region", V_SCALAR, false, s3_region },
	{ "access_key_file", V_SCALAR, true, s3_access_key_file },
	{ "secret_key_file", V_SCALAR, true, s3_secret_key_file },
};

void decode_s3_location(struct load *ld, struct s3_location *out, const struct ynode *v)
{
	DECODE(ld, v, s3_fields, out);
}

static void backup_store_s3(struct load *ld, void *target, const struct ynode *v)
{
	decode_s3_location(ld, &((struct dependency *)target)->backup.s3, v);
}

static const struct field backup_store_fields[] = {
	{ "s3", V_MAP, true, backup_store_s3 },
};

static void backup_store(struct load *ld, void *target, const struct ynode *v)
{
	DECODE(ld, v, backup_store_fields, target);
}

static void backup_keep(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	ynode_scalar(v, &d->backup.keep, NULL, NULL);
	if (d->backup.keep < 1 || d->backup.keep > 1000)
		lerr(ld, v->pos, "keep must be from 1 to 1000, not %lld", (long long)d->backup.keep);
}

static void backup_schedule(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	d->backup.scheduled = want_time_of_day(ld, v, &d->backup.schedule_minute) == 0;
}

static const struct field dep_backup_fields[] = {
	{ "keep", V_INT, false, backup_keep },
	{ "schedule", V_SCALAR, false, backup_schedule },
	{ "store", V_MAP, false, backup_store },
};

/* backup: {keep: N, schedule: "HH:MM"}: how many of its backups are kept,
 * and when the server takes one */
static void dep_backup(struct load *ld, void *target, const struct ynode *v)
{
	DECODE(ld, v, dep_backup_fields, target);
}

char *dependency_replica_of(const struct dependency *d)
{
	struct strbuf sb = STRBUF_INIT;
	if (strchr(d->replica.of->s, '/'))
		strbuf_adds(&sb, d->replica.of->s);
	else
		strbuf_addf(&sb, "%s/%s", d->obj.ns->s, d->replica.of->s);
	return strbuf_detach(&sb);
}

static void replica_of(struct load *ld, void *target, const struct ynode *v)
{
	((struct dependency *)target)->replica.of = want_locator(ld, v, "of");
}

static void replica_backup(struct load *ld, void *target, const struct ynode *v)
{
	const struct istr *id = want_text(ld, v, "backup");
	if (id && (!id->len || id->s[0] == '.' || strchr(id->s, '/')))
		lerr(ld, v->pos, "backup must be a backup id (cairn backup list shows them), not '%s'",
		     id->s);
	((struct dependency *)target)->replica.backup = id;
}

static const struct field dep_replica_fields[] = {
	{ "of", V_SCALAR, true, replica_of },
	{ "backup", V_SCALAR, false, replica_backup },
};

/* replica: {of: NAMESPACE/NAME, backup: ID}: its instances are made from a
 * backup of that dependency (the newest, or ID) */
static void dep_replica(struct load *ld, void *target, const struct ynode *v)
{
	struct dependency *d = target;
	DECODE(ld, v, dep_replica_fields, target);
	d->replica.on = d->replica.of != NULL;
}

static void dep_pinned(struct load *ld, void *target, const struct ynode *v)
{
	want_bool(ld, v, "pinned", &((struct dependency *)target)->pinned);
}

static void dep_stopped(struct load *ld, void *target, const struct ynode *v)
{
	want_bool(ld, v, "stopped", &((struct dependency *)target)->stopped);
}

static const struct field dependency_fields[] = {
	HEAD_FIELDS,
	{ "user", V_SCALAR, true, dep_user },
	{ "contract", V_SCALAR, true, dep_contract },
	{ "labels", V_MAP, false, dep_labels },
	{ "expires", V_SCALAR, false, dep_expires },
	{ "ttl", V_SCALAR, false, dep_ttl },
	{ "pinned", V_SCALAR, false, dep_pinned },
	{ "stopped", V_SCALAR, false, dep_stopped },
	{ "backup", V_MAP, false, dep_backup },
	{ "replica", V_MAP, false, dep_replica },
};

/* rule */

static int64_t read_weight(struct load *ld, const struct ynode *v)
{
	int64_t w = 0;
	ynode_scalar(v, &w, NULL, NULL);
	if (w < 0) {
		lerr(ld, v->pos, "weight must be 0 or more, not %lld", (long long)w);
		return 0;
	}
	return w;
}

static enum rule_verdict read_verdict(struct load *ld, const struct ynode *v, const char *what)
{
	const struct istr *s = want_text(ld, v, what);
	if (!s)
		return VERDICT_NONE;
	if (strcmp(s->s, "allow") == 0)
		return VERDICT_ALLOW;
	if (strcmp(s->s, "reject") == 0)
		return VERDICT_REJECT;
	lerr(ld, v->pos, "%s must be 'allow' or 'reject', not '%s'", what, s->s);
	return VERDICT_NONE;
}

static void act_change_labels(struct load *ld, void *target, const struct ynode *v)
{
	struct rule *r = target;
	r->change_labels = decode_label_ops(ld, v);
}

static void act_dependency(struct load *ld, void *target, const struct ynode *v)
{
	struct rule *r = target;
	r->dependency = read_verdict(ld, v, "dependency");
}

static void act_ingress(struct load *ld, void *target, const struct ynode *v)
{
	struct rule *r = target;
	r->ingress = read_verdict(ld, v, "ingress");
}

static const struct field rule_action_fields[] = {
	{ "change-labels", V_MAP, false, act_change_labels },
	{ "dependency", V_SCALAR, false, act_dependency },
	{ "ingress", V_SCALAR, false, act_ingress },
};

static void rule_weight(struct load *ld, void *target, const struct ynode *v)
{
	struct rule *r = target;
	r->weight = read_weight(ld, v);
}

static void rule_criteria(struct load *ld, void *target, const struct ynode *v)
{
	struct rule *r = target;
	r->criteria = decode_criteria(ld, v);
}

/* At least one action that means something. */
static bool has_action(const struct ynode *v, const struct field *fields, size_t n)
{
	for (size_t i = 0; i < v->len; i++)
		for (size_t k = 0; k < n; k++)
			if (strcmp(v->pairs[i].key->s, fields[k].key) == 0 && !is_null(v->pairs[i].value))
				return true;
	return false;
}

static void rule_actions(struct load *ld, void *target, const struct ynode *v)
{
	DECODE(ld, v, rule_action_fields, target);
	if (!has_action(v, rule_action_fields, sizeof(rule_action_fields) / sizeof(*rule_action_fields)))
		lerr(ld, v->pos, "no action (expected change-labels, dependency or ingress)");
}

static const struct field rule_fields[] = {
	HEAD_FIELDS,
	{ "weight", V_INT, false, rule_weight },
	{ "criteria", V_MAP, false, rule_criteria },
	{ "actions", V_MAP, true, rule_actions },
};

/* aclrule */

static void acl_add_role(struct load *ld, void *target, const struct ynode *v)
{
	struct aclrule *r = target;
	if (v->len == 0) {
		lerr(ld, v->pos, "no role (expected domain-admin, namespace-admin or service-consumer)");
		return;
	}
	r->grants = arena_alloc(ld->p->arena, v->len * sizeof(*r->grants));
	for (size_t i = 0; i < v->len; i++) {
		const struct ypair *pr = &v->pairs[i];
		enum role role;
		if (role_parse(pr->key->s, &role) < 0 || role == ROLE_NOBODY) {
			static const char *const grantable[] = { "domain-admin", "namespace-admin",
								 "service-consumer" };
			const char *near = suggest_nearest(pr->key->s, grantable, 3);
			if (near)
				lerr(ld, pr->key_pos, "unknown role '%s' (did you mean '%s'?)",
				     pr->key->s, near);
			else
				lerr(ld, pr->key_pos,
				     "unknown role '%s' (expected domain-admin, namespace-admin or "
				     "service-consumer)",
				     pr->key->s);
			continue;
		}
		const struct istr *list = want_value(ld, pr->value, "role", pr->key->s);
		if (!list)
			continue;
		struct role_grant *g = &r->grants[r->ngrants];
		g->role = role;
		size_t count = 1;
		for (const char *c = list->s; *c; c++)
			count += *c == ',';
		g->namespaces = arena_alloc(ld->p->arena, count * sizeof(*g->namespaces));
		bool bad = false;
		const char *s = list->s;
		for (;;) {
			const char *e = strchr(s, ',');
			const char *end = e ? e : s + strlen(s);
			const char *b = s;
			while (b < end && (*b == ' ' || *b == '\t'))
				b++;
			while (end > b && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			const struct istr *ns = intern(ld->in, b, (size_t)(end - b));
			if (ns->len == 1 && ns->s[0] == '*') {
				g->all = true;
			} else if (!is_ident(ns)) {
				lerr(ld, pr->value->pos, "invalid namespace '%s' for role %s", ns->s,
				     pr->key->s);
				bad = true;
			} else {
				g->namespaces[g->nnamespaces++] = ns;
			}
			if (!e)
				break;
			s = e + 1;
		}
		if (!bad)
			r->ngrants++;
	}
}

static const struct field aclrule_action_fields[] = {
	{ "add-role", V_MAP, true, acl_add_role },
};

static void acl_weight(struct load *ld, void *target, const struct ynode *v)
{
	struct aclrule *r = target;
	r->weight = read_weight(ld, v);
}

static void acl_criteria(struct load *ld, void *target, const struct ynode *v)
{
	struct aclrule *r = target;
	r->criteria = decode_criteria(ld, v);
}

static void acl_actions(struct load *ld, void *target, const struct ynode *v)
{
	DECODE(ld, v, aclrule_action_fields, target);
}

static const struct field aclrule_fields[] = {
	HEAD_FIELDS,
	{ "weight", V_INT, false, acl_weight },
	{ "criteria", V_MAP, false, acl_criteria },
	{ "actions", V_MAP, true, acl_actions },
};

/* cluster */

static void cluster_type(struct load *ld, void *target, const struct ynode *v)
{
	struct cluster *c = target;
	const struct istr *t = want_text(ld, v, "'type'");
	if (!t)
		return;
	const struct policy_types *types = ld->p->types;
	const char *const *names = types ? types->cluster : NULL;
	size_t n = types ? types->ncluster : 0;
	if (strcmp(t->s, "kubernetes") == 0)
		lerr(ld, v->pos, "cluster type 'kubernetes' is Aptomi's Kubernetes type; cairn runs %s "
				 "clusters",
		     n ? types_text(ld, names, n) : "other");
	else if (!type_known(t->s, names, n))
		lerr(ld, v->pos, "unknown cluster type '%s' (cairn runs %s)", t->s,
		     types_text(ld, names, n));
	else
		c->type = t;
}

static void cluster_labels(struct load *ld, void *target, const struct ynode *v)
{
	struct cluster *c = target;
	decode_labels_into(ld, &c->labels, v, "label");
}

static void cluster_config(struct load *ld, void *target, const struct ynode *v)
{
	struct cluster *c = target;
	if (!is_null(v))
		c->config = ynode_copy(ld->p->arena, v);
}

static const struct field cluster_fields[] = {
	HEAD_FIELDS,
	{ "type", V_SCALAR, true, cluster_type },
	{ "labels", V_MAP, false, cluster_labels },
	{ "config", V_ANY, true, cluster_config },
};

#define TABLE(type, f) (&(const struct kind_table){ sizeof(struct type), f, sizeof(f) / sizeof(*(f)), NULL })

const struct kind_table *const kind_tables[KIND_COUNT] = {
	[KIND_SERVICE] = TABLE(service, service_fields),
	[KIND_CONTRACT] = TABLE(contract, contract_fields),
	[KIND_DEPENDENCY] = TABLE(dependency, dependency_fields),
	[KIND_RULE] = TABLE(rule, rule_fields),
	[KIND_ACLRULE] = TABLE(aclrule, aclrule_fields),
	[KIND_CLUSTER] = TABLE(cluster, cluster_fields),
	[KIND_DATASET] = &dataset_table,
};
