#include "lazylib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void *lazylib_open(const char *soname, const char *needed_for)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "cairn: cannot load %s, needed for %s: %s (reinstall it)\n", soname,
			needed_for, dlerror());
		exit(1);
	}
	return h;
}

void *lazylib_symbol(void *handle, const char *soname, const char *name)
{
	void *s = dlsym(handle, name);
	if (!s) {
		fprintf(stderr, "cairn: %s has no %s: %s (a version cairn was not built with?)\n",
			soname, name, dlerror());
		exit(1);
	}
	return s;
}
