/* Converging from the command line (cli.h): the options every converging
 * command takes, progress on the terminal, the result as JSON, and a
 * Ctrl-C that stops starting new actions. */
#include "cli.h"

#include "base/clock.h"
#include "engine/apply/converge.h"
#include "engine/apply/reconcile.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

const char converge_options_usage[] =
	"  --parallel N     actions at once (default 8)\n"
	"  --timeout S      seconds an action may take (default 300)\n"
	"  --attempts N     tries of an action that fails transiently (default 5;\n"
	"                   waits 2, 4, 8, 16 s between them, see --backoff)\n"
	"  --backoff S      seconds before the first retry, doubling, capped at 16 s\n"
	"  --no-wait        refuse instead of waiting while another apply runs\n";

static bool parse_number(const char *s, double min, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || v < min)
		return false;
	*out = v;
	return true;
}

int converge_option(struct converge_cli *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	double v;
	if (strcmp(a, "--no-wait") == 0) {
		o->no_wait = true;
		return 1;
	}
	const char *names[] = { "--parallel", "--timeout", "--attempts", "--backoff" };
	for (size_t k = 0; k < 4; k++) {
		if (strcmp(a, names[k]) != 0)
			continue;
		if (*i + 1 >= argc || !parse_number(argv[*i + 1], k == 3 ? 0.001 : 1, &v)) {
			cli_error("%s needs a positive number", names[k]);
			return -1;
		}
		++*i;
		if (k == 0)
			o->exec.parallel = (unsigned)v;
		else if (k == 1)
			o->exec.timeout_ms = (long long)(v * 1000);
		else if (k == 2)
			o->exec.attempts = (unsigned)v;
		else
			o->exec.backoff_ms = (long long)(v * 1000);
		return 1;
	}
	return 0;
}

/* ---- progress ---- */

struct progress {
	bool tty;
	bool quiet; /* -o json: only the final document */
	long long t0;
	bool line_shown;
};

static void clear_line(struct progress *p)
{
	if (p->line_shown) {
		fputs("\r\033[K", stderr);
		p->line_shown = false;
	}
}

static void report(void *ctx, const struct exec *x, const struct exec_action *a)
{
	struct progress *p = ctx;
	if (p->quiet)
		return;
	if (a && (a->status == EXEC_DONE || a->status == EXEC_FAILED || a->status == EXEC_SKIPPED ||
		  a->status == EXEC_CANCELLED || (a->status == EXEC_PENDING && a->attempts))) {
		clear_line(p);
		double secs = a->started_ms && a->finished_ms ? (a->finished_ms - a->started_ms) / 1000.0 : 0;
		const char *status = a->status == EXEC_PENDING ? "retry" : exec_status_name(a->status);
		printf("%-9s %-14s %s", status, a->verb, a->target);
		if (a->status == EXEC_DONE || a->status == EXEC_FAILED)
			printf("  %.2fs", secs);
		if (a->status == EXEC_PENDING)
			printf("  (attempt %u failed, trying again)", a->attempts);
		if (a->message)
			printf(": %s", a->message);
		putchar('\n');
		fflush(stdout);
	}
	if (!p->tty || a)
		return;
	/* The live line: counts and the oldest running action. */
	size_t n[EXEC_CANCELLED + 1];
	exec_tally(x, n);
	const struct exec_action *oldest = NULL;
	for (size_t i = 0; i < exec_count(x); i++) {
		const struct exec_action *r = exec_get(x, i);
		if (r->status == EXEC_RUNNING && (!oldest || r->started_ms < oldest->started_ms))
			oldest = r;
	}
	size_t total = exec_count(x);
	size_t done = n[EXEC_DONE] + n[EXEC_FAILED] + n[EXEC_SKIPPED] + n[EXEC_CANCELLED];
	fprintf(stderr, "\r\033[K[%zu/%zu] %zu running, %zu failed, %.1fs", done, total,
		n[EXEC_RUNNING], n[EXEC_FAILED], (clock_ms() - p->t0) / 1000.0);
	if (oldest)
		fprintf(stderr, "  %s %.60s%s%.80s", oldest->verb, oldest->target,
			oldest->progress ? ": " : "", oldest->progress ? oldest->progress : "");
	fflush(stderr);
	p->line_shown = true;
}

static char *result_json(const struct converge_result *res, long long generation)
{
	json_t *actions = json_array();
	for (size_t i = 0; i < exec_count(res->exec); i++) {
		const struct exec_action *a = exec_get(res->exec, i);
		json_array_append_new(
			actions, json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:s?}", "action", a->verb,
					   "instance", a->target, "cluster", a->where, "status",
					   exec_status_name(a->status), "attempts", (int)a->attempts,
					   "seconds",
					   a->finished_ms && a->started_ms ? (a->finished_ms - a->started_ms) / 1000.0 : 0.0,
					   "message", a->message));
	}
	json_t *doc = json_pack("{s:I, s:o, s:I, s:f}", "generation", (json_int_t)generation,
				"actions", actions, "unsuccessful", (json_int_t)res->unsuccessful,
				"seconds", res->elapsed_ms / 1000.0);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

int cli_converge(struct cli *cli, const struct converge_cli *opts, const struct policy *p,
		 const struct resolution *r, long long generation, char **json)
{
	struct store *store = cli_store(cli);
	if (!store)
		return EXIT_FAILURE_;
	struct sigaction sa = { 0 }, old_int, old_term;
	sa.sa_handler = on_interrupt;
	sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	struct progress pr = { .tty = isatty(STDERR_FILENO) && !cli->json, .quiet = cli->json,
			       .t0 = clock_ms() };
	struct exec_options eo = opts->exec;
	eo.stop = &interrupted;
	eo.report = report;
	eo.report_ctx = &pr;

	int rc = EXIT_FAILURE_;
	struct error err = ERROR_INIT;
	struct converge_result res;
	int ok = reconcile(store, p, r, generation, false, &eo, &res, &err);
	if (ok < 0 && error_is(&err, ERROR_BUSY) && !opts->no_wait) {
		fprintf(stderr, "cairn: waiting for the apply running on %s to finish…\n", cli->state);
		error_clear(&err);
		ok = reconcile(store, p, r, generation, true, &eo, &res, &err);
	}
	clear_line(&pr);
	if (ok < 0) {
		cli_error("%s", error_msg(&err));
		rc = interrupted ? 130 : error_is(&err, ERROR_BUSY) ? EXIT_REFUSED : EXIT_FAILURE_;
	} else {
		size_t n[EXEC_CANCELLED + 1];
		exec_tally(res.exec, n);
		if (cli->json)
			*json = result_json(&res, generation);
		else if (exec_count(res.exec) == 0)
			printf("converged: generation %lld already runs as wanted (%.2fs)\n", generation,
			       res.elapsed_ms / 1000.0);
		else
			printf("%s: generation %lld, %zu done, %zu failed, %zu skipped, %zu cancelled (%.2fs)\n",
			       res.unsuccessful ? "not converged" : "converged", generation, n[EXEC_DONE],
			       n[EXEC_FAILED], n[EXEC_SKIPPED], n[EXEC_CANCELLED], res.elapsed_ms / 1000.0);
		rc = interrupted ? 130 : res.unsuccessful ? EXIT_FAILURE_ : EXIT_DONE;
		if (interrupted && !cli->json)
			fprintf(stderr, "cairn: interrupted: running actions finished, the rest were cancelled; "
					"`cairn apply` continues\n");
	}
	converge_result_release(&res);
	error_clear(&err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rc;
}
