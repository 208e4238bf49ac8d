#define LAZY_XML_TABLE
#include "xml.h"

/* xmlFree is a variable of the library, not a function. */
static void look_up_variables(struct lazy_xml *table, void *handle, const char *soname)
{
	table->xmlFree_variable = lazylib_symbol(handle, soname, "xmlFree");
}

LAZYLIB_DEFINE_WITH(lazy_xml, lazy_xml, "libxml2.so.2", "S3 snapshot stores", LAZY_XML_FUNCTIONS,
		    look_up_variables)
