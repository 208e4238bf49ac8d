/* One JSON line per event (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const char *const level_names[] = { "info", "warning", "error" };

void log_begin(struct strbuf *line, enum log_level level, const char *source)
{
	char when[40];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	strbuf_addf(line, "{\"time\":\"%s\",\"level\":\"%s\",\"source\":", when,
		    level_names[(unsigned)level < 3 ? level : LOG_ERROR]);
	strbuf_add_json_string(line, source);
}

void log_write(struct strbuf *line)
{
	strbuf_adds(line, "}\n");
	/* stderr is unbuffered: one fwrite of the whole line is one write. */
	fwrite(line->buf, 1, line->len, stderr);
}

void log_event(enum log_level level, const char *source, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT, line = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	log_begin(&line, level, source);
	strbuf_adds(&line, ",\"message\":");
	strbuf_add_json_string(&line, strbuf_cstr(&msg));
	log_write(&line);
	strbuf_release(&msg);
	strbuf_release(&line);
}
