/* The executor (exec.h). exec_run's thread schedules: it starts each ready
 * action on its own thread (at most `parallel` at once), collects outcomes,
 * retries transient failures after a backoff, skips what depended on a
 * failure, and reports. Only scheduling state is shared with the workers,
 * under one mutex. */
#include "exec.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/strbuf.h"
#include "base/vec.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct task {
	struct exec_action pub;
	exec_fn fn;
	void *ctx;
	void (*free_ctx)(void *);
	VEC(size_t) after;     /* actions waiting for this one */
	unsigned waiting;      /* predecessors not yet done */
	long long ready_at_ms; /* monotonic; retry not before */
	pthread_t thread;
	bool joinable;
	/* written by the worker, read after it is joined */
	int rc;
	struct error err;
	struct strbuf note; /* what a success says it did */
	char *progress;     /* exec_call_progress's latest, under the exec's lock */
};

struct exec {
	struct exec_options o;
	VEC(struct task *) tasks;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	VEC(size_t) finished; /* workers push here */
};

struct worker_arg {
	struct exec *x;
	size_t index;
	struct exec_call call;
};

const char *exec_status_name(enum exec_status s)
{
	static const char *const names[] = { "pending", "running", "ok", "failed", "skipped", "cancelled" };
	return (unsigned)s <= EXEC_CANCELLED ? names[s] : "unknown";
}

struct exec *exec_new(const struct exec_options *opts)
{
	struct exec *x = xcalloc(1, sizeof(*x));
	if (opts)
		x->o = *opts;
	if (!x->o.parallel)
		x->o.parallel = 8;
	if (!x->o.attempts)
		x->o.attempts = 5;
	if (!x->o.backoff_ms)
		x->o.backoff_ms = 2000;
	if (!x->o.backoff_max_ms)
		x->o.backoff_max_ms = 16000;
	if (!x->o.timeout_ms)
		x->o.timeout_ms = 300000;
	pthread_mutex_init(&x->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cv, &ca);
	pthread_condattr_destroy(&ca);
	return x;
}

void exec_free(struct exec *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->tasks.len; i++) {
		struct task *t = x->tasks.items[i];
		if (t->free_ctx)
			t->free_ctx(t->ctx);
		free((char *)t->pub.verb);
		free((char *)t->pub.target);
		free((char *)t->pub.where);
		free(t->pub.message);
		free(t->pub.progress);
		free(t->progress);
		error_clear(&t->err);
		strbuf_release(&t->note);
		vec_release(&t->after);
		free(t);
	}
	vec_release(&x->tasks);
	vec_release(&x->finished);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	free(x);
}

size_t exec_add(struct exec *x, const char *verb, const char *target, const char *where,
		exec_fn fn, void *ctx, void (*free_ctx)(void *))
{
	struct task *t = xcalloc(1, sizeof(*t));
	t->pub.verb = xstrdup(verb);
	t->pub.target = xstrdup(target);
	t->pub.where = xstrdup(where ? where : "");
	t->fn = fn;
	t->ctx = ctx;
	t->free_ctx = free_ctx;
	vec_push(&x->tasks, t);
	return x->tasks.len - 1;
}

void exec_order(struct exec *x, size_t before, size_t after)
{
	if (before == after)
		return;
	struct task *b = x->tasks.items[before];
	for (size_t i = 0; i < b->after.len; i++)
		if (b->after.items[i] == after)
			return;
	vec_push(&b->after, after);
	x->tasks.items[after]->waiting++;
}

size_t exec_count(const struct exec *x)
{
	return x->tasks.len;
}

const struct exec_action *exec_get(const struct exec *x, size_t i)
{
	return &x->tasks.items[i]->pub;
}

void exec_tally(const struct exec *x, size_t out[])
{
	memset(out, 0, sizeof(size_t) * (EXEC_CANCELLED + 1));
	for (size_t i = 0; i < x->tasks.len; i++)
		out[x->tasks.items[i]->pub.status]++;
}

static void *worker(void *p)
{
	struct worker_arg *w = p;
	struct exec *x = w->x;
	struct task *t = x->tasks.items[w->index];
	error_clear(&t->err);
	t->rc = t->fn(t->ctx, &w->call, &t->err);
	pthread_mutex_lock(&x->mu);
	vec_push(&x->finished, w->index);
	pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&x->mu);
	free(w);
	return NULL;
}

static void report(struct exec *x, const struct exec_action *a)
{
	if (x->o.report)
		x->o.report(x->o.report_ctx, x, a);
}

static void set_message(struct task *t, const char *msg)
{
	free(t->pub.message);
	t->pub.message = msg ? xstrdup(msg) : NULL;
}

/* Everything downstream of a failed action is skipped, naming the failure. */
static void skip_after(struct exec *x, struct task *failed)
{
	VEC(size_t) stack = { 0 };
	for (size_t i = 0; i < failed->after.len; i++)
		vec_push(&stack, failed->after.items[i]);
	char why[512];
	snprintf(why, sizeof(why), "skipped: %s %s failed", failed->pub.verb, failed->pub.target);
	while (stack.len) {
		struct task *t = x->tasks.items[stack.items[--stack.len]];
		if (t->pub.status != EXEC_PENDING)
			continue;
		t->pub.status = EXEC_SKIPPED;
		set_message(t, why);
		report(x, &t->pub);
		for (size_t i = 0; i < t->after.len; i++)
			vec_push(&stack, t->after.items[i]);
	}
	vec_release(&stack);
}

static long long backoff(const struct exec *x, unsigned attempt)
{
	long long d = x->o.backoff_ms;
	for (unsigned i = 1; i < attempt && d < x->o.backoff_max_ms; i++)
		d *= 2;
	return d < x->o.backoff_max_ms ? d : x->o.backoff_max_ms;
}

static void finish(struct exec *x, size_t index)
{
	struct task *t = x->tasks.items[index];
	if (t->joinable)
		pthread_join(t->thread, NULL);
	t->joinable = false;
	free(t->pub.progress);
	free(t->progress); /* the worker is joined: nobody writes it now */
	t->pub.progress = t->progress = NULL;
	if (t->rc == 0) {
		t->pub.status = EXEC_DONE;
		t->pub.finished_ms = wall_ms();
		set_message(t, t->note.len ? strbuf_cstr(&t->note) : NULL);
		report(x, &t->pub);
		for (size_t i = 0; i < t->after.len; i++)
			x->tasks.items[t->after.items[i]]->waiting--;
		return;
	}
	set_message(t, error_msg(&t->err));
	bool stopping = x->o.stop && *x->o.stop;
	if (error_is(&t->err, ERROR_TRANSIENT) && t->pub.attempts < x->o.attempts && !stopping) {
		t->pub.status = EXEC_PENDING; /* tried again after the backoff */
		t->ready_at_ms = clock_ms() + backoff(x, t->pub.attempts);
		report(x, &t->pub);
		return;
	}
	t->pub.status = EXEC_FAILED;
	t->pub.finished_ms = wall_ms();
	report(x, &t->pub);
	skip_after(x, t);
}

static void start(struct exec *x, size_t index)
{
	struct task *t = x->tasks.items[index];
	struct worker_arg *w = xcalloc(1, sizeof(*w));
	w->x = x;
	w->index = index;
	t->pub.attempts++;
	w->call.attempt = t->pub.attempts;
	w->call.deadline_ms = clock_ms() + x->o.timeout_ms;
	strbuf_reset(&t->note);
	w->call.note = &t->note;
	w->call.exec = x;
	w->call.index = index;
	t->pub.status = EXEC_RUNNING;
	if (t->pub.attempts == 1)
		t->pub.started_ms = wall_ms();
	t->joinable = pthread_create(&t->thread, NULL, worker, w) == 0;
	if (!t->joinable) {
		/* No thread: run it here rather than fail the apply. */
		error_clear(&t->err);
		t->rc = t->fn(t->ctx, &w->call, &t->err);
		free(w);
		pthread_mutex_lock(&x->mu);
		vec_push(&x->finished, index);
		pthread_mutex_unlock(&x->mu);
	}
	report(x, &t->pub);
}

void exec_call_progress(const struct exec_call *ec, const char *text)
{
	struct exec *x = ec->exec;
	pthread_mutex_lock(&x->mu);
	struct task *t = x->tasks.items[ec->index];
	free(t->progress);
	t->progress = text ? xstrdup(text) : NULL;
	pthread_mutex_unlock(&x->mu);
}

/* What running actions said of their progress, into their public view
 * (read by the report callback on this thread). */
static void take_progress(struct exec *x)
{
	pthread_mutex_lock(&x->mu);
	for (size_t i = 0; i < x->tasks.len; i++) {
		struct task *t = x->tasks.items[i];
		if (!t->progress)
			continue;
		free(t->pub.progress);
		t->pub.progress = t->progress;
		t->progress = NULL;
	}
	pthread_mutex_unlock(&x->mu);
}

size_t exec_run(struct exec *x)
{
	size_t running = 0;
	for (;;) {
		bool stopping = x->o.stop && *x->o.stop;
		long long now = clock_ms();
		long long next_ready = -1;
		size_t pending = 0;
		for (size_t i = 0; i < x->tasks.len; i++) {
			struct task *t = x->tasks.items[i];
			if (t->pub.status != EXEC_PENDING)
				continue;
			pending++;
			if (stopping || t->waiting || running >= x->o.parallel)
				continue;
			if (t->ready_at_ms > now) {
				if (next_ready < 0 || t->ready_at_ms < next_ready)
					next_ready = t->ready_at_ms;
				continue;
			}
			start(x, i);
			running++;
			pending--;
		}
		if (running == 0 && (pending == 0 || stopping))
			break;

		/* Wait for an outcome, a retry coming due, or the progress tick. */
		long long wake = clock_ms() + 200;
		if (next_ready >= 0 && next_ready < wake)
			wake = next_ready;
		pthread_mutex_lock(&x->mu);
		if (!x->finished.len) {
			struct timespec ts = { .tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000 };
			pthread_cond_timedwait(&x->cv, &x->mu, &ts);
		}
		VEC(size_t) done = { 0 };
		for (size_t i = 0; i < x->finished.len; i++)
			vec_push(&done, x->finished.items[i]);
		x->finished.len = 0;
		pthread_mutex_unlock(&x->mu);
		for (size_t i = 0; i < done.len; i++) {
			finish(x, done.items[i]);
			running--;
		}
		vec_release(&done);
		take_progress(x);
		report(x, NULL);
	}
	size_t unsuccessful = 0;
	for (size_t i = 0; i < x->tasks.len; i++) {
		struct task *t = x->tasks.items[i];
		if (t->pub.status == EXEC_PENDING) {
			t->pub.status = EXEC_CANCELLED;
			set_message(t, "cancelled: the apply was interrupted");
			report(x, &t->pub);
		}
		if (t->pub.status != EXEC_DONE)
			unsuccessful++;
	}
	return unsuccessful;
}
