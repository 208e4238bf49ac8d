/* Diff of two states into a plan (reference §1.10, with cairn's order:
 * creates, updates and attaches dependency-first; detaches and deletes after,
 * in reverse order of what was running). */
#include "engine.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/vec.h"

#include <stdlib.h>
#include <string.h>

static const char *const verb_names[] = { "create", "update", "delete", "attach", "detach" };

const char *plan_verb_name(enum plan_verb v)
{
	return verb_names[v];
}

/* Dependency lists are sorted: a binary search keeps shared instances with
 * thousands of consumers cheap. */
static bool has_dep(const struct state_instance *si, const char *dep)
{
	uint32_t lo = 0, hi = si->ndeps;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(si->deps[mid], dep);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool hash_differs(const struct state_instance *a, const struct state_instance *b)
{
	if (!a->hash || !b->hash)
		return a->hash != b->hash;
	return strcmp(a->hash, b->hash) != 0;
}

/* The service instance a component belongs to: the key with "root" last. */
static char *parent_key(const char *key)
{
	const char *hash = strrchr(key, '#');
	size_t n = hash ? (size_t)(hash - key) : strlen(key);
	char *p = xmalloc(n + 6);
	memcpy(p, key, n);
	memcpy(p + n, "#root", 6);
	return p;
}

struct plan *plan_diff(const struct state *prev, const struct state *next)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	p->arena = arena_new();
	VEC(struct plan_action) acts = { 0 };
	struct map updated = MAP_INIT;
	VEC(char *) parents = { 0 };

	for (size_t i = 0; i < next->len; i++) {
		const struct state_instance *n = next->instances[i];
		const struct state_instance *o = prev ? state_get(prev, n->key) : NULL;
		if (o && o->ndeps && n->ndeps && hash_differs(o, n)) {
			map_put(&updated, n->key, strlen(n->key), (void *)n);
			if (strcmp(n->component, "root") != 0) {
				char *pk = parent_key(n->key);
				vec_push(&parents, pk);
				map_put(&updated, pk, strlen(pk), (void *)n);
			}
		}
	}
	for (size_t i = 0; i < next->len; i++) {
		const struct state_instance *n = next->instances[i];
		const struct state_instance *o = prev ? state_get(prev, n->key) : NULL;
		if (!n->ndeps)
			continue;
		const char *first = n->deps[0];
		if (!o || !o->ndeps) {
			struct plan_action a = { PLAN_CREATE, n->key, first };
			vec_push(&acts, a);
		} else if (map_get(&updated, n->key, strlen(n->key))) {
			struct plan_action a = { PLAN_UPDATE, n->key, first };
			vec_push(&acts, a);
		}
		for (uint32_t d = 0; d < n->ndeps; d++) {
			if (!o || !has_dep(o, n->deps[d])) {
				struct plan_action a = { PLAN_ATTACH, n->key, n->deps[d] };
				vec_push(&acts, a);
			}
		}
	}
	for (size_t i = prev ? prev->len : 0; i-- > 0;) {
		const struct state_instance *o = prev->instances[i];
		const struct state_instance *n = state_get(next, o->key);
		for (uint32_t d = o->ndeps; d-- > 0;) {
			if (!n || !has_dep(n, o->deps[d])) {
				struct plan_action a = { PLAN_DETACH, o->key, o->deps[d] };
				vec_push(&acts, a);
			}
		}
		if (o->ndeps && (!n || !n->ndeps)) {
			struct plan_action a = { PLAN_DELETE, o->key, o->deps[0] };
			vec_push(&acts, a);
		}
	}

	/* The plan must outlive both states: copy its strings. */
	p->len = acts.len;
	p->actions = arena_alloc(p->arena, (acts.len + 1) * sizeof(*p->actions));
	for (size_t i = 0; i < acts.len; i++) {
		p->actions[i].verb = acts.items[i].verb;
		p->actions[i].instance = arena_strdup(p->arena, acts.items[i].instance);
		p->actions[i].dependency = arena_strdup(p->arena, acts.items[i].dependency);
		p->count[acts.items[i].verb]++;
	}
	for (size_t i = 0; i < parents.len; i++)
		free(parents.items[i]);
	vec_release(&parents);
	map_release(&updated);
	vec_release(&acts);
	return p;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	arena_free(p->arena);
	free(p);
}
