/* A stoppable sleep for background threads (reapers, schedules): a nap
 * ends early, and says so, once the sleeper is stopped, so a thread that
 * loops on naps ends at once when its owner stops. */
#ifndef CAIRN_SLEEPER_H
#define CAIRN_SLEEPER_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct sleeper {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* on the monotonic clock */
	bool stopping;
};

void sleeper_init(struct sleeper *s);
void sleeper_destroy(struct sleeper *s);
/* The CLOCK_MONOTONIC time ms from now: a deadline for
 * pthread_cond_timedwait on a condition using that clock. */
struct timespec sleeper_deadline(long long ms);
/* Sleeps ms unless stopped first; false once stopped. */
bool sleeper_nap(struct sleeper *s, long long ms);
/* Wakes every nap, which returns false, until sleeper_restart. */
void sleeper_stop(struct sleeper *s);
void sleeper_restart(struct sleeper *s);

#endif
