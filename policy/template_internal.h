/* The compiled form of a template, shared by its parser (template_parse.c)
 * and its renderer (template_render.c). Private to policy/. */
#ifndef CAIRN_TEMPLATE_INTERNAL_H
#define CAIRN_TEMPLATE_INTERNAL_H

#include "template.h"

#include <stdbool.h>
#include <stdint.h>

/* Bounds that keep rendering's recursion and stack use small whatever the text. */
#define MAX_ARGS 32
#define MAX_DEPTH 48
#define NO_NODE UINT32_MAX
/* replace can grow text geometrically through a pipeline; a value this big is a mistake. */
#define MAX_VALUE (1u << 20)

enum fn {
	FN_DEFAULT, FN_PRINTF, FN_PRINT, FN_INDEX, FN_LEN, FN_LOWER, FN_UPPER,
	FN_TRIM, FN_REPLACE, FN_EQ, FN_NE, FN_NOT, FN_AND, FN_OR,
};

#define NFUNCTIONS (FN_OR + 1)

/* Their names as written, by enum fn. */
extern const char *const template_function_names[NFUNCTIONS];

/* Where a field chain starts. */
enum root { R_SCOPE, R_USER, R_LABELS, R_USER_NAME, R_USER_LABELS, R_USER_SECRETS, R_DISCOVERY, R_DATA };

enum ekind { E_STR, E_INT, E_BOOL, E_FIELD, E_BAD, E_CALL };

struct texpr {
	uint8_t kind;
	uint8_t fn;    /* E_CALL */
	uint8_t root;  /* E_FIELD */
	uint8_t depth; /* of the tree below, bounded by MAX_DEPTH */
	uint32_t n;    /* E_CALL: argc; E_FIELD: path length after the root; E_STR: length */
	const char *src; /* the source text, for messages */
	uint32_t srclen;
	const struct istr *is; /* E_STR: the interned literal */
	union {
		const char *s; /* E_STR; E_BAD: the message */
		int64_t i;
		bool b;
		const struct istr **path;
		struct texpr **args;
	} u;
};

enum op { OP_TEXT, OP_PRINT, OP_IF, OP_JUMP };

struct tnode {
	uint8_t op;
	uint32_t target; /* OP_IF: where to go when false; OP_JUMP: where to go */
	uint32_t len;    /* OP_TEXT */
	const char *text;
	const struct texpr *e;
};

struct template {
	struct arena *arena;
	const struct intern *in; /* to look up keys computed while rendering */
	const char *text;
	size_t textlen;
	struct tnode *nodes;
	uint32_t nnodes;
	bool constant, secrets, novalue;
	bool beyond_labels; /* reads something other than .Labels */
};

static inline bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Go identifiers: letters (any non-ASCII byte counts as one), digits, '_'. */
static inline bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (unsigned char)c >= 0x80;
}

static inline bool is_ident_char(char c)
{
	return is_ident_start(c) || is_digit(c);
}

#endif
