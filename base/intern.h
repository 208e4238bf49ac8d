/* String interning: equal strings become one pointer, so labels and names are
 * compared and hashed by pointer/id. Each interned string also records how it
 * reads as a label value in an expression (Aptomi's typing: integer, then
 * boolean, else string), computed once here instead of on every evaluation. */
#ifndef CAIRN_INTERN_H
#define CAIRN_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scalar_type { SCALAR_STRING, SCALAR_INT, SCALAR_BOOL };

struct istr {
	uint32_t id;   /* dense, in order of first interning; 0 is never used */
	uint32_t len;
	uint32_t hash;
	uint8_t type;  /* enum scalar_type, as a label value */
	bool boolean;  /* when type == SCALAR_BOOL */
	int64_t integer; /* when type == SCALAR_INT */
	char s[];
};

struct intern;

struct intern *intern_new(void);
void intern_free(struct intern *in);

/* The interned copy of s[0..len); owned by the pool, valid until intern_free(). */
const struct istr *intern(struct intern *in, const char *s, size_t len);
const struct istr *intern_cstr(struct intern *in, const char *s);
/* The interned string if s was interned before, else NULL (no insertion). */
const struct istr *intern_lookup(const struct intern *in, const char *s, size_t len);
size_t intern_count(const struct intern *in);

/* Aptomi's typing of a label value: Go's strconv.Atoi, then ParseBool. */
enum scalar_type scalar_classify(const char *s, size_t len, int64_t *integer, bool *boolean);

#endif
