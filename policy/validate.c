/* Whole-policy validation: references between objects (contracts, allocation
 * services, component dependencies), component cycles, where clusters and ACL
 * rules may live; computes each service's component order and the sorted
 * dependency list. Per-object checks (identifiers, types) belong to the loader. */
#include "policy.h"

#include "base/suggest.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSTEM_NS "system"

/* Appends " (did you mean 'x'?)" when an object of kind k in the namespace the
 * locator points to has a name close to the one asked for. */
static void add_suggestion(struct strbuf *sb, const struct policy *p, enum kind k,
			   const char *locator, const char *ns)
{
	const char *slash = strchr(locator, '/');
	const char *name = slash ? slash + 1 : locator;
	size_t nslen = slash ? (size_t)(slash - locator) : strlen(ns);
	const char *target_ns = slash ? locator : ns;
	const struct object *best = NULL;
	size_t limit = strlen(name) / 3 + 1;
	struct suggestion s;
	suggest_begin(&s, name, limit < 2 ? 2 : limit);
	for (size_t i = 0; i < p->len; i++) {
		const struct object *o = p->objects[i];
		if (o->kind != k || o->ns->len != nslen || memcmp(o->ns->s, target_ns, nslen) != 0)
			continue;
		if (suggest_offer(&s, o->name->s))
			best = o;
	}
	if (!best)
		return;
	if (slash)
		strbuf_addf(sb, " (did you mean '%s/%s'?)", best->ns->s, best->name->s);
	else
		strbuf_addf(sb, " (did you mean '%s'?)", best->name->s);
}

/* Reports a locator that does not resolve: "<kind> 'x' does not exist (did you mean 'y'?)". */
static int check_ref(const struct policy *p, struct diags *d, struct pos pos,
		     const struct object *owner, const char *prefix, enum kind k,
		     const struct istr *locator, const char *ns)
{
	if (policy_find(p, k, locator->s, ns))
		return 0;
	struct strbuf sb = STRBUF_INIT;
	add_suggestion(&sb, p, k, locator->s, ns);
	diags_add_at(d, pos, "%s %s/%s: %s%s '%s' does not exist%s", kind_name(owner->kind),
		     owner->ns->s, owner->name->s, prefix, kind_name(k), locator->s,
		     strbuf_cstr(&sb));
	strbuf_release(&sb);
	return -1;
}

/* Depth-first walk state for one service's components. */
struct walk {
	const struct service *svc;
	struct diags *diags;
	int32_t **edges;   /* per component: resolved dependency indices, -1 when unknown */
	uint8_t *state;    /* 0 unvisited, 1 on the current path, 2 done */
	uint32_t *path;
	uint32_t pathlen;
	uint32_t *order;
	uint32_t norder;
	int cycles;
};

static void walk_cycle(struct walk *w, uint32_t from, uint32_t dep_index)
{
	const struct component *c = w->svc->components;
	uint32_t to = (uint32_t)w->edges[from][dep_index];
	uint32_t start = 0;
	while (w->path[start] != to)
		start++;
	struct strbuf sb = STRBUF_INIT;
	for (uint32_t i = start; i < w->pathlen; i++)
		strbuf_addf(&sb, "%s -> ", c[w->path[i]].name->s);
	strbuf_adds(&sb, c[to].name->s);
	const struct object *o = &w->svc->obj;
	diags_add_at(w->diags, c[from].dep_pos ? c[from].dep_pos[dep_index] : c[from].pos,
		     "service %s/%s: component cycle: %s", o->ns->s, o->name->s, strbuf_cstr(&sb));
	strbuf_release(&sb);
	w->cycles++;
}

/* Post-order: a component comes after everything it depends on (Aptomi's
 * GetComponentsSortedTopologically), dependencies visited in listed order. */
static void walk_visit(struct walk *w, uint32_t i)
{
	const struct component *c = &w->svc->components[i];
	w->state[i] = 1;
	w->path[w->pathlen++] = i;
	for (uint32_t k = 0; k < c->ndeps; k++) {
		int32_t j = w->edges[i][k];
		if (j < 0)
			continue;
		if (w->state[j] == 1)
			walk_cycle(w, i, k);
		else if (w->state[j] == 0)
			walk_visit(w, (uint32_t)j);
	}
	w->pathlen--;
	w->state[i] = 2;
	w->order[w->norder++] = i;
}

static int find_component(const struct service *svc, const struct istr *name)
{
	for (uint32_t i = 0; i < svc->ncomponents; i++)
		if (svc->components[i].name == name)
			return (int)i;
	return -1;
}

static int validate_service(struct policy *p, struct service *svc, struct diags *d)
{
	const struct object *o = &svc->obj;
	uint32_t n = svc->ncomponents;
	int ret = 0;
	struct walk w = { .svc = svc, .diags = d };

	w.edges = xcalloc(n ? n : 1, sizeof(*w.edges));
	w.state = xcalloc(n ? n : 1, 1);
	w.path = xcalloc(n ? n : 1, sizeof(*w.path));
	w.order = xcalloc(n ? n : 1, sizeof(*w.order));

	for (uint32_t i = 0; i < n; i++) {
		const struct component *c = &svc->components[i];
		if (c->contract) {
			char prefix[200];
			snprintf(prefix, sizeof(prefix), "component %s: ", c->name->s);
			if (check_ref(p, d, c->pos, o, prefix, KIND_CONTRACT, c->contract, o->ns->s) < 0)
				ret = -1;
		}
		w.edges[i] = xcalloc(c->ndeps ? c->ndeps : 1, sizeof(**w.edges));
		for (uint32_t k = 0; k < c->ndeps; k++) {
			int j = find_component(svc, c->deps[k]);
			w.edges[i][k] = j;
			if (j >= 0)
				continue;
			/* Suggest the nearest component name of this service. */
			struct suggestion s;
			suggest_begin(&s, c->deps[k]->s, c->deps[k]->len / 3 + 1);
			for (uint32_t m = 0; m < n; m++)
				if (m != i)
					suggest_offer(&s, svc->components[m].name->s);
			const char *best = suggest_best(&s);
			struct strbuf sb = STRBUF_INIT;
			if (best)
				strbuf_addf(&sb, " (did you mean '%s'?)", best);
			diags_add_at(d, c->dep_pos ? c->dep_pos[k] : c->pos,
				     "service %s/%s: component %s: depends on '%s', which is not a "
				     "component of this service%s",
				     o->ns->s, o->name->s, c->name->s, c->deps[k]->s, strbuf_cstr(&sb));
			strbuf_release(&sb);
			ret = -1;
		}
	}

	for (uint32_t i = 0; i < n; i++)
		if (w.state[i] == 0)
			walk_visit(&w, i);

	if (w.cycles) {
		ret = -1;
	} else {
		/* Components never change once loaded, so a re-validation reuses the array. */
		if (!svc->topo)
			svc->topo = arena_alloc(p->arena, (n ? n : 1) * sizeof(*svc->topo));
		memcpy(svc->topo, w.order, n * sizeof(*svc->topo));
	}

	for (uint32_t i = 0; i < n; i++)
		free(w.edges[i]);
	free(w.edges);
	free(w.state);
	free(w.path);
	free(w.order);
	return ret;
}

static int validate_contract(const struct policy *p, const struct contract *ct, struct diags *d)
{
	int ret = 0;
	for (uint32_t i = 0; i < ct->ncontexts; i++) {
		const struct context *cx = &ct->contexts[i];
		/* An instance key is printed everywhere and names containers,
		 * networks and labels: a secret in it would be public. */
		for (uint32_t k = 0; k < cx->nkeys; k++)
			if (template_uses_secrets(cx->keys[k])) {
				diags_add_at(d, cx->pos,
					     "contract %s/%s: context %s: allocation key '%s' reads "
					     ".User.Secrets: secrets may not be part of an instance key "
					     "(it is printed and names containers and networks)",
					     ct->obj.ns->s, ct->obj.name->s, cx->name->s,
					     template_text(cx->keys[k]));
				ret = -1;
			}
		if (!cx->alloc_service)
			continue; /* the loader already reported a missing allocation */
		char prefix[200];
		snprintf(prefix, sizeof(prefix), "context %s: allocation: ", cx->name->s);
		if (check_ref(p, d, cx->pos, &ct->obj, prefix, KIND_SERVICE, cx->alloc_service,
			      ct->obj.ns->s) < 0)
			ret = -1;
	}
	return ret;
}

static int dependency_cmp(const void *a, const void *b)
{
	const struct dependency *x = *(struct dependency *const *)a;
	const struct dependency *y = *(struct dependency *const *)b;
	int c = strcmp(x->obj.ns->s, y->obj.ns->s);
	return c ? c : strcmp(x->obj.name->s, y->obj.name->s);
}

int policy_validate(struct policy *p, struct diags *diags)
{
	int ret = 0;
	size_t ndeps = 0;

	for (size_t i = 0; i < p->len; i++) {
		struct object *o = p->objects[i];
		switch (o->kind) {
		case KIND_SERVICE:
			if (validate_service(p, (struct service *)o, diags) < 0)
				ret = -1;
			break;
		case KIND_CONTRACT:
			if (validate_contract(p, (struct contract *)o, diags) < 0)
				ret = -1;
			break;
		case KIND_DEPENDENCY: {
			const struct dependency *dep = (const struct dependency *)o;
			ndeps++;
			if (dep->contract && check_ref(p, diags, o->pos, o, "", KIND_CONTRACT,
						       dep->contract, o->ns->s) < 0)
				ret = -1;
			if (dep->replica.on &&
			    check_ref(p, diags, o->pos, o, "replica of ", KIND_DEPENDENCY,
				      dep->replica.of, o->ns->s) < 0)
				ret = -1;
			else if (dep->replica.on &&
				 policy_find(p, KIND_DEPENDENCY, dep->replica.of->s, o->ns->s) == o) {
				diags_add_at(diags, o->pos, "dependency %s/%s: replica of itself",
					     o->ns->s, o->name->s);
				ret = -1;
			}
			break;
		}
		case KIND_CLUSTER:
			if (strcmp(o->ns->s, SYSTEM_NS) != 0) {
				diags_add_at(diags, o->pos,
					     "cluster %s/%s: clusters live in namespace " SYSTEM_NS,
					     o->ns->s, o->name->s);
				ret = -1;
			}
			break;
		case KIND_ACLRULE:
			/* Only system aclrules are ever evaluated: one elsewhere would be
			 * silently ignored, which is never what its author meant. */
			if (strcmp(o->ns->s, SYSTEM_NS) != 0) {
				diags_add_at(diags, o->pos,
					     "aclrule %s/%s: ACL rules live in namespace " SYSTEM_NS,
					     o->ns->s, o->name->s);
				ret = -1;
			}
			break;
		case KIND_DATASET: {
			const struct dataset *ds = (const struct dataset *)o;
			if (strcmp(o->ns->s, SYSTEM_NS) == 0) {
				diags_add_at(diags, o->pos,
					     "dataset %s/%s: datasets live in a team's namespace, not "
					     "in " SYSTEM_NS,
					     o->ns->s, o->name->s);
				ret = -1;
			}
			if (ds->build_dependency &&
			    check_ref(p, diags, o->pos, o, "build: ", KIND_DEPENDENCY,
				      ds->build_dependency, o->ns->s) < 0)
				ret = -1;
			break;
		}
		case KIND_RULE:
		case KIND_COUNT:
			break;
		}
	}

	/* The previous array is reused when it is large enough, so validating the
	 * same policy again does not grow its arena. */
	struct dependency **deps = p->deps;
	if (!deps || ndeps > p->ndeps)
		deps = arena_alloc(p->arena, (ndeps ? ndeps : 1) * sizeof(*deps));
	size_t k = 0;
	for (size_t i = 0; i < p->len; i++)
		if (p->objects[i]->kind == KIND_DEPENDENCY)
			deps[k++] = (struct dependency *)p->objects[i];
	qsort(deps, ndeps, sizeof(*deps), dependency_cmp);
	p->deps = deps;
	p->ndeps = ndeps;

	p->validated = ret == 0;
	return ret;
}
