/* "Did you mean …?": the nearest candidate, within the limit asked for. */
#include "base/suggest.h"

#include <criterion/criterion.h>
#include <string.h>

Test(suggest, edit_distance)
{
	cr_assert_eq(edit_distance("image", "image"), 0);
	cr_assert_eq(edit_distance("imgae", "image"), 2);
	cr_assert_eq(edit_distance("", "abc"), 3);
	cr_assert_eq(edit_distance("port", "ports"), 1);
	char long_word[80];
	memset(long_word, 'a', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	cr_assert_eq(edit_distance(long_word, "a"), SIZE_MAX, "over 64 bytes: far unless equal");
	cr_assert_eq(edit_distance(long_word, long_word), 0);
}

Test(suggest, nearest_within_a_typo)
{
	const char *keys[] = { "image", "ports", "environment", "volumes" };
	cr_assert_str_eq(suggest_nearest("imgae", keys, 4), "image");
	cr_assert_str_eq(suggest_nearest("port", keys, 4), "ports");
	cr_assert_null(suggest_nearest("command", keys, 4), "three edits away is another word");
	cr_assert_null(suggest_nearest("image", keys, 0));
}

Test(suggest, first_of_the_nearest_wins_and_offer_says_so)
{
	struct suggestion s;
	suggest_begin(&s, "cat", SUGGEST_TYPO);
	cr_assert(suggest_offer(&s, "cab"));
	cr_assert(!suggest_offer(&s, "car"), "as near, offered later");
	cr_assert(!suggest_offer(&s, "dog"), "beyond the limit");
	cr_assert(suggest_offer(&s, "cat"));
	cr_assert_str_eq(suggest_best(&s), "cat");
}

Test(suggest, limits)
{
	struct suggestion s;
	suggest_begin(&s, "orders", SUGGEST_ANY);
	suggest_offer(&s, "customers");
	suggest_offer(&s, "order_items");
	cr_assert_str_eq(suggest_best(&s), "order_items", "no limit: the nearest, however far");
	suggest_begin(&s, "orders", 1);
	suggest_offer(&s, "order_items");
	cr_assert_null(suggest_best(&s));
	suggest_offer(&s, "order");
	cr_assert_str_eq(suggest_best(&s), "order");
}
