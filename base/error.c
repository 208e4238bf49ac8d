/* Error messages with context, and lists of them. */
#include "error.h"
#include "alloc.h"
#include "strbuf.h"
#include "vec.h"

#include <stdarg.h>
#include <stdlib.h>

int error_set(struct error *err, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	free(err->msg);
	err->msg = strbuf_detach(&sb);
	return -1;
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
