/* Tokens and passwords for the server (see auth.h). Tokens are compared by
 * their hash in the store, passwords by crypt(3) in constant time; an
 * unknown user still costs one crypt so timing does not tell who exists. */
#include "auth.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/map.h"
#include "base/sha256.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

static void hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

int auth_token_new(char **out, struct error *err)
{
	unsigned char raw[32];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, "cannot make a token: getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
	char *t = xmalloc(sizeof(AUTH_TOKEN_PREFIX) + 2 * sizeof(raw));
	memcpy(t, AUTH_TOKEN_PREFIX, sizeof(AUTH_TOKEN_PREFIX) - 1);
	hex(raw, sizeof(raw), t + sizeof(AUTH_TOKEN_PREFIX) - 1);
	explicit_bzero(raw, sizeof(raw));
	*out = t;
	return 0;
}

void auth_token_hash(const char *token, char out[AUTH_HASH_HEX])
{
	sha256_hex(token, strlen(token), out);
}

bool auth_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	size_t n = la < lb ? la : lb;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* The scheme word of the header matches case-insensitively (RFC 7235). */
static const char *scheme(const char *header, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(header, name, n) != 0 || header[n] != ' ')
		return NULL;
	const char *p = header + n;
	while (*p == ' ')
		p++;
	return p;
}

/* ---- the guard ---- */

struct bucket {
	double tokens;     /* failures allowed now */
	long long at_ms;   /* when tokens was computed */
	char key[];        /* "u:" + lower-cased name, or "a:" + address */
};

struct auth_guard {
	pthread_mutex_t mu;
	struct map buckets; /* key -> struct bucket */
	size_t n;
};

#define GUARD_MAX_KEYS 10000 /* beyond: buckets that are full again are dropped */

struct auth_guard *auth_guard_new(void)
{
	struct auth_guard *g = xcalloc(1, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	return g;
}

static void drop_buckets(struct auth_guard *g, bool all, long long now);

void auth_guard_free(struct auth_guard *g)
{
	if (!g)
		return;
	drop_buckets(g, true, 0);
	map_release(&g->buckets);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* An address may fail AUTH_GUARD_ADDRESS_FACTOR times as often as a name. */
static double burst_of(const struct bucket *b)
{
	return b->key[0] == 'a' ? AUTH_GUARD_BURST * AUTH_GUARD_ADDRESS_FACTOR : AUTH_GUARD_BURST;
}

static double refilled(const struct bucket *b, long long now)
{
	double per_ms = b->key[0] == 'a' ? AUTH_GUARD_ADDRESS_FACTOR / (AUTH_GUARD_REFILL_S * 1000.0)
					 : 1 / (AUTH_GUARD_REFILL_S * 1000.0);
	double t = b->tokens + (double)(now - b->at_ms) * per_ms;
	return t > burst_of(b) ? burst_of(b) : t;
}

/* Keeps the buckets that still hold failures (all: drops every one). */
static void drop_buckets(struct auth_guard *g, bool all, long long now)
{
	struct map kept = MAP_INIT;
	size_t n = 0;
	const struct map_slot *slot;
	for (size_t i = 0; map_next(&g->buckets, &i, &slot);) {
		struct bucket *b = slot->value;
		if (!all && refilled(b, now) < burst_of(b)) {
			map_put(&kept, b->key, strlen(b->key), b);
			n++;
		} else {
			free(b);
		}
	}
	map_release(&g->buckets);
	g->buckets = kept;
	g->n = n;
}

/* The bucket of a name or address; with create, made full when missing,
 * else NULL then (nothing failed there of late). */
static struct bucket *bucket_of(struct auth_guard *g, char kind, const char *name, bool create,
				long long now)
{
	char key[160];
	int len = snprintf(key, sizeof(key), "%c:%s", kind, name);
	if (len < 0 || (size_t)len >= sizeof(key))
		len = (int)sizeof(key) - 1; /* long names share a bucket with their prefix */
	for (int i = 2; i < len; i++)
		key[i] = (char)tolower((unsigned char)key[i]);
	struct bucket *b = map_get(&g->buckets, key, (size_t)len);
	if (b || !create)
		return b;
	if (g->n >= GUARD_MAX_KEYS)
		drop_buckets(g, false, now);
	b = xmalloc(sizeof(*b) + (size_t)len + 1);
	memcpy(b->key, key, (size_t)len);
	b->key[len] = '\0';
	b->tokens = burst_of(b);
	b->at_ms = now;
	map_put(&g->buckets, b->key, (size_t)len, b);
	g->n++;
	return b;
}

/* Seconds until the bucket allows one more failure (0: now). */
static unsigned bucket_wait(const struct bucket *b, long long now)
{
	if (!b)
		return 0;
	double t = refilled(b, now);
	if (t >= 1)
		return 0;
	double refill_s = b->key[0] == 'a' ? (double)AUTH_GUARD_REFILL_S / AUTH_GUARD_ADDRESS_FACTOR
					   : AUTH_GUARD_REFILL_S;
	return (unsigned)((1 - t) * refill_s) + 1;
}

/* Seconds the client must wait before trying name (may be NULL) again; 0: now. */
static unsigned guard_wait(const struct auth_client *client, const char *name)
{
	if (!client || !client->guard)
		return 0;
	struct auth_guard *g = client->guard;
	const char *peer = client->peer;
	long long now = clock_ms();
	unsigned wait = 0;
	pthread_mutex_lock(&g->mu);
	if (name && *name) {
		unsigned w = bucket_wait(bucket_of(g, 'u', name, false, now), now);
		wait = w > wait ? w : wait;
	}
	if (peer && *peer) {
		unsigned w = bucket_wait(bucket_of(g, 'a', peer, false, now), now);
		wait = w > wait ? w : wait;
	}
	pthread_mutex_unlock(&g->mu);
	return wait;
}

/* A failed attempt of the client, with the user name it tried (may be NULL). */
static void guard_failed(const struct auth_client *client, const char *name)
{
	if (!client || !client->guard)
		return;
	struct auth_guard *g = client->guard;
	long long now = clock_ms();
	pthread_mutex_lock(&g->mu);
	for (int k = 0; k < 2; k++) {
		const char *v = k ? client->peer : name;
		if (!v || !*v)
			continue;
		struct bucket *b = bucket_of(g, k ? 'a' : 'u', v, true, now);
		b->tokens = refilled(b, now) - 1;
		b->at_ms = now;
	}
	pthread_mutex_unlock(&g->mu);
}

/* ---- credentials ---- */

/* A hash no password matches, for a users file without any hash: an
 * unknown user then costs what a known one does (who has none either). */
static const struct user decoy = {
	.password_hash = "$6$cairn.decoy.salt$"
			 "0000000000000000000000000000000000000000000000000000000000000000"
			 "0000000000000000000000",
};

int auth_base64_decode(const char *b64, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	size_t len = strlen(b64);
	if (len == 0 || len % 4 != 0 || len > AUTH_BASIC_MAX)
		return -1;
	/* Only the alphabet, and '=' only as the last one or two characters:
	 * EVP_DecodeBlock alone accepts "====" and counts it as three bytes. */
	size_t pad = 0;
	while (pad < 2 && b64[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!isalnum((unsigned char)b64[i]) && b64[i] != '+' && b64[i] != '/')
			return -1;
	unsigned char *raw = xmalloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n != len / 4 * 3) {
		free(raw);
		return -1;
	}
	/* EVP_DecodeBlock counts the bytes the padding stands for. */
	*outlen = (size_t)n - pad;
	raw[*outlen] = '\0';
	*out = raw;
	return 0;
}

static int check_basic(const struct users *users, struct auth_client *client, const char *b64,
		       char **user, struct error *err)
{
	unsigned char *raw;
	size_t n;
	if (auth_base64_decode(b64, &raw, &n) < 0) {
		guard_failed(client, NULL);
		return error_set(err, "malformed basic credentials"), AUTH_REJECTED;
	}
	int rc = AUTH_REJECTED;
	if (memchr(raw, '\0', n)) {
		error_set(err, "malformed basic credentials");
		goto out;
	}
	char *colon = strchr((char *)raw, ':');
	if (!colon) {
		error_set(err, "malformed basic credentials: no ':' between user and password");
		goto out;
	}
	*colon = '\0';
	const char *name = (const char *)raw;
	if (client) {
		snprintf(client->tried, sizeof(client->tried), "%s", name);
		unsigned wait = guard_wait(client, name);
		if (wait) {
			client->retry_after = wait;
			error_set(err, "too many failed logins: try again in %u s", wait);
			rc = AUTH_THROTTLED;
			goto out;
		}
	}
	/* An unknown user is checked against a real hash of the file (same
	 * method, same cost) and refused whatever the result. */
	const struct user *u = users_find(users, name);
	const struct user *d = users_decoy(users);
	if (user_check_password(u ? u : d ? d : &decoy, colon + 1) < 0 || !u) {
		error_set(err, "wrong user name or password");
		guard_failed(client, name);
		goto out;
	}
	*user = xstrdup(u->name->s);
	rc = 0;
out:
	explicit_bzero(raw, n);
	free(raw);
	return rc;
}

int auth_check(struct store *s, const struct users *users, struct auth_client *client,
	       const char *header, char **user, enum auth_method *method, struct error *err)
{
	*user = NULL;
	if (client) {
		client->tried[0] = '\0';
		client->retry_after = 0;
	}
	if (!header || !*header)
		return error_set(err, "authentication required: send a bearer token or basic credentials"),
		       AUTH_REJECTED;
	const char *v;
	if ((v = scheme(header, "Basic"))) {
		*method = AUTH_PASSWORD;
		return check_basic(users, client, v, user, err);
	}
	if (!(v = scheme(header, "Bearer")))
		return error_set(err, "unsupported authorization scheme: use Bearer or Basic"),
		       AUTH_REJECTED;
	*method = AUTH_TOKEN;
	/* Tokens cannot be guessed, but a client that keeps sending wrong ones
	 * is stopped as one guessing passwords is. */
	unsigned wait = guard_wait(client, NULL);
	if (wait) {
		client->retry_after = wait;
		return error_set(err, "too many failed logins: try again in %u s", wait), AUTH_THROTTLED;
	}
	if (strncmp(v, AUTH_TOKEN_PREFIX, sizeof(AUTH_TOKEN_PREFIX) - 1) != 0) {
		guard_failed(client, NULL);
		return error_set(err, "token rejected"), AUTH_REJECTED;
	}
	char hash[AUTH_HASH_HEX];
	auth_token_hash(v, hash);
	struct store_token t;
	bool found;
	if (store_token_use(s, hash, &t, &found, err) < 0)
		return AUTH_FAILED;
	if (!found) {
		guard_failed(client, NULL);
		return error_set(err, "token rejected"), AUTH_REJECTED;
	}
	/* A web session ends after AUTH_SESSION_IDLE_S without a request, or
	 * AUTH_SESSION_MAX_S after its login, whatever its use: revoked then,
	 * since this very use stamped it as used now. */
	long long now = (long long)time(NULL);
	if (strncmp(t.name, AUTH_SESSION_PREFIX, sizeof(AUTH_SESSION_PREFIX) - 1) == 0 &&
	    (now - t.created > AUTH_SESSION_MAX_S ||
	     (t.last_used && now - t.last_used > AUTH_SESSION_IDLE_S))) {
		bool gone;
		int rc = store_token_revoke(s, t.id, &gone, err) < 0 ? AUTH_FAILED : AUTH_REJECTED;
		if (rc == AUTH_REJECTED)
			error_set(err, "session expired: log in again");
		store_token_release(&t);
		return rc;
	}
	const struct user *u = users_find(users, t.user);
	if (!u) {
		error_set(err, "token rejected: its user '%s' is not in the users file", t.user);
		store_token_release(&t);
		return AUTH_REJECTED;
	}
	store_token_release(&t);
	*user = xstrdup(u->name->s);
	return 0;
}
