/* Growable byte string for building text (git's strbuf). The buffer is always
 * NUL-terminated once anything was added; strbuf_release() frees it. */
#ifndef CAIRN_STRBUF_H
#define CAIRN_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len, cap;
};

#define STRBUF_INIT { 0 }

void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addc(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
void strbuf_add_json_string(struct strbuf *sb, const char *s);
/* Empties the buffer, keeping its memory. */
void strbuf_reset(struct strbuf *sb);
void strbuf_truncate(struct strbuf *sb, size_t len);
/* The text, "" when nothing was added; owned by sb. */
const char *strbuf_cstr(struct strbuf *sb);
/* Hands the heap string to the caller (free() it) and empties sb. */
/* Appends the whole file at path; -1 with errno set when it cannot be opened
 * or read (what was read stays appended). */
int strbuf_read_file(struct strbuf *sb, const char *path);
char *strbuf_detach(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);

#endif
