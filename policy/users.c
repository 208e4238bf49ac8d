/* Users and their secrets from Aptomi's users and secrets files, looked up
 * case-insensitively, and password checks against crypt(3) hashes. Not the
 * ACL (acl.c) and not a user store: files are read, never written. */
#include "policy.h"

#include "base/suggest.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/strbuf.h"

#include <crypt.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct users *users_new(struct intern *in)
{
	struct users *u = xcalloc(1, sizeof(*u));
	u->arena = arena_new();
	u->intern = in;
	return u;
}

static void release_users(struct users *u)
{
	for (size_t i = 0; i < u->len; i++) {
		labels_release(&u->items[i]->labels);
		labels_release(&u->items[i]->secrets);
	}
	free(u->items);
	map_release(&u->by_name);
	arena_free(u->arena);
}

void users_clear(struct users *u)
{
	release_users(u);
	u->arena = arena_new();
	u->items = NULL;
	u->len = u->cap = 0;
	u->by_name = (struct map)MAP_INIT;
	u->decoy = NULL;
}

void users_free(struct users *u)
{
	if (!u)
		return;
	release_users(u);
	free(u);
}

/* The lower-cased name in buf, or in a heap copy (*heap) when it does not fit. */
static char *lower_key(const char *name, char *buf, size_t size, char **heap)
{
	size_t n = strlen(name);
	*heap = NULL;
	char *out = buf;
	if (n >= size)
		out = *heap = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[n] = '\0';
	return out;
}

const struct user *users_find(const struct users *u, const char *name)
{
	char buf[128], *heap;
	const char *key = lower_key(name, buf, sizeof(buf), &heap);
	const struct user *user = map_get(&u->by_name, key, strlen(key));
	free(heap);
	return user;
}

static void uerr(struct diags *d, int *errors, struct pos pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void uerr(struct diags *d, int *errors, struct pos pos, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	diags_add_at(d, pos, "%s", strbuf_cstr(&sb));
	strbuf_release(&sb);
	(*errors)++;
}

/* Reports every key of map that is not in keys (with the nearest one). */
static void check_keys(struct diags *d, int *errors, const char *what, const struct ynode *map,
		       const char *const *keys, size_t nkeys)
{
	for (size_t i = 0; i < map->len; i++) {
		const struct ypair *pr = &map->pairs[i];
		bool known = false;
		for (size_t k = 0; k < nkeys && !known; k++)
			known = strcmp(pr->key->s, keys[k]) == 0;
		if (known)
			continue;
		const char *near = suggest_nearest(pr->key->s, keys, nkeys);
		if (near)
			uerr(d, errors, pr->key_pos, "%s: unknown key '%s' (did you mean '%s'?)", what,
			     pr->key->s, near);
		else
			uerr(d, errors, pr->key_pos, "%s: unknown key '%s'", what, pr->key->s);
	}
}

static bool is_null(const struct ynode *n)
{
	return !n || (n->kind == YNODE_SCALAR && ynode_scalar(n, NULL, NULL, NULL) == YSCALAR_NULL);
}

/* A map of scalars into ls (values interned: shared between users). */
static void read_map(struct diags *d, int *errors, const char *what, const char *field,
		     const struct ynode *v, struct labels *ls, struct intern *in)
{
	if (is_null(v))
		return;
	if (v->kind != YNODE_MAP) {
		uerr(d, errors, v->pos, "%s: '%s' must be a mapping, not %s", what, field,
		     ynode_describe(v));
		return;
	}
	for (size_t i = 0; i < v->len; i++) {
		const struct ypair *pr = &v->pairs[i];
		if (pr->value->kind != YNODE_SCALAR) {
			uerr(d, errors, pr->value->pos, "%s: %s '%s' must be a string, not %s", what,
			     field, pr->key->s, ynode_describe(pr->value));
			continue;
		}
		const struct istr *val = is_null(pr->value) ? intern(in, "", 0) : pr->value->str;
		/* Secrets may be certificates; labels are short. */
		size_t limit = strcmp(field, "secret") == 0 ? SECRET_VALUE_MAX : LABEL_VALUE_MAX;
		if (val->len > limit) {
			uerr(d, errors, pr->value->pos, "%s: %s '%s' is %zu bytes: the limit is %zu", what,
			     field, pr->key->s, (size_t)val->len, limit);
			continue;
		}
		labels_set(ls, pr->key, val);
	}
}

/* The state of one streamed load (yaml_parse_file_each hands entries one by one). */
struct entry_load {
	struct users *u;
	struct diags *diags;
	int errors;
};

/* Null documents are empty; anything else at the top must be an entry mapping. */
static bool entry_is_map(struct entry_load *el, const struct ynode *e, const char *noun)
{
	if (e->kind == YNODE_MAP)
		return true;
	if (!is_null(e))
		uerr(el->diags, &el->errors, e->pos, "a %s must be a mapping, not %s", noun,
		     ynode_describe(e));
	return false;
}

static int load_user(void *ctx, const struct ynode *e)
{
	static const char *const keys[] = { "name", "passwordhash", "labels", "admin" };
	struct entry_load *el = ctx;
	struct users *u = el->u;
	struct diags *diags = el->diags;
	if (!entry_is_map(el, e, "user"))
		return 0;
	const struct ynode *name = ynode_get(e, "name");
	if (is_null(name) || name->kind != YNODE_SCALAR) {
		uerr(diags, &el->errors, name ? name->pos : e->pos,
		     "a user needs a 'name' string");
		check_keys(diags, &el->errors, "user", e, keys, 4);
		return 0;
	}
	char what[160];
	snprintf(what, sizeof(what), "user %s", name->str->s);
	int before = el->errors;
	check_keys(diags, &el->errors, what, e, keys, 4);

	struct user tmpl = { .name = name->str, .pos = e->pos };
	const struct ynode *hash = ynode_get(e, "passwordhash");
	if (!is_null(hash)) {
		if (hash->kind != YNODE_SCALAR)
			uerr(diags, &el->errors, hash->pos, "%s: 'passwordhash' must be a string, not %s",
			     what, ynode_describe(hash));
		else
			tmpl.password_hash = hash->str->s; /* interned: outlives the parse */
	}
	const struct ynode *admin = ynode_get(e, "admin");
	if (!is_null(admin)) {
		bool b = false;
		if (admin->kind != YNODE_SCALAR ||
		    ynode_scalar(admin, NULL, NULL, &b) != YSCALAR_BOOL)
			uerr(diags, &el->errors, admin->pos, "%s: 'admin' must be true or false, not %s",
			     what, ynode_describe(admin));
		tmpl.admin = b;
	}
	read_map(diags, &el->errors, what, "label", ynode_get(e, "labels"), &tmpl.labels,
		 u->intern);

	char buf[128], *heap;
	char *key = lower_key(name->str->s, buf, sizeof(buf), &heap);
	const struct user *dup = map_get(&u->by_name, key, strlen(key));
	if (dup)
		uerr(diags, &el->errors, e->pos, "%s: duplicate user (first at %s:%u:%u)", what,
		     dup->pos.file, dup->pos.line, dup->pos.col);
	if (el->errors > before) {
		labels_release(&tmpl.labels);
		free(heap);
		return 0;
	}
	free(heap);
	struct user *user = arena_alloc(u->arena, sizeof(*user));
	*user = tmpl;
	users_add(u, user);
	return 0;
}

int users_add(struct users *u, struct user *user)
{
	char buf[128], *heap;
	char *key = lower_key(user->name->s, buf, sizeof(buf), &heap);
	if (map_get(&u->by_name, key, strlen(key))) {
		free(heap);
		return -1;
	}
	const char *stored = arena_strdup(u->arena, key);
	free(heap);
	map_put(&u->by_name, stored, strlen(stored), user);
	if (u->len == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 64;
		u->items = xrealloc(u->items, u->cap * sizeof(*u->items));
	}
	u->items[u->len++] = user;
	if (!u->decoy && user->password_hash)
		u->decoy = user;
	return 0;
}

const struct user *users_decoy(const struct users *u)
{
	return u->decoy;
}

int users_load(struct users *u, const char *path, struct diags *diags)
{
	/* Streamed: only users, their labels and hashes are kept, never the whole tree. */
	struct entry_load el = { u, diags, 0 };
	if (yaml_parse_file_each(u->intern, path, load_user, &el, diags) < 0 && !el.errors)
		el.errors++;
	return el.errors ? -1 : 0;
}

int users_load_text(struct users *u, const char *name, const char *text, size_t len,
		    struct diags *diags)
{
	struct entry_load el = { u, diags, 0 };
	if (yaml_parse_each(u->intern, name, text, len, load_user, &el, diags) < 0 && !el.errors)
		el.errors++;
	return el.errors ? -1 : 0;
}

static int load_secrets(void *ctx, const struct ynode *e)
{
	static const char *const keys[] = { "user", "secrets" };
	struct entry_load *el = ctx;
	struct users *u = el->u;
	struct diags *diags = el->diags;
	if (!entry_is_map(el, e, "secrets entry"))
		return 0;
	const struct ynode *name = ynode_get(e, "user");
	if (is_null(name) || name->kind != YNODE_SCALAR) {
		uerr(diags, &el->errors, name ? name->pos : e->pos,
		     "a secrets entry needs a 'user' string");
		check_keys(diags, &el->errors, "secrets", e, keys, 2);
		return 0;
	}
	char what[160];
	snprintf(what, sizeof(what), "secrets of %s", name->str->s);
	int before = el->errors;
	check_keys(diags, &el->errors, what, e, keys, 2);
	struct user *user = (struct user *)users_find(u, name->str->s);
	if (!user) {
		uerr(diags, &el->errors, name->pos, "%s: unknown user '%s'", what, name->str->s);
		return 0;
	}
	struct labels secrets = LABELS_INIT;
	read_map(diags, &el->errors, what, "secret", ynode_get(e, "secrets"), &secrets, u->intern);
	if (el->errors > before) {
		labels_release(&secrets);
		return 0;
	}
	/* A later entry for the same user adds to (and overrides) the earlier ones. */
	labels_add_all(&user->secrets, &secrets);
	labels_release(&secrets);
	user->has_secrets = true;
	return 0;
}

int users_load_secrets(struct users *u, const char *path, struct diags *diags)
{
	struct entry_load el = { u, diags, 0 };
	if (yaml_parse_file_each(u->intern, path, load_secrets, &el, diags) < 0 && !el.errors)
		el.errors++;
	return el.errors ? -1 : 0;
}

int user_check_password(const struct user *user, const char *password)
{
	if (!user || !user->password_hash || !password)
		return -1;
	struct crypt_data *data = xcalloc(1, sizeof(*data));
	int rc = -1;
	const char *got = crypt_rn(password, user->password_hash, data, (int)sizeof(*data));
	/* crypt_rn returns NULL on failure; some methods return "*0"-style markers. */
	if (got && got[0] != '*') {
		size_t a = strlen(got), b = strlen(user->password_hash);
		unsigned char diff = (unsigned char)(a != b);
		size_t n = a < b ? a : b;
		/* Constant time in the length of the hash: no early exit on a mismatch. */
		for (size_t i = 0; i < n; i++)
			diff |= (unsigned char)(got[i] ^ user->password_hash[i]);
		rc = diff == 0 ? 0 : -1;
	}
	explicit_bzero(data, sizeof(*data));
	free(data);
	return rc;
}

struct users *users_open(struct intern *in, const char *path, const char *secrets_path,
			 struct error *err)
{
	struct users *u = users_new(in);
	struct diags d = DIAGS_INIT;
	int rc = users_load(u, path, &d);
	if (rc == 0 && secrets_path)
		rc = users_load_secrets(u, secrets_path, &d);
	if (rc < 0) {
		error_set(err, "%s", d.len ? d.items[0] : "cannot load the users file");
		users_free(u);
		u = NULL;
	}
	diags_release(&d);
	return u;
}
