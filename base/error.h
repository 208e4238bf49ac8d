/* Error messages that travel up with context. A function that fails fills a
 * struct error and returns -1; each caller may prefix what it knows
 * ("file:line:col: service main/kafka: component kafka: ..."), and the top
 * prints it once. A list of diagnostics collects every error of a load. */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kinds of failure a caller acts on, rather than on the message: the
 * server answers each with its HTTP status, the executor retries
 * ERROR_TRANSIENT, the CLI waits on ERROR_BUSY. */
enum error_kind {
	ERROR_FAILED,    /* any failure not of a kind below */
	ERROR_INPUT,     /* the request or a file given is not valid: it fails the same again */
	ERROR_FORBIDDEN, /* the ACL (or the user's role) does not allow it */
	ERROR_NOT_FOUND, /* what was named does not exist */
	ERROR_TRANSIENT, /* trying again later may succeed: no answer, refused, reset */
	ERROR_BUSY,      /* another holds what is needed (the apply lock): wait, or try later */
	ERROR_IO,        /* a file or a database could not be read or written */
};

struct error {
	char *msg; /* NULL when no error; heap, owned by the struct */
	enum error_kind kind;
};

#define ERROR_INIT { 0 }

/* Sets the message (replacing any), of kind ERROR_FAILED, and returns -1. */
int error_set(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with its kind. */
int error_set_kind(struct error *err, enum error_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Says what kind the failure in err is, keeping its message; returns -1. */
int error_mark(struct error *err, enum error_kind kind);
/* Whether err holds a failure of that kind. */
bool error_is(const struct error *err, enum error_kind kind);
/* Whether the request itself is at fault (ERROR_INPUT or ERROR_FORBIDDEN):
 * it must change before it can succeed. */
bool error_is_refusal(const struct error *err);
/* Prefixes "<context>: " to the message (its kind stays) and returns -1. */
int error_wrap(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forgets the message and its kind. */
void error_clear(struct error *err);
/* The message, or "unknown error" when none was set. */
const char *error_msg(const struct error *err);

/* Where a value came from, for messages: 1-based line and column. */
struct pos {
	const char *file;
	uint32_t line, col;
};

/* A list of error messages, each already carrying its file, line and object. */
struct diags {
	char **items;
	size_t len, cap;
};

#define DIAGS_INIT { 0 }

void diags_add(struct diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds "file:line:col: " + message. */
void diags_add_at(struct diags *d, struct pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diags_release(struct diags *d);

#endif
