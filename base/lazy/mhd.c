#define LAZY_MHD_TABLE
#include "mhd.h"

LAZYLIB_DEFINE(lazy_mhd, lazy_mhd, "libmicrohttpd.so.12", "the team server", LAZY_MHD_FUNCTIONS)
