/* Programs started one way: streams set, nothing else of ours inherited,
 * signals as in a fresh process, a group of their own when asked. */
#include "base/run.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *read_fd(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[512];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	return strbuf_detach(&sb);
}

Test(run, capture_gives_output_and_status)
{
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int status = -1;
	cr_assert_eq(run_capture(argv, &out, &status, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(status, 3);
	cr_assert_str_eq(strbuf_cstr(&out), "out\nerr\n");
	strbuf_release(&out);
}

Test(run, capture_reports_a_signal_and_a_missing_program)
{
	const char *killed[] = { "sh", "-c", "kill -TERM $$", NULL };
	struct error err = ERROR_INIT;
	int status = -1;
	cr_assert_eq(run_capture(killed, NULL, &status, &err), 0);
	cr_assert_eq(status, 128 + SIGTERM);
	const char *missing[] = { "cairn-no-such-program", NULL };
	cr_assert_eq(run_capture(missing, NULL, &status, &err), -1);
	cr_assert(strstr(error_msg(&err), "cannot run cairn-no-such-program"), "%s", error_msg(&err));
	error_clear(&err);
}

Test(run, spawn_sets_streams_and_closes_the_rest)
{
	int in[2], out[2];
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(out), 0);
	int leak = open("/dev/null", O_RDONLY); /* not CLOEXEC: must not reach the child */
	cr_assert(leak > 2);
	char script[128];
	snprintf(script, sizeof(script), "cat; echo; [ -e /proc/self/fd/%d ] && echo leaked; echo e >&2",
		 leak);
	const char *argv[] = { "sh", "-c", script, NULL };
	char errpath[] = "/tmp/cairn-test-run-XXXXXX";
	int efd = mkstemp(errpath);
	cr_assert(efd >= 0);
	close(efd);
	struct run_spawn how = RUN_SPAWN_INIT;
	how.in = in[0];
	how.out = out[1];
	how.err_path = errpath;
	pid_t pid;
	cr_assert_eq(run_spawn(argv, &how, &pid), 0);
	close(in[0]);
	close(out[1]);
	cr_assert_eq(write(in[1], "hello", 5), 5);
	close(in[1]);
	char *got = read_fd(out[0]);
	close(out[0]);
	cr_assert_eq(run_wait(pid), 0);
	cr_assert_str_eq(got, "hello\n", "the child saw descriptor %d: %s", leak, got);
	free(got);
	int fd = open(errpath, O_RDONLY);
	char *e = read_fd(fd);
	close(fd);
	cr_assert_str_eq(e, "e\n");
	struct stat st;
	cr_assert_eq(stat(errpath, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	free(e);
	unlink(errpath);
	close(leak);
}

Test(run, spawn_resets_signals_and_makes_a_group)
{
	/* a SIGTERM ignored and blocked here is neither in the child */
	signal(SIGTERM, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	int out[2];
	cr_assert_eq(pipe(out), 0);
	const char *argv[] = { "sh", "-c", "cut -d' ' -f5 /proc/$$/stat; kill -TERM $$; echo survived", NULL };
	struct run_spawn how = RUN_SPAWN_INIT;
	how.out = out[1];
	how.own_group = true;
	pid_t pid;
	cr_assert_eq(run_spawn(argv, &how, &pid), 0);
	close(out[1]);
	char *got = read_fd(out[0]);
	close(out[0]);
	cr_assert_eq(run_wait(pid), 128 + SIGTERM, "output: %s", got);
	cr_assert_eq(atol(got), (long)pid, "its own group: %s", got);
	free(got);
	const char *missing[] = { "cairn-no-such-program", NULL };
	struct run_spawn none = RUN_SPAWN_INIT;
	cr_assert_eq(run_spawn(missing, &none, &pid), ENOENT);
	cr_assert_eq(run_wait(getpid()), -1, "not a child");
}
