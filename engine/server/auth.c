/* Tokens and passwords for the server (see auth.h). Tokens are compared by
 * their hash in the store, passwords by crypt(3) in constant time; an
 * unknown user still costs one crypt so timing does not tell who exists. */
#include "auth.h"

#include "base/alloc.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

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
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, strlen(token), md);
	hex(md, sizeof(md), out);
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

/* A hash no password matches, so an unknown user costs what a known one does. */
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

static int check_basic(const struct users *users, const char *b64, char **user,
		       struct error *err)
{
	unsigned char *raw;
	size_t n;
	if (auth_base64_decode(b64, &raw, &n) < 0)
		return error_set(err, "malformed basic credentials"), AUTH_REJECTED;
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
	const struct user *u = users_find(users, (const char *)raw);
	if (user_check_password(u ? u : &decoy, colon + 1) < 0 || !u) {
		error_set(err, "wrong user name or password");
		goto out;
	}
	*user = xstrdup(u->name->s);
	rc = 0;
out:
	explicit_bzero(raw, n);
	free(raw);
	return rc;
}

int auth_check(struct store *s, const struct users *users, const char *header, char **user,
	       enum auth_method *method, struct error *err)
{
	*user = NULL;
	if (!header || !*header)
		return error_set(err, "authentication required: send a bearer token or basic credentials"),
		       AUTH_REJECTED;
	const char *v;
	if ((v = scheme(header, "Basic"))) {
		*method = AUTH_PASSWORD;
		return check_basic(users, v, user, err);
	}
	if (!(v = scheme(header, "Bearer")))
		return error_set(err, "unsupported authorization scheme: use Bearer or Basic"),
		       AUTH_REJECTED;
	*method = AUTH_TOKEN;
	if (strncmp(v, AUTH_TOKEN_PREFIX, sizeof(AUTH_TOKEN_PREFIX) - 1) != 0)
		return error_set(err, "token rejected"), AUTH_REJECTED;
	char hash[AUTH_HASH_HEX];
	auth_token_hash(v, hash);
	char *name = NULL;
	if (store_token_lookup(s, hash, &name, err) < 0)
		return AUTH_FAILED;
	if (!name)
		return error_set(err, "token rejected"), AUTH_REJECTED;
	const struct user *u = users_find(users, name);
	if (!u) {
		error_set(err, "token rejected: its user '%s' is not in the users file", name);
		free(name);
		return AUTH_REJECTED;
	}
	free(name);
	*user = xstrdup(u->name->s);
	return 0;
}
