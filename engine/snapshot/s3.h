/* A small client of S3-compatible object storage, for snapshot files: put a
 * file (one PUT, or a multipart upload when it is larger than a part), get
 * one into a file checking its SHA-256, list keys under a prefix, delete.
 * Requests are signed with AWS Signature Version 4 by libcurl
 * (CURLOPT_AWS_SIGV4), the payload's SHA-256 included; path-style URLs
 * (endpoint/bucket/key), as S3-compatible servers expect. Credentials are
 * never put in a message. */
#ifndef CAIRN_SNAPSHOT_S3_H
#define CAIRN_SNAPSHOT_S3_H

#include "base/error.h"

#include <stddef.h>
#include <stdio.h>

/* Parts of a multipart upload: S3 wants at least 5 MiB but the last. */
#define S3_PART_SIZE_DEFAULT (8u << 20)

struct s3_config {
	const char *endpoint;   /* http(s)://host[:port] */
	const char *bucket;
	const char *prefix;     /* keys go under it ("" or NULL: the bucket's root) */
	const char *region;     /* NULL: us-east-1 */
	const char *access_key, *secret_key;
	size_t part_size;       /* 0: S3_PART_SIZE_DEFAULT */
};

struct s3;

/* The first line of a credentials file (heap; explicit_bzero it when done),
 * or NULL with err naming the file only: a key is never put in a message. */
char *s3_read_key(const char *path, struct error *err);

int s3_open(struct s3 **out, const struct s3_config *c, struct error *err);
void s3_close(struct s3 *s);
/* "s3://bucket/prefix/", for messages. */
const char *s3_where(const struct s3 *s);

/* Keys are relative to the prefix. */
int s3_put_file(struct s3 *s, const char *key, const char *path, struct error *err);
int s3_put(struct s3 *s, const char *key, FILE *f, struct error *err);
/* Writes the object into path; with sha256 (64 hex digits), refuses (and
 * removes path) when the content differs. */
int s3_get_file(struct s3 *s, const char *key, const char *path, const char *sha256,
		struct error *err);
/* The same into an open file (the caller removes it on failure). */
int s3_get(struct s3 *s, const char *key, FILE *f, const char *sha256, struct error *err);
/* Each key under prefix (relative to the configured prefix), with its size;
 * a non-zero return of fn stops the listing and is returned. */
typedef int (*s3_list_fn)(void *ctx, const char *key, long long size);
int s3_list(struct s3 *s, const char *prefix, s3_list_fn fn, void *ctx, struct error *err);
/* Deleting a key that is not there succeeds (as S3 does). */
int s3_delete(struct s3 *s, const char *key, struct error *err);

#endif
