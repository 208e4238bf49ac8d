/* States: the instances as desired by a resolution or as last applied,
 * detached from the policy, with their JSON form for the store. */
#include "engine.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/sha256.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct state *state_new(void)
{
	struct state *s = xcalloc(1, sizeof(*s));
	s->arena = arena_new_sized(64 * 1024);
	return s;
}

void state_free(struct state *s)
{
	if (!s)
		return;
	map_release(&s->by_key);
	free(s->instances);
	arena_free(s->arena);
	free(s);
}

const struct state_instance *state_get(const struct state *s, const char *key)
{
	return map_get(&s->by_key, key, strlen(key));
}

static void state_add(struct state *s, struct state_instance *si)
{
	if ((s->len & (s->len - 1)) == 0) /* capacity doubles at powers of two */
		s->instances = xrealloc(s->instances, (s->len ? s->len * 2 : 1) * sizeof(*s->instances));
	si->order = (uint32_t)s->len;
	s->instances[s->len++] = si;
	map_put(&s->by_key, si->key, strlen(si->key), si);
}

static const char *dup_or_null(struct arena *a, const char *s)
{
	return s ? arena_strdup(a, s) : NULL;
}

static const char *hash_hex(struct arena *a, const char *data, size_t len)
{
	char *hex = arena_alloc(a, SHA256_HEX_SIZE);
	sha256_hex(data, len, hex);
	return hex;
}

struct state *state_from_resolution(const struct resolution *r)
{
	struct state *s = state_new();
	struct arena *a = s->arena;
	for (size_t i = 0; i < r->ninstances; i++) {
		const struct instance *in = r->instances[i];
		struct state_instance *si = arena_alloc(a, sizeof(*si));
		si->key = arena_strdup(a, in->key);
		si->cluster = arena_strdup(a, in->cluster);
		si->ns = arena_strdup(a, in->ns);
		si->contract = arena_strdup(a, in->contract);
		si->context = arena_strdup(a, in->context);
		si->service = arena_strdup(a, in->service);
		si->component = arena_strdup(a, in->component);
		si->code_type = dup_or_null(a, in->code_type);
		if (in->params) {
			si->hash = hash_hex(a, in->params->s, in->params->len);
			si->params = arena_strdup(a, in->params_public ? in->params_public->s : in->params->s);
		}
		si->discovery = in->discovery ? arena_strdup(a, in->discovery->s) : NULL;
		si->ndeps = in->ndeps;
		si->deps = arena_alloc(a, (in->ndeps + 1) * sizeof(*si->deps));
		for (uint32_t d = 0; d < in->ndeps; d++)
			si->deps[d] = arena_strdup(a, in->deps[d]);
		si->nneeds = in->nedges_out;
		si->needs = arena_alloc(a, (in->nedges_out + 1) * sizeof(*si->needs));
		for (uint32_t e = 0; e < in->nedges_out; e++)
			si->needs[e] = arena_strdup(a, in->edges_out[e]->key);
		state_add(s, si);
	}
	return s;
}

static void add_field(struct strbuf *out, const char *name, const char *value, bool raw)
{
	if (!value)
		return;
	strbuf_addf(out, ",\"%s\":", name);
	if (raw)
		strbuf_adds(out, value);
	else
		strbuf_add_json_string(out, value);
}

static void add_list(struct strbuf *out, const char *name, const char **items, uint32_t n)
{
	strbuf_addf(out, ",\"%s\":[", name);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			strbuf_addc(out, ',');
		strbuf_add_json_string(out, items[i]);
	}
	strbuf_addc(out, ']');
}

void state_to_json(const struct state *s, struct strbuf *out)
{
	strbuf_adds(out, "{\"instances\":[");
	for (size_t i = 0; i < s->len; i++) {
		const struct state_instance *si = s->instances[i];
		strbuf_adds(out, i ? ",\n{" : "\n{");
		strbuf_adds(out, "\"key\":");
		strbuf_add_json_string(out, si->key);
		add_field(out, "cluster", si->cluster, false);
		add_field(out, "namespace", si->ns, false);
		add_field(out, "contract", si->contract, false);
		add_field(out, "context", si->context, false);
		add_field(out, "service", si->service, false);
		add_field(out, "component", si->component, false);
		add_field(out, "code", si->code_type, false);
		add_field(out, "hash", si->hash, false);
		add_field(out, "params", si->params, true);
		add_field(out, "discovery", si->discovery, true);
		add_list(out, "dependencies", si->deps, si->ndeps);
		add_list(out, "needs", si->needs, si->nneeds);
		strbuf_addc(out, '}');
	}
	strbuf_adds(out, "]}\n");
}

static const char *get_str(struct arena *a, json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
}

static const char *get_raw(struct arena *a, json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	if (!v || json_is_null(v))
		return NULL;
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	const char *copy = text ? arena_strdup(a, text) : NULL;
	free(text);
	return copy;
}

static int get_list(struct arena *a, json_t *obj, const char *name, const char ***out, uint32_t *n)
{
	json_t *v = json_object_get(obj, name);
	size_t len = json_is_array(v) ? json_array_size(v) : 0;
	*out = arena_alloc(a, (len + 1) * sizeof(**out));
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		json_t *item = json_array_get(v, i);
		if (!json_is_string(item))
			return -1;
		(*out)[(*n)++] = arena_strdup(a, json_string_value(item));
	}
	return 0;
}

int state_from_json(struct state **out, const char *json, struct error *err)
{
	*out = NULL;
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);
	if (!root)
		return error_set(err, "stored state is not valid JSON: line %d: %s", jerr.line, jerr.text);
	json_t *list = json_object_get(root, "instances");
	if (!json_is_array(list)) {
		json_decref(root);
		return error_set(err, "stored state has no instance list");
	}
	struct state *s = state_new();
	struct arena *a = s->arena;
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *o = json_array_get(list, i);
		struct state_instance *si = arena_alloc(a, sizeof(*si));
		si->key = get_str(a, o, "key");
		if (!si->key || state_get(s, si->key)) {
			state_free(s);
			json_decref(root);
			return error_set(err, "stored state: instance %zu has no key or a repeated one", i);
		}
		si->cluster = get_str(a, o, "cluster");
		si->ns = get_str(a, o, "namespace");
		si->contract = get_str(a, o, "contract");
		si->context = get_str(a, o, "context");
		si->service = get_str(a, o, "service");
		si->component = get_str(a, o, "component");
		si->code_type = get_str(a, o, "code");
		si->hash = get_str(a, o, "hash");
		si->params = get_raw(a, o, "params");
		si->discovery = get_raw(a, o, "discovery");
		if (get_list(a, o, "dependencies", &si->deps, &si->ndeps) < 0 ||
		    get_list(a, o, "needs", &si->needs, &si->nneeds) < 0) {
			state_free(s);
			json_decref(root);
			return error_set(err, "stored state: instance %s has a malformed list", si->key);
		}
		state_add(s, si);
	}
	json_decref(root);
	*out = s;
	return 0;
}
