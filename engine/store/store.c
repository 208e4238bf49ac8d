/* Backend-neutral store functions: pick a backend by location, dispatch, and
 * compute diffs between generations from two object listings. */
#include "store_backend.h"
#include "base/alloc.h"
#include "base/vec.h"

#include <stdlib.h>
#include <string.h>

static const struct store_backend *const backends[] = { &store_sqlite };

int store_open(struct store **out, const char *location, struct error *err)
{
	*out = NULL;
	if (!location || !*location)
		return error_set(err, "no state location given");
	if (strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0)
		return error_set(err, "cannot open state %s: postgres:// stores are not supported yet",
				 location);
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		if (backends[i]->accepts(location))
			return backends[i]->open(out, location, err);
	return error_set(err, "cannot open state %s: unknown kind of location", location);
}

void store_close(struct store *s)
{
	if (s)
		s->backend->close(s);
}

int store_begin(struct store *s, struct store_txn **out, struct error *err)
{
	return s->backend->begin(s, out, err);
}

void store_abort(struct store_txn *t)
{
	if (t)
		t->store->backend->abort(t);
}

int store_commit_generation(struct store_txn *t, const char *user, const char *verb,
			    const struct store_change *changes, size_t n, const char *state_json,
			    long long *generation, struct error *err)
{
	return t->store->backend->commit_generation(t, user, verb, changes, n, state_json,
						     generation, err);
}

int store_current_generation(struct store *s, long long *out, struct error *err)
{
	return s->backend->current_generation(s, out, err);
}

int store_list_objects(struct store *s, long long gen, store_object_fn fn, void *ctx,
		       struct error *err)
{
	return s->backend->list_objects(s, gen, fn, ctx, err);
}

int store_log(struct store *s, store_generation_fn fn, void *ctx, struct error *err)
{
	return s->backend->log(s, fn, ctx, err);
}

int store_load_state(struct store *s, long long gen, char **json, struct error *err)
{
	*json = NULL;
	if (gen <= 0)
		return 0;
	return s->backend->load_state(s, gen, json, err);
}

int store_record_action(struct store *s, const struct store_action *a, struct error *err)
{
	return s->backend->record_action(s, a, err);
}

int store_list_actions(struct store *s, long long gen, store_action_fn fn, void *ctx,
		       struct error *err)
{
	return s->backend->list_actions(s, gen, fn, ctx, err);
}

struct listed {
	char *kind, *ns, *name, *body;
};

typedef VEC(struct listed) listing;

static int collect(void *ctx, const char *kind, const char *ns, const char *name, const char *body)
{
	listing *l = ctx;
	struct listed o = { xstrdup(kind), xstrdup(ns), xstrdup(name), xstrdup(body) };
	vec_push(l, o);
	return 0;
}

static void listing_release(listing *l)
{
	for (size_t i = 0; i < l->len; i++) {
		free(l->items[i].kind);
		free(l->items[i].ns);
		free(l->items[i].name);
		free(l->items[i].body);
	}
	vec_release(l);
}

static int compare_ids(const struct listed *a, const struct listed *b)
{
	int c = strcmp(a->kind, b->kind);
	if (!c)
		c = strcmp(a->ns, b->ns);
	if (!c)
		c = strcmp(a->name, b->name);
	return c;
}

int store_diff(struct store *s, long long from, long long to, store_diff_fn fn, void *ctx,
	       struct error *err)
{
	long long current;
	if (store_current_generation(s, &current, err) < 0)
		return -1;
	if (from < 0 || to < 0 || from > current || to > current)
		return error_set(err, "generations go from 1 to %lld", current);
	listing a = { 0 }, b = { 0 };
	int rc = 0;
	if ((from && store_list_objects(s, from, collect, &a, err) < 0) ||
	    (to && store_list_objects(s, to, collect, &b, err) < 0)) {
		rc = -1;
		goto out;
	}
	/* Both listings are sorted by (kind, ns, name): merge them. */
	size_t i = 0, j = 0;
	while (rc == 0 && (i < a.len || j < b.len)) {
		int c = i == a.len ? 1 : j == b.len ? -1 : compare_ids(&a.items[i], &b.items[j]);
		if (c < 0) {
			rc = fn(ctx, a.items[i].kind, a.items[i].ns, a.items[i].name, a.items[i].body, NULL);
			i++;
		} else if (c > 0) {
			rc = fn(ctx, b.items[j].kind, b.items[j].ns, b.items[j].name, NULL, b.items[j].body);
			j++;
		} else {
			if (strcmp(a.items[i].body, b.items[j].body) != 0)
				rc = fn(ctx, a.items[i].kind, a.items[i].ns, a.items[i].name,
					a.items[i].body, b.items[j].body);
			i++;
			j++;
		}
	}
out:
	listing_release(&a);
	listing_release(&b);
	return rc;
}
