/* Running programs (run.h). */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void set_stream(posix_spawn_file_actions_t *fa, int fd, int target, int null_flags)
{
	if (fd >= 0)
		posix_spawn_file_actions_adddup2(fa, fd, target);
	else
		posix_spawn_file_actions_addopen(fa, target, "/dev/null", null_flags, 0);
}

int run_spawn(const char *const argv[], const struct run_spawn *how, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	set_stream(&fa, how->in, STDIN_FILENO, O_RDONLY);
	set_stream(&fa, how->out, STDOUT_FILENO, O_WRONLY);
	if (how->err_path)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, how->err_path,
						 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	else
		set_stream(&fa, how->err, STDERR_FILENO, O_WRONLY);
	/* Other threads' pipes and sockets are not its business, CLOEXEC or not. */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	sigset_t none, dflt;
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGHUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	if (how->own_group) {
		posix_spawnattr_setpgroup(&attr, 0);
		flags |= POSIX_SPAWN_SETPGROUP;
	}
	posix_spawnattr_setflags(&attr, flags);
	int rc = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

int run_wait(pid_t pid)
{
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int run_capture(const char *const argv[], struct strbuf *out, int *status, struct error *err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return error_set(err, "cannot run %s: %s", argv[0], strerror(errno));
	pid_t pid;
	int rc = run_spawn(argv, &(struct run_spawn){ .in = -1, .out = fds[1], .err = fds[1] }, &pid);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		return error_set(err, "cannot run %s: %s", argv[0], strerror(rc));
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (out)
			strbuf_add(out, buf, (size_t)n);
	}
	close(fds[0]);
	*status = run_wait(pid);
	if (*status < 0)
		return error_set(err, "waiting for %s: %s", argv[0], strerror(errno));
	return 0;
}
