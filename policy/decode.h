/* Inside the policy module: decoding YAML nodes into objects through field
 * tables, with errors that carry "file:line:col: kind ns/name: context:".
 * objects.c holds the store, load.c the loader, kinds.c the field table of
 * each Aptomi kind and dataset.c the dataset kind. Not part of the public
 * API. */
#ifndef CAIRN_POLICY_DECODE_H
#define CAIRN_POLICY_DECODE_H

#include "policy.h"

#include "base/map.h"
#include "base/strbuf.h"
#include "base/vec.h"

struct policy_impl;

/* Each kind's name, by enum kind ("service", ...). */
extern const char *const kind_names[KIND_COUNT];

struct pending {
	struct object *obj;
	const char *key; /* "kind/ns/name", in the policy arena */
	size_t keylen;
};

/* What the policy owns outside its arena: compiled criteria and templates
 * (heap-owned by their modules) and label sets. Kept until policy_free(),
 * also for objects removed or refused, so nothing handed out dangles. */
struct policy_impl {
	struct policy pub;
	VEC(struct criteria *) criteria;
	VEC(struct template *) templates;
	VEC(struct labels *) labels;
};

/* One call of policy_add_yaml or policy_add_path. */
struct load {
	struct policy *p;
	struct policy_impl *pi;
	struct intern *in;
	struct diags *diags;
	struct strbuf prefix; /* "service main/kafka: " once known */
	struct strbuf ctx;    /* "component kafka: code: " */
	int errors;           /* of the current object */
	int total;            /* of the whole load */
	VEC(struct pending) pending;
	struct map seen; /* this load's objects by key */
};

/* An error at pos, prefixed with the object and the context. */
void lerr(struct load *ld, struct pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Appends to the context; returns the length to restore with ctx_pop(). */
size_t ctx_push(struct load *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctx_pop(struct load *ld, size_t mark);

/* ^[a-zA-Z][a-zA-Z0-9_-]{0,63}$ */
bool is_ident(const struct istr *s);
int check_ident(struct load *ld, struct pos pos, const char *what, const struct istr *s);
bool is_null(const struct ynode *n);
/* A scalar's text, or NULL (with an error) for anything else. */
const struct istr *want_text(struct load *ld, const struct ynode *n, const char *what);
/* "[ns/]name", each part an identifier; NULL with an error otherwise. */
const struct istr *want_locator(struct load *ld, const struct ynode *n, const char *what);
void want_bool(struct load *ld, const struct ynode *v, const char *name, bool *out);
/* schedule: "HH:MM" (00:00 to 23:59) as the minute of the day; -1 with an
 * error otherwise. */
int want_time_of_day(struct load *ld, const struct ynode *v, int *minute);

enum vtype { V_ANY, V_SCALAR, V_INT, V_MAP, V_LIST };

struct field {
	const char *key;
	enum vtype type;
	bool required;
	/* Called with the value once its type is right; reports its own errors. */
	void (*decode)(struct load *ld, void *target, const struct ynode *v);
};

/* Decodes a mapping through a field table: unknown keys (with the nearest
 * valid one), wrong types and missing required keys are errors. A null value
 * counts as absent. Mappings and lists add their key to the context. */
void decode_map(struct load *ld, const struct ynode *n, const struct field *fields,
		size_t nfields, void *target);

#define DECODE(ld, n, table, target) decode_map((ld), (n), (table), sizeof(table) / sizeof(*(table)), (target))

/* kind and metadata are read before the table runs. */
#define HEAD_FIELDS { "kind", V_SCALAR, true, NULL }, { "metadata", V_MAP, true, NULL }

/* A label or secret value: any scalar, stored as its text; null is empty. */
const struct istr *want_value(struct load *ld, const struct ynode *n, const char *what,
			      const char *key);
/* A template, compiled and kept by the policy; NULL with an error. */
struct template *compile_template(struct load *ld, const struct ynode *n);

/* How one kind decodes. */
struct kind_table {
	size_t size; /* of its struct */
	const struct field *fields;
	size_t nfields;
	/* NULL, or run after the fields decoded: defaults, checks across fields */
	void (*finish)(struct load *ld, struct object *o, const struct ynode *n);
};

/* store: {s3: {endpoint, bucket, prefix, region, access_key_file,
 * secret_key_file}} of a dataset or of a dependency's backups. */
void decode_s3_location(struct load *ld, struct s3_location *out, const struct ynode *v);

/* The dataset kind (dataset.c). */
extern const struct kind_table dataset_table;
/* The table of each kind (kinds.c). */
extern const struct kind_table *const kind_tables[KIND_COUNT];

#endif
