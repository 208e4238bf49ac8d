/* libFuzzer target for the Authorization header, which anyone can send
 * before logging in: arbitrary bytes as the header (Basic, Bearer, or
 * neither) must be refused or accepted without a crash, and the base64
 * reader must report a length that fits what it was given. */
#include "engine/server/auth.h"
#include "engine/store/store.h"
#include "policy/policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	free(text);
	return 0;
}
