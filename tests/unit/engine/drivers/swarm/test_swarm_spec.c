/* The swarm driver's tables and ServiceSpec: docker's params on a swarm
 * cluster, the swarm rows, and what the spec asks of Swarm. */
#include "engine/drivers/swarm/swarm_params.h"
#include "engine/drivers/swarm/swarm_spec.h"

#include "../driver_params.h"
#include "base/arena.h"

#include <criterion/criterion.h>
#include <string.h>

#define SERVICE(params) \
	"- kind: service\n  metadata: {namespace: main, name: s}\n  components:\n" \
	"    - name: web\n      code:\n        type: docker\n        params:\n" params

static void expect(const char *yaml, const char *want)
{
	expect_refused(yaml, &swarm_params, &swarm_cluster_config, want);
}

static const char *const nets[] = { "cairn-k-root", "cairn-consumer-root" };
static const struct swarm_target target = { .key = "c#main#s#ctx#k#web", .cluster = "swarm",
					    .name = "cairn-web", .alias = "k-web",
					    .networks = nets, .nnetworks = 2, .level = 1,
					    .component = "web" };

static struct swarm_spec build(const char *params)
{
	struct swarm_spec s;
	struct error err = ERROR_INIT;
	cr_assert_eq(swarm_spec_build(&s, params, &target, &err), 0, "%s", error_msg(&err));
	return s;
}

/* path: keys and indexes joined by '/' (label names have dots) */
static const json_t *at(const json_t *v, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *k = strtok_r(buf, "/", &save); k && v; k = strtok_r(NULL, "/", &save))
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
	return v;
}

static const char *text_at(const json_t *v, const char *path)
{
	return json_string_value(at(v, path));
}

Test(swarm_params, docker_and_swarm_params_pass_at_policy_apply)
{
	struct diags d = check_tables(
		SERVICE("          image: cairn/demo:1\n          replicas: 3\n"
			"          env: {SECRET: '{{ .User.Secrets.key }}'}\n"
			"          ports: [8080, {port: 9090, publish: 19090, mode: host}]\n"
			"          placement: {constraints: ['node.labels.zone == east'], "
			"preferences: [node.labels.zone], max_per_node: 1}\n"
			"          update: {parallelism: 2, delay: 1s, order: stop-first, "
			"failure_action: pause, monitor: 10s}\n"
			"          resources: {limits: {cpus: 0.5, memory: 64m}, reservations: {memory: 32m}}\n"
			"          host: '{{ .Labels.host }}'\n"),
		&swarm_params, &swarm_cluster_config);
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
}

Test(swarm_params, swarm_rows_say_what_they_take)
{
	expect(SERVICE("          image: x\n          replicas: many\n"),
	       "params: replicas must be a number of tasks, not 'many'");
	expect(SERVICE("          image: x\n          mode: global\n          replicas: 2\n"),
	       "replicas and mode: global exclude each other");
	expect(SERVICE("          image: x\n          placement: {constraints: [zone]}\n"),
	       "placement.constraints[0] must be a constraint such as node.labels.zone == east");
	expect(SERVICE("          image: x\n          update: {order: sideways}\n"),
	       "update.order must be start-first or stop-first, not 'sideways'");
	expect(SERVICE("          image: x\n          ports: [{port: 80, publish: true, mode: ingress}]\n"),
	       "ports[0].mode ingress needs endpoint_mode: vip");
	expect(SERVICE("          image: x\n          replicaz: 2\n"),
	       "unknown docker key 'replicaz' (did you mean 'replicas'?)");
	/* docker's rows are still docker's */
	expect(SERVICE("          image: x\n          memory: lots\n"),
	       "params: memory must be a size such as 256m or 1g, not 'lots'");
}

Test(swarm_params, cluster_config_names_its_managers)
{
	struct diags d = check_tables("- kind: cluster\n  metadata: {namespace: system, name: s}\n"
				      "  type: swarm\n  config:\n    endpoints: [unix:///a.sock, "
				      "'tcp://10.0.0.2:2376']\n    tls: {ca: c, cert: d, key: k}\n",
				      &swarm_params, &swarm_cluster_config);
	cr_assert_eq(d.len, 0, "%s", d.len ? d.items[0] : "");
	diags_release(&d);
	expect("- kind: cluster\n  metadata: {namespace: system, name: s}\n  type: swarm\n"
	       "  config: {domain: x.example.com}\n",
	       "config needs 'endpoints'");
	expect("- kind: cluster\n  metadata: {namespace: system, name: s}\n  type: swarm\n"
	       "  config: {endpoints: [http://x]}\n",
	       "endpoints[0] must be unix:///path");
	expect("- kind: cluster\n  metadata: {namespace: system, name: s}\n  type: swarm\n"
	       "  config: {endpoints: []}\n",
	       "endpoints lists no manager");
	expect("- kind: cluster\n  metadata: {namespace: system, name: s}\n  type: swarm\n"
	       "  config: {endpoint: unix:///a, nginx: {file: /x.conf}}\n",
	       "nginx routes to one engine's ports");
	expect("- kind: cluster\n  metadata: {namespace: system, name: s}\n  type: swarm\n"
	       "  config: {endpoint: unix:///a, images: {source: unix:///b}}\n",
	       "images needs 'nodes' (each node's engine, to load images into)");
	expect("- kind: cluster\n  metadata: {namespace: system, name: s}\n  type: swarm\n"
	       "  config: {endpoint: unix:///a, images: {nodes: {n1: /var/run/docker.sock}}}\n",
	       "images.nodes.n1 must be unix:///path");
}

Test(swarm_params, settings_read_managers_and_node_engines)
{
	const char *yaml = "endpoints: [unix:///m1.sock, unix:///m2.sock]\n"
			   "images: {nodes: {node1: unix:///n1.sock, node2: 'tcp://10.0.0.2:2375'}}\n";
	struct arena *a = arena_new();
	struct intern *in = intern_new();
	struct ynode **docs = NULL;
	size_t ndocs = 0;
	struct diags d = DIAGS_INIT;
	cr_assert_eq(yaml_parse(a, in, "c.yaml", yaml, strlen(yaml), &docs, &ndocs, &d), 0);
	struct swarm_settings s;
	swarm_settings_read(&s, docs[0]);
	cr_assert_eq(s.nendpoints, 2);
	cr_assert_str_eq(s.endpoints[1], "unix:///m2.sock");
	cr_assert_str_eq(s.images_source, "unix:///var/run/docker.sock");
	cr_assert_eq(s.nnodes, 2);
	cr_assert_str_eq(s.nodes[1].name, "node2");
	cr_assert_str_eq(s.nodes[1].endpoint, "tcp://10.0.0.2:2375");
	swarm_settings_release(&s);
	diags_release(&d);
	intern_free(in);
	arena_free(a);
}

Test(swarm_spec, defaults_drop_no_request_and_work_on_every_kernel)
{
	struct swarm_spec s = build("{\"image\":\"cairn/demo:1\",\"command\":[\"httpd\",\"-f\"],"
				    "\"env\":{\"A\":\"1\"},\"ports\":[{\"port\":8080,\"publish\":true}]}");
	const json_t *b = s.body;
	cr_assert_str_eq(text_at(b, "Name"), "cairn-web");
	cr_assert_str_eq(text_at(b, "TaskTemplate/ContainerSpec/Image"), "cairn/demo:1");
	cr_assert_str_eq(text_at(b, "TaskTemplate/ContainerSpec/Args/0"), "httpd");
	cr_assert_str_eq(text_at(b, "TaskTemplate/ContainerSpec/Env/0"), "A=1");
	cr_assert(json_is_true(at(b, "TaskTemplate/ContainerSpec/Init")));
	cr_assert_str_eq(text_at(b, "TaskTemplate/ContainerSpec/Labels/cairn.instance"), target.key);
	cr_assert_null(at(b, "TaskTemplate/ContainerSpec/Labels/cairn.hash"));
	cr_assert_eq(json_integer_value(at(b, "Mode/Replicated/Replicas")), 1);
	cr_assert_eq(s.replicas, 1);
	cr_assert_str_eq(text_at(b, "UpdateConfig/Order"), "start-first");
	cr_assert_str_eq(text_at(b, "UpdateConfig/FailureAction"), "rollback");
	cr_assert_eq(json_integer_value(at(b, "UpdateConfig/Parallelism")), 1);
	cr_assert_str_eq(text_at(b, "EndpointSpec/Mode"), "dnsrr");
	cr_assert_str_eq(text_at(b, "EndpointSpec/Ports/0/PublishMode"), "host");
	cr_assert_eq(json_integer_value(at(b, "EndpointSpec/Ports/0/TargetPort")), 8080);
	cr_assert_null(at(b, "EndpointSpec/Ports/0/PublishedPort"));
	cr_assert_str_eq(text_at(b, "TaskTemplate/RestartPolicy/Condition"), "any");
	/* on its own network and its consumer's, by its discovery name */
	cr_assert_str_eq(text_at(b, "TaskTemplate/Networks/0/Target"), "cairn-k-root");
	cr_assert_str_eq(text_at(b, "TaskTemplate/Networks/1/Target"), "cairn-consumer-root");
	cr_assert_str_eq(text_at(b, "TaskTemplate/Networks/1/Aliases/0"), "k-web");
	cr_assert_str_eq(text_at(b, "Labels/cairn.hash"), s.hash);
	swarm_spec_release(&s);
}

Test(swarm_spec, swarm_rows_become_the_service)
{
	struct swarm_spec s = build(
		"{\"image\":\"cairn/demo:1\",\"replicas\":\"3\",\"memory\":\"64m\","
		"\"placement\":{\"constraints\":[\"node.labels.zone == east\"],"
		"\"preferences\":\"node.labels.rack\",\"max_per_node\":2},"
		"\"update\":{\"order\":\"stop-first\",\"delay\":\"2s\",\"parallelism\":0},"
		"\"resources\":{\"limits\":{\"cpus\":\"0.5\"},\"reservations\":{\"memory\":\"32m\"}},"
		"\"endpoint_mode\":\"vip\",\"restart\":\"on-failure:4\","
		"\"ports\":[{\"port\":80,\"publish\":8080,\"mode\":\"ingress\"},81]}");
	const json_t *b = s.body;
	cr_assert_eq(json_integer_value(at(b, "Mode/Replicated/Replicas")), 3);
	cr_assert_str_eq(text_at(b, "TaskTemplate/Placement/Constraints/0"), "node.labels.zone == east");
	cr_assert_str_eq(text_at(b, "TaskTemplate/Placement/Preferences/0/Spread/SpreadDescriptor"),
			 "node.labels.rack");
	cr_assert_eq(json_integer_value(at(b, "TaskTemplate/Placement/MaxReplicas")), 2);
	cr_assert_str_eq(text_at(b, "UpdateConfig/Order"), "stop-first");
	cr_assert_eq(json_integer_value(at(b, "UpdateConfig/Delay")), 2000000000);
	cr_assert_eq(json_integer_value(at(b, "UpdateConfig/Parallelism")), 0);
	cr_assert_str_eq(text_at(b, "RollbackConfig/Order"), "stop-first");
	cr_assert_eq(json_integer_value(at(b, "TaskTemplate/Resources/Limits/MemoryBytes")), 64 << 20);
	cr_assert_eq(json_integer_value(at(b, "TaskTemplate/Resources/Limits/NanoCPUs")), 500000000);
	cr_assert_eq(json_integer_value(at(b, "TaskTemplate/Resources/Reservations/MemoryBytes")),
		     32 << 20);
	cr_assert_str_eq(text_at(b, "TaskTemplate/RestartPolicy/Condition"), "on-failure");
	cr_assert_eq(json_integer_value(at(b, "TaskTemplate/RestartPolicy/MaxAttempts")), 4);
	cr_assert_str_eq(text_at(b, "EndpointSpec/Mode"), "vip");
	cr_assert_eq(json_array_size(at(b, "EndpointSpec/Ports")), 1, "81 is not published");
	cr_assert_eq(json_integer_value(at(b, "EndpointSpec/Ports/0/PublishedPort")), 8080);
	cr_assert_str_eq(text_at(b, "EndpointSpec/Ports/0/PublishMode"), "ingress");
	swarm_spec_release(&s);

	s = build("{\"image\":\"cairn/demo:1\",\"mode\":\"global\"}");
	cr_assert_not_null(at(s.body, "Mode/Global"));
	cr_assert_eq(s.replicas, -1);
	swarm_spec_release(&s);
}

Test(swarm_spec, hash_follows_what_runs_not_the_generation)
{
	struct swarm_spec a = build("{\"image\":\"cairn/demo:1\"}");
	struct swarm_spec b = build("{\"image\":\"cairn/demo:1\"}");
	struct swarm_spec c = build("{\"image\":\"cairn/demo:1\",\"replicas\":2}");
	cr_assert_str_eq(a.hash, b.hash);
	cr_assert_str_neq(a.hash, c.hash);
	const char *deps[] = { "main/alice" };
	swarm_spec_stamp(&b, 7, deps, 1);
	cr_assert_str_eq(text_at(b.body, "Labels/cairn.generation"), "7");
	cr_assert_str_eq(text_at(b.body, "Labels/cairn.dependencies"), "main/alice");
	cr_assert_null(at(b.body, "TaskTemplate/ContainerSpec/Labels/cairn.generation"),
		       "the tasks would roll at every apply");
	cr_assert_str_eq(text_at(b.body, "Labels/cairn.hash"), a.hash);
	swarm_spec_release(&a);
	swarm_spec_release(&b);
	swarm_spec_release(&c);
}

Test(swarm_spec, docker_only_params_are_refused_on_swarm)
{
	struct swarm_spec s;
	struct error err = ERROR_INIT;
	cr_assert_eq(swarm_spec_build(&s, "{\"image\":\"x\",\"host\":\"a.example.com\"}", &target, &err), -1);
	cr_assert(strstr(error_msg(&err), "params: host routes a host name"), "%s", error_msg(&err));
	cr_assert(strstr(error_msg(&err), "not on swarm"), "%s", error_msg(&err));
	error_clear(&err);
	cr_assert_eq(swarm_spec_build(&s, "{\"image\":\"x\",\"replicas\":\"-1\"}", &target, &err), -1);
	cr_assert(strstr(error_msg(&err), "params: replicas must be a number of tasks, not '-1'"), "%s",
		  error_msg(&err));
	error_clear(&err);
}

Test(swarm_spec, secrets_leave_the_env_for_swarm_secrets)
{
	struct swarm_target t = target;
	t.params_public = "{\"image\":\"x\",\"env\":{\"KEY\":\"(secret)\",\"PLAIN\":\"1\"}}";
	struct swarm_spec a, b;
	struct error err = ERROR_INIT;
	cr_assert_eq(swarm_spec_build(&a, "{\"image\":\"x\",\"env\":{\"KEY\":\"hunter2\",\"PLAIN\":\"1\"}}",
				      &t, &err), 0, "%s", error_msg(&err));
	char *text = json_dumps(a.body, 0);
	cr_assert_null(strstr(text, "hunter2"), "the value is in the spec: %s", text);
	free(text);
	const json_t *env = at(a.body, "TaskTemplate/ContainerSpec/Env");
	cr_assert_eq(json_array_size(env), 2);
	cr_assert_str_eq(json_string_value(json_array_get(env, 0)), "PLAIN=1");
	cr_assert_str_eq(json_string_value(json_array_get(env, 1)), "KEY_FILE=/run/secrets/KEY");
	const char *name = text_at(a.body, "TaskTemplate/ContainerSpec/Secrets/0/SecretName");
	cr_assert_str_eq(text_at(a.body, "TaskTemplate/ContainerSpec/Secrets/0/File/Name"), "KEY");
	cr_assert_str_eq(json_string_value(json_object_get(a.secrets, name)), "aHVudGVyMg==");
	/* another value: another secret and another hash, which rolls the tasks */
	cr_assert_eq(swarm_spec_build(&b, "{\"image\":\"x\",\"env\":{\"KEY\":\"hunter3\",\"PLAIN\":\"1\"}}",
				      &t, &err), 0);
	cr_assert_str_neq(text_at(b.body, "TaskTemplate/ContainerSpec/Secrets/0/SecretName"), name);
	cr_assert_str_neq(a.hash, b.hash);
	swarm_spec_release(&a);
	swarm_spec_release(&b);
}
