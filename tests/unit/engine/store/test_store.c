/* The revision store on a real SQLite file or PostgreSQL database
 * (store_fixture.h): generations, object versions, changes, diffs, states,
 * actions, concurrent writers, the apply lock and open errors. */
#include "store_fixture.h"

#include <signal.h>
#include <sys/wait.h>

TestSuite(store, .init = setup, .fini = teardown);

/* Commits one generation at a fixed time; returns its number. */
static long long commit(struct store *s, const char *user, const char *verb,
			const struct store_change *changes, size_t n, const char *state)
{
	struct store_txn *t;
	struct error err = ERROR_INIT;
	long long gen = 0;
	cr_assert_eq(store_begin(s, &t, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_commit_generation_at(t, user, verb, 1700000000, changes, n, state, &gen,
						&err),
		     0, "%s", error_msg(&err));
	return gen;
}

/* Every listing callback appends "kind ns/name body;" to a buffer. */
struct text {
	char buf[4096];
};

static void add(struct text *t, const char *fmt, const char *a, const char *b, const char *c,
		const char *d)
{
	size_t len = strlen(t->buf);
	snprintf(t->buf + len, sizeof(t->buf) - len, fmt, a, b, c, d);
}

static int list_object(void *ctx, const char *kind, const char *ns, const char *name, const char *body,
		            const char *origin)
{
	add(ctx, "%s %s/%s %s", kind, ns, name, body);
	add(ctx, "%s%s;", origin ? " from " : "", origin ? origin : "", NULL, NULL);
	return 0;
}

static const char *objects_of(struct store *s, long long gen, struct text *t)
{
	struct error err = ERROR_INIT;
	t->buf[0] = '\0';
	cr_assert_eq(store_list_objects(s, gen, list_object, t, &err), 0, "%s", error_msg(&err));
	return t->buf;
}

static int list_change(void *ctx, const struct store_change *c, const char *old_body)
{
	add(ctx, "%s %s ", store_change_name(c->change), c->kind, NULL, NULL);
	add(ctx, "%s/%s %s -> %s;", c->ns, c->name, old_body ? old_body : "null",
	    c->body ? c->body : "null");
	return 0;
}

static const char *changes_of(struct store *s, long long gen, struct text *t)
{
	struct error err = ERROR_INIT;
	t->buf[0] = '\0';
	cr_assert_eq(store_generation_changes(s, gen, list_change, t, &err), 0, "%s",
		     error_msg(&err));
	return t->buf;
}

static int list_diff(void *ctx, const char *kind, const char *ns, const char *name,
		     const char *old_body, const char *new_body)
{
	add(ctx, "%s %s/%s ", kind, ns, name, NULL);
	add(ctx, "%s -> %s;", old_body ? old_body : "null", new_body ? new_body : "null", NULL, NULL);
	return 0;
}

static const char *diff_of(struct store *s, long long from, long long to, struct text *t)
{
	struct error err = ERROR_INIT;
	t->buf[0] = '\0';
	cr_assert_eq(store_diff(s, from, to, list_diff, t, &err), 0, "%s", error_msg(&err));
	return t->buf;
}

/* Generation 1 creates a, b; 2 updates a, deletes b, creates c; 3 deletes a. */
static struct store *three_generations(void)
{
	struct store *s = open_store(db);
	struct store_change g1[] = {
		{ "service", "main", "b", STORE_CREATED, "{\"b\":1}", NULL },
		{ "service", "main", "a", STORE_CREATED, "{\"a\":1}", NULL },
	};
	struct store_change g2[] = {
		{ "service", "main", "a", STORE_UPDATED, "{\"a\":2}", NULL },
		{ "service", "main", "b", STORE_DELETED, NULL, NULL },
		{ "contract", "main", "c", STORE_CREATED, "{\"c\":1}", NULL },
	};
	struct store_change g3[] = { { "service", "main", "a", STORE_DELETED, NULL, NULL } };
	cr_assert_eq(commit(s, "alice", "apply", g1, 2, "{\"s\":1}"), 1);
	cr_assert_eq(commit(s, "bob", "apply", g2, 3, "{\"s\":2}"), 2);
	cr_assert_eq(commit(s, "alice", "delete", g3, 1, NULL), 3);
	return s;
}

Test(store, generations_are_numbered_consecutively)
{
	struct store *s = three_generations();
	struct error err = ERROR_INIT;
	long long current = -1;
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 3);
	store_close(s);
}

Test(store, empty_store_has_generation_zero)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long current = -1;
	struct text t;
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 0);
	cr_expect_str_eq(objects_of(s, 0, &t), "");
	cr_expect_eq(store_list_objects(s, 1, list_object, &t, &err), -1);
	cr_expect_str_eq(error_msg(&err), "generation 1 does not exist (no policy generations yet)");
	error_clear(&err);
	store_close(s);
}

Test(store, older_generations_stay_listable)
{
	struct store *s = three_generations();
	struct text t;
	cr_expect_str_eq(objects_of(s, 1, &t), "service main/a {\"a\":1};service main/b {\"b\":1};");
	cr_expect_str_eq(objects_of(s, 2, &t), "contract main/c {\"c\":1};service main/a {\"a\":2};");
	cr_expect_str_eq(objects_of(s, 3, &t), "contract main/c {\"c\":1};");
	struct error err = ERROR_INIT;
	cr_expect_eq(store_list_objects(s, 4, list_object, &t, &err), -1);
	cr_expect_str_eq(error_msg(&err), "generation 4 does not exist (the latest is 3)");
	error_clear(&err);
	store_close(s);
}

Test(store, data_survives_reopening)
{
	store_close(three_generations());
	struct store *s = open_store(db);
	struct text t;
	cr_expect_str_eq(objects_of(s, 2, &t), "contract main/c {\"c\":1};service main/a {\"a\":2};");
	store_close(s);
}

Test(store, changes_are_recorded_per_generation)
{
	struct store *s = three_generations();
	struct text t;
	cr_expect_str_eq(changes_of(s, 1, &t), "created service main/a null -> {\"a\":1};"
					       "created service main/b null -> {\"b\":1};");
	cr_expect_str_eq(changes_of(s, 2, &t), "created contract main/c null -> {\"c\":1};"
					       "updated service main/a {\"a\":1} -> {\"a\":2};"
					       "deleted service main/b {\"b\":1} -> null;");
	cr_expect_str_eq(changes_of(s, 3, &t), "deleted service main/a {\"a\":2} -> null;");

	struct store_generation g;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_generation_get(s, 2, &g, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(g.generation, 2);
	cr_expect_str_eq(g.user, "bob");
	cr_expect_str_eq(g.verb, "apply");
	cr_expect_eq(g.time, 1700000000);
	cr_expect_eq(g.created, 1);
	cr_expect_eq(g.updated, 1);
	cr_expect_eq(g.deleted, 1);
	store_generation_release(&g);
	cr_expect_eq(store_generation_get(s, 9, &g, &err), -1);
	cr_expect_str_eq(error_msg(&err), "generation 9 does not exist (the latest is 3)");
	error_clear(&err);
	store_close(s);
}

static int list_last_change(void *ctx, const char *ns, const char *name, long long generation,
			    long long time)
{
	char g[48];
	snprintf(g, sizeof(g), "%lld@%lld", generation, time);
	add(ctx, "%s/%s %s%s;", ns, name, g, "");
	return 0;
}

Test(store, the_last_change_of_each_live_object_is_one_query)
{
	struct store *s = three_generations();
	struct store_change g4[] = {
		{ "service", "main", "a", STORE_CREATED, "{\"a\":3}", NULL },
		{ "service", "dev", "z", STORE_CREATED, "{\"z\":1}", NULL },
	};
	struct store_change g5[] = { { "service", "dev", "z", STORE_UPDATED, "{\"z\":2}", NULL } };
	cr_assert_eq(commit(s, "alice", "apply", g4, 2, NULL), 4);
	cr_assert_eq(commit(s, "alice", "apply", g5, 1, NULL), 5);
	struct text t = { "" };
	struct error err = ERROR_INIT;
	cr_assert_eq(store_last_changes(s, "service", list_last_change, &t, &err), 0, "%s",
		     error_msg(&err));
	/* b is gone; a was made again by 4; z was updated by 5. */
	cr_expect_str_eq(t.buf, "dev/z 5@1700000000;main/a 4@1700000000;");
	t.buf[0] = '\0';
	cr_assert_eq(store_last_changes(s, "contract", list_last_change, &t, &err), 0);
	cr_expect_str_eq(t.buf, "main/c 2@1700000000;");
	cr_expect_eq(store_last_changes(s, "", list_last_change, &t, &err), -1);
	error_clear(&err);
	store_close(s);
}

struct log_ctx {
	struct text t;
	int calls, stop_after;
};

static int log_generation(void *ctx_, const struct store_generation *g)
{
	struct log_ctx *ctx = ctx_;
	size_t len = strlen(ctx->t.buf);
	snprintf(ctx->t.buf + len, sizeof(ctx->t.buf) - len, "%lld %s %s %zu/%zu/%zu;", g->generation,
		 g->user, g->verb, g->created, g->updated, g->deleted);
	return ++ctx->calls == ctx->stop_after ? 7 : 0;
}

Test(store, log_lists_newest_first_with_counts)
{
	struct store *s = three_generations();
	struct error err = ERROR_INIT;
	struct log_ctx ctx = { .t.buf = "" };
	cr_assert_eq(store_log(s, log_generation, &ctx, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(ctx.t.buf, "3 alice delete 0/0/1;2 bob apply 1/1/1;1 alice apply 2/0/0;");

	struct log_ctx stop = { .t.buf = "", .stop_after = 1 };
	cr_expect_eq(store_log(s, log_generation, &stop, &err), 7, "the callback's value comes back");
	cr_expect_eq(stop.calls, 1);
	store_close(s);
}

Test(store, abort_leaves_nothing)
{
	struct store *s = three_generations();
	struct store_txn *t;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_begin(s, &t, &err), 0);
	store_abort(t);

	/* A failing change undoes the whole generation, including the changes before it. */
	struct store_change bad[] = {
		{ "service", "main", "d", STORE_CREATED, "{\"d\":1}", NULL },
		{ "service", "main", "a", STORE_DELETED, NULL, NULL },
	};
	long long gen = 0;
	cr_assert_eq(store_begin(s, &t, &err), 0);
	cr_expect_eq(store_commit_generation(t, "alice", "apply", bad, 2, "{}", &gen, &err), -1);
	cr_expect_str_eq(error_msg(&err),
			 "generation 4 not recorded: cannot delete service main/a: it does not exist");
	error_clear(&err);

	long long current;
	struct text t1;
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 3);
	cr_expect_str_eq(objects_of(s, 3, &t1), "contract main/c {\"c\":1};");
	char *state = NULL;
	cr_assert_eq(store_load_state(s, 0, &state, &err), 0);
	cr_expect_null(state, "generation 3 was committed without a state");

	/* The store is usable again: the failed transaction is finished. */
	struct store_change good[] = { { "service", "main", "d", STORE_CREATED, "{\"d\":1}", NULL } };
	cr_expect_eq(commit(s, "alice", "apply", good, 1, NULL), 4);
	store_close(s);
}

Test(store, reads_inside_a_transaction_see_the_store)
{
	struct store *s = three_generations();
	struct store_txn *t;
	struct error err = ERROR_INIT;
	long long current = 0, gen = 0;
	struct text t1;
	cr_assert_eq(store_begin(s, &t, &err), 0);
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 3);
	cr_expect_str_eq(objects_of(s, current, &t1), "contract main/c {\"c\":1};");
	struct store_txn *second;
	cr_expect_eq(store_begin(s, &second, &err), -1, "one transaction at a time");
	error_clear(&err);
	struct store_change c[] = { { "contract", "main", "c", STORE_UPDATED, "{\"c\":2}", NULL } };
	cr_assert_eq(store_commit_generation(t, "carol", "apply", c, 1, NULL, &gen, &err), 0, "%s",
		     error_msg(&err));
	cr_expect_eq(gen, 4);
	store_close(s);
}

Test(store, an_object_keeps_where_it_was_written)
{
	struct store *s = three_generations();
	struct store_txn *t;
	struct error err = ERROR_INIT;
	long long gen = 0;
	struct store_change c[] = { { "contract", "main", "c", STORE_UPDATED, "{\"c\":2}",
				      "Frank/c.yaml\n 25,3 25,3 25,9" } };
	cr_assert_eq(store_begin(s, &t, &err), 0);
	cr_assert_eq(store_commit_generation(t, "frank", "apply", c, 1, NULL, &gen, &err), 0, "%s",
		     error_msg(&err));
	struct text t1;
	cr_expect_str_eq(objects_of(s, gen, &t1),
			 "contract main/c {\"c\":2} from Frank/c.yaml\n 25,3 25,3 25,9;");
	cr_expect_str_eq(objects_of(s, gen - 1, &t1), "contract main/c {\"c\":1};",
			 "one stored without an origin has none");
	store_close(s);
}

Test(store, changes_must_match_the_store)
{
	struct store *s = three_generations();
	struct store_txn *t;
	struct error err = ERROR_INIT;
	long long gen = 0;
	struct {
		struct store_change c[2];
		size_t n;
		const char *msg;
	} cases[] = {
		{ { { "contract", "main", "c", STORE_CREATED, "{}", NULL } }, 1,
		  "generation 4 not recorded: cannot create contract main/c: it already exists" },
		{ { { "service", "main", "zz", STORE_UPDATED, "{}", NULL } }, 1,
		  "generation 4 not recorded: cannot update service main/zz: it does not exist" },
		{ { { "contract", "main", "c", STORE_UPDATED, NULL, NULL } }, 1,
		  "generation 4 not recorded: cannot update contract main/c without a body" },
		{ { { "service", "x", "n", STORE_CREATED, "{}", NULL }, { "service", "x", "n", STORE_UPDATED, "{}", NULL } }, 2,
		  "generation 4 not recorded: service x/n is changed twice in one generation" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		cr_assert_eq(store_begin(s, &t, &err), 0);
		cr_expect_eq(store_commit_generation(t, "u", "apply", cases[i].c, cases[i].n, NULL, &gen, &err), -1);
		cr_expect_str_eq(error_msg(&err), cases[i].msg);
		error_clear(&err);
	}
	cr_assert_eq(store_begin(s, &t, &err), 0);
	cr_expect_eq(store_commit_generation(t, "", "apply", NULL, 0, NULL, &gen, &err), -1);
	cr_expect_str_eq(error_msg(&err), "cannot record a generation without a user");
	error_clear(&err);
	long long current;
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 3);
	store_close(s);
}

Test(store, state_round_trips)
{
	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	char *json = (char *)"untouched";
	cr_assert_eq(store_load_state(s, 0, &json, &err), 0);
	cr_expect_null(json, "no generation, no state");
	store_close(s);

	s = three_generations();
	cr_assert_eq(store_load_state(s, 1, &json, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(json, "{\"s\":1}");
	free(json);
	cr_assert_eq(store_load_state(s, 2, &json, &err), 0);
	cr_expect_str_eq(json, "{\"s\":2}");
	free(json);
	cr_assert_eq(store_load_state(s, 3, &json, &err), 0);
	cr_expect_null(json);

	struct store_change c[] = { { "contract", "main", "c", STORE_UPDATED, "{\"c\":2}", NULL } };
	cr_assert_eq(commit(s, "alice", "apply", c, 1, "{\"s\":4}"), 4);
	cr_assert_eq(store_load_state(s, 0, &json, &err), 0);
	cr_expect_str_eq(json, "{\"s\":4}", "0 is the latest");
	free(json);
	cr_expect_eq(store_load_state(s, 5, &json, &err), -1);
	cr_expect_str_eq(error_msg(&err), "generation 5 does not exist (the latest is 4)");
	error_clear(&err);
	store_close(s);
}

Test(store, diff_between_generations)
{
	struct store *s = three_generations();
	struct text t;
	cr_expect_str_eq(diff_of(s, 1, 2, &t), "contract main/c null -> {\"c\":1};"
					       "service main/a {\"a\":1} -> {\"a\":2};"
					       "service main/b {\"b\":1} -> null;");
	cr_expect_str_eq(diff_of(s, 2, 1, &t), "contract main/c {\"c\":1} -> null;"
					       "service main/a {\"a\":2} -> {\"a\":1};"
					       "service main/b null -> {\"b\":1};");
	cr_expect_str_eq(diff_of(s, 1, 3, &t), "contract main/c null -> {\"c\":1};"
					       "service main/a {\"a\":1} -> null;"
					       "service main/b {\"b\":1} -> null;");
	cr_expect_str_eq(diff_of(s, 0, 1, &t), "service main/a null -> {\"a\":1};"
					       "service main/b null -> {\"b\":1};");
	cr_expect_str_eq(diff_of(s, 2, 2, &t), "");

	/* Deleted, then created again as it was: no difference across the two. */
	struct store_change back[] = { { "service", "main", "a", STORE_CREATED, "{\"a\":2}", NULL } };
	cr_assert_eq(commit(s, "alice", "apply", back, 1, NULL), 4);
	cr_expect_str_eq(diff_of(s, 2, 4, &t), "");
	cr_expect_str_eq(diff_of(s, 3, 4, &t), "service main/a null -> {\"a\":2};");

	struct error err = ERROR_INIT;
	cr_expect_eq(store_diff(s, 1, 5, list_diff, &t, &err), -1);
	cr_expect_str_eq(error_msg(&err), "generation 5 does not exist (the latest is 4)");
	error_clear(&err);
	store_close(s);
}

static int count_objects(void *ctx, const char *kind, const char *ns, const char *name, const char *body,
		              const char *origin)
{
	(*(int *)ctx)++;
	return 0;
}

/* Hundreds of changes in one generation: all kept, or none when one fails
 * (the PostgreSQL backend sends them in several round trips). */
Test(store, large_generations_are_kept_whole_or_not_at_all)
{
	enum { N = 450 };
	static struct store_change c[N];
	static char names[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "o%03d", i);
		c[i] = (struct store_change){ "service", "big", names[i], STORE_CREATED, "{}", NULL };
	}
	struct store *s = open_store(db);
	cr_assert_eq(commit(s, "alice", "apply", c, N, NULL), 1);
	int n = 0;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_list_objects(s, 1, count_objects, &n, &err), 0, "%s", error_msg(&err));
	cr_expect_eq(n, N);

	/* Update them all, but the last change deletes something that is not there. */
	for (int i = 0; i < N; i++)
		c[i] = (struct store_change){ "service", "big", names[i], STORE_UPDATED, "{\"v\":2}", NULL };
	c[N - 1] = (struct store_change){ "service", "big", "missing", STORE_DELETED, NULL, NULL };
	struct store_txn *t;
	long long gen = 0;
	cr_assert_eq(store_begin(s, &t, &err), 0);
	cr_expect_eq(store_commit_generation(t, "alice", "apply", c, N, NULL, &gen, &err), -1);
	cr_expect_str_eq(error_msg(&err),
			 "generation 2 not recorded: cannot delete service big/missing: it does not exist");
	error_clear(&err);
	long long current = 0;
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 1);
	struct text txt;
	cr_expect_eq(strstr(objects_of(s, 1, &txt), "\"v\""), NULL, "no update was kept");

	/* A change listed twice, far apart. */
	for (int i = 0; i < N; i++)
		c[i] = (struct store_change){ "service", "big", names[i], STORE_UPDATED, "{\"v\":3}", NULL };
	c[N - 1].name = names[3];
	cr_assert_eq(store_begin(s, &t, &err), 0);
	cr_expect_eq(store_commit_generation(t, "alice", "apply", c, N, NULL, &gen, &err), -1);
	cr_expect_str_eq(error_msg(&err),
			 "generation 2 not recorded: service big/o003 is changed twice in one generation");
	error_clear(&err);
	c[N - 1].name = names[N - 1];
	cr_expect_eq(commit(s, "alice", "apply", c, N, NULL), 2, "the store is usable after failures");
	store_close(s);
}

static int list_action(void *ctx, const struct store_action *a)
{
	char line[256];
	snprintf(line, sizeof(line), "%lld %s %s %s %s %lld-%lld;", a->generation, a->action,
		 a->instance, a->status, a->message ? a->message : "-", a->started, a->finished);
	strcat(((struct text *)ctx)->buf, line);
	return 0;
}

Test(store, actions_are_listed_per_generation_in_order)
{
	struct store *s = three_generations();
	struct error err = ERROR_INIT;
	struct store_action a[] = {
		{ 2, "create", "c#main#k#x#db", "ok", NULL, 10, 12 },
		{ 3, "delete", "c#main#k#x#db", "failed", "container busy", 20, 21 },
		{ 2, "attach", "c#main#k#x#db", "ok", "", 12, 13 },
	};
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(store_record_action(s, &a[i], &err), 0, "%s", error_msg(&err));
	struct text t = { "" };
	cr_assert_eq(store_list_actions(s, 2, list_action, &t, &err), 0);
	cr_expect_str_eq(t.buf, "2 create c#main#k#x#db ok - 10-12;2 attach c#main#k#x#db ok  12-13;");
	t.buf[0] = '\0';
	cr_assert_eq(store_list_actions(s, 3, list_action, &t, &err), 0);
	cr_expect_str_eq(t.buf, "3 delete c#main#k#x#db failed container busy 20-21;");
	store_close(s);
}

/* One writer process: 25 read-modify-write generations, each creating one
 * object that records which generation the writer saw as the latest. */
static int writer(const char *location, const char *who, int go)
{
	char c;
	if (read(go, &c, 1) != 0)
		return 10;
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	if (store_open(&s, location, &err) < 0) {
		fprintf(stderr, "%s: %s\n", who, error_msg(&err));
		return 11;
	}
	int rc = 0;
	for (int i = 0; i < 25 && !rc; i++) {
		struct store_txn *t;
		long long seen, gen = 0;
		if (store_begin(s, &t, &err) < 0 || store_current_generation(s, &seen, &err) < 0) {
			fprintf(stderr, "%s: %s\n", who, error_msg(&err));
			rc = 12;
			break;
		}
		char name[32], body[64];
		snprintf(name, sizeof(name), "%s-%02d", who, i);
		snprintf(body, sizeof(body), "{\"seen\":%lld}", seen);
		struct store_change ch = { "service", "race", name, STORE_CREATED, body, NULL };
		if (store_commit_generation(t, who, "apply", &ch, 1, body, &gen, &err) < 0) {
			fprintf(stderr, "%s: %s\n", who, error_msg(&err));
			rc = 13;
		} else if (gen != seen + 1) {
			rc = 14;
		}
	}
	store_close(s);
	return rc;
}

struct race {
	int count[4];
	long long gen;
	int ok;
};

static int check_change(void *ctx, const struct store_change *c, const char *old_body)
{
	struct race *r = ctx;
	char want[64];
	snprintf(want, sizeof(want), "{\"seen\":%lld}", r->gen - 1);
	r->ok = r->ok && c->change == STORE_CREATED && !old_body && strcmp(c->body, want) == 0;
	return 0;
}

static int count_object(void *ctx, const char *kind, const char *ns, const char *name, const char *body,
		             const char *origin)
{
	struct race *r = ctx;
	r->count[name[0] - 'p']++;
	return 0;
}

Test(store, concurrent_writers_make_consecutive_generations)
{
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t pids[4];
	const char *who[4] = { "p", "q", "r", "s" };
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		cr_assert_neq(pids[i], -1);
		if (pids[i] == 0) {
			close(go[1]);
			_exit(writer(db, who[i], go[0]));
		}
	}
	/* The writers start at once, against a database none has created. */
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < 4; i++) {
		int status;
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %s failed with %d",
			  who[i], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}

	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	long long current;
	cr_assert_eq(store_current_generation(s, &current, &err), 0);
	cr_expect_eq(current, 100);
	for (long long g = 1; g <= current; g++) {
		struct race r = { .gen = g, .ok = 1 };
		struct store_generation info;
		cr_assert_eq(store_generation_get(s, g, &info, &err), 0);
		cr_expect_eq(info.created + info.updated + info.deleted, 1, "generation %lld", g);
		store_generation_release(&info);
		cr_assert_eq(store_generation_changes(s, g, check_change, &r, &err), 0);
		cr_expect(r.ok, "generation %lld was made on top of generation %lld", g, g - 1);
	}
	struct race all = { .ok = 1 };
	cr_assert_eq(store_list_objects(s, 100, count_object, &all, &err), 0);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(all.count[i], 25, "writer %d made %d objects", i, all.count[i]);
	store_close(s);
}

static void expect_open_error(const char *location, const char *msg)
{
	struct store *s = (struct store *)1;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_open(&s, location, &err), -1, "%s opened", location);
	cr_expect_null(s);
	cr_expect_str_eq(error_msg(&err), msg);
	error_clear(&err);
}

Test(store, open_creates_missing_directories)
{
	char location[256], path[256];
	snprintf(location, sizeof(location), "sqlite:%s/x/.cairn/state.db", dir);
	snprintf(path, sizeof(path), "%s/x/.cairn/state.db", dir);
	store_close(open_store(location));
	struct stat st;
	cr_expect_eq(stat(path, &st), 0, "%s exists", path);
}

Test(store, open_errors_name_the_database)
{
	char file[256], path[256], msg[512];

	snprintf(file, sizeof(file), "%s/state.db", dir);
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 100; i++)
		fputs("this is not a database, just text\n", f);
	fclose(f);
	snprintf(msg, sizeof(msg), "cannot open state database %s: file is not a database", file);
	expect_open_error(file, msg);

	snprintf(path, sizeof(path), "%s/state.db/.cairn/state.db", dir);
	snprintf(msg, sizeof(msg),
		 "cannot open state database %s: cannot create directory %s/state.db/.cairn: Not a directory",
		 path, dir);
	expect_open_error(path, msg);

	snprintf(msg, sizeof(msg), "cannot open state database %s: unable to open database file", dir);
	expect_open_error(dir, msg);

	expect_open_error("mysql://cairn@db/cairn",
			  "cannot open state database mysql://cairn@db/cairn: unknown kind of location "
			  "(give a path, sqlite:PATH or postgres://...)");
	expect_open_error("sqlite:", "cannot open state database sqlite:: no path after sqlite:");
	expect_open_error("", "cannot open state database: no location given");
}

/* A password in the location never reaches a message. */
Test(store, postgres_open_errors_hide_the_password)
{
	expect_open_error("postgres://cairn:s3cret@127.0.0.1:1/cairn?connect_timeout=5",
			  "cannot open state database postgres://cairn:***@127.0.0.1:1/cairn?connect_timeout=5: "
			  "connection to server at \"127.0.0.1\", port 1 failed: Connection refused");
	expect_open_error("postgresql://cairn@127.0.0.1:1/cairn?password=s3cret&sslmode=disable",
			  "cannot open state database postgresql://cairn@127.0.0.1:1/cairn?password=***&sslmode=disable: "
			  "connection to server at \"127.0.0.1\", port 1 failed: Connection refused");
	expect_open_error("postgres://cairn:s3cret@[::1",
			  "cannot open state database postgres://cairn:***@[::1: end of string reached when "
			  "looking for matching \"]\" in IPv6 host address in URI: \"postgres://cairn:***@[::1\"");
	expect_open_error("postgres://cairn@127.0.0.1:1/cairn?nonsense=1",
			  "cannot open state database postgres://cairn@127.0.0.1:1/cairn?nonsense=1: "
			  "invalid URI query parameter: \"nonsense\"");
	if (!on_postgres())
		return;
	/* A database the server does not have. */
	char location[1024], msg[2048];
	pg_url_with_db(location, sizeof(location), pg_admin, "cairn_no_such_database");
	snprintf(msg, sizeof(msg), "cannot open state database %s: ", location);
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_open(&s, location, &err), -1);
	cr_expect_eq(strncmp(error_msg(&err), msg, strlen(msg)), 0, "%s", error_msg(&err));
	cr_expect_not_null(strstr(error_msg(&err), "database \"cairn_no_such_database\" does not exist"),
			   "%s", error_msg(&err));
	error_clear(&err);
}

Test(store, newer_schema_is_refused)
{
	store_close(open_store(db));
	store_raw_set_version(99);
	char msg[2048];
	snprintf(msg, sizeof(msg),
		 "cannot open state database %s: it has schema version 99, newer than this cairn knows (4); upgrade cairn",
		 db);
	expect_open_error(db, msg);
}

static int hold_apply_lock(const char *location, int ready)
{
	struct store *s;
	struct error err = ERROR_INIT;
	if (store_open(&s, location, &err) < 0 || store_lock_apply(s, true, &err) < 0) {
		fprintf(stderr, "%s\n", error_msg(&err));
		return 1;
	}
	if (write(ready, "x", 1) != 1)
		return 2;
	pause(); /* until killed, holding the lock */
	return 0;
}

Test(store, the_apply_lock_is_exclusive_until_its_holder_dies)
{
	store_close(open_store(db));
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	pid_t holder = fork();
	cr_assert_neq(holder, -1);
	if (holder == 0) {
		close(ready[0]);
		_exit(hold_apply_lock(db, ready[1]));
	}
	close(ready[1]);
	char c;
	cr_assert_eq(read(ready[0], &c, 1), 1, "the holder took the lock");
	close(ready[0]);

	struct store *s = open_store(db);
	struct error err = ERROR_INIT;
	cr_expect_eq(store_lock_apply(s, false, &err), -1);
	cr_expect(error_is(&err, ERROR_BUSY));
	char msg[2048];
	snprintf(msg, sizeof(msg), "another apply is running on state database %s", db);
	cr_expect_str_eq(error_msg(&err), msg);
	error_clear(&err);

	/* The holder dies without unlocking: the lock is free again. */
	cr_assert_eq(kill(holder, SIGKILL), 0);
	int status;
	cr_assert_eq(waitpid(holder, &status, 0), holder);
	int got = -1;
	/* Up to 20 s: the server notices the closed connection, on a loaded machine too. */
	for (int i = 0; i < 400 && got < 0; i++) {
		got = store_lock_apply(s, false, &err);
		if (got < 0) {
			error_clear(&err);
			usleep(50000);
		}
	}
	cr_assert_eq(got, 0, "the lock was released when its holder died");

	/* Held by s: another connection is refused until s unlocks, then waits successfully. */
	struct store *other = open_store(db);
	cr_expect_eq(store_lock_apply(other, false, &err), -1);
	cr_expect(error_is(&err, ERROR_BUSY));
	error_clear(&err);
	store_unlock_apply(s);
	cr_expect_eq(store_lock_apply(other, true, &err), 0, "%s", error_msg(&err));
	store_unlock_apply(other);
	store_close(other);
	store_close(s);
}
