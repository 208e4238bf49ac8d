/* The server's log: one JSON object per line on stderr, each written with
 * one write(2), so lines of concurrent threads never interleave:
 *   {"time":"2026-12-06T18:00:00.123Z","level":"info","source":"jobs","message":"..."}
 * The HTTP request lines (engine/server/http.c) carry the same time, level
 * and source first. */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include "base/strbuf.h"

enum log_level { LOG_INFO, LOG_WARNING, LOG_ERROR };

void log_event(enum log_level level, const char *source, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The start of a line, `{"time":…,"level":…,"source":…`, for a line with
 * fields of its own: add them (",\"key\":value"), then log_write it. */
void log_begin(struct strbuf *line, enum log_level level, const char *source);
/* Ends the line ("}\n") and writes it at once. */
void log_write(struct strbuf *line);

#endif
