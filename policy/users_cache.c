/* The parsed users of a users file, kept in a cache file named after the
 * file's content (SHA-256), so that a large users file that did not change
 * is read back in one pass instead of parsed as YAML on every command. Only a
 * file that loaded without errors is cached; errors always come from the
 * YAML, with their positions. The cache is a plain binary file:
 *
 *   "cairn-users v1\n", SHA-256 of the payload (32 bytes), payload length
 *   (8 bytes), payload: count, then per user its name, flags (admin, has a
 *   hash), hash, line, column and labels, each string a length and its bytes.
 *
 * Numbers are little-endian. A cache that does not read back exactly (cut,
 * changed, another version) is ignored and rewritten. */
#include "policy.h"

#include "base/arena.h"
#include "base/sha256.h"
#include "base/strbuf.h"


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "cairn-users v1\n"
#define CACHE_MAGIC_LEN (sizeof(CACHE_MAGIC) - 1)
#define HEADER_LEN (CACHE_MAGIC_LEN + SHA256_SIZE + 8)

enum { USER_ADMIN = 1, USER_HASH = 2 };

static void put_u32(struct strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };
	strbuf_add(sb, b, 4);
}

static void put_str(struct strbuf *sb, const char *s, size_t len)
{
	put_u32(sb, (uint32_t)len);
	strbuf_add(sb, s, len);
}

static void encode(const struct users *u, struct strbuf *out)
{
	put_u32(out, (uint32_t)u->len);
	for (size_t i = 0; i < u->len; i++) {
		const struct user *user = u->items[i];
		put_str(out, user->name->s, user->name->len);
		strbuf_addc(out, (char)((user->admin ? USER_ADMIN : 0) |
					(user->password_hash ? USER_HASH : 0)));
		if (user->password_hash)
			put_str(out, user->password_hash, strlen(user->password_hash));
		put_u32(out, user->pos.line);
		put_u32(out, user->pos.col);
		put_u32(out, user->labels.len);
		for (uint32_t k = 0; k < user->labels.len; k++) {
			put_str(out, user->labels.items[k].key->s, user->labels.items[k].key->len);
			put_str(out, user->labels.items[k].value->s, user->labels.items[k].value->len);
		}
	}
}

/* A bounds-checked reader over the payload: every read fails once one did. */
struct reader {
	const unsigned char *p, *end;
	bool bad;
};

static uint32_t get_u32(struct reader *r)
{
	if (r->bad || r->end - r->p < 4) {
		r->bad = true;
		return 0;
	}
	uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
		     (uint32_t)r->p[3] << 24;
	r->p += 4;
	return v;
}

static const char *get_str(struct reader *r, uint32_t *len)
{
	*len = get_u32(r);
	if (r->bad || (size_t)(r->end - r->p) < *len) {
		r->bad = true;
		return NULL;
	}
	const char *s = (const char *)r->p;
	r->p += *len;
	return s;
}

static const struct istr *get_istr(struct reader *r, struct intern *in)
{
	uint32_t len;
	const char *s = get_str(r, &len);
	return s ? intern(in, s, len) : NULL;
}

/* Fills u from a payload; false (u possibly half-filled) when it does not
 * read back exactly. */
static bool decode(struct users *u, const char *path, const unsigned char *payload, size_t len)
{
	struct reader r = { payload, payload + len, false };
	uint32_t n = get_u32(&r);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		struct user *user = arena_alloc(u->arena, sizeof(*user));
		memset(user, 0, sizeof(*user));
		user->name = get_istr(&r, u->intern);
		unsigned flags = r.p < r.end ? *r.p++ : (r.bad = true, 0u);
		user->admin = flags & USER_ADMIN;
		if (flags & USER_HASH) {
			const struct istr *hash = get_istr(&r, u->intern);
			user->password_hash = hash ? hash->s : NULL;
		}
		user->pos.file = path;
		user->pos.line = get_u32(&r);
		user->pos.col = get_u32(&r);
		uint32_t nlabels = get_u32(&r);
		for (uint32_t k = 0; k < nlabels && !r.bad; k++) {
			const struct istr *key = get_istr(&r, u->intern);
			const struct istr *value = get_istr(&r, u->intern);
			if (key && value)
				labels_set(&user->labels, key, value);
		}
		if (r.bad || !user->name) {
			labels_release(&user->labels);
			return false;
		}
		if (users_add(u, user) < 0) {
			labels_release(&user->labels);
			return false; /* a duplicate: not what was cached */
		}
	}
	return !r.bad && r.p == r.end;
}

static void cache_path(struct strbuf *out, const char *dir, const unsigned char *md)
{
	char hex[SHA256_HEX_SIZE];
	hex_encode(md, SHA256_SIZE, hex);
	strbuf_addf(out, "%s/users-%s.cache", dir, hex);
}

/* The cache file, only when this user owns it and nobody else may write it:
 * in a shared directory another user could plant one that makes himself an
 * admin. */
static bool read_own_file(const char *file, struct strbuf *sb)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	struct stat st;
	bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		  !(st.st_mode & (S_IWGRP | S_IWOTH));
	if (ok) {
		strbuf_grow(sb, (size_t)st.st_size);
		ssize_t n;
		while ((n = read(fd, sb->buf + sb->len, sb->cap - sb->len - 1)) > 0) {
			sb->len += (size_t)n;
			sb->buf[sb->len] = '\0';
			if (sb->cap - sb->len - 1 == 0)
				strbuf_grow(sb, 4096);
		}
		ok = n == 0;
	}
	close(fd);
	return ok;
}

static bool load_cache(struct users *u, const char *path, const char *file)
{
	struct strbuf sb = STRBUF_INIT;
	bool ok = false;
	if (!read_own_file(file, &sb) || sb.len < HEADER_LEN ||
	    memcmp(sb.buf, CACHE_MAGIC, CACHE_MAGIC_LEN) != 0)
		goto out;
	const unsigned char *h = (const unsigned char *)sb.buf + CACHE_MAGIC_LEN;
	uint64_t len = 0;
	for (int i = 7; i >= 0; i--)
		len = len << 8 | h[SHA256_SIZE + i];
	if (len != sb.len - HEADER_LEN)
		goto out;
	const unsigned char *payload = (const unsigned char *)sb.buf + HEADER_LEN;
	unsigned char md[SHA256_SIZE];
	sha256(payload, (size_t)len, md);
	if (memcmp(md, h, SHA256_SIZE) != 0)
		goto out;
	ok = decode(u, path, payload, (size_t)len);
out:
	strbuf_release(&sb);
	return ok;
}

/* mkdir -p, private: the cache holds password hashes. */
static int make_dirs(const char *dir)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, dir);
	int rc = 0;
	for (char *c = sb.buf + 1; rc == 0; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char was = *c;
		*c = '\0';
		if (mkdir(sb.buf, 0700) < 0 && errno != EEXIST)
			rc = -1;
		*c = was;
		if (!was)
			break;
	}
	strbuf_release(&sb);
	return rc;
}

/* Written to a temporary file and renamed: a reader sees all of it or none. */
static void store_cache(const struct users *u, const char *dir, const char *file)
{
	struct strbuf payload = STRBUF_INIT, tmp = STRBUF_INIT;
	encode(u, &payload);
	unsigned char head[HEADER_LEN];
	memcpy(head, CACHE_MAGIC, CACHE_MAGIC_LEN);
	sha256(payload.buf, payload.len, head + CACHE_MAGIC_LEN);
	uint64_t len = payload.len;
	for (int i = 0; i < 8; i++)
		head[CACHE_MAGIC_LEN + SHA256_SIZE + i] = (unsigned char)(len >> (8 * i));
	if (make_dirs(dir) < 0)
		goto out;
	strbuf_addf(&tmp, "%s.%ld.tmp", file, (long)getpid());
	int fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	bool written = write(fd, head, sizeof(head)) == (ssize_t)sizeof(head) &&
		       write(fd, payload.buf, payload.len) == (ssize_t)payload.len;
	if (close(fd) < 0 || !written || rename(tmp.buf, file) < 0)
		unlink(tmp.buf);
out:
	strbuf_release(&payload);
	strbuf_release(&tmp);
}

int users_load_cached(struct users *u, const char *path, const char *cache_dir, bool *hit,
		      struct diags *diags)
{
	*hit = false;
	struct strbuf text = STRBUF_INIT, file = STRBUF_INIT;
	if (!cache_dir || strbuf_read_file(&text, path) < 0) {
		strbuf_release(&text);
		return users_load(u, path, diags); /* says why it cannot be read */
	}
	unsigned char md[SHA256_SIZE];
	sha256(text.buf, text.len, md);
	cache_path(&file, cache_dir, md);
	int rc;
	if (load_cache(u, path, file.buf)) {
		*hit = true;
		rc = 0;
	} else {
		users_clear(u);
		rc = users_load_text(u, path, text.buf, text.len, diags);
		if (rc == 0)
			store_cache(u, cache_dir, file.buf);
	}
	strbuf_release(&text);
	strbuf_release(&file);
	return rc;
}
