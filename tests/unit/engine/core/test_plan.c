/* plan_diff on states written as JSON: what a user sees in `cairn plan`. */
#include "engine/core/engine.h"

#include <criterion/criterion.h>
#include <string.h>

static struct state *state_of(const char *json)
{
	struct state *s;
	struct error err = ERROR_INIT;
	cr_assert_eq(state_from_json(&s, json, &err), 0, "%s", error_msg(&err));
	return s;
}

static void assert_action(const struct plan *p, size_t i, enum plan_verb verb, const char *key,
			  const char *dep)
{
	cr_assert_lt(i, p->len);
	cr_expect_eq(p->actions[i].verb, verb, "action %zu: %s, expected %s", i,
		     plan_verb_name(p->actions[i].verb), plan_verb_name(verb));
	cr_expect_str_eq(p->actions[i].instance, key);
	cr_expect_str_eq(p->actions[i].dependency, dep);
}

/* A service root that needs one component, used by d1. */
static const char one[] =
	"{\"instances\":["
	"{\"key\":\"c#main#k#x#comp\",\"component\":\"comp\",\"hash\":\"h1\",\"dependencies\":[\"main/d1\"],\"needs\":[]},"
	"{\"key\":\"c#main#k#x#root\",\"component\":\"root\",\"dependencies\":[\"main/d1\"],\"needs\":[\"c#main#k#x#comp\"]}]}";

Test(plan, create_from_empty_is_dependency_first)
{
	struct state *next = state_of(one);
	struct plan *p = plan_diff(NULL, next);
	cr_assert_eq(p->len, 4);
	assert_action(p, 0, PLAN_CREATE, "c#main#k#x#comp", "main/d1");
	assert_action(p, 1, PLAN_ATTACH, "c#main#k#x#comp", "main/d1");
	assert_action(p, 2, PLAN_CREATE, "c#main#k#x#root", "main/d1");
	assert_action(p, 3, PLAN_ATTACH, "c#main#k#x#root", "main/d1");
	cr_expect_eq(p->count[PLAN_CREATE], 2);
	cr_expect_eq(p->count[PLAN_ATTACH], 2);
	plan_free(p);
	state_free(next);
}

Test(plan, same_state_is_empty)
{
	struct state *a = state_of(one), *b = state_of(one);
	struct plan *p = plan_diff(a, b);
	cr_expect_eq(p->len, 0);
	plan_free(p);
	state_free(a);
	state_free(b);
}

Test(plan, param_change_updates_component_and_parent)
{
	struct state *a = state_of(one);
	char changed[sizeof(one)];
	strcpy(changed, one);
	*strstr(changed, "h1") = 'g';
	struct state *b = state_of(changed);
	struct plan *p = plan_diff(a, b);
	cr_assert_eq(p->len, 2);
	assert_action(p, 0, PLAN_UPDATE, "c#main#k#x#comp", "main/d1");
	assert_action(p, 1, PLAN_UPDATE, "c#main#k#x#root", "main/d1");
	plan_free(p);
	state_free(a);
	state_free(b);
}

Test(plan, delete_is_reverse_order_after_detach)
{
	struct state *a = state_of(one), *empty = state_of("{\"instances\":[]}");
	struct plan *p = plan_diff(a, empty);
	cr_assert_eq(p->len, 4);
	assert_action(p, 0, PLAN_DETACH, "c#main#k#x#root", "main/d1");
	assert_action(p, 1, PLAN_DELETE, "c#main#k#x#root", "main/d1");
	assert_action(p, 2, PLAN_DETACH, "c#main#k#x#comp", "main/d1");
	assert_action(p, 3, PLAN_DELETE, "c#main#k#x#comp", "main/d1");
	plan_free(p);
	state_free(a);
	state_free(empty);
}

Test(plan, second_consumer_only_attaches)
{
	static const char two[] =
		"{\"instances\":["
		"{\"key\":\"c#main#k#x#comp\",\"component\":\"comp\",\"hash\":\"h1\",\"dependencies\":[\"main/d1\",\"main/d2\"]},"
		"{\"key\":\"c#main#k#x#root\",\"component\":\"root\",\"dependencies\":[\"main/d1\",\"main/d2\"]}]}";
	struct state *a = state_of(one), *b = state_of(two);
	struct plan *p = plan_diff(a, b);
	cr_assert_eq(p->len, 2);
	assert_action(p, 0, PLAN_ATTACH, "c#main#k#x#comp", "main/d2");
	assert_action(p, 1, PLAN_ATTACH, "c#main#k#x#root", "main/d2");
	plan_free(p);
	/* And back: only detaches, nothing deleted while d1 still uses them. */
	p = plan_diff(b, a);
	cr_assert_eq(p->len, 2);
	cr_expect_eq(p->count[PLAN_DETACH], 2);
	cr_expect_eq(p->count[PLAN_DELETE], 0);
	plan_free(p);
	state_free(a);
	state_free(b);
}

Test(state, json_round_trip_keeps_everything)
{
	struct state *a = state_of(one);
	struct strbuf sb = STRBUF_INIT;
	state_to_json(a, &sb);
	struct state *b = state_of(sb.buf);
	cr_assert_eq(b->len, 2);
	const struct state_instance *root = state_get(b, "c#main#k#x#root");
	cr_assert_not_null(root);
	cr_expect_eq(root->nneeds, 1);
	cr_expect_str_eq(root->needs[0], "c#main#k#x#comp");
	cr_expect_str_eq(state_get(b, "c#main#k#x#comp")->hash, "h1");
	strbuf_release(&sb);
	state_free(a);
	state_free(b);
}

Test(state, malformed_json_is_an_error)
{
	struct state *s = NULL;
	struct error err = ERROR_INIT;
	cr_expect_eq(state_from_json(&s, "{\"instances\": [{\"nokey\": 1}]}", &err), -1);
	cr_expect_null(s);
	cr_expect_not_null(strstr(error_msg(&err), "key"));
	error_clear(&err);
	cr_expect_eq(state_from_json(&s, "not json", &err), -1);
	error_clear(&err);
}
