/* Scalars as people write them (parse.h). */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Below 2^63 ns (292 years), with room for rounding. */
#define MAX_NS 9e18

int parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = { { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
		      { "d", 86400e9 }, { "w", 7 * 86400e9 } };
	const size_t nunits = sizeof(units) / sizeof(*units);
	double total = 0;
	const char *p = s;
	do {
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1; /* no sign, no space, no "inf" */
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno)
			return -1;
		if (p == s && !*end) {
			total = v * 1e9; /* a bare number: seconds */
			break;
		}
		size_t u = 0, len = 0;
		for (; u < nunits; u++) {
			len = strlen(units[u].name);
			if (strncmp(end, units[u].name, len) == 0 && !isalpha((unsigned char)end[len]))
				break;
		}
		if (u == nunits)
			return -1;
		total += v * units[u].ns;
		p = end + len;
	} while (*p && total < MAX_NS);
	if (total >= MAX_NS)
		return -1;
	*ns = (int64_t)total;
	return 0;
}

int parse_integer(const char *s, long long min, long long max, long long *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_positive(const char *s, long long *out)
{
	return parse_integer(s, 1, LLONG_MAX, out);
}

int parse_duration_seconds(const char *s, int64_t *seconds)
{
	int64_t ns;
	if (parse_duration(s, &ns) < 0)
		return -1;
	*seconds = (ns + 999999999) / 1000000000;
	return 0;
}

int parse_bytes(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !(v > 0))
		return -1;
	double unit = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'b':
		end++;
		break;
	case 'k':
		unit = 1024.0, end++;
		break;
	case 'm':
		unit = 1024.0 * 1024, end++;
		break;
	case 'g':
		unit = 1024.0 * 1024 * 1024, end++;
		break;
	default:
		return -1;
	}
	if (unit > 1 && tolower((unsigned char)*end) == 'b')
		end++;
	if (*end || v * unit >= MAX_NS)
		return -1;
	*out = (int64_t)(v * unit);
	return 0;
}

int parse_port(const char *s, int *out)
{
	long long v;
	if (parse_integer(s, 1, 65535, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}
