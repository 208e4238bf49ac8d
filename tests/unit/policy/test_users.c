/* Users and secrets files (Aptomi's format): loading, case-insensitive
 * lookup, errors with positions and suggestions, crypt(3) password checks. */
#include "policy/policy.h"

#include <crypt.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAKE_USERS "/work/shared/bench/aptomi/make-users"

struct fixture {
	struct intern *in;
	struct users *u;
	struct diags d;
	char path[64];
};

static void setup_file(struct fixture *f, const char *text)
{
	f->in = intern_new();
	f->u = users_new(f->in);
	f->d = (struct diags)DIAGS_INIT;
	strcpy(f->path, "/tmp/cairn-users-XXXXXX");
	int fd = mkstemp(f->path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void write_file(char *path, const char *text)
{
	strcpy(path, "/tmp/cairn-secrets-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void teardown(struct fixture *f)
{
	for (size_t i = 0; i < f->d.len; i++)
		cr_log_info("%s", f->d.items[i]);
	unlink(f->path);
	diags_release(&f->d);
	users_free(f->u);
	intern_free(f->in);
}

static bool has_diag(const struct diags *d, const char *text)
{
	for (size_t i = 0; i < d->len; i++)
		if (strstr(d->items[i], text))
			return true;
	return false;
}

static void load_bench_users(const char *size, size_t count)
{
	char path[64] = "/tmp/cairn-bench-users-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "python3 " MAKE_USERS " %s %s", size, path);
	cr_assert_eq(system(cmd), 0);

	struct intern *in = intern_new();
	struct users *u = users_new(in);
	struct diags d = DIAGS_INIT;
	cr_expect_eq(users_load(u, path, &d), 0);
	cr_expect_eq(d.len, 0);
	cr_assert_eq(u->len, count);
	const struct user *first = users_find(u, "user-0");
	const struct user *last = u->items[count - 1];
	cr_assert_not_null(first);
	cr_expect(first->admin);
	cr_expect_eq(first->labels.len, 30);
	cr_expect_str_eq(labels_get(&first->labels, intern_cstr(in, "BZDXM4qV15"))->s,
			 "hhNRq1KyMpnjdpS6dw7qPKBKX");
	/* Values are interned: every user shares them. */
	cr_expect_eq(first->labels.items[0].value, last->labels.items[0].value);
	cr_expect_null(first->password_hash);
	cr_expect_not(first->has_secrets);
	diags_release(&d);
	users_free(u);
	intern_free(in);
	unlink(path);
}

Test(users, benchmark_small_users_load)
{
	load_bench_users("small", 100);
}

Test(users, benchmark_medium_users_load)
{
	load_bench_users("medium", 10000);
}

Test(users, lookups_ignore_case_but_names_keep_spelling)
{
	struct fixture f;
	setup_file(&f, "- name: Alice\n  labels: {org: dev, n: 10}\n- name: Sam\n  admin: true\n");
	cr_assert_eq(users_load(f.u, f.path, &f.d), 0);
	const struct user *a = users_find(f.u, "alice");
	cr_assert_not_null(a);
	cr_expect_eq(users_find(f.u, "ALICE"), a);
	cr_expect_str_eq(a->name->s, "Alice");
	cr_expect_not(a->admin);
	cr_expect_str_eq(labels_get(&a->labels, intern_cstr(f.in, "n"))->s, "10");
	cr_expect_eq(a->pos.line, 1);
	cr_expect_eq(a->pos.col, 3);
	cr_expect(users_find(f.u, "sam")->admin);
	cr_expect_null(users_find(f.u, "bob"));
	teardown(&f);
}

Test(users, errors_name_the_user_and_position)
{
	struct fixture f;
	setup_file(&f, "- name: Alice\n  lables: {org: dev}\n"
		       "- name: Bob\n  admin: maybe\n"
		       "- name: alice\n"
		       "- name: Carol\n  labels: {team: [a]}\n"
		       "- name: Dan\n");
	cr_expect_eq(users_load(f.u, f.path, &f.d), -1);
	cr_expect_eq(f.d.len, 3);
	cr_expect(has_diag(&f.d, ":2:3: user Alice: unknown key 'lables' (did you mean 'labels'?)"));
	cr_expect(has_diag(&f.d, ":4:10: user Bob: 'admin' must be true or false, not a string"));
	cr_expect(has_diag(&f.d, ":7:18: user Carol: label 'team' must be a string, not a list"));
	/* Alice was refused, so the later "alice" is not a duplicate of anything. */
	cr_expect_not_null(users_find(f.u, "alice"));
	cr_expect_not_null(users_find(f.u, "dan"));
	cr_expect_null(users_find(f.u, "bob"));
	teardown(&f);
}

Test(users, duplicate_users_are_refused)
{
	struct fixture f;
	setup_file(&f, "- name: Alice\n- name: ALICE\n");
	cr_expect_eq(users_load(f.u, f.path, &f.d), -1);
	cr_assert_eq(f.d.len, 1);
	cr_expect(has_diag(&f.d, ":2:3: user ALICE: duplicate user (first at "));
	cr_expect_str_eq(users_find(f.u, "alice")->name->s, "Alice");
	teardown(&f);
}

Test(users, secrets_attach_to_known_users)
{
	struct fixture f;
	setup_file(&f, "- name: John\n- name: Alice\n");
	cr_assert_eq(users_load(f.u, f.path, &f.d), 0);
	char secrets[64];
	write_file(secrets, "- user: john\n  secrets:\n    appKey: k1\n    appSecret: s1\n"
			    "- user: Nobody\n  secrets: {a: b}\n"
			    "- user: Alice\n  secrest: {a: b}\n");
	cr_expect_eq(users_load_secrets(f.u, secrets, &f.d), -1);
	cr_expect_eq(f.d.len, 2);
	cr_expect(has_diag(&f.d, ":5:9: secrets of Nobody: unknown user 'Nobody'"));
	cr_expect(has_diag(&f.d, ":8:3: secrets of Alice: unknown key 'secrest' (did you mean 'secrets'?)"));
	const struct user *john = users_find(f.u, "John");
	cr_expect(john->has_secrets);
	cr_expect_str_eq(labels_get(&john->secrets, intern_cstr(f.in, "appKey"))->s, "k1");
	cr_expect_not(users_find(f.u, "alice")->has_secrets);
	unlink(secrets);
	teardown(&f);
}

Test(users, missing_file_is_an_error)
{
	struct fixture f;
	setup_file(&f, "");
	cr_expect_eq(users_load(f.u, "/nonexistent/users.yaml", &f.d), -1);
	cr_expect_eq(f.d.len, 1);
	cr_expect_eq(users_load(f.u, f.path, &f.d), 0, "an empty file has no users");
	cr_expect_eq(f.u->len, 0);
	teardown(&f);
}

static void check_password_with(const char *prefix)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	cr_assert_not_null(crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)));
	struct crypt_data data;
	memset(&data, 0, sizeof(data));
	const char *hash = crypt_r("s3cret pass", salt, &data);
	cr_assert(hash && hash[0] == '$', "%s", prefix);
	cr_assert(strncmp(hash, prefix, strlen(prefix)) == 0);

	struct fixture f;
	char text[512];
	snprintf(text, sizeof(text), "- name: Alice\n  passwordhash: '%s'\n- name: Bob\n", hash);
	setup_file(&f, text);
	cr_assert_eq(users_load(f.u, f.path, &f.d), 0);
	const struct user *alice = users_find(f.u, "alice");
	cr_expect_str_eq(alice->password_hash, hash);
	cr_expect_eq(user_check_password(alice, "s3cret pass"), 0);
	cr_expect_eq(user_check_password(alice, "s3cret pasS"), -1);
	cr_expect_eq(user_check_password(alice, ""), -1);
	cr_expect_eq(user_check_password(users_find(f.u, "bob"), "anything"), -1, "no hash, no login");
	cr_expect_eq(user_check_password(NULL, "x"), -1);
	teardown(&f);
}

Test(users, password_check_yescrypt)
{
	check_password_with("$y$");
}

Test(users, password_check_sha512crypt)
{
	check_password_with("$6$");
}

Test(users, password_check_refuses_a_malformed_hash)
{
	struct fixture f;
	setup_file(&f, "- name: Eve\n  passwordhash: '*'\n- name: Mal\n  passwordhash: '$y$garbage'\n");
	cr_assert_eq(users_load(f.u, f.path, &f.d), 0);
	cr_expect_eq(user_check_password(users_find(f.u, "eve"), "*"), -1);
	cr_expect_eq(user_check_password(users_find(f.u, "mal"), "x"), -1);
	teardown(&f);
}

/* ---- the parsed-users cache ---- */

static const char cached_text[] =
	"- name: Alice\n  labels: {team: a, n: \"3\"}\n"
	"- name: bob\n  admin: true\n  passwordhash: \"$6$salt$abc\"\n  labels: {}\n";

/* Users loaded through the cache in dir; *hit says whether it was read back. */
static struct users *load_cached(struct intern *in, const char *path, const char *dir, bool *hit,
				 int *rc)
{
	struct users *u = users_new(in);
	struct diags d = DIAGS_INIT;
	*rc = users_load_cached(u, path, dir, hit, &d);
	diags_release(&d);
	return u;
}

static void expect_same_users(const struct users *a, const struct users *b)
{
	cr_assert_eq(a->len, b->len);
	for (size_t i = 0; i < a->len; i++) {
		const struct user *x = a->items[i], *y = b->items[i];
		cr_expect_eq(x->name, y->name, "interned names are one pointer");
		cr_expect_eq(x->admin, y->admin);
		cr_expect_str_eq(x->password_hash ? x->password_hash : "-", y->password_hash ? y->password_hash : "-");
		cr_expect(labels_equal(&x->labels, &y->labels));
		cr_expect_str_eq(x->pos.file, y->pos.file);
		cr_expect_eq(x->pos.line, y->pos.line);
		cr_expect_eq(x->pos.col, y->pos.col);
	}
	cr_expect_eq(users_decoy(a) ? users_decoy(a)->name : NULL, users_decoy(b) ? users_decoy(b)->name : NULL);
}

static char *cache_file_in(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls %s/users-*.cache", dir);
	FILE *p = popen(cmd, "r");
	static char line[512];
	char *got = p ? fgets(line, sizeof(line), p) : NULL;
	if (p)
		pclose(p);
	if (got)
		line[strcspn(line, "\n")] = '\0';
	return got;
}

Test(users, a_cached_file_reads_back_the_same_users)
{
	struct fixture f;
	setup_file(&f, cached_text);
	char dir[64] = "/tmp/cairn-users-cache-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char sub[96];
	snprintf(sub, sizeof(sub), "%s/made/on/demand", dir);
	cr_assert_eq(users_load(f.u, f.path, &f.d), 0);
	bool hit = true;
	int rc;
	struct users *miss = load_cached(f.in, f.path, sub, &hit, &rc);
	cr_expect_eq(rc, 0);
	cr_expect_not(hit, "the first load parses");
	expect_same_users(f.u, miss);
	struct users *again = load_cached(f.in, f.path, sub, &hit, &rc);
	cr_expect_eq(rc, 0);
	cr_expect(hit, "the second load reads the cache");
	expect_same_users(f.u, again);
	cr_expect_not_null(users_find(again, "ALICE"), "lookups still ignore case");

	/* A changed file is another content: parsed again, its own cache. */
	FILE *w = fopen(f.path, "a");
	fputs("- name: carol\n", w);
	fclose(w);
	struct users *changed = load_cached(f.in, f.path, sub, &hit, &rc);
	cr_expect_not(hit);
	cr_expect_eq(changed->len, 3);
	users_free(miss);
	users_free(again);
	users_free(changed);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
	teardown(&f);
}

Test(users, a_damaged_cache_is_ignored_and_rewritten)
{
	struct fixture f;
	setup_file(&f, cached_text);
	char dir[64] = "/tmp/cairn-users-cache-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(users_load(f.u, f.path, &f.d), 0);
	bool hit;
	int rc;
	users_free(load_cached(f.in, f.path, dir, &hit, &rc));
	char *cache = cache_file_in(dir);
	cr_assert_not_null(cache);
	char path[512];
	snprintf(path, sizeof(path), "%s", cache);
	FILE *c = fopen(path, "rb");
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf), c);
	fclose(c);
	/* every byte flipped in turn, then every length cut: never a crash or wrong users */
	for (size_t i = 0; i < n + n; i++) {
		c = fopen(path, "wb");
		if (i < n) {
			buf[i] ^= 0x5a;
			fwrite(buf, 1, n, c);
			buf[i] ^= 0x5a;
		} else {
			fwrite(buf, 1, i - n, c);
		}
		fclose(c);
		struct users *u = load_cached(f.in, f.path, dir, &hit, &rc);
		cr_assert_eq(rc, 0);
		cr_assert_not(hit, "byte %zu: a damaged cache is not used", i);
		expect_same_users(f.u, u);
		users_free(u);
	}
	struct users *u = load_cached(f.in, f.path, dir, &hit, &rc);
	cr_expect(hit, "the last load rewrote it");
	users_free(u);
	/* one that others may write could have been planted: not used */
	cr_assert_eq(chmod(path, 0622), 0);
	u = load_cached(f.in, f.path, dir, &hit, &rc);
	cr_expect_not(hit, "a cache file writable by others is not trusted");
	expect_same_users(f.u, u);
	users_free(u);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
	teardown(&f);
}

Test(users, a_file_with_errors_is_not_cached_and_a_cache_that_cannot_be_written_is_skipped)
{
	struct fixture f;
	setup_file(&f, "- name: a\n  lables: {}\n");
	char dir[64] = "/tmp/cairn-users-cache-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	bool hit;
	cr_expect_eq(users_load_cached(f.u, f.path, dir, &hit, &f.d), -1);
	cr_expect(has_diag(&f.d, ":2:3: user a: unknown key 'lables'"), "errors keep their positions");
	cr_expect_null(cache_file_in(dir), "nothing cached");
	users_clear(f.u);
	diags_release(&f.d);
	f.d = (struct diags)DIAGS_INIT;
	FILE *w = fopen(f.path, "w");
	fputs(cached_text, w);
	fclose(w);
	cr_expect_eq(users_load_cached(f.u, f.path, "/proc/no-cache-here", &hit, &f.d), 0);
	cr_expect_not(hit);
	cr_expect_eq(f.u->len, 2);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
	teardown(&f);
}
