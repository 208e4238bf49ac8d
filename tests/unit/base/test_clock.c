/* The monotonic clock for deadlines, the wall clock for dates, and a
 * sleep that a signal does not cut short. */
#include "base/clock.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

Test(clock, units_agree)
{
	long long ms = clock_ms(), us = clock_us();
	double s = clock_seconds();
	cr_assert(us / 1000 - ms >= 0 && us / 1000 - ms < 50, "ms %lld, us %lld", ms, us);
	cr_assert(s * 1000 - (double)ms >= 0 && s * 1000 - (double)ms < 50, "s %f, ms %lld", s, ms);
	long long wall = wall_ms(), t = (long long)time(NULL) * 1000;
	cr_assert(wall - t > -1000 && wall - t < 1000, "wall %lld, time() %lld", wall, t);
}

static void on_alarm(int sig)
{
	(void)sig;
}

Test(clock, sleep_lasts_through_signals)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: nanosleep returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every_10ms = { { 0, 10000 }, { 0, 10000 } };
	setitimer(ITIMER_REAL, &every_10ms, NULL);
	long long t0 = clock_ms();
	sleep_ms(120);
	long long slept = clock_ms() - t0;
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	cr_assert(slept >= 120, "slept %lld ms of 120", slept);
	cr_assert(slept < 1000, "slept %lld ms of 120", slept);
	t0 = clock_ms();
	sleep_ms(0);
	sleep_ms(-5);
	cr_assert(clock_ms() - t0 < 50, "no sleep for 0 or less");
}
