/* The policy's objects: the names of kinds and roles, and the store of
 * objects by (kind, namespace, name). The loader that fills it is load.c;
 * the field table of each kind is kinds.c (datasets in dataset.c); checks
 * that need the whole policy are in validate.c. */
#include "policy.h"
#include "decode.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct policy_impl *impl_of(struct policy *p)
{
	return (struct policy_impl *)p;
}

const char *const kind_names[KIND_COUNT] = {
	"service", "contract", "dependency", "rule", "aclrule", "cluster", "dataset",
};

const char *kind_name(enum kind k)
{
	return (unsigned)k < KIND_COUNT ? kind_names[k] : "unknown";
}

int kind_parse(const char *s, enum kind *out)
{
	for (int k = 0; k < KIND_COUNT; k++) {
		if (strcmp(s, kind_names[k]) == 0) {
			*out = (enum kind)k;
			return 0;
		}
	}
	return -1;
}

static const char *const role_names[ROLE_COUNT] = {
	"domain-admin", "namespace-admin", "service-consumer", "nobody",
};

const char *role_name(enum role r)
{
	return (unsigned)r < ROLE_COUNT ? role_names[r] : "unknown";
}

int role_parse(const char *s, enum role *out)
{
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (strcmp(s, role_names[r]) == 0) {
			*out = (enum role)r;
			return 0;
		}
	}
	return -1;
}

struct policy *policy_new(struct intern *in)
{
	struct policy_impl *pi = xcalloc(1, sizeof(*pi));
	pi->pub.arena = arena_new();
	pi->pub.intern = in;
	return &pi->pub;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	struct policy_impl *pi = impl_of(p);
	for (size_t i = 0; i < pi->criteria.len; i++)
		criteria_free(pi->criteria.items[i]);
	for (size_t i = 0; i < pi->templates.len; i++)
		template_free(pi->templates.items[i]);
	for (size_t i = 0; i < pi->labels.len; i++)
		labels_release(pi->labels.items[i]);
	vec_release(&pi->criteria);
	vec_release(&pi->templates);
	vec_release(&pi->labels);
	map_release(&p->by_key);
	free(p->objects);
	arena_free(p->arena);
	free(pi);
}

/* "kind/ns/name" into buf (or a heap copy when it does not fit; *heap is then set). */
static char *object_key(char *buf, size_t size, enum kind k, const char *ns, const char *name,
			size_t *len, char **heap)
{
	int n = snprintf(buf, size, "%s/%s/%s", kind_name(k), ns, name);
	*heap = NULL;
	if (n < 0)
		n = 0;
	if ((size_t)n >= size) {
		*heap = xmalloc((size_t)n + 1);
		snprintf(*heap, (size_t)n + 1, "%s/%s/%s", kind_name(k), ns, name);
		buf = *heap;
	}
	*len = (size_t)n;
	return buf;
}

struct object *policy_get(const struct policy *p, enum kind k, const char *ns, const char *name)
{
	char buf[256], *heap;
	size_t len;
	const char *key = object_key(buf, sizeof(buf), k, ns, name, &len, &heap);
	struct object *o = map_get(&p->by_key, key, len);
	free(heap);
	return o;
}

struct object *policy_find(const struct policy *p, enum kind k, const char *locator, const char *ns)
{
	if (!locator || !*locator)
		return NULL;
	const char *slash = strchr(locator, '/');
	if (!slash)
		return ns ? policy_get(p, k, ns, locator) : NULL;
	if (strchr(slash + 1, '/') || slash == locator || !slash[1])
		return NULL;
	char buf[256];
	size_t nslen = (size_t)(slash - locator);
	char *heap = nslen < sizeof(buf) ? NULL : xmalloc(nslen + 1);
	char *nsbuf = heap ? heap : buf;
	memcpy(nsbuf, locator, nslen);
	nsbuf[nslen] = '\0';
	struct object *o = policy_get(p, k, nsbuf, slash + 1);
	free(heap);
	return o;
}

bool policy_remove(struct policy *p, enum kind k, const char *ns, const char *name)
{
	char buf[256], *heap;
	size_t len;
	const char *key = object_key(buf, sizeof(buf), k, ns, name, &len, &heap);
	struct object *o = map_get(&p->by_key, key, len);
	if (o) {
		/* The map has no deletion: a NULL value reads as absent. */
		map_put(&p->by_key, key, len, NULL);
		for (size_t i = 0; i < p->len; i++) {
			if (p->objects[i] == o) {
				memmove(&p->objects[i], &p->objects[i + 1],
					(p->len - i - 1) * sizeof(*p->objects));
				p->len--;
				break;
			}
		}
		p->validated = false;
	}
	free(heap);
	return o != NULL;
}

const char *object_describe(const struct policy *p, const struct object *o)
{
	return arena_printf(p->arena, "%s %s/%s", kind_name(o->kind), o->ns->s, o->name->s);
}
