/* process params and ssh cluster config are refused with their position and
 * a hint before anything is stored; rendered params are checked again. */
#include "engine/drivers/ssh/ssh_spec.h"
#include "engine/drivers/ssh/ssh_params.h"

#include "../driver_params.h"

#include <criterion/criterion.h>
#include <string.h>

static struct diags check(const char *yaml)
{
	return check_tables(yaml, &process_params, &ssh_cluster_config);
}

static void expect(const char *yaml, const char *want)
{
	expect_refused(yaml, &process_params, &ssh_cluster_config, want);
}

#define SERVICE(params) \
	"- kind: service\n  metadata: {namespace: main, name: s}\n  components:\n" \
	"    - name: web\n      code:\n        type: process\n        params:\n" params

#define CLUSTER(config) \
	"- kind: cluster\n  metadata: {namespace: system, name: hosts}\n  type: ssh\n  config:\n" config

Test(process_params, good_params_pass)
{
	struct diags d = check(SERVICE(
		"          artifact: build/app\n          start: exec python3 app.py\n"
		"          env: {SECRET: '{{ .User.Secrets.key }}', WORKERS: 4}\n"
		"          health: {http: /health, timeout: 20s}\n"
		"          update: {canary: 10}\n"
		"          route: {host: web.test, prefix: '/{{ .Labels.branch }}/'}\n"
		"          drain: 2s\n          cluster: '{{ .Labels.cluster }}'\n"));
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
}

Test(process_params, unknown_key_has_a_hint_and_position)
{
	expect(SERVICE("          artifact: a\n          strat: x\n"),
	       "p.yaml:9:18: service main/s: component 'web': params: unknown process key 'strat' (did you mean 'start'?)");
	expect(SERVICE("          artifact: a\n          start: x\n          route: {hots: a.test}\n"),
	       "unknown route key 'hots' (did you mean 'host'?)");
	expect(SERVICE("          artifact: a\n          start: x\n          health: {htp: /}\n"),
	       "unknown health key 'htp' (did you mean 'http'?)");
}

Test(process_params, values_are_checked)
{
	expect(SERVICE("          start: x\n"), "missing 'artifact'");
	expect(SERVICE("          artifact: a\n"), "missing 'start'");
	expect(SERVICE("          artifact: a\n          start: x\n          update: {canary: 120}\n"),
	       "update.canary must be a percentage from 1 to 99, not '120'");
	expect(SERVICE("          artifact: a\n          start: x\n          update: rolling\n"),
	       "update must be blue-green or {canary: PERCENT}");
	expect(SERVICE("          artifact: a\n          start: x\n          route: {prefix: /app}\n"),
	       "route.prefix must be a path that starts and ends with '/'");
	expect(SERVICE("          artifact: a\n          start: x\n          route: {host: 'a b'}\n"),
	       "route.host must be a host name");
	expect(SERVICE("          artifact: a\n          start: x\n          health: {http: /, command: y}\n"),
	       "health needs exactly one of 'http' (a path) or 'command'");
	expect(SERVICE("          artifact: a\n          start: x\n          listen: port\n"),
	       "listen: port needs 'port'");
	expect(SERVICE("          artifact: a\n          start: x\n          env: {PORT: 1}\n"),
	       "env name 'PORT' is set by cairn");
}

Test(process_params, secrets_only_in_env)
{
	expect(SERVICE("          artifact: a\n          start: 'run {{ .User.Secrets.key }}'\n"),
	       "start reads .User.Secrets: secrets may only be used in env");
}

Test(process_params, cluster_config)
{
	struct diags d = check(CLUSTER("    known_hosts: /k\n    identity: /id\n    root: /srv/cairn\n"
				       "    nginx: {config: /etc/nginx/nginx.conf, pid: /run/nginx.pid}\n"
				       "    hosts: [{address: 10.0.0.1, name: h1}, {address: web2, port: 2222, user: deploy}]\n"));
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
	expect(CLUSTER("    known_hosts: /k\n    hots: []\n"), "unknown ssh cluster config key 'hots' (did you mean 'hosts'?)");
	expect(CLUSTER("    hosts: [a]\n"), "missing 'known_hosts' (host keys are always checked)");
	expect(CLUSTER("    known_hosts: /k\n    hosts: [{adress: a}]\n"), "unknown host key 'adress' (did you mean 'address'?)");
	expect(CLUSTER("    known_hosts: /k\n    hosts: [{address: a, port: 70000}]\n"), "hosts[0].port must be a port number");
	expect(CLUSTER("    known_hosts: /k\n    root: srv\n    hosts: [a]\n"), "root must be an absolute path");
	expect(CLUSTER("    known_hosts: /k\n    hosts: ['-oProxyCommand=x']\n"), "hosts[0] must be a host name or address, or {address, port, user, name}, not '-oProxyCommand=x'");
}

Test(process_params, rendered_params)
{
	struct process_spec s;
	struct error err = ERROR_INIT;
	cr_assert_eq(process_spec_parse(&s,
					"{\"artifact\":\"a\",\"start\":\"x\",\"update\":{\"canary\":\"25\"},"
					"\"route\":{\"prefix\":\"/b/\"},\"env\":{\"N\":3}}",
					"example.org", &err),
		     0, "%s", error_msg(&err));
	cr_assert_eq(s.canary, 25);
	cr_assert_str_eq(s.route_host, "example.org");
	cr_assert_str_eq(json_string_value(json_object_get(s.env, "N")), "3");
	char r1[13], r2[13];
	process_spec_rid(&s, "aaaa", r1);
	process_spec_rid(&s, "bbbb", r2);
	cr_assert_str_neq(r1, r2, "another artifact is another release");
	process_spec_release(&s);
	cr_assert_eq(process_spec_parse(&s, "{\"artifact\":\"a\",\"start\":\"x\",\"route\":{\"prefix\":\"/a b/\"}}",
					NULL, &err),
		     -1);
	cr_assert(strstr(error_msg(&err), "params: route.prefix must be a path that starts and ends with '/' (letters, digits, -._~), not '/a b/'"), "%s", error_msg(&err));
	error_clear(&err);
}

Test(process_params, cluster_settings)
{
	const char yaml[] = CLUSTER("    known_hosts: /k\n    connect_timeout: 9\n"
				    "    hosts: [10.0.0.1, {address: web2, port: 2222, user: deploy, name: w2}]\n");
	struct intern *in = intern_new();
	struct policy *p = policy_new(in);
	struct diags d = DIAGS_INIT;
	cr_assert_eq(policy_add_yaml(p, "p.yaml", yaml, strlen(yaml), 0, &d), 0);
	struct ssh_settings s;
	ssh_settings_read(&s, ((const struct cluster *)p->objects[0])->config);
	cr_expect_str_eq(s.known_hosts, "/k");
	cr_expect_eq(s.connect_timeout_s, 9);
	cr_expect_str_eq(s.root, "/srv/cairn", "the default");
	cr_assert_eq(s.nhosts, 2);
	cr_expect_str_eq(s.hosts[0].address, "10.0.0.1");
	cr_expect_str_eq(s.hosts[0].name, "10.0.0.1");
	cr_expect_str_eq(s.hosts[0].user, "root");
	cr_expect_eq(s.hosts[0].port, 22);
	cr_expect_str_eq(s.hosts[1].name, "w2");
	cr_expect_str_eq(s.hosts[1].user, "deploy");
	cr_expect_eq(s.hosts[1].port, 2222);
	ssh_settings_release(&s);
	policy_free(p);
	intern_free(in);
}
