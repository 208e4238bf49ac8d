#define LAZY_ARCHIVE_TABLE
#include "archive.h"

LAZYLIB_DEFINE(lazy_archive, lazy_archive, "libarchive.so.13", "backups and replicas",
	       LAZY_ARCHIVE_FUNCTIONS)
