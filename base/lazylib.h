/* Shared libraries opened on first use instead of at every start.
 *
 * libpq, libarchive, libmicrohttpd and libxml2 serve a few commands (a
 * PostgreSQL state, snapshots, backups, the server, S3) yet, with what they
 * pull in, make 12 of the 51 shared objects the dynamic loader would map and
 * relocate before main() of every command: a program linking cairn's
 * libraries took 7.8 ms to start and end here with these four, 4.9 ms
 * without. Each has a shim in base/lazy/ whose header keeps the library's
 * names, so callers read as plain library calls. */
#ifndef CAIRN_LAZYLIB_H
#define CAIRN_LAZYLIB_H

#include <pthread.h>

/* dlopen(soname); a library that will not open is a broken installation, so
 * this prints what is missing and for what, and exits 1. */
void *lazylib_open(const char *soname, const char *needed_for);
/* dlsym(handle, name), exiting 1 the same way when the symbol is missing. */
void *lazylib_symbol(void *handle, const char *soname, const char *name);

/* A member of a shim's table: a pointer of the library function's own type. */
#define LAZYLIB_MEMBER(f) __typeof__(f) *f;

#define LAZYLIB_SLOT(f)                                                                            \
	lazylib_fns.f = (__typeof__(lazylib_fns.f))lazylib_symbol(lazylib_h, lazylib_so, #f);

/* Defines `const struct TYPE *ACCESSOR(void)`, which opens SONAME on its
 * first call and fills the table with every function of LIST (an X-macro
 * list of names), then runs AFTER(table, handle, soname) for what is not a
 * function. The shim's .c expands it where the library's names are not yet
 * redirected to the table. */
#define LAZYLIB_DEFINE_WITH(TYPE, ACCESSOR, SONAME, NEEDED_FOR, LIST, AFTER)                       \
	static struct TYPE lazylib_fns;                                                            \
	static pthread_once_t lazylib_once = PTHREAD_ONCE_INIT;                                    \
	static void lazylib_load(void)                                                             \
	{                                                                                          \
		const char *lazylib_so = SONAME;                                                   \
		void *lazylib_h = lazylib_open(lazylib_so, NEEDED_FOR);                            \
		LIST(LAZYLIB_SLOT)                                                                 \
		AFTER(&lazylib_fns, lazylib_h, lazylib_so);                                        \
	}                                                                                          \
	const struct TYPE *ACCESSOR(void)                                                          \
	{                                                                                          \
		pthread_once(&lazylib_once, lazylib_load);                                         \
		return &lazylib_fns;                                                               \
	}

#define LAZYLIB_NOTHING_MORE(table, handle, soname) ((void)0)
#define LAZYLIB_DEFINE(TYPE, ACCESSOR, SONAME, NEEDED_FOR, LIST)                                   \
	LAZYLIB_DEFINE_WITH(TYPE, ACCESSOR, SONAME, NEEDED_FOR, LIST, LAZYLIB_NOTHING_MORE)

#endif
