/* Tars to and from containers through a socket pair: the Engine API client
 * pushes (or pulls) bytes on one thread while libarchive pulls (or pushes)
 * them on the other, so nothing is held in memory or written to a
 * temporary file whatever the size. */
#include "transfer.h"

#include "base/alloc.h"
#include "base/strbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HELPER_LOG_LINES 20

static int send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Without copyUIDGID, the engine keeps the owners the tar says. */
static char *archive_path(const char *container, const char *path)
{
	char *esc = curl_easy_escape(NULL, path, 0);
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "/containers/%s/archive?path=%s", container, esc);
	curl_free(esc);
	return strbuf_detach(&sb);
}

/* ---- reading ---- */

struct download {
	struct docker *d;
	char *path;
	int fd;
	int rc;
	struct error err;
};

static int on_piece(void *ctx, const char *data, size_t len)
{
	return send_all(*(int *)ctx, data, len) < 0 ? 1 : 0;
}

static void *download_main(void *p)
{
	struct download *dl = p;
	long status;
	dl->rc = docker_stream(dl->d, dl->path, 0, on_piece, &dl->fd, &status, &dl->err);
	shutdown(dl->fd, SHUT_WR);
	return NULL;
}

int tar_from_container(struct docker *d, const char *container, const char *path,
		       tar_entry_fn fn, void *ctx, struct error *err)
{
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return error_set(err, "socketpair: %s", strerror(errno));
	struct download dl = { .d = d, .path = archive_path(container, path), .fd = fds[1],
			       .err = ERROR_INIT };
	pthread_t t;
	if (pthread_create(&t, NULL, download_main, &dl) != 0) {
		close(fds[0]);
		close(fds[1]);
		free(dl.path);
		return error_set(err, "cannot start a thread");
	}
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	int rc = 0;
	if (archive_read_open_fd(a, fds[0], 64 * 1024) != ARCHIVE_OK) {
		rc = error_set(err, "reading the tar of %s: %s", path, archive_error_string(a));
	} else {
		struct archive_entry *e;
		int r;
		while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK)
			if ((rc = fn(ctx, a, e, err)) != 0)
				break;
		if (rc == 0 && r != ARCHIVE_EOF)
			rc = error_set(err, "reading the tar of %s: %s", path,
				       archive_error_string(a));
	}
	archive_read_free(a);
	close(fds[0]); /* a download still sending stops on a broken socket */
	pthread_join(t, NULL);
	close(fds[1]);
	if (dl.rc < 0) {
		/* the engine's own reason ("No such container:path") explains
		 * a truncated tar better than libarchive */
		error_clear(err);
		rc = error_set(err, "%s", error_msg(&dl.err));
	}
	error_clear(&dl.err);
	free(dl.path);
	return rc;
}

/* ---- writing ---- */

struct upload {
	tar_write_fn fn;
	void *ctx;
	int fd;
	int rc;
	struct error err;
};

static la_ssize_t write_piece(struct archive *a, void *p, const void *buf, size_t len)
{
	(void)a;
	return send_all(*(int *)p, buf, len) < 0 ? -1 : (la_ssize_t)len;
}

static void *upload_main(void *p)
{
	struct upload *up = p;
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, &up->fd, NULL, write_piece, NULL) != ARCHIVE_OK) {
		up->rc = error_set(&up->err, "making a tar: %s", archive_error_string(a));
	} else {
		up->rc = up->fn(up->ctx, a, &up->err);
		if (archive_write_close(a) != ARCHIVE_OK && up->rc == 0)
			up->rc = error_set(&up->err, "making a tar: %s", archive_error_string(a));
	}
	archive_write_free(a);
	shutdown(up->fd, SHUT_WR);
	return NULL;
}

static ssize_t read_piece(void *ctx, char *buf, size_t size)
{
	for (;;) {
		ssize_t n = read(*(int *)ctx, buf, size);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

int tar_into_container(struct docker *d, const char *container, const char *path,
		       tar_write_fn fn, void *ctx, struct error *err)
{
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return error_set(err, "socketpair: %s", strerror(errno));
	struct upload up = { .fn = fn, .ctx = ctx, .fd = fds[1], .err = ERROR_INIT };
	pthread_t t;
	if (pthread_create(&t, NULL, upload_main, &up) != 0) {
		close(fds[0]);
		close(fds[1]);
		return error_set(err, "cannot start a thread");
	}
	char *url = archive_path(container, path);
	long status;
	int rc = docker_upload(d, "PUT", url, "application/x-tar", read_piece, &fds[0], &status, err);
	free(url);
	close(fds[0]); /* a writer still sending stops on a broken socket */
	pthread_join(t, NULL);
	close(fds[1]);
	if (up.rc != 0) {
		error_clear(err);
		rc = error_set(err, "%s", error_msg(&up.err));
	}
	error_clear(&up.err);
	return rc;
}

/* ---- helper containers ---- */

static void host_name(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0)
		snprintf(buf, size, "unknown");
	buf[size - 1] = '\0';
}

/* Helpers a killed process of this machine left behind. */
static void remove_orphans(struct docker *d)
{
	char host[256];
	host_name(host, sizeof(host));
	char *path = docker_filtered_path("/containers/json?all=1",
					  json_pack("{s:[s]}", "label", "cairn.helper"));
	json_t *list = NULL;
	long status;
	struct error ignored = ERROR_INIT;
	if (docker_request(d, "GET", path, NULL, &list, &status, &ignored) == 0) {
		size_t i;
		json_t *c;
		json_array_foreach(list, i, c)
		{
			json_t *labels = json_object_get(c, "Labels");
			const char *h = json_string_value(json_object_get(labels, "cairn.helper.host"));
			const char *pid = json_string_value(json_object_get(labels, "cairn.helper.pid"));
			long p = pid ? strtol(pid, NULL, 10) : 0;
			if (!h || strcmp(h, host) != 0 || p <= 0 ||
			    kill((pid_t)p, 0) == 0 || errno == EPERM)
				continue;
			helper_remove(d, json_string_value(json_object_get(c, "Id")));
		}
	}
	error_clear(&ignored);
	json_decref(list);
	free(path);
}

int helper_create(struct docker *d, const struct helper *h, char **id, struct error *err)
{
	*id = NULL;
	remove_orphans(d);
	char host[256], pid[32];
	host_name(host, sizeof(host));
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	json_t *cmd = json_array();
	for (const char *const *c = h->command; *c; c++)
		json_array_append_new(cmd, json_string(*c));
	json_t *hc = json_object();
	if (h->network_of) {
		struct strbuf mode = STRBUF_INIT;
		strbuf_addf(&mode, "container:%s", h->network_of);
		json_object_set_new(hc, "NetworkMode", json_string(strbuf_cstr(&mode)));
		strbuf_release(&mode);
	} else {
		json_object_set_new(hc, "NetworkMode", json_string("none"));
	}
	if (h->mounts)
		json_object_set(hc, "Mounts", h->mounts);
	json_t *body = json_pack("{s:s, s:o, s:s, s:{s:s, s:s, s:s}, s:o}", "Image", h->image, "Cmd",
				 cmd, "User", h->user ? h->user : "", "Labels", "cairn.helper",
				 h->purpose, "cairn.helper.host", host, "cairn.helper.pid", pid,
				 "HostConfig", hc);
	json_t *resp = NULL;
	long status;
	int rc = docker_request(d, "POST", "/containers/create", body, &resp, &status, err);
	json_decref(body);
	if (rc == 0)
		*id = xstrdup(json_string_value(json_object_get(resp, "Id")));
	json_decref(resp);
	if (rc < 0)
		return error_wrap(err, "%s: creating its container", h->purpose);
	return 0;
}

int helper_run(struct docker *d, const struct helper *h, const char *id, struct error *err)
{
	struct strbuf path = STRBUF_INIT;
	long status;
	strbuf_addf(&path, "/containers/%s/start", id);
	if (docker_request(d, "POST", strbuf_cstr(&path), NULL, NULL, &status, err) < 0) {
		strbuf_release(&path);
		return error_wrap(err, "%s: starting its container", h->purpose);
	}
	/* Polled rather than POST /wait, which would hold one request open
	 * for as long as a dump takes, past any request timeout; often, as
	 * what waits for a helper is a replica being made. */
	long long code = -1;
	const struct timespec pause = { 0, 40 * 1000 * 1000 };
	for (;;) {
		json_t *info = NULL;
		strbuf_reset(&path);
		strbuf_addf(&path, "/containers/%s/json", id);
		if (docker_request(d, "GET", strbuf_cstr(&path), NULL, &info, &status, err) < 0) {
			strbuf_release(&path);
			return error_wrap(err, "%s", h->purpose);
		}
		json_t *st = json_object_get(info, "State");
		bool running = json_is_true(json_object_get(st, "Running"));
		code = json_integer_value(json_object_get(st, "ExitCode"));
		json_decref(info);
		if (!running)
			break;
		nanosleep(&pause, NULL);
	}
	strbuf_release(&path);
	if (code == 0)
		return 0;
	struct strbuf log = STRBUF_INIT;
	helper_output(d, id, false, &log);
	while (log.len && strchr(" \t\r\n", log.buf[log.len - 1]))
		strbuf_truncate(&log, log.len - 1);
	error_set(err, "%s failed (exit status %lld)%s%s", h->purpose, code, log.len ? ": " : "",
		  strbuf_cstr(&log));
	strbuf_release(&log);
	return -1;
}

int helper_output(struct docker *d, const char *id, bool whole_stdout, struct strbuf *out)
{
	struct error ignored = ERROR_INIT;
	int rc = docker_container_output(d, id, whole_stdout, whole_stdout ? 0 : HELPER_LOG_LINES,
					 0, out, &ignored);
	error_clear(&ignored);
	return rc;
}

void helper_remove(struct docker *d, const char *id)
{
	if (!id)
		return;
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "/containers/%s?force=1&v=1", id);
	long status;
	struct error ignored = ERROR_INIT;
	docker_request(d, "DELETE", strbuf_cstr(&path), NULL, NULL, &status, &ignored);
	error_clear(&ignored);
	strbuf_release(&path);
}

int container_inspect(struct docker *d, const char *name, json_t **out, struct error *err)
{
	*out = NULL;
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "/containers/%s/json", name);
	long status;
	int rc = docker_request(d, "GET", strbuf_cstr(&path), NULL, out, &status, err);
	strbuf_release(&path);
	if (rc < 0 && status == 404) {
		error_clear(err);
		return error_set(err, "no container %s: apply the policy first", name);
	}
	if (rc < 0)
		return -1;
	if (!json_is_true(json_object_get(json_object_get(*out, "State"), "Running"))) {
		json_decref(*out);
		*out = NULL;
		return error_set(err, "container %s is not running", name);
	}
	return 0;
}
