#include "timefmt.h"

#include <time.h>

void utc_time_format(long long t, char out[UTC_TIME_SIZE])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, UTC_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
