/* Label sets: small maps from interned key to interned value, kept sorted by
 * key id so lookups are a binary search and copies are one memcpy. Heap-owned
 * by the set; labels_release() frees it. */
#ifndef CAIRN_LABELS_H
#define CAIRN_LABELS_H

#include "base/intern.h"

#include <stdbool.h>
#include <stdint.h>

struct strbuf;

struct label {
	const struct istr *key, *value;
};

struct labels {
	struct label *items;
	uint32_t len, cap;
};

#define LABELS_INIT { 0 }

/* The value under key, or NULL. */
const struct istr *labels_get(const struct labels *ls, const struct istr *key);
/* Sets key=value; returns whether the set changed. */
bool labels_set(struct labels *ls, const struct istr *key, const struct istr *value);
/* Removes key; returns whether it was there. */
bool labels_remove(struct labels *ls, const struct istr *key);
/* dst becomes a copy of src. */
void labels_copy(struct labels *dst, const struct labels *src);
/* Every label of src is set in dst, overwriting (Aptomi's AddLabels). */
void labels_add_all(struct labels *dst, const struct labels *src);
/* Two empty sets are equal. */
bool labels_equal(const struct labels *a, const struct labels *b);
void labels_release(struct labels *ls);
/* Appends {"k": "v", ...} with keys in byte order. */
void labels_to_json(const struct labels *ls, struct strbuf *out);

/* Change-labels of a contract, context or rule: every `set`, then every `remove`. */
struct label_ops {
	struct labels set;
	const struct istr **remove;
	uint32_t nremove;
};

/* Applies ops to ls; returns whether anything changed (Aptomi's ApplyTransform). */
bool label_ops_apply(const struct label_ops *ops, struct labels *ls);

#endif
