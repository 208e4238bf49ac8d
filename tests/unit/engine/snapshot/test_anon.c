/* The transformers on their own: deterministic per key and value, the same
 * for the same value wherever it is, another output with another key, the
 * shapes each promises (length kept, dates moved within range, distinct
 * outputs under a unique constraint), and SQL NULL. */
#include "engine/snapshot/anon.h"

#include <criterion/criterion.h>
#include <string.h>

static struct intern *in;

static struct dataset_anon rule(enum anon_kind k)
{
	struct dataset_anon a = { .kind = k, .days = 30 };
	return a;
}

/* The output of a fresh transformer of kind k with key for v, heap-owned. */
static char *once(const struct dataset_anon *a, const char *key, const char *v)
{
	struct error err = ERROR_INIT;
	struct sn_transform *t =
		sn_transform_new(a, (const unsigned char *)key, strlen(key), false, &err);
	cr_assert_not_null(t, "%s", error_msg(&err));
	const char *out;
	cr_assert_eq(sn_transform_apply(t, v, &out, &err), 0, "%s", error_msg(&err));
	char *copy = out ? strdup(out) : NULL;
	sn_transform_free(t);
	return copy;
}

static void setup(void)
{
	in = intern_new();
}

static void teardown(void)
{
	intern_free(in);
}

TestSuite(anon, .init = setup, .fini = teardown);

Test(anon, deterministic_per_key_and_value)
{
	static const enum anon_kind keyed[] = { ANON_EMAIL, ANON_FIRST_NAME, ANON_LAST_NAME,
						ANON_FULL_NAME, ANON_PHONE, ANON_DIGITS,
						ANON_TEXT, ANON_HASH };
	for (size_t i = 0; i < sizeof(keyed) / sizeof(*keyed); i++) {
		struct dataset_anon a = rule(keyed[i]);
		const char *v = "Mary Smith 555-0101";
		char *x = once(&a, "key one", v), *y = once(&a, "key one", v);
		char *z = once(&a, "key two", v), *w = once(&a, "key one", "Mary Smith 555-0102");
		cr_expect_str_eq(x, y, "%s: same key and value", anon_kind_name(keyed[i]));
		cr_expect_str_neq(x, v, "%s: the value itself", anon_kind_name(keyed[i]));
		if (keyed[i] != ANON_FIRST_NAME && keyed[i] != ANON_LAST_NAME) {
			/* (names come from 64-word dictionaries: two may meet) */
			cr_expect_str_neq(x, z, "%s: another key", anon_kind_name(keyed[i]));
			cr_expect_str_neq(x, w, "%s: another value", anon_kind_name(keyed[i]));
		}
		free(x);
		free(y);
		free(z);
		free(w);
	}
}

Test(anon, shapes)
{
	struct dataset_anon a = rule(ANON_EMAIL);
	char *s = once(&a, "k", "mary.smith@example.org");
	cr_expect(strchr(s, '@') && strstr(s, "@example.com"), "%s", s);
	free(s);

	a = rule(ANON_DIGITS);
	s = once(&a, "k", "+1 (555) 010-1234");
	cr_expect_eq(strlen(s), strlen("+1 (555) 010-1234"));
	cr_expect_eq(s[0], '+');
	cr_expect_eq(s[3], '(');
	cr_expect_eq(s[12], '-');
	free(s);

	a = rule(ANON_TEXT);
	s = once(&a, "k", "José calls 555 at 9");
	cr_expect_eq(strlen(s), strlen("José calls 555 at 9") - 1, "é becomes one ASCII letter: %s", s);
	cr_expect(s[0] >= 'A' && s[0] <= 'Z', "case kept: %s", s);
	cr_expect_eq(s[4], ' ');
	cr_expect(s[11] >= '0' && s[11] <= '9');
	free(s);

	a = rule(ANON_HASH);
	s = once(&a, "k", "x");
	cr_expect_eq(strlen(s), 32);
	free(s);

	a = rule(ANON_NULL);
	cr_expect_null(once(&a, "k", "anything"));

	a = rule(ANON_CONST);
	a.value = intern_cstr(in, "redacted");
	s = once(&a, "k", "anything");
	cr_expect_str_eq(s, "redacted");
	free(s);

	a = rule(ANON_REGEX);
	a.value = intern_cstr(in, "([0-9]{3})[0-9]{4}");
	a.replace = intern_cstr(in, "$1xxxx");
	s = once(&a, "k", "call 5550101 or 5550102");
	cr_expect_str_eq(s, "call 555xxxx or 555xxxx");
	free(s);

	/* Any SQL NULL stays NULL, whatever the transformer. */
	a = rule(ANON_EMAIL);
	struct error err = ERROR_INIT;
	struct sn_transform *t = sn_transform_new(&a, (const unsigned char *)"k", 1, false, &err);
	const char *out = "x";
	cr_expect_eq(sn_transform_apply(t, NULL, &out, &err), 0);
	cr_expect_null(out);
	sn_transform_free(t);
}

Test(anon, date_shift_moves_within_range_and_keeps_the_time)
{
	struct dataset_anon a = rule(ANON_DATE_SHIFT);
	a.days = 10;
	char seen_later = 0, seen_earlier = 0;
	for (int d = 1; d <= 28; d++) {
		char v[64];
		snprintf(v, sizeof(v), "2024-02-%02d 13:45:00+00", d);
		char *s = once(&a, "k", v);
		int y, m, dd;
		cr_assert_eq(sscanf(s, "%d-%d-%d", &y, &m, &dd), 3, "%s", s);
		cr_expect_str_eq(s + 10, " 13:45:00+00");
		/* days between: within 1..10, either way */
		int from = 31 + d, to = (m == 1 ? 0 : m == 2 ? 31 : 31 + 29) + dd;
		int diff = to - from;
		cr_expect(diff != 0 && diff >= -10 && diff <= 10, "%s -> %s", v, s);
		seen_later |= diff > 0;
		seen_earlier |= diff < 0;
		free(s);
	}
	cr_expect(seen_later && seen_earlier);
	char *s = once(&a, "k", "2024-12-31");
	cr_expect_eq(strlen(s), 10);
	free(s);
	s = once(&a, "k", "infinity");
	cr_expect_str_eq(s, "infinity", "an infinite date stays as it is");
	free(s);
	struct error err = ERROR_INIT;
	struct sn_transform *t = sn_transform_new(&a, (const unsigned char *)"k", 1, false, &err);
	const char *out;
	cr_expect_eq(sn_transform_apply(t, "not a date", &out, &err), -1);
	cr_expect(strstr(error_msg(&err), "is not a date"));
	error_clear(&err);
	sn_transform_free(t);
}

Test(anon, unique_outputs_never_repeat_and_inputs_keep_theirs)
{
	struct dataset_anon a = rule(ANON_FIRST_NAME);
	struct error err = ERROR_INIT;
	struct sn_transform *t = sn_transform_new(&a, (const unsigned char *)"k", 1, true, &err);
	char **outs = calloc(500, sizeof(char *));
	for (int i = 0; i < 500; i++) {
		char v[32];
		snprintf(v, sizeof(v), "name %d", i);
		const char *out;
		cr_assert_eq(sn_transform_apply(t, v, &out, &err), 0);
		outs[i] = strdup(out);
		for (int k = 0; k < i; k++)
			cr_assert_str_neq(outs[k], outs[i], "inputs %d and %d", k, i);
	}
	/* The same input again gives what it gave before. */
	const char *out;
	cr_expect_eq(sn_transform_apply(t, "name 7", &out, &err), 0);
	cr_expect_str_eq(out, outs[7]);
	for (int i = 0; i < 500; i++)
		free(outs[i]);
	free(outs);
	sn_transform_free(t);
}
