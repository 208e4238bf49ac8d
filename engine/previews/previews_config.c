/* The previews part of the server's config file (`github:`, `domain:`,
 * `repositories:`, `expiry:`), checked key by key with file:line:col, and
 * the host names and URLs a repository's patterns give. The server's own
 * sections of the same file are read elsewhere. */
#include "previews_internal.h"
#include "base/parse.h"
#include "base/sha256.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "policy/policy.h"
#include "policy/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const default_trigger[] = { "OWNER", "MEMBER", "COLLABORATOR" };
static const char *const associations[] = { "OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR",
					    "FIRST_TIMER", "FIRST_TIME_CONTRIBUTOR", "MANNEQUIN",
					    "NONE" };
static const char *const host_placeholders[] = { "repo", "owner", "pr", "branch", "domain", NULL };
static const char *const url_placeholders[] = { "host", NULL };

#define DEFAULT_HOST "{repo}-pr-{pr}.{domain}"

struct cfg_load {
	struct previews_config *c;
	struct diags *d;
	const char *dir; /* of the config file, for relative paths */
};

/* Reports an unknown key of a section with the nearest known one. */
static const char *want_string(struct cfg_load *ld, const struct ynode *v, const char *what)
{
	if (v->kind != YNODE_SCALAR || ynode_scalar(v, NULL, NULL, NULL) == YSCALAR_NULL) {
		diags_add_at(ld->d, v->pos, "%s must be a string, not %s", what, ynode_describe(v));
		return NULL;
	}
	return v->str->s;
}

static bool want_map(struct cfg_load *ld, const struct ynode *v, const char *what)
{
	if (v->kind == YNODE_MAP)
		return true;
	diags_add_at(ld->d, v->pos, "%s must be a mapping, not %s", what, ynode_describe(v));
	return false;
}

/* A secret file's content without its trailing newline; never echoed. */
static char *read_secret(struct cfg_load *ld, const struct ynode *v, const char *what,
			 size_t *len)
{
	const char *path = want_string(ld, v, what);
	if (!path)
		return NULL;
	char *full = path[0] == '/' ? xstrdup(path) : NULL;
	if (!full) {
		full = xmalloc(strlen(ld->dir) + strlen(path) + 2);
		sprintf(full, "%s/%s", ld->dir, path);
	}
	struct strbuf sb = STRBUF_INIT;
	if (strbuf_read_file(&sb, full) < 0) {
		diags_add_at(ld->d, v->pos, "%s %s: cannot read: %s", what, full, strerror(errno));
		strbuf_release(&sb);
		free(full);
		return NULL;
	}
	size_t n_kept = sb.len;
	while (n_kept && (sb.buf[n_kept - 1] == '\n' || sb.buf[n_kept - 1] == '\r' ||
			  sb.buf[n_kept - 1] == ' ' || sb.buf[n_kept - 1] == '\t'))
		n_kept--;
	strbuf_truncate(&sb, n_kept);
	if (sb.len == 0) {
		diags_add_at(ld->d, v->pos, "%s %s is empty", what, full);
		strbuf_release(&sb);
		free(full);
		return NULL;
	}
	free(full);
	*len = sb.len;
	return strbuf_detach(&sb);
}

/* A period like 10s or 5m, as milliseconds. */
static long long want_interval(struct cfg_load *ld, const struct ynode *v, const char *what)
{
	int64_t secs = 0;
	const char *s = want_string(ld, v, what);
	if (!s)
		return 0;
	if ((ynode_scalar(v, &secs, NULL, NULL) != YSCALAR_INT && parse_duration_seconds(s, &secs) < 0) ||
	    secs <= 0) {
		diags_add_at(ld->d, v->pos, "%s '%s' is not a positive duration (like 10s or 5m)",
			     what, s);
		return 0;
	}
	return (long long)secs * 1000;
}

static void load_github(struct cfg_load *ld, const struct ynode *m)
{
	static const char *const keys[] = { "api_url", "token_file", "webhook_secret_file",
					    "timeout", NULL };
	if (!want_map(ld, m, "github"))
		return;
	struct previews_config *c = ld->c;
	for (size_t i = 0; i < m->len; i++) {
		const struct ypair *p = &m->pairs[i];
		const char *k = p->key->s;
		size_t len;
		if (strcmp(k, "api_url") == 0) {
			const char *s = want_string(ld, p->value, "github.api_url");
			if (!s)
				continue;
			if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
				diags_add_at(ld->d, p->value->pos,
					     "github.api_url '%s' must start with http:// or https://", s);
				continue;
			}
			free(c->api_url);
			c->api_url = xstrdup(s);
			size_t n = strlen(c->api_url);
			while (n && c->api_url[n - 1] == '/')
				c->api_url[--n] = '\0';
		} else if (strcmp(k, "token_file") == 0) {
			free(c->token);
			c->token = read_secret(ld, p->value, "github.token_file", &len);
		} else if (strcmp(k, "webhook_secret_file") == 0) {
			free(c->secret);
			c->secret = read_secret(ld, p->value, "github.webhook_secret_file",
						&c->secret_len);
		} else if (strcmp(k, "timeout") == 0) {
			long long ms = want_interval(ld, p->value, "github.timeout");
			if (ms)
				c->github_timeout_ms = ms;
		} else {
			yaml_unknown_key(ld->d, p, "github", keys);
		}
	}
}

static void load_expiry(struct cfg_load *ld, const struct ynode *m)
{
	static const char *const keys[] = { "reap_interval", "sweep_interval", NULL };
	if (!want_map(ld, m, "expiry"))
		return;
	for (size_t i = 0; i < m->len; i++) {
		const struct ypair *p = &m->pairs[i];
		long long ms;
		if (strcmp(p->key->s, "reap_interval") == 0) {
			if ((ms = want_interval(ld, p->value, "expiry.reap_interval")))
				ld->c->reap_ms = ms;
		} else if (strcmp(p->key->s, "sweep_interval") == 0) {
			if ((ms = want_interval(ld, p->value, "expiry.sweep_interval")))
				ld->c->sweep_ms = ms;
		} else {
			yaml_unknown_key(ld->d, p, "expiry", keys);
		}
	}
}

static bool is_ident_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.';
}

/* "owner/repo" with GitHub's characters. */
static bool repo_name_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
		return false;
	for (const char *p = s; *p; p++)
		if (p != slash && !is_ident_char(*p))
			return false;
	return true;
}

/* A host or url pattern (heap), using only the placeholders allowed; NULL
 * with an error. */
static char *want_pattern(struct cfg_load *ld, const struct ynode *v, const char *what,
			  const char *const *allowed)
{
	const char *s = want_string(ld, v, what);
	if (!s)
		return NULL;
	struct error err = ERROR_INIT;
	char *out = NULL;
	if (preview_pattern_check(s, allowed, &err) < 0)
		diags_add_at(ld->d, v->pos, "%s: %s", what, error_msg(&err));
	else
		out = xstrdup(s);
	error_clear(&err);
	return out;
}

/* The author associations whose pull requests get a preview, upper case. */
static void load_trigger(struct cfg_load *ld, const struct ynode *v, struct preview_repo *r)
{
	if (v->kind != YNODE_SEQ) {
		diags_add_at(ld->d, v->pos, "trigger must be a list of author associations, not %s",
			     ynode_describe(v));
		return;
	}
	r->trigger = xcalloc(v->len ? v->len : 1, sizeof(*r->trigger));
	for (size_t j = 0; j < v->len; j++) {
		const char *s = want_string(ld, v->items[j], "a trigger");
		if (!s)
			continue;
		bool known = false;
		for (size_t a = 0; a < sizeof(associations) / sizeof(*associations); a++)
			known |= strcasecmp(s, associations[a]) == 0;
		if (!known) {
			diags_add_at(ld->d, v->items[j]->pos,
				     "trigger '%s' is not an author association (OWNER, MEMBER, "
				     "COLLABORATOR, CONTRIBUTOR, FIRST_TIMER, FIRST_TIME_CONTRIBUTOR, "
				     "MANNEQUIN, NONE)",
				     s);
			continue;
		}
		r->trigger[r->ntrigger] = xstrdup(s);
		for (char *q = r->trigger[r->ntrigger]; *q; q++)
			*q = (char)toupper((unsigned char)*q);
		r->ntrigger++;
	}
}

/* What a repository must say, and the defaults of what it may leave out. */
static void repo_complete(struct cfg_load *ld, const struct ynode *m, struct preview_repo *r)
{
	if (!r->name && !ynode_get(m, "name"))
		diags_add_at(ld->d, m->pos, "repository: 'name' is required");
	if (!r->contract && !ynode_get(m, "contract"))
		diags_add_at(ld->d, m->pos, "repository %s: 'contract' is required",
			     r->name ? r->name : "");
	if (!r->user && !ynode_get(m, "user"))
		diags_add_at(ld->d, m->pos, "repository %s: 'user' is required",
			     r->name ? r->name : "");
	if (!r->ns && r->contract)
		r->ns = xstrndup(r->contract, (size_t)(strchr(r->contract, '/') - r->contract));
	if (!r->host)
		r->host = xstrdup(DEFAULT_HOST);
	if (!r->url)
		r->url = xstrdup(PREVIEW_DEFAULT_URL);
	if (!r->approval_label)
		r->approval_label = xstrdup("preview-approved");
	if (!r->trigger) {
		r->ntrigger = sizeof(default_trigger) / sizeof(*default_trigger);
		r->trigger = xcalloc(r->ntrigger, sizeof(*r->trigger));
		for (size_t j = 0; j < r->ntrigger; j++)
			r->trigger[j] = xstrdup(default_trigger[j]);
	}
}

static void load_repo(struct cfg_load *ld, const struct ynode *m, struct preview_repo *r)
{
	static const char *const keys[] = { "name", "contract", "namespace", "user", "host", "url",
					    "trigger", "fork_approval_label", "ttl", NULL };
	for (size_t i = 0; i < m->len; i++) {
		const struct ypair *p = &m->pairs[i];
		const char *k = p->key->s;
		const struct ynode *v = p->value;
		const char *s;
		if (strcmp(k, "name") == 0) {
			if (!(s = want_string(ld, v, "repository name")))
				continue;
			if (!repo_name_ok(s))
				diags_add_at(ld->d, v->pos,
					     "repository name '%s' must be owner/repo", s);
			else
				r->name = xstrdup(s);
		} else if (strcmp(k, "contract") == 0) {
			if (!(s = want_string(ld, v, "contract")))
				continue;
			const char *slash = strchr(s, '/');
			if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
				diags_add_at(ld->d, v->pos, "contract '%s' must be namespace/name", s);
			else
				r->contract = xstrdup(s);
		} else if (strcmp(k, "namespace") == 0) {
			if ((s = want_string(ld, v, "namespace")))
				r->ns = xstrdup(s);
		} else if (strcmp(k, "user") == 0) {
			if ((s = want_string(ld, v, "user")))
				r->user = xstrdup(s);
		} else if (strcmp(k, "host") == 0) {
			r->host = want_pattern(ld, v, "host", host_placeholders);
		} else if (strcmp(k, "url") == 0) {
			r->url = want_pattern(ld, v, "url", url_placeholders);
		} else if (strcmp(k, "trigger") == 0) {
			load_trigger(ld, v, r);
		} else if (strcmp(k, "fork_approval_label") == 0) {
			if ((s = want_string(ld, v, "fork_approval_label")))
				r->approval_label = xstrdup(s);
		} else if (strcmp(k, "ttl") == 0) {
			int64_t secs;
			if (!(s = want_string(ld, v, "ttl")))
				continue;
			if (parse_duration_seconds(s, &secs) < 0 || secs <= 0)
				diags_add_at(ld->d, v->pos,
					     "ttl '%s' is not a positive duration (like 90m, 72h or 7d)", s);
			else
				r->ttl = xstrdup(s);
		} else {
			yaml_unknown_key(ld->d, p, "a repository", keys);
		}
	}
	repo_complete(ld, m, r);
}

static void load_repos(struct cfg_load *ld, const struct ynode *v)
{
	if (v->kind != YNODE_SEQ) {
		diags_add_at(ld->d, v->pos, "repositories must be a list, not %s", ynode_describe(v));
		return;
	}
	struct previews_config *c = ld->c;
	c->repos = xcalloc(v->len ? v->len : 1, sizeof(*c->repos));
	for (size_t i = 0; i < v->len; i++) {
		const struct ynode *m = v->items[i];
		if (!want_map(ld, m, "a repository"))
			continue;
		struct preview_repo *r = &c->repos[c->nrepos++];
		load_repo(ld, m, r);
		for (size_t j = 0; j + 1 < c->nrepos && r->name; j++) {
			const struct preview_repo *o = &c->repos[j];
			if (o->name && strcasecmp(o->name, r->name) == 0)
				diags_add_at(ld->d, m->pos, "repository %s is configured twice", r->name);
			else if (o->name && o->ns && r->ns && strcmp(o->ns, r->ns) == 0)
				/* Both would name their previews pr-<n> there: PR 1 of one
				 * would overwrite PR 1 of the other. */
				diags_add_at(ld->d, m->pos,
					     "repositories %s and %s both put their previews (pr-<n>) in "
					     "namespace %s: give one its own 'namespace'",
					     o->name, r->name, r->ns);
		}
	}
}

int previews_config_load(struct previews_config **out, const char *path, struct diags *d)
{
	*out = NULL;
	struct previews_config *c = xcalloc(1, sizeof(*c));
	c->api_url = xstrdup("https://api.github.com");
	c->reap_ms = 10000;
	c->sweep_ms = 300000;
	c->github_timeout_ms = 10000;
	if (!path) {
		*out = c;
		return 0;
	}
	struct arena *a = arena_new();
	struct intern *in = intern_new();
	struct ynode **docs = NULL;
	size_t ndocs = 0;
	size_t before = d->len;
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	if (!*dir) {
		free(dir);
		dir = xstrdup("/");
	}
	struct cfg_load ld = { c, d, dir };
	if (yaml_parse_file(a, in, path, &docs, &ndocs, d) < 0)
		goto out;
	if (ndocs > 1)
		diags_add_at(d, docs[1]->pos, "the server config is one YAML document");
	if (ndocs == 0 || (docs[0]->kind == YNODE_SCALAR &&
			   ynode_scalar(docs[0], NULL, NULL, NULL) == YSCALAR_NULL))
		goto out;
	if (!want_map(&ld, docs[0], "the server config"))
		goto out;
	/* Only these top-level keys are ours; the server reads the others. */
	for (size_t i = 0; i < docs[0]->len; i++) {
		const struct ypair *p = &docs[0]->pairs[i];
		const char *k = p->key->s;
		if (strcmp(k, "github") == 0) {
			load_github(&ld, p->value);
		} else if (strcmp(k, "repositories") == 0) {
			load_repos(&ld, p->value);
		} else if (strcmp(k, "expiry") == 0) {
			load_expiry(&ld, p->value);
		} else if (strcmp(k, "domain") == 0) {
			const char *s = want_string(&ld, p->value, "domain");
			if (s) {
				free(c->domain);
				c->domain = xstrdup(s);
				for (char *q = c->domain; *q; q++)
					*q = (char)tolower((unsigned char)*q);
			}
		}
	}
	if (c->nrepos && !c->secret && d->len == before)
		diags_add_at(d, docs[0]->pos,
			     "github.webhook_secret_file is required when repositories are configured");
out:
	free(dir);
	intern_free(in);
	arena_free(a);
	if (d->len > before) {
		previews_config_free(c);
		return -1;
	}
	if (!c->domain)
		c->domain = xstrdup("localhost");
	*out = c;
	return 0;
}

void previews_config_free(struct previews_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nrepos; i++) {
		struct preview_repo *r = &c->repos[i];
		free(r->name);
		free(r->contract);
		free(r->ns);
		free(r->user);
		free(r->host);
		free(r->url);
		for (size_t j = 0; j < r->ntrigger; j++)
			free(r->trigger[j]);
		free(r->trigger);
		free(r->approval_label);
		free(r->ttl);
	}
	free(c->repos);
	free(c->api_url);
	if (c->token)
		memset(c->token, 0, strlen(c->token));
	free(c->token);
	if (c->secret)
		memset(c->secret, 0, c->secret_len);
	free(c->secret);
	free(c->domain);
	free(c);
}

const struct preview_repo *previews_config_repo(const struct previews_config *c, const char *name)
{
	for (size_t i = 0; i < c->nrepos; i++)
		if (c->repos[i].name && strcasecmp(c->repos[i].name, name) == 0)
			return &c->repos[i];
	return NULL;
}

int preview_pattern_check(const char *pattern, const char *const *allowed, struct error *err)
{
	for (const char *p = pattern; *p; p++) {
		if (*p == '}')
			return error_set(err, "'}' without '{' in '%s'", pattern);
		if (*p != '{')
			continue;
		const char *end = strchr(p, '}');
		if (!end)
			return error_set(err, "'{' without '}' in '%s'", pattern);
		size_t n = (size_t)(end - p - 1);
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strlen(allowed[i]) == n && strncmp(allowed[i], p + 1, n) == 0;
		if (!ok) {
			struct strbuf names = STRBUF_INIT;
			for (size_t i = 0; allowed[i]; i++)
				strbuf_addf(&names, "%s{%s}", i ? ", " : "", allowed[i]);
			error_set(err, "unknown placeholder '{%.*s}' (known: %s)", (int)n, p + 1,
				  names.buf);
			strbuf_release(&names);
			return -1;
		}
		p = end;
	}
	return 0;
}

/* A value put into a host name: lower-case letters, digits and '-' (dots
 * too would make new labels). */
static void host_value(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)*s);
		strbuf_addc(out, isalnum(ch) && ch < 128 ? (char)ch : '-');
	}
}

/* Appends one DNS label: [a-z0-9-], no '-' at either end, at most 63 bytes
 * (a longer one keeps 54 bytes, '-' and 8 hex digits of its SHA-256). */
static void host_label(struct strbuf *out, const char *s, size_t n)
{
	struct strbuf l = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)s[i]);
		char c = isalnum(ch) && ch < 128 ? (char)ch : '-';
		if (c == '-' && l.len && l.buf[l.len - 1] == '-')
			continue;
		strbuf_addc(&l, c);
	}
	size_t b = 0, e = l.len;
	while (b < e && l.buf[b] == '-')
		b++;
	while (e > b && l.buf[e - 1] == '-')
		e--;
	if (b == e) {
		strbuf_adds(out, "x");
	} else if (e - b <= 63) {
		strbuf_add(out, l.buf + b, e - b);
	} else {
		unsigned char md[SHA256_SIZE];
		sha256(l.buf + b, e - b, md);
		size_t keep = 54;
		while (keep && l.buf[b + keep - 1] == '-')
			keep--;
		strbuf_add(out, l.buf + b, keep);
		char hex[9];
		hex_encode(md, 4, hex);
		strbuf_addf(out, "-%s", hex);
	}
	strbuf_release(&l);
}

void preview_host(const struct preview_repo *r, const char *domain, long long pr,
		  const char *branch, struct strbuf *out)
{
	struct strbuf raw = STRBUF_INIT;
	const char *slash = strchr(r->name, '/');
	for (const char *p = r->host; *p; p++) {
		const char *end = *p == '{' ? strchr(p, '}') : NULL;
		if (!end) {
			strbuf_addc(&raw, *p);
			continue;
		}
		size_t n = (size_t)(end - p - 1);
		const char *name = p + 1;
		if (n == 4 && strncmp(name, "repo", 4) == 0) {
			host_value(&raw, slash ? slash + 1 : r->name);
		} else if (n == 5 && strncmp(name, "owner", 5) == 0) {
			struct strbuf o = STRBUF_INIT;
			strbuf_add(&o, r->name, slash ? (size_t)(slash - r->name) : strlen(r->name));
			host_value(&raw, o.buf);
			strbuf_release(&o);
		} else if (n == 2 && strncmp(name, "pr", 2) == 0) {
			strbuf_addf(&raw, "%lld", pr);
		} else if (n == 6 && strncmp(name, "branch", 6) == 0) {
			host_value(&raw, branch ? branch : "");
		} else if (n == 6 && strncmp(name, "domain", 6) == 0) {
			/* The domain keeps its dots: it is several labels. */
			strbuf_adds(&raw, domain);
		}
		p = end;
	}
	const char *s = strbuf_cstr(&raw);
	for (;;) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (n)
			host_label(out, s, n);
		if (!dot)
			break;
		if (n && out->len && out->buf[out->len - 1] != '.')
			strbuf_addc(out, '.');
		s = dot + 1;
	}
	if (out->len && out->buf[out->len - 1] == '.')
		strbuf_truncate(out, out->len - 1);
	strbuf_release(&raw);
}

void preview_url(const struct preview_repo *r, const char *host, struct strbuf *out)
{
	for (const char *p = r->url; *p; p++) {
		if (*p == '{' && strncmp(p, "{host}", 6) == 0) {
			strbuf_adds(out, host);
			p += 5;
		} else {
			strbuf_addc(out, *p);
		}
	}
}
