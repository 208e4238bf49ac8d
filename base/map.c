/* Open-addressing hash map with FNV-1a hashing. */
#include "map.h"
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

/* Word-at-a-time multiply-xorshift hash: keys here are often long (rendered
 * parameters, label sets), and a byte loop showed up in profiles. */
uint32_t map_hash(const char *key, size_t len)
{
	const uint64_t m = 0x9e3779b97f4a7c15ull;
	uint64_t h = 0x243f6a8885a308d3ull ^ (len * m);
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, key + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	uint64_t tail = 0;
	memcpy(&tail, key + i, len - i);
	h = (h ^ tail) * m;
	h ^= h >> 32;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 31;
	return (uint32_t)h;
}

static struct map_slot *find_slot(struct map_slot *slots, size_t cap, const char *key,
				  size_t len, uint32_t hash)
{
	size_t i = hash & (cap - 1);
	for (;;) {
		struct map_slot *s = &slots[i];
		if (!s->key || (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0))
			return s;
		i = (i + 1) & (cap - 1);
	}
}

void *map_get(const struct map *m, const char *key, size_t len)
{
	if (!m->cap)
		return NULL;
	struct map_slot *s = find_slot(m->slots, m->cap, key, len, map_hash(key, len));
	return s->key ? s->value : NULL;
}

static void grow(struct map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct map_slot *slots = xcalloc(cap, sizeof(*slots));
	for (size_t i = 0; i < m->cap; i++) {
		struct map_slot *old = &m->slots[i];
		if (old->key)
			*find_slot(slots, cap, old->key, old->len, old->hash) = *old;
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
}

void *map_put(struct map *m, const char *key, size_t len, void *value)
{
	if ((m->len + 1) * 4 > m->cap * 3)
		grow(m);
	uint32_t hash = map_hash(key, len);
	struct map_slot *s = find_slot(m->slots, m->cap, key, len, hash);
	void *prev = NULL;
	if (s->key) {
		prev = s->value;
	} else {
		s->key = key;
		s->len = len;
		s->hash = hash;
		m->len++;
	}
	s->value = value;
	return prev;
}

void map_release(struct map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->len = 0;
}

int map_next(const struct map *m, size_t *iter, const struct map_slot **slot)
{
	while (*iter < m->cap) {
		const struct map_slot *s = &m->slots[(*iter)++];
		if (s->key) {
			*slot = s;
			return 1;
		}
	}
	return 0;
}
