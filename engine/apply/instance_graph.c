/* The graph of a resolution as drivers plan with it (instance_graph.h). */
#include "instance_graph.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

void instance_graph_init(struct instance_graph *g, const struct resolution *r)
{
	g->n = r->ninstances;
	g->users = xcalloc(g->n ? g->n : 1, sizeof(*g->users));
	g->levels = xcalloc(g->n ? g->n : 1, sizeof(*g->levels));
	/* dependency-first order: what an instance needs has its level already */
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		int lv = -1;
		for (uint32_t e = 0; e < in->nedges_out; e++) {
			vec_push(&g->users[in->edges_out[e]->order], in);
			if (g->levels[in->edges_out[e]->order] > lv)
				lv = g->levels[in->edges_out[e]->order];
		}
		g->levels[i] = lv + 1;
	}
}

void instance_graph_release(struct instance_graph *g)
{
	for (size_t i = 0; i < g->n; i++)
		vec_release(&g->users[i]);
	free(g->users);
	free(g->levels);
	memset(g, 0, sizeof(*g));
}

char *instance_root_key(const char *key)
{
	const char *hash = strrchr(key, '#');
	struct strbuf sb = STRBUF_INIT;
	strbuf_add(&sb, key, hash ? (size_t)(hash - key) : strlen(key));
	strbuf_adds(&sb, "#root");
	return strbuf_detach(&sb);
}

static void consumer_roots(const struct instance_graph *g, const struct instance *in,
			   struct map *seen, instance_key_vec *roots)
{
	const instance_vec *u = &g->users[in->order];
	for (size_t i = 0; i < u->len; i++) {
		const struct instance *e = u->items[i];
		if (map_get(seen, e->key, strlen(e->key)))
			continue;
		map_put(seen, e->key, strlen(e->key), (void *)e);
		if (e->root)
			vec_push(roots, e->key);
		consumer_roots(g, e, seen, roots);
	}
}

void instance_consumer_roots(const struct instance_graph *g, const struct instance *in,
			     instance_key_vec *roots)
{
	struct map seen = MAP_INIT;
	consumer_roots(g, in, &seen, roots);
	map_release(&seen);
}

static void order_after(struct exec *x, const struct instance *in, const struct map *acts,
			struct map *seen, size_t me)
{
	for (uint32_t i = 0; i < in->nedges_out; i++) {
		const struct instance *e = in->edges_out[i];
		if (map_get(seen, e->key, strlen(e->key)))
			continue;
		map_put(seen, e->key, strlen(e->key), (void *)e);
		size_t *idx = map_get(acts, e->key, strlen(e->key));
		if (idx)
			exec_order(x, *idx, me);
		else
			order_after(x, e, acts, seen, me);
	}
}

void instance_order_after_needs(struct exec *x, const struct instance *in, const struct map *acts,
				size_t me)
{
	struct map seen = MAP_INIT;
	order_after(x, in, acts, &seen, me);
	map_release(&seen);
}
