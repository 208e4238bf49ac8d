/* SHA-256 as 64 lower-case hex digits: content hashes, token hashes,
 * delivery claims. */
#ifndef CAIRN_SHA256_H
#define CAIRN_SHA256_H

#include <stddef.h>

#include <openssl/types.h>

#define SHA256_SIZE 32     /* bytes of a digest */
#define SHA256_HEX_SIZE 65 /* 64 hex digits and a NUL */

void sha256(const void *data, size_t len, unsigned char out[SHA256_SIZE]);
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE]);
/* n bytes as 2n lower-case hex digits and a NUL: a digest, or the first
 * bytes of one for a short name. */
void hex_encode(const unsigned char *bytes, size_t n, char *out);
/* The value of a hex digit, either case; -1 for any other character. */
int hex_digit(char c);

/* SHA-256 for EVP_Digest*: fetched once, never freed. */
const EVP_MD *sha256_md(void);

#endif
