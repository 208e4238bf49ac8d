#include "sleeper.h"

#include <time.h>

void sleeper_init(struct sleeper *s)
{
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->stopping = false;
}

void sleeper_destroy(struct sleeper *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
}

struct timespec sleeper_deadline(long long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

bool sleeper_nap(struct sleeper *s, long long ms)
{
	struct timespec ts = sleeper_deadline(ms);
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	while (!s->stopping && rc == 0)
		rc = pthread_cond_timedwait(&s->cond, &s->mu, &ts);
	bool go = !s->stopping;
	pthread_mutex_unlock(&s->mu);
	return go;
}

void sleeper_stop(struct sleeper *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void sleeper_restart(struct sleeper *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = false;
	pthread_mutex_unlock(&s->mu);
}
