/* The docker params and cluster config checks run before anything is
 * stored: known keys with a hint, constant values, secrets only in env. */
#include "engine/drivers/docker/docker_params.h"

#include "../driver_params.h"

#include <criterion/criterion.h>
#include <string.h>

static struct diags check(const char *yaml)
{
	return check_tables(yaml, &docker_params, &docker_cluster_config);
}

static void expect(const char *yaml, const char *want)
{
	expect_refused(yaml, &docker_params, &docker_cluster_config, want);
}

#define SERVICE(params) \
	"- kind: service\n  metadata: {namespace: main, name: s}\n  components:\n" \
	"    - name: web\n      code:\n        type: docker\n        params:\n" params

Test(docker_params, good_params_pass)
{
	struct diags d = check(SERVICE(
		"          image: cairn/demo:1\n          command: [httpd, -f]\n"
		"          env: {SECRET: '{{ .User.Secrets.key }}', PORT: 8080}\n"
		"          ports: [8080, {port: 9090, publish: true}, {port: '{{ .Labels.p }}', publish: 9091}]\n"
		"          volumes: [{name: data, path: /data}, {bind: /srv, path: /srv, read_only: true}]\n"
		"          health: {command: 'wget -q http://127.0.0.1:8080/', interval: 2s, retries: 3}\n"
		"          init: false\n          restart: always\n          memory: 128m\n          cpus: 0.25\n"
		"          cluster: '{{ .Labels.cluster }}'\n          labels: {team: web}\n"));
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
}

Test(docker_params, unknown_key_has_a_hint_and_position)
{
	expect(SERVICE("          imgae: cairn/demo:1\n"),
	       "p.yaml:8:18: service main/s: component 'web': params: unknown docker key 'imgae' (did you mean 'image'?)");
	expect(SERVICE("          image: x\n          ports: [{port: 80, pubish: true}]\n"),
	       "unknown port key 'pubish' (did you mean 'publish'?)");
}

Test(docker_params, constants_are_checked)
{
	expect(SERVICE("          command: [x]\n"), "missing 'image'");
	expect(SERVICE("          image: x\n          memory: lots\n"), "memory must be a size such as 256m or 1g, not 'lots'");
	expect(SERVICE("          image: x\n          ports: [99999]\n"), "ports[0] must be a port number (1-65535) or {port, publish, protocol}, not '99999'");
	expect(SERVICE("          image: x\n          restart: sometimes\n"), "restart must be no, always");
	expect(SERVICE("          image: x\n          volumes: [{name: d, bind: /x, path: /d}]\n"), "volumes[0] needs exactly one of 'name'");
	expect(SERVICE("          image: x\n          health: {interval: 1s}\n"), "health needs 'command'");
	expect(SERVICE("          image: x\n          env: {1BAD: x}\n"), "env name '1BAD' is not a variable name");
	expect(SERVICE("          image: x\n          labels: {cairn.instance: x}\n"), "labels name 'cairn.instance' is one of cairn.*, which cairn sets itself");
	expect(SERVICE("          image: x\n          host: Shop_PR.example.com\n"),
	       "host must be a lower-case host name such as shop-pr-12.example.com, not 'Shop_PR.example.com'");
	expect(SERVICE("          image: x\n          host: -a.example.com\n"), "host must be a lower-case host name");
	expect(SERVICE("          image: x\n          data: {dataset: main/shop}\n"), "image and data exclude each other");
	expect(SERVICE("          data: {dataset: shop}\n"), "data.dataset must be NAMESPACE/NAME, not 'shop'");
	expect(SERVICE("          data: {datset: main/shop}\n"), "unknown data key 'datset' (did you mean 'dataset'?)");
	expect(SERVICE("          data: main/shop\n"), "data must be {dataset: NAMESPACE/NAME}, not a scalar");
}

Test(docker_params, data_instead_of_an_image)
{
	struct diags d = check(SERVICE("          data: {dataset: '{{ .Labels.ns }}/shop-demo'}\n"));
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
}

Test(docker_params, backup_names_a_database_or_one_of_its_volumes)
{
	struct diags d = check(SERVICE(
		"          image: x\n          volumes: [{name: media, path: /srv/media}]\n"
		"          backup: {postgres: {database: shop, user: '{{ .Labels.user }}'}, volume: media}\n"));
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
	expect(SERVICE("          image: x\n          backup: {volume: media}\n"),
	       "backup.volume 'media' is not one of its volumes");
	expect(SERVICE("          image: x\n          volumes: [{name: data, path: /d}]\n"
		       "          backup: {volume: media}\n"),
	       "backup.volume 'media' is not one of its volumes");
	expect(SERVICE("          image: x\n          backup: {postgres: {database: shop}}\n"),
	       "backup.postgres needs 'user'");
	expect(SERVICE("          image: x\n          backup: {}\n"), "backup needs 'postgres'");
	expect(SERVICE("          image: x\n          backup: {postgress: {}}\n"),
	       "unknown backup key 'postgress' (did you mean 'postgres'?)");
	expect(SERVICE("          image: x\n          backup: media\n"), "backup must be {postgres: {database: D, user: U}} or {volume: NAME}, not a scalar");
}

Test(docker_params, secrets_only_in_env)
{
	expect(SERVICE("          image: x\n          command: ['--token={{ .User.Secrets.token }}']\n"),
	       "command reads .User.Secrets: secrets may only be used in env");
	expect(SERVICE("          image: x\n          labels: {t: '{{ .User.Secrets.token }}'}\n"),
	       "labels reads .User.Secrets");
}

Test(docker_params, cluster_config)
{
	struct diags d = check("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
			       "  config: {endpoint: 'tcp://h:2376', tls: {ca: a, cert: b, key: c}, domain: example.test}\n");
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
	expect("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
	       "  config: {endpont: 'unix:///var/run/docker.sock'}\n",
	       "cluster system/c: config: unknown docker cluster config key 'endpont' (did you mean 'endpoint'?)");
	expect("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
	       "  config: {endpoint: 'http://h'}\n",
	       "endpoint must be unix:///path, tcp://host:port or ssh://[user@]host[:port]");
	expect("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
	       "  config: {tls: {ca: a}}\n", "tls needs 'cert'");
	expect("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
	       "  config: {nginx: {file: routes.conf}}\n", "nginx.file must be an absolute path");
	expect("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
	       "  config: {nginx: {conf: /etc/nginx/nginx.conf}}\n", "nginx needs 'file' (the absolute path");
	expect("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
	       "  config: {nginx: {file: /etc/nginx/cairn.conf, prot: 80}}\n", "unknown nginx key 'prot' (did you mean 'port'?)");
	expect("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
	       "  config: {nginx: {file: /etc/nginx/cairn.conf, port: http}}\n", "nginx.port must be a port number, not 'http'");
}

Test(docker_params, restart_policies)
{
	cr_assert(docker_restart_valid("on-failure:3"));
	cr_assert_not(docker_restart_valid("on-failure:"));
}

/* The driver reads a cluster's config through the same table, once. */
static void settings_of(const char *yaml, struct docker_settings *s, struct policy **p)
{
	struct diags d = DIAGS_INIT;
	*p = policy_new(intern_new());
	cr_assert_eq(policy_add_yaml(*p, "p.yaml", yaml, strlen(yaml), 0, &d), 0, "%s", d.len ? d.items[0] : "");
	docker_settings_read(s, ((const struct cluster *)(*p)->objects[0])->config);
}

static void settings_done(struct docker_settings *s, struct policy *p)
{
	struct intern *in = p->intern;
	docker_settings_release(s);
	policy_free(p);
	intern_free(in);
}

Test(docker_params, cluster_settings)
{
	struct docker_settings s;
	struct policy *p;
	settings_of("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n"
		    "  config: {endpoint: 'ssh://ops@h1:22', ssh: {known_hosts: /k}, domain: '12',\n"
		    "           nginx: {file: /etc/nginx/cairn.conf, port: 8080}}\n", &s, &p);
	cr_expect_str_eq(s.api.endpoint, "ssh://ops@h1:22");
	cr_expect_str_eq(s.api.ssh_known_hosts, "/k");
	cr_expect_null(s.api.ssh_identity);
	cr_expect_str_eq(s.address, "h1", "the endpoint's host");
	cr_expect_str_eq(s.domain, "12");
	cr_expect(s.routed);
	cr_expect_str_eq(s.nginx_file, "/etc/nginx/cairn.conf");
	cr_expect_str_eq(s.nginx_conf, "/etc/nginx/nginx.conf", "the default");
	cr_expect_str_eq(s.nginx_binary, "nginx");
	cr_expect_eq(s.nginx_port, 8080);
	settings_done(&s, p);

	settings_of("- kind: cluster\n  metadata: {namespace: system, name: c}\n  type: docker\n  config: {}\n",
		    &s, &p);
	cr_expect_null(s.api.endpoint, "the local engine");
	cr_expect_str_eq(s.address, "127.0.0.1");
	cr_expect_str_eq(s.domain, "localhost");
	cr_expect_not(s.routed);
	settings_done(&s, p);
}
