/* libFuzzer target for the transformers: the first byte picks one (and
 * date_shift's range, unique or not), for regex the input up to a NUL is
 * the pattern and up to the next the replacement, and the rest is the
 * value, transformed twice by two transformers of the same key. Checks that
 * no input crashes, the outputs agree (determinism), digits keeps the
 * length in bytes, and null gives NULL. */
#include "engine/snapshot/anon.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct intern *in = intern_new();
	struct dataset_anon a = { .kind = (enum anon_kind)(data[0] % ANON_COUNT),
				  .days = 1 + data[0] / ANON_COUNT % 50 };
	bool unique = data[0] & 0x80;
	/* The input after the first byte, NUL-terminated, cut at NULs into
	 * pattern, replacement and value (regex, const) or the value alone. */
	size_t n = size - 1;
	char *copy = malloc(n + 1);
	memcpy(copy, data + 1, n);
	copy[n] = '\0';
	const char *parts[3] = { copy, "", "" };
	size_t at = strlen(copy);
	for (int i = 1; i < 3 && at < n; i++) {
		parts[i] = copy + at + 1;
		at += 1 + strlen(parts[i]);
	}
	const char *value = copy;
	if (a.kind == ANON_REGEX || a.kind == ANON_CONST) {
		a.value = intern_cstr(in, parts[0]);
		a.replace = intern_cstr(in, parts[1]);
		value = parts[2];
	}
	struct error err = ERROR_INIT;
	struct sn_transform *t1 = sn_transform_new(&a, (const unsigned char *)"key", 3, unique, &err);
	struct sn_transform *t2 = t1 ? sn_transform_new(&a, (const unsigned char *)"key", 3, unique, &err) : NULL;
	if (t1 && t2) {
		const char *o1, *o2;
		int r1 = sn_transform_apply(t1, value, &o1, &err);
		char *s1 = r1 == 0 && o1 ? strdup(o1) : NULL;
		error_clear(&err);
		int r2 = sn_transform_apply(t2, value, &o2, &err);
		check(r1 == r2);
		if (r1 == 0) {
			check((o1 == NULL) == (o2 == NULL));
			check(!o1 || strcmp(s1, o2) == 0);
			check(a.kind != ANON_NULL || !o1);
			check(a.kind != ANON_DIGITS || strlen(o2) == strlen(value));
		}
		free(s1);
	}
	error_clear(&err);
	sn_transform_free(t1);
	sn_transform_free(t2);
	free(copy);
	intern_free(in);
	return 0;
}
