/* "Did you mean …?": edit distance between short words, for suggesting the
 * key, kind or name that was meant. */
#ifndef CAIRN_SUGGEST_H
#define CAIRN_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Levenshtein distance; words over 64 bytes are SIZE_MAX apart unless equal. */
size_t edit_distance(const char *a, const char *b);

/* The nearest of candidates offered one by one, e.g. every key a section
 * knows: the first at the smallest distance wins. */
struct suggestion {
	const char *word;
	size_t limit; /* the farthest a candidate may be */
	const char *best;
	size_t best_distance;
};
/* Within two edits: a typo, not another word. */
#define SUGGEST_TYPO 2
/* No limit: the nearest, however far. */
#define SUGGEST_ANY SIZE_MAX
void suggest_begin(struct suggestion *s, const char *word, size_t limit);
/* Offers a candidate; true when it is the nearest so far. */
bool suggest_offer(struct suggestion *s, const char *candidate);
/* The nearest candidate offered, or NULL when none was within the limit. */
const char *suggest_best(const struct suggestion *s);

/* The one of n candidates nearest to word within a typo, or NULL. */
const char *suggest_nearest(const char *word, const char *const *candidates, size_t n);

#endif
