/* Checks of docker code params and docker cluster config (docker_params.h).
 * Params are pnode trees whose strings are templates: a template's value is
 * only known per instance, so here only constants are checked for their
 * value; the driver checks rendered values with the same parsers. */
#include "docker_params.h"
#include "params_check.h"

#include "base/parse.h"
#include "base/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool docker_restart_valid(const char *s)
{
	if (!strcmp(s, "no") || !strcmp(s, "always") || !strcmp(s, "unless-stopped") ||
	    !strcmp(s, "on-failure"))
		return true;
	if (strncmp(s, "on-failure:", 11) != 0)
		return false;
	char *end;
	long n = strtol(s + 11, &end, 10);
	return end != s + 11 && !*end && n > 0;
}

/* ---- walking params ---- */

typedef int (*parse_fn)(const char *s, void *out);

/* A scalar whose constant value must parse; templates are checked when rendered. */
static void want_value(struct param_check *c, const struct pnode *n, const char *what, parse_fn parse,
		       const char *expected)
{
	if (!pc_is_scalar(n)) {
		pc_error(c, n->pos, "%s must be %s, not %s", what, expected, pc_shape(n));
		return;
	}
	char buf[64];
	const char *text = pc_constant_text(n, buf, sizeof(buf));
	union {
		int64_t i;
		bool b;
		int port;
		double d;
	} out;
	if (text && parse && parse(text, &out) < 0)
		pc_error(c, n->pos, "%s must be %s, not '%s'", what, expected, text);
}

static int p_bytes(const char *s, void *out)
{
	return parse_bytes(s, out);
}
static int p_duration(const char *s, void *out)
{
	return parse_duration(s, out);
}
static int p_bool(const char *s, void *out)
{
	return parse_bool(s, out);
}
static int p_port(const char *s, void *out)
{
	return parse_port(s, out);
}
static int parse_restart(const char *s, void *out)
{
	(void)out;
	return docker_restart_valid(s) ? 0 : -1;
}
static int parse_cpus(const char *s, void *out)
{
	char *end;
	double v = strtod(s, &end);
	return end != s && !*end && v > 0 && v <= 1024 ? 0 : -1;
}
static int parse_protocol(const char *s, void *out)
{
	return strcmp(s, "tcp") == 0 || strcmp(s, "udp") == 0 ? 0 : -1;
}
static int parse_abs_path(const char *s, void *out)
{
	return s[0] == '/' ? 0 : -1;
}
bool docker_host_valid(const char *s)
{
	size_t label = 0, total = strlen(s);
	if (!total || total > 253)
		return false;
	for (const char *c = s;; c++) {
		if (*c == '.' || !*c) {
			if (!label || label > 63 || c[-1] == '-')
				return false;
			if (!*c)
				return true;
			label = 0;
		} else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || (*c == '-' && label)) {
			label++;
		} else {
			return false;
		}
	}
}
static int parse_host(const char *s, void *out)
{
	return docker_host_valid(s) ? 0 : -1;
}

static int parse_nonempty(const char *s, void *out)
{
	return s[0] ? 0 : -1;
}

/* A command: a list of scalars, or a string (split on spaces). */
static void want_command(struct param_check *c, const struct pnode *n, const char *what)
{
	if (n->kind == PNODE_LIST) {
		for (uint32_t i = 0; i < n->len; i++)
			if (!pc_is_scalar(n->children[i]))
				pc_error(c, n->children[i]->pos, "%s items must be strings, not %s", what,
				     pc_shape(n->children[i]));
		return;
	}
	if (!pc_is_scalar(n))
		pc_error(c, n->pos, "%s must be a list of strings or a string, not %s", what, pc_shape(n));
}

static void want_scalar_map(struct param_check *c, const struct pnode *n, const char *what)
{
	if (n->kind != PNODE_MAP) {
		pc_error(c, n->pos, "%s must be a mapping, not %s", what, pc_shape(n));
		return;
	}
	for (uint32_t i = 0; i < n->len; i++)
		if (!pc_is_scalar(n->children[i]))
			pc_error(c, n->children[i]->pos, "%s '%s' must be a scalar, not %s", what,
			     n->keys[i]->s, pc_shape(n->children[i]));
}

static bool env_name_ok(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

static void check_ports(struct param_check *c, const struct pnode *n)
{
	static const char *const keys[] = { "port", "publish", "protocol" };
	if (n->kind != PNODE_LIST) {
		pc_error(c, n->pos, "ports must be a list, not %s", pc_shape(n));
		return;
	}
	for (uint32_t i = 0; i < n->len; i++) {
		const struct pnode *it = n->children[i];
		if (it->kind != PNODE_MAP) {
			want_value(c, it, "a port", p_port, "a port number (1-65535)");
			continue;
		}
		pc_keys(c, it, keys, 3, "port");
		const struct pnode *port = pc_get(it, "port");
		if (!port)
			pc_error(c, it->pos, "a port needs 'port' (the container's port)");
		else
			want_value(c, port, "port", p_port, "a port number (1-65535)");
		const struct pnode *pub = pc_get(it, "publish");
		if (pub) {
			char buf[64];
			const char *t = pc_is_scalar(pub) ? pc_constant_text(pub, buf, sizeof(buf)) : NULL;
			bool b;
			int p;
			if (!pc_is_scalar(pub) || (t && parse_bool(t, &b) < 0 && parse_port(t, &p) < 0))
				pc_error(c, pub->pos,
				     "publish must be true (the engine picks a host port) or a host port number");
		}
		const struct pnode *proto = pc_get(it, "protocol");
		if (proto)
			want_value(c, proto, "protocol", parse_protocol, "tcp or udp");
	}
}

static void check_volumes(struct param_check *c, const struct pnode *n)
{
	static const char *const keys[] = { "name", "bind", "path", "read_only" };
	if (n->kind != PNODE_LIST) {
		pc_error(c, n->pos, "volumes must be a list, not %s", pc_shape(n));
		return;
	}
	for (uint32_t i = 0; i < n->len; i++) {
		const struct pnode *it = n->children[i];
		if (it->kind != PNODE_MAP) {
			pc_error(c, it->pos,
			     "a volume must be a mapping: {name: data, path: /data} or {bind: /host/dir, path: /dir}");
			continue;
		}
		pc_keys(c, it, keys, 4, "volume");
		const struct pnode *name = pc_get(it, "name"), *bind = pc_get(it, "bind"), *path = pc_get(it, "path");
		if (!!name == !!bind)
			pc_error(c, it->pos, "a volume needs exactly one of 'name' (a volume of the instance) or 'bind' (a host directory)");
		if (name)
			want_value(c, name, "name", parse_nonempty, "a volume name");
		if (bind)
			want_value(c, bind, "bind", parse_abs_path, "an absolute host path");
		if (!path)
			pc_error(c, it->pos, "a volume needs 'path' (where it is mounted in the container)");
		else
			want_value(c, path, "path", parse_abs_path, "an absolute path");
		const struct pnode *ro = pc_get(it, "read_only");
		if (ro)
			want_value(c, ro, "read_only", p_bool, "true or false");
	}
}

static void check_health(struct param_check *c, const struct pnode *n)
{
	static const char *const keys[] = { "command", "interval", "timeout", "retries", "start_period" };
	if (n->kind != PNODE_MAP) {
		pc_error(c, n->pos, "health must be a mapping, not %s", pc_shape(n));
		return;
	}
	pc_keys(c, n, keys, 5, "health");
	const struct pnode *cmd = pc_get(n, "command");
	if (!cmd)
		pc_error(c, n->pos, "health needs 'command'");
	else
		want_command(c, cmd, "health command");
	static const char *const durations[] = { "interval", "timeout", "start_period" };
	for (size_t i = 0; i < 3; i++) {
		const struct pnode *d = pc_get(n, durations[i]);
		if (d)
			want_value(c, d, durations[i], p_duration, "a duration such as 5s or 500ms");
	}
	const struct pnode *r = pc_get(n, "retries");
	if (r)
		want_value(c, r, "retries", p_port, "a positive integer");
}

static const char *const docker_keys[] = {
	"image", "command", "entrypoint", "env", "ports", "volumes", "labels",
	"health", "init", "restart", "memory", "cpus", "cluster", "host", "data", "backup",
};

/* data: {dataset: NAMESPACE/NAME} (the driver finds its prepared image) */
static void check_data(struct param_check *c, const struct pnode *n)
{
	static const char *const keys[] = { "dataset" };
	if (n->kind != PNODE_MAP) {
		pc_error(c, n->pos, "data must be {dataset: NAMESPACE/NAME}, not %s", pc_shape(n));
		return;
	}
	pc_keys(c, n, keys, 1, "data");
	const struct pnode *ds = pc_get(n, "dataset");
	char buf[256];
	const char *text = ds && pc_is_scalar(ds) ? pc_constant_text(ds, buf, sizeof(buf)) : NULL;
	const char *slash = text ? strchr(text, '/') : NULL;
	if (!ds)
		pc_error(c, n->pos, "data needs 'dataset' (NAMESPACE/NAME of a dataset)");
	else if (!pc_is_scalar(ds))
		pc_error(c, ds->pos, "data: dataset must be NAMESPACE/NAME, not %s", pc_shape(ds));
	else if (text && (!slash || slash == text || !slash[1] || strchr(slash + 1, '/')))
		pc_error(c, ds->pos, "data: dataset must be NAMESPACE/NAME, not '%s'", text);
}

/* backup: {postgres: {database: D, user: U}, volume: NAME}: what `cairn
 * backup` copies of the instance (its database, one of its named volumes)
 * and what a replica restores. */
static void check_backup(struct param_check *c, const struct pnode *n, const struct pnode *params)
{
	static const char *const keys[] = { "postgres", "volume" };
	static const char *const pg_keys[] = { "database", "user" };
	if (n->kind != PNODE_MAP) {
		pc_error(c, n->pos, "backup must be {postgres: {database: D, user: U}} or {volume: NAME}, not %s",
			 pc_shape(n));
		return;
	}
	pc_keys(c, n, keys, 2, "backup");
	const struct pnode *pg = pc_get(n, "postgres"), *vol = pc_get(n, "volume");
	if (!pg && !vol)
		pc_error(c, n->pos, "backup needs 'postgres' (the database it serves) or 'volume' (one of its volumes)");
	if (pg && pg->kind != PNODE_MAP) {
		pc_error(c, pg->pos, "backup: postgres must be {database: D, user: U}, not %s", pc_shape(pg));
	} else if (pg) {
		pc_keys(c, pg, pg_keys, 2, "backup postgres");
		for (size_t i = 0; i < 2; i++) {
			const struct pnode *v = pc_get(pg, pg_keys[i]);
			if (!v)
				pc_error(c, pg->pos, "backup: postgres needs '%s'", pg_keys[i]);
			else
				want_value(c, v, pg_keys[i], parse_nonempty, "a non-empty string");
		}
	}
	if (!vol)
		return;
	want_value(c, vol, "volume", parse_nonempty, "the name of one of its volumes");
	char buf[256], nbuf[256];
	const char *name = pc_is_scalar(vol) ? pc_constant_text(vol, buf, sizeof(buf)) : NULL;
	const struct pnode *volumes = pc_get(params, "volumes");
	if (!name || (volumes && volumes->kind != PNODE_LIST))
		return; /* a template, or a volumes error said already */
	for (uint32_t i = 0; volumes && i < volumes->len; i++) {
		const struct pnode *vn = volumes->children[i]->kind == PNODE_MAP
						 ? pc_get(volumes->children[i], "name")
						 : NULL;
		const char *text = vn && pc_is_scalar(vn) ? pc_constant_text(vn, nbuf, sizeof(nbuf)) : NULL;
		if (!vn || (text && strcmp(text, name) != 0))
			continue;
		return; /* found, or a template that may render to it */
	}
	pc_error(c, vol->pos, "backup: volume '%s' is not one of its volumes (volumes: [{name: %s, path: …}])",
		 name, name);
}

static void check_params(struct param_check *c, const struct pnode *params, struct pos code_pos)
{
	if (!params || params->kind != PNODE_MAP) {
		pc_error(c, params ? params->pos : code_pos, "docker code needs params with 'image'");
		return;
	}
	pc_keys(c, params, docker_keys, sizeof(docker_keys) / sizeof(*docker_keys), "docker");
	for (uint32_t i = 0; i < params->len; i++) {
		const char *k = params->keys[i]->s;
		const struct pnode *v = params->children[i];
		if (strcmp(k, "env") != 0)
			pc_no_secrets(c, v, k);
		if (!strcmp(k, "host"))
			want_value(c, v, k, parse_host, "a lower-case host name such as shop-pr-12.example.com");
		else if (!strcmp(k, "image") || !strcmp(k, "cluster"))
			want_value(c, v, k, parse_nonempty, "a non-empty string");
		else if (!strcmp(k, "command") || !strcmp(k, "entrypoint"))
			want_command(c, v, k);
		else if (!strcmp(k, "env")) {
			want_scalar_map(c, v, "env");
			for (uint32_t j = 0; v->kind == PNODE_MAP && j < v->len; j++)
				if (!env_name_ok(v->keys[j]->s))
					pc_error(c, v->children[j]->pos, "env name '%s' is not a variable name",
					     v->keys[j]->s);
		} else if (!strcmp(k, "labels")) {
			want_scalar_map(c, v, "label");
			for (uint32_t j = 0; v->kind == PNODE_MAP && j < v->len; j++)
				if (strncmp(v->keys[j]->s, "cairn.", 6) == 0)
					pc_error(c, v->children[j]->pos,
					     "label '%s': labels cairn.* are set by cairn itself",
					     v->keys[j]->s);
		} else if (!strcmp(k, "ports"))
			check_ports(c, v);
		else if (!strcmp(k, "volumes"))
			check_volumes(c, v);
		else if (!strcmp(k, "health"))
			check_health(c, v);
		else if (!strcmp(k, "init"))
			want_value(c, v, k, p_bool, "true or false");
		else if (!strcmp(k, "restart"))
			want_value(c, v, k, parse_restart, "no, always, unless-stopped or on-failure[:N]");
		else if (!strcmp(k, "memory"))
			want_value(c, v, k, p_bytes, "a size such as 256m or 1g");
		else if (!strcmp(k, "cpus"))
			want_value(c, v, k, parse_cpus, "a positive number of CPUs such as 0.5");
		else if (!strcmp(k, "data"))
			check_data(c, v);
		else if (!strcmp(k, "backup"))
			check_backup(c, v, params);
	}
	const struct pnode *data = pc_get(params, "data");
	if (data && pc_get(params, "image"))
		pc_error(c, pc_get(params, "image")->pos,
			 "image and data exclude each other (data runs the dataset's prepared image)");
	else if (!data && !pc_get(params, "image"))
		pc_error(c, params->pos, "missing 'image' (or data: {dataset: NAMESPACE/NAME})");
}

/* ---- cluster config (a YAML tree: cluster configs are not templates) ---- */

static void ywant_string(struct param_check *c, const struct ynode *map, const char *key)
{
	const struct ynode *v = ynode_get(map, key);
	if (v && (v->kind != YNODE_SCALAR || !v->str->len))
		pc_error(c, v->pos, "%s must be a non-empty string", key);
}

static void check_cluster_config(struct param_check *c, const struct cluster *cl)
{
	static const char *const keys[] = { "endpoint", "tls", "ssh", "domain", "address", "nginx" };
	static const char *const nginx_keys[] = { "file", "conf", "binary", "port" };
	static const char *const tls_keys[] = { "ca", "cert", "key" };
	static const char *const ssh_keys[] = { "identity", "known_hosts" };
	const struct ynode *cfg = cl->config;
	if (!cfg)
		return; /* defaults: the local engine */
	if (cfg->kind != YNODE_MAP) {
		pc_error(c, cfg->pos, "config must be a mapping, not %s", ynode_describe(cfg));
		return;
	}
	pc_ykeys(c, cfg, keys, 6, "docker cluster config");
	ywant_string(c, cfg, "domain");
	/* Written into nginx's server blocks and the apps' URLs. */
	const struct ynode *domain = ynode_get(cfg, "domain");
	if (domain && domain->kind == YNODE_SCALAR && domain->str->len &&
	    !docker_host_valid(domain->str->s))
		pc_error(c, domain->pos,
			 "domain must be a lower-case host name such as preview.example.com");
	ywant_string(c, cfg, "address");
	const struct ynode *ep = ynode_get(cfg, "endpoint");
	if (ep) {
		const char *s = ep->kind == YNODE_SCALAR ? ep->str->s : "";
		if (strncmp(s, "unix://", 7) && strncmp(s, "tcp://", 6) && strncmp(s, "ssh://", 6))
			pc_error(c, ep->pos,
			     "endpoint must be unix:///path, tcp://host:port or ssh://[user@]host[:port]");
	}
	const struct ynode *ng = ynode_get(cfg, "nginx");
	if (ng && ng->kind != YNODE_MAP) {
		pc_error(c, ng->pos, "nginx must be a mapping with file, conf, binary and port");
	} else if (ng) {
		pc_ykeys(c, ng, nginx_keys, 4, "nginx");
		const struct ynode *file = ynode_get(ng, "file"), *port = ynode_get(ng, "port");
		if (!file || file->kind != YNODE_SCALAR || file->str->s[0] != '/')
			pc_error(c, file ? file->pos : ng->pos,
			     "nginx needs 'file': the absolute path of the file cairn writes its server blocks to");
		ywant_string(c, ng, "conf");
		ywant_string(c, ng, "binary");
		static const char *const paths[] = { "file", "conf", "binary" };
		for (size_t i = 0; i < 3; i++) {
			const struct ynode *v = ynode_get(ng, paths[i]);
			if (v && v->kind == YNODE_SCALAR && v->str->len && !pc_safe_path(v->str->s))
				pc_error(c, v->pos,
					 "nginx %s must be an absolute path of letters, digits and / . _ - + @",
					 paths[i]);
		}
		int p;
		if (port && (port->kind != YNODE_SCALAR || parse_port(port->str->s, &p) < 0))
			pc_error(c, port->pos, "nginx port must be a port number");
	}
	const struct ynode *tls = ynode_get(cfg, "tls");
	if (tls && tls->kind != YNODE_MAP)
		pc_error(c, tls->pos, "tls must be a mapping with ca, cert and key");
	else if (tls) {
		pc_ykeys(c, tls, tls_keys, 3, "tls");
		for (size_t i = 0; i < 3; i++) {
			if (!ynode_get(tls, tls_keys[i]))
				pc_error(c, tls->pos, "tls needs '%s'", tls_keys[i]);
			ywant_string(c, tls, tls_keys[i]);
		}
	}
	const struct ynode *ssh = ynode_get(cfg, "ssh");
	if (ssh && ssh->kind != YNODE_MAP)
		pc_error(c, ssh->pos, "ssh must be a mapping with identity and known_hosts");
	else if (ssh) {
		pc_ykeys(c, ssh, ssh_keys, 2, "ssh");
		for (size_t i = 0; i < 2; i++)
			ywant_string(c, ssh, ssh_keys[i]);
	}
}

int docker_check_object(const struct policy *p, const struct object *o, struct diags *diags)
{
	return pc_check_object(p, o, diags, "docker", check_params, "docker", check_cluster_config);
}
