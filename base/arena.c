/* Region allocator: bump allocation in chunks, everything freed at once. */
#include "arena.h"
#include "alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Chunks grow from small to large, so the many tiny arenas (one per compiled
 * template) stay tiny and the big ones allocate rarely. */
#define ARENA_FIRST_CHUNK 512
#define ARENA_CHUNK (64 * 1024)
#define ARENA_ALIGN 16

struct chunk {
	struct chunk *next;
	size_t size, used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
	struct chunk *head;
	size_t total;
	size_t next_chunk; /* size of the next regular chunk */
};

struct arena *arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

struct arena *arena_new_sized(size_t first_chunk)
{
	struct arena *a = arena_new();
	a->next_chunk = first_chunk < ARENA_FIRST_CHUNK ? ARENA_FIRST_CHUNK : first_chunk;
	return a;
}

void arena_free(struct arena *a)
{
	if (!a)
		return;
	for (struct chunk *c = a->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct chunk *c = a->head;
	if (!c || c->size - c->used < size) {
		bool large = size > ARENA_CHUNK / 4;
		size_t want = size;
		if (!large) {
			want = a->next_chunk ? a->next_chunk : ARENA_FIRST_CHUNK;
			while (want < size)
				want *= 2;
			a->next_chunk = want < ARENA_CHUNK ? want * 2 : ARENA_CHUNK;
		}
		struct chunk *n = xmalloc(sizeof(*n) + want);
		n->size = want;
		n->used = 0;
		if (c && large) {
			/* A large block goes behind the current chunk so its free space stays usable. */
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			a->head = n;
		}
		c = n;
	}
	void *p = c->data + c->used;
	c->used += size;
	a->total += size;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		n = 0;
	char *p = arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

size_t arena_used(const struct arena *a)
{
	return a->total;
}
