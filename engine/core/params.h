/* A driver's vocabulary of params — what a `code.type` takes, what a
 * cluster's config takes — as one table, and one walker over it.
 *
 * The same table is walked three ways: over the params of a policy being
 * applied (templates unknown yet, so only constants are checked; errors at
 * file:line:col with the nearest known key), over a cluster's YAML config,
 * and over an instance's rendered params at apply, where every value is
 * known and the driver then builds its request from them. Each param says
 * once what it expects, so all three say the same thing. */
#ifndef CAIRN_PARAMS_H
#define CAIRN_PARAMS_H

#include "base/error.h"
#include "policy/policy.h"
#include "policy/yaml.h"

#include <jansson.h>
#include <stdbool.h>

/* The shapes a param may take (or-ed). */
enum {
	PARAM_SCALAR = 1, /* a string, number or boolean */
	PARAM_LIST = 2,   /* a list of .item */
	PARAM_MAP = 4,    /* a mapping with the keys of .fields */
	PARAM_DICT = 8,   /* a mapping of free names (.name_problem) to .item */
};

/* Flags. */
enum {
	PARAM_REQUIRED = 1, /* its mapping needs it */
	PARAM_SECRETS = 2,  /* may read .User.Secrets (nothing else may) */
	PARAM_TEXT = 4,     /* built by keeping its text at .at in the request */
};

struct param_walk;

struct param {
	const char *key;      /* NULL ends a list of fields */
	unsigned shape;
	unsigned flags;
	/* A scalar's text is valid: constants when checking policy, every value
	 * at apply. NULL: any scalar. */
	bool (*valid)(const char *text);
	/* What it must be, in every message: "a size such as 256m or 1g". */
	const char *expected;
	/* PARAM_MAP: its keys, ended by a row with a NULL key, and the noun of
	 * "unknown port key 'x'". */
	const struct param *fields;
	const char *noun;
	/* PARAM_MAP: a table whose keys this one takes too, after its own (a
	 * driver running another's code: swarm takes docker's params). Its
	 * also runs after this one's. params_build builds only own fields. */
	const struct param *base;
	/* PARAM_LIST, PARAM_DICT: each item. */
	const struct param *item;
	/* PARAM_DICT: why a name is refused ("is not a variable name"), NULL
	 * when it is fine. */
	const char *(*name_problem)(const char *name);
	/* What a missing required key is for: "missing 'start' (the command
	 * run in the release directory)". */
	const char *hint;
	/* Checks across keys of a mapping, after its keys were walked. */
	void (*also)(struct param_walk *w, const void *map);
	/* Adds the value to the driver's request (after the whole walk
	 * passed). A mapping without one has its fields built. */
	int (*build)(void *request, const json_t *value, struct error *err);
	/* PARAM_TEXT: where in the request a `const char *` gets the text. */
	size_t at;
};

/* The params of a code component of a policy being applied (params NULL
 * when absent, at the code's position). Errors go to diags as
 * "file:line:col: PREFIX…"; -1 if any. */
int params_check_policy(const struct param *table, const struct pnode *params, struct pos at,
			const char *prefix, struct diags *diags);
/* A cluster's config (a YAML tree, NULL when absent). */
int params_check_config(const struct param *table, const struct ynode *config, struct pos at,
			const char *prefix, struct diags *diags);
/* Rendered params: err says the first problem, as "params: …". */
int params_check_rendered(const struct param *table, const json_t *params, struct error *err);
/* A cluster's config as JSON, every scalar as the string written ({} when
 * absent), for params_build: a driver reads its config through its table
 * too. New reference. */
json_t *params_config_json(const struct ynode *config);
/* For builds of config: sets *field to v's text when v is a string (the
 * scalars of params_config_json all are), else leaves its default. */
void param_keep_text(const char **field, const json_t *v);
/* Builds each present field of the table, in table order: its build, its
 * text (PARAM_TEXT), or else the fields of a mapping. */
int params_build(const struct param *table, const json_t *params, void *request,
		 struct error *err);

/* For `also` hooks: the value of key in map (NULL when absent), a
 * scalar's text (NULL when not a scalar, or a template known only once
 * rendered; numbers are written into buf), and an error at node n,
 * prefixed with the walk's prefix. The path of the mapping being checked
 * ("volumes[2]") and the root of the walk (the params) are there too. */
const void *param_get(struct param_walk *w, const void *map, const char *key);
const char *param_text(struct param_walk *w, const void *n, char *buf, size_t size);
bool param_is_list(struct param_walk *w, const void *n);
size_t param_len(struct param_walk *w, const void *list);
const void *param_item(struct param_walk *w, const void *list, size_t i);
const char *param_path(struct param_walk *w);
const void *param_root(struct param_walk *w);
void param_error(struct param_walk *w, const void *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Validators most tables share: a non-empty string, a port (1-65535), a
 * duration and a boolean of base/parse.h, and an absolute path that can be
 * written into a config file or a command line as it is (letters, digits
 * and / . _ - + @ only: no space, quote, ';' or '#'). */
bool param_nonempty(const char *s);
bool param_port(const char *s);
bool param_duration(const char *s);
bool param_bool(const char *s);
bool param_safe_path(const char *s);
#define PARAM_SAFE_PATH "an absolute path of letters, digits and / . _ - + @"

/* A scalar of rendered params as text: strings as they are, numbers and
 * booleans printed into buf; NULL for anything else. */
const char *param_json_text(const json_t *v, char *buf, size_t size);

#endif
