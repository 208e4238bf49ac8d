/* The CLI as a client of `cairn serve` (libcurl): one call per request,
 * with the token, and the answer's status, body and the headers cairn's
 * API adds. Commands are in remote.c (cmd_remote). */
#ifndef CAIRN_CLI_REMOTE_H
#define CAIRN_CLI_REMOTE_H

#include "base/strbuf.h"

#include <curl/curl.h>

struct cli;

struct remote_reply {
	long status;           /* HTTP status; 0 when the server could not be reached */
	struct strbuf body;
	long long job;         /* X-Cairn-Job, 0 when none */
	struct strbuf problems; /* X-Cairn-Problem lines, each ending in '\n' */
};

/* GET (mime NULL, post NULL), POST of a multipart body, or POST of text to
 * cli->server + path (path includes the query). Returns 0 with out filled
 * (any HTTP status), or -1 after printing why the server could not be
 * reached. Release out with remote_reply_release. */
int remote_call(struct cli *cli, const char *path, curl_mime *mime, struct remote_reply *out);
void remote_reply_release(struct remote_reply *r);

#endif
