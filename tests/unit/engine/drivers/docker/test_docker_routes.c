/* nginx server blocks for exposed containers: which containers get one,
 * to which published port, and in a stable order (an unchanged set of
 * containers must give the same text, so no reload happens). */
#include "engine/drivers/docker/docker_routes.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *containers =
	"[{\"State\":\"running\",\"Labels\":{\"cairn.instance\":\"c#b\",\"cairn.host\":\"b.test\","
	"\"cairn.route.port\":\"8080\"},\"Ports\":[{\"PrivatePort\":9000,\"PublicPort\":40001},"
	"{\"PrivatePort\":8080,\"PublicPort\":40002}]},"
	"{\"State\":\"running\",\"Labels\":{\"cairn.instance\":\"c#a\",\"cairn.host\":\"a.test\","
	"\"cairn.route.port\":\"8080\"},\"Ports\":[{\"PrivatePort\":8080,\"PublicPort\":40003}]},"
	"{\"State\":\"exited\",\"Labels\":{\"cairn.instance\":\"c#x\",\"cairn.host\":\"x.test\","
	"\"cairn.route.port\":\"8080\"},\"Ports\":[]},"
	"{\"State\":\"running\",\"Labels\":{\"cairn.instance\":\"c#y\"},\"Ports\":[]}]";

Test(docker_routes, one_server_block_per_running_exposed_container)
{
	json_t *list = json_loads(containers, 0, NULL);
	char *text = docker_routes_render(list, "localhost", 8088);
	const char *a = strstr(text, "server_name a.test;"), *b = strstr(text, "server_name b.test;");
	cr_assert(a && b && a < b, "sorted by host name:\n%s", text);
	cr_assert(strstr(text, "proxy_pass http://127.0.0.1:40003;"), "%s", text);
	cr_assert(strstr(text, "proxy_pass http://127.0.0.1:40002;"), "the routed port, not the first one:\n%s", text);
	cr_assert_null(strstr(text, "40001"));
	cr_assert_null(strstr(text, "x.test"), "a stopped container is not routed");
	cr_assert(strstr(text, "listen 8088;"));
	char *again = docker_routes_render(list, "localhost", 8088);
	cr_assert_str_eq(text, again);
	free(again);
	free(text);
	json_decref(list);
}

Test(docker_routes, install_keeps_the_old_file_when_nginx_refuses)
{
	char dir[] = "/tmp/cairn-routes-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char file[128], conf[128];
	snprintf(file, sizeof(file), "%s/routes.conf", dir);
	snprintf(conf, sizeof(conf), "%s/missing.conf", dir);
	FILE *f = fopen(file, "w");
	fputs("# old\n", f);
	fclose(f);
	struct docker_routes r = { .file = file, .conf = conf, .binary = "nginx", .port = 80 };
	struct error err = ERROR_INIT;
	cr_assert_eq(docker_routes_install(&r, "# new\n", &err), -1);
	cr_assert(strstr(error_msg(&err), "checking the routes"), "%s", error_msg(&err));
	cr_assert(docker_routes_current(&r, "# old\n"), "the previous routes stay");
	error_clear(&err);
	r.binary = "/nonexistent/nginx";
	cr_assert_eq(docker_routes_install(&r, "# new\n", &err), -1);
	cr_assert(strstr(error_msg(&err), "cannot run /nonexistent/nginx"), "%s", error_msg(&err));
	cr_assert(docker_routes_current(&r, "# old\n"));
	error_clear(&err);
	unlink(file);
	rmdir(dir);
}
