#define LAZY_XML_TABLE
#include "xml.h"

#include <pthread.h>

static struct lazy_xml fns;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	const char *so = "libxml2.so.2";
	void *h = lazylib_open(so, "S3 snapshot stores");
#define SLOT(f) fns.f = (__typeof__(fns.f))lazylib_symbol(h, so, #f);
	LAZY_XML_FUNCTIONS(SLOT)
#undef SLOT
	fns.xmlFree_variable = lazylib_symbol(h, so, "xmlFree");
}

const struct lazy_xml *lazy_xml(void)
{
	pthread_once(&once, load);
	return &fns;
}
