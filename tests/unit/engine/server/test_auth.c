/* Server authentication: tokens are random, stored as their SHA-256 and
 * found again only while not revoked; passwords are checked against the
 * users file's crypt(3) hashes; malformed headers are refused. */
#include "engine/server/auth.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#include <criterion/criterion.h>
#include <crypt.h>
#include <ftw.h>
#include <sqlite3.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64], db[128];
static struct intern *in;
static struct users *users;

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb, (void)type, (void)ftw;
	return remove(path);
}

static void setup(void)
{
	strcpy(dir, "/tmp/cairn-auth-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/state.db", dir);
	in = intern_new();
	users = users_new(in);
	struct diags d = DIAGS_INIT;
	cr_assert_eq(users_load(users, CAIRN_SOURCE_DIR "/examples/twitter-analytics/users.yaml", &d), 0);
	diags_release(&d);
}

static void teardown(void)
{
	users_free(users);
	intern_free(in);
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(auth, .init = setup, .fini = teardown);

Test(auth, token_hash_is_hex_sha256)
{
	char h[AUTH_HASH_HEX];
	auth_token_hash("abc", h);
	cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(auth, new_tokens_are_prefixed_random_and_distinct)
{
	char *a = NULL, *b = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(auth_token_new(&a, &err), 0);
	cr_assert_eq(auth_token_new(&b, &err), 0);
	cr_assert_eq(strncmp(a, "cairn_", 6), 0);
	cr_assert_eq(strlen(a), 6 + 64);
	cr_assert_eq(strspn(a + 6, "0123456789abcdef"), 64);
	cr_assert_str_neq(a, b);
	free(a);
	free(b);
}

static int basic(const char *userpass, char **user, struct error *err)
{
	/* base64 by hand would be a second implementation: use known encodings. */
	enum auth_method m;
	return auth_check(NULL, users, NULL, userpass, user, &m, err);
}

Test(auth, basic_checks_the_crypt_hash)
{
	char *user = NULL;
	struct error err = ERROR_INIT;
	/* "Sam:demo", "Sam:nope", "sam:demo" (names are case-insensitive) */
	cr_assert_eq(basic("Basic U2FtOmRlbW8=", &user, &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(user, "Sam");
	free(user);
	cr_assert_eq(basic("Basic U2FtOm5vcGU=", &user, &err), AUTH_REJECTED);
	cr_assert_str_eq(error_msg(&err), "wrong user name or password");
	cr_assert_eq(basic("basic c2FtOmRlbW8=", &user, &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(user, "Sam");
	free(user);
	/* "Nobody:demo": an unknown user gets the same answer as a wrong password */
	cr_assert_eq(basic("Basic Tm9ib2R5OmRlbW8=", &user, &err), AUTH_REJECTED);
	cr_assert_str_eq(error_msg(&err), "wrong user name or password");
	cr_assert_eq(basic("Basic !!!!", &user, &err), AUTH_REJECTED);
	cr_assert_eq(basic("Basic U2Ft", &user, &err), AUTH_REJECTED); /* "Sam": no colon */
	cr_assert_null(user);
	error_clear(&err);
}

/* Padding alone once made the decoded length negative: a write before the
 * buffer, before any credential was checked (ASan caught it on "===="). */
Test(auth, malformed_base64_is_refused_before_any_check)
{
	static const char *const bad[] = {
		"Basic ====", "Basic =", "Basic ==", "Basic A===", "Basic AB=C", "Basic ====U2Ft",
		"Basic U2FtOm5vcGU", "Basic U2Ft Om5v", "Basic U2Ft\nOm5v", "Basic ",
		"Basic AA==", /* decodes to one NUL byte */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *user = NULL;
		struct error err = ERROR_INIT;
		cr_assert_eq(basic(bad[i], &user, &err), AUTH_REJECTED, "%s", bad[i]);
		cr_assert_null(user);
		cr_assert_str_eq(error_msg(&err), "malformed basic credentials", "%s", bad[i]);
		error_clear(&err);
	}
	char *longer = malloc(AUTH_BASIC_MAX + 16);
	strcpy(longer, "Basic ");
	memset(longer + 6, 'A', AUTH_BASIC_MAX + 4);
	longer[6 + AUTH_BASIC_MAX + 4] = '\0';
	char *user = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(basic(longer, &user, &err), AUTH_REJECTED);
	free(longer);
	error_clear(&err);
}

Test(auth, base64_decode_reports_the_real_length)
{
	unsigned char *raw;
	size_t n;
	cr_assert_eq(auth_base64_decode("U2Ft", &raw, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq((char *)raw, "Sam");
	free(raw);
	cr_assert_eq(auth_base64_decode("U2E=", &raw, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq((char *)raw, "Sa");
	free(raw);
	cr_assert_eq(auth_base64_decode("Uw==", &raw, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq((char *)raw, "S");
	free(raw);
	cr_assert_eq(auth_base64_decode("====", &raw, &n), -1);
	cr_assert_null(raw);
	cr_assert_eq(n, 0);
}

Test(auth, missing_or_unknown_scheme_is_rejected)
{
	char *user = NULL;
	enum auth_method m;
	struct error err = ERROR_INIT;
	cr_assert_eq(auth_check(NULL, users, NULL, NULL, &user, &m, &err), AUTH_REJECTED);
	cr_assert_eq(auth_check(NULL, users, NULL, "Digest x", &user, &m, &err), AUTH_REJECTED);
	cr_assert_eq(auth_check(NULL, users, NULL, "Bearer nottoken", &user, &m, &err), AUTH_REJECTED);
	cr_assert_null(user);
	error_clear(&err);
}

Test(auth, bearer_tokens_work_until_revoked)
{
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_open(&s, db, &err), 0, "%s", error_msg(&err));
	char *token = NULL, hash[AUTH_HASH_HEX];
	cr_assert_eq(auth_token_new(&token, &err), 0);
	auth_token_hash(token, hash);
	long long id;
	cr_assert_eq(store_token_add(s, "alice", "laptop", hash, &id, &err), 0, "%s", error_msg(&err));

	char header[128], *user = NULL;
	enum auth_method m;
	snprintf(header, sizeof(header), "Bearer %s", token);
	cr_assert_eq(auth_check(s, users, NULL, header, &user, &m, &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(user, "Alice"); /* as the users file spells it */
	cr_assert_eq(m, AUTH_TOKEN);
	free(user);
	user = NULL;

	/* One character off: rejected. */
	header[strlen(header) - 1] ^= 1;
	cr_assert_eq(auth_check(s, users, NULL, header, &user, &m, &err), AUTH_REJECTED);
	header[strlen(header) - 1] ^= 1;

	bool found = false;
	cr_assert_eq(store_token_revoke(s, id, &found, &err), 0);
	cr_assert(found);
	cr_assert_eq(auth_check(s, users, NULL, header, &user, &m, &err), AUTH_REJECTED);
	cr_assert_null(user);
	free(token);
	error_clear(&err);
	store_close(s);
}

Test(auth, equal_compares_whole_strings)
{
	cr_assert(auth_equal("abc", "abc"));
	cr_assert_not(auth_equal("abc", "abd"));
	cr_assert_not(auth_equal("abc", "abcd"));
	cr_assert_not(auth_equal("", "a"));
}

/* Failed logins are limited per user name and per client address: ten at
 * once, then one every AUTH_GUARD_REFILL_S seconds; nothing is checked
 * while throttled. */
Test(auth, failed_logins_are_throttled_per_name_and_address)
{
	struct auth_guard *g = auth_guard_new();
	struct error err = ERROR_INIT;
	char *user = NULL;
	enum auth_method m;
	/* "Sam:nope" from 10.0.0.1, ten times: wrong, then throttled. */
	struct auth_client c = { .guard = g, .peer = "10.0.0.1" };
	for (int i = 0; i < AUTH_GUARD_BURST; i++) {
		cr_assert_eq(auth_check(NULL, users, &c, "Basic U2FtOm5vcGU=", &user, &m, &err),
			     AUTH_REJECTED, "attempt %d", i);
		cr_assert_str_eq(c.tried, "Sam");
	}
	cr_assert_eq(auth_check(NULL, users, &c, "Basic U2FtOm5vcGU=", &user, &m, &err), AUTH_THROTTLED);
	cr_assert(c.retry_after >= 1 && c.retry_after <= AUTH_GUARD_REFILL_S, "%u", c.retry_after);
	/* The right password is refused too while the name is throttled, from
	 * another address as well ("sam:demo": names are case-insensitive). */
	struct auth_client other = { .guard = g, .peer = "10.0.0.2" };
	cr_assert_eq(auth_check(NULL, users, &other, "Basic c2FtOmRlbW8=", &user, &m, &err),
		     AUTH_THROTTLED);
	cr_assert_null(user);
	/* Another name from the address: checked ("Alice:demo"). */
	cr_assert_eq(auth_check(NULL, users, &other, "Basic QWxpY2U6ZGVtbw==", &user, &m, &err), 0,
		     "%s", error_msg(&err));
	cr_assert_str_eq(user, "Alice");
	free(user);
	user = NULL;
	/* Any names, malformed headers and wrong tokens count against the
	 * address, which may fail three times as often as a name. */
	struct auth_client third = { .guard = g, .peer = "10.0.0.3" };
	for (int i = 0; i < AUTH_GUARD_BURST; i++)
		cr_assert_eq(auth_check(NULL, users, &third, "Basic Tm9ib2R5OmRlbW8=", &user, &m, &err),
			     AUTH_REJECTED); /* "Nobody:demo" */
	for (int i = 0; i < AUTH_GUARD_BURST; i++)
		cr_assert_eq(auth_check(NULL, users, &third, "Basic QWxpY2U6bm9wZQ==", &user, &m, &err),
			     AUTH_REJECTED); /* "Alice:nope" */
	for (int i = 0; i < AUTH_GUARD_BURST; i++)
		cr_assert_eq(auth_check(NULL, users, &third, "Basic ====", &user, &m, &err), AUTH_REJECTED);
	cr_assert_eq(auth_check(NULL, users, &third, "Bearer nottoken", &user, &m, &err), AUTH_THROTTLED);
	error_clear(&err);
	auth_guard_free(g);
}

static double seconds_of(const char *header, int times)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < times; i++) {
		char *user = NULL;
		enum auth_method m;
		struct error err = ERROR_INIT;
		cr_assert_eq(auth_check(NULL, users, NULL, header, &user, &m, &err), AUTH_REJECTED);
		error_clear(&err);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* With yescrypt hashes (Debian 12's default), an unknown user once cost a
 * fixed SHA-512 crypt (4 ms) against 25-77 ms for a known one: the decoy
 * is now a hash of the file, so both cost the same. */
Test(auth, unknown_users_cost_what_known_users_cost)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	cr_assert_not_null(crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)));
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *hash = crypt_rn("secret", salt, cd, (int)sizeof(*cd));
	cr_assert(hash && hash[0] == '$');
	char path[200];
	snprintf(path, sizeof(path), "%s/yes.yaml", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "- name: Yan\n  passwordhash: '%s'\n", hash);
	fclose(f);
	free(cd);
	users_free(users);
	users = users_new(in);
	struct diags d = DIAGS_INIT;
	cr_assert_eq(users_load(users, path, &d), 0);
	diags_release(&d);
	/* "Yan:wrong" and "Nobody:wrong" */
	double known = seconds_of("Basic WWFuOndyb25n", 5);
	double unknown = seconds_of("Basic Tm9ib2R5Ondyb25n", 5);
	cr_log_info("yescrypt users file: known user %.1f ms, unknown user %.1f ms per attempt",
		    known * 200, unknown * 200);
	cr_assert(unknown > known / 2 && unknown < known * 2,
		  "known user: %.1f ms, unknown: %.1f ms per attempt", known * 200, unknown * 200);
}

static void age_token(long long id, const char *column, long long seconds_ago)
{
	sqlite3 *sq;
	cr_assert_eq(sqlite3_open(db, &sq), SQLITE_OK);
	char sql[200];
	snprintf(sql, sizeof(sql), "UPDATE tokens SET %s = unixepoch() - %lld WHERE id = %lld", column,
		 seconds_ago, id);
	cr_assert_eq(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(sq));
	sqlite3_close(sq);
}

/* A web session ends an hour after its last request or twelve after its
 * login, and stays ended; an API token has no such limit. */
Test(auth, web_sessions_expire_when_idle_or_old)
{
	struct store *s = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_open(&s, db, &err), 0, "%s", error_msg(&err));
	const char *names[] = { AUTH_SESSION_PREFIX "idle", AUTH_SESSION_PREFIX "old", "laptop" };
	const char *columns[] = { "last_used", "created", "created" };
	const long long ages[] = { AUTH_SESSION_IDLE_S + 60, AUTH_SESSION_MAX_S + 60,
				   AUTH_SESSION_MAX_S + 60 };
	for (int i = 0; i < 3; i++) {
		char *token = NULL, hash[AUTH_HASH_HEX], header[128], *user = NULL;
		long long id;
		enum auth_method m;
		cr_assert_eq(auth_token_new(&token, &err), 0);
		auth_token_hash(token, hash);
		cr_assert_eq(store_token_add(s, "alice", names[i], hash, &id, &err), 0);
		snprintf(header, sizeof(header), "Bearer %s", token);
		cr_assert_eq(auth_check(s, users, NULL, header, &user, &m, &err), 0, "%s", error_msg(&err));
		free(user);
		user = NULL;
		age_token(id, columns[i], ages[i]);
		if (i < 2) {
			for (int again = 0; again < 2; again++) {
				cr_assert_eq(auth_check(s, users, NULL, header, &user, &m, &err), AUTH_REJECTED,
					     "%s (try %d)", names[i], again);
				cr_assert_str_eq(error_msg(&err), again ? "token rejected"
									 : "session expired: log in again");
			}
		} else {
			cr_assert_eq(auth_check(s, users, NULL, header, &user, &m, &err), 0, "%s",
				     error_msg(&err));
			free(user);
		}
		free(token);
	}
	error_clear(&err);
	store_close(s);
}
