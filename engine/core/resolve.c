/* Resolution: every dependency of a validated policy becomes a tree of
 * component instances (reference §1.6-1.8). Each dependency is resolved on its
 * own, in (namespace, name) order, into a list of contributions; a dependency
 * that fails leaves none. Contributions are then merged per instance key, and
 * instances whose dependencies disagree on parameters fail all of those
 * dependencies (errors are per dependency, never global). */
#include "engine.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/vec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One dependency's view of one instance. */
struct contrib {
	const struct istr *key;
	uint32_t dep;
	const struct istr *cluster, *ns, *contract, *context, *service, *component;
	const struct component *comp;
	const struct istr *params, *params_public, *discovery;
	const struct labels *labels; /* deduplicated, owned by the resolver */
	bool allow_ingress;
};

struct edge {
	const struct istr *from, *to;
	uint32_t dep;
};

struct rule_list {
	const struct rule **items;
	size_t len;
};

struct resolver {
	const struct policy *p;
	const struct users *users;
	struct acl *acl;
	unsigned flags;
	struct intern *in;
	struct resolution *r;
	struct map rules_by_ns;   /* namespace -> struct rule_list* */
	struct map labelsets;     /* label bytes -> struct labels* */
	struct map labels_only;   /* pnode* -> 1 (reads only labels) or 2 (reads more) */
	struct map params_cache;  /* (pnode*, deduplicated labels*) -> rendered params */
	VEC(struct contrib) contribs;
	VEC(struct edge) edges;
	VEC(struct labels *) owned_labels;
	struct strbuf sb, json;
	bool saw_secret;
	/* per dependency */
	uint32_t dep_index;
	struct arena *scratch;
	VEC(const char *) events;
	struct error err;
	struct pos fail_pos; /* of the template that failed to render */
	const char *(*identities)[2]; /* by key id: its instance and instanceId */
	size_t nidentities;
	const struct istr *k_cluster, *k_instance, *k_instance_id, *k_service, *k_root;
};

/* A resolution step that stops this dependency: 0 ok, -1 failed (reason in err). */
#define NODE_OK 0
#define NODE_FAIL -1

struct node {
	const struct dependency *dep;
	const struct user *user;
	const char *contract_locator;
	const char *ns;
	struct labels labels;
	int depth;
	const struct istr *arrival; /* key of the contract component that led here */
	struct dnode *dtree;        /* this service's discovery map */
	const struct istr **path;   /* service keys from the top */
	size_t npath;
};

static void event(struct resolver *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void event(struct resolver *rs, const char *fmt, ...)
{
	if (!(rs->flags & RESOLVE_EXPLAIN))
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = arena_vprintf(rs->r->arena, fmt, ap);
	va_end(ap);
	vec_push(&rs->events, msg);
}

static int fail(struct resolver *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct resolver *rs, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	free(rs->err.msg);
	rs->err.msg = strbuf_detach(&sb);
	return NODE_FAIL;
}

/* Replaces # and _ with - : how Aptomi derives instance names. */
static char *escape_name(struct arena *a, const char *s)
{
	char *e = arena_strdup(a, s);
	for (char *c = e; *c; c++)
		if (*c == '#' || *c == '_')
			*c = '-';
	return e;
}

static uint32_t fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static struct dnode *dnode_new(struct arena *a, const char *text)
{
	struct dnode *n = arena_alloc(a, sizeof(*n));
	n->text = text;
	return n;
}

static void dnode_put(struct arena *a, struct dnode *n, const struct istr *key, struct dnode *child)
{
	for (uint32_t i = 0; i < n->len; i++) {
		if (n->entries[i].key == key) {
			n->entries[i].child = child;
			return;
		}
	}
	if (n->len == n->cap) {
		uint32_t cap = n->cap ? n->cap * 2 : 4;
		struct dnode_entry *e = arena_alloc(a, cap * sizeof(*e));
		if (n->len)
			memcpy(e, n->entries, n->len * sizeof(*e));
		n->entries = e;
		n->cap = cap;
	}
	n->entries[n->len].key = key;
	n->entries[n->len].child = child;
	n->len++;
}

/* The dnode under key in n's own entries, created empty when absent. */
static struct dnode *dnode_child(struct arena *a, struct dnode *n, const struct istr *key)
{
	for (uint32_t i = 0; i < n->len; i++)
		if (n->entries[i].key == key)
			return n->entries[i].child;
	struct dnode *c = dnode_new(a, NULL);
	dnode_put(a, n, key, c);
	return c;
}

static const struct labels *labels_dedup(struct resolver *rs, const struct labels *ls)
{
	size_t bytes = ls->len * sizeof(*ls->items);
	const char *key = bytes ? (const char *)ls->items : "";
	struct labels *found = map_get(&rs->labelsets, key, bytes);
	if (found)
		return found;
	struct labels *copy = xcalloc(1, sizeof(*copy));
	labels_copy(copy, ls);
	vec_push(&rs->owned_labels, copy);
	map_put(&rs->labelsets, bytes ? (const char *)copy->items : "", bytes, copy);
	return copy;
}

/* Renders a parameter tree as canonical JSON into rs->json (with secret
 * values masked when `masked`), and, when dn is given, into a discovery node. */
static int render_tree(struct resolver *rs, const struct pnode *n,
		       const struct template_scope *scope, struct dnode *dn, const char *path,
		       bool masked)
{
	struct strbuf *json = &rs->json;
	switch (n->kind) {
	case PNODE_NULL:
		strbuf_adds(json, "null");
		return 0;
	case PNODE_INT:
		strbuf_addf(json, "%lld", (long long)n->integer);
		if (dn)
			dn->text = arena_printf(rs->scratch, "%lld", (long long)n->integer);
		return 0;
	case PNODE_FLOAT:
		strbuf_addf(json, "%.17g", n->real);
		if (dn)
			dn->text = arena_printf(rs->scratch, "%.17g", n->real);
		return 0;
	case PNODE_BOOL:
		strbuf_adds(json, n->boolean ? "true" : "false");
		if (dn)
			dn->text = n->boolean ? "true" : "false";
		return 0;
	case PNODE_STRING: {
		if (template_uses_secrets(n->tmpl)) {
			rs->saw_secret = true;
			if (masked) {
				strbuf_adds(json, "\"(secret)\"");
				return 0;
			}
		}
		size_t mark = rs->sb.len;
		if (template_render(n->tmpl, scope, &rs->sb, &rs->err) < 0) {
			strbuf_truncate(&rs->sb, mark);
			rs->fail_pos = n->pos;
			return error_wrap(&rs->err, "%s", path);
		}
		const char *text = rs->sb.buf + mark;
		strbuf_add_json_string(json, text);
		if (dn)
			dn->text = arena_strdup(rs->scratch, text);
		strbuf_truncate(&rs->sb, mark);
		return 0;
	}
	case PNODE_MAP:
		strbuf_addc(json, '{');
		for (uint32_t i = 0; i < n->len; i++) {
			if (i)
				strbuf_addc(json, ',');
			strbuf_add_json_string(json, n->keys[i]->s);
			strbuf_addc(json, ':');
			struct dnode *child = NULL;
			if (dn)
				child = dnode_child(rs->scratch, dn, n->keys[i]);
			char sub[256];
			snprintf(sub, sizeof(sub), "%s.%s", path, n->keys[i]->s);
			if (render_tree(rs, n->children[i], scope, child, sub, masked) < 0)
				return -1;
		}
		strbuf_addc(json, '}');
		return 0;
	case PNODE_LIST:
		strbuf_addc(json, '[');
		for (uint32_t i = 0; i < n->len; i++) {
			if (i)
				strbuf_addc(json, ',');
			char sub[256];
			snprintf(sub, sizeof(sub), "%s[%u]", path, i);
			/* List items are not addressable from .Discovery. */
			if (render_tree(rs, n->children[i], scope, NULL, sub, masked) < 0)
				return -1;
		}
		strbuf_addc(json, ']');
		return 0;
	}
	return 0;
}

/* Renders params or discovery: *out becomes interned JSON, and *out_public the
 * same with secrets masked (rendered a second time only when secrets are used). */
static int render_params(struct resolver *rs, const struct pnode *n,
			 const struct template_scope *scope, struct dnode *dn, const char *what,
			 const struct istr **out, const struct istr **out_public)
{
	strbuf_reset(&rs->json);
	rs->saw_secret = false;
	if (render_tree(rs, n, scope, dn, what, false) < 0)
		return -1;
	*out = intern(rs->in, rs->json.buf, rs->json.len);
	if (!out_public)
		return 0;
	*out_public = *out;
	if (rs->saw_secret) {
		strbuf_reset(&rs->json);
		if (render_tree(rs, n, scope, NULL, what, true) < 0)
			return -1;
		*out_public = intern(rs->in, rs->json.buf, rs->json.len);
	}
	return 0;
}

static bool pnode_reads_only_labels(const struct pnode *n)
{
	if (n->kind == PNODE_STRING)
		return template_reads_only_labels(n->tmpl);
	for (uint32_t i = 0; i < n->len && (n->kind == PNODE_MAP || n->kind == PNODE_LIST); i++)
		if (!pnode_reads_only_labels(n->children[i]))
			return false;
	return true;
}

/* Code params that read nothing but labels render the same for every use of
 * one label set: most dependencies of a shared instance hit this cache. */
static int render_code_params(struct resolver *rs, const struct pnode *n,
			      const struct template_scope *scope, const struct labels *deduped,
			      const struct istr **out, const struct istr **out_public)
{
	uintptr_t only = (uintptr_t)map_get(&rs->labels_only, (const char *)&n, sizeof(n));
	if (!only) {
		only = pnode_reads_only_labels(n) ? 1 : 2;
		const struct pnode **keyp = arena_alloc(rs->r->arena, sizeof(*keyp));
		*keyp = n;
		map_put(&rs->labels_only, (const char *)keyp, sizeof(*keyp), (void *)only);
	}
	if (only != 1)
		return render_params(rs, n, scope, NULL, "params", out, out_public);
	const void *key[2] = { n, deduped };
	const struct istr *hit = map_get(&rs->params_cache, (const char *)key, sizeof(key));
	if (hit) {
		*out = *out_public = hit;
		return 0;
	}
	if (render_params(rs, n, scope, NULL, "params", out, out_public) < 0)
		return -1;
	const void **stored = arena_alloc(rs->r->arena, sizeof(key));
	memcpy(stored, key, sizeof(key));
	map_put(&rs->params_cache, (const char *)stored, sizeof(key), (void *)*out);
	return 0;
}

static const struct rule_list *rules_of(struct resolver *rs, const char *ns)
{
	return map_get(&rs->rules_by_ns, ns, strlen(ns));
}

static int by_weight(const void *a, const void *b)
{
	const struct rule *x = *(const struct rule *const *)a, *y = *(const struct rule *const *)b;
	if (x->weight != y->weight)
		return x->weight < y->weight ? -1 : 1;
	return strcmp(x->obj.name->s, y->obj.name->s);
}

static void index_rules(struct resolver *rs)
{
	const struct policy *p = rs->p;
	for (size_t i = 0; i < p->len; i++) {
		const struct object *o = p->objects[i];
		if (o->kind != KIND_RULE)
			continue;
		struct rule_list *l = map_get(&rs->rules_by_ns, o->ns->s, o->ns->len);
		if (!l) {
			l = arena_alloc(rs->r->arena, sizeof(*l));
			map_put(&rs->rules_by_ns, o->ns->s, o->ns->len, l);
		}
		const struct rule **items = arena_alloc(rs->r->arena, (l->len + 1) * sizeof(*items));
		if (l->len)
			memcpy(items, l->items, l->len * sizeof(*items));
		items[l->len++] = (const struct rule *)o;
		l->items = items;
	}
	size_t it = 0;
	const struct map_slot *slot;
	while (map_next(&rs->rules_by_ns, &it, &slot)) {
		struct rule_list *l = slot->value;
		qsort(l->items, l->len, sizeof(*l->items), by_weight);
	}
}

static void describe_labels(struct strbuf *sb, const struct labels *ls)
{
	for (uint32_t i = 0; i < ls->len; i++)
		strbuf_addf(sb, "%s%s=%s", i ? ", " : "", ls->items[i].key->s, ls->items[i].value->s);
}

/* Rules of one namespace pass (reference §1.6 step 9): criteria see a snapshot
 * of the labels taken before the pass; change-labels apply to the node. */
static int apply_rules(struct resolver *rs, struct node *nd, const char *ns,
		       const struct service *svc, bool *reject, bool *allow_ingress)
{
	const struct rule_list *l = rules_of(rs, ns);
	if (!l)
		return 0;
	/* Criteria read the labels as they were before the pass; the copy is
	 * taken only when a rule is about to change them. */
	struct labels snapshot = LABELS_INIT;
	bool snapped = false;
	struct expr_service es = { svc->obj.name->s, svc->obj.ns->s, &svc->labels };
	struct expr_env env = { &nd->labels, &es };
	int rc = 0;
	for (size_t i = 0; i < l->len; i++) {
		const struct rule *rule = l->items[i];
		int m = criteria_eval(rule->criteria, &env, &rs->err);
		if (m < 0) {
			rc = fail(rs, "error while processing rule %s/%s on contract '%s': %s",
				  rule->obj.ns->s, rule->obj.name->s, nd->contract_locator,
				  error_msg(&rs->err));
			break;
		}
		if (!m)
			continue;
		*allow_ingress = rule->ingress != VERDICT_REJECT;
		if (rule->dependency == VERDICT_REJECT) {
			event(rs, "rule %s/%s (weight %lld) matched: rejects the dependency",
			      rule->obj.ns->s, rule->obj.name->s, (long long)rule->weight);
			*reject = true;
			rc = fail(rs, "rejected by rule %s/%s (weight %lld)", rule->obj.ns->s,
				  rule->obj.name->s, (long long)rule->weight);
			break;
		}
		if (rule->change_labels) {
			if (!snapped) {
				labels_copy(&snapshot, &nd->labels);
				env.labels = &snapshot;
				snapped = true;
			}
			label_ops_apply(rule->change_labels, &nd->labels);
			if (rs->flags & RESOLVE_EXPLAIN) {
				struct strbuf d = STRBUF_INIT;
				describe_labels(&d, &rule->change_labels->set);
				event(rs, "rule %s/%s (weight %lld) matched: set %s", rule->obj.ns->s,
				      rule->obj.name->s, (long long)rule->weight, d.len ? d.buf : "nothing");
				strbuf_release(&d);
			}
		} else {
			event(rs, "rule %s/%s (weight %lld) matched", rule->obj.ns->s,
			      rule->obj.name->s, (long long)rule->weight);
		}
	}
	labels_release(&snapshot);
	return rc;
}

/* The cluster a key is placed in: the node's `cluster` label, which must name
 * a cluster in namespace system. */
static int node_cluster(struct resolver *rs, const struct labels *ls, const struct istr **out)
{
	const struct istr *v = labels_get(ls, rs->k_cluster);
	if (!v)
		return fail(rs, "engine needs cluster defined, but 'cluster' label is not set");
	if (!policy_get(rs->p, KIND_CLUSTER, "system", v->s))
		return fail(rs, "cluster 'system/%s' doesn't exist in policy", v->s);
	*out = intern(rs->in, v->s, v->len);
	return 0;
}

static const struct istr *make_key(struct resolver *rs, const struct istr *cluster,
				   const struct istr *ns, const struct istr *contract,
				   const struct istr *context, const struct istr *component)
{
	struct strbuf *sb = &rs->sb;
	size_t mark = sb->len;
	const struct istr *parts[] = { cluster, ns, contract, context, component };
	for (size_t i = 0; i < 5; i++) {
		if (i)
			strbuf_addc(sb, '#');
		strbuf_add(sb, parts[i]->s, parts[i]->len);
	}
	const struct istr *k = intern(rs->in, sb->buf + mark, sb->len - mark);
	strbuf_truncate(sb, mark);
	return k;
}

static void add_contrib(struct resolver *rs, const struct istr *key, const struct istr *cluster,
			const struct contract *ct, const struct istr *context,
			const struct service *svc, const struct component *comp,
			const struct labels *deduped, bool allow_ingress)
{
	struct contrib c = { 0 };
	c.key = key;
	c.dep = rs->dep_index;
	c.cluster = cluster;
	c.ns = ct->obj.ns;
	c.contract = ct->obj.name;
	c.context = context;
	c.service = svc->obj.name;
	c.component = comp ? comp->name : rs->k_root;
	c.comp = comp;
	c.labels = deduped;
	c.allow_ingress = allow_ingress;
	vec_push(&rs->contribs, c);
}

static void add_edge(struct resolver *rs, const struct istr *from, const struct istr *to)
{
	struct edge e = { from, to, rs->dep_index };
	vec_push(&rs->edges, e);
}

static int resolve_node(struct resolver *rs, struct node *nd);

static char *format_u32(struct arena *a, uint32_t v)
{
	char buf[16], *p = buf + sizeof(buf);
	*--p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return arena_strndup(a, p, (size_t)(buf + sizeof(buf) - 1 - p));
}

/* `instance` and `instanceId` of a key: its escaped name without the cluster,
 * and FNV-1a 32 of the whole key. Shared instances are reached by many
 * dependencies, so both are computed once per key (indexed by interned id). */
static void put_identity(struct resolver *rs, struct dnode *n, const struct istr *key)
{
	if (key->id >= rs->nidentities) {
		size_t cap = rs->nidentities ? rs->nidentities : 1024;
		while (cap <= key->id)
			cap *= 2;
		rs->identities = xrealloc(rs->identities, cap * sizeof(*rs->identities));
		memset(rs->identities + rs->nidentities, 0,
		       (cap - rs->nidentities) * sizeof(*rs->identities));
		rs->nidentities = cap;
	}
	const char **id = rs->identities[key->id];
	if (!id[0]) {
		struct arena *a = rs->r->arena;
		id[0] = escape_name(a, strchr(key->s, '#') + 1);
		id[1] = format_u32(a, fnv1a32(key->s));
	}
	/* Fresh nodes: the tree of one dependency is never shared with another's. */
	dnode_put(rs->scratch, n, rs->k_instance, dnode_new(rs->scratch, id[0]));
	dnode_put(rs->scratch, n, rs->k_instance_id, dnode_new(rs->scratch, id[1]));
}

/* The discovery view of one component: instance, instanceId and service
 * overlaid on the service's discovery map. */
static struct dnode *discovery_view(struct resolver *rs, struct node *nd, struct dnode *service,
				    const struct istr *comp_key)
{
	struct dnode *view = dnode_new(rs->scratch, NULL);
	put_identity(rs, view, comp_key);
	dnode_put(rs->scratch, view, rs->k_service, service);
	view->fallback = nd->dtree;
	return view;
}

static int component_fail(struct resolver *rs, const struct service *svc,
			  const struct component *c)
{
	struct pos at = rs->fail_pos;
	return fail(rs, "%s:%u:%u: service %s/%s: component '%s': %s", at.file ? at.file : "?",
		    at.line, at.col, svc->obj.ns->s, svc->obj.name->s, c->name->s,
		    error_msg(&rs->err));
}

/* The components of a service instance. Labels do not change between them,
 * so the cluster and the label set are computed once by the caller. */
static int resolve_components(struct resolver *rs, struct node *nd, const struct contract *ct,
			      const struct istr *context, const struct service *svc,
			      const struct istr *service_key, const struct istr *cluster,
			      const struct labels *deduped, bool allow_ingress)
{
	struct template_scope scope = { 0 };
	scope.labels = &nd->labels;
	scope.user_name = nd->user->name->s;
	scope.user_labels = &nd->user->labels;
	scope.user_secrets = nd->user->has_secrets ? &nd->user->secrets : NULL;

	struct dnode *service = dnode_new(rs->scratch, NULL);
	put_identity(rs, service, service_key);

	for (uint32_t t = 0; t < svc->ncomponents; t++) {
		const struct component *c = &svc->components[svc->topo ? svc->topo[t] : t];
		if (c->criteria) {
			struct expr_env env = { &nd->labels, NULL };
			int m = criteria_eval(c->criteria, &env, &rs->err);
			if (m < 0)
				return fail(rs, "service %s/%s: component '%s': %s", svc->obj.ns->s,
					    svc->obj.name->s, c->name->s, error_msg(&rs->err));
			if (!m) {
				event(rs, "component '%s' of service %s/%s skipped: its criteria do not match",
				      c->name->s, svc->obj.ns->s, svc->obj.name->s);
				continue;
			}
		}
		const struct istr *key = make_key(rs, cluster, ct->obj.ns, ct->obj.name, context, c->name);
		add_edge(rs, service_key, key);
		for (uint32_t d = 0; d < c->ndeps; d++) {
			const struct istr *dk = make_key(rs, cluster, ct->obj.ns, ct->obj.name, context,
							 c->deps[d]);
			add_edge(rs, key, dk);
		}
		size_t mine = rs->contribs.len;
		add_contrib(rs, key, cluster, ct, context, svc, c, deduped, allow_ingress);

		struct dnode *entry = dnode_child(rs->scratch, nd->dtree, c->name);
		struct dnode *view = discovery_view(rs, nd, service, key);
		scope.discovery = view;
		const struct istr *disc = NULL, *params = NULL, *params_public = NULL;
		if (c->discovery) {
			/* Evaluated while its own entry is still empty, then published. */
			struct dnode *rendered = dnode_new(rs->scratch, NULL);
			if (render_params(rs, c->discovery, &scope, rendered, "discovery", &disc, NULL) < 0)
				return component_fail(rs, svc, c);
			for (uint32_t i = 0; i < rendered->len; i++)
				dnode_put(rs->scratch, entry, rendered->entries[i].key,
					  rendered->entries[i].child);
		}
		dnode_put(rs->scratch, entry, rs->k_instance, (struct dnode *)dnode_get(view, rs->k_instance));
		if (c->code && c->code->params) {
			if (render_code_params(rs, c->code->params, &scope, deduped, &params,
					       &params_public) < 0)
				return component_fail(rs, svc, c);
		}
		rs->contribs.items[mine].params = params;
		rs->contribs.items[mine].params_public = params_public;
		rs->contribs.items[mine].discovery = disc;

		if (c->contract) {
			event(rs, "component '%s' of service %s/%s uses contract '%s'", c->name->s,
			      svc->obj.ns->s, svc->obj.name->s, c->contract->s);
			struct node child = { 0 };
			child.dep = nd->dep;
			child.user = nd->user;
			child.contract_locator = c->contract->s;
			child.ns = ct->obj.ns->s;
			labels_copy(&child.labels, &nd->labels);
			child.depth = nd->depth + 1;
			child.arrival = key;
			child.dtree = entry;
			child.path = nd->path;
			child.npath = nd->npath;
			int rc = resolve_node(rs, &child);
			labels_release(&child.labels);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* The first context of ct whose criteria match the node's labels. */
static int match_context(struct resolver *rs, struct node *nd, const struct contract *ct,
			 const struct context **out)
{
	const char *ns = ct->obj.ns->s;
	struct expr_env env = { &nd->labels, NULL };
	for (uint32_t i = 0; i < ct->ncontexts; i++) {
		int m = criteria_eval(ct->contexts[i].criteria, &env, &rs->err);
		if (m < 0)
			return fail(rs, "error while trying to match context '%s' for contract %s/%s: %s",
				    ct->contexts[i].name->s, ns, ct->obj.name->s, error_msg(&rs->err));
		event(rs, "contract %s/%s: context '%s' %s", ns, ct->obj.name->s,
		      ct->contexts[i].name->s, m ? "matches" : "does not match");
		if (m) {
			*out = &ct->contexts[i];
			return 0;
		}
	}
	if (rs->flags & RESOLVE_EXPLAIN) {
		struct strbuf d = STRBUF_INIT;
		describe_labels(&d, &nd->labels);
		event(rs, "labels were: %s", d.buf ? d.buf : "(none)");
		strbuf_release(&d);
	}
	return fail(rs, "no context of contract %s/%s matches", ns, ct->obj.name->s);
}

/* The service context cx allocates: in the contract's namespace, and one
 * the node's user may consume. */
static int context_service(struct resolver *rs, const struct node *nd, const struct contract *ct,
			   const struct context *cx, const struct service **out)
{
	const char *ns = ct->obj.ns->s;
	const struct service *svc =
		(const struct service *)policy_find(rs->p, KIND_SERVICE, cx->alloc_service->s, ns);
	if (!svc)
		return fail(rs, "service '%s' of contract %s/%s context '%s' does not exist",
			    cx->alloc_service->s, ns, ct->obj.name->s, cx->name->s);
	if (svc->obj.ns != ct->obj.ns)
		return fail(rs, "service '%s' is not in the same namespace as contract %s/%s",
			    cx->alloc_service->s, ns, ct->obj.name->s);
	if (rs->acl && !acl_can_consume(rs->acl, nd->user, ns))
		return fail(rs, "user '%s' not allowed to consume service %s/%s", nd->dep->user->s, ns,
			    svc->obj.name->s);
	*out = svc;
	return 0;
}

/* The context's name plus every rendered allocation key: what decides
 * which consumers share an instance. */
static int allocation_key(struct resolver *rs, const struct node *nd, const struct contract *ct,
			  const struct context *cx, const struct istr **out)
{
	const char *ns = ct->obj.ns->s;
	struct template_scope scope = { 0 };
	scope.labels = &nd->labels;
	scope.user_name = nd->user->name->s;
	scope.user_labels = &nd->user->labels;
	scope.user_secrets = nd->user->has_secrets ? &nd->user->secrets : NULL;
	strbuf_reset(&rs->json);
	strbuf_adds(&rs->json, cx->name->s);
	for (uint32_t i = 0; i < cx->nkeys; i++) {
		strbuf_addc(&rs->json, '#');
		size_t start = rs->json.len;
		if (template_uses_secrets(cx->keys[i])) /* refused at apply; stored before that was */
			return fail(rs, "allocation key '%s' of contract %s/%s, context '%s' reads "
				    ".User.Secrets: secrets may not be part of an instance key",
				    template_text(cx->keys[i]), ns, ct->obj.name->s, cx->name->s);
		if (template_render(cx->keys[i], &scope, &rs->json, &rs->err) < 0)
			return fail(rs, "error while resolving allocation keys for contract %s/%s, context '%s': %s",
				    ns, ct->obj.name->s, cx->name->s, error_msg(&rs->err));
		/* '#' separates the parts of an instance key: inside one it would
		 * let "x#y"+"z" and "x"+"y#z" name the same instance. */
		if (memchr(rs->json.buf + start, '#', rs->json.len - start))
			return fail(rs, "allocation key '%s' of contract %s/%s, context '%s' renders to '%s': "
				    "'#' separates the parts of an instance key and may not appear in one",
				    template_text(cx->keys[i]), ns, ct->obj.name->s, cx->name->s,
				    rs->json.buf + start);
	}
	*out = intern(rs->in, rs->json.buf, rs->json.len);
	if (cx->nkeys)
		event(rs, "allocation keys of context '%s' resolve to '%s'", cx->name->s,
		      (*out)->s + cx->name->len + 1);
	return 0;
}

/* Adds service_key to the node's path of services; a service met again
 * is a cycle. */
static int enter_path(struct resolver *rs, struct node *nd, const struct istr *service_key)
{
	for (size_t i = 0; i < nd->npath; i++) {
		if (nd->path[i] == service_key) {
			struct strbuf cyc = STRBUF_INIT;
			for (size_t j = 0; j < nd->npath; j++)
				strbuf_addf(&cyc, "%s -> ", nd->path[j]->s);
			strbuf_adds(&cyc, service_key->s);
			fail(rs, "service cycle detected: %s", cyc.buf);
			strbuf_release(&cyc);
			return NODE_FAIL;
		}
	}
	const struct istr **path = arena_alloc(rs->scratch, (nd->npath + 1) * sizeof(*path));
	if (nd->npath)
		memcpy(path, nd->path, nd->npath * sizeof(*path));
	path[nd->npath] = service_key;
	nd->path = path;
	nd->npath++;
	return 0;
}

static int resolve_node(struct resolver *rs, struct node *nd)
{
	const struct contract *ct =
		(const struct contract *)policy_find(rs->p, KIND_CONTRACT, nd->contract_locator, nd->ns);
	if (!ct)
		return fail(rs, "contract '%s' does not exist in namespace %s", nd->contract_locator, nd->ns);
	const char *ns = ct->obj.ns->s;
	if (ct->change_labels)
		label_ops_apply(ct->change_labels, &nd->labels);
	const struct context *cx = NULL;
	if (match_context(rs, nd, ct, &cx) < 0)
		return NODE_FAIL;
	if (nd->depth == 0)
		rs->r->deps[rs->dep_index].context = arena_strdup(rs->r->arena, cx->name->s);
	const struct service *svc = NULL;
	if (context_service(rs, nd, ct, cx, &svc) < 0)
		return NODE_FAIL;
	if (cx->change_labels)
		label_ops_apply(cx->change_labels, &nd->labels);
	const struct istr *context = NULL;
	if (allocation_key(rs, nd, ct, cx, &context) < 0)
		return NODE_FAIL;

	bool reject = false, allow_ingress = true;
	if (apply_rules(rs, nd, ns, svc, &reject, &allow_ingress) < 0)
		return NODE_FAIL;
	if (strcmp(ns, "system") != 0 && apply_rules(rs, nd, "system", svc, &reject, &allow_ingress) < 0)
		return NODE_FAIL;

	const struct istr *cluster = NULL;
	if (node_cluster(rs, &nd->labels, &cluster) < 0)
		return NODE_FAIL;
	const struct istr *service_key = make_key(rs, cluster, ct->obj.ns, ct->obj.name, context, rs->k_root);
	if (enter_path(rs, nd, service_key) < 0)
		return NODE_FAIL;

	event(rs, "%scontract %s/%s, context '%s' -> service %s/%s, instance %s",
	      nd->depth ? "  " : "", ns, ct->obj.name->s, cx->name->s, ns, svc->obj.name->s,
	      service_key->s);
	if (nd->arrival)
		add_edge(rs, nd->arrival, service_key);
	size_t root = rs->contribs.len;
	const struct labels *deduped = labels_dedup(rs, &nd->labels);
	add_contrib(rs, service_key, cluster, ct, context, svc, NULL, deduped, allow_ingress);
	if (nd->depth == 0)
		rs->r->deps[rs->dep_index].root = (struct instance *)(uintptr_t)(root + 1);
	return resolve_components(rs, nd, ct, context, svc, service_key, cluster, deduped,
				  allow_ingress);
}

static void resolve_dependency(struct resolver *rs, uint32_t index)
{
	struct dep_result *dr = &rs->r->deps[index];
	const struct dependency *dep = dr->dep;
	size_t contribs_mark = rs->contribs.len, edges_mark = rs->edges.len;
	rs->dep_index = index;
	rs->events.len = 0;
	rs->scratch = arena_new_sized(16 * 1024);
	error_clear(&rs->err);

	int rc = 0;
	const struct user *user = users_find(rs->users, dep->user->s);
	dr->user = user;
	event(rs, "dependency %s of user '%s' on contract '%s'", dr->id, dep->user->s, dep->contract->s);
	if (!user) {
		rc = fail(rs, "dependency refers to non-existing user: %s", dep->user->s);
	} else {
		struct node nd = { 0 };
		nd.dep = dep;
		nd.user = user;
		nd.contract_locator = dep->contract->s;
		nd.ns = dep->obj.ns->s;
		/* User labels overwrite dependency labels (reference §1.5). */
		labels_copy(&nd.labels, &dep->labels);
		labels_add_all(&nd.labels, &user->labels);
		nd.dtree = dnode_new(rs->scratch, NULL);
		rc = resolve_node(rs, &nd);
		labels_release(&nd.labels);
	}
	if (rc < 0) {
		dr->resolved = false;
		dr->reason = arena_strdup(rs->r->arena, error_msg(&rs->err));
		dr->root = NULL;
		rs->contribs.len = contribs_mark;
		rs->edges.len = edges_mark;
		event(rs, "not resolved: %s", dr->reason);
	} else {
		dr->resolved = true;
		event(rs, "resolved");
	}
	if (rs->events.len) {
		dr->events = arena_alloc(rs->r->arena, rs->events.len * sizeof(*dr->events));
		memcpy(dr->events, rs->events.items, rs->events.len * sizeof(*dr->events));
		dr->nevents = (uint32_t)rs->events.len;
	}
	arena_free(rs->scratch);
	rs->scratch = NULL;
}

static int by_key(const void *a, const void *b)
{
	const struct instance *x = *(struct instance *const *)a, *y = *(struct instance *const *)b;
	return strcmp(x->key, y->key);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Dependency-first order: every instance after the instances it needs. */
static void order_visit(struct instance *in, uint8_t *mark, struct instance **out, size_t *n)
{
	if (mark[in->order])
		return;
	mark[in->order] = 1;
	for (uint32_t i = 0; i < in->nedges_out; i++)
		order_visit(in->edges_out[i], mark, out, n);
	out[(*n)++] = in;
}

/* Marks dependencies that disagree on an instance's params or discovery as
 * failed, naming the instance and the other dependency. */
static void find_conflicts(struct resolver *rs)
{
	/* Interned keys have dense ids: an array indexed by id beats hashing. */
	size_t *first = xcalloc(intern_count(rs->in) + 2, sizeof(*first)); /* contrib index + 1 */
	for (size_t i = 0; i < rs->contribs.len; i++) {
		struct contrib *c = &rs->contribs.items[i];
		size_t f = first[c->key->id];
		if (!f) {
			first[c->key->id] = i + 1;
			continue;
		}
		struct contrib *o = &rs->contribs.items[f - 1];
		const char *what = NULL;
		if (o->params != c->params && o->params && c->params)
			what = "code";
		else if (o->discovery != c->discovery && o->discovery && c->discovery)
			what = "discovery";
		if (!what)
			continue;
		struct dep_result *a = &rs->r->deps[o->dep], *b = &rs->r->deps[c->dep];
		if (a == b)
			continue;
		const char *msg = arena_printf(rs->r->arena,
			"conflicting %s parameters for component instance %s: dependencies %s and %s render different values",
			what, c->key->s, a->id, b->id);
		if (a->resolved) {
			a->resolved = false;
			a->reason = msg;
		}
		if (b->resolved) {
			b->resolved = false;
			b->reason = msg;
		}
	}
	free(first);
}

/* Same dependency reaching one instance twice with different params. */
static void find_self_conflicts(struct resolver *rs, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		for (size_t j = from; j < i; j++) {
			struct contrib *a = &rs->contribs.items[j], *b = &rs->contribs.items[i];
			if (a->key != b->key)
				continue;
			if ((a->params && b->params && a->params != b->params) ||
			    (a->discovery && b->discovery && a->discovery != b->discovery)) {
				struct dep_result *d = &rs->r->deps[a->dep];
				d->resolved = false;
				d->reason = arena_printf(rs->r->arena,
					"conflicting parameters for component instance %s within the dependency",
					a->key->s);
			}
		}
}

typedef VEC(struct instance *) instance_list;

/* The instances the contributions of resolved dependencies make, in the
 * order first met, each with what its contributions give: params (the
 * first), labels (all), the count of dependencies it serves. by_id: by
 * interned key id. */
static void merge_contributions(struct resolver *rs, struct instance **by_id, instance_list *list)
{
	struct resolution *r = rs->r;
	/* The label set last merged into each: most contributions to an
	 * instance share one deduplicated set. */
	const struct labels **merged = xcalloc(intern_count(rs->in) + 2, sizeof(*merged));
	for (size_t i = 0; i < rs->contribs.len; i++) {
		struct contrib *c = &rs->contribs.items[i];
		if (!r->deps[c->dep].resolved)
			continue;
		struct instance *in = by_id[c->key->id];
		if (!in) {
			in = arena_alloc(r->arena, sizeof(*in));
			in->key = c->key->s;
			in->cluster = c->cluster->s;
			in->ns = c->ns->s;
			in->contract = c->contract->s;
			in->context = c->context->s;
			in->service = c->service->s;
			in->component = c->component->s;
			in->root = c->comp == NULL;
			in->comp = c->comp;
			in->code_type = c->comp && c->comp->code ? c->comp->code->type->s : NULL;
			in->allow_ingress = true;
			map_put(&r->by_key, in->key, c->key->len, in);
			by_id[c->key->id] = in;
			vec_push(list, in);
		}
		if (!in->params) {
			in->params = c->params;
			in->params_public = c->params_public;
		}
		if (!in->discovery)
			in->discovery = c->discovery;
		if (merged[c->key->id] != c->labels) {
			labels_add_all(&in->labels, c->labels);
			merged[c->key->id] = c->labels;
		}
		in->allow_ingress = c->allow_ingress;
		/* Contributions of one dependency are contiguous: `order` remembers
		 * the last dependency counted (plus one) during this pass. */
		if (in->order != c->dep + 1) {
			in->ndeps++;
			in->order = c->dep + 1;
		}
	}
	free(merged);
}

/* Each instance's dependency list, now that its size is known; and each
 * dependency's root instance. */
static void list_dependencies(struct resolver *rs, struct instance **by_id,
			      const instance_list *list)
{
	struct resolution *r = rs->r;
	for (size_t i = 0; i < list->len; i++) {
		list->items[i]->deps = arena_alloc(r->arena, (list->items[i]->ndeps + 1) * sizeof(char *));
		list->items[i]->ndeps = 0;
		list->items[i]->order = 0;
	}
	for (size_t i = 0; i < rs->contribs.len; i++) {
		struct contrib *c = &rs->contribs.items[i];
		struct dep_result *dr = &r->deps[c->dep];
		if (!dr->resolved)
			continue;
		struct instance *in = by_id[c->key->id];
		if (in->order != c->dep + 1) {
			in->deps[in->ndeps++] = dr->id;
			in->order = c->dep + 1;
		}
		if (c->comp == NULL && dr->root == (struct instance *)(uintptr_t)(i + 1))
			dr->root = in;
	}
}

/* Each instance's edges out, deduplicated and sorted, and its sorted
 * dependency list. */
static void link_edges(struct resolver *rs, struct instance **by_id, const instance_list *list)
{
	struct resolution *r = rs->r;
	instance_list *outs = xcalloc(list->len ? list->len : 1, sizeof(*outs));
	for (size_t i = 0; i < list->len; i++)
		list->items[i]->order = (uint32_t)i;
	for (size_t i = 0; i < rs->edges.len; i++) {
		struct edge *e = &rs->edges.items[i];
		if (!r->deps[e->dep].resolved)
			continue;
		struct instance *from = by_id[e->from->id];
		struct instance *to = by_id[e->to->id];
		if (!from || !to)
			continue; /* a component skipped by its criteria */
		bool seen = false;
		for (size_t k = 0; k < outs[from->order].len; k++)
			seen |= outs[from->order].items[k] == to;
		if (!seen)
			vec_push(&outs[from->order], to);
	}
	for (size_t i = 0; i < list->len; i++) {
		struct instance *in = list->items[i];
		in->nedges_out = (uint32_t)outs[i].len;
		in->edges_out = arena_alloc(r->arena, (outs[i].len + 1) * sizeof(*in->edges_out));
		if (outs[i].len)
			memcpy(in->edges_out, outs[i].items, outs[i].len * sizeof(*in->edges_out));
		vec_release(&outs[i]);
		qsort(in->edges_out, in->nedges_out, sizeof(*in->edges_out), by_key);
		qsort(in->deps, in->ndeps, sizeof(*in->deps), by_string);
	}
	free(outs);
}

/* r->instances in a deterministic dependency-first order, roots visited by key. */
static void order_instances(struct resolution *r, const instance_list *list)
{
	struct instance **sorted = xmalloc((list->len + 1) * sizeof(*sorted));
	if (list->len)
		memcpy(sorted, list->items, list->len * sizeof(*sorted));
	qsort(sorted, list->len, sizeof(*sorted), by_key);
	uint8_t *mark = xcalloc(list->len + 1, 1);
	r->instances = arena_alloc(r->arena, (list->len + 1) * sizeof(*r->instances));
	size_t n = 0;
	for (size_t i = 0; i < list->len; i++)
		order_visit(sorted[i], mark, r->instances, &n);
	r->ninstances = n;
	for (size_t i = 0; i < n; i++)
		r->instances[i]->order = (uint32_t)i;
	free(mark);
	free(sorted);
}

static void build_instances(struct resolver *rs)
{
	instance_list list = { 0 };
	struct instance **by_id = xcalloc(intern_count(rs->in) + 2, sizeof(*by_id));
	merge_contributions(rs, by_id, &list);
	list_dependencies(rs, by_id, &list);
	link_edges(rs, by_id, &list);
	order_instances(rs->r, &list);
	free(by_id);
	vec_release(&list);
}

int resolve_policy(struct resolution **out, const struct policy *p, const struct users *users,
		   struct acl *acl, unsigned flags, struct error *err)
{
	*out = NULL;
	if (!p->validated)
		return error_set(err, "the policy must be validated before it is resolved");
	struct resolution *r = xcalloc(1, sizeof(*r));
	r->arena = arena_new_sized(64 * 1024);
	struct resolver rs = { 0 };
	rs.p = p;
	rs.users = users;
	rs.acl = acl;
	rs.flags = flags;
	rs.in = p->intern;
	rs.r = r;
	rs.k_cluster = intern_cstr(rs.in, "cluster");
	rs.k_instance = intern_cstr(rs.in, "instance");
	rs.k_instance_id = intern_cstr(rs.in, "instanceId");
	rs.k_service = intern_cstr(rs.in, "service");
	rs.k_root = intern_cstr(rs.in, "root");
	index_rules(&rs);

	r->ndeps = p->ndeps;
	r->deps = arena_alloc(r->arena, (p->ndeps + 1) * sizeof(*r->deps));
	for (size_t i = 0; i < p->ndeps; i++) {
		r->deps[i].dep = p->deps[i];
		r->deps[i].id = arena_printf(r->arena, "%s/%s", p->deps[i]->obj.ns->s, p->deps[i]->obj.name->s);
	}
	for (size_t i = 0; i < p->ndeps; i++) {
		size_t from = rs.contribs.len;
		resolve_dependency(&rs, (uint32_t)i);
		if (r->deps[i].resolved)
			find_self_conflicts(&rs, from, rs.contribs.len);
	}
	find_conflicts(&rs);
	for (size_t i = 0; i < r->ndeps; i++) {
		if (!r->deps[i].resolved)
			r->deps[i].root = NULL;
		else
			r->nresolved++;
	}
	build_instances(&rs);

	for (size_t i = 0; i < rs.owned_labels.len; i++) {
		labels_release(rs.owned_labels.items[i]);
		free(rs.owned_labels.items[i]);
	}
	vec_release(&rs.owned_labels);
	map_release(&rs.labelsets);
	map_release(&rs.labels_only);
	free(rs.identities);
	map_release(&rs.params_cache);
	map_release(&rs.rules_by_ns);
	vec_release(&rs.contribs);
	vec_release(&rs.edges);
	vec_release(&rs.events);
	strbuf_release(&rs.sb);
	strbuf_release(&rs.json);
	error_clear(&rs.err);
	*out = r;
	return 0;
}

void resolution_free(struct resolution *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ninstances; i++)
		labels_release(&r->instances[i]->labels);
	map_release(&r->by_key);
	arena_free(r->arena);
	free(r);
}

const struct dep_result *resolution_find_dep(const struct resolution *r, const char *id)
{
	for (size_t i = 0; i < r->ndeps; i++)
		if (strcmp(r->deps[i].id, id) == 0)
			return &r->deps[i];
	return NULL;
}

void resolution_stopped(const struct resolution *r, struct map *out)
{
	for (size_t i = 0; i < r->ndeps; i++)
		if (r->deps[i].dep && r->deps[i].dep->stopped)
			map_put(out, r->deps[i].id, strlen(r->deps[i].id), (void *)&r->deps[i]);
}

bool instance_serves(const struct instance *in, const char *dependency)
{
	for (uint32_t i = 0; i < in->ndeps; i++)
		if (strcmp(in->deps[i], dependency) == 0)
			return true;
	return false;
}

bool instance_stopped(const struct instance *in, const struct map *stopped)
{
	if (in->ndeps == 0 || stopped->len == 0)
		return false;
	for (uint32_t i = 0; i < in->ndeps; i++)
		if (!map_get(stopped, in->deps[i], strlen(in->deps[i])))
			return false;
	return true;
}
