/* The scalars people write in policy and config files: durations, sizes,
 * ports and booleans, each with one grammar wherever it is read. Each
 * returns -1 when s is malformed or out of range, leaving *out alone. */
#ifndef CAIRN_PARSE_H
#define CAIRN_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* A duration as nanoseconds: parts of a number and a unit (ms, s, m, h, d,
 * w), as in "500ms", "1.5s", "1h30m", "7d"; a bare number is seconds. */
int parse_duration(const char *s, int64_t *ns);
/* The same, as whole seconds (a fraction rounds up). */
int parse_duration_seconds(const char *s, int64_t *seconds);
/* A size in bytes: "256m", "1g", "512KB", "1024"; positive. */
int parse_bytes(const char *s, int64_t *out);
/* A whole number from min to max, decimal digits only (no sign, no space). */
int parse_integer(const char *s, long long min, long long max, long long *out);
/* The same from 1 up: ids, generations, counts that cannot be 0. */
int parse_positive(const char *s, long long *out);
/* A TCP or UDP port, 1..65535. */
int parse_port(const char *s, int *out);
/* true/false, yes/no, on/off, 1/0 (any case). */
int parse_bool(const char *s, bool *out);

#endif
