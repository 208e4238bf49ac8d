/* A minimal GitHub REST client on libcurl: one JSON request, its status and
 * body. The token goes in a header, never in a URL or a log line. What the
 * calls mean (deployments, statuses, pulls) is previews.c's business. */
#include "previews_internal.h"

#include "base/alloc.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
	struct strbuf *sb = ctx;
	/* Bounded: a GitHub answer we read is small; more is an error. */
	if (sb->len + size * n > 4 * 1024 * 1024)
		return 0;
	strbuf_add(sb, data, size * n);
	return size * n;
}

int github_call(const struct previews_config *c, const char *method, const char *path,
		const char *json, struct github_reply *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	CURL *h = curl_easy_init();
	if (!h)
		return error_set(err, "github %s %s: cannot start an HTTP request", method, path);
	struct strbuf url = STRBUF_INIT, body = STRBUF_INIT, auth = STRBUF_INIT;
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = -1;

	strbuf_addf(&url, "%s%s", c->api_url, path);
	headers = curl_slist_append(headers, "Accept: application/vnd.github+json");
	headers = curl_slist_append(headers, "X-GitHub-Api-Version: 2022-11-28");
	if (json)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (c->token) {
		strbuf_addf(&auth, "Authorization: Bearer %s", c->token);
		headers = curl_slist_append(headers, auth.buf);
	}
	curl_easy_setopt(h, CURLOPT_URL, url.buf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->github_timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->github_timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	if (json) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		error_set(err, "github %s %s: no answer from %s: %s", method, path, c->api_url,
			  errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = strbuf_detach(&body);
	rc = 0;
out:
	/* The Authorization header held the token: wipe it. */
	if (auth.buf)
		memset(auth.buf, 0, auth.len);
	strbuf_release(&auth);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	strbuf_release(&url);
	strbuf_release(&body);
	return rc;
}

void github_reply_release(struct github_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}
