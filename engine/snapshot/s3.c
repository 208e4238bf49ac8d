/* S3-compatible object storage over libcurl (s3.h). */
#include "s3.h"

#include "base/alloc.h"
#include "base/lazy/xml.h"
#include "base/sha256.h"
#include "base/strbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The SHA-256 of no bytes: the payload hash of GET and DELETE. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3 {
	char *endpoint, *bucket, *prefix, *sigv4, *userpwd, *where;
	size_t part_size;
	CURL *curl;
};

int s3_open(struct s3 **out, const struct s3_config *c, struct error *err)
{
	*out = NULL;
	if (!c->endpoint || (strncmp(c->endpoint, "http://", 7) && strncmp(c->endpoint, "https://", 8)))
		return error_set(err, "s3: endpoint must be http://host[:port] or https://…, not '%s'",
				 c->endpoint ? c->endpoint : "");
	if (!c->bucket || !*c->bucket || strchr(c->bucket, '/'))
		return error_set(err, "s3: bucket must be a bucket name");
	if (!c->access_key || !c->secret_key || !*c->access_key || !*c->secret_key)
		return error_set(err, "s3 %s/%s: credentials are missing", c->endpoint, c->bucket);
	struct s3 *s = xcalloc(1, sizeof(*s));
	size_t n = strlen(c->endpoint);
	s->endpoint = xstrndup(c->endpoint, c->endpoint[n - 1] == '/' ? n - 1 : n);
	s->bucket = xstrdup(c->bucket);
	struct strbuf sb = STRBUF_INIT;
	if (c->prefix && *c->prefix) {
		strbuf_adds(&sb, c->prefix);
		if (sb.buf[sb.len - 1] != '/')
			strbuf_addc(&sb, '/');
	}
	s->prefix = strbuf_detach(&sb);
	strbuf_addf(&sb, "aws:amz:%s:s3", c->region && *c->region ? c->region : "us-east-1");
	s->sigv4 = strbuf_detach(&sb);
	strbuf_addf(&sb, "%s:%s", c->access_key, c->secret_key);
	s->userpwd = strbuf_detach(&sb);
	strbuf_addf(&sb, "s3://%s/%s", s->bucket, s->prefix);
	s->where = strbuf_detach(&sb);
	s->part_size = c->part_size ? c->part_size : S3_PART_SIZE_DEFAULT;
	s->curl = curl_easy_init();
	if (!s->curl) {
		s3_close(s);
		return error_set(err, "s3: cannot start libcurl");
	}
	*out = s;
	return 0;
}

void s3_close(struct s3 *s)
{
	if (!s)
		return;
	curl_easy_cleanup(s->curl);
	if (s->userpwd)
		explicit_bzero(s->userpwd, strlen(s->userpwd));
	free(s->endpoint);
	free(s->bucket);
	free(s->prefix);
	free(s->sigv4);
	free(s->userpwd);
	free(s->where);
	free(s);
}

const char *s3_where(const struct s3 *s)
{
	return s->where;
}

/* ---- one request ---- */

struct call {
	const char *method;
	const char *key;    /* relative to the prefix; NULL: the bucket */
	const char *query;  /* "a=1&b=2", names in byte order (the signature's canonical form) */
	const void *body;
	size_t len;
	bool xml;           /* the body is XML, else bytes */
	FILE *sink;         /* the response body goes here when set */
	EVP_MD_CTX *sink_sha;
	struct strbuf resp; /* otherwise here */
	char etag[128];
	long status;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	size_t len = size * n;
	if (c->sink && c->status / 100 == 2) {
		if (c->sink_sha)
			EVP_DigestUpdate(c->sink_sha, data, len);
		return fwrite(data, 1, len, c->sink);
	}
	strbuf_add(&c->resp, data, len);
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	size_t len = size * n;
	if (len > 9 && strncasecmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', len);
		c->status = sp ? strtol(sp + 1, NULL, 10) : 0;
	} else if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
		size_t k = 5;
		while (k < len && (data[k] == ' ' || data[k] == '\t'))
			k++;
		size_t e = len;
		while (e > k && (data[e - 1] == '\r' || data[e - 1] == '\n'))
			e--;
		snprintf(c->etag, sizeof(c->etag), "%.*s", (int)(e - k), data + k);
	}
	return len;
}

/* The text of the first element named name in an XML document, or NULL. */
static char *xml_text(const char *doc, size_t len, const char *name)
{
	xmlDocPtr x = xmlReadMemory(doc, (int)len, "s3.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
								     XML_PARSE_NOWARNING);
	if (!x)
		return NULL;
	char *out = NULL;
	xmlNodePtr stack[64];
	int top = 0;
	stack[top++] = xmlDocGetRootElement(x);
	while (top && !out) {
		xmlNodePtr n = stack[--top];
		for (; n && !out; n = n->next) {
			if (n->type != XML_ELEMENT_NODE)
				continue;
			if (strcmp((const char *)n->name, name) == 0) {
				xmlChar *t = xmlNodeGetContent(n);
				out = xstrdup((const char *)t);
				xmlFree(t);
			} else if (n->children && top < 64) {
				stack[top++] = n->children;
			}
		}
	}
	xmlFreeDoc(x);
	return out;
}

static void add_key_path(struct strbuf *url, const char *key)
{
	char *esc;
	for (const char *seg = key; *seg;) {
		size_t n = strcspn(seg, "/");
		esc = curl_easy_escape(NULL, seg, (int)n);
		strbuf_adds(url, esc);
		curl_free(esc);
		seg += n;
		if (*seg == '/') {
			strbuf_addc(url, '/');
			seg++;
		}
	}
}

static int call(struct s3 *s, struct call *c, struct error *err)
{
	struct strbuf url = STRBUF_INIT, full = STRBUF_INIT;
	strbuf_addf(&url, "%s/%s/", s->endpoint, s->bucket);
	if (c->key) {
		strbuf_addf(&full, "%s%s", s->prefix, c->key);
		add_key_path(&url, full.buf);
	}
	if (c->query)
		strbuf_addf(&url, "?%s", c->query);
	char hash[SHA256_HEX_SIZE];
	if (c->len)
		sha256_hex(c->body, c->len, hash);
	else
		snprintf(hash, sizeof(hash), "%s", EMPTY_SHA256);
	char hash_header[128];
	snprintf(hash_header, sizeof(hash_header), "x-amz-content-sha256: %s", hash);
	struct curl_slist *headers = curl_slist_append(NULL, hash_header);
	headers = curl_slist_append(headers, "Expect:");
	/* not curl's default for a body (a form) */
	if (strcmp(c->method, "PUT") == 0 || strcmp(c->method, "POST") == 0)
		headers = curl_slist_append(headers, c->xml ? "Content-Type: application/xml"
							    : "Content-Type: application/octet-stream");
	CURL *h = s->curl;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url.buf);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "DELETE") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->len ? c->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->len);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	CURLcode cc = curl_easy_perform(h);
	curl_slist_free_all(headers);
	int rc = 0;
	const char *what = c->key ? full.buf : "";
	if (cc != CURLE_OK) {
		rc = error_set(err, "%s s3://%s/%s: %s", c->method, s->bucket, what,
			       curl_easy_strerror(cc));
	} else if (c->status / 100 != 2) {
		char *code = xml_text(c->resp.buf ? c->resp.buf : "", c->resp.len, "Code");
		char *msg = xml_text(c->resp.buf ? c->resp.buf : "", c->resp.len, "Message");
		rc = error_set(err, "%s s3://%s/%s: %ld%s%s%s%s", c->method, s->bucket, what,
			       c->status, code ? " " : "", code ? code : "", msg ? ": " : "",
			       msg ? msg : "");
		free(code);
		free(msg);
	}
	strbuf_release(&url);
	strbuf_release(&full);
	return rc;
}

static void call_release(struct call *c)
{
	strbuf_release(&c->resp);
}

/* ---- objects ---- */

static int put_multipart(struct s3 *s, const char *key, FILE *f, struct error *err)
{
	struct call c = { .method = "POST", .key = key, .query = "uploads=" };
	if (call(s, &c, err) < 0) {
		call_release(&c);
		return -1;
	}
	char *upload = xml_text(c.resp.buf, c.resp.len, "UploadId");
	call_release(&c);
	if (!upload)
		return error_set(err, "POST s3://%s/%s%s?uploads: no UploadId in the answer",
				 s->bucket, s->prefix, key);
	char *esc = curl_easy_escape(NULL, upload, 0);
	struct strbuf done = STRBUF_INIT, query = STRBUF_INIT;
	strbuf_adds(&done, "<CompleteMultipartUpload>");
	char *buf = xmalloc(s->part_size);
	int rc = 0;
	for (int part = 1; rc == 0; part++) {
		size_t n = fread(buf, 1, s->part_size, f);
		if (n == 0 && part > 1)
			break;
		strbuf_reset(&query);
		strbuf_addf(&query, "partNumber=%d&uploadId=%s", part, esc);
		struct call p = { .method = "PUT", .key = key, .query = query.buf, .body = buf, .len = n };
		rc = call(s, &p, err);
		if (rc == 0)
			strbuf_addf(&done, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", part,
				    p.etag);
		call_release(&p);
		if (n < s->part_size)
			break;
	}
	free(buf);
	if (rc == 0 && ferror(f))
		rc = error_set(err, "s3: reading the file for %s: %s", key, strerror(errno));
	strbuf_adds(&done, "</CompleteMultipartUpload>");
	strbuf_reset(&query);
	strbuf_addf(&query, "uploadId=%s", esc);
	if (rc == 0) {
		struct call p = { .method = "POST", .key = key, .query = query.buf, .body = done.buf,
				  .len = done.len, .xml = true };
		rc = call(s, &p, err);
		/* S3 may answer 200 with an error in the body */
		char *code = rc == 0 ? xml_text(p.resp.buf ? p.resp.buf : "", p.resp.len, "Code") : NULL;
		if (code)
			rc = error_set(err, "POST s3://%s/%s%s (complete): %s", s->bucket, s->prefix, key,
				       code);
		free(code);
		call_release(&p);
	}
	if (rc < 0) { /* no half-made object, no parts kept and paid for */
		struct error ignored = ERROR_INIT;
		struct call a = { .method = "DELETE", .key = key, .query = query.buf };
		call(s, &a, &ignored);
		call_release(&a);
		error_clear(&ignored);
	}
	curl_free(esc);
	free(upload);
	strbuf_release(&done);
	strbuf_release(&query);
	return rc;
}

int s3_put_file(struct s3 *s, const char *key, const char *path, struct error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return error_set(err, "s3: cannot open %s: %s", path, strerror(errno));
	int rc = s3_put(s, key, f, err);
	fclose(f);
	return rc;
}

int s3_put(struct s3 *s, const char *key, FILE *f, struct error *err)
{
	int rc;
	fseeko(f, 0, SEEK_END);
	off_t size = ftello(f);
	rewind(f);
	if (size < 0) {
		rc = error_set(err, "s3: cannot size the file for %s: %s", key, strerror(errno));
	} else if ((size_t)size > s->part_size) {
		rc = put_multipart(s, key, f, err);
	} else {
		char *buf = xmalloc((size_t)size + 1);
		if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
			rc = error_set(err, "s3: cannot read the file for %s: %s", key, strerror(errno));
		} else {
			struct call c = { .method = "PUT", .key = key, .body = buf, .len = (size_t)size };
			rc = call(s, &c, err);
			call_release(&c);
		}
		free(buf);
	}
	return rc;
}

int s3_get_file(struct s3 *s, const char *key, const char *path, const char *sha256,
		struct error *err)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return error_set(err, "s3: cannot write %s: %s", path, strerror(errno));
	int rc = s3_get(s, key, f, sha256, err);
	if (fclose(f) != 0 && rc == 0)
		rc = error_set(err, "s3: writing %s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(path);
	return rc;
}

int s3_get(struct s3 *s, const char *key, FILE *f, const char *sha256, struct error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, sha256_md(), NULL);
	struct call c = { .method = "GET", .key = key, .sink = f, .sink_sha = md };
	int rc = call(s, &c, err);
	if (rc == 0 && fflush(f) != 0)
		rc = error_set(err, "s3: writing the file of %s: %s", key, strerror(errno));
	if (rc == 0 && sha256) {
		unsigned char raw[32];
		unsigned int n = 0;
		EVP_DigestFinal_ex(md, raw, &n);
		char hex[SHA256_HEX_SIZE];
		hex_encode(raw, n, hex);
		if (strcmp(hex, sha256) != 0)
			rc = error_set(err, "s3://%s/%s%s: its SHA-256 is %s, not %s: the object changed "
					    "or came damaged",
				       s->bucket, s->prefix, key, hex, sha256);
	}
	EVP_MD_CTX_free(md);
	call_release(&c);
	return rc;
}

int s3_list(struct s3 *s, const char *prefix, s3_list_fn fn, void *ctx, struct error *err)
{
	struct strbuf full = STRBUF_INIT, query = STRBUF_INIT;
	strbuf_addf(&full, "%s%s", s->prefix, prefix ? prefix : "");
	char *esc_prefix = curl_easy_escape(NULL, full.buf, 0);
	char *token = NULL;
	int rc = 0;
	do {
		strbuf_reset(&query);
		if (token) {
			char *esc = curl_easy_escape(NULL, token, 0);
			strbuf_addf(&query, "continuation-token=%s&", esc);
			curl_free(esc);
		}
		strbuf_addf(&query, "list-type=2&prefix=%s", esc_prefix);
		struct call c = { .method = "GET", .query = query.buf };
		free(token);
		token = NULL;
		if ((rc = call(s, &c, err)) < 0) {
			call_release(&c);
			break;
		}
		xmlDocPtr x = xmlReadMemory(c.resp.buf ? c.resp.buf : "", (int)c.resp.len, "list.xml",
					    NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		xmlNodePtr root = x ? xmlDocGetRootElement(x) : NULL;
		if (!root) {
			rc = error_set(err, "GET %s: the listing is not XML", s->where);
		}
		bool truncated = false;
		for (xmlNodePtr n = root ? root->children : NULL; n && rc == 0; n = n->next) {
			if (n->type != XML_ELEMENT_NODE)
				continue;
			const char *name = (const char *)n->name;
			if (strcmp(name, "IsTruncated") == 0) {
				xmlChar *t = xmlNodeGetContent(n);
				truncated = strcmp((const char *)t, "true") == 0;
				xmlFree(t);
			} else if (strcmp(name, "NextContinuationToken") == 0) {
				xmlChar *t = xmlNodeGetContent(n);
				token = xstrdup((const char *)t);
				xmlFree(t);
			} else if (strcmp(name, "Contents") == 0) {
				char *key = NULL;
				long long size = 0;
				for (xmlNodePtr k = n->children; k; k = k->next) {
					if (k->type != XML_ELEMENT_NODE)
						continue;
					xmlChar *t = xmlNodeGetContent(k);
					if (strcmp((const char *)k->name, "Key") == 0)
						key = xstrdup((const char *)t);
					else if (strcmp((const char *)k->name, "Size") == 0)
						size = atoll((const char *)t);
					xmlFree(t);
				}
				size_t skip = strlen(s->prefix);
				if (key && strncmp(key, s->prefix, skip) == 0)
					rc = fn(ctx, key + skip, size);
				free(key);
			}
		}
		if (!truncated) {
			free(token);
			token = NULL;
		}
		xmlFreeDoc(x);
		call_release(&c);
	} while (rc == 0 && token);
	free(token);
	curl_free(esc_prefix);
	strbuf_release(&full);
	strbuf_release(&query);
	return rc;
}

int s3_delete(struct s3 *s, const char *key, struct error *err)
{
	struct call c = { .method = "DELETE", .key = key };
	int rc = call(s, &c, err);
	if (rc < 0 && c.status == 404) { /* gone already */
		error_clear(err);
		rc = 0;
	}
	call_release(&c);
	return rc;
}

char *s3_read_key(const char *path, struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	if (strbuf_read_file(&sb, path) < 0) {
		error_set(err, "%s: %s", path, strerror(errno));
		strbuf_release(&sb);
		return NULL;
	}
	size_t n = strcspn(sb.buf ? sb.buf : "", "\r\n");
	strbuf_truncate(&sb, n);
	if (!n) {
		error_set(err, "%s is empty", path);
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}
