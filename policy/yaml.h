/* YAML documents as a tree of nodes that remember where they came from
 * (file, line, column), in the manner of h2o's configurator. libyaml is
 * wrapped here once; nothing else in cairn talks to it. */
#ifndef CAIRN_YAML_H
#define CAIRN_YAML_H

#include "base/error.h"
#include "base/intern.h"

#include <stdbool.h>
#include <stddef.h>

struct arena;

enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };

/* How a plain scalar reads (YAML 1.2 core schema); a quoted scalar is always a string. */
enum yscalar { YSCALAR_STRING, YSCALAR_NULL, YSCALAR_BOOL, YSCALAR_INT, YSCALAR_FLOAT };

struct ynode;

struct ypair {
	const struct istr *key;
	struct pos key_pos;
	struct ynode *value;
};

/* The largest scalar a policy, users or config file may hold. */
#define YAML_MAX_SCALAR (1 << 20)

struct ynode {
	enum ynode_kind kind;
	struct pos pos;
	/* scalar */
	const struct istr *str;
	bool quoted;
	/* map (pairs, in document order) or sequence (items) */
	size_t len;
	struct ypair *pairs;
	struct ynode **items;
};

/* Parses every document of text into root nodes (*docs, *ndocs; arena-owned).
 * `name` is the file name used in positions. Syntax errors, duplicate keys,
 * aliases and non-scalar keys are added to diags with file:line:col, and -1 is
 * returned. Nodes live in the arena, strings in the intern pool. */
int yaml_parse(struct arena *a, struct intern *in, const char *name, const char *text,
	       size_t len, struct ynode ***docs, size_t *ndocs, struct diags *diags);

/* Reads and parses a file; an unreadable file is one diagnostic. */
int yaml_parse_file(struct arena *a, struct intern *in, const char *path, struct ynode ***docs,
		    size_t *ndocs, struct diags *diags);

/* Streams a file whose documents are lists (users, secrets): calls fn with
 * each list item as soon as it is complete (a document that is not a list is
 * passed whole), then forgets the item, so memory stays that of one item.
 * fn returns non-zero to count a failure; -1 if any item or the YAML failed. */
int yaml_parse_each(struct intern *in, const char *name, const char *text, size_t len,
		    int (*fn)(void *ctx, const struct ynode *item), void *ctx, struct diags *diags);
int yaml_parse_file_each(struct intern *in, const char *path,
			 int (*fn)(void *ctx, const struct ynode *item), void *ctx,
			 struct diags *diags);

/* The value under key in a map node, or NULL (also when node is not a map). */
const struct ynode *ynode_get(const struct ynode *map, const char *key);
/* The reading of a scalar (YSCALAR_STRING for quoted ones). */
enum yscalar ynode_scalar(const struct ynode *n, int64_t *integer, double *real, bool *boolean);
/* "a mapping", "a list", "a string" ... for messages. */
const char *ynode_describe(const struct ynode *n);
/* Appends n as JSON (scalars typed by ynode_scalar); indent < 0 for one line. */
struct strbuf;
void ynode_to_json(const struct ynode *n, struct strbuf *out, int indent);

/* "unknown key 'K' in WHERE (did you mean 'X'?)" at the key, X the one of
 * known (NULL-terminated) within a typo of it, for config sections. */
void yaml_unknown_key(struct diags *d, const struct ypair *p, const char *where,
		      const char *const *known);

#endif
