/* Edit distance for suggestions. */
#include "suggest.h"

#include <stdint.h>
#include <string.h>

size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return strcmp(a, b) == 0 ? 0 : SIZE_MAX;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

void suggest_begin(struct suggestion *s, const char *word, size_t limit)
{
	*s = (struct suggestion){ .word = word, .limit = limit, .best_distance = SIZE_MAX };
}

bool suggest_offer(struct suggestion *s, const char *candidate)
{
	size_t d = edit_distance(s->word, candidate);
	if (d > s->limit || d >= s->best_distance)
		return false;
	s->best = candidate;
	s->best_distance = d;
	return true;
}

const char *suggest_best(const struct suggestion *s)
{
	return s->best;
}

const char *suggest_nearest(const char *word, const char *const *candidates, size_t n)
{
	struct suggestion s;
	suggest_begin(&s, word, SUGGEST_TYPO);
	for (size_t i = 0; i < n; i++)
		suggest_offer(&s, candidates[i]);
	return suggest_best(&s);
}
