/* libFuzzer target for the GitHub webhook's untrusted input: arbitrary bytes
 * as a body (signed with the test secret, so the signature check must pass
 * and the pull_request reader must cope), as an X-Hub-Signature-256 header
 * (must never pass for another body), and as a branch in a host name (must
 * come out DNS-safe). */
#include "engine/previews/previews_internal.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
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

static const char secret[] = "fuzz-secret";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	unsigned char md[32];
	unsigned int n = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), data, size, md, &n);
	char sig[80] = "sha256=";
	for (unsigned i = 0; i < n; i++)
		snprintf(sig + 7 + 2 * i, 3, "%02x", md[i]);
	check(webhook_signature_ok(secret, strlen(secret), sig, body, size));

	struct webhook_pr pr;
	struct error err = ERROR_INIT;
	if (webhook_parse_pr(body, size, &pr, &err) == 0) {
		check(pr.action && pr.repo && pr.number > 0);
		webhook_pr_release(&pr);
	} else {
		check(err.msg != NULL);
		error_clear(&err);
	}

	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	/* The input as a header: only a signature of the (empty) body may pass. */
	if (webhook_signature_ok(secret, strlen(secret), text, "", 0)) {
		HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)"", 0, md, &n);
		char want[80] = "sha256=";
		for (unsigned i = 0; i < n; i++)
			snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
		check(strcasecmp(text, want) == 0);
	}

	struct preview_repo r = { .name = "acme/shop", .host = "{branch}.{repo}-pr-{pr}.{domain}" };
	struct strbuf host = STRBUF_INIT;
	preview_host(&r, "example.test", 1, text, &host);
	size_t label = 0;
	for (size_t i = 0; i < host.len; i++) {
		char c = host.buf[i];
		check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
		label = c == '.' ? 0 : label + 1;
		check(label <= 63);
	}
	strbuf_release(&host);
	free(text);
	return 0;
}
