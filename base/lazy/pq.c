#define LAZY_PQ_TABLE
#include "pq.h"

LAZYLIB_DEFINE(lazy_pq, lazy_pq, "libpq.so.5", "PostgreSQL (a postgres:// state, snapshots)",
	       LAZY_PQ_FUNCTIONS)
