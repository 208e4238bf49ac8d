/* Templates of parameters, discovery and allocation keys: the part of Go's
 * text/template that policies use ({{ .Labels.x }}, .User, .Discovery,
 * pipelines, if/else, index, printf, len, default) and cairn's .Data. Compiled once, rendered
 * many times. A reference to something absent is an error naming the path. */
#ifndef CAIRN_TEMPLATE_H
#define CAIRN_TEMPLATE_H

#include "base/error.h"
#include "base/intern.h"
#include "labels.h"

#include <stdbool.h>

struct strbuf;
struct template;

/* A node of the discovery tree: a map of named children, or a leaf with text.
 * Lookups that miss in `entries` continue in `fallback` (the resolver overlays
 * `instance`, `instanceId` and `service` on a component's view this way). */
struct dnode_entry {
	const struct istr *key;
	struct dnode *child;
};

struct dnode {
	const char *text; /* leaf when non-NULL */
	struct dnode_entry *entries;
	uint32_t len, cap;
	const struct dnode *fallback;
};

/* The child named key, or NULL. */
const struct dnode *dnode_get(const struct dnode *n, const struct istr *key);

/* What a template can see. NULL members are absent: reading them is an error. */
struct template_scope {
	const struct labels *labels;       /* .Labels */
	const char *user_name;             /* .User.Name */
	const struct labels *user_labels;  /* .User.Labels */
	const struct labels *user_secrets; /* .User.Secrets; NULL = user has none */
	const struct dnode *discovery;     /* .Discovery */
};

/* What {{ .Data.build }}, {{ .Data.snapshot }} and {{ .Data.dataset }}
 * render to: markers that the docker driver replaces with the build, id and
 * dataset of the prepared snapshot the service instance's `data` component
 * runs, which is only chosen when it plans (the newest prepared, or the one
 * its container already runs). */
#define TEMPLATE_DATA_BUILD "${cairn.data.build}"
#define TEMPLATE_DATA_SNAPSHOT "${cairn.data.snapshot}"
#define TEMPLATE_DATA_DATASET "${cairn.data.dataset}"

/* Compiles text. On error returns -1: "unable to compile template '{{ x': ..." */
int template_compile(struct template **out, struct intern *in, const char *text, struct error *err);
void template_free(struct template *t);
const char *template_text(const struct template *t);
/* True when the text has no actions; template_text() is then its output. */
bool template_is_constant(const struct template *t);
/* True when rendering reads .User.Secrets (such values are never put in labels or logs). */
bool template_uses_secrets(const struct template *t);

/* True when the output depends on nothing but .Labels (so it can be cached
 * per label set). */
bool template_reads_only_labels(const struct template *t);

/* Appends the output to out. On error returns -1 with a message naming the
 * missing path, e.g. "no label 'clustr' in .Labels.clustr". */
int template_render(const struct template *t, const struct template_scope *scope,
		    struct strbuf *out, struct error *err);

#endif
