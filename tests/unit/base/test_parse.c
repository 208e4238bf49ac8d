/* One grammar per kind of scalar, wherever it is written. */
#include "base/parse.h"

#include <criterion/criterion.h>

Test(parse, durations)
{
	int64_t v;
	cr_assert_eq(parse_duration("1m", &v), 0);
	cr_assert_eq(v, 60000000000LL);
	cr_assert_eq(parse_duration("10", &v), 0, "a bare number is seconds");
	cr_assert_eq(v, 10000000000LL);
	cr_assert_eq(parse_duration("500ms", &v), 0);
	cr_assert_eq(v, 500000000LL);
	cr_assert_eq(parse_duration("1h30m", &v), 0);
	cr_assert_eq(v, 5400000000000LL);
	cr_assert_eq(parse_duration("1.5s", &v), 0);
	cr_assert_eq(v, 1500000000LL);
	cr_assert_eq(parse_duration("7d", &v), 0);
	cr_assert_eq(v, 7 * 86400000000000LL);
	cr_assert_eq(parse_duration("2w", &v), 0);
	cr_assert_eq(v, 14 * 86400000000000LL);
	cr_assert_eq(parse_duration_seconds("90m", &v), 0);
	cr_assert_eq(v, 5400);
	cr_assert_eq(parse_duration_seconds("1ms", &v), 0);
	cr_assert_eq(v, 1, "a fraction of a second rounds up");
	static const char *const bad[] = { "", "5x", "-1s", "s", "1 s", "1m30", "inf", "1e400s",
					   "1mss", "100000w", " 1s" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_assert_eq(parse_duration(bad[i], &v), -1, "'%s' accepted", bad[i]);
}

Test(parse, sizes_ports_and_bools)
{
	int64_t v;
	cr_assert_eq(parse_bytes("1g", &v), 0);
	cr_assert_eq(v, 1LL << 30);
	cr_assert_eq(parse_bytes("512KB", &v), 0);
	cr_assert_eq(v, 512 << 10);
	cr_assert_eq(parse_bytes("0", &v), -1);
	cr_assert_eq(parse_bytes("lots", &v), -1);
	int port;
	cr_assert_eq(parse_port("8080", &port), 0);
	cr_assert_eq(port, 8080);
	cr_assert_eq(parse_port("0", &port), -1);
	cr_assert_eq(parse_port("65536", &port), -1);
	cr_assert_eq(parse_port("80x", &port), -1);
	bool b = false;
	cr_assert_eq(parse_bool("Yes", &b), 0);
	cr_assert(b);
	cr_assert_eq(parse_bool("off", &b), 0);
	cr_assert_not(b);
	cr_assert_eq(parse_bool("maybe", &b), -1);
}

Test(parse, integers)
{
	long long v = 7;
	cr_assert_eq(parse_positive("42", &v), 0);
	cr_assert_eq(v, 42);
	cr_assert_eq(parse_positive("9223372036854775807", &v), 0);
	const char *bad[] = { "", "0", "-1", "+1", " 1", "1 ", "1x", "0x10", "9223372036854775808" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 7;
		cr_assert_eq(parse_positive(bad[i], &v), -1, "'%s' taken", bad[i]);
		cr_assert_eq(v, 7, "'%s' changed the output", bad[i]);
	}
	cr_assert_eq(parse_positive(NULL, &v), -1);
	cr_assert_eq(parse_integer("0", 0, 10, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(parse_integer("10", 0, 10, &v), 0);
	cr_assert_eq(parse_integer("11", 0, 10, &v), -1);
	cr_assert_eq(parse_integer("00", 1, 10, &v), -1, "zero however written");
}
