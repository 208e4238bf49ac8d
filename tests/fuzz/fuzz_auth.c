/* libFuzzer target for the request head anyone can send before logging in:
 * arbitrary bytes as the Authorization header (Basic, Bearer, or neither)
 * must be refused or accepted without a crash, the base64 reader must
 * report a length that fits what it was given, and the same bytes cut into
 * method, Origin, Host, Sec-Fetch-Site and Content-Type must be judged
 * 0, 403 or 415, never letting a foreign Origin change anything. */
#include "engine/server/auth.h"
#include "engine/server/http.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static struct store *store;
static struct users *users;

static void open_once(void)
{
	if (store)
		return;
	static char dir[] = "/tmp/cairn-fuzz-auth-XXXXXX";
	char db[64];
	check(mkdtemp(dir) != NULL);
	snprintf(db, sizeof(db), "%s/state.db", dir);
	struct error err = ERROR_INIT;
	check(store_open(&store, db, &err) == 0);
	users = users_new(intern_new());
	struct diags d = DIAGS_INIT;
	check(users_load(users, CAIRN_SOURCE_DIR "/examples/twitter-analytics/users.yaml", &d) == 0);
	diags_release(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	open_once();
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	unsigned char *raw;
	size_t n;
	if (auth_base64_decode(text, &raw, &n) == 0) {
		check(n <= strlen(text) / 4 * 3 && raw[n] == '\0');
		free(raw);
	} else {
		check(raw == NULL && n == 0);
	}

	char *user = NULL;
	enum auth_method m;
	struct error err = ERROR_INIT;
	int rc = auth_check(store, users, NULL, text, &user, &m, &err);
	check(rc == 0 ? user != NULL : (user == NULL && err.msg != NULL));
	free(user);
	error_clear(&err);

	/* The head's fields: the input's lines, absent when missing. */
	const char *field[5] = { 0 };
	char *line = text;
	for (int i = 0; i < 5 && line; i++) {
		field[i] = line;
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		line = nl ? nl + 1 : NULL;
	}
	const char *method = field[0] ? field[0] : "POST";
	const char *why = NULL;
	int verdict = http_check_request_site(method, field[1], field[2], field[3], field[4], &why);
	check(verdict == 0 || verdict == 403 || verdict == 415);
	check((verdict == 0) == (why == NULL));
	if (strcmp(method, "GET") == 0)
		check(verdict == 0);
	/* Accepted with an Origin: its host is the Host header. */
	if (verdict == 0 && field[1] && strcmp(method, "GET") && strcmp(method, "HEAD") &&
	    strcmp(method, "OPTIONS")) {
		const char *h = strstr(field[1], "://");
		check(h && field[2] && strncasecmp(h + 3, field[2], strlen(field[2])) == 0);
	}
	free(text);
	return 0;
}
