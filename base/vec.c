/* Growth policy of VEC. */
#include "vec.h"
#include "alloc.h"

void vec_reserve_(void **items, size_t *cap, size_t elem, size_t need)
{
	if (need <= *cap)
		return;
	size_t n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	*items = xrealloc(*items, n * elem);
	*cap = n;
}
