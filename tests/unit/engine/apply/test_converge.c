/* converge() through a driver of cairn's own interface (driver.h) that runs
 * nothing: it observes what a previous converge made, plans a create for
 * each wanted instance it lacks and a delete for each object nobody wants,
 * and its actions write into that record. This is a test double of cairn's
 * driver interface, not of Docker: it shows what the converge loop asks of
 * any driver, and that a second converge of the same state does nothing. */
#include "engine/apply/converge.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

/* What "runs" on the fake cluster, across converges: instance keys. The
 * executor runs independent actions at once, so the actions take the lock. */
static struct {
	char *keys[16];
	size_t n;
	int opened, closed;
} running;
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;

struct driver {
	struct observed seen[16];
	size_t nseen;
};

static int fake_open(struct driver **out, const struct cluster *c, const struct exec_options *eo,
		     struct error *err)
{
	*out = xcalloc(1, sizeof(**out));
	running.opened++;
	return 0;
}

static void fake_close(struct driver *d)
{
	running.closed++;
	free(d);
}

static int fake_observe(struct driver *d, struct error *err)
{
	d->nseen = 0;
	for (size_t i = 0; i < running.n; i++)
		d->seen[d->nseen++] = (struct observed){ .key = running.keys[i], .kind = "unit",
							.state = "running" };
	return 0;
}

static const struct observed *fake_list(struct driver *d, size_t *n)
{
	*n = d->nseen;
	return d->seen;
}

static int fake_create(void *ctx, const struct exec_call *call, struct error *err)
{
	pthread_mutex_lock(&running_lock);
	running.keys[running.n++] = xstrdup(ctx);
	pthread_mutex_unlock(&running_lock);
	return 0;
}

static int fake_delete(void *ctx, const struct exec_call *call, struct error *err)
{
	pthread_mutex_lock(&running_lock);
	for (size_t i = 0; i < running.n; i++)
		if (strcmp(running.keys[i], ctx) == 0) {
			free(running.keys[i]);
			running.keys[i] = running.keys[--running.n];
			pthread_mutex_unlock(&running_lock);
			return 0;
		}
	pthread_mutex_unlock(&running_lock);
	return error_set(err, "%s does not run", (const char *)ctx);
}

static int fake_plan(struct driver *d, const struct desired *want, struct exec *x, struct error *err)
{
	const struct resolution *r = want->resolution;
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		bool seen = false;
		for (size_t k = 0; k < d->nseen; k++)
			seen |= strcmp(d->seen[k].key, in->key) == 0;
		if (in->code_type && !seen)
			exec_add(x, "create", in->key, "fake", fake_create, xstrdup(in->key), free);
	}
	for (size_t k = 0; k < d->nseen; k++)
		if (!map_get(&r->by_key, d->seen[k].key, strlen(d->seen[k].key)))
			exec_add(x, "delete", d->seen[k].key, "fake", fake_delete,
				 xstrdup(d->seen[k].key), free);
	return 0;
}

/* No params or config table: the fake takes anything. */
static const struct driver_ops fake_ops = {
	.type = "fake", .code_type = "fake", .unit = "unit",
	.open = fake_open, .close = fake_close,
	.observe = fake_observe, .list = fake_list, .plan = fake_plan,
};

static const char policy_text[] =
	"- {kind: cluster, metadata: {namespace: system, name: here}, type: fake, config: {}}\n"
	"- {kind: rule, metadata: {namespace: main, name: place}, weight: 0,\n"
	"   criteria: {require-any: ['true']}, actions: {change-labels: {set: {cluster: here}}}}\n"
	"- {kind: service, metadata: {namespace: main, name: app},\n"
	"   components: [{name: db, code: {type: fake}}, {name: web, code: {type: fake}, dependencies: [db]}]}\n"
	"- {kind: contract, metadata: {namespace: main, name: app},\n"
	"   contexts: [{name: ctx, allocation: {service: app, keys: ['{{ .User.Name }}']}}]}\n"
	"- {kind: dependency, metadata: {namespace: main, name: alice}, user: Alice, contract: app}\n";

struct world {
	struct intern *in;
	struct policy *p;
	struct users *users;
	struct resolution *r;
};

static void world_open(struct world *w)
{
	struct diags d = DIAGS_INIT;
	struct error err = ERROR_INIT;
	w->in = intern_new();
	w->p = policy_new(w->in);
	w->users = users_new(w->in);
	const char users_text[] = "- {name: Alice}\n";
	cr_assert_eq(users_load_text(w->users, "users.yaml", users_text, strlen(users_text), &d), 0);
	cr_assert_eq(policy_add_yaml(w->p, "p.yaml", policy_text, strlen(policy_text), 0, &d), 0,
		     "%s", d.len ? d.items[0] : "");
	cr_assert_eq(policy_validate(w->p, &d), 0, "%s", d.len ? d.items[0] : "");
	cr_assert_eq(resolve_policy(&w->r, w->p, w->users, NULL, 0, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(w->r->nresolved, 1, "%s", w->r->ndeps ? w->r->deps[0].reason : "no dependency");
}

static void world_close(struct world *w)
{
	resolution_free(w->r);
	users_free(w->users);
	policy_free(w->p);
	intern_free(w->in);
}

/* One converge of w's resolution on the fake cluster; the verbs it ran. */
static void converge_once(struct world *w, struct strbuf *verbs, size_t *unsuccessful)
{
	const struct cluster *c = (const struct cluster *)policy_get(w->p, KIND_CLUSTER, "system", "here");
	struct fleet *f = fleet_open(NULL, NULL);
	fleet_add_cluster(f, c, &fake_ops, NULL);
	cr_assert(fleet_reachable(f, "here"));
	struct converge_result res;
	struct error err = ERROR_INIT;
	cr_assert_eq(converge(f, NULL, w->r, 1, NULL, &res, &err), 0, "%s", error_msg(&err));
	for (size_t i = 0; i < exec_count(res.exec); i++) {
		const struct exec_action *a = exec_get(res.exec, i);
		strbuf_addf(verbs, "%s%s %s", verbs->len ? ", " : "", a->verb, a->target);
	}
	*unsuccessful = res.unsuccessful;
	converge_result_release(&res);
	fleet_close(f);
}

Test(converge, a_driver_converges_and_then_has_nothing_to_do)
{
	struct world w;
	world_open(&w);
	running.keys[running.n++] = xstrdup("here#main#old#ctx#gone"); /* nobody wants it */

	struct strbuf verbs = STRBUF_INIT;
	size_t failed;
	converge_once(&w, &verbs, &failed);
	cr_expect_eq(failed, 0);
	cr_expect(strstr(verbs.buf, "create here#main#app#ctx#Alice#db"), "%s", verbs.buf);
	cr_expect(strstr(verbs.buf, "create here#main#app#ctx#Alice#web"), "%s", verbs.buf);
	cr_expect(strstr(verbs.buf, "delete here#main#old#ctx#gone"), "%s", verbs.buf);
	cr_expect_eq(running.n, 2, "the two components run, the stale one is gone");

	strbuf_reset(&verbs);
	converge_once(&w, &verbs, &failed);
	cr_expect_eq(verbs.len, 0, "converged: nothing to do, got %s", verbs.buf);
	cr_expect_eq(running.opened, 2);
	cr_expect_eq(running.closed, 2, "every driver opened is closed");

	strbuf_release(&verbs);
	for (size_t i = 0; i < running.n; i++)
		free(running.keys[i]);
	world_close(&w);
}
