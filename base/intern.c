/* String interning pool on top of the arena and map. */
#include "intern.h"
#include "alloc.h"
#include "arena.h"
#include "map.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct intern {
	struct arena *arena;
	struct map map;
	uint32_t next_id;
};

struct intern *intern_new(void)
{
	struct intern *in = xcalloc(1, sizeof(*in));
	in->arena = arena_new();
	in->next_id = 1;
	return in;
}

void intern_free(struct intern *in)
{
	if (!in)
		return;
	map_release(&in->map);
	arena_free(in->arena);
	free(in);
}

static bool parse_go_int(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (len && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == len)
		return false;
	uint64_t v = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

enum scalar_type scalar_classify(const char *s, size_t len, int64_t *integer, bool *boolean)
{
	static const char *const truths[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const lies[] = { "0", "f", "F", "FALSE", "false", "False" };
	if (parse_go_int(s, len, integer))
		return SCALAR_INT;
	for (size_t i = 0; i < sizeof(truths) / sizeof(*truths); i++) {
		if (strlen(truths[i]) == len && memcmp(truths[i], s, len) == 0) {
			*boolean = true;
			return SCALAR_BOOL;
		}
		if (strlen(lies[i]) == len && memcmp(lies[i], s, len) == 0) {
			*boolean = false;
			return SCALAR_BOOL;
		}
	}
	return SCALAR_STRING;
}

const struct istr *intern_lookup(const struct intern *in, const char *s, size_t len)
{
	return map_get(&in->map, s, len);
}

const struct istr *intern(struct intern *in, const char *s, size_t len)
{
	struct istr *is = map_get(&in->map, s, len);
	if (is)
		return is;
	is = arena_alloc(in->arena, sizeof(*is) + len + 1);
	memcpy(is->s, s, len);
	is->s[len] = '\0';
	is->len = (uint32_t)len;
	is->id = in->next_id++;
	is->hash = map_hash(s, len);
	is->type = (uint8_t)scalar_classify(s, len, &is->integer, &is->boolean);
	map_put(&in->map, is->s, len, is);
	return is;
}

const struct istr *intern_cstr(struct intern *in, const char *s)
{
	return intern(in, s, strlen(s));
}

size_t intern_count(const struct intern *in)
{
	return in->map.len;
}
