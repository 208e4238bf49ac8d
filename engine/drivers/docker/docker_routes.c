/* nginx server blocks for exposed containers (docker_routes.h). */
#include "docker_routes.h"

#include "base/alloc.h"
#include "base/run.h"
#include "base/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct route {
	const char *host, *key;
	long long port;
};

static int by_host(const void *a, const void *b)
{
	return strcmp(((const struct route *)a)->host, ((const struct route *)b)->host);
}

static const char *label(const json_t *c, const char *name)
{
	return json_string_value(json_object_get(json_object_get(c, "Labels"), name));
}

char *docker_routes_render(const json_t *containers, const char *upstream, int port)
{
	size_t n = json_array_size(containers), nr = 0;
	struct route *routes = xcalloc(n ? n : 1, sizeof(*routes));
	size_t i;
	const json_t *c;
	json_array_foreach(containers, i, c)
	{
		const char *host = label(c, "cairn.host"), *want = label(c, "cairn.route.port");
		const char *state = json_string_value(json_object_get(c, "State"));
		if (!host || !want || !state || strcmp(state, "running") != 0)
			continue;
		size_t j;
		const json_t *p;
		json_array_foreach(json_object_get(c, "Ports"), j, p)
		{
			if (json_integer_value(json_object_get(p, "PrivatePort")) == atoll(want) &&
			    json_integer_value(json_object_get(p, "PublicPort")) > 0) {
				routes[nr++] = (struct route){ host, label(c, "cairn.instance"),
							       json_integer_value(json_object_get(p, "PublicPort")) };
				break;
			}
		}
	}
	qsort(routes, nr, sizeof(*routes), by_host);
	/* "localhost" may resolve to ::1 first; the engine publishes on both. */
	if (strcmp(upstream, "localhost") == 0)
		upstream = "127.0.0.1";
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "# written by cairn: do not edit (the next apply rewrites it)\n");
	for (i = 0; i < nr; i++) {
		if (i && strcmp(routes[i].host, routes[i - 1].host) == 0)
			continue; /* one instance per host name: the first wins */
		strbuf_addf(&sb,
			    "\n# %s\nserver {\n    listen %d;\n    server_name %s;\n    location / {\n"
			    "        proxy_pass http://%s:%lld;\n        proxy_http_version 1.1;\n"
			    "        proxy_set_header Host $host;\n"
			    "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
			    "        proxy_set_header X-Forwarded-Proto $scheme;\n    }\n}\n",
			    routes[i].key ? routes[i].key : "", port, routes[i].host, upstream,
			    routes[i].port);
	}
	free(routes);
	return strbuf_detach(&sb);
}

/* The file's text, NULL when it cannot be read (e.g. not there yet). */
static char *read_file(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	if (strbuf_read_file(&sb, path) < 0) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}

bool docker_routes_current(const struct docker_routes *r, const char *text)
{
	char *have = read_file(r->file);
	bool same = have && strcmp(have, text) == 0;
	free(have);
	return same;
}

/* Replaces path with text atomically (a reader sees the old or the new file). */
static int write_atomically(const char *path, const char *text, struct error *err)
{
	struct strbuf tmp = STRBUF_INIT;
	strbuf_addf(&tmp, "%s.cairn-tmp", path);
	FILE *f = fopen(tmp.buf, "wb");
	int rc = -1;
	if (!f) {
		error_set(err, "cannot write %s: %s", tmp.buf, strerror(errno));
		goto out;
	}
	bool ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp.buf, path) < 0) {
		error_set(err, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp.buf);
		goto out;
	}
	rc = 0;
out:
	strbuf_release(&tmp);
	return rc;
}

/* Runs nginx with args after -c conf; err quotes its last line on failure. */
static int nginx(const struct docker_routes *r, const char *what, const char *a1, const char *a2,
		 struct error *err)
{
	const char *argv[] = { r->binary, "-c", r->conf, a1, a2, NULL };
	struct strbuf out = STRBUF_INIT;
	int status, rc = run_capture(argv, &out, &status, err);
	if (rc == 0 && status != 0) {
		while (out.len && strchr(" \t\r\n", out.buf[out.len - 1]))
			strbuf_truncate(&out, out.len - 1);
		const char *text = strbuf_cstr(&out), *last = strrchr(text, '\n');
		error_set(err, "%s (%s -c %s %s%s%s) failed: %s", what, r->binary, r->conf, a1,
			  a2 ? " " : "", a2 ? a2 : "", last ? last + 1 : *text ? text : "no output");
		rc = -1;
	}
	strbuf_release(&out);
	return rc;
}

int docker_routes_install(const struct docker_routes *r, const char *text, struct error *err)
{
	char *old = read_file(r->file);
	int rc = -1;
	if (write_atomically(r->file, text, err) < 0)
		goto out;
	if (nginx(r, "checking the routes", "-t", NULL, err) < 0) {
		struct error ignored = ERROR_INIT;
		if (old)
			write_atomically(r->file, old, &ignored);
		else
			unlink(r->file);
		error_clear(&ignored);
		goto out;
	}
	if (nginx(r, "reloading nginx", "-s", "reload", err) < 0)
		goto out;
	rc = 0;
out:
	free(old);
	return rc;
}

void docker_routes_release(struct docker_routes *r)
{
	free(r->file);
	free(r->conf);
	free(r->binary);
	memset(r, 0, sizeof(*r));
}
