/* The ssh:// transport of the Engine API client (docker_tunnel.h). */
#include "docker_tunnel.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/run.h"
#include "base/strbuf.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SSH_WAIT_MS 10000L

/* The last two meaningful lines of ssh's stderr (its banners are '@' lines). */
static char *log_tail(const struct docker_tunnel *t)
{
	struct strbuf out = STRBUF_INIT;
	char buf[8192];
	FILE *f = fopen(t->log, "r");
	if (!f)
		return strbuf_detach(&out);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *lines[2] = {NULL, NULL};
	size_t lens[2] = {0, 0};
	for (char *p = buf; *p;) {
		char *end = p + strcspn(p, "\r\n");
		size_t len = (size_t)(end - p);
		if (len && *p != '@') {
			lines[0] = lines[1], lens[0] = lens[1];
			lines[1] = p, lens[1] = len;
		}
		p = *end ? end + 1 : end;
	}
	for (int i = 0; i < 2; i++) {
		if (!lines[i])
			continue;
		if (out.len)
			strbuf_adds(&out, " ");
		strbuf_add(&out, lines[i], lens[i]);
	}
	return strbuf_detach(&out);
}

/* Whether ssh is still running; reaps it when it is not. Caller holds t->lock. */
static bool alive_locked(struct docker_tunnel *t)
{
	if (t->pid <= 0)
		return false;
	int st;
	pid_t r = waitpid(t->pid, &st, WNOHANG);
	if (r == 0)
		return true;
	t->status = r == t->pid ? st : -1;
	t->pid = 0;
	return false;
}

static int exited_error(struct docker_tunnel *t, struct error *err)
{
	char *tail = log_tail(t);
	struct strbuf why = STRBUF_INIT;
	if (t->status >= 0 && WIFEXITED(t->status))
		strbuf_addf(&why, "exit status %d", WEXITSTATUS(t->status));
	else if (t->status >= 0 && WIFSIGNALED(t->status))
		strbuf_addf(&why, "killed by signal %d", WTERMSIG(t->status));
	else
		strbuf_adds(&why, "exited");
	if (strcasestr(tail, "host key verification failed") || strcasestr(tail, "host key for"))
		error_set(err,
			  "ssh to %s failed: host key verification failed (%s): add the current "
			  "host key of %s "
			  "to %s",
			  t->endpoint, tail, t->host,
			  t->known_hosts ? t->known_hosts : "~/.ssh/known_hosts");
	else
		error_set(err, "ssh to %s failed (%s)%s%s", t->endpoint, why.buf, *tail ? ": " : "",
			  tail);
	strbuf_release(&why);
	free(tail);
	return -1;
}

static bool socket_accepts(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* The parts of [user@]host[:port]. */
struct ssh_target {
	char *given; /* a copy, cut at '@': user points into it */
	const char *user;
	char *host, *port;
};

static void ssh_target_release(struct ssh_target *tg)
{
	free(tg->given);
	free(tg->host);
	free(tg->port);
}

static int parse_target(struct docker_tunnel *t, const char *given, struct ssh_target *tg,
			struct error *err)
{
	char *hostport = tg->given = xstrdup(given);
	size_t n = strlen(hostport);
	if (n && hostport[n - 1] == '/')
		hostport[n - 1] = '\0';
	char *at = strrchr(hostport, '@');
	if (at) {
		*at = '\0';
		tg->user = tg->given;
		hostport = at + 1;
		if (!*tg->user)
			return docker_refuse_endpoint(t->endpoint, "empty user name", err);
	}
	if (strchr(hostport, '/'))
		return docker_refuse_endpoint(t->endpoint, "ssh:// takes only [user@]host[:port]", err);
	if (docker_split_host_port(t->endpoint, hostport, &tg->host, &tg->port, err) < 0)
		return -1;
	/* ssh would read a leading '-' as an option. */
	if (tg->host[0] == '-' || (tg->user && tg->user[0] == '-'))
		return docker_refuse_endpoint(t->endpoint, "a user or host may not start with '-'", err);
	if (tg->host[0] == '[') {
		memmove(tg->host, tg->host + 1, strlen(tg->host));
		tg->host[strlen(tg->host) - 1] = '\0';
	}
	t->host = xstrdup(tg->host);
	return 0;
}

static int check_ssh_files(struct docker_tunnel *t, const struct docker_options *opts,
			   struct error *err)
{
	if (opts->ssh_known_hosts) {
		/* ssh splits the option's value at white space and reads quotes. */
		if (strpbrk(opts->ssh_known_hosts, " \t\"'\\"))
			return error_set(err,
					 "ssh_known_hosts '%s': the path may not contain spaces or quotes",
					 opts->ssh_known_hosts);
		if (docker_check_readable("ssh_known_hosts", opts->ssh_known_hosts, err) < 0)
			return -1;
		t->known_hosts = xstrdup(opts->ssh_known_hosts);
	}
	if (opts->ssh_identity && docker_check_readable("ssh_identity", opts->ssh_identity, err) < 0)
		return -1;
	return 0;
}

/* A private directory for the forwarded socket and ssh's stderr. */
static int make_dir(struct docker_tunnel *t, struct error *err)
{
	char tmpl[] = "/tmp/cairn-docker-ssh-XXXXXX";
	if (!mkdtemp(tmpl))
		return error_set(err, "ssh to %s: cannot create a private directory in /tmp: %s",
				 t->endpoint, strerror(errno));
	t->dir = xstrdup(tmpl);
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s/docker.sock", t->dir);
	t->socket = strbuf_detach(&sb);
	strbuf_addf(&sb, "%s/ssh.log", t->dir);
	t->log = strbuf_detach(&sb);
	return 0;
}

/* Runs `ssh -N -L <dir>/docker.sock:/var/run/docker.sock`. */
static int start_ssh(struct docker_tunnel *t, const struct ssh_target *tg,
		     const struct docker_options *opts, struct error *err)
{
	struct strbuf forward = STRBUF_INIT, known = STRBUF_INIT;
	strbuf_addf(&forward, "%s:%s", t->socket, DOCKER_TUNNEL_REMOTE_SOCKET);
	const char *argv[32];
	int argc = 0;
	argv[argc++] = "ssh";
	argv[argc++] = "-N";
	argv[argc++] = "-o";
	argv[argc++] = "BatchMode=yes";
	argv[argc++] = "-o";
	argv[argc++] = "ExitOnForwardFailure=yes";
	argv[argc++] = "-o";
	argv[argc++] = "StrictHostKeyChecking=yes";
	/* A shared master connection from the user's config would own the forwarding. */
	argv[argc++] = "-o";
	argv[argc++] = "ControlPath=none";
	if (opts->ssh_identity) {
		argv[argc++] = "-i";
		argv[argc++] = opts->ssh_identity;
	}
	if (t->known_hosts) {
		strbuf_addf(&known, "UserKnownHostsFile=%s", t->known_hosts);
		argv[argc++] = "-o";
		argv[argc++] = known.buf;
	}
	argv[argc++] = "-p";
	argv[argc++] = tg->port ? tg->port : "22";
	if (tg->user) {
		argv[argc++] = "-l";
		argv[argc++] = tg->user;
	}
	argv[argc++] = "-L";
	argv[argc++] = forward.buf;
	argv[argc++] = "--";
	argv[argc++] = tg->host;
	argv[argc] = NULL;

	/* Its own process group: a Ctrl-C meant for cairn must not cut the tunnel
	 * while cairn is still cleaning up; docker_close ends it. */
	struct run_spawn how = RUN_SPAWN_INIT;
	how.err_path = t->log;
	how.own_group = true;
	int rc = run_spawn(argv, &how, &t->pid);
	strbuf_release(&forward);
	strbuf_release(&known);
	if (rc != 0) {
		t->pid = 0;
		return error_set(err, "ssh to %s: cannot run ssh: %s (install the OpenSSH client)",
				 t->endpoint, strerror(rc));
	}
	return 0;
}

/* Waits until the local end of the forwarding accepts connections. */
static int wait_forwarding(struct docker_tunnel *t, struct error *err)
{
	long deadline = clock_ms() + SSH_WAIT_MS;
	for (;;) {
		pthread_mutex_lock(&t->lock);
		bool alive = alive_locked(t);
		pthread_mutex_unlock(&t->lock);
		if (!alive)
			return exited_error(t, err);
		if (socket_accepts(t->socket))
			return 0;
		if (clock_ms() > deadline) {
			char *tail = log_tail(t);
			error_set(err, "ssh to %s did not forward the docker socket within %ld s%s%s",
				  t->endpoint, SSH_WAIT_MS / 1000, *tail ? ": " : "", tail);
			free(tail);
			return -1;
		}
		sleep_ms(20);
	}
}

static int tunnel_start(struct docker_tunnel *t, const char *given,
			const struct docker_options *opts, struct error *err)
{
	struct ssh_target tg = { 0 };
	int rc = -1;
	if (parse_target(t, given, &tg, err) == 0 && check_ssh_files(t, opts, err) == 0 &&
	    make_dir(t, err) == 0 && start_ssh(t, &tg, opts, err) == 0 && wait_forwarding(t, err) == 0)
		rc = 0;
	ssh_target_release(&tg);
	return rc;
}

void docker_tunnel_close(struct docker_tunnel *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		long deadline = clock_ms() + 2000;
		while (waitpid(t->pid, NULL, WNOHANG) == 0) {
			if (clock_ms() > deadline) {
				kill(t->pid, SIGKILL);
				waitpid(t->pid, NULL, 0);
				break;
			}
			sleep_ms(5);
		}
		t->pid = 0;
	}
	if (t->dir) {
		unlink(t->socket);
		unlink(t->log);
		rmdir(t->dir);
	}
	pthread_mutex_destroy(&t->lock);
	free(t->dir);
	free(t->socket);
	free(t->log);
	free(t->host);
	free(t->known_hosts);
	free(t);
}

int docker_tunnel_failure(struct docker_tunnel *t, const char *detail, struct error *err)
{
	pthread_mutex_lock(&t->lock);
	bool alive = alive_locked(t);
	pthread_mutex_unlock(&t->lock);
	if (!alive) {
		exited_error(t, err);
		return error_wrap(err, "docker engine at %s is unreachable: the ssh tunnel stopped",
				  t->endpoint);
	}
	char *tail = log_tail(t);
	error_set(err,
		  "docker engine at %s did not answer through the ssh tunnel (%s): is dockerd "
		  "running on %s, and may the ssh user use %s?",
		  t->endpoint, *tail ? tail : detail, t->host, DOCKER_TUNNEL_REMOTE_SOCKET);
	free(tail);
	return -1;
}

int docker_tunnel_open(struct docker_tunnel **out, const char *endpoint, const char *given,
		       const struct docker_options *opts, struct error *err)
{
	struct docker_tunnel *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->endpoint = endpoint;
	if (tunnel_start(t, given, opts, err) < 0) {
		docker_tunnel_close(t);
		*out = NULL;
		return -1;
	}
	*out = t;
	return 0;
}
