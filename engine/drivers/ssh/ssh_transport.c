/* The OpenSSH client as a transport (ssh_transport.h). A master connection
 * per host is made by the first command and kept 60 s after the last
 * (ControlPersist), so a no-op apply costs one round trip per host. That
 * master keeps the stderr of the ssh that started it: output is read until
 * the ssh process itself exits, never until EOF. */

#include "ssh_transport.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/run.h"
#include "base/sha256.h"
#include "base/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOPTS 40

struct ssh_transport {
	char *program;
	char *identity;
	char *control_dir;
	char *opt_text[NOPTS]; /* "-o", "X=y" pairs, owned */
	const char *opts[NOPTS + 1];
	size_t nopts;
};

void ssh_quote(struct strbuf *sb, const char *s)
{
	strbuf_addc(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			strbuf_adds(sb, "'\\''");
		else
			strbuf_addc(sb, *s);
	}
	strbuf_addc(sb, '\'');
}

static int check_file(const char *what, const char *path, struct error *err)
{
	if (access(path, R_OK) != 0)
		return error_set(err, "%s %s cannot be read: %s", what, path, strerror(errno));
	return 0;
}

/* A directory only this user may use: control sockets are credentials. */
static int private_dir(const char *path, struct error *err)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return error_set(err, "ssh control directory %s: %s", path, strerror(errno));
	struct stat st;
	if (lstat(path, &st) != 0)
		return error_set(err, "ssh control directory %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return error_set(err,
				 "ssh control directory %s must be a directory of this user that nobody else may use (mode 0700)",
				 path);
	return 0;
}

/* 108 (sun_path) - 1 (NUL) - 1 - 40 - 1 - 8 - 17: see ssh_transport_new. */
#define SSH_CONTROL_DIR_MAX 40

static void add_opt(struct ssh_transport *t, const char *fmt, const char *v)
{
	struct strbuf opt = STRBUF_INIT;
	strbuf_addf(&opt, fmt, v);
	t->opt_text[t->nopts] = xstrdup("-o");
	t->opts[t->nopts] = t->opt_text[t->nopts];
	t->nopts++;
	t->opt_text[t->nopts] = strbuf_detach(&opt);
	t->opts[t->nopts] = t->opt_text[t->nopts];
	t->nopts++;
	t->opts[t->nopts] = NULL;
}

/* Control sockets are keyed on what decides trust too: a master made with
 * another known_hosts or key must not be reused (it would skip the check). */
static char *trust_tag(const char *known_hosts, const char *identity)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, sha256_md(), NULL);
	FILE *f = fopen(known_hosts, "rb");
	char buf[4096];
	size_t n;
	while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(md, buf, n);
	if (f)
		fclose(f);
	EVP_DigestUpdate(md, known_hosts, strlen(known_hosts) + 1);
	if (identity)
		EVP_DigestUpdate(md, identity, strlen(identity));
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned len;
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
	char *hex = xmalloc(9);
	hex_encode(out, 4, hex);
	return hex;
}

int ssh_transport_new(struct ssh_transport **out, const struct ssh_transport_options *o,
		      struct error *err)
{
	*out = NULL;
	if (!o->known_hosts)
		return error_set(err, "known_hosts is required: host keys are always checked");
	if (check_file("known_hosts", o->known_hosts, err) < 0)
		return -1;
	if (o->identity && check_file("identity", o->identity, err) < 0)
		return -1;
	char *dir = NULL;
	if (o->control_dir) {
		dir = xstrdup(o->control_dir);
	} else if (getenv("CAIRN_SSH_CONTROL_DIR") && *getenv("CAIRN_SSH_CONTROL_DIR")) {
		dir = xstrdup(getenv("CAIRN_SSH_CONTROL_DIR"));
	} else {
		struct strbuf sb = STRBUF_INIT;
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && *xdg)
			strbuf_addf(&sb, "%s/cairn-ssh", xdg);
		else
			strbuf_addf(&sb, "/tmp/cairn-ssh-%u", (unsigned)geteuid());
		dir = strbuf_detach(&sb);
	}
	/* A control socket's path must fit a unix socket address (108 bytes):
	 * the directory, '/', ssh's %C (40 hex digits), '-', our 8-digit tag
	 * and the ".XXXXXXXXXXXXXXXX" ssh adds while it makes the socket. */
	if (strlen(dir) > SSH_CONTROL_DIR_MAX) {
		error_set(err,
			  "ssh control directory %s is %zu characters long: a control socket in it "
			  "would not fit a unix socket address; use one of at most %d (CAIRN_SSH_CONTROL_DIR)",
			  dir, strlen(dir), SSH_CONTROL_DIR_MAX);
		free(dir);
		return -1;
	}
	if (private_dir(dir, err) < 0) {
		free(dir);
		return -1;
	}
	struct ssh_transport *t = xcalloc(1, sizeof(*t));
	const char *prog = o->program ? o->program : getenv("CAIRN_SSH");
	t->program = xstrdup(prog && *prog ? prog : "ssh");
	t->identity = o->identity ? xstrdup(o->identity) : NULL;
	t->control_dir = dir;
	char *tag = trust_tag(o->known_hosts, o->identity);
	struct strbuf path = STRBUF_INIT;
	strbuf_addf(&path, "%s/%%C-%s", dir, tag);
	free(tag);
	char timeout[32];
	snprintf(timeout, sizeof(timeout), "%d", o->connect_timeout_s > 0 ? o->connect_timeout_s : 10);
	add_opt(t, "BatchMode=%s", "yes");
	add_opt(t, "StrictHostKeyChecking=%s", "yes");
	add_opt(t, "UserKnownHostsFile=%s", o->known_hosts);
	add_opt(t, "GlobalKnownHostsFile=%s", "/dev/null");
	add_opt(t, "ControlMaster=%s", "auto");
	add_opt(t, "ControlPath=%s", path.buf);
	strbuf_release(&path);
	add_opt(t, "ControlPersist=%s", "60s");
	add_opt(t, "ConnectTimeout=%s", timeout);
	add_opt(t, "ServerAliveInterval=%s", "5");
	add_opt(t, "ServerAliveCountMax=%s", "3");
	add_opt(t, "LogLevel=%s", "ERROR");
	if (o->identity)
		add_opt(t, "IdentitiesOnly=%s", "yes");
	*out = t;
	return 0;
}

void ssh_transport_free(struct ssh_transport *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nopts; i++)
		free(t->opt_text[i]);
	free(t->program);
	free(t->identity);
	free(t->control_dir);
	free(t);
}

const char *const *ssh_transport_options_argv(const struct ssh_transport *t, size_t *n)
{
	*n = t->nopts;
	return t->opts;
}

void ssh_result_release(struct ssh_result *r)
{
	strbuf_release(&r->out);
	strbuf_release(&r->err);
	r->status = 0;
}

/* The first line of ssh's complaint that says what went wrong. */
static void describe_failure(const struct ssh_host *h, int port, const char *text,
			     struct error *err)
{
	static const struct {
		const char *needle, *say;
		bool transient;
	} known[] = {
		{ "Connection refused", "connection refused", true },
		{ "timed out", "connection timed out", true },
		{ "No route to host", "no route to host", true },
		{ "Network is unreachable", "network is unreachable", true },
		{ "Could not resolve hostname", "cannot resolve the host name", true },
		{ "REMOTE HOST IDENTIFICATION HAS CHANGED", "host key does not match known_hosts (refused)", false },
		{ "Host key verification failed", "host key verification failed: its key is not the one in known_hosts (refused)", false },
		{ "No ED25519 host key is known", "host key is not in known_hosts (refused)", false },
		{ "Permission denied", "login refused (permission denied: check identity and user)", false },
		{ "Connection reset", "connection reset", true },
		{ "Connection closed", "connection closed", true },
		{ "closed by remote host", "connection closed by the host", true },
		{ "Broken pipe", "connection lost (broken pipe)", true },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++) {
		if (strstr(text, known[i].needle)) {
			error_set_kind(err, known[i].transient ? ERROR_TRANSIENT : ERROR_FAILED,
				       "host %s (%s:%d): %s", h->name, h->address, port, known[i].say);
			return;
		}
	}
	size_t len = strcspn(text, "\n");
	if (len == 0) { /* the shared master connection went away under the command */
		error_set_kind(err, ERROR_TRANSIENT, "host %s (%s:%d): connection lost", h->name,
			       h->address, port);
		return;
	}
	error_set_kind(err, ERROR_TRANSIENT, "host %s (%s:%d): ssh failed%s%.*s", h->name, h->address,
		       port, len ? ": " : "", (int)(len > 300 ? 300 : len), text);
}

/* One ssh process and the descriptors between it and us (-1: closed). */
struct ssh_call {
	pid_t pid;
	int in_read, in_write; /* its stdin: a pipe we write `in` into, */
	int in_file;           /* or the file in_path */
	int out_read, out_write;
	int err_file; /* its stderr: an unlinked file, read once it exits */
	const char *in;
	size_t inlen, written;
};

static void ssh_argv(const struct ssh_transport *t, const struct ssh_host *h, const char *port,
		     const char *command, const char *argv[])
{
	size_t argc = 0;
	argv[argc++] = t->program;
	for (size_t i = 0; i < t->nopts; i++)
		argv[argc++] = t->opts[i];
	if (t->identity) {
		argv[argc++] = "-i";
		argv[argc++] = t->identity;
	}
	argv[argc++] = "-F";
	argv[argc++] = "/dev/null"; /* the user's ~/.ssh/config must not change what cairn does */
	argv[argc++] = "-T";
	argv[argc++] = "-p";
	argv[argc++] = port;
	argv[argc++] = "-l";
	argv[argc++] = h->user ? h->user : "root";
	argv[argc++] = "--";
	argv[argc++] = h->address;
	argv[argc++] = command;
	argv[argc] = NULL;
}

static int open_streams(struct ssh_call *c, const struct ssh_transport *t, const struct ssh_host *h,
			const char *in_path, struct error *err)
{
	char errpath[4200];
	snprintf(errpath, sizeof(errpath), "%s/err-XXXXXX", t->control_dir);
	if ((c->err_file = mkostemp(errpath, O_CLOEXEC)) < 0)
		return error_set(err, "host %s: cannot create a file in %s: %s", h->name,
				 t->control_dir, strerror(errno));
	unlink(errpath);
	int in[2], out[2];
	if (in_path) {
		if ((c->in_file = open(in_path, O_RDONLY | O_CLOEXEC)) < 0)
			return error_set(err, "cannot read %s: %s", in_path, strerror(errno));
	} else if (pipe2(in, O_CLOEXEC) != 0) {
		return error_set(err, "pipe: %s", strerror(errno));
	} else {
		c->in_read = in[0];
		c->in_write = in[1];
	}
	if (pipe2(out, O_CLOEXEC) != 0)
		return error_set(err, "pipe: %s", strerror(errno));
	c->out_read = out[0];
	c->out_write = out[1];
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Our ends only, non-blocking; stdin closed at once when there is nothing to write. */
static void keep_our_ends(struct ssh_call *c)
{
	close_fd(&c->out_write);
	close_fd(&c->in_read);
	if (c->in_write >= 0 && (!c->in || c->inlen == 0))
		close_fd(&c->in_write);
	if (c->in_write >= 0)
		fcntl(c->in_write, F_SETFL, O_NONBLOCK);
	fcntl(c->out_read, F_SETFL, O_NONBLOCK);
}

static void read_all(int fd, struct strbuf *into, bool *eof)
{
	char buf[16384];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(into, buf, (size_t)n);
	if (eof)
		*eof = n == 0;
}

/* Feeds stdin and drains stdout until ssh exits, or kills it at the
 * deadline; true when it was killed. */
static bool pump(struct ssh_call *c, struct ssh_result *res, long long deadline_ms, int *wstatus)
{
	for (;;) {
		struct pollfd pf[2];
		int npf = 0;
		if (c->out_read >= 0)
			pf[npf++] = (struct pollfd){ .fd = c->out_read, .events = POLLIN };
		if (c->in_write >= 0)
			pf[npf++] = (struct pollfd){ .fd = c->in_write, .events = POLLOUT };
		poll(pf, (nfds_t)npf, 50);
		for (int i = 0; i < npf; i++) {
			if (pf[i].fd == c->out_read && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
				bool eof;
				read_all(c->out_read, &res->out, &eof);
				if (eof)
					close_fd(&c->out_read);
			} else if (pf[i].fd == c->in_write &&
				   (pf[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
				ssize_t n = write(c->in_write, c->in + c->written, c->inlen - c->written);
				if (n > 0)
					c->written += (size_t)n;
				if ((n < 0 && errno != EAGAIN && errno != EINTR) || c->written == c->inlen)
					close_fd(&c->in_write);
			}
		}
		if (waitpid(c->pid, wstatus, WNOHANG) == c->pid) {
			c->pid = -1;
			return false;
		}
		if (deadline_ms && clock_ms() > deadline_ms) {
			kill(c->pid, SIGTERM);
			usleep(100 * 1000);
			kill(c->pid, SIGKILL);
			waitpid(c->pid, wstatus, 0);
			c->pid = -1;
			return true;
		}
	}
}

static void ssh_call_end(struct ssh_call *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	close_fd(&c->in_read);
	close_fd(&c->in_write);
	close_fd(&c->in_file);
	close_fd(&c->out_read);
	close_fd(&c->out_write);
	close_fd(&c->err_file);
}

int ssh_run(struct ssh_transport *t, const struct ssh_host *h, const char *command,
	    const char *in, size_t inlen, const char *in_path, long long deadline_ms,
	    struct ssh_result *res, struct error *err)
{
	int port = h->port > 0 ? h->port : 22;
	char portbuf[16];
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	const char *argv[NOPTS + 16];
	ssh_argv(t, h, portbuf, command, argv);
	memset(res, 0, sizeof(*res));
	struct ssh_call c = { .pid = -1, .in_read = -1, .in_write = -1, .in_file = -1,
			      .out_read = -1, .out_write = -1, .err_file = -1,
			      .in = in, .inlen = inlen };
	int rc = -1;
	if (open_streams(&c, t, h, in_path, err) < 0)
		goto out;
	/* Its own process group: a Ctrl-C for cairn lets running commands finish. */
	struct run_spawn how = { .in = in_path ? c.in_file : c.in_read, .out = c.out_write,
				 .err = c.err_file, .own_group = true };
	int sr = run_spawn(argv, &how, &c.pid);
	if (sr != 0) {
		c.pid = -1;
		error_set(err, "cannot run %s: %s (install the OpenSSH client)", t->program, strerror(sr));
		goto out;
	}
	keep_our_ends(&c);
	int wstatus = 0;
	bool timed_out = pump(&c, res, deadline_ms, &wstatus);
	if (c.out_read >= 0) /* what is left; a persisting master may hold the pipe */
		read_all(c.out_read, &res->out, NULL);
	lseek(c.err_file, 0, SEEK_SET);
	read_all(c.err_file, &res->err, NULL);
	strbuf_cstr(&res->out);
	strbuf_cstr(&res->err);
	if (timed_out) {
		error_set_kind(err, ERROR_TRANSIENT, "host %s (%s:%d): no answer before the deadline",
			       h->name, h->address, port);
		goto out;
	}
	res->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 255;
	if (res->status == 255) {
		describe_failure(h, port, res->err.buf ? res->err.buf : "", err);
		goto out;
	}
	rc = 0;
out:
	ssh_call_end(&c);
	return rc;
}
