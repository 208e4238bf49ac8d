/* Label sets sorted by interned key id. */
#include "labels.h"
#include "base/alloc.h"
#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* Index of key, or of where it would go (with *found = false). */
static uint32_t find(const struct labels *ls, const struct istr *key, bool *found)
{
	uint32_t lo = 0, hi = ls->len;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint32_t id = ls->items[mid].key->id;
		if (id == key->id) {
			*found = true;
			return mid;
		}
		if (id < key->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct istr *labels_get(const struct labels *ls, const struct istr *key)
{
	bool found;
	if (!ls || !key)
		return NULL;
	uint32_t i = find(ls, key, &found);
	return found ? ls->items[i].value : NULL;
}

static void reserve(struct labels *ls, uint32_t need)
{
	if (need <= ls->cap)
		return;
	uint32_t cap = ls->cap ? ls->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	ls->items = xrealloc(ls->items, cap * sizeof(*ls->items));
	ls->cap = cap;
}

bool labels_set(struct labels *ls, const struct istr *key, const struct istr *value)
{
	bool found;
	uint32_t i = find(ls, key, &found);
	if (found) {
		if (ls->items[i].value == value)
			return false;
		ls->items[i].value = value;
		return true;
	}
	reserve(ls, ls->len + 1);
	memmove(&ls->items[i + 1], &ls->items[i], (ls->len - i) * sizeof(*ls->items));
	ls->items[i].key = key;
	ls->items[i].value = value;
	ls->len++;
	return true;
}

bool labels_remove(struct labels *ls, const struct istr *key)
{
	bool found;
	uint32_t i = find(ls, key, &found);
	if (!found)
		return false;
	memmove(&ls->items[i], &ls->items[i + 1], (ls->len - i - 1) * sizeof(*ls->items));
	ls->len--;
	return true;
}

void labels_copy(struct labels *dst, const struct labels *src)
{
	dst->len = 0;
	if (!src || !src->len)
		return;
	reserve(dst, src->len);
	memcpy(dst->items, src->items, src->len * sizeof(*src->items));
	dst->len = src->len;
}

void labels_add_all(struct labels *dst, const struct labels *src)
{
	if (!src)
		return;
	for (uint32_t i = 0; i < src->len; i++)
		labels_set(dst, src->items[i].key, src->items[i].value);
}

bool labels_equal(const struct labels *a, const struct labels *b)
{
	uint32_t na = a ? a->len : 0, nb = b ? b->len : 0;
	if (na != nb)
		return false;
	return na == 0 || memcmp(a->items, b->items, na * sizeof(*a->items)) == 0;
}

void labels_release(struct labels *ls)
{
	free(ls->items);
	ls->items = NULL;
	ls->len = ls->cap = 0;
}

static int by_key_bytes(const void *a, const void *b)
{
	const struct label *x = a, *y = b;
	return strcmp(x->key->s, y->key->s);
}

void labels_to_json(const struct labels *ls, struct strbuf *out)
{
	strbuf_addc(out, '{');
	if (ls && ls->len) {
		struct label *sorted = xmalloc(ls->len * sizeof(*sorted));
		memcpy(sorted, ls->items, ls->len * sizeof(*sorted));
		qsort(sorted, ls->len, sizeof(*sorted), by_key_bytes);
		for (uint32_t i = 0; i < ls->len; i++) {
			if (i)
				strbuf_addc(out, ',');
			strbuf_add_json_string(out, sorted[i].key->s);
			strbuf_addc(out, ':');
			strbuf_add_json_string(out, sorted[i].value->s);
		}
		free(sorted);
	}
	strbuf_addc(out, '}');
}

bool label_ops_apply(const struct label_ops *ops, struct labels *ls)
{
	bool changed = false;
	if (!ops)
		return false;
	for (uint32_t i = 0; i < ops->set.len; i++)
		changed |= labels_set(ls, ops->set.items[i].key, ops->set.items[i].value);
	for (uint32_t i = 0; i < ops->nremove; i++)
		changed |= labels_remove(ls, ops->remove[i]);
	return changed;
}
