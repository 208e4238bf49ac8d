/* The S3 client against a real S3-compatible server (s3rver, started by
 * with_s3.sh): single and multipart uploads, downloads checked by SHA-256,
 * listings, deletes, and errors that name the object but no credential. */
#include "engine/snapshot/s3.h"

#include "base/sha256.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/cairn-s3-test-XXXXXX";

static struct s3 *open_s3(const char *prefix, const char *access, size_t part_size)
{
	const char *endpoint = getenv("CAIRN_TEST_S3");
	cr_assert(endpoint, "CAIRN_TEST_S3 is not set: run through with_s3.sh");
	struct s3_config c = { .endpoint = endpoint, .bucket = "snapshots", .prefix = prefix,
			       .access_key = access, .secret_key = "S3RVER", .part_size = part_size };
	struct s3 *s;
	struct error err = ERROR_INIT;
	cr_assert_eq(s3_open(&s, &c, &err), 0, "%s", error_msg(&err));
	return s;
}

/* A file of n bytes of a repeating pattern; its SHA-256 in hex. */
static char *make_file(const char *name, size_t n, char hex[SHA256_HEX_SIZE])
{
	char *path;
	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	char *buf = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	FILE *f = fopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(fwrite(buf, 1, n, f), n);
	fclose(f);
	sha256_hex(buf, n, hex);
	free(buf);
	return path;
}

static int collect(void *ctx, const char *key, long long size)
{
	char *out = ctx;
	char line[256];
	snprintf(line, sizeof(line), "%s=%lld;", key, size);
	strcat(out, line);
	return 0;
}

static void setup(void)
{
	cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(s3, .init = setup, .fini = teardown);

Test(s3, put_get_list_delete)
{
	struct s3 *s = open_s3("cairn/test1", "S3RVER", 0);
	struct error err = ERROR_INIT;
	char hex[SHA256_HEX_SIZE];
	char *path = make_file("small", 1000, hex);
	cr_assert_eq(s3_put_file(s, "a.b.1/public.t.json.gz", path, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(s3_put_file(s, "a.b.1/manifest.json", path, &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(s3_where(s), "s3://snapshots/cairn/test1/");
	char listed[1024] = "";
	cr_assert_eq(s3_list(s, "a.b.1/", collect, listed, &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(listed, "a.b.1/manifest.json=1000;a.b.1/public.t.json.gz=1000;");
	char *back;
	cr_assert(asprintf(&back, "%s/back", dir) > 0);
	cr_assert_eq(s3_get_file(s, "a.b.1/public.t.json.gz", back, hex, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(access(back, F_OK), 0);
	/* a digest that differs: refused, and the file is not left */
	const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
	cr_assert_eq(s3_get_file(s, "a.b.1/public.t.json.gz", back, wrong, &err), -1);
	cr_assert(strstr(error_msg(&err), "its SHA-256 is ") && strstr(error_msg(&err), "not 0000"),
		  "%s", error_msg(&err));
	error_clear(&err);
	cr_assert_neq(access(back, F_OK), 0, "a damaged download is removed");
	cr_assert_eq(s3_get_file(s, "a.b.1/missing", back, NULL, &err), -1);
	cr_assert(strstr(error_msg(&err), "GET s3://snapshots/cairn/test1/a.b.1/missing: 404 NoSuchKey"),
		  "%s", error_msg(&err));
	error_clear(&err);
	cr_assert_eq(s3_delete(s, "a.b.1/public.t.json.gz", &err), 0, "%s", error_msg(&err));
	cr_assert_eq(s3_delete(s, "a.b.1/public.t.json.gz", &err), 0, "a second delete is fine");
	listed[0] = '\0';
	cr_assert_eq(s3_list(s, "a.b.1/", collect, listed, &err), 0);
	cr_assert_str_eq(listed, "a.b.1/manifest.json=1000;");
	free(back);
	free(path);
	s3_close(s);
}

Test(s3, large_files_go_in_parts)
{
	/* 12 MiB in parts of 5 MiB (S3's smallest): three parts */
	struct s3 *s = open_s3("cairn/test2", "S3RVER", 5u << 20);
	struct error err = ERROR_INIT;
	char hex[SHA256_HEX_SIZE];
	char *path = make_file("large", 12u << 20, hex);
	cr_assert_eq(s3_put_file(s, "big/public.orders.json.gz", path, &err), 0, "%s", error_msg(&err));
	char listed[1024] = "";
	cr_assert_eq(s3_list(s, "big/", collect, listed, &err), 0);
	cr_assert_str_eq(listed, "big/public.orders.json.gz=12582912;");
	/* three parts went to the server (its log of requests) */
	char *log;
	cr_assert(asprintf(&log, "%s/s3rver.log", getenv("CAIRN_TEST_S3_DIR")) > 0);
	FILE *f = fopen(log, "r");
	cr_assert(f, "no %s", log);
	char line[2048];
	int parts = 0;
	while (fgets(line, sizeof(line), f))
		parts += strstr(line, "Stored part ") != NULL;
	fclose(f);
	cr_assert_eq(parts, 3, "%d parts", parts);
	free(log);
	char *back;
	cr_assert(asprintf(&back, "%s/back-large", dir) > 0);
	cr_assert_eq(s3_get_file(s, "big/public.orders.json.gz", back, hex, &err), 0, "%s",
		     error_msg(&err));
	free(back);
	free(path);
	s3_close(s);
}

Test(s3, refusals_name_the_object_never_the_secret)
{
	struct s3 *s = open_s3("cairn/test3", "NOBODY", 0);
	struct error err = ERROR_INIT;
	char hex[SHA256_HEX_SIZE];
	char *path = make_file("f", 10, hex);
	cr_assert_eq(s3_put_file(s, "x/y", path, &err), -1);
	cr_assert(strstr(error_msg(&err), "PUT s3://snapshots/cairn/test3/x/y: 403 InvalidAccessKeyId"),
		  "%s", error_msg(&err));
	cr_assert_null(strstr(error_msg(&err), "S3RVER"), "no secret in %s", error_msg(&err));
	error_clear(&err);
	s3_close(s);
	struct s3_config c = { .endpoint = "http://127.0.0.1:1", .bucket = "snapshots",
			       .access_key = "S3RVER", .secret_key = "S3RVER" };
	cr_assert_eq(s3_open(&s, &c, &err), 0);
	cr_assert_eq(s3_put_file(s, "x", path, &err), -1);
	cr_assert(strstr(error_msg(&err), "PUT s3://snapshots/x: Couldn't connect to server"), "%s",
		  error_msg(&err));
	error_clear(&err);
	s3_close(s);
	c.endpoint = "ftp://x";
	cr_assert_eq(s3_open(&s, &c, &err), -1);
	cr_assert(strstr(error_msg(&err), "endpoint must be http://"), "%s", error_msg(&err));
	error_clear(&err);
	free(path);
}
