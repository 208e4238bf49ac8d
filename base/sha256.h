/* SHA-256 as 64 lower-case hex digits: content hashes, token hashes,
 * delivery claims. */
#ifndef CAIRN_SHA256_H
#define CAIRN_SHA256_H

#include <stddef.h>

#include <openssl/types.h>

#define SHA256_HEX_SIZE 65 /* 64 hex digits and a NUL */

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE]);

/* SHA-256 for EVP_Digest*: fetched once, never freed. */
const EVP_MD *sha256_md(void);

#endif
