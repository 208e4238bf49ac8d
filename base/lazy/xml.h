/* libxml2, opened on first use (see base/lazylib.h): include this instead
 * of the library's header; calls read as usual. */
#ifndef CAIRN_LAZY_XML_H
#define CAIRN_LAZY_XML_H

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "base/lazylib.h"

#define LAZY_XML_FUNCTIONS(X)                                                                      \
	X(xmlDocGetRootElement)                                                                    \
	X(xmlFreeDoc)                                                                              \
	X(xmlNodeGetContent)                                                                       \
	X(xmlReadMemory)

struct lazy_xml {
	LAZY_XML_FUNCTIONS(LAZYLIB_MEMBER)
	xmlFreeFunc *xmlFree_variable; /* xmlFree is a variable of the library */
};

const struct lazy_xml *lazy_xml(void);

#ifndef LAZY_XML_TABLE
#define xmlDocGetRootElement (lazy_xml()->xmlDocGetRootElement)
#define xmlFreeDoc (lazy_xml()->xmlFreeDoc)
#define xmlNodeGetContent (lazy_xml()->xmlNodeGetContent)
#define xmlReadMemory (lazy_xml()->xmlReadMemory)
#undef xmlFree
#define xmlFree (*lazy_xml()->xmlFree_variable)
#endif

#endif
