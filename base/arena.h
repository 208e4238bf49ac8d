/* Region allocator: many small allocations freed together in one call.
 * A loaded policy, a resolution and a plan each own one. Not for objects
 * that must be freed one by one. Out of memory aborts (see alloc.h). */
#ifndef CAIRN_ARENA_H
#define CAIRN_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/* A new empty arena; arena_free() releases it and everything allocated in it. */
struct arena *arena_new(void);
void arena_free(struct arena *a);
/* The same, for an arena known to grow large: its chunks start at first_chunk
 * bytes instead of growing from a few hundred. */
struct arena *arena_new_sized(size_t first_chunk);

/* Zeroed memory aligned for any type, owned by the arena. */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);

/* Bytes handed out so far (for benchmarks and tests). */
size_t arena_used(const struct arena *a);

#endif
