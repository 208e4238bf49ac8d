/* Benchmark of the policy engine on Aptomi's benchmark policies: times load,
 * resolve and diff (against an empty state) separately over repeated runs and
 * prints medians, peak RSS and counts; then a scaling run on generated
 * policies. Prints figures; asserts nothing (tests/bench checks results). */
#include "base/arena.h"
#include "base/clock.h"
#include "base/strbuf.h"
#include "engine/core/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long peak_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void die_diags(const char *what, struct diags *d)
{
	fprintf(stderr, "bench-resolve: %s failed:\n", what);
	for (size_t i = 0; i < d->len && i < 20; i++)
		fprintf(stderr, "  %s\n", d->items[i]);
	exit(1);
}

/* Writes the users file of a benchmark size with the fixture's make-users. */
static void make_users(const char *bench_dir, const char *size, const char *out)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "python3 '%s/make-users' %s '%s'", bench_dir, size, out);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench-resolve: make-users failed: %s\n", cmd);
		exit(1);
	}
}

struct timed {
	double load_ms, resolve_ms, diff_ms;
	size_t deps, resolved, instances, actions, creates, attaches;
};

struct loaded {
	struct intern *in;
	struct users *users;
	struct policy *policy;
};

static void load(struct loaded *l, const char *policy_path, const char *users_path,
		 const char *extra, size_t extra_len)
{
	struct diags d = DIAGS_INIT;
	l->in = intern_new();
	l->users = users_new(l->in);
	if (users_load(l->users, users_path, &d) < 0)
		die_diags("loading users", &d);
	l->policy = policy_new(l->in);
	if (policy_path && policy_add_path(l->policy, policy_path, 0, &d) < 0)
		die_diags("loading the policy", &d);
	if (extra && policy_add_yaml(l->policy, "generated", extra, extra_len, 0, &d) < 0)
		die_diags("loading the generated policy", &d);
	if (policy_validate(l->policy, &d) < 0)
		die_diags("validating the policy", &d);
	diags_release(&d);
}

static void unload(struct loaded *l)
{
	policy_free(l->policy);
	users_free(l->users);
	intern_free(l->in);
}

/* Loads, resolves and diffs against an empty state, timing each phase. */
static void measure(struct timed *t, const char *policy_path, const char *users_path,
		    const char *extra, size_t extra_len)
{
	struct loaded l;
	double t0 = clock_seconds() * 1e3;
	load(&l, policy_path, users_path, extra, extra_len);
	double t1 = clock_seconds() * 1e3;
	struct resolution *res;
	struct error err = ERROR_INIT;
	struct acl *acl = acl_new(l.policy);
	if (resolve_policy(&res, l.policy, l.users, acl, 0, &err) < 0) {
		fprintf(stderr, "bench-resolve: %s\n", error_msg(&err));
		exit(1);
	}
	double t2 = clock_seconds() * 1e3;
	struct state *next = state_from_resolution(res);
	struct plan *plan = plan_diff(NULL, next);
	double t3 = clock_seconds() * 1e3;
	*t = (struct timed){ t1 - t0, t2 - t1, t3 - t2, res->ndeps, res->nresolved, res->ninstances,
			     plan->len, plan->count[PLAN_CREATE], plan->count[PLAN_ATTACH] };
	plan_free(plan);
	state_free(next);
	resolution_free(res);
	acl_free(acl);
	unload(&l);
}

static void run_size(const char *bench_dir, const char *size, int runs)
{
	char policy_path[4096], users_path[] = "/tmp/cairn-bench-users-XXXXXX";
	snprintf(policy_path, sizeof(policy_path), "%s/%s/policy.yaml", bench_dir, size);
	int fd = mkstemp(users_path);
	close(fd);
	make_users(bench_dir, size, users_path);

	double *t_load = calloc((size_t)runs, sizeof(double));
	double *t_resolve = calloc((size_t)runs, sizeof(double));
	double *t_diff = calloc((size_t)runs, sizeof(double));
	struct timed t = { 0 };
	for (int r = 0; r < runs; r++) {
		measure(&t, policy_path, users_path, NULL, 0);
		t_load[r] = t.load_ms;
		t_resolve[r] = t.resolve_ms;
		t_diff[r] = t.diff_ms;
	}
	double ml = median(t_load, runs), mr = median(t_resolve, runs), md = median(t_diff, runs);
	printf("%-6s runs %d  load %8.2f ms  resolve %7.2f ms  diff %6.2f ms  resolve+diff %7.2f ms (medians)\n",
	       size, runs, ml, mr, md, mr + md);
	printf("%-6s dependencies %zu/%zu resolved  instances %zu  actions %zu (create %zu, attach %zu)  peak RSS so far %.1f MiB\n",
	       size, t.resolved, t.deps, t.instances, t.actions, t.creates, t.attaches,
	       peak_rss_kib() / 1024.0);
	unlink(users_path);
	free(t_load);
	free(t_resolve);
	free(t_diff);
}

/* The medium policy's services and contracts plus n generated dependencies
 * spread over its users and contracts. */
static void run_scaling(const char *bench_dir, size_t n)
{
	char policy_path[4096], users_path[] = "/tmp/cairn-bench-users-XXXXXX";
	snprintf(policy_path, sizeof(policy_path), "%s/medium/policy.yaml", bench_dir);
	int fd = mkstemp(users_path);
	close(fd);
	make_users(bench_dir, "medium", users_path);

	/* Only the non-dependency objects of the fixture. */
	FILE *f = fopen(policy_path, "r");
	if (!f) {
		perror(policy_path);
		exit(1);
	}
	struct strbuf text = STRBUF_INIT, obj = STRBUF_INIT;
	char line[8192];
	bool is_dep = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "- kind:", 7) == 0) {
			if (!is_dep)
				strbuf_add(&text, obj.buf ? obj.buf : "", obj.len);
			strbuf_reset(&obj);
			is_dep = strstr(line, "dependency") != NULL;
		}
		strbuf_adds(&obj, line);
	}
	if (!is_dep)
		strbuf_add(&text, obj.buf ? obj.buf : "", obj.len);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&text,
			    "- kind: dependency\n  metadata:\n    namespace: main\n    name: gen-%zu\n"
			    "  user: user-%zu\n  contract: contract-%zu\n",
			    i, (i * 7919) % 10000, (i * 31) % 100);

	struct timed t;
	measure(&t, NULL, users_path, text.buf, text.len);
	printf("scale  %7zu dependencies: load %8.1f ms  resolve %8.1f ms  diff %7.1f ms  (%.2f us per dependency)  resolved %zu  instances %zu  actions %zu\n",
	       n, t.load_ms, t.resolve_ms, t.diff_ms, (t.resolve_ms + t.diff_ms) * 1000.0 / (double)n,
	       t.resolved, t.instances, t.actions);
	strbuf_release(&text);
	strbuf_release(&obj);
	unlink(users_path);
}

int main(int argc, char **argv)
{
	const char *bench_dir = "../shared/bench/aptomi";
	int runs = 15;
	bool scaling = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--no-scaling") == 0)
			scaling = false;
		else if (argv[i][0] != '-')
			bench_dir = argv[i];
		else {
			fprintf(stderr, "usage: bench-resolve [--runs N] [--no-scaling] [BENCH_DIR]\n");
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	printf("bench-resolve: Aptomi's benchmark policies from %s, one thread\n", bench_dir);
	run_size(bench_dir, "small", runs);
	run_size(bench_dir, "medium", runs);
	if (scaling) {
		size_t sizes[] = { 1000, 10000, 100000 };
		for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
			run_scaling(bench_dir, sizes[i]);
	}
	return 0;
}
