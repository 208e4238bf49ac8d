/* The executor: order, bounded parallelism, retries with backoff, skips
 * after a failure, cancellation. Actions here are small functions that
 * record what happened; timing is measured, not assumed. */
#include "engine/apply/exec.h"

#include "base/clock.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct probe {
	atomic_int running, max_running, calls;
	atomic_int order[64];
	atomic_int next;
	int fail_times;      /* fail transiently this many times, then succeed */
	bool permanent;      /* fail for good */
	useconds_t sleep_us;
	volatile sig_atomic_t *stop_after_first; /* set it when the first call ends */
};

struct act {
	struct probe *p;
	int id;
};

static int run(void *ctx, const struct exec_call *call, struct error *err)
{
	struct act *a = ctx;
	struct probe *p = a->p;
	int now = atomic_fetch_add(&p->running, 1) + 1;
	int max = atomic_load(&p->max_running);
	while (now > max && !atomic_compare_exchange_weak(&p->max_running, &max, now))
		;
	if (p->sleep_us)
		usleep(p->sleep_us);
	atomic_fetch_sub(&p->running, 1);
	int calls = atomic_fetch_add(&p->calls, 1) + 1;
	p->order[atomic_fetch_add(&p->next, 1)] = a->id;
	if (p->stop_after_first)
		*p->stop_after_first = 1;
	cr_assert_gt(call->deadline_ms, clock_ms() - 1000);
	if (p->permanent) {
		return error_set(err, "action %d broke", a->id);
	}
	if (calls <= p->fail_times) {
		return error_set_kind(err, ERROR_TRANSIENT, "engine busy");
	}
	return 0;
}

static struct act *act(struct probe *p, int id)
{
	struct act *a = calloc(1, sizeof(*a));
	a->p = p;
	a->id = id;
	return a;
}

static size_t add(struct exec *x, struct probe *p, int id)
{
	char name[16];
	snprintf(name, sizeof(name), "a%d", id);
	return exec_add(x, "create", name, "c", run, act(p, id), free);
}

Test(exec, dependencies_run_first)
{
	struct probe p = { 0 };
	struct exec *x = exec_new(&(struct exec_options){ .parallel = 4 });
	size_t a = add(x, &p, 1), b = add(x, &p, 2), c = add(x, &p, 3);
	exec_order(x, c, b); /* 3 before 2 */
	exec_order(x, b, a); /* 2 before 1 */
	cr_assert_eq(exec_run(x), 0);
	cr_assert_eq(p.order[0], 3);
	cr_assert_eq(p.order[1], 2);
	cr_assert_eq(p.order[2], 1);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(exec_get(x, i)->status, EXEC_DONE);
	exec_free(x);
}

Test(exec, parallelism_is_bounded_and_used)
{
	struct probe p = { .sleep_us = 30000 };
	struct exec *x = exec_new(&(struct exec_options){ .parallel = 3 });
	for (int i = 0; i < 12; i++)
		add(x, &p, i);
	long long t0 = clock_ms();
	cr_assert_eq(exec_run(x), 0);
	long long took = clock_ms() - t0;
	cr_assert_eq(p.max_running, 3, "at most 3 at once, and 3 were used (saw %d)", p.max_running);
	cr_assert_eq(p.calls, 12);
	cr_assert_lt(took, 12 * 30, "ran in parallel (%lld ms)", took);
	exec_free(x);
}

Test(exec, transient_failures_are_retried_with_backoff)
{
	struct probe p = { .fail_times = 2 };
	struct exec *x = exec_new(&(struct exec_options){ .backoff_ms = 50, .attempts = 5 });
	add(x, &p, 1);
	long long t0 = clock_ms();
	cr_assert_eq(exec_run(x), 0);
	long long took = clock_ms() - t0;
	cr_assert_eq(p.calls, 3);
	cr_assert_eq(exec_get(x, 0)->attempts, 3);
	cr_assert_eq(exec_get(x, 0)->status, EXEC_DONE);
	cr_assert_null(exec_get(x, 0)->message);
	/* waits 50 then 100 ms */
	cr_assert_geq(took, 150, "backoff doubled (%lld ms)", took);
	exec_free(x);
}

Test(exec, attempts_are_bounded)
{
	struct probe p = { .fail_times = 100 };
	struct exec *x = exec_new(&(struct exec_options){ .backoff_ms = 1, .attempts = 4 });
	add(x, &p, 1);
	cr_assert_eq(exec_run(x), 1);
	cr_assert_eq(p.calls, 4);
	cr_assert_eq(exec_get(x, 0)->status, EXEC_FAILED);
	cr_assert_str_eq(exec_get(x, 0)->message, "engine busy");
	exec_free(x);
}

Test(exec, backoff_is_capped)
{
	struct probe p = { .fail_times = 3 };
	struct exec *x = exec_new(&(struct exec_options){ .backoff_ms = 40, .backoff_max_ms = 40 });
	add(x, &p, 1);
	long long t0 = clock_ms();
	cr_assert_eq(exec_run(x), 0);
	long long took = clock_ms() - t0;
	cr_assert_geq(took, 120);
	cr_assert_lt(took, 40 + 80 + 160, "capped at 40 ms per wait (%lld ms)", took);
	exec_free(x);
}

Test(exec, failure_skips_what_depends_on_it_only)
{
	struct probe bad = { .permanent = true }, good = { 0 };
	struct exec *x = exec_new(NULL);
	size_t a = add(x, &bad, 1);
	size_t b = add(x, &good, 2), c = add(x, &good, 3), d = add(x, &good, 4);
	exec_order(x, a, b);
	exec_order(x, b, c);
	cr_assert_eq(exec_run(x), 3);
	cr_assert_eq(bad.calls, 1, "a permanent failure is not retried");
	cr_assert_eq(exec_get(x, a)->status, EXEC_FAILED);
	cr_assert_eq(exec_get(x, b)->status, EXEC_SKIPPED);
	cr_assert_eq(exec_get(x, c)->status, EXEC_SKIPPED);
	cr_assert_str_eq(exec_get(x, c)->message, "skipped: create a1 failed");
	cr_assert_eq(exec_get(x, d)->status, EXEC_DONE, "independent work still runs");
	exec_free(x);
}

Test(exec, stop_cancels_what_has_not_started)
{
	volatile sig_atomic_t stop = 0;
	struct probe p = { .stop_after_first = &stop };
	struct exec *x = exec_new(&(struct exec_options){ .parallel = 1, .stop = &stop });
	for (int i = 0; i < 5; i++)
		add(x, &p, i);
	cr_assert_eq(exec_run(x), 4);
	cr_assert_eq(p.calls, 1);
	size_t n[EXEC_CANCELLED + 1];
	exec_tally(x, n);
	cr_assert_eq(n[EXEC_DONE], 1);
	cr_assert_eq(n[EXEC_CANCELLED], 4);
	exec_free(x);
}

struct seen {
	int started, ended, ticks;
};

static void count(void *ctx, const struct exec *x, const struct exec_action *a)
{
	struct seen *s = ctx;
	if (!a)
		s->ticks++;
	else if (a->status == EXEC_RUNNING)
		s->started++;
	else if (a->status == EXEC_DONE)
		s->ended++;
}

Test(exec, reports_every_start_and_end)
{
	struct probe p = { 0 };
	struct seen s = { 0 };
	struct exec *x = exec_new(&(struct exec_options){ .report = count, .report_ctx = &s });
	for (int i = 0; i < 7; i++)
		add(x, &p, i);
	cr_assert_eq(exec_run(x), 0);
	cr_assert_eq(s.started, 7);
	cr_assert_eq(s.ended, 7);
	cr_assert_gt(s.ticks, 0);
	for (int i = 0; i < 7; i++)
		cr_assert_geq(exec_get(x, (size_t)i)->finished_ms, exec_get(x, (size_t)i)->started_ms);
	exec_free(x);
}

Test(exec, nothing_to_do)
{
	struct exec *x = exec_new(NULL);
	cr_assert_eq(exec_run(x), 0);
	cr_assert_eq(exec_count(x), 0);
	exec_free(x);
}

/* An action says how far it is while it runs and what it did when done. */
struct talk {
	const char *seen; /* the progress the report saw, copied */
	char buf[64];
};

static int talking(void *ctx, const struct exec_call *call, struct error *err)
{
	(void)ctx, (void)err;
	exec_call_progress(call, "3 of 10 files");
	usleep(600 * 1000); /* past a progress tick (200 ms) */
	strbuf_addf(call->note, "10 files copied");
	return 0;
}

static void watch(void *ctx, const struct exec *x, const struct exec_action *a)
{
	struct talk *t = ctx;
	const struct exec_action *only = exec_get(x, 0);
	if (!a && only->progress && !t->seen) {
		snprintf(t->buf, sizeof(t->buf), "%s", only->progress);
		t->seen = t->buf;
	}
}

Test(exec, progress_while_running_and_a_note_when_done)
{
	struct talk t = { 0 };
	struct exec_options o = { .report = watch, .report_ctx = &t };
	struct exec *x = exec_new(&o);
	exec_add(x, "sync", "media", "local", talking, NULL, NULL);
	cr_assert_eq(exec_run(x), 0);
	cr_assert_str_eq(t.seen ? t.seen : "(none)", "3 of 10 files");
	const struct exec_action *a = exec_get(x, 0);
	cr_assert_eq(a->status, EXEC_DONE);
	cr_assert_str_eq(a->message ? a->message : "(none)", "10 files copied");
	cr_assert_null(a->progress, "no progress once it is done");
	exec_free(x);
}
