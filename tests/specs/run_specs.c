/* Runs spec files of specs/ (format: specs/README.md): scenarios whose steps
 * go through revise_policy() on a fresh SQLite store, exactly as the CLI does,
 * and tables of expressions, templates, criteria and label operations. Prints
 * one line per case, "N passed, M failed", and exits non-zero on any failure
 * or on a malformed spec. Adding a case needs no C. */
#include "base/alloc.h"
#include "base/arena.h"
#include "base/error.h"
#include "base/intern.h"
#include "base/strbuf.h"
#include "engine/core/engine.h"
#include "engine/apply/revise.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct run {
	const char *file;
	struct arena *arena;
	struct intern *in;
	size_t passed, failed;
	bool malformed;
	struct strbuf why; /* what went wrong in the current case */
};

/* ---- reading the spec ---- */

static int malformed(struct run *r, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int malformed(struct run *r, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (n)
		fprintf(stderr, "%s:%u:%u: malformed spec: ", r->file, n->pos.line, n->pos.col);
	else
		fprintf(stderr, "%s: malformed spec: ", r->file);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	r->malformed = true;
	return -1;
}

/* Records one mismatch of the current case. */
static void mismatch(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mismatch(struct run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strbuf_adds(&r->why, r->why.len ? "\n    " : "");
	strbuf_vaddf(&r->why, fmt, ap);
	va_end(ap);
}

static void report(struct run *r, const struct ynode *at, const char *what)
{
	if (r->why.len) {
		printf("FAIL %s:%u: %s: %s\n", r->file, at->pos.line, what, r->why.buf);
		r->failed++;
	} else {
		printf("ok   %s:%u: %s\n", r->file, at->pos.line, what);
		r->passed++;
	}
	strbuf_reset(&r->why);
}

static bool is_map(const struct ynode *n)
{
	return n && n->kind == YNODE_MAP;
}

static bool is_seq(const struct ynode *n)
{
	return n && n->kind == YNODE_SEQ;
}

static bool is_scalar(const struct ynode *n)
{
	return n && n->kind == YNODE_SCALAR;
}

static bool is_null(const struct ynode *n)
{
	int64_t i;
	double d;
	bool b;
	return is_scalar(n) && ynode_scalar(n, &i, &d, &b) == YSCALAR_NULL;
}

/* Every key of map n must be in the NULL-terminated list. */
static int check_keys(struct run *r, const struct ynode *n, const char *what,
		      const char *const *allowed)
{
	if (!is_map(n))
		return malformed(r, n, "%s must be a mapping, not %s", what, ynode_describe(n));
	for (size_t i = 0; i < n->len; i++) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, n->pairs[i].key->s) == 0;
		if (!ok) {
			struct strbuf sb = STRBUF_INIT;
			for (const char *const *a = allowed; *a; a++)
				strbuf_addf(&sb, "%s%s", a == allowed ? "" : ", ", *a);
			fprintf(stderr, "%s:%u:%u: malformed spec: unknown key '%s' in %s (expected one of: %s)\n",
				r->file, n->pairs[i].key_pos.line, n->pairs[i].key_pos.col,
				n->pairs[i].key->s, what, sb.buf);
			strbuf_release(&sb);
			r->malformed = true;
			return -1;
		}
	}
	return 0;
}

static int get_string(struct run *r, const struct ynode *n, const char *what, const char **out)
{
	*out = "";
	if (!is_scalar(n) || is_null(n))
		return malformed(r, n, "%s must be a string, not %s", what, ynode_describe(n));
	*out = n->str->s;
	return 0;
}

static int get_bool(struct run *r, const struct ynode *n, const char *what, bool *out)
{
	*out = false;
	int64_t i;
	double d;
	if (!is_scalar(n) || ynode_scalar(n, &i, &d, out) != YSCALAR_BOOL)
		return malformed(r, n, "%s must be true or false, not %s", what, ynode_describe(n));
	return 0;
}

static int get_int(struct run *r, const struct ynode *n, const char *what, long long *out)
{
	int64_t i;
	double d;
	bool b;
	*out = 0;
	if (!is_scalar(n) || ynode_scalar(n, &i, &d, &b) != YSCALAR_INT || i < 0)
		return malformed(r, n, "%s must be a non-negative integer, not %s", what, ynode_describe(n));
	*out = i;
	return 0;
}

/* A list of strings (a single string is a list of one). */
static int get_strings(struct run *r, const struct ynode *n, const char *what,
		       const char ***out, size_t *len)
{
	if (is_scalar(n) && !is_null(n)) {
		*out = arena_alloc(r->arena, sizeof(**out));
		(*out)[0] = n->str->s;
		*len = 1;
		return 0;
	}
	if (!is_seq(n))
		return malformed(r, n, "%s must be a list of strings, not %s", what, ynode_describe(n));
	*out = arena_alloc(r->arena, (n->len + 1) * sizeof(**out));
	for (size_t i = 0; i < n->len; i++)
		if (get_string(r, n->items[i], what, &(*out)[i]) < 0)
			return -1;
	*len = n->len;
	return 0;
}

/* A label set from a mapping of scalars (values read as their text). */
static int get_labels(struct run *r, const struct ynode *n, const char *what, struct labels *out)
{
	if (!n || is_null(n))
		return 0;
	if (!is_map(n))
		return malformed(r, n, "%s must be a mapping of labels, not %s", what, ynode_describe(n));
	for (size_t i = 0; i < n->len; i++) {
		const struct ynode *v = n->pairs[i].value;
		if (!is_scalar(v) || is_null(v))
			return malformed(r, v, "%s: label '%s' must be a scalar", what, n->pairs[i].key->s);
		labels_set(out, n->pairs[i].key, v->str);
	}
	return 0;
}

static const char *labels_text(struct run *r, const struct labels *ls)
{
	struct strbuf sb = STRBUF_INIT;
	labels_to_json(ls, &sb);
	char *s = arena_strdup(r->arena, strbuf_cstr(&sb));
	strbuf_release(&sb);
	return s;
}

static const char *json_text(struct run *r, const json_t *v)
{
	if (!v)
		return "(absent)";
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char *copy = arena_strdup(r->arena, s ? s : "?");
	free(s);
	return copy;
}

/* "re:<pcre2>" matches by regex, anything else by equality. */
static bool text_matches(struct run *r, const char *want, const char *got)
{
	if (strncmp(want, "re:", 3) != 0)
		return strcmp(want, got) == 0;
	int ecode;
	PCRE2_SIZE eoff;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)(want + 3), PCRE2_ZERO_TERMINATED, PCRE2_UTF,
				       &ecode, &eoff, NULL);
	if (!re) {
		mismatch(r, "bad regex '%s' at offset %zu", want + 3, (size_t)eoff);
		return false;
	}
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)got, strlen(got), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc >= 0;
}

/* ---- typed subset match of params, discovery and labels ---- */

static bool value_matches(struct run *r, const struct ynode *want, const json_t *got, const char *path);

static bool subset_matches(struct run *r, const struct ynode *want, const json_t *got, const char *path)
{
	if (!json_is_object(got)) {
		mismatch(r, "%s: expected a mapping, got %s", path, json_text(r, got));
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < want->len; i++) {
		const char *key = want->pairs[i].key->s;
		const char *sub = arena_printf(r->arena, "%s.%s", path, key);
		json_t *child = json_object_get(got, key);
		if (is_null(want->pairs[i].value)) {
			if (child && !json_is_null(child)) {
				mismatch(r, "%s: expected absent, got %s", sub, json_text(r, child));
				ok = false;
			}
			continue;
		}
		if (!child) {
			mismatch(r, "%s: expected %s, got nothing (keys: %s)", sub,
				 is_scalar(want->pairs[i].value) ? want->pairs[i].value->str->s
								 : ynode_describe(want->pairs[i].value),
				 json_text(r, got));
			ok = false;
			continue;
		}
		ok &= value_matches(r, want->pairs[i].value, child, sub);
	}
	return ok;
}

static bool value_matches(struct run *r, const struct ynode *want, const json_t *got, const char *path)
{
	if (is_map(want))
		return subset_matches(r, want, got, path);
	if (is_seq(want)) {
		if (!json_is_array(got) || json_array_size(got) != want->len) {
			mismatch(r, "%s: expected a list of %zu, got %s", path, want->len, json_text(r, got));
			return false;
		}
		bool ok = true;
		for (size_t i = 0; i < want->len; i++)
			ok &= value_matches(r, want->items[i], json_array_get(got, i),
					    arena_printf(r->arena, "%s[%zu]", path, i));
		return ok;
	}
	int64_t i;
	double d;
	bool b;
	bool ok;
	switch (ynode_scalar(want, &i, &d, &b)) {
	case YSCALAR_STRING:
		ok = json_is_string(got) && text_matches(r, want->str->s, json_string_value(got));
		break;
	case YSCALAR_INT:
		ok = json_is_integer(got) && json_integer_value(got) == i;
		break;
	case YSCALAR_BOOL:
		ok = json_is_boolean(got) && json_is_true(got) == b;
		break;
	case YSCALAR_FLOAT:
		ok = json_is_number(got) && json_number_value(got) == d;
		break;
	default:
		ok = json_is_null(got);
		break;
	}
	if (!ok)
		mismatch(r, "%s: expected %s%s%s, got %s", path, want->quoted ? "\"" : "", want->str->s,
			 want->quoted ? "\"" : "", json_text(r, got));
	return ok;
}

static void json_subset(struct run *r, const struct ynode *want, const char *got_json, const char *path)
{
	if (!is_map(want)) {
		malformed(r, want, "%s must be a mapping", path);
		return;
	}
	if (!got_json) {
		mismatch(r, "%s: expected %s, got none", path, ynode_describe(want));
		return;
	}
	json_error_t jerr;
	json_t *got = json_loads(got_json, JSON_DECODE_ANY, &jerr);
	if (!got) {
		mismatch(r, "%s: not JSON: %s", path, jerr.text);
		return;
	}
	subset_matches(r, want, got, path);
	json_decref(got);
}

static void labels_subset(struct run *r, const struct ynode *want, const struct labels *got,
			  const char *path)
{
	if (!is_map(want)) {
		malformed(r, want, "%s must be a mapping", path);
		return;
	}
	for (size_t i = 0; i < want->len; i++) {
		const struct istr *k = want->pairs[i].key;
		const struct ynode *v = want->pairs[i].value;
		const struct istr *have = labels_get(got, k);
		if (is_null(v)) {
			if (have)
				mismatch(r, "%s.%s: expected absent, got '%s'", path, k->s, have->s);
		} else if (!is_scalar(v)) {
			malformed(r, v, "%s.%s must be a scalar", path, k->s);
		} else if (!have) {
			mismatch(r, "%s.%s: expected '%s', got nothing (labels: %s)", path, k->s, v->str->s,
				 labels_text(r, got));
		} else if (!text_matches(r, v->str->s, have->s)) {
			mismatch(r, "%s.%s: expected '%s', got '%s'", path, k->s, v->str->s, have->s);
		}
	}
}

/* ---- scenarios ---- */

struct scenario {
	struct store *store;
	struct users *users;
	char dir[64];
};

static int write_file(struct run *r, const char *path, const struct ynode *n)
{
	struct strbuf sb = STRBUF_INIT;
	/* JSON is YAML, and ynode_to_json keeps quoted scalars strings. */
	ynode_to_json(n, &sb, 2);
	strbuf_addc(&sb, '\n');
	FILE *f = fopen(path, "w");
	int rc = 0;
	if (!f || fwrite(sb.buf, 1, sb.len, f) != sb.len) {
		fprintf(stderr, "%s: cannot write %s: %s\n", r->file, path, strerror(errno));
		rc = -1;
	}
	if (f && fclose(f) != 0)
		rc = -1;
	strbuf_release(&sb);
	return rc;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int scenario_open(struct run *r, struct scenario *sc, const struct ynode *users,
			 const struct ynode *secrets)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(sc->dir, sizeof(sc->dir), "%s/cairn-spec-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(sc->dir)) {
		fprintf(stderr, "%s: mkdtemp: %s\n", r->file, strerror(errno));
		sc->dir[0] = 0;
		return -1;
	}
	char path[128];
	struct diags d = DIAGS_INIT;
	int rc = -1;
	sc->users = users_new(r->in);
	snprintf(path, sizeof(path), "%s/users.yaml", sc->dir);
	if (write_file(r, path, users) < 0)
		goto out;
	if (users_load(sc->users, path, &d) < 0) {
		malformed(r, users, "users do not load:");
		goto out;
	}
	if (secrets) {
		snprintf(path, sizeof(path), "%s/secrets.yaml", sc->dir);
		if (write_file(r, path, secrets) < 0)
			goto out;
		if (users_load_secrets(sc->users, path, &d) < 0) {
			malformed(r, secrets, "secrets do not load:");
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/state.db", sc->dir);
	struct error err = ERROR_INIT;
	if (store_open(&sc->store, path, &err) < 0) {
		fprintf(stderr, "%s: store_open %s: %s\n", r->file, path, error_msg(&err));
		error_clear(&err);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < d.len; i++)
		fprintf(stderr, "  %s\n", d.items[i]);
	diags_release(&d);
	return rc;
}

static void scenario_close(struct scenario *sc)
{
	if (sc->store)
		store_close(sc->store);
	users_free(sc->users);
	if (sc->dir[0])
		remove_dir(sc->dir);
}

static const char *status_name(enum revise_status s)
{
	return s == REVISE_DONE ? "done" : "unchanged";
}

static const char *diags_text(struct run *r, const struct diags *d)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < d->len; i++)
		strbuf_addf(&sb, "\n      | %s", d->items[i]);
	char *s = arena_strdup(r->arena, d->len ? sb.buf : " (no diagnostics)");
	strbuf_release(&sb);
	return s;
}

static void expect_refused(struct run *r, const struct ynode *want, const struct revise_result *res)
{
	const char **subs;
	size_t n;
	if (get_strings(r, want, "refused", &subs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		for (size_t k = 0; k < res->diags.len && !found; k++)
			found = strstr(res->diags.items[k], subs[i]) != NULL;
		if (!found)
			mismatch(r, "refused: no diagnostic contains '%s'; got:%s", subs[i],
				 diags_text(r, &res->diags));
	}
}

static void expect_plan(struct run *r, const struct ynode *want, const struct plan *plan)
{
	static const char *const verbs[] = { "create", "update", "delete", "attach", "detach", NULL };
	if (check_keys(r, want, "plan", verbs) < 0)
		return;
	for (size_t i = 0; i < want->len; i++) {
		long long n;
		if (get_int(r, want->pairs[i].value, "a plan count", &n) < 0)
			return;
		for (int v = PLAN_CREATE; v <= PLAN_DETACH; v++) {
			if (strcmp(plan_verb_name((enum plan_verb)v), want->pairs[i].key->s) != 0)
				continue;
			if ((long long)plan->count[v] != n)
				mismatch(r, "plan: expected %lld %s, got %zu", n, want->pairs[i].key->s,
					 plan->count[v]);
		}
	}
}

static const char *plan_text(struct run *r, const struct plan *plan)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < plan->len; i++)
		strbuf_addf(&sb, "\n      | %s %s %s", plan_verb_name(plan->actions[i].verb),
			    plan->actions[i].instance, plan->actions[i].dependency);
	char *s = arena_strdup(r->arena, plan->len ? sb.buf : " (no actions)");
	strbuf_release(&sb);
	return s;
}

static void expect_actions(struct run *r, const struct ynode *want, const struct plan *plan)
{
	const char **acts;
	size_t n;
	if (is_seq(want) && want->len == 0) {
		acts = NULL;
		n = 0;
	} else if (get_strings(r, want, "actions", &acts, &n) < 0) {
		return;
	}
	bool ok = n == plan->len;
	for (size_t i = 0; ok && i < n; i++) {
		const char *s = arena_printf(r->arena, "%s %s %s", plan_verb_name(plan->actions[i].verb),
					     plan->actions[i].instance, plan->actions[i].dependency);
		ok = strcmp(s, acts[i]) == 0;
	}
	if (!ok) {
		struct strbuf sb = STRBUF_INIT;
		for (size_t i = 0; i < n; i++)
			strbuf_addf(&sb, "\n      | %s", acts[i]);
		mismatch(r, "actions: expected%s\n    got%s", n ? sb.buf : " (no actions)",
			 plan_text(r, plan));
		strbuf_release(&sb);
	}
}

static void expect_dependencies(struct run *r, const struct ynode *want, const struct resolution *res)
{
	static const char *const keys[] = { "resolved", "instance", "context", "reason", "user", NULL };
	if (!is_map(want)) {
		malformed(r, want, "dependencies must be a mapping of ns/name to expectations");
		return;
	}
	for (size_t i = 0; i < want->len; i++) {
		const char *id = want->pairs[i].key->s;
		const struct ynode *w = want->pairs[i].value;
		const struct dep_result *d = resolution_find_dep(res, id);
		if (is_scalar(w) && strcmp(w->str->s, "absent") == 0) {
			if (d)
				mismatch(r, "dependency %s: expected absent, but it is in the policy", id);
			continue;
		}
		if (check_keys(r, w, "a dependency expectation", keys) < 0)
			return;
		if (!d) {
			mismatch(r, "dependency %s: not in the policy", id);
			continue;
		}
		const struct ynode *v;
		bool b;
		const char *s;
		if ((v = ynode_get(w, "resolved"))) {
			if (get_bool(r, v, "resolved", &b) < 0)
				return;
			if (b != d->resolved)
				mismatch(r, "dependency %s: expected %s, got %s%s%s", id,
					 b ? "resolved" : "not resolved", d->resolved ? "resolved" : "not resolved",
					 d->reason ? ": " : "", d->reason ? d->reason : "");
		}
		if ((v = ynode_get(w, "instance"))) {
			if (get_string(r, v, "instance", &s) < 0)
				return;
			const char *got = d->root ? d->root->key : "(none)";
			if (!text_matches(r, s, got))
				mismatch(r, "dependency %s: expected instance %s, got %s", id, s, got);
		}
		if ((v = ynode_get(w, "context"))) {
			if (get_string(r, v, "context", &s) < 0)
				return;
			const char *got = d->context ? d->context : "(none)";
			if (strcmp(s, got) != 0)
				mismatch(r, "dependency %s: expected context %s, got %s", id, s, got);
		}
		if ((v = ynode_get(w, "user"))) {
			if (get_string(r, v, "user", &s) < 0)
				return;
			const char *got = d->user ? d->user->name->s : "(unknown)";
			if (strcmp(s, got) != 0)
				mismatch(r, "dependency %s: expected user %s, got %s", id, s, got);
		}
		if ((v = ynode_get(w, "reason"))) {
			if (get_string(r, v, "reason", &s) < 0)
				return;
			if (!d->reason || !strstr(d->reason, s))
				mismatch(r, "dependency %s: expected a reason containing '%s', got %s", id, s,
					 d->reason ? d->reason : "no reason (resolved)");
		}
	}
}

static void expect_instance(struct run *r, const char *key, const struct ynode *w,
			    const struct instance *in)
{
	static const char *const keys[] = { "dependencies", "params", "params-public", "discovery",
					    "labels", "code-type", "needs", NULL };
	if (check_keys(r, w, "an instance expectation", keys) < 0)
		return;
	const struct ynode *v;
	const char *path;
	if ((v = ynode_get(w, "dependencies"))) {
		const char **deps;
		size_t n;
		if (is_seq(v) && v->len == 0) {
			deps = NULL;
			n = 0;
		} else if (get_strings(r, v, "dependencies", &deps, &n) < 0) {
			return;
		}
		bool ok = n == in->ndeps;
		for (size_t i = 0; ok && i < n; i++) {
			bool found = false;
			for (uint32_t k = 0; k < in->ndeps && !found; k++)
				found = strcmp(deps[i], in->deps[k]) == 0;
			ok = found;
		}
		if (!ok) {
			struct strbuf sb = STRBUF_INIT;
			for (uint32_t k = 0; k < in->ndeps; k++)
				strbuf_addf(&sb, "%s%s", k ? ", " : "", in->deps[k]);
			mismatch(r, "instance %s: expected %zu dependencies, got [%s]", key, n, sb.buf ? sb.buf : "");
			strbuf_release(&sb);
		}
	}
	if ((v = ynode_get(w, "needs"))) {
		const char **needs;
		size_t n;
		if (is_seq(v) && v->len == 0) {
			needs = NULL;
			n = 0;
		} else if (get_strings(r, v, "needs", &needs, &n) < 0) {
			return;
		}
		bool ok = n == in->nedges_out;
		for (size_t i = 0; ok && i < n; i++) {
			bool found = false;
			for (uint32_t k = 0; k < in->nedges_out && !found; k++)
				found = strcmp(needs[i], in->edges_out[k]->key) == 0;
			ok = found;
		}
		if (!ok) {
			struct strbuf sb = STRBUF_INIT;
			for (uint32_t k = 0; k < in->nedges_out; k++)
				strbuf_addf(&sb, "%s%s", k ? ", " : "", in->edges_out[k]->key);
			mismatch(r, "instance %s: expected it to need %zu instances, got [%s]", key, n,
				 sb.buf ? sb.buf : "");
			strbuf_release(&sb);
		}
	}
	if ((v = ynode_get(w, "code-type"))) {
		const char *s;
		if (get_string(r, v, "code-type", &s) < 0)
			return;
		const char *got = in->code_type ? in->code_type : "(none)";
		if (strcmp(s, got) != 0)
			mismatch(r, "instance %s: expected code type %s, got %s", key, s, got);
	}
	if ((v = ynode_get(w, "params"))) {
		path = arena_printf(r->arena, "instance %s: params", key);
		json_subset(r, v, in->params ? in->params->s : NULL, path);
	}
	if ((v = ynode_get(w, "params-public"))) {
		path = arena_printf(r->arena, "instance %s: params-public", key);
		json_subset(r, v, in->params_public ? in->params_public->s : NULL, path);
	}
	if ((v = ynode_get(w, "discovery"))) {
		path = arena_printf(r->arena, "instance %s: discovery", key);
		json_subset(r, v, in->discovery ? in->discovery->s : NULL, path);
	}
	if ((v = ynode_get(w, "labels"))) {
		path = arena_printf(r->arena, "instance %s: labels", key);
		labels_subset(r, v, &in->labels, path);
	}
}

static const char *instance_keys(struct run *r, const struct resolution *res)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < res->ninstances; i++)
		strbuf_addf(&sb, "\n      | %s", res->instances[i]->key);
	char *s = arena_strdup(r->arena, res->ninstances ? sb.buf : " (none)");
	strbuf_release(&sb);
	return s;
}

static void expect_instances(struct run *r, const struct ynode *want, const struct resolution *res)
{
	if (!is_map(want)) {
		malformed(r, want, "instances must be a mapping");
		return;
	}
	for (size_t i = 0; i < want->len && !r->malformed; i++) {
		const char *key = want->pairs[i].key->s;
		const struct ynode *w = want->pairs[i].value;
		if (strcmp(key, "count") == 0) {
			long long n;
			if (get_int(r, w, "instances.count", &n) < 0)
				return;
			if ((long long)res->ninstances != n)
				mismatch(r, "instances: expected %lld, got %zu:%s", n, res->ninstances,
					 instance_keys(r, res));
			continue;
		}
		const struct instance *in = map_get(&res->by_key, key, strlen(key));
		if (is_scalar(w) && strcmp(w->str->s, "absent") == 0) {
			if (in)
				mismatch(r, "instance %s: expected absent, but it exists", key);
			continue;
		}
		if (!in) {
			mismatch(r, "instance %s: does not exist; instances are:%s", key, instance_keys(r, res));
			continue;
		}
		if (is_scalar(w) && strcmp(w->str->s, "present") == 0)
			continue;
		expect_instance(r, key, w, in);
	}
}

static void expect_explain(struct run *r, const struct ynode *want, const struct revise_result *res,
			   const struct users *users)
{
	if (!is_map(want)) {
		malformed(r, want, "explain must be a mapping of ns/name to lists of substrings");
		return;
	}
	struct acl *acl = acl_new(res->policy);
	struct resolution *rs = NULL;
	struct error err = ERROR_INIT;
	if (resolve_policy(&rs, res->policy, users, acl, RESOLVE_EXPLAIN, &err) < 0) {
		mismatch(r, "explain: resolve_policy failed: %s", error_msg(&err));
		goto out;
	}
	for (size_t i = 0; i < want->len; i++) {
		const char *id = want->pairs[i].key->s;
		const char **subs;
		size_t n;
		if (get_strings(r, want->pairs[i].value, "explain", &subs, &n) < 0)
			goto out;
		const struct dep_result *d = resolution_find_dep(rs, id);
		if (!d) {
			mismatch(r, "explain %s: no such dependency", id);
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			bool found = false;
			for (uint32_t e = 0; e < d->nevents && !found; e++)
				found = strstr(d->events[e], subs[k]) != NULL;
			if (!found) {
				struct strbuf sb = STRBUF_INIT;
				for (uint32_t e = 0; e < d->nevents; e++)
					strbuf_addf(&sb, "\n      | %s", d->events[e]);
				mismatch(r, "explain %s: no event contains '%s'; events:%s", id, subs[k],
					 d->nevents ? sb.buf : " (none)");
				strbuf_release(&sb);
			}
		}
	}
out:
	error_clear(&err);
	resolution_free(rs);
	acl_free(acl);
}

static const char *const expect_keys[] = { "refused", "refused-count", "unchanged", "generation", "plan",
					   "actions", "dependencies", "resolved-count", "instances",
					   "explain", "objects", NULL };

/* objects: {service: 10, "service main/x": present|absent} over the policy after the step. */
static void expect_objects(struct run *r, const struct ynode *want, const struct policy *p)
{
	if (!is_map(want)) {
		malformed(r, want, "objects must be a mapping");
		return;
	}
	for (size_t i = 0; i < want->len; i++) {
		const char *key = want->pairs[i].key->s;
		const struct ynode *w = want->pairs[i].value;
		enum kind k;
		const char *space = strchr(key, ' ');
		if (!space) {
			long long n;
			if (kind_parse(key, &k) < 0) {
				malformed(r, w, "objects: unknown kind '%s'", key);
				return;
			}
			if (get_int(r, w, "an object count", &n) < 0)
				return;
			long long got = 0;
			for (size_t o = 0; o < p->len; o++)
				got += p->objects[o]->kind == k;
			if (got != n)
				mismatch(r, "objects: expected %lld of kind %s, got %lld", n, key, got);
			continue;
		}
		char *kind = arena_strndup(r->arena, key, (size_t)(space - key));
		const char *slash = strchr(space + 1, '/');
		const char *state;
		if (kind_parse(kind, &k) < 0 || !slash || get_string(r, w, "objects entry", &state) < 0 ||
		    (strcmp(state, "present") != 0 && strcmp(state, "absent") != 0)) {
			malformed(r, w, "objects: expected \"KIND NS/NAME\": present|absent");
			return;
		}
		char *ns = arena_strndup(r->arena, space + 1, (size_t)(slash - space - 1));
		bool have = policy_get(p, k, ns, slash + 1) != NULL;
		if (have != (strcmp(state, "present") == 0))
			mismatch(r, "objects: expected %s %s, but it is %s", key, state, have ? "present" : "absent");
	}
}

/* What expect says of a refusal, checked; false when nothing more of the
 * step can be checked. */
static bool expect_refusal(struct run *r, const struct ynode *expect, bool refused,
			   const struct revise_result *res)
{
	const struct ynode *want_refused = expect ? ynode_get(expect, "refused") : NULL;
	const struct ynode *want_count = expect ? ynode_get(expect, "refused-count") : NULL;
	if (!want_refused && !want_count) {
		if (refused)
			mismatch(r, "refused:%s", diags_text(r, &res->diags));
		return !refused;
	}
	if (!refused) {
		mismatch(r, "expected the step to be refused, got %s", status_name(res->status));
		return false;
	}
	if (want_refused)
		expect_refused(r, want_refused, res);
	long long n;
	if (want_count && get_int(r, want_count, "refused-count", &n) == 0 && (long long)res->diags.len != n)
		mismatch(r, "expected %lld diagnostics, got %zu:%s", n, res->diags.len,
			 diags_text(r, &res->diags));
	return true;
}

static void expect_resolved_count(struct run *r, const struct ynode *v,
				  const struct resolution *res)
{
	long long n;
	if (get_int(r, v, "resolved-count", &n) < 0 || (long long)res->nresolved == n)
		return;
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < res->ndeps; i++) {
		const struct dep_result *d = &res->deps[i];
		strbuf_addf(&sb, "\n      | %s: %s", d->id, d->resolved ? "resolved" : d->reason);
	}
	mismatch(r, "expected %lld resolved dependencies, got %zu:%s", n, res->nresolved,
		 sb.len ? sb.buf : " (no dependencies)");
	strbuf_release(&sb);
}

/* What expect says of the step's result: its status and generation, then
 * (unless refused) the plan, the resolution and the objects. */
static void expect_result(struct run *r, struct scenario *sc, const struct ynode *expect,
			  bool refused, struct revise_result *res)
{
	const struct ynode *v;
	if ((v = ynode_get(expect, "unchanged"))) {
		bool b;
		if (get_bool(r, v, "unchanged", &b) < 0)
			return;
		if (b != (res->status == REVISE_UNCHANGED))
			mismatch(r, "expected status %s, got %s", b ? "unchanged" : "done", status_name(res->status));
	}
	if ((v = ynode_get(expect, "generation"))) {
		long long n;
		if (get_int(r, v, "generation", &n) < 0)
			return;
		if (res->generation != n)
			mismatch(r, "expected generation %lld, got %lld", n, res->generation);
	}
	if (refused) {
		static const char *const after[] = { "plan", "actions", "dependencies", "resolved-count",
						     "instances", "explain", "objects", NULL };
		for (const char *const *k = after; *k; k++)
			if (ynode_get(expect, *k))
				malformed(r, ynode_get(expect, *k),
					  "'%s' cannot be checked on a refused step (nothing was resolved)", *k);
		return;
	}
	if ((v = ynode_get(expect, "plan")))
		expect_plan(r, v, res->plan);
	if ((v = ynode_get(expect, "actions")))
		expect_actions(r, v, res->plan);
	if ((v = ynode_get(expect, "dependencies")))
		expect_dependencies(r, v, res->resolution);
	if ((v = ynode_get(expect, "resolved-count")))
		expect_resolved_count(r, v, res->resolution);
	if ((v = ynode_get(expect, "instances")))
		expect_instances(r, v, res->resolution);
	if ((v = ynode_get(expect, "objects")))
		expect_objects(r, v, res->policy);
	if ((v = ynode_get(expect, "explain")))
		expect_explain(r, v, res, sc->users);
}

static void run_step(struct run *r, struct scenario *sc, const struct ynode *step, size_t index)
{
	static const char *const keys[] = { "user", "apply", "delete", "dry-run", "expect", "comment", NULL };
	if (check_keys(r, step, "a step", keys) < 0)
		return;
	const char *user;
	if (get_string(r, ynode_get(step, "user"), "step user", &user) < 0)
		return;
	const struct ynode *apply = ynode_get(step, "apply"), *del = ynode_get(step, "delete");
	if (!apply == !del) {
		malformed(r, step, "a step needs exactly one of 'apply' or 'delete'");
		return;
	}
	const struct ynode *objects = apply ? apply : del;
	bool dry = false;
	if (ynode_get(step, "dry-run") && get_bool(r, ynode_get(step, "dry-run"), "dry-run", &dry) < 0)
		return;
	const struct ynode *expect = ynode_get(step, "expect");
	if (expect && check_keys(r, expect, "expect", expect_keys) < 0)
		return;

	struct strbuf text = STRBUF_INIT;
	ynode_to_json(objects, &text, 2);
	struct revise_text t = { arena_printf(r->arena, "%s step %zu", r->file, index), text.buf, text.len };
	struct revise_request req = { 0 };
	req.verb = apply ? REVISE_APPLY : REVISE_DELETE;
	req.user = user;
	req.texts = &t;
	req.ntexts = 1;
	req.dry_run = dry;
	struct revise_result res;
	struct error err = ERROR_INIT;
	const char *what = arena_printf(r->arena, "step %zu: %s %s%s", index, user,
					apply ? "apply" : "delete", dry ? " (dry run)" : "");
	bool refused = false;
	int rc = revise_policy(sc->store, r->in, sc->users, &req, &res, &err);
	if (rc < 0 && !(refused = error_is_refusal(&err)))
		mismatch(r, "revise_policy failed: %s", error_msg(&err));
	error_clear(&err);
	if ((rc == 0 || refused) && expect_refusal(r, expect, refused, &res) && expect)
		expect_result(r, sc, expect, refused, &res);
	if (!r->malformed)
		report(r, step, what);
	revise_result_release(&res);
	strbuf_release(&text);
}

static void run_scenario(struct run *r, const struct ynode *doc)
{
	const struct ynode *users = ynode_get(doc, "users"), *secrets = ynode_get(doc, "secrets");
	const struct ynode *steps = ynode_get(doc, "steps");
	if (!is_seq(users)) {
		malformed(r, users ? users : doc, "a scenario needs 'users': a list of users");
		return;
	}
	if (secrets && !is_seq(secrets)) {
		malformed(r, secrets, "'secrets' must be a list");
		return;
	}
	if (!is_seq(steps) || steps->len == 0) {
		malformed(r, steps ? steps : doc, "'steps' must be a non-empty list");
		return;
	}
	struct scenario sc = { 0 };
	if (scenario_open(r, &sc, users, secrets) == 0) {
		for (size_t i = 0; i < steps->len && !r->malformed; i++)
			run_step(r, &sc, steps->items[i], i + 1);
	} else {
		r->failed++;
	}
	scenario_close(&sc);
}

/* ---- unit tables ---- */

static int get_service(struct run *r, const struct ynode *n, struct expr_service *svc, struct labels *ls)
{
	static const char *const keys[] = { "name", "namespace", "labels", NULL };
	if (check_keys(r, n, "service", keys) < 0)
		return -1;
	const struct ynode *v;
	if ((v = ynode_get(n, "name")) && get_string(r, v, "service.name", &svc->name) < 0)
		return -1;
	if ((v = ynode_get(n, "namespace")) && get_string(r, v, "service.namespace", &svc->ns) < 0)
		return -1;
	if ((v = ynode_get(n, "labels")) && get_labels(r, v, "service.labels", ls) < 0)
		return -1;
	svc->labels = ls;
	return 0;
}

/* result: true|false, or error: compile|eval (with an optional message substring). */
struct want {
	int result; /* 1, 0, or -1 for an error */
	const char *error; /* "compile", "eval", or NULL for either */
	const char *message;
};

static int get_want(struct run *r, const struct ynode *c, struct want *w)
{
	const struct ynode *res = ynode_get(c, "result"), *e = ynode_get(c, "error");
	memset(w, 0, sizeof(*w));
	if (!res == !e)
		return malformed(r, c, "a case needs exactly one of 'result' or 'error'");
	if (e) {
		w->result = -1;
		if (get_string(r, e, "error", &w->error) < 0)
			return -1;
		if (strcmp(w->error, "compile") != 0 && strcmp(w->error, "eval") != 0 &&
		    strcmp(w->error, "any") != 0)
			return malformed(r, e, "error must be compile, eval or any");
	} else {
		bool b;
		if (get_bool(r, res, "result", &b) < 0)
			return -1;
		w->result = b;
	}
	const struct ynode *m = ynode_get(c, "message");
	if (m && get_string(r, m, "message", &w->message) < 0)
		return -1;
	return 0;
}

static void check_outcome(struct run *r, const struct want *w, bool compiled, int got, const char *msg)
{
	if (w->result >= 0) {
		if (!compiled)
			mismatch(r, "expected %s, got a compile error: %s", w->result ? "true" : "false", msg);
		else if (got < 0)
			mismatch(r, "expected %s, got an evaluation error: %s", w->result ? "true" : "false", msg);
		else if (got != w->result)
			mismatch(r, "expected %s, got %s", w->result ? "true" : "false", got ? "true" : "false");
		return;
	}
	bool want_compile = strcmp(w->error, "compile") == 0, want_eval = strcmp(w->error, "eval") == 0;
	if (compiled && got >= 0)
		mismatch(r, "expected a%s error, got %s", want_compile ? " compile" : want_eval ? "n evaluation" : "n",
			 got ? "true" : "false");
	else if (want_compile && compiled)
		mismatch(r, "expected a compile error, got an evaluation error: %s", msg);
	else if (want_eval && !compiled)
		mismatch(r, "expected an evaluation error, got a compile error: %s", msg);
	else if (w->message && !strstr(msg, w->message))
		mismatch(r, "expected an error containing '%s', got: %s", w->message, msg);
}

/* Aptomi runs each case 10 times through its cache: every evaluation must agree. */
enum { REPEAT = 10 };

static void run_expressions(struct run *r, const struct ynode *t)
{
	static const char *const keys[] = { "labels", "service", "cases", NULL };
	static const char *const case_keys[] = { "expr", "result", "error", "message", "labels", "comment", NULL };
	if (check_keys(r, t, "expressions", keys) < 0)
		return;
	struct labels labels = LABELS_INIT, slabels = LABELS_INIT;
	struct expr_service svc = { 0 };
	const struct ynode *cases = ynode_get(t, "cases");
	if (get_labels(r, ynode_get(t, "labels"), "labels", &labels) < 0)
		goto out;
	if (ynode_get(t, "service") && get_service(r, ynode_get(t, "service"), &svc, &slabels) < 0)
		goto out;
	if (!is_seq(cases)) {
		malformed(r, cases ? cases : t, "expressions need 'cases': a list");
		goto out;
	}
	for (size_t i = 0; i < cases->len && !r->malformed; i++) {
		const struct ynode *c = cases->items[i];
		const char *text;
		struct want w;
		struct labels own = LABELS_INIT;
		if (check_keys(r, c, "an expression case", case_keys) < 0 ||
		    get_string(r, ynode_get(c, "expr"), "expr", &text) < 0 || get_want(r, c, &w) < 0)
			break;
		if (ynode_get(c, "labels") && get_labels(r, ynode_get(c, "labels"), "labels", &own) < 0)
			break;
		struct expr_env env = { ynode_get(c, "labels") ? &own : &labels, ynode_get(t, "service") ? &svc : NULL };
		struct expr *e = NULL;
		struct error err = ERROR_INIT;
		int got = -1;
		bool compiled = expr_compile(&e, r->in, text, &err) == 0;
		for (int k = 0; compiled && k < REPEAT; k++) {
			struct error e2 = ERROR_INIT;
			int g = expr_eval(e, &env, k ? &e2 : &err);
			if (k && g != got)
				mismatch(r, "evaluation %d gave %d, the first gave %d", k + 1, g, got);
			got = k ? got : g;
			error_clear(&e2);
		}
		check_outcome(r, &w, compiled, got, error_msg(&err));
		report(r, c, arena_printf(r->arena, "expression case %zu: %s", i + 1, text));
		expr_free(e);
		error_clear(&err);
		labels_release(&own);
	}
out:
	labels_release(&labels);
	labels_release(&slabels);
}

/* A discovery tree from a nested mapping of scalars. */
static struct dnode *build_dnode(struct run *r, const struct ynode *n)
{
	struct dnode *d = arena_alloc(r->arena, sizeof(*d));
	if (is_scalar(n)) {
		d->text = n->str->s;
		return d;
	}
	if (!is_map(n)) {
		malformed(r, n, "discovery must be nested mappings of scalars");
		return NULL;
	}
	d->entries = arena_alloc(r->arena, (n->len + 1) * sizeof(*d->entries));
	d->len = d->cap = (uint32_t)n->len;
	for (size_t i = 0; i < n->len; i++) {
		d->entries[i].key = n->pairs[i].key;
		if (!(d->entries[i].child = build_dnode(r, n->pairs[i].value)))
			return NULL;
	}
	return d;
}

static void run_templates(struct run *r, const struct ynode *t)
{
	static const char *const keys[] = { "labels", "user", "discovery", "cases", NULL };
	static const char *const user_keys[] = { "name", "labels", "secrets", NULL };
	static const char *const case_keys[] = { "template", "result", "error", "message", "comment", NULL };
	if (check_keys(r, t, "templates", keys) < 0)
		return;
	struct labels labels = LABELS_INIT, ulabels = LABELS_INIT, secrets = LABELS_INIT;
	struct template_scope scope = { 0 };
	const struct ynode *v, *u = ynode_get(t, "user"), *cases = ynode_get(t, "cases");
	if ((v = ynode_get(t, "labels"))) {
		if (get_labels(r, v, "labels", &labels) < 0)
			goto out;
		scope.labels = &labels;
	}
	if (u) {
		if (check_keys(r, u, "user", user_keys) < 0)
			goto out;
		if ((v = ynode_get(u, "name")) && get_string(r, v, "user.name", &scope.user_name) < 0)
			goto out;
		if (get_labels(r, ynode_get(u, "labels"), "user.labels", &ulabels) < 0)
			goto out;
		scope.user_labels = &ulabels;
		if ((v = ynode_get(u, "secrets"))) {
			if (get_labels(r, v, "user.secrets", &secrets) < 0)
				goto out;
			scope.user_secrets = &secrets;
		}
	}
	if ((v = ynode_get(t, "discovery")) && !(scope.discovery = build_dnode(r, v)))
		goto out;
	if (!is_seq(cases)) {
		malformed(r, cases ? cases : t, "templates need 'cases': a list");
		goto out;
	}
	for (size_t i = 0; i < cases->len && !r->malformed; i++) {
		const struct ynode *c = cases->items[i];
		const char *text, *want_text = NULL, *want_error = NULL, *message = NULL;
		if (check_keys(r, c, "a template case", case_keys) < 0 ||
		    get_string(r, ynode_get(c, "template"), "template", &text) < 0)
			break;
		const struct ynode *res = ynode_get(c, "result"), *e = ynode_get(c, "error");
		if (!res == !e) {
			malformed(r, c, "a case needs exactly one of 'result' or 'error'");
			break;
		}
		/* An empty result is a plain empty scalar or "". */
		if (res && !(is_scalar(res) && (want_text = is_null(res) ? "" : res->str->s))) {
			malformed(r, res, "result must be a string");
			break;
		}
		if (e && (get_string(r, e, "error", &want_error) < 0 ||
			  (strcmp(want_error, "compile") && strcmp(want_error, "eval") && strcmp(want_error, "any")))) {
			malformed(r, e, "error must be compile, eval or any");
			break;
		}
		if (ynode_get(c, "message") && get_string(r, ynode_get(c, "message"), "message", &message) < 0)
			break;
		struct template *tm = NULL;
		struct error err = ERROR_INIT;
		struct strbuf out = STRBUF_INIT, again = STRBUF_INIT;
		bool compiled = template_compile(&tm, r->in, text, &err) == 0;
		int rc = -1;
		if (compiled) {
			rc = template_render(tm, &scope, &out, &err);
			struct error e2 = ERROR_INIT;
			int rc2 = template_render(tm, &scope, &again, &e2);
			if (rc2 != rc || strcmp(strbuf_cstr(&out), strbuf_cstr(&again)) != 0)
				mismatch(r, "a second rendering differs: '%s' vs '%s'", strbuf_cstr(&out),
					 strbuf_cstr(&again));
			error_clear(&e2);
		}
		if (want_text) {
			if (!compiled || rc < 0)
				mismatch(r, "expected '%s', got a%s error: %s", want_text,
					 compiled ? "n evaluation" : " compile", error_msg(&err));
			else if (strcmp(want_text, strbuf_cstr(&out)) != 0)
				mismatch(r, "expected '%s', got '%s'", want_text, strbuf_cstr(&out));
		} else if (compiled && rc == 0) {
			mismatch(r, "expected a%s error, got '%s'",
				 strcmp(want_error, "compile") == 0 ? " compile" : "n evaluation", strbuf_cstr(&out));
		} else if (strcmp(want_error, "compile") == 0 && compiled) {
			mismatch(r, "expected a compile error, got an evaluation error: %s", error_msg(&err));
		} else if (strcmp(want_error, "eval") == 0 && !compiled) {
			mismatch(r, "expected an evaluation error, got a compile error: %s", error_msg(&err));
		} else if (message && !strstr(error_msg(&err), message)) {
			mismatch(r, "expected an error containing '%s', got: %s", message, error_msg(&err));
		}
		report(r, c, arena_printf(r->arena, "template case %zu: %s", i + 1, text));
		template_free(tm);
		error_clear(&err);
		strbuf_release(&out);
		strbuf_release(&again);
	}
out:
	labels_release(&labels);
	labels_release(&ulabels);
	labels_release(&secrets);
}

/* Compiles a criteria mapping; a compile error is returned as -1 with err set. */
static int build_criteria(struct run *r, const struct ynode *n, struct criteria *c, struct error *err)
{
	static const char *const keys[] = { "require-all", "require-any", "require-none", NULL };
	if (check_keys(r, n, "criteria", keys) < 0)
		return -2;
	const char *names[3] = { "require-all", "require-any", "require-none" };
	struct expr ***lists[3] = { &c->all, &c->any, &c->none };
	size_t *lens[3] = { &c->nall, &c->nany, &c->nnone };
	for (int k = 0; k < 3; k++) {
		const struct ynode *v = ynode_get(n, names[k]);
		const char **texts;
		size_t len;
		if (!v || is_null(v))
			continue;
		if (is_seq(v) && v->len == 0)
			continue;
		if (get_strings(r, v, names[k], &texts, &len) < 0)
			return -2;
		*lists[k] = calloc(len, sizeof(**lists[k]));
		for (size_t i = 0; i < len; i++) {
			if (expr_compile(&(*lists[k])[i], r->in, texts[i], err) < 0)
				return -1;
			(*lens[k])++;
		}
	}
	return 0;
}

static void run_criteria(struct run *r, const struct ynode *t)
{
	static const char *const keys[] = { "cases", NULL };
	static const char *const case_keys[] = { "criteria", "labels", "service", "result", "error",
						 "message", "comment", NULL };
	if (check_keys(r, t, "criteria", keys) < 0)
		return;
	const struct ynode *cases = ynode_get(t, "cases");
	if (!is_seq(cases)) {
		malformed(r, cases ? cases : t, "criteria need 'cases': a list");
		return;
	}
	for (size_t i = 0; i < cases->len && !r->malformed; i++) {
		const struct ynode *c = cases->items[i], *cn;
		struct want w;
		if (check_keys(r, c, "a criteria case", case_keys) < 0 || get_want(r, c, &w) < 0)
			break;
		if (!(cn = ynode_get(c, "criteria"))) {
			malformed(r, c, "a criteria case needs 'criteria' (a mapping, or null)");
			break;
		}
		struct labels labels = LABELS_INIT, slabels = LABELS_INIT;
		struct expr_service svc = { 0 };
		/* Heap-owned, as the loader makes them, so criteria_free releases it. */
		struct criteria *crit = xcalloc(1, sizeof(*crit));
		struct error err = ERROR_INIT;
		int built = 0, got = -1;
		if (get_labels(r, ynode_get(c, "labels"), "labels", &labels) < 0 ||
		    (ynode_get(c, "service") && get_service(r, ynode_get(c, "service"), &svc, &slabels) < 0) ||
		    (!is_null(cn) && (built = build_criteria(r, cn, crit, &err)) == -2)) {
			labels_release(&labels);
			labels_release(&slabels);
			criteria_free(crit);
			break;
		}
		struct expr_env env = { &labels, ynode_get(c, "service") ? &svc : NULL };
		const struct criteria *cp = is_null(cn) ? NULL : crit;
		for (int k = 0; built == 0 && k < REPEAT; k++) {
			struct error e2 = ERROR_INIT;
			int g = criteria_eval(cp, &env, k ? &e2 : &err);
			if (k && g != got)
				mismatch(r, "evaluation %d gave %d, the first gave %d", k + 1, g, got);
			got = k ? got : g;
			error_clear(&e2);
		}
		check_outcome(r, &w, built == 0, got, error_msg(&err));
		report(r, c, arena_printf(r->arena, "criteria case %zu", i + 1));
		error_clear(&err);
		criteria_free(crit);
		labels_release(&labels);
		labels_release(&slabels);
	}
}

static void run_label_ops(struct run *r, const struct ynode *t)
{
	static const char *const keys[] = { "cases", NULL };
	static const char *const case_keys[] = { "labels", "set", "remove", "add", "result", "not-equal",
						 "changed", "changed-again", "comment", NULL };
	if (check_keys(r, t, "label-ops", keys) < 0)
		return;
	const struct ynode *cases = ynode_get(t, "cases");
	if (!is_seq(cases)) {
		malformed(r, cases ? cases : t, "label-ops need 'cases': a list");
		return;
	}
	for (size_t i = 0; i < cases->len && !r->malformed; i++) {
		const struct ynode *c = cases->items[i], *v;
		struct labels ls = LABELS_INIT, add = LABELS_INIT, want = LABELS_INIT, other = LABELS_INIT;
		struct label_ops ops = { 0 };
		const char **removes = NULL;
		size_t nremove = 0;
		bool changed = false, b;
		if (check_keys(r, c, "a label-ops case", case_keys) < 0 ||
		    get_labels(r, ynode_get(c, "labels"), "labels", &ls) < 0 ||
		    get_labels(r, ynode_get(c, "set"), "set", &ops.set) < 0 ||
		    get_labels(r, ynode_get(c, "add"), "add", &add) < 0 ||
		    get_labels(r, ynode_get(c, "result"), "result", &want) < 0 ||
		    get_labels(r, ynode_get(c, "not-equal"), "not-equal", &other) < 0 ||
		    ((v = ynode_get(c, "remove")) && !(is_seq(v) && v->len == 0) &&
		     get_strings(r, v, "remove", &removes, &nremove) < 0))
			goto next;
		ops.remove = arena_alloc(r->arena, (nremove + 1) * sizeof(*ops.remove));
		for (size_t k = 0; k < nremove; k++)
			ops.remove[k] = intern_cstr(r->in, removes[k]);
		ops.nremove = (uint32_t)nremove;
		bool has_ops = ynode_get(c, "set") || ynode_get(c, "remove");
		if (has_ops)
			changed = label_ops_apply(&ops, &ls);
		if (ynode_get(c, "add"))
			labels_add_all(&ls, &add);
		if ((v = ynode_get(c, "changed"))) {
			if (get_bool(r, v, "changed", &b) < 0)
				goto next;
			if (b != changed)
				mismatch(r, "expected changed = %s, got %s", b ? "true" : "false", changed ? "true" : "false");
		}
		if (ynode_get(c, "result") && !labels_equal(&ls, &want))
			mismatch(r, "expected %s, got %s", labels_text(r, &want), labels_text(r, &ls));
		if (ynode_get(c, "not-equal") && labels_equal(&ls, &other))
			mismatch(r, "expected %s to differ from %s", labels_text(r, &ls), labels_text(r, &other));
		if ((v = ynode_get(c, "changed-again"))) {
			if (get_bool(r, v, "changed-again", &b) < 0)
				goto next;
			bool again = label_ops_apply(&ops, &ls);
			if (b != again)
				mismatch(r, "applying again: expected changed = %s, got %s", b ? "true" : "false",
					 again ? "true" : "false");
			if (ynode_get(c, "result") && !labels_equal(&ls, &want))
				mismatch(r, "applying again: expected %s, got %s", labels_text(r, &want),
					 labels_text(r, &ls));
		}
		report(r, c, arena_printf(r->arena, "label-ops case %zu", i + 1));
next:
		labels_release(&ls);
		labels_release(&add);
		labels_release(&want);
		labels_release(&other);
		labels_release(&ops.set);
	}
}

/* ---- files ---- */

static void run_file(struct run *r)
{
	static const char *const keys[] = { "description", "reference", "users", "secrets", "steps",
					    "expressions", "templates", "criteria", "label-ops", NULL };
	struct ynode **docs;
	size_t ndocs;
	struct diags d = DIAGS_INIT;
	if (yaml_parse_file(r->arena, r->in, r->file, &docs, &ndocs, &d) < 0) {
		for (size_t i = 0; i < d.len; i++)
			fprintf(stderr, "%s\n", d.items[i]);
		if (!d.len)
			fprintf(stderr, "%s: malformed spec: does not parse\n", r->file);
		r->malformed = true;
		goto out;
	}
	if (ndocs != 1) {
		malformed(r, NULL, "expected one YAML document, got %zu", ndocs);
		goto out;
	}
	const struct ynode *doc = docs[0];
	if (check_keys(r, doc, "the spec", keys) < 0)
		goto out;
	const char *desc;
	if (get_string(r, ynode_get(doc, "description"), "description", &desc) < 0)
		goto out;
	bool scenario = ynode_get(doc, "steps") || ynode_get(doc, "users");
	bool tables = false;
	static const char *const table_keys[] = { "expressions", "templates", "criteria", "label-ops", NULL };
	for (const char *const *k = table_keys; *k; k++)
		tables |= ynode_get(doc, *k) != NULL;
	if (scenario == tables) {
		malformed(r, doc, "a spec is either a scenario (users, steps) or tables (expressions, templates, criteria, label-ops)");
		goto out;
	}
	printf("# %s: %s\n", r->file, desc);
	if (scenario) {
		run_scenario(r, doc);
		goto out;
	}
	const struct ynode *v;
	if ((v = ynode_get(doc, "expressions")) && !r->malformed)
		run_expressions(r, v);
	if ((v = ynode_get(doc, "templates")) && !r->malformed)
		run_templates(r, v);
	if ((v = ynode_get(doc, "criteria")) && !r->malformed)
		run_criteria(r, v);
	if ((v = ynode_get(doc, "label-ops")) && !r->malformed)
		run_label_ops(r, v);
out:
	diags_release(&d);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: run_specs FILE.yaml...\n");
		return 2;
	}
	size_t passed = 0, failed = 0;
	bool bad = false;
	for (int i = 1; i < argc; i++) {
		struct run r = { 0 };
		r.file = argv[i];
		r.arena = arena_new();
		r.in = intern_new();
		run_file(&r);
		if (r.malformed) {
			printf("FAIL %s: malformed spec (see above)\n", r.file);
			bad = true;
		}
		passed += r.passed;
		failed += r.failed;
		strbuf_release(&r.why);
		intern_free(r.in);
		arena_free(r.arena);
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	return bad ? 2 : failed ? 1 : 0;
}
