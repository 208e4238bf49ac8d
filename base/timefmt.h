/* Times as people and JSON documents read them. */
#ifndef CAIRN_TIMEFMT_H
#define CAIRN_TIMEFMT_H

#define UTC_TIME_SIZE 32

/* Unix seconds as RFC 3339 UTC, e.g. "2026-12-06T07:25:14Z". */
void utc_time_format(long long t, char out[UTC_TIME_SIZE]);

#endif
