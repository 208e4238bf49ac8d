/* The monotonic clock, for deadlines and elapsed times: it does not jump
 * when the wall clock is set. And the wall clock, for times stored or shown. */
#ifndef CAIRN_CLOCK_H
#define CAIRN_CLOCK_H

long long clock_ms(void);
long long clock_us(void);
double clock_seconds(void);

/* Milliseconds since 1970 on the wall clock. */
long long wall_ms(void);

/* Sleeps ms milliseconds, all of them: a signal does not cut it short. */
void sleep_ms(long long ms);

#endif
