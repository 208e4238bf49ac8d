/* GitHub deliveries before they reach the store: the X-Hub-Signature-256
 * check over the raw body (constant time) and the reading of a pull_request
 * body into what previews need. Nothing here trusts the body's shape. */
#include "previews_internal.h"

#include "base/alloc.h"
#include "base/sha256.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

bool webhook_signature_ok(const char *secret, size_t secret_len, const char *sig,
			  const char *body, size_t len)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[32];
	unsigned int want_len = 0;
	if (!secret || !secret_len || !sig || strncmp(sig, "sha256=", 7) != 0)
		return false;
	const char *hex = sig + 7;
	if (strlen(hex) != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (!HMAC(sha256_md(), secret, (int)secret_len, (const unsigned char *)(body ? body : ""),
		  len, want, &want_len) ||
	    want_len != 32)
		return false;
	return CRYPTO_memcmp(want, got, 32) == 0;
}

/* A string member as a heap copy, NULL when absent or not a string. */
static char *str_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? xstrndup(json_string_value(v), json_string_length(v)) : NULL;
}

/* "YYYY-MM-DDTHH:MM:SSZ" */
static bool iso_utc(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
	for (size_t i = 0; i < sizeof(form) - 1; i++)
		if (form[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != form[i])
			return false;
	return s[sizeof(form) - 1] == '\0';
}

int webhook_parse_pr(const char *body, size_t len, struct webhook_pr *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t je;
	json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return error_set(err, "malformed JSON at line %d, column %d: %s", je.line, je.column,
				 je.text);
	int rc = -1;
	json_t *pr = json_object_get(root, "pull_request");
	json_t *repo = json_object_get(root, "repository");
	json_t *number = json_object_get(root, "number");
	if (!json_is_object(root) || !json_is_object(pr) || !json_is_object(repo)) {
		error_set(err, "not a pull_request delivery: 'pull_request' or 'repository' is missing");
		goto out;
	}
	if (!json_is_integer(number))
		number = json_object_get(pr, "number");
	if (!json_is_integer(number) || json_integer_value(number) <= 0) {
		error_set(err, "pull_request delivery without a positive 'number'");
		goto out;
	}
	out->number = (long long)json_integer_value(number);
	out->action = str_at(root, "action");
	out->repo = str_at(repo, "full_name");
	if (!out->action || !out->repo) {
		error_set(err, "pull_request delivery without 'action' or 'repository.full_name'");
		goto out;
	}
	json_t *head = json_object_get(pr, "head");
	if (json_is_object(head)) {
		out->sha = str_at(head, "sha");
		out->branch = str_at(head, "ref");
		json_t *hrepo = json_object_get(head, "repo");
		if (json_is_object(hrepo))
			out->head_repo = str_at(hrepo, "full_name");
	}
	json_t *user = json_object_get(pr, "user");
	if (json_is_object(user))
		out->author = str_at(user, "login");
	out->association = str_at(pr, "author_association");
	/* A fork's head repository differs from the base; a deleted fork has none. */
	out->fork = !out->head_repo || strcasecmp(out->head_repo, out->repo) != 0;
	json_t *labels = json_object_get(pr, "labels");
	if (json_is_array(labels)) {
		out->labels = xcalloc(json_array_size(labels) + 1, sizeof(*out->labels));
		size_t i;
		json_t *l;
		json_array_foreach(labels, i, l)
		{
			char *name = json_is_object(l) ? str_at(l, "name") : NULL;
			if (name)
				out->labels[out->nlabels++] = name;
		}
	}
	/* GitHub's UTC form only, so that text order is time order. */
	out->updated_at = str_at(pr, "updated_at");
	if (out->updated_at && !iso_utc(out->updated_at)) {
		free(out->updated_at);
		out->updated_at = NULL;
	}
	json_t *label = json_object_get(root, "label");
	if (json_is_object(label))
		out->label = str_at(label, "name");
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		webhook_pr_release(out);
	return rc;
}

void webhook_pr_release(struct webhook_pr *pr)
{
	free(pr->action);
	free(pr->repo);
	free(pr->sha);
	free(pr->branch);
	free(pr->author);
	free(pr->association);
	free(pr->head_repo);
	free(pr->label);
	free(pr->updated_at);
	for (size_t i = 0; i < pr->nlabels; i++)
		free(pr->labels[i]);
	free(pr->labels);
	memset(pr, 0, sizeof(*pr));
}
