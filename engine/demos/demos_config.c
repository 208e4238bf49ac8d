/* The `demos:` section of the server's config file (demos.h). */
#include "demos.h"
#include "base/parse.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "policy/policy.h"
#include "policy/yaml.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const demos_keys[] = { "domain", "contracts", "snapshots", "schedule_interval",
					   NULL };
static const char *const offer_keys[] = { "contract", "ttl", NULL };

static const char *string_of(const struct ynode *v, const char *what, struct diags *d)
{
	if (v->kind == YNODE_SCALAR && ynode_scalar(v, NULL, NULL, NULL) != YSCALAR_NULL &&
	    v->str->len)
		return v->str->s;
	diags_add_at(d, v->pos, "%s must be a non-empty string, not %s", what, ynode_describe(v));
	return NULL;
}

static void load_offer(struct demos_config *c, const struct ynode *m, struct diags *d)
{
	if (m->kind != YNODE_MAP) {
		diags_add_at(d, m->pos, "demos.contracts: each entry must be a mapping {contract, ttl}, "
					"not %s",
			     ynode_describe(m));
		return;
	}
	struct demo_offer o = { 0 };
	for (size_t i = 0; i < m->len; i++) {
		const struct ypair *p = &m->pairs[i];
		const char *s = NULL;
		if (strcmp(p->key->s, "contract") == 0 &&
		    (s = string_of(p->value, "demos.contracts: contract", d))) {
			const char *slash = strchr(s, '/');
			if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
				diags_add_at(d, p->value->pos,
					     "demos.contracts: contract must be NAMESPACE/NAME, not '%s'", s);
			else
				o.contract = xstrdup(s);
		} else if (strcmp(p->key->s, "ttl") == 0 &&
			   (s = string_of(p->value, "demos.contracts: ttl", d))) {
			int64_t secs;
			if (parse_duration_seconds(s, &secs) < 0 || secs <= 0)
				diags_add_at(d, p->value->pos,
					     "demos.contracts: ttl '%s' is not a positive duration (like "
					     "24h or 7d)",
					     s);
			else
				o.ttl = xstrdup(s);
		} else if (strcmp(p->key->s, "contract") != 0 && strcmp(p->key->s, "ttl") != 0) {
			yaml_unknown_key(d, p, "a demos.contracts entry", offer_keys);
		}
	}
	if (!o.contract) {
		if (!ynode_get(m, "contract"))
			diags_add_at(d, m->pos, "demos.contracts: an entry needs 'contract'");
		free(o.ttl);
		return;
	}
	for (size_t i = 0; i < c->noffers; i++)
		if (strcmp(c->offers[i].contract, o.contract) == 0)
			diags_add_at(d, m->pos, "demos.contracts: contract %s is listed twice",
				     o.contract);
	if (!o.ttl)
		o.ttl = xstrdup(DEMO_TTL_DEFAULT);
	c->offers = xrealloc(c->offers, (c->noffers + 1) * sizeof(*c->offers));
	c->offers[c->noffers++] = o;
}

int demos_config_load(struct demos_config **out, const char *path, struct diags *d)
{
	*out = NULL;
	struct demos_config *c = xcalloc(1, sizeof(*c));
	size_t before = d->len;
	struct arena *a = arena_new();
	struct intern *in = intern_new();
	struct ynode **docs = NULL;
	size_t ndocs = 0;
	if (path && yaml_parse_file(a, in, path, &docs, &ndocs, d) == 0 && ndocs &&
	    docs[0]->kind == YNODE_MAP) {
		const struct ynode *top_domain = ynode_get(docs[0], "domain");
		const struct ynode *m = ynode_get(docs[0], "demos");
		const char *s;
		if (top_domain && (s = string_of(top_domain, "domain", d)))
			c->domain = xstrdup(s);
		if (m && m->kind != YNODE_MAP)
			diags_add_at(d, m->pos, "demos must be a mapping {domain, contracts}, not %s",
				     ynode_describe(m));
		for (size_t i = 0; m && m->kind == YNODE_MAP && i < m->len; i++) {
			const struct ypair *p = &m->pairs[i];
			if (strcmp(p->key->s, "domain") == 0) {
				if ((s = string_of(p->value, "demos.domain", d))) {
					free(c->domain);
					c->domain = xstrdup(s);
				}
			} else if (strcmp(p->key->s, "snapshots") == 0) {
				if ((s = string_of(p->value, "demos.snapshots", d))) {
					const char *slash = strrchr(path, '/');
					free(c->snapshots);
					if (s[0] == '/' || !slash)
						c->snapshots = xstrdup(s);
					else if (asprintf(&c->snapshots, "%.*s/%s", (int)(slash - path), path,
							  s) < 0)
						abort();
				}
			} else if (strcmp(p->key->s, "schedule_interval") == 0) {
				int64_t secs;
				if ((s = string_of(p->value, "demos.schedule_interval", d)) &&
				    (parse_duration_seconds(s, &secs) < 0 || secs <= 0))
					diags_add_at(d, p->value->pos,
						     "demos.schedule_interval '%s' is not a positive duration "
						     "(like 30s or 5m)",
						     s);
				else if (s)
					c->interval_ms = (long long)secs * 1000;
			} else if (strcmp(p->key->s, "contracts") == 0) {
				if (p->value->kind != YNODE_SEQ)
					diags_add_at(d, p->value->pos,
						     "demos.contracts must be a list, not %s",
						     ynode_describe(p->value));
				for (size_t k = 0; p->value->kind == YNODE_SEQ && k < p->value->len; k++)
					load_offer(c, p->value->items[k], d);
			} else {
				yaml_unknown_key(d, p, "demos", demos_keys);
			}
		}
	}
	intern_free(in);
	arena_free(a);
	if (d->len > before) {
		demos_config_free(c);
		return -1;
	}
	if (!c->domain)
		c->domain = xstrdup("localhost");
	for (char *q = c->domain; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	*out = c;
	return 0;
}

void demos_config_free(struct demos_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->noffers; i++) {
		free(c->offers[i].contract);
		free(c->offers[i].ttl);
	}
	free(c->offers);
	free(c->domain);
	free(c->snapshots);
	free(c);
}

const struct demo_offer *demos_offer(const struct demos_config *c, const char *contract)
{
	for (size_t i = 0; c && i < c->noffers; i++)
		if (strcmp(c->offers[i].contract, contract) == 0)
			return &c->offers[i];
	return NULL;
}
