/* Aptomi's small benchmark policy resolves exactly as Aptomi's own engine did:
 * small/expected.json holds its dependency -> service key map and every
 * instance with its consumer count and edges. */
#include "engine/core/engine.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Beside the repository, else the machine's copy (a clone elsewhere). */
static const char *bench_dir(void)
{
	static const char *const dirs[] = { CAIRN_SOURCE_DIR "/../shared/bench/aptomi",
					    "/work/shared/bench/aptomi" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/small/policy.yaml", dirs[i]);
		if (access(path, R_OK) == 0)
			return dirs[i];
	}
	return NULL;
}

struct fixture {
	struct intern *in;
	struct users *users;
	struct policy *policy;
	struct acl *acl;
	struct resolution *res;
	json_t *expected;
};

static void load_small(struct fixture *f)
{
	const char *bench = bench_dir();
	cr_assert_not_null(bench, "Aptomi's benchmark policies not found beside the repository nor in /work/shared");
	char path[512];
	char users_path[] = "/tmp/cairn-small-users-XXXXXX";
	int fd = mkstemp(users_path);
	cr_assert_geq(fd, 0);
	close(fd);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "python3 %s/make-users small %s", bench, users_path);
	cr_assert_eq(system(cmd), 0, "make-users failed");

	struct diags d = DIAGS_INIT;
	f->in = intern_new();
	f->users = users_new(f->in);
	cr_assert_eq(users_load(f->users, users_path, &d), 0, "%s", d.len ? d.items[0] : "");
	unlink(users_path);
	f->policy = policy_new(f->in);
	snprintf(path, sizeof(path), "%s/small/policy.yaml", bench);
	cr_assert_eq(policy_add_path(f->policy, path, 0, &d), 0, "%s",
		     d.len ? d.items[0] : "");
	cr_assert_eq(policy_validate(f->policy, &d), 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
	f->acl = acl_new(f->policy);
	struct error err = ERROR_INIT;
	cr_assert_eq(resolve_policy(&f->res, f->policy, f->users, f->acl, 0, &err), 0, "%s",
		     error_msg(&err));
	json_error_t jerr;
	snprintf(path, sizeof(path), "%s/small/expected.json", bench);
	f->expected = json_load_file(path, 0, &jerr);
	cr_assert_not_null(f->expected, "expected.json: %s", jerr.text);
}

static void release(struct fixture *f)
{
	json_decref(f->expected);
	resolution_free(f->res);
	acl_free(f->acl);
	policy_free(f->policy);
	users_free(f->users);
	intern_free(f->in);
}

Test(bench_small, every_dependency_resolves_to_aptomis_service_key)
{
	struct fixture f = { 0 };
	load_small(&f);
	cr_expect_eq(f.res->ndeps, (size_t)json_integer_value(json_object_get(f.expected, "Dependencies")));
	cr_expect_eq(f.res->nresolved, (size_t)json_integer_value(json_object_get(f.expected, "Resolved")));
	cr_expect_eq(f.res->nresolved, 500);
	json_t *map = json_object_get(f.expected, "DependencyMap");
	cr_assert_eq(json_object_size(map), f.res->ndeps);
	for (size_t i = 0; i < f.res->ndeps; i++) {
		const struct dep_result *d = &f.res->deps[i];
		char aptomi_id[256];
		snprintf(aptomi_id, sizeof(aptomi_id), "%s/dependency/%s", d->dep->obj.ns->s,
			 d->dep->obj.name->s);
		json_t *want = json_object_get(map, aptomi_id);
		cr_assert_not_null(want, "%s is not in expected.json", aptomi_id);
		cr_assert(d->resolved, "%s: %s", d->id, d->reason);
		cr_expect_str_eq(d->root->key, json_string_value(want), "%s", d->id);
	}
	release(&f);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

Test(bench_small, instances_have_aptomis_consumers_and_edges)
{
	struct fixture f = { 0 };
	load_small(&f);
	json_t *list = json_object_get(f.expected, "InstanceList");
	cr_assert_eq(f.res->ninstances, 378);
	cr_assert_eq(json_array_size(list), f.res->ninstances);
	size_t i;
	json_t *want;
	json_array_foreach(list, i, want) {
		const char *key = json_string_value(json_object_get(want, "Key"));
		const struct instance *in = map_get(&f.res->by_key, key, strlen(key));
		cr_assert_not_null(in, "instance %s missing", key);
		cr_expect_eq(in->ndeps, (uint32_t)json_integer_value(json_object_get(want, "Dependencies")),
			     "%s", key);
		json_t *edges = json_object_get(want, "EdgesOut");
		cr_assert_eq(in->nedges_out, json_array_size(edges), "%s", key);
		const char **expected = calloc(json_array_size(edges) + 1, sizeof(*expected));
		for (size_t e = 0; e < json_array_size(edges); e++)
			expected[e] = json_string_value(json_array_get(edges, e));
		qsort(expected, json_array_size(edges), sizeof(*expected), by_string);
		for (uint32_t e = 0; e < in->nedges_out; e++)
			cr_expect_str_eq(in->edges_out[e]->key, expected[e], "%s edge %u", key, e);
		free(expected);
	}
	release(&f);
}
