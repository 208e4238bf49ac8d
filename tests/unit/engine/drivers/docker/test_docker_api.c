/* The Docker Engine API client against the real engine on this machine (never
 * a mock): version negotiation, a container's life, the engine's errors, logs,
 * many threads, and tcp:// with TLS (socat in front of the socket) and ssh://
 * (a private sshd), each started and stopped by the fixtures below. */
#include "engine/drivers/docker/docker_api.h"
#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IMAGE "cairn/demo:1"
#define TEST_LABEL "cairn.test=api"
#define IMPORTED_IMAGE "cairn/apitest:api"

static char dir[64]; /* the test's private temp dir, "" when none */

static void path_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void make_dir(void)
{
	strcpy(dir, "/tmp/cairn-dapi-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void remove_dir(void)
{
	if (dir[0])
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* The first line of a file (without its newline), in a heap string. */
static char *read_line(const char *path)
{
	char buf[4096] = "";
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return strdup(buf);
}

static bool on_path(const char *name)
{
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/usr/bin:/bin");
	bool found = false;
	for (char *save = NULL, *p = strtok_r(copy, ":", &save); p && !found;
	     p = strtok_r(NULL, ":", &save)) {
		char full[512];
		snprintf(full, sizeof(full), "%s/%s", p, name);
		found = access(full, X_OK) == 0;
	}
	free(copy);
	return found;
}

static pid_t spawn(const char *const argv[], const char *log)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		int in = open("/dev/null", O_RDONLY);
		int out = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* Runs a command to its end, its output into dir/cmd.log; asserts it succeeded. */
static void run(const char *const argv[])
{
	char log[128];
	path_in(log, sizeof(log), "cmd.log");
	int st;
	pid_t pid = spawn(argv, log);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *line = read_line(log);
		cr_assert_fail("%s failed (status %d): %s", argv[0], st, line);
	}
}

/* Ends pid and everything it forked (sshd's sessions call setsid, so a
 * process group would not reach them). */
static void kill_tree(pid_t pid, int sig)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	while (proc && (e = readdir(proc))) {
		char path[300], buf[512];
		pid_t child = (pid_t)atoi(e->d_name);
		if (child <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *paren = strrchr(buf, ')');
		int ppid = 0;
		if (paren && sscanf(paren + 2, "%*c %d", &ppid) == 1 && ppid == pid)
			kill_tree(child, sig);
	}
	if (proc)
		closedir(proc);
	kill(pid, sig);
}

static void stop_daemon(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill_tree(*pid, SIGTERM);
	for (int i = 0; i < 200 && waitpid(*pid, NULL, WNOHANG) == 0; i++)
		usleep(10000);
	kill_tree(*pid, SIGKILL);
	waitpid(*pid, NULL, WNOHANG);
	*pid = 0;
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static bool port_accepts(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void wait_port(int port, pid_t pid, const char *log)
{
	for (int i = 0; i < 500; i++) {
		if (port_accepts(port))
			return;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			char *line = read_line(log);
			cr_assert_fail("daemon exited before listening on %d: %s", port, line);
		}
		usleep(10000);
	}
	cr_assert_fail("nothing listens on port %d after 5 s", port);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A unix socket at path that is bound and, when listening, never accepts. */
static int unix_socket_at(const char *path, bool listening)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path,
		     strerror(errno));
	if (listening)
		cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

static struct docker *open_local(void)
{
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	int rc = docker_open(&d, NULL, &err);
	cr_assert_eq(rc, 0, "docker_open: %s", error_msg(&err));
	return d;
}

static void request_ok(struct docker *d, const char *method, const char *path, json_t *body,
		       json_t **resp)
{
	struct error err = ERROR_INIT;
	long status = -1;
	int rc = docker_request(d, method, path, body, resp, &status, &err);
	cr_assert_eq(rc, 0, "%s %s: %s", method, path, error_msg(&err));
	cr_assert(status >= 200 && status < 300, "%s %s: status %ld", method, path, status);
}

/* Removes every container labelled cairn.test=api and the imported test image. */
static void remove_test_objects(void)
{
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	json_t *list = NULL, *c;
	size_t i;
	if (docker_open(&d, NULL, &err) < 0)
		goto out;
	if (docker_request(d, "GET",
			   "/containers/json?all=1&filters={\"label\":[\"" TEST_LABEL "\"]}", NULL,
			   &list, NULL, &err) == 0) {
		json_array_foreach(list, i, c)
		{
			char path[256];
			snprintf(path, sizeof(path), "/containers/%s?force=1&v=1",
				 json_string_value(json_object_get(c, "Id")));
			docker_request(d, "DELETE", path, NULL, NULL, NULL, &err);
		}
	}
	docker_request(d, "DELETE", "/images/" IMPORTED_IMAGE "?force=1", NULL, NULL, NULL, &err);
out:
	json_decref(list);
	error_clear(&err);
	docker_close(d);
}

static void engine_setup(void)
{
	remove_test_objects();
	make_dir();
}

static void engine_teardown(void)
{
	remove_test_objects();
	remove_dir();
}

TestSuite(docker_api, .init = engine_setup, .fini = engine_teardown, .timeout = 120);

/* Creates a container labelled cairn.test=api; cmd is stolen (NULL: the image's). */
static char *create_container(struct docker *d, const char *name, json_t *cmd)
{
	json_t *body = json_pack("{s:s, s:{s:s}}", "Image", IMAGE, "Labels", "cairn.test", "api");
	json_t *resp = NULL;
	char path[256];
	if (cmd)
		json_object_set_new(body, "Cmd", cmd);
	snprintf(path, sizeof(path), "/containers/create?name=cairn-api-%s-%d", name,
		 (int)getpid());
	request_ok(d, "POST", path, body, &resp);
	const char *id = json_string_value(json_object_get(resp, "Id"));
	cr_assert_not_null(id, "create gave no Id");
	char *out = strdup(id);
	json_decref(resp);
	json_decref(body);
	return out;
}

static bool container_running(struct docker *d, const char *id)
{
	char path[256];
	json_t *resp = NULL;
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	request_ok(d, "GET", path, NULL, &resp);
	json_t *running = json_object_get(json_object_get(resp, "State"), "Running");
	cr_assert(json_is_boolean(running), "inspect has no State.Running");
	bool r = json_is_true(running);
	json_decref(resp);
	return r;
}

Test(docker_api, negotiates_version_capped_at_1_41)
{
	struct docker *d = open_local();
	json_t *v = NULL;
	cr_assert_str_eq(docker_endpoint(d), "unix:///var/run/docker.sock");
	request_ok(d, "GET", "/version", NULL, &v);
	const char *engine = json_string_value(json_object_get(v, "ApiVersion"));
	int major = 0, minor = 0;
	cr_assert_eq(sscanf(engine, "%d.%d", &major, &minor), 2, "ApiVersion %s", engine);
	char expected[16];
	snprintf(expected, sizeof(expected), "1.%d", major > 1 || minor > 41 ? 41 : minor);
	cr_assert_str_eq(docker_api_version(d), expected);
	cr_assert_str_eq(docker_api_version(d), "1.41", "this machine's engine speaks %s", engine);
	json_decref(v);
	docker_close(d);
}

Test(docker_api, container_create_start_inspect_stop_remove)
{
	struct docker *d = open_local();
	struct error err = ERROR_INIT;
	json_t *list = NULL;
	long status = 0;
	char path[256];
	char *id = create_container(d, "life", NULL);

	cr_assert_not(container_running(d, id));
	snprintf(path, sizeof(path), "/containers/%s/start", id);
	request_ok(d, "POST", path, NULL, NULL);
	cr_assert(container_running(d, id));

	/* Starting it again: the engine answers 304 with no body. */
	cr_assert_eq(docker_request(d, "POST", path, NULL, NULL, &status, &err), -1);
	cr_assert_eq(status, 304);
	cr_assert(strstr(error_msg(&err), "/start: 304"), "%s", error_msg(&err));
	error_clear(&err);

	/* Raw JSON in the query is encoded by the client. */
	request_ok(d, "GET", "/containers/json?filters={\"label\":[\"" TEST_LABEL "\"]}", NULL,
		   &list);
	cr_assert_eq(json_array_size(list), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "Id")), id);
	json_decref(list);

	snprintf(path, sizeof(path), "/containers/%s/stop?t=1", id);
	request_ok(d, "POST", path, NULL, NULL);
	cr_assert_not(container_running(d, id));

	json_t *resp = (json_t *)1;
	snprintf(path, sizeof(path), "/containers/%s?v=1", id);
	cr_assert_eq(docker_request(d, "DELETE", path, NULL, &resp, &status, &err), 0, "%s",
		     error_msg(&err));
	cr_assert_eq(status, 204);
	cr_assert_null(resp, "an empty body gives NULL");

	snprintf(path, sizeof(path), "/containers/%s/json", id);
	cr_assert_eq(docker_request(d, "GET", path, NULL, &resp, &status, &err), -1);
	cr_assert_eq(status, 404);
	cr_assert(strstr(error_msg(&err), "No such container"), "%s", error_msg(&err));
	cr_assert_not(docker_failure_transient(status, &err));
	error_clear(&err);
	free(id);
	docker_close(d);
}

Test(docker_api, missing_image_is_404_with_engine_message)
{
	struct docker *d = open_local();
	struct error err = ERROR_INIT;
	json_t *body = json_pack("{s:s, s:{s:s}}", "Image", "cairn/no-such-image:1", "Labels",
				 "cairn.test", "api");
	json_t *resp = NULL;
	long status = 0;
	int rc = docker_request(d, "POST", "/containers/create?name=cairn-api-missing", body, &resp,
				&status, &err);
	cr_assert_eq(rc, -1);
	cr_assert_eq(status, 404);
	cr_assert_null(resp);
	cr_assert_str_eq(error_msg(&err),
			 "POST /containers/create: 404: No such image: cairn/no-such-image:1");
	error_clear(&err);
	json_decref(body);
	docker_close(d);
}

Test(docker_api, ping_text_becomes_json_string)
{
	struct docker *d = open_local();
	json_t *resp = NULL;
	request_ok(d, "GET", "/_ping", NULL, &resp);
	cr_assert_str_eq(json_string_value(resp), "OK");
	json_decref(resp);
	docker_close(d);
}

Test(docker_api, missing_socket_is_not_running)
{
	char sock[128], endpoint[160];
	struct docker *d = (struct docker *)1;
	struct error err = ERROR_INIT;
	path_in(sock, sizeof(sock), "none.sock");
	snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
	struct docker_options opts = {.endpoint = endpoint};
	cr_assert_eq(docker_open(&d, &opts, &err), -1);
	cr_assert_null(d);
	char expected[400];
	snprintf(expected, sizeof(expected),
		 "docker engine at %s is not running (no socket at %s): start dockerd", endpoint,
		 sock);
	cr_assert_str_eq(error_msg(&err), expected);
	error_clear(&err);
}

Test(docker_api, refused_socket_is_not_running)
{
	char sock[128], endpoint[160];
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	path_in(sock, sizeof(sock), "idle.sock");
	int fd = unix_socket_at(sock, false); /* bound, not listening: ECONNREFUSED */
	snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
	struct docker_options opts = {.endpoint = endpoint};
	cr_assert_eq(docker_open(&d, &opts, &err), -1);
	char expected[300];
	snprintf(expected, sizeof(expected),
		 "docker engine at %s is not running (connection refused): start dockerd",
		 endpoint);
	cr_assert_str_eq(error_msg(&err), expected);
	error_clear(&err);
	close(fd);
}

Test(docker_api, socket_without_permission)
{
	char sock[128], endpoint[160];
	path_in(sock, sizeof(sock), "private.sock");
	int fd = unix_socket_at(sock, true);
	cr_assert_eq(chmod(sock, 0600), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);

	/* root passes any mode: try as nobody in a child, the message comes back on a pipe */
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct docker *d = NULL;
		struct error err = ERROR_INIT;
		struct docker_options opts = {.endpoint = endpoint};
		if (geteuid() == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(2);
		} else if (chmod(sock, 0) < 0) {
			_exit(3);
		}
		int rc = docker_open(&d, &opts, &err);
		dprintf(pipefd[1], "%d %s", rc, error_msg(&err));
		error_clear(&err);
		docker_close(d);
		_exit(0);
	}
	close(pipefd[1]);
	char buf[512] = "";
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	cr_assert_gt(n, 0);
	char expected[300];
	snprintf(expected, sizeof(expected),
		 "-1 permission denied on %s: run as root or join the docker group", sock);
	cr_assert_str_eq(buf, expected);
	close(fd);
}

Test(docker_api, silent_engine_times_out)
{
	char sock[128], endpoint[160];
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	path_in(sock, sizeof(sock), "silent.sock");
	int fd = unix_socket_at(sock, true); /* accepts in the kernel, never answers */
	snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
	struct docker_options opts = {.endpoint = endpoint, .timeout_ms = 300};
	double t0 = now_s();
	cr_assert_eq(docker_open(&d, &opts, &err), -1);
	double took = now_s() - t0;
	char expected[300];
	snprintf(expected, sizeof(expected), "docker engine at %s timed out after 300 ms",
		 endpoint);
	cr_assert_str_eq(error_msg(&err), expected);
	cr_assert_lt(took, 3.0, "took %.1f s", took);
	error_clear(&err);
	close(fd);
}

Test(docker_api, request_timeout_has_status_0_and_is_transient)
{
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	struct docker_options opts = {.timeout_ms = 800};
	cr_assert_eq(docker_open(&d, &opts, &err), 0, "%s", error_msg(&err));
	char *id = create_container(d, "wait", json_pack("[s,s]", "sleep", "30"));
	char path[256];
	snprintf(path, sizeof(path), "/containers/%s/start", id);
	request_ok(d, "POST", path, NULL, NULL);
	snprintf(path, sizeof(path), "/containers/%s/wait", id);
	long status = -1;
	json_t *resp = NULL;
	cr_assert_eq(docker_request(d, "POST", path, NULL, &resp, &status, &err), -1);
	cr_assert_eq(status, 0);
	cr_assert(strstr(error_msg(&err),
			 "/wait: docker engine at unix:///var/run/docker.sock timed "
			 "out after 800 ms"),
		  "%s", error_msg(&err));
	cr_assert(docker_failure_transient(status, &err));
	error_clear(&err);
	free(id);
	docker_close(d);
}

Test(docker_api, unknown_scheme_and_bad_endpoints_refused)
{
	static const struct {
		const char *endpoint, *says;
	} cases[] = {
	    {"http://localhost:2375", "unknown scheme"},
	    {"npipe:////./pipe/docker_engine", "unknown scheme"},
	    {"unix://var/run/docker.sock", "the socket path must be absolute"},
	    {"tcp://", "no host"},
	    {"tcp://host:99999", "the port must be a number from 1 to 65535"},
	    {"ssh://-oProxyCommand=x", "may not start with '-'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct docker *d = NULL;
		struct error err = ERROR_INIT;
		struct docker_options opts = {.endpoint = cases[i].endpoint};
		cr_assert_eq(docker_open(&d, &opts, &err), -1, "%s accepted", cases[i].endpoint);
		const char *msg = error_msg(&err);
		cr_assert(strstr(msg, cases[i].endpoint), "%s", msg);
		cr_assert(strstr(msg, cases[i].says), "%s", msg);
		cr_assert(strstr(msg, "unix:///path/to/docker.sock, tcp://host:port or "
				      "ssh://[user@]host[:port]"),
			  "%s", msg);
		error_clear(&err);
	}

	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	struct docker_options partial = {.endpoint = "tcp://127.0.0.1:2376", .tls_ca = "/x/ca.pem"};
	cr_assert_eq(docker_open(&d, &partial, &err), -1);
	cr_assert_str_eq(error_msg(&err),
			 "docker endpoint tcp://127.0.0.1:2376: TLS needs all three "
			 "of tls_ca, tls_cert and tls_key");
	error_clear(&err);
}

Test(docker_api, failure_transient)
{
	struct error err = ERROR_INIT;
	cr_assert(docker_failure_transient(0, NULL), "no response");
	cr_assert(docker_failure_transient(408, NULL));
	cr_assert(docker_failure_transient(429, NULL));
	error_set(&err, "POST /containers/x/start: 500: driver failed programming external "
			"connectivity: Bind for 0.0.0.0:8080 failed: port is already allocated");
	cr_assert_not(docker_failure_transient(500, &err));
	error_set(&err, "POST /containers/x/start: 500: listen tcp4 0.0.0.0:80: bind: address "
			"already in use");
	cr_assert_not(docker_failure_transient(500, &err));
	error_set(&err, "GET /containers/json: 500: context deadline exceeded");
	cr_assert(docker_failure_transient(500, &err));
	cr_assert(docker_failure_transient(503, &err));
	cr_assert(docker_failure_transient(502, NULL));
	error_set(&err, "POST /containers/create: 404: No such image: x");
	cr_assert_not(docker_failure_transient(404, &err));
	cr_assert_not(docker_failure_transient(409, &err));
	cr_assert_not(docker_failure_transient(400, &err));
	cr_assert_not(docker_failure_transient(304, &err));
	error_clear(&err);
}

struct collected {
	struct docker_demux dm;
	struct strbuf out[3];
	int pieces;
	int stop_after; /* 0: never */
};

static int collect_frame(void *ctx, int stream, const char *data, size_t len)
{
	struct collected *c = ctx;
	cr_assert(stream >= 0 && stream <= 2, "stream %d", stream);
	strbuf_add(&c->out[stream], data, len);
	return 0;
}

static int collect_piece(void *ctx, const char *data, size_t len)
{
	struct collected *c = ctx;
	c->pieces++;
	if (c->stop_after && c->pieces >= c->stop_after)
		return 7;
	return docker_demux_feed(&c->dm, data, len, collect_frame, c);
}

static void collected_release(struct collected *c)
{
	for (int i = 0; i < 3; i++)
		strbuf_release(&c->out[i]);
}

Test(docker_api, logs_stream_demultiplexed)
{
	struct docker *d = open_local();
	char *id = create_container(
	    d, "logs",
	    json_pack("[s,s,s]", "sh", "-c",
		      "echo out1; echo err1 >&2; echo out2; sleep 0.2; printf 'no newline'"));
	char path[256];
	json_t *resp = NULL;
	snprintf(path, sizeof(path), "/containers/%s/start", id);
	request_ok(d, "POST", path, NULL, NULL);
	snprintf(path, sizeof(path), "/containers/%s/wait", id);
	request_ok(d, "POST", path, NULL, &resp);
	cr_assert_eq(json_integer_value(json_object_get(resp, "StatusCode")), 0);
	json_decref(resp);

	struct collected c = {0};
	struct error err = ERROR_INIT;
	long status = 0;
	snprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&stderr=1", id);
	int rc = docker_stream(d, path, 10000, collect_piece, &c, &status, &err);
	cr_assert_eq(rc, 0, "%s", error_msg(&err));
	cr_assert_eq(status, 200);
	cr_assert_str_eq(strbuf_cstr(&c.out[1]), "out1\nout2\nno newline");
	cr_assert_str_eq(strbuf_cstr(&c.out[2]), "err1\n");
	cr_assert_eq(c.dm.have, 0, "ends between frames");
	cr_assert_eq(c.dm.remaining, 0);
	collected_release(&c);

	/* A callback's non-zero return stops the stream and is returned. */
	struct collected stop = {.stop_after = 1};
	cr_assert_eq(docker_stream(d, path, 10000, collect_piece, &stop, &status, &err), 7);
	cr_assert_eq(stop.pieces, 1);
	collected_release(&stop);

	/* Following a running container's logs ends with its timeout. */
	free(id);
	id =
	    create_container(d, "follow", json_pack("[s,s,s]", "sh", "-c", "echo ready; sleep 30"));
	snprintf(path, sizeof(path), "/containers/%s/start", id);
	request_ok(d, "POST", path, NULL, NULL);
	struct collected follow = {0};
	snprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&follow=1", id);
	cr_assert_eq(docker_stream(d, path, 1500, collect_piece, &follow, &status, &err), -1);
	cr_assert(strstr(error_msg(&err), "timed out after 1500 ms"), "%s", error_msg(&err));
	cr_assert_str_eq(strbuf_cstr(&follow.out[1]), "ready\n");
	collected_release(&follow);
	error_clear(&err);

	/* An engine error on a stream carries the engine's message. */
	cr_assert_eq(docker_stream(d, "/containers/cairn-no-such-container/logs?stdout=1", 10000,
				   collect_piece, &follow, &status, &err),
		     -1);
	cr_assert_eq(status, 404);
	cr_assert_str_eq(error_msg(&err), "GET /containers/cairn-no-such-container/logs: 404: No "
					  "such container: cairn-no-such-container");
	error_clear(&err);
	free(id);
	docker_close(d);
}

/* Progress streams (several JSON values, HTTP 200) become an array; an "error"
 * among them fails the request. The engine downloads the image's tarball from
 * a test container's httpd. */
Test(docker_api, progress_stream_import)
{
	struct docker *d = open_local();
	char *id = create_container(
	    d, "tarball",
	    json_pack("[s,s,s]", "sh", "-c",
		      "tar -cf /www/ok.tar -C /www index.html && head -c 3000 /dev/urandom "
		      ">/www/bad.tar && exec httpd -f -p 8080 -h /www"));
	char path[512];
	json_t *resp = NULL;
	snprintf(path, sizeof(path), "/containers/%s/start", id);
	request_ok(d, "POST", path, NULL, NULL);
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	request_ok(d, "GET", path, NULL, &resp);
	const char *ip = json_string_value(
	    json_object_get(json_object_get(resp, "NetworkSettings"), "IPAddress"));
	cr_assert(ip && *ip, "the container has no address on the default bridge");
	char url[128];
	snprintf(url, sizeof(url), "http://%s:8080", ip);
	json_decref(resp);
	resp = NULL;

	struct error err = ERROR_INIT;
	long status = 0;
	int rc = -1;
	/* httpd may need a moment to listen */
	for (int i = 0; i < 50 && rc < 0; i++) {
		snprintf(path, sizeof(path),
			 "/images/create?fromSrc=%s/ok.tar&repo=cairn/apitest&tag=api", url);
		rc = docker_request(d, "POST", path, NULL, &resp, &status, &err);
		if (rc < 0)
			usleep(100000);
	}
	cr_assert_eq(rc, 0, "%s", error_msg(&err));
	cr_assert(json_is_array(resp));
	cr_assert_geq(json_array_size(resp), 2);
	const char *last = json_string_value(
	    json_object_get(json_array_get(resp, json_array_size(resp) - 1), "status"));
	cr_assert(last && strncmp(last, "sha256:", 7) == 0, "last status %s", last);
	json_decref(resp);
	resp = NULL;

	snprintf(path, sizeof(path), "/images/create?fromSrc=%s/bad.tar&repo=cairn/apitest&tag=bad",
		 url);
	cr_assert_eq(docker_request(d, "POST", path, NULL, &resp, &status, &err), -1);
	cr_assert_eq(status, 200);
	cr_assert_null(resp);
	cr_assert(strstr(error_msg(&err), "POST /images/create: 200: Error processing tar file"),
		  "%s", error_msg(&err));
	error_clear(&err);
	free(id);
	docker_close(d);
}

struct worker {
	struct docker *d;
	int ok;
	char first_error[256];
};

static void *list_containers(void *p)
{
	struct worker *w = p;
	for (int i = 0; i < 50; i++) {
		struct error err = ERROR_INIT;
		json_t *resp = NULL;
		long status = 0;
		if (docker_request(w->d, "GET", "/containers/json?all=1", NULL, &resp, &status,
				   &err) == 0 &&
		    json_is_array(resp))
			w->ok++;
		else if (!w->first_error[0])
			snprintf(w->first_error, sizeof(w->first_error), "%s", error_msg(&err));
		json_decref(resp);
		error_clear(&err);
	}
	return NULL;
}

Test(docker_api, many_threads_at_once)
{
	struct docker *d = open_local();
	struct worker w[8];
	pthread_t t[8];
	double t0 = now_s();
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){.d = d};
		cr_assert_eq(pthread_create(&t[i], NULL, list_containers, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	double took = now_s() - t0;
	for (int i = 0; i < 8; i++)
		cr_assert_eq(w[i].ok, 50, "thread %d: %d ok, first error: %s", i, w[i].ok,
			     w[i].first_error);

	/* One thread, connection reused: how long one list takes. */
	json_t *resp = NULL;
	request_ok(d, "GET", "/containers/json?all=1", NULL, &resp);
	json_decref(resp);
	double t1 = now_s();
	for (int i = 0; i < 20; i++) {
		request_ok(d, "GET", "/containers/json?all=1", NULL, &resp);
		json_decref(resp);
	}
	cr_log_info("8 threads x 50 GET /containers/json: %.0f ms; one call: %.2f ms", took * 1000,
		    (now_s() - t1) * 1000 / 20);
	docker_close(d);
}

static void frame(struct strbuf *sb, int stream, const char *payload)
{
	size_t n = strlen(payload);
	unsigned char h[8] = {(unsigned char)stream,
			      0,
			      0,
			      0,
			      (unsigned char)(n >> 24),
			      (unsigned char)(n >> 16),
			      (unsigned char)(n >> 8),
			      (unsigned char)n};
	strbuf_add(sb, h, sizeof(h));
	strbuf_add(sb, payload, n);
}

static void feed_all(struct collected *c, const char *data, size_t len)
{
	cr_assert_eq(docker_demux_feed(&c->dm, data, len, collect_frame, c), 0);
}

Test(docker_demux, every_split_point)
{
	struct strbuf in = STRBUF_INIT;
	frame(&in, 1, "hello ");
	frame(&in, 2, "oops\n");
	frame(&in, 1, "");
	frame(&in, 1, "world\n");
	frame(&in, 2, "second error\n");
	for (size_t a = 0; a <= in.len; a++) {
		for (size_t b = a; b <= in.len; b++) {
			struct collected c = {0};
			feed_all(&c, in.buf, a);
			feed_all(&c, in.buf + a, b - a);
			feed_all(&c, in.buf + b, in.len - b);
			cr_assert_str_eq(strbuf_cstr(&c.out[1]), "hello world\n",
					 "split at %zu,%zu", a, b);
			cr_assert_str_eq(strbuf_cstr(&c.out[2]), "oops\nsecond error\n",
					 "split at %zu,%zu", a, b);
			cr_assert_eq(c.dm.have + c.dm.remaining, 0);
			collected_release(&c);
		}
	}
	struct collected bytes = {0};
	for (size_t i = 0; i < in.len; i++)
		feed_all(&bytes, in.buf + i, 1);
	cr_assert_str_eq(strbuf_cstr(&bytes.out[1]), "hello world\n");
	cr_assert_str_eq(strbuf_cstr(&bytes.out[2]), "oops\nsecond error\n");
	collected_release(&bytes);
	strbuf_release(&in);
}

Test(docker_demux, large_frame_length_is_big_endian)
{
	struct strbuf in = STRBUF_INIT;
	char *big = malloc(70001);
	memset(big, 'x', 70000);
	big[70000] = '\0';
	frame(&in, 1, big);
	frame(&in, 2, "e");
	struct collected c = {0};
	for (size_t i = 0; i < in.len; i += 999)
		feed_all(&c, in.buf + i, in.len - i < 999 ? in.len - i : 999);
	cr_assert_eq(c.out[1].len, 70000);
	cr_assert_str_eq(strbuf_cstr(&c.out[2]), "e");
	collected_release(&c);
	strbuf_release(&in);
	free(big);
}

Test(docker_demux, tty_stream_passes_through_as_stdout)
{
	const char *raw = "plain text from a container with a TTY\r\n";
	for (size_t a = 0; a <= strlen(raw); a++) {
		struct collected c = {0};
		feed_all(&c, raw, a);
		feed_all(&c, raw + a, strlen(raw) - a);
		cr_assert_str_eq(strbuf_cstr(&c.out[1]), raw);
		cr_assert_eq(c.out[2].len, 0);
		collected_release(&c);
	}
}

static int stop_on_stderr(void *ctx, int stream, const char *data, size_t len)
{
	return stream == 2 ? 5 : collect_frame(ctx, stream, data, len);
}

Test(docker_demux, callback_return_stops)
{
	struct strbuf in = STRBUF_INIT;
	frame(&in, 1, "a");
	frame(&in, 2, "b");
	frame(&in, 1, "c");
	struct collected c = {0};
	cr_assert_eq(docker_demux_feed(&c.dm, in.buf, in.len, stop_on_stderr, &c), 5);
	cr_assert_str_eq(strbuf_cstr(&c.out[1]), "a");
	collected_release(&c);
	strbuf_release(&in);
}

static pid_t daemon_pid;
static int daemon_port;
static const char *skip_reason;

static void tls_cert(const char *name, const char *ca, const char *usage)
{
	char key[128], csr[128], pem[128], ext[128], cakey[128], capem[128], subj[64];
	path_in(key, sizeof(key), name);
	strcat(key, ".key");
	path_in(csr, sizeof(csr), name);
	strcat(csr, ".csr");
	path_in(pem, sizeof(pem), name);
	strcat(pem, ".pem");
	path_in(ext, sizeof(ext), name);
	strcat(ext, ".ext");
	path_in(cakey, sizeof(cakey), ca);
	strcat(cakey, ".key");
	path_in(capem, sizeof(capem), ca);
	strcat(capem, ".pem");
	snprintf(subj, sizeof(subj), "/CN=%s",
		 strcmp(usage, "serverAuth") == 0 ? "localhost" : name);
	char exttext[256];
	snprintf(exttext, sizeof(exttext), "extendedKeyUsage=%s\n%s", usage,
		 strcmp(usage, "serverAuth") == 0 ? "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
						  : "");
	write_file(ext, exttext);
	run((const char *[]){"openssl", "req", "-newkey", "ec", "-pkeyopt",
			     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
			     "-subj", subj, NULL});
	run((const char *[]){"openssl", "x509", "-req", "-in", csr, "-CA", capem, "-CAkey", cakey,
			     "-set_serial", "2", "-days", "1", "-extfile", ext, "-out", pem, NULL});
}

static void tls_ca(const char *name)
{
	char key[128], pem[128], subj[64];
	path_in(key, sizeof(key), name);
	strcat(key, ".key");
	path_in(pem, sizeof(pem), name);
	strcat(pem, ".pem");
	snprintf(subj, sizeof(subj), "/CN=cairn test %s", name);
	run((const char *[]){"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", pem,
			     "-days", "1", "-subj", subj, NULL});
}

static void tls_setup(void)
{
	make_dir();
	skip_reason = NULL;
	if (!on_path("socat")) {
		skip_reason = "socat is not installed (tools/setup installs it)";
		return;
	}
	tls_ca("ca");
	tls_cert("server", "ca", "serverAuth");
	tls_cert("client", "ca", "clientAuth");
	tls_ca("rogue");
	tls_cert("intruder", "rogue", "clientAuth");

	char listen[512], log[128];
	daemon_port = free_port();
	snprintf(
	    listen, sizeof(listen),
	    "OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert=%s/server.pem,key=%s/server.key,"
	    "cafile=%s/ca.pem,verify=1",
	    daemon_port, dir, dir, dir);
	path_in(log, sizeof(log), "socat.log");
	daemon_pid = spawn(
	    (const char *[]){"socat", listen, "UNIX-CONNECT:/var/run/docker.sock", NULL}, log);
	wait_port(daemon_port, daemon_pid, log);
}

static void tls_teardown(void)
{
	stop_daemon(&daemon_pid);
	remove_dir();
}

TestSuite(docker_tls, .init = tls_setup, .fini = tls_teardown, .timeout = 60);

static int open_tls(struct docker **d, const char *ca, const char *cert, struct error *err)
{
	char endpoint[64], cafile[128], certfile[128], keyfile[128];
	snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", daemon_port);
	snprintf(cafile, sizeof(cafile), "%s/%s.pem", dir, ca);
	snprintf(certfile, sizeof(certfile), "%s/%s.pem", dir, cert);
	snprintf(keyfile, sizeof(keyfile), "%s/%s.key", dir, cert);
	struct docker_options opts = {.endpoint = endpoint,
				      .tls_ca = cafile,
				      .tls_cert = certfile,
				      .tls_key = keyfile,
				      .timeout_ms = 10000};
	return docker_open(d, &opts, err);
}

Test(docker_tls, client_certificate_opens_and_lists)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(open_tls(&d, "ca", "client", &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(docker_api_version(d), "1.41");
	json_t *resp = NULL;
	for (int i = 0; i < 3; i++) {
		request_ok(d, "GET", "/containers/json?all=1", NULL, &resp);
		cr_assert(json_is_array(resp));
		json_decref(resp);
	}
	docker_close(d);
}

Test(docker_tls, untrusted_client_certificate_is_a_tls_error)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(open_tls(&d, "ca", "intruder", &err), -1);
	const char *msg = error_msg(&err);
	cr_assert(strstr(msg, "TLS"), "%s", msg);
	cr_assert(strstr(msg, "client certificate"), "%s", msg);
	cr_assert(strstr(msg, "/intruder.pem"), "names the certificate: %s", msg);
	cr_assert(strstr(msg, "/intruder.key"), "names the key: %s", msg);
	error_clear(&err);
}

Test(docker_tls, server_not_signed_by_tls_ca)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(open_tls(&d, "rogue", "client", &err), -1);
	const char *msg = error_msg(&err);
	cr_assert(strstr(msg, "TLS: the engine's certificate is not trusted by tls_ca"), "%s", msg);
	cr_assert(strstr(msg, "/rogue.pem"), "%s", msg);
	error_clear(&err);
}

Test(docker_tls, plain_http_to_a_tls_port_suggests_tls)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", daemon_port);
	struct docker_options opts = {.endpoint = endpoint, .timeout_ms = 10000};
	cr_assert_eq(docker_open(&d, &opts, &err), -1);
	const char *msg = error_msg(&err);
	cr_assert(strstr(msg, endpoint), "%s", msg);
	cr_assert(strstr(msg, "if it expects TLS, give tls_ca, tls_cert and tls_key"), "%s", msg);
	error_clear(&err);
}

Test(docker_tls, missing_certificate_file_named)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(open_tls(&d, "ca", "nobody", &err), -1);
	char expected[300];
	snprintf(
	    expected, sizeof(expected),
	    "docker endpoint tcp://127.0.0.1:%d: tls_cert %s/nobody.pem: No such file or directory",
	    daemon_port, dir);
	cr_assert_str_eq(error_msg(&err), expected);
	error_clear(&err);
}

static char ssh_user[64];

static char *key_line(const char *pub)
{
	char path[128];
	path_in(path, sizeof(path), pub);
	char *line = read_line(path);
	/* "type base64 comment": known_hosts wants the first two */
	char *sp = strchr(line, ' ');
	if (sp && (sp = strchr(sp + 1, ' ')))
		*sp = '\0';
	return line;
}

static void ssh_setup(void)
{
	make_dir();
	skip_reason = NULL;
	if (access("/usr/sbin/sshd", X_OK) < 0) {
		skip_reason =
		    "/usr/sbin/sshd is not installed (tools/setup installs openssh-server)";
		return;
	}
	struct passwd *pw = getpwuid(getuid());
	cr_assert_not_null(pw);
	snprintf(ssh_user, sizeof(ssh_user), "%s", pw->pw_name);
	if (geteuid() == 0)
		mkdir("/run/sshd", 0755); /* sshd's privilege separation directory */

	const char *keys[] = {"host_key", "client_key", "other_key"};
	for (size_t i = 0; i < 3; i++) {
		char path[128];
		path_in(path, sizeof(path), keys[i]);
		run((const char *[]){"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", keys[i],
				     "-f", path, NULL});
	}
	daemon_port = free_port();

	char path[128], text[2048];
	char *client = key_line("client_key.pub"), *host = key_line("host_key.pub"),
	     *other = key_line("other_key.pub");
	path_in(path, sizeof(path), "authorized_keys");
	snprintf(text, sizeof(text), "%s\n", client);
	write_file(path, text);
	path_in(path, sizeof(path), "known_hosts");
	snprintf(text, sizeof(text), "[127.0.0.1]:%d %s\n", daemon_port, host);
	write_file(path, text);
	path_in(path, sizeof(path), "wrong_known_hosts");
	snprintf(text, sizeof(text), "[127.0.0.1]:%d %s\n", daemon_port, other);
	write_file(path, text);
	path_in(path, sizeof(path), "empty_known_hosts");
	write_file(path, "");
	free(client);
	free(host);
	free(other);

	char config[128], log[128];
	path_in(config, sizeof(config), "sshd_config");
	snprintf(text, sizeof(text),
		 "Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\n"
		 "AuthorizedKeysFile %s/authorized_keys\nPidFile %s/sshd.pid\n"
		 "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
		 "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n"
		 "AllowStreamLocalForwarding yes\n",
		 daemon_port, dir, dir, dir);
	write_file(config, text);
	path_in(log, sizeof(log), "sshd.log");
	daemon_pid = spawn((const char *[]){"/usr/sbin/sshd", "-D", "-e", "-f", config, NULL}, log);
	wait_port(daemon_port, daemon_pid, log);
}

static void ssh_teardown(void)
{
	stop_daemon(&daemon_pid);
	remove_dir();
}

TestSuite(docker_ssh, .init = ssh_setup, .fini = ssh_teardown, .timeout = 60);

static int open_ssh(struct docker **d, const char *known_hosts, struct error *err)
{
	char endpoint[128], identity[128], known[128];
	snprintf(endpoint, sizeof(endpoint), "ssh://%s@127.0.0.1:%d", ssh_user, daemon_port);
	path_in(identity, sizeof(identity), "client_key");
	path_in(known, sizeof(known), known_hosts);
	struct docker_options opts = {.endpoint = endpoint,
				      .ssh_identity = identity,
				      .ssh_known_hosts = known,
				      .timeout_ms = 5000};
	return docker_open(d, &opts, err);
}

/* Tunnels left behind: private directories and ssh clients forwarding to this sshd. */
static size_t tunnel_dirs(void)
{
	glob_t g;
	size_t n = glob("/tmp/cairn-docker-ssh-*", 0, NULL, &g) == 0 ? g.gl_pathc : 0;
	globfree(&g);
	return n;
}

static int ssh_clients(void)
{
	char port[16];
	int count = 0;
	snprintf(port, sizeof(port), "%d", daemon_port);
	DIR *proc = opendir("/proc");
	struct dirent *e;
	while (proc && (e = readdir(proc))) {
		char path[300], buf[4096];
		if (atoi(e->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		if (strcmp(buf, "ssh") != 0)
			continue;
		bool after_p = false;
		for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
			if (after_p && strcmp(buf + i, port) == 0)
				count++;
			after_p = strcmp(buf + i, "-p") == 0;
		}
	}
	if (proc)
		closedir(proc);
	return count;
}

Test(docker_ssh, opens_negotiates_and_lists)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	size_t dirs = tunnel_dirs();
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(open_ssh(&d, "known_hosts", &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(docker_api_version(d), "1.41");
	cr_assert_eq(ssh_clients(), 1);
	cr_assert_eq(tunnel_dirs(), dirs + 1);
	json_t *resp = NULL;
	for (int i = 0; i < 5; i++) {
		request_ok(d, "GET", "/containers/json?all=1", NULL, &resp);
		cr_assert(json_is_array(resp));
		json_decref(resp);
	}
	docker_close(d);
	cr_assert_eq(ssh_clients(), 0, "docker_close ends ssh");
	cr_assert_eq(tunnel_dirs(), dirs, "docker_close removes the tunnel's directory");
}

Test(docker_ssh, wrong_host_key_refused)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	size_t dirs = tunnel_dirs();
	const char *files[] = {"wrong_known_hosts", "empty_known_hosts"};
	for (size_t i = 0; i < 2; i++) {
		struct docker *d = NULL;
		struct error err = ERROR_INIT;
		cr_assert_eq(open_ssh(&d, files[i], &err), -1, "%s accepted", files[i]);
		const char *msg = error_msg(&err);
		cr_assert(strstr(msg, "host key verification failed"), "%s: %s", files[i], msg);
		cr_assert(strstr(msg, files[i]), "names the known_hosts file: %s", msg);
		error_clear(&err);
	}
	cr_assert_eq(ssh_clients(), 0);
	cr_assert_eq(tunnel_dirs(), dirs);
}

Test(docker_ssh, no_sshd_gives_ssh_message)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	stop_daemon(&daemon_pid);
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(open_ssh(&d, "known_hosts", &err), -1);
	const char *msg = error_msg(&err);
	cr_assert(strstr(msg, "ssh to ssh://"), "%s", msg);
	cr_assert(strstr(msg, "(exit status 255)"), "%s", msg);
	cr_assert(strstr(msg, "Connection refused"), "carries ssh's own words: %s", msg);
	error_clear(&err);
}

Test(docker_ssh, stopped_tunnel_is_reported)
{
	if (skip_reason)
		cr_skip_test("%s", skip_reason);
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	cr_assert_eq(open_ssh(&d, "known_hosts", &err), 0, "%s", error_msg(&err));
	stop_daemon(&daemon_pid); /* the listener and the session: ssh loses its connection */
	for (int i = 0; i < 200 && ssh_clients() > 0; i++)
		usleep(10000);
	long status = -1;
	json_t *resp = NULL;
	cr_assert_eq(docker_request(d, "GET", "/containers/json", NULL, &resp, &status, &err), -1);
	cr_assert_eq(status, 0);
	const char *msg = error_msg(&err);
	cr_assert(strstr(msg, "GET /containers/json: docker engine at ssh://"), "%s", msg);
	cr_assert(strstr(msg, "the ssh tunnel stopped"), "%s", msg);
	cr_assert(docker_failure_transient(status, &err));
	error_clear(&err);
	docker_close(d);
}
