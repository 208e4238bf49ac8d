/* Running a program and reading what it printed: no shell (argv is passed
 * as is, so no quoting problems and no injection), stdout and stderr
 * together, for short commands such as `nginx -t`. */
#ifndef CAIRN_RUN_H
#define CAIRN_RUN_H

#include "error.h"
#include "strbuf.h"

/* Runs argv[0] (looked up in PATH when it has no '/') with argv, waits, and
 * appends its output to out (may be NULL). *status is its exit status, or
 * 128 + the signal that killed it. -1 with err only when it could not run. */
int run_capture(const char *const argv[], struct strbuf *out, int *status, struct error *err);

#endif
