/* Error messages with context, and lists of them. */
#include "error.h"
#include "alloc.h"
#include "strbuf.h"
#include "vec.h"

#include <stdarg.h>
#include <stdlib.h>

static int error_vset(struct error *err, enum error_kind kind, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_vaddf(&sb, fmt, ap);
	free(err->msg);
	err->msg = strbuf_detach(&sb);
	err->kind = kind;
	return -1;
}

int error_set(struct error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, ERROR_FAILED, fmt, ap);
	va_end(ap);
	return -1;
}

int error_set_kind(struct error *err, enum error_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, kind, fmt, ap);
	va_end(ap);
	return -1;
}

int error_mark(struct error *err, enum error_kind kind)
{
	err->kind = kind;
	return -1;
}

bool error_is(const struct error *err, enum error_kind kind)
{
	return err->msg && err->kind == kind;
}

bool error_is_refusal(const struct error *err)
{
	return error_is(err, ERROR_INPUT) || error_is(err, ERROR_FORBIDDEN);
}

int error_wrap(struct error *err, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_adds(&sb, ": ");
	strbuf_adds(&sb, error_msg(err));
	free(err->msg);
	err->msg = strbuf_detach(&sb);
	return -1;
}

void error_clear(struct error *err)
{
	free(err->msg);
	err->msg = NULL;
	err->kind = ERROR_FAILED;
}

const char *error_msg(const struct error *err)
{
	return err->msg ? err->msg : "unknown error";
}

static void diags_vadd(struct diags *d, const struct pos *pos, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	if (pos && pos->file)
		strbuf_addf(&sb, "%s:%u:%u: ", pos->file, pos->line, pos->col);
	strbuf_vaddf(&sb, fmt, ap);
	vec_push(d, strbuf_detach(&sb));
}

void diags_add(struct diags *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diags_vadd(d, NULL, fmt, ap);
	va_end(ap);
}

void diags_add_at(struct diags *d, struct pos pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diags_vadd(d, &pos, fmt, ap);
	va_end(ap);
}

void diags_release(struct diags *d)
{
	for (size_t i = 0; i < d->len; i++)
		free(d->items[i]);
	vec_release(d);
}
