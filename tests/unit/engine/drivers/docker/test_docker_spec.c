/* From rendered docker params to the container create body: what the engine
 * is asked for, the hash that tells a later apply whether it changed, and
 * the errors for values that are wrong once rendered. */
#include "engine/drivers/docker/docker_spec.h"
#include "policy/template.h"

#include <criterion/criterion.h>
#include <string.h>

static const char *const nets[] = { "cairn-c-main-s-ctx-root", "cairn-c-main-kafka-ctx-root" };

static const struct docker_target target = {
	.key = "c#main#s#ctx#app",
	.cluster = "c",
	.name = "cairn-c-main-s-ctx-app",
	.alias = "main-s-ctx-app",
	.host = "main-s-ctx-app.localhost",
	.router = "cairn-c-main-s-ctx-app",
	.networks = nets,
	.nnetworks = 2,
	.level = 3,
};

static json_t *label(const struct docker_spec *s, const char *k)
{
	return json_object_get(json_object_get(s->body, "Labels"), k);
}

Test(docker_spec, full_params_become_the_engine_body)
{
	struct docker_spec s;
	struct error err = ERROR_INIT;
	const char *params =
		"{\"image\":\"cairn/demo:1\",\"command\":\"httpd -f -p 8080\",\"env\":{\"A\":\"x\",\"N\":5},"
		"\"ports\":[9000,{\"port\":\"8080\",\"publish\":true},{\"port\":53,\"protocol\":\"udp\",\"publish\":15353}],"
		"\"volumes\":[{\"name\":\"data\",\"path\":\"/data\"},{\"bind\":\"/srv\",\"path\":\"/srv\",\"read_only\":\"true\"}],"
		"\"labels\":{\"team\":\"web\"},\"health\":{\"command\":[\"wget\",\"-q\",\"http://127.0.0.1:8080/\"],"
		"\"interval\":\"500ms\",\"retries\":3},\"restart\":\"on-failure:4\",\"memory\":\"256m\",\"cpus\":0.5,"
		"\"cluster\":\"c\"}";
	cr_assert_eq(docker_spec_build(&s, params, &target, &err), 0, "%s", error_msg(&err));
	json_t *b = s.body, *h = json_object_get(b, "HostConfig");
	cr_assert_str_eq(json_string_value(json_object_get(b, "Image")), "cairn/demo:1");
	cr_assert_eq(json_array_size(json_object_get(b, "Cmd")), 4);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "Env"), 1)), "N=5");
	cr_assert_not_null(json_object_get(json_object_get(b, "ExposedPorts"), "9000/tcp"));
	cr_assert_null(json_object_get(json_object_get(h, "PortBindings"), "9000/tcp"), "not published unless asked");
	json_t *pb = json_object_get(json_object_get(h, "PortBindings"), "8080/tcp");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(pb, 0), "HostPort")), "",
			 "the engine picks the host port");
	pb = json_object_get(json_object_get(h, "PortBindings"), "53/udp");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(pb, 0), "HostPort")), "15353");
	json_t *m = json_object_get(h, "Mounts");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(m, 0), "Source")),
			 "cairn-c-main-s-ctx-app-data", "named volumes belong to the instance");
	cr_assert(json_is_true(json_object_get(json_array_get(m, 1), "ReadOnly")));
	cr_assert_eq(json_array_size(s.volumes), 1);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(b, "Healthcheck"), "Test"), 0)), "CMD");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(b, "Healthcheck"), "Interval")), 500000000);
	cr_assert(s.health);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(h, "RestartPolicy"), "Name")), "on-failure");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(h, "RestartPolicy"), "MaximumRetryCount")), 4);
	cr_assert_eq(json_integer_value(json_object_get(h, "Memory")), 256 << 20);
	cr_assert_eq(json_integer_value(json_object_get(h, "NanoCpus")), 500000000);
	cr_assert(json_is_true(json_object_get(h, "Init")), "init is on by default");
	cr_assert_str_eq(json_string_value(json_object_get(h, "NetworkMode")), nets[0]);
	/* labels: cairn's, the demo conventions, Traefik with a per-instance router */
	cr_assert_str_eq(json_string_value(label(&s, "cairn.instance")), "c#main#s#ctx#app");
	cr_assert_str_eq(json_string_value(label(&s, "cairn.level")), "3");
	cr_assert_str_eq(json_string_value(label(&s, "cairn.hash")), s.hash);
	cr_assert_str_eq(json_string_value(label(&s, "team")), "web");
	cr_assert_str_eq(json_string_value(label(&s, "run.demo")), "true");
	cr_assert_str_eq(json_string_value(label(&s, "run.demo.url_full")), "http://main-s-ctx-app.localhost/");
	cr_assert_str_eq(json_string_value(label(&s, "traefik.http.routers.cairn-c-main-s-ctx-app.rule")),
			 "Host(`main-s-ctx-app.localhost`)");
	cr_assert(s.exposed);
	docker_spec_release(&s);
}

Test(docker_spec, hash_changes_with_what_runs_not_with_the_generation)
{
	struct docker_spec a, b, c;
	struct error err = ERROR_INIT;
	cr_assert_eq(docker_spec_build(&a, "{\"image\":\"x:1\"}", &target, &err), 0);
	cr_assert_eq(docker_spec_build(&b, "{\"image\":\"x:1\"}", &target, &err), 0);
	cr_assert_eq(docker_spec_build(&c, "{\"image\":\"x:2\"}", &target, &err), 0);
	const char *deps[] = { "main/d1", "main/d2" };
	docker_spec_stamp(&b, 42, deps, 2);
	cr_assert_str_eq(a.hash, b.hash);
	cr_assert_str_neq(a.hash, c.hash);
	cr_assert_str_eq(json_string_value(label(&b, "cairn.generation")), "42");
	cr_assert_str_eq(json_string_value(label(&b, "cairn.dependencies")), "main/d1,main/d2");
	cr_assert_not(a.exposed, "no published port: no url_full, no Traefik router");
	cr_assert_null(label(&a, "run.demo.url_full"));
	cr_assert_null(label(&a, "traefik.enable"));
	struct docker_target other = target;
	other.nnetworks = 1;
	struct docker_spec d;
	cr_assert_eq(docker_spec_build(&d, "{\"image\":\"x:1\"}", &other, &err), 0);
	cr_assert_str_eq(a.hash, d.hash, "other networks are connected in place, not a change");
	docker_spec_release(&a);
	docker_spec_release(&b);
	docker_spec_release(&c);
	docker_spec_release(&d);
}

static void refused(const char *params, const char *want)
{
	struct docker_spec s;
	struct error err = ERROR_INIT;
	cr_assert_eq(docker_spec_build(&s, params, &target, &err), -1, "%s accepted", params);
	cr_assert(strstr(error_msg(&err), want), "%s: got '%s', want '%s'", params, error_msg(&err), want);
	error_clear(&err);
}

Test(docker_spec, rendered_values_are_checked)
{
	refused("{}", "missing 'image'");
	refused("{\"image\":\"x\",\"memory\":\"lots\"}", "memory must be a size such as 256m or 1g, not 'lots'");
	refused("{\"image\":\"x\",\"ports\":[\"http\"]}", "ports[0] must be a port number (1-65535) or {port, publish, protocol}, not 'http'");
	refused("{\"image\":\"x\",\"ports\":[70000]}", "ports[0] must be a port number");
	refused("{\"image\":\"x\",\"init\":\"maybe\"}", "init must be true or false, not 'maybe'");
	refused("{\"image\":\"x\",\"restart\":\"sometimes\"}", "restart must be no, always");
	refused("{\"image\":\"x\",\"cpus\":\"-1\"}", "cpus must be a positive number");
	refused("{\"image\":\"x\",\"cluster\":\"elsewhere\"}", "cluster 'elsewhere' is not the instance's cluster 'c'");
	refused("{\"image\":\"x\",\"volumes\":[{\"name\":\"d\",\"path\":\"rel\"}]}", "path must be an absolute path");
	refused("{\"image\":\"x\",\"health\":{\"command\":\"true\",\"interval\":\"soon\"}}", "interval must be a duration");
	refused("{\"image\":\"x\",\"labels\":{\"cairn.hash\":\"forged\"}}", "cairn.*");
	refused("{\"image\":\"x\",\"bogus\":1}", "unknown docker key 'bogus'");
}

static int fake_prepared(void *ctx, const char *dataset, struct docker_data *out, struct error *err)
{
	(void)ctx;
	if (strcmp(dataset, "main/shop") != 0)
		return error_set(err, "dataset %s has no prepared snapshot", dataset);
	*out = (struct docker_data){ "cairn-data/main.shop:20261206T000000Z",
				     "main.shop.20261206T000000Z", "1.4.2", dataset, "app" };
	return 0;
}

Test(docker_spec, data_runs_the_prepared_image_of_its_snapshot)
{
	struct docker_target t = target;
	t.data_image = fake_prepared;
	struct docker_spec s;
	struct error err = ERROR_INIT;
	cr_assert_eq(docker_spec_build(&s, "{\"data\":{\"dataset\":\"main/shop\"}}", &t, &err), 0,
		     "%s", error_msg(&err));
	cr_assert_str_eq(json_string_value(json_object_get(s.body, "Image")),
			 "cairn-data/main.shop:20261206T000000Z");
	cr_assert_str_eq(s.snapshot, "main.shop.20261206T000000Z");
	cr_assert_str_eq(s.dataset, "main/shop");
	cr_assert_str_eq(json_string_value(label(&s, "cairn.snapshot")), "main.shop.20261206T000000Z");
	cr_assert_str_eq(json_string_value(label(&s, "cairn.snapshot.build")), "1.4.2");
	cr_assert_str_eq(json_string_value(json_object_get(s.body, "StopSignal")), "SIGINT",
			 "a fast shutdown: a demo's database does not wait for its clients");
	docker_spec_release(&s);
	cr_assert_eq(docker_spec_build(&s, "{\"data\":{\"dataset\":\"main/other\"}}", &t, &err), -1);
	cr_assert_str_eq(error_msg(&err), "params: data: dataset main/other has no prepared snapshot");
	error_clear(&err);
	docker_spec_release(&s);
	refused("{\"image\":\"x\",\"data\":{\"dataset\":\"main/shop\"}}", "image and data exclude each other");
	refused("{\"data\":{\"dataset\":\"shop\"}}", "data.dataset must be NAMESPACE/NAME, not 'shop'");
	refused("{\"data\":\"main/shop\"}", "data must be {dataset: NAMESPACE/NAME}");
}

Test(docker_spec, data_markers_become_the_snapshot_build)
{
	static const struct docker_data shop = { "cairn-data/main.shop:20261206T000000Z",
						 "main.shop.20261206T000000Z", "1.4.2", "main/shop",
						 "app" };
	struct docker_target t = target;
	t.component = "app";
	t.data = &shop;
	struct docker_spec s;
	struct error err = ERROR_INIT;
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"shop/app:" TEMPLATE_DATA_BUILD "\",\"env\":{\"DATA\":\""
				       TEMPLATE_DATA_SNAPSHOT " of " TEMPLATE_DATA_DATASET "\"}}", &t, &err), 0,
		     "%s", error_msg(&err));
	cr_assert_str_eq(json_string_value(json_object_get(s.body, "Image")), "shop/app:1.4.2");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(s.body, "Env"), 0)),
			 "DATA=main.shop.20261206T000000Z of main/shop");
	docker_spec_release(&s);
	/* the component the snapshot's build names runs that build */
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"shop/app:1.5.0\"}", &t, &err), -1);
	cr_assert_str_eq(error_msg(&err),
			 "params: image shop/app:1.5.0 is build 1.5.0, but its data (snapshot "
			 "main.shop.20261206T000000Z of dataset main/shop) is build 1.4.2: run tag 1.4.2 "
			 "(image: \"…:{{ .Data.build }}\" does) or prepare a snapshot taken from build 1.5.0");
	error_clear(&err);
	docker_spec_release(&s);
	t.component = "worker"; /* another component runs what it likes */
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"shop/worker:9\"}", &t, &err), 0);
	docker_spec_release(&s);
	t.data = NULL;
	t.data_image = fake_prepared; /* planning, with an engine */
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"shop/app:" TEMPLATE_DATA_BUILD "\"}", &t, &err), -1);
	cr_assert_str_eq(error_msg(&err), "params: {{ .Data.* }} needs a component with data: {dataset: "
					  "NAMESPACE/NAME} in the same service");
	error_clear(&err);
	docker_spec_release(&s);
	t.data_error = "dataset main/shop has no prepared snapshot";
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"shop/app:" TEMPLATE_DATA_BUILD "\"}", &t, &err), -1);
	cr_assert_str_eq(error_msg(&err), "params: .Data: dataset main/shop has no prepared snapshot");
	error_clear(&err);
	docker_spec_release(&s);
	/* a check at policy apply (no engine) puts stand-ins and checks the rest */
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"shop/app:" TEMPLATE_DATA_BUILD "\"}", &target, &err), 0);
	cr_assert_str_eq(json_string_value(json_object_get(s.body, "Image")), "shop/app:check");
	docker_spec_release(&s);
	cr_assert_str_eq(docker_image_tag("registry:5000/shop/app:1.4"), "1.4");
	cr_assert_str_eq(docker_image_tag("registry:5000/shop/app"), "latest");
	cr_assert_str_eq(docker_image_tag("shop/app@sha256:ab"), "sha256:ab");
}

Test(docker_spec, names)
{
	char *n = docker_object_name("c#main#twitter_stats#stage#Alice#tweeviz");
	cr_assert_str_eq(n, "cairn-c-main-twitter_stats-stage-Alice-tweeviz");
	free(n);
	char *l = docker_dns_label("Main--Twitter_Stats#x");
	cr_assert_str_eq(l, "main-twitter-stats-x");
	free(l);
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	l = docker_dns_label(longname);
	cr_assert_eq(strlen(l), 63);
	char *l2;
	longname[0] = 'b';
	l2 = docker_dns_label(longname);
	cr_assert_str_neq(l, l2, "cut names stay unique");
	free(l);
	free(l2);
}

Test(docker_spec, an_exposed_instance_knows_its_routed_url)
{
	struct docker_spec s;
	struct error err = ERROR_INIT;
	struct docker_target t = target;
	t.http_port = 8088;
	const char *params = "{\"image\":\"i\",\"ports\":[{\"port\":8080,\"publish\":true}],"
			     "\"host\":\"shop-pr-12.preview.test\"}";
	cr_assert_eq(docker_spec_build(&s, params, &t, &err), 0, "%s", error_msg(&err));
	cr_assert_str_eq(s.url, "http://shop-pr-12.preview.test:8088/");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(s.body, "Env"), 0)),
			 "CAIRN_URL=http://shop-pr-12.preview.test:8088/");
	cr_assert_str_eq(json_string_value(label(&s, "cairn.host")), "shop-pr-12.preview.test");
	cr_assert_str_eq(json_string_value(label(&s, "cairn.route.port")), "8080");
	cr_assert_str_eq(json_string_value(label(&s, "run.demo.url_full")), "http://shop-pr-12.preview.test:8088/");
	cr_assert_str_eq(json_string_value(label(&s, "traefik.http.routers.cairn-c-main-s-ctx-app.rule")),
			 "Host(`shop-pr-12.preview.test`)");
	docker_spec_release(&s);

	/* Not exposed: no URL to tell, no CAIRN_URL. */
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"i\"}", &t, &err), 0, "%s", error_msg(&err));
	cr_assert_null(s.url);
	cr_assert_null(json_object_get(s.body, "Env"));
	docker_spec_release(&s);

	/* A rendered host that is no host name is refused. */
	cr_assert_eq(docker_spec_build(&s, "{\"image\":\"i\",\"host\":\"Shop_PR.test\"}", &t, &err), -1);
	cr_assert(strstr(error_msg(&err), "host"), "%s", error_msg(&err));
	error_clear(&err);
}

/* The hash decides whether a running container is replaced: the same
 * params must hash the same in every version of cairn, or an upgrade
 * would recreate every container. Pinned from an exposed, published,
 * restarted spec. */
Test(docker_spec, hash_is_the_same_across_versions)
{
	struct docker_spec s;
	struct error err = ERROR_INIT;
	const char *params = "{\"image\":\"cairn/demo:1\",\"env\":{\"A\":\"x\"},\"ports\":[{\"port\":8080,"
			     "\"publish\":true}],\"restart\":\"on-failure:4\"}";
	cr_assert_eq(docker_spec_build(&s, params, &target, &err), 0, "%s", error_msg(&err));
	cr_expect_str_eq(s.hash, "f272bfa67538b5ee758a04638b35ff9ea1f03fc948e58b9596f4ba2efb2eb2d3");
	docker_spec_release(&s);
}
