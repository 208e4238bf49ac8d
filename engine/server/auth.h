/* Who is calling the server: API tokens (random, shown once, stored only as
 * their SHA-256) and passwords checked against the users file's crypt(3)
 * hashes. Parses the Authorization header; decides nothing about what the
 * caller may do (that is the ACL's, in revise_policy). */
#ifndef CAIRN_SERVER_AUTH_H
#define CAIRN_SERVER_AUTH_H

#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>

struct store;
struct users;

#define AUTH_TOKEN_PREFIX "cairn_"
/* Tokens named so are the web page's sessions: they end after an hour
 * without a request, or twelve hours after the login. */
#define AUTH_SESSION_PREFIX "web session "
#define AUTH_SESSION_IDLE_S (60 * 60)
#define AUTH_SESSION_MAX_S (12 * 60 * 60)
#define AUTH_HASH_HEX 65 /* 64 hex digits and a NUL */

/* A new token: "cairn_" and 64 hex digits from the kernel's random source,
 * as a heap string (free() it). -1 with err when no randomness is available. */
int auth_token_new(char **out, struct error *err);
/* The hex SHA-256 of token: what the store keeps. */
void auth_token_hash(const char *token, char out[AUTH_HASH_HEX]);

enum auth_method { AUTH_TOKEN, AUTH_PASSWORD };

enum { AUTH_REJECTED = -1, AUTH_FAILED = -2, AUTH_THROTTLED = -3 };

/* Failed attempts, counted per user name and per client address, so that
 * guessing passwords is slow: a name may fail AUTH_GUARD_BURST times at
 * once, then once every AUTH_GUARD_REFILL_S seconds; an address (many
 * people behind one NAT) three times that. Thread-safe. */
#define AUTH_GUARD_BURST 10
#define AUTH_GUARD_REFILL_S 6
#define AUTH_GUARD_ADDRESS_FACTOR 3
struct auth_guard;
struct auth_guard *auth_guard_new(void);
void auth_guard_free(struct auth_guard *g);

/* Who is asking, for the guard and the log. */
struct auth_client {
	struct auth_guard *guard; /* NULL: no limit */
	const char *peer;         /* client address, may be NULL */
	unsigned retry_after;     /* out: seconds, with AUTH_THROTTLED */
	char tried[128];          /* out: the user name a Basic header tried, "" when none */
};

/* Checks an Authorization header ("Bearer TOKEN" or "Basic base64(user:pw)").
 * Returns 0 with *user (the name as the users file spells it, heap) and
 * *method; AUTH_REJECTED with err saying why for a missing, malformed or
 * wrong credential, or one whose user is not in the users file;
 * AUTH_THROTTLED (client->retry_after set, nothing checked) when the name
 * or the address failed too often of late; AUTH_FAILED with err when the
 * store failed. client may be NULL. */
int auth_check(struct store *s, const struct users *users, struct auth_client *client,
	       const char *header, char **user, enum auth_method *method, struct error *err);

/* The longest base64 text of Basic credentials accepted. */
#define AUTH_BASIC_MAX 4096

/* Decodes strict base64 (RFC 4648 alphabet, length a multiple of 4, '='
 * only as the last one or two characters, at most AUTH_BASIC_MAX long) into
 * a heap buffer *out (NUL-terminated, free() it) of *outlen bytes: the real
 * length, padding not counted. -1 for anything else, with nothing allocated. */
int auth_base64_decode(const char *b64, unsigned char **out, size_t *outlen);

/* a == b without an early exit (for secrets). */
bool auth_equal(const char *a, const char *b);

#endif
