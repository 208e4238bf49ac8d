/* Typed growable array: VEC(int) v = {0}; vec_push(&v, 3); vec_release(&v);
 * Elements live in one heap block owned by the vector. */
#ifndef CAIRN_VEC_H
#define CAIRN_VEC_H

#include <stddef.h>
#include <stdlib.h>

#define VEC(T) struct { T *items; size_t len, cap; }

/* Makes room for `need` elements of `elem` bytes; internal to the macros. */
void vec_reserve_(void **items, size_t *cap, size_t elem, size_t need);

#define vec_reserve(v, n) \
	vec_reserve_((void **)&(v)->items, &(v)->cap, sizeof(*(v)->items), (n))
#define vec_push(v, x) \
	(vec_reserve((v), (v)->len + 1), (v)->items[(v)->len++] = (x))
#define vec_release(v) \
	(free((v)->items), (v)->items = NULL, (v)->len = (v)->cap = 0)

#endif
