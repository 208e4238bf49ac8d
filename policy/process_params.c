/* Checks of process code params and ssh cluster config (process_params.h).
 * Params are pnode trees whose strings are templates: only constants are
 * checked for their value here; the ssh driver checks rendered values. */
#include "process_params.h"
#include "params_check.h"

#include "base/parse.h"
#include "base/strbuf.h"
#include "docker_params.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int process_parse_percent(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || errno || v < 1 || v > 99)
		return -1;
	if (*end == '%')
		end++;
	if (*end)
		return -1;
	*out = (int)v;
	return 0;
}


#define N(a) (sizeof(a) / sizeof(*(a)))

/* ---- params (pnode trees) ---- */

typedef bool (*valid_fn)(const char *s);

static void want(struct param_check *c, const struct pnode *n, const char *what, valid_fn ok,
		 const char *expected)
{
	if (!pc_is_scalar(n)) {
		pc_error(c, n->pos, "%s must be %s, not %s", what, expected, pc_shape(n));
		return;
	}
	char buf[64];
	const char *t = pc_constant_text(n, buf, sizeof(buf));
	if (t && ok && !ok(t))
		pc_error(c, n->pos, "%s must be %s, not '%s'", what, expected, t);
}

static bool v_nonempty(const char *s)
{
	return *s != '\0';
}
static bool v_port(const char *s)
{
	int p;
	return parse_port(s, &p) == 0;
}
static bool v_duration(const char *s)
{
	int64_t ns;
	return parse_duration(s, &ns) == 0;
}
static bool v_listen(const char *s)
{
	return !strcmp(s, "socket") || !strcmp(s, "port");
}
static bool v_http_path(const char *s)
{
	if (s[0] != '/')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '\'' || *s == '"' || *s == '\\')
			return false;
	return true;
}
static bool v_host(const char *s)
{
	if (!*s || *s == '.' || *s == '-')
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '.'))
			return false;
	return true;
}
static bool v_prefix(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || s[0] != '/' || s[n - 1] != '/')
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("/-._~", *s)))
			return false;
	return true;
}
static bool v_percent(const char *s)
{
	int p;
	return process_parse_percent(s, &p) == 0;
}

static bool env_name_ok(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static void check_health(struct param_check *c, const struct pnode *n)
{
	static const char *const keys[] = { "http", "command", "timeout" };
	if (n->kind != PNODE_MAP) {
		pc_error(c, n->pos, "health must be a mapping: {http: /path} or {command: \"…\"}, not %s",
		     pc_shape(n));
		return;
	}
	pc_keys(c, n, keys, N(keys), "health");
	const struct pnode *http = pc_get(n, "http"), *cmd = pc_get(n, "command"), *t = pc_get(n, "timeout");
	if (!!http == !!cmd)
		pc_error(c, n->pos, "health needs exactly one of 'http' (a path) or 'command'");
	if (http)
		want(c, http, "health http", v_http_path, "a path starting with /");
	if (cmd)
		want(c, cmd, "health command", v_nonempty, "a non-empty command");
	if (t)
		want(c, t, "health timeout", v_duration, "a duration such as 30s");
}

static void check_update(struct param_check *c, const struct pnode *n)
{
	static const char *const keys[] = { "canary" };
	if (n->kind == PNODE_MAP) {
		pc_keys(c, n, keys, N(keys), "update");
		const struct pnode *p = pc_get(n, "canary");
		if (!p)
			pc_error(c, n->pos, "update needs 'canary: PERCENT' (or write update: blue-green)");
		else
			want(c, p, "canary", v_percent, "a percentage from 1 to 99");
		return;
	}
	char buf[64];
	const char *t = pc_is_scalar(n) ? pc_constant_text(n, buf, sizeof(buf)) : NULL;
	if (!pc_is_scalar(n) || (t && strcmp(t, "blue-green") != 0))
		pc_error(c, n->pos, "update must be blue-green or {canary: PERCENT}");
}

static void check_route(struct param_check *c, const struct pnode *n)
{
	static const char *const keys[] = { "host", "prefix" };
	if (n->kind != PNODE_MAP) {
		pc_error(c, n->pos, "route must be a mapping: {host: app.example.com, prefix: /}, not %s",
		     pc_shape(n));
		return;
	}
	pc_keys(c, n, keys, N(keys), "route");
	const struct pnode *h = pc_get(n, "host"), *p = pc_get(n, "prefix");
	if (h)
		want(c, h, "route host", v_host, "a host name (letters, digits, '-' and '.')");
	if (p)
		want(c, p, "route prefix", v_prefix,
		     "a path that starts and ends with '/' (letters, digits, -._~)");
}

static const char *const process_keys[] = {
	"artifact", "start", "env", "listen", "port", "health", "update", "route", "drain", "cluster",
};

static void check_params(struct param_check *c, const struct pnode *params, struct pos code_pos)
{
	if (!params || params->kind != PNODE_MAP) {
		pc_error(c, params ? params->pos : code_pos,
		     "process code needs params with 'artifact' and 'start'");
		return;
	}
	pc_keys(c, params, process_keys, N(process_keys), "process");
	for (uint32_t i = 0; i < params->len; i++) {
		const char *k = params->keys[i]->s;
		const struct pnode *v = params->children[i];
		if (strcmp(k, "env") != 0)
			pc_no_secrets(c, v, k);
		if (!strcmp(k, "artifact"))
			want(c, v, k, v_nonempty, "a local directory or .tar.gz file");
		else if (!strcmp(k, "start") || !strcmp(k, "cluster"))
			want(c, v, k, v_nonempty, "a non-empty string");
		else if (!strcmp(k, "env")) {
			if (v->kind != PNODE_MAP) {
				pc_error(c, v->pos, "env must be a mapping, not %s", pc_shape(v));
				continue;
			}
			for (uint32_t j = 0; j < v->len; j++) {
				if (!env_name_ok(v->keys[j]->s))
					pc_error(c, v->children[j]->pos, "env name '%s' is not a variable name",
					     v->keys[j]->s);
				else if (!strcmp(v->keys[j]->s, "LISTEN") || !strcmp(v->keys[j]->s, "PORT") ||
					 !strncmp(v->keys[j]->s, "CAIRN_", 6))
					pc_error(c, v->children[j]->pos,
					     "env '%s' is set by cairn (LISTEN, PORT, CAIRN_*)", v->keys[j]->s);
				if (!pc_is_scalar(v->children[j]))
					pc_error(c, v->children[j]->pos, "env '%s' must be a scalar, not %s",
					     v->keys[j]->s, pc_shape(v->children[j]));
			}
		} else if (!strcmp(k, "listen"))
			want(c, v, k, v_listen, "socket (the default) or port");
		else if (!strcmp(k, "port"))
			want(c, v, k, v_port, "a port number (1-65534; releases use it and the next)");
		else if (!strcmp(k, "health"))
			check_health(c, v);
		else if (!strcmp(k, "update"))
			check_update(c, v);
		else if (!strcmp(k, "route"))
			check_route(c, v);
		else if (!strcmp(k, "drain"))
			want(c, v, k, v_duration, "a duration such as 3s");
	}
	if (!pc_get(params, "artifact"))
		pc_error(c, params->pos, "missing 'artifact' (a local directory or .tar.gz file)");
	if (!pc_get(params, "start"))
		pc_error(c, params->pos, "missing 'start' (the command run in the release directory)");
	const struct pnode *listen = pc_get(params, "listen");
	char buf[64];
	const char *lt = listen && pc_is_scalar(listen) ? pc_constant_text(listen, buf, sizeof(buf)) : NULL;
	if (lt && !strcmp(lt, "port") && !pc_get(params, "port"))
		pc_error(c, listen->pos, "listen: port needs 'port'");
}

/* ---- ssh cluster config (a YAML tree) ---- */

static void ywant(struct param_check *c, const struct ynode *map, const char *key, valid_fn ok,
		  const char *expected)
{
	const struct ynode *v = ynode_get(map, key);
	if (!v)
		return;
	if (v->kind != YNODE_SCALAR || !v->str->len || (ok && !ok(v->str->s)))
		pc_error(c, v->pos, "%s must be %s", key, expected);
}

static bool v_user(const char *s)
{
	if (*s == '-')
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("._-", *s)))
			return false;
	return true;
}

static bool v_address(const char *s)
{
	return *s && *s != '-' && !strpbrk(s, " \t\n@/");
}

static bool v_seconds(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return end != s && !*end && v > 0 && v <= 600;
}

static void check_cluster_config(struct param_check *c, const struct cluster *cl)
{
	static const char *const keys[] = { "hosts", "identity", "known_hosts", "root",
					    "domain", "nginx", "connect_timeout" };
	static const char *const host_keys[] = { "address", "port", "user", "name" };
	static const char *const nginx_keys[] = { "config", "pid" };
	const struct ynode *cfg = cl->config;
	if (!cfg || cfg->kind != YNODE_MAP) {
		pc_error(c, cfg ? cfg->pos : cl->obj.pos,
		     "an ssh cluster needs config with 'hosts' and 'known_hosts'");
		return;
	}
	pc_ykeys(c, cfg, keys, N(keys), "ssh cluster config");
	ywant(c, cfg, "identity", NULL, "a file name");
	ywant(c, cfg, "known_hosts", NULL, "a file name");
	ywant(c, cfg, "root", pc_safe_path, "an absolute path of letters, digits and / . _ - + @");
	ywant(c, cfg, "domain", v_host, "a host name");
	ywant(c, cfg, "connect_timeout", v_seconds, "a number of seconds (1-600)");
	if (!ynode_get(cfg, "known_hosts"))
		pc_error(c, cfg->pos, "missing 'known_hosts': host keys are always checked");
	const struct ynode *nginx = ynode_get(cfg, "nginx");
	if (nginx && nginx->kind != YNODE_MAP)
		pc_error(c, nginx->pos, "nginx must be a mapping: {config: /etc/nginx/nginx.conf, pid: /run/nginx.pid}");
	else if (nginx) {
		pc_ykeys(c, nginx, nginx_keys, N(nginx_keys), "nginx");
		ywant(c, nginx, "config", pc_safe_path, "an absolute path of letters, digits and / . _ - + @");
		ywant(c, nginx, "pid", pc_safe_path, "an absolute path of letters, digits and / . _ - + @");
	}
	const struct ynode *hosts = ynode_get(cfg, "hosts");
	if (!hosts) {
		pc_error(c, cfg->pos, "missing 'hosts' (a list of {address, port, user, name})");
		return;
	}
	if (hosts->kind != YNODE_SEQ || hosts->len == 0) {
		pc_error(c, hosts->pos, "hosts must be a non-empty list of {address, port, user, name}");
		return;
	}
	for (size_t i = 0; i < hosts->len; i++) {
		const struct ynode *h = hosts->items[i];
		if (h->kind == YNODE_SCALAR) {
			if (!v_address(h->str->s))
				pc_error(c, h->pos, "host address '%s' is not a host name or address", h->str->s);
			continue;
		}
		if (h->kind != YNODE_MAP) {
			pc_error(c, h->pos, "a host must be an address or {address, port, user, name}");
			continue;
		}
		pc_ykeys(c, h, host_keys, N(host_keys), "host");
		if (!ynode_get(h, "address"))
			pc_error(c, h->pos, "a host needs 'address'");
		ywant(c, h, "address", v_address, "a host name or address");
		ywant(c, h, "port", v_port, "a port number");
		ywant(c, h, "user", v_user, "a user name");
		ywant(c, h, "name", v_host, "a name (letters, digits, '-' and '.')");
	}
}

int process_check_object(const struct policy *p, const struct object *o, struct diags *diags)
{
	return pc_check_object(p, o, diags, "process", check_params, "ssh", check_cluster_config);
}
