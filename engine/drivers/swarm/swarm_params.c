/* The swarm driver's param tables (swarm_params.h). Docker's rows come from
 * its table, the base of this one; the rows here build the rest of a Swarm
 * ServiceSpec. The walker has checked every rendered value before a build
 * runs. */
#include "swarm_params.h"

#include "base/alloc.h"
#include "base/parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define TEXT(v, buf) param_json_text(v, buf, sizeof(buf))

/* ---- what scalars must be ---- */

static bool v_count(const char *s)
{
	long long n;
	return parse_integer(s, 0, 100000, &n) == 0;
}
static bool v_positive(const char *s)
{
	long long n;
	return parse_integer(s, 1, 100000, &n) == 0;
}
static bool v_mode(const char *s)
{
	return !strcmp(s, "replicated") || !strcmp(s, "global");
}
static bool v_order(const char *s)
{
	return !strcmp(s, "start-first") || !strcmp(s, "stop-first");
}
static bool v_failure_action(const char *s)
{
	return !strcmp(s, "rollback") || !strcmp(s, "pause") || !strcmp(s, "continue");
}
static bool v_endpoint_mode(const char *s)
{
	return !strcmp(s, "dnsrr") || !strcmp(s, "vip");
}
static bool v_publish_mode(const char *s)
{
	return !strcmp(s, "host") || !strcmp(s, "ingress");
}
static bool v_protocol(const char *s)
{
	return !strcmp(s, "tcp") || !strcmp(s, "udp");
}
static bool v_publish(const char *s)
{
	return param_bool(s) || param_port(s);
}
static bool v_bytes(const char *s)
{
	int64_t b;
	return parse_bytes(s, &b) == 0 && b > 0;
}
static bool v_cpus(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	return end != s && !*end && v > 0 && v <= 1024;
}
/* "node.labels.zone == us-east", "node.role != manager" */
static bool v_constraint(const char *s)
{
	const char *op = strstr(s, "==");
	if (!op)
		op = strstr(s, "!=");
	if (!op || op == s)
		return false;
	for (const char *c = s; c < op; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._- ", *c))
			return false;
	const char *v = op + 2;
	while (*v == ' ')
		v++;
	return *v != '\0';
}
static bool v_spread(const char *s)
{
	return strncmp(s, "node.", 5) == 0 && s[5];
}
static bool v_endpoint(const char *s)
{
	return !strncmp(s, "unix://", 7) || !strncmp(s, "tcp://", 6) || !strncmp(s, "ssh://", 6);
}

/* ---- builds ---- */

static long long int_of(const json_t *v)
{
	char buf[64];
	return atoll(TEXT(v, buf));
}

static int build_replicas(void *req, const json_t *v, struct error *err)
{
	((struct swarm_build *)req)->replicas = int_of(v);
	return 0;
}

static int build_mode(void *req, const json_t *v, struct error *err)
{
	char buf[64];
	((struct swarm_build *)req)->global = strcmp(TEXT(v, buf), "global") == 0;
	return 0;
}

static json_t *strings_of(const json_t *v)
{
	json_t *out = json_array();
	char buf[64];
	if (!json_is_array(v)) {
		json_array_append_new(out, json_string(TEXT(v, buf)));
		return out;
	}
	size_t i;
	const json_t *it;
	json_array_foreach(v, i, it)
		json_array_append_new(out, json_string(TEXT(it, buf)));
	return out;
}

static int build_placement(void *req, const json_t *v, struct error *err)
{
	struct swarm_build *b = req;
	const json_t *c = json_object_get(v, "constraints"), *p = json_object_get(v, "preferences");
	const json_t *max = json_object_get(v, "max_per_node");
	if (c)
		json_object_set_new(b->placement, "Constraints", strings_of(c));
	if (p) {
		json_t *prefs = json_array(), *names = strings_of(p);
		size_t i;
		json_t *it;
		json_array_foreach(names, i, it)
			json_array_append_new(prefs, json_pack("{s:{s:O}}", "Spread", "SpreadDescriptor", it));
		json_decref(names);
		json_object_set_new(b->placement, "Preferences", prefs);
	}
	if (max)
		json_object_set_new(b->placement, "MaxReplicas", json_integer(int_of(max)));
	return 0;
}

static int build_update(void *req, const json_t *v, struct error *err)
{
	struct swarm_build *b = req;
	char buf[64];
	static const char *const words[][2] = { { "order", "Order" },
						{ "failure_action", "FailureAction" } };
	for (size_t i = 0; i < 2; i++) {
		const json_t *w = json_object_get(v, words[i][0]);
		if (w)
			json_object_set_new(b->update, words[i][1], json_string(TEXT(w, buf)));
	}
	static const char *const durations[][2] = { { "delay", "Delay" }, { "monitor", "Monitor" } };
	for (size_t i = 0; i < 2; i++) {
		const json_t *d = json_object_get(v, durations[i][0]);
		int64_t ns;
		if (d && parse_duration(TEXT(d, buf), &ns) == 0)
			json_object_set_new(b->update, durations[i][1], json_integer(ns));
	}
	const json_t *par = json_object_get(v, "parallelism");
	if (par)
		json_object_set_new(b->update, "Parallelism", json_integer(int_of(par)));
	return 0;
}

/* {cpus, memory} → {NanoCPUs, MemoryBytes} */
static void build_resource(json_t *out, const json_t *v)
{
	char buf[64];
	const json_t *cpus = json_object_get(v, "cpus"), *mem = json_object_get(v, "memory");
	if (cpus)
		json_object_set_new(out, "NanoCPUs",
				    json_integer((json_int_t)(strtod(TEXT(cpus, buf), NULL) * 1e9)));
	int64_t bytes;
	if (mem && parse_bytes(TEXT(mem, buf), &bytes) == 0)
		json_object_set_new(out, "MemoryBytes", json_integer(bytes));
}

static int build_resources(void *req, const json_t *v, struct error *err)
{
	struct swarm_build *b = req;
	build_resource(b->limits, json_object_get(v, "limits"));
	build_resource(b->reservations, json_object_get(v, "reservations"));
	return 0;
}

static int build_endpoint_mode(void *req, const json_t *v, struct error *err)
{
	((struct swarm_build *)req)->endpoint_mode = json_string_value(v);
	return 0;
}

static int build_ports(void *req, const json_t *v, struct error *err)
{
	struct swarm_build *b = req;
	size_t i;
	const json_t *it;
	json_array_foreach(v, i, it)
	{
		struct docker_port port = docker_port_read(it);
		const json_t *mode = json_is_object(it) ? json_object_get(it, "mode") : NULL;
		/* A port not published is reachable on the service's networks
		 * anyway: Swarm has nothing to say about it. */
		if (!port.publish)
			continue;
		json_t *p = json_pack("{s:s, s:i, s:s}", "Protocol", port.protocol, "TargetPort",
				      port.number, "PublishMode", mode ? json_string_value(mode) : "host");
		if (port.host_port)
			json_object_set_new(p, "PublishedPort", json_integer(port.host_port));
		json_array_append_new(b->ports, p);
	}
	return 0;
}

/* ---- checks across keys ---- */

static void swarm_also(struct param_walk *w, const void *params)
{
	const void *mode = param_get(w, params, "mode"), *replicas = param_get(w, params, "replicas");
	char buf[64];
	const char *m = mode ? param_text(w, mode, buf, sizeof(buf)) : NULL;
	if (replicas && m && strcmp(m, "global") == 0)
		param_error(w, replicas, "replicas and mode: global exclude each other (global runs one "
					 "task on every node)");
}

static void port_also(struct param_walk *w, const void *port)
{
	const void *mode = param_get(w, port, "mode");
	char buf[64];
	const char *m = mode ? param_text(w, mode, buf, sizeof(buf)) : NULL;
	const void *ep = param_get(w, param_root(w), "endpoint_mode");
	char ebuf[64];
	const char *e = ep ? param_text(w, ep, ebuf, sizeof(ebuf)) : "dnsrr";
	if (m && e && strcmp(m, "ingress") == 0 && strcmp(e, "dnsrr") == 0)
		param_error(w, mode, "%s.mode ingress needs endpoint_mode: vip (the routing mesh "
				     "balances over a virtual IP)", param_path(w));
}

/* ---- the tables ---- */

#define SCALAR(k, fn, what) .key = k, .shape = PARAM_SCALAR, .valid = fn, .expected = what
#define DURATION(k) SCALAR(k, param_duration, "a duration such as 5s or 500ms")
#define STRINGS(fn, what) .shape = PARAM_SCALAR | PARAM_LIST, .expected = what, \
	.item = &(const struct param){ .shape = PARAM_SCALAR, .valid = fn, .expected = what }

static const struct param port_fields[] = {
	{ SCALAR("port", param_port, "a port number (1-65535)"), .flags = PARAM_REQUIRED,
	  .hint = "the port the task listens on" },
	{ SCALAR("publish", v_publish, "true (Swarm picks a port) or a port number") },
	{ SCALAR("protocol", v_protocol, "tcp or udp") },
	{ SCALAR("mode", v_publish_mode, "host (each node's own port) or ingress (the routing mesh)") },
	{ 0 },
};
static const struct param port_item = {
	.shape = PARAM_SCALAR | PARAM_MAP, .valid = param_port,
	.expected = "a port number (1-65535) or {port, publish, protocol, mode}",
	.fields = port_fields, .noun = "port", .also = port_also,
};
static const struct param placement_fields[] = {
	{ .key = "constraints", STRINGS(v_constraint, "a constraint such as node.labels.zone == east") },
	{ .key = "preferences", STRINGS(v_spread, "a node attribute to spread over, such as node.labels.zone") },
	{ SCALAR("max_per_node", v_positive, "a positive number of tasks") },
	{ 0 },
};
static const struct param update_fields[] = {
	{ SCALAR("parallelism", v_count, "a number of tasks (0: all at once)") },
	{ DURATION("delay") },
	{ SCALAR("order", v_order, "start-first or stop-first") },
	{ SCALAR("failure_action", v_failure_action, "rollback, pause or continue") },
	{ DURATION("monitor") },
	{ 0 },
};
static const struct param resource_fields[] = {
	{ SCALAR("cpus", v_cpus, "a positive number of CPUs such as 0.5") },
	{ SCALAR("memory", v_bytes, "a size such as 256m or 1g") },
	{ 0 },
};
static const struct param resources_fields[] = {
	{ .key = "limits", .shape = PARAM_MAP, .expected = "{cpus, memory}", .fields = resource_fields,
	  .noun = "limits" },
	{ .key = "reservations", .shape = PARAM_MAP, .expected = "{cpus, memory}",
	  .fields = resource_fields, .noun = "reservations" },
	{ 0 },
};

static const struct param swarm_fields[] = {
	{ SCALAR("replicas", v_count, "a number of tasks"), .build = build_replicas },
	{ SCALAR("mode", v_mode, "replicated or global"), .build = build_mode },
	{ .key = "placement", .shape = PARAM_MAP,
	  .expected = "a mapping with constraints, preferences and max_per_node",
	  .fields = placement_fields, .noun = "placement", .build = build_placement },
	{ .key = "update", .shape = PARAM_MAP,
	  .expected = "a mapping with parallelism, delay, order, failure_action and monitor",
	  .fields = update_fields, .noun = "update", .build = build_update },
	{ .key = "resources", .shape = PARAM_MAP, .expected = "a mapping with limits and reservations",
	  .fields = resources_fields, .noun = "resources", .build = build_resources },
	{ SCALAR("endpoint_mode", v_endpoint_mode, "dnsrr or vip"), .build = build_endpoint_mode },
	{ .key = "ports", .shape = PARAM_LIST, .expected = "a list of ports", .item = &port_item,
	  .build = build_ports },
	{ 0 },
};

const char *const swarm_docker_only[][2] = {
	{ "host", "routes a host name through a docker cluster's nginx" },
	{ "data", "runs a dataset's prepared image, which one engine holds" },
	{ "backup", "is read by backups, which copy from one engine's containers" },
	{ NULL, NULL },
};

const char *const swarm_own_keys[] = { "replicas", "mode", "placement", "update", "resources",
				       "endpoint_mode", "ports", NULL };

const struct param swarm_params = {
	.shape = PARAM_MAP, .expected = "a mapping with 'image'", .fields = swarm_fields,
	.noun = "docker", .also = swarm_also, .base = &docker_params,
};

/* ---- a swarm cluster's config ---- */

static void cluster_also(struct param_walk *w, const void *config)
{
	const void *one = param_get(w, config, "endpoint"), *many = param_get(w, config, "endpoints");
	if (one && many)
		param_error(w, many, "endpoint and endpoints exclude each other (endpoints lists "
				     "managers in the order they are tried)");
	else if (!one && !many)
		param_error(w, config, "config needs 'endpoints' (the managers' Engine API endpoints, "
				       "tried in order) or 'endpoint'");
	else if (many && param_is_list(w, many) && param_len(w, many) == 0)
		param_error(w, many, "endpoints lists no manager: name at least one manager's Engine "
				     "API endpoint");
	const void *nginx = param_get(w, config, "nginx");
	if (nginx)
		param_error(w, nginx, "nginx routes to one engine's ports: it is for docker clusters, "
				      "not swarm");
}

#define ENDPOINT "unix:///path, tcp://host:port or ssh://[user@]host[:port]"
static const struct param node_engine = { .shape = PARAM_SCALAR, .valid = v_endpoint,
					  .expected = ENDPOINT };
static const struct param images_fields[] = {
	{ SCALAR("source", v_endpoint, ENDPOINT),
	  .hint = "the engine that has the images, such as unix:///var/run/docker.sock" },
	{ .key = "nodes", .shape = PARAM_DICT, .flags = PARAM_REQUIRED,
	  .expected = "a mapping of node names to their engines' endpoints", .item = &node_engine,
	  .hint = "each node's engine, to load images into" },
	{ 0 },
};
static const struct param cluster_fields[] = {
	{ .key = "endpoints", STRINGS(v_endpoint, ENDPOINT) },
	{ .key = "images", .shape = PARAM_MAP, .expected = "a mapping with source and nodes",
	  .fields = images_fields, .noun = "images" },
	{ 0 },
};

const struct param swarm_cluster_config = {
	.shape = PARAM_MAP, .expected = "a mapping with endpoints", .fields = cluster_fields,
	.noun = "swarm cluster config", .also = cluster_also, .base = &docker_cluster_config,
};

void swarm_settings_read(struct swarm_settings *s, const struct ynode *config)
{
	*s = (struct swarm_settings){ 0 };
	docker_settings_read(&s->docker, config);
	const json_t *list = json_object_get(s->docker.config, "endpoints");
	if (json_is_string(list)) {
		s->endpoints = xcalloc(1, sizeof(*s->endpoints));
		s->endpoints[s->nendpoints++] = json_string_value(list);
	} else if (json_array_size(list)) {
		s->endpoints = xcalloc(json_array_size(list), sizeof(*s->endpoints));
		size_t i;
		const json_t *it;
		json_array_foreach(list, i, it)
			if (json_is_string(it))
				s->endpoints[s->nendpoints++] = json_string_value(it);
	} else {
		s->endpoints = xcalloc(1, sizeof(*s->endpoints));
		s->endpoints[s->nendpoints++] =
			s->docker.api.endpoint ? s->docker.api.endpoint : "unix:///var/run/docker.sock";
	}
	const json_t *images = json_object_get(s->docker.config, "images");
	const json_t *nodes = json_object_get(images, "nodes");
	s->images_source = json_string_value(json_object_get(images, "source"));
	if (!s->images_source)
		s->images_source = "unix:///var/run/docker.sock";
	s->nodes = xcalloc(json_object_size(nodes) + 1, sizeof(*s->nodes));
	const char *name;
	const json_t *ep;
	json_object_foreach((json_t *)nodes, name, ep)
		if (json_is_string(ep))
			s->nodes[s->nnodes++] = (struct swarm_node_engine){ name, json_string_value(ep) };
}

void swarm_settings_release(struct swarm_settings *s)
{
	free(s->endpoints);
	free(s->nodes);
	docker_settings_release(&s->docker);
	memset(s, 0, sizeof(*s));
}
