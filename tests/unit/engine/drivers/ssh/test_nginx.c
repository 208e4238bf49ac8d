/* The nginx configuration cairn writes on a host: what routes where, the
 * canary weights, previews, and names that cannot clash or inject. */
#include "engine/drivers/ssh/ssh_nginx.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static const char *file(const struct nginx_files *f, const char *path)
{
	for (size_t i = 0; i < f->len; i++)
		if (strcmp(f->path[i], path) == 0)
			return f->text[i];
	return NULL;
}

Test(nginx, blue_green_routes_the_live_release)
{
	struct nginx_backend b[] = { { .rid = "aaaaaaaaaaaa", .listen = "unix:/srv/cairn/run/web-1/aaaaaaaaaaaa.sock", .weight = 100 } };
	struct nginx_files f;
	ssh_nginx_files(&f, "/srv/cairn", "web-1", "web.test", "/", b, 1);
	cr_assert_eq(f.len, 4);
	const char *up = file(&f, "up/web-1.conf");
	cr_assert(up && strstr(up, "upstream cairn_web_1 {\n\tserver unix:/srv/cairn/run/web-1/aaaaaaaaaaaa.sock weight=100"), "%s", up);
	cr_assert(strstr(up, "upstream cairn_web_1_aaaaaaaa {"), "%s", up);
	const char *srv = file(&f, "srv/web.test.conf");
	cr_assert(srv && strstr(srv, "server_name web.test;") && strstr(srv, "include /srv/cairn/nginx/loc/web.test/*.conf;"), "%s", srv);
	const char *loc = file(&f, "loc/web.test/web-1.conf");
	cr_assert(loc && strstr(loc, "location / {") && strstr(loc, "proxy_pass http://cairn_web_1;"), "%s", loc);
	const char *pre = file(&f, "srv/preview-web-1.conf");
	cr_assert(pre && strstr(pre, "server_name aaaaaaaa.web.test;") && strstr(pre, "proxy_pass http://cairn_web_1_aaaaaaaa;"), "%s", pre);
	nginx_files_release(&f);
}

Test(nginx, canary_weights_and_prefix_stripped)
{
	struct nginx_backend b[] = {
		{ .rid = "aaaaaaaaaaaa", .listen = "127.0.0.1:8080", .weight = 90 },
		{ .rid = "bbbbbbbbbbbb", .listen = "127.0.0.1:8081", .weight = 10 },
	};
	struct nginx_files f;
	ssh_nginx_files(&f, "/srv/cairn", "web-2", "staging.test", "/feature-x/", b, 2);
	const char *up = file(&f, "up/web-2.conf");
	cr_assert(strstr(up, "server 127.0.0.1:8080 weight=90") && strstr(up, "server 127.0.0.1:8081 weight=10"), "%s", up);
	const char *loc = file(&f, "loc/staging.test/web-2.conf");
	cr_assert(strstr(loc, "location /feature-x/ {") && strstr(loc, "proxy_pass http://cairn_web_2/;"), "%s", loc);
	cr_assert(strstr(file(&f, "srv/preview-web-2.conf"), "server_name bbbbbbbb.staging.test;"));
	nginx_files_release(&f);
}

Test(nginx, preview_only_backend_takes_no_traffic)
{
	struct nginx_backend b[] = {
		{ .rid = "aaaaaaaaaaaa", .listen = "unix:/a.sock", .weight = 100 },
		{ .rid = "cccccccccccc", .listen = "unix:/c.sock", .weight = 0 },
	};
	struct nginx_files f;
	ssh_nginx_files(&f, "/r", "w", "h.test", "/", b, 2);
	const char *up = file(&f, "up/w.conf");
	cr_assert(strstr(up, "upstream cairn_w {\n\tserver unix:/a.sock weight=100 max_fails=0;\n\tkeepalive 16;\n}"), "%s", up);
	cr_assert(strstr(up, "upstream cairn_w_cccccccc {"), "%s", up);
	nginx_files_release(&f);
}

Test(nginx, instance_names_are_safe_and_distinct)
{
	char *a = ssh_instance_name("hosts#main#web#branch#Feature/X;evil#app");
	char *b = ssh_instance_name("hosts#main#web#branch#feature-x-evil#app");
	cr_assert_str_neq(a, b);
	for (const char *c = a; *c; c++)
		cr_assert(strchr("abcdefghijklmnopqrstuvwxyz0123456789-", *c), "%s", a);
	cr_assert(strncmp(a, "main-web-branch-feature-x-evil-app-", 35) == 0, "%s", a);
	free(a);
	free(b);
	cr_assert(ssh_route_host_ok("web.example.org"));
	cr_assert(!ssh_route_host_ok("web.test; include /etc"));
	cr_assert(ssh_route_prefix_ok("/feature-x/"));
	cr_assert(!ssh_route_prefix_ok("/x/ { return 200; }/"));
	cr_assert(!ssh_route_prefix_ok("/x"));
}
