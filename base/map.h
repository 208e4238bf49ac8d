/* Hash map from byte-string keys to pointers (open addressing, linear probing).
 * The map does not copy keys: they must outlive it (interned or arena strings). */
#ifndef CAIRN_MAP_H
#define CAIRN_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map_slot {
	const char *key;
	size_t len;
	uint32_t hash;
	void *value;
};

struct map {
	struct map_slot *slots;
	size_t cap, len;
};

#define MAP_INIT { 0 }

uint32_t map_hash(const char *key, size_t len);
/* The value stored under key, or NULL. */
void *map_get(const struct map *m, const char *key, size_t len);
/* Stores value under key, replacing any previous value, which is returned. */
void *map_put(struct map *m, const char *key, size_t len, void *value);
void map_release(struct map *m);

/* Iteration: for (size_t i = 0; map_next(m, &i, &slot); ) ... in slot order. */
int map_next(const struct map *m, size_t *iter, const struct map_slot **slot);

#endif
