/* "Did you mean …?": edit distance between short words, for suggesting the
 * key, kind or name that was meant. */
#ifndef CAIRN_SUGGEST_H
#define CAIRN_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance; words over 64 bytes are SIZE_MAX apart unless equal. */
size_t edit_distance(const char *a, const char *b);

#endif
