/* The monotonic clock (clock.h). */
#include "clock.h"

#include <errno.h>
#include <time.h>

static struct timespec now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_ms(void)
{
	struct timespec ts = now();
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_us(void)
{
	struct timespec ts = now();
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double clock_seconds(void)
{
	struct timespec ts = now();
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(long long ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
