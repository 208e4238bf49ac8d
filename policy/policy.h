/* The policy: services, contracts, dependencies, rules, ACL rules and
 * clusters loaded from YAML (Aptomi's language), validated, with expressions
 * and templates compiled once. Also users, secrets and the ACL. A policy owns
 * an arena holding all its objects; strings are interned in a pool shared
 * with users and resolutions. */
#ifndef CAIRN_POLICY_H
#define CAIRN_POLICY_H

#include "base/error.h"
#include "base/intern.h"
#include "base/map.h"
#include "expr.h"
#include "labels.h"
#include "template.h"
#include "yaml.h"

#include <stdbool.h>
#include <stdint.h>

struct arena;

enum kind {
	KIND_SERVICE,
	KIND_CONTRACT,
	KIND_DEPENDENCY,
	KIND_RULE,
	KIND_ACLRULE,
	KIND_CLUSTER,
	KIND_DATASET, /* cairn's addition: what a snapshot takes from a database */
	KIND_COUNT
};

/* "service", "contract", ...; kind_parse returns -1 for an unknown name. */
const char *kind_name(enum kind k);
int kind_parse(const char *s, enum kind *out);

/* Common head of every object. */
struct object {
	enum kind kind;
	const struct istr *ns, *name;
	struct pos pos;   /* of the object's mapping */
	const char *json; /* canonical JSON of the object as written (what the store keeps) */
	/* Where each node of json was written ("FILE\nline,col …", in the
	 * order of json), so an object loaded back from the store is told of
	 * at the file and line its author wrote. */
	const char *origin;
};

/* A parameter tree (code params, discovery, cluster config): string leaves
 * are compiled templates; map keys are kept sorted so rendering is canonical. */
enum pnode_kind { PNODE_NULL, PNODE_STRING, PNODE_INT, PNODE_FLOAT, PNODE_BOOL, PNODE_MAP, PNODE_LIST };

struct pnode {
	enum pnode_kind kind;
	struct pos pos;
	struct template *tmpl; /* PNODE_STRING */
	int64_t integer;
	double real;
	bool boolean;
	uint32_t len;                /* MAP and LIST */
	const struct istr **keys;    /* MAP, sorted by bytes */
	struct pnode **children;
};

struct code {
	const struct istr *type; /* "docker" or "process" */
	struct pnode *params;    /* NULL when absent */
	struct pos pos;
};

struct component {
	const struct istr *name;
	struct pos pos;
	const struct istr *contract; /* "[ns/]name", or NULL for a code component */
	struct code *code;           /* NULL for a contract component */
	struct pnode *discovery;     /* NULL when absent */
	const struct istr **deps;    /* names of components of the same service */
	struct pos *dep_pos;
	uint32_t ndeps;
	struct criteria *criteria;   /* NULL: always included */
};

struct service {
	struct object obj;
	struct labels labels;
	struct component *components;
	uint32_t ncomponents;
	uint32_t *topo; /* component indices in topological order (set by validation) */
};

struct context {
	const struct istr *name;
	struct pos pos;
	struct criteria *criteria;        /* NULL: matches */
	struct label_ops *change_labels;  /* NULL when absent */
	const struct istr *alloc_service; /* allocation.service */
	struct template **keys;           /* allocation.keys */
	uint32_t nkeys;
};

struct contract {
	struct object obj;
	struct label_ops *change_labels;
	struct context *contexts;
	uint32_t ncontexts;
};

/* store: {s3: {...}} of a dataset or of a dependency's backups: where in
 * S3-compatible storage they are kept (NULL endpoint: in a local directory
 * only). Credentials come from files, never from the policy. */
struct s3_location {
	const struct istr *endpoint, *bucket, *prefix, *region;
	const struct istr *access_key_file, *secret_key_file;
};

struct dependency {
	struct object obj;
	const struct istr *user;
	const struct istr *contract; /* "[ns/]name" */
	struct labels labels;
	int64_t expires; /* unix seconds, 0 = never */
	int64_t ttl;     /* seconds from the last update, 0 = none */
	bool pinned;     /* never expires, whatever expires/ttl say */
	bool stopped;    /* its instances stay stopped (kept, not running) unless
			    another dependency they serve is not stopped */
	struct {
		int64_t keep;        /* backups kept; 0: not given (DEPENDENCY_BACKUP_KEEP) */
		bool scheduled;      /* `schedule: "HH:MM"`: cairn serve backs it up daily */
		int schedule_minute; /* at this minute of the day, server's local time */
		struct s3_location s3; /* store: {s3: …}: also kept in a bucket */
	} backup;
	struct {
		bool on;
		const struct istr *of;     /* "[ns/]name" of the dependency it replicates */
		const struct istr *backup; /* a backup id, NULL: the newest */
	} replica;
};
#define DEPENDENCY_BACKUP_KEEP 7
/* "ns/name" of the dependency a replica copies (its `of`, relative to its
 * own namespace); heap. */
char *dependency_replica_of(const struct dependency *d);

enum rule_verdict { VERDICT_NONE, VERDICT_ALLOW, VERDICT_REJECT };

struct rule {
	struct object obj;
	int64_t weight;
	struct criteria *criteria;
	struct label_ops *change_labels;
	enum rule_verdict dependency; /* actions.dependency */
	enum rule_verdict ingress;    /* actions.ingress */
};

enum role { ROLE_DOMAIN_ADMIN, ROLE_NAMESPACE_ADMIN, ROLE_SERVICE_CONSUMER, ROLE_NOBODY, ROLE_COUNT };

/* "domain-admin", ...; role_parse returns -1 for an unknown id. */
const char *role_name(enum role r);
int role_parse(const char *s, enum role *out);

struct role_grant {
	enum role role;
	bool all; /* "*" */
	const struct istr **namespaces;
	uint32_t nnamespaces;
};

struct aclrule {
	struct object obj;
	int64_t weight;
	struct criteria *criteria;
	struct role_grant *grants;
	uint32_t ngrants;
};

struct cluster {
	struct object obj;
	const struct istr *type; /* "docker" or "ssh" */
	struct labels labels;
	const struct ynode *config;
};

/* A dataset: which rows `cairn snapshot create` takes from a source
 * PostgreSQL (roots, closed under foreign keys), how it anonymizes them and
 * how many snapshots it keeps. Table names are "table" or "schema.table",
 * columns "table.column" or "schema.table.column", as written; whether they
 * exist is checked against the source when a snapshot is made. */
enum anon_kind {
	ANON_EMAIL,
	ANON_FIRST_NAME,
	ANON_LAST_NAME,
	ANON_FULL_NAME,
	ANON_PHONE,
	ANON_DIGITS, /* each digit replaced, the rest kept */
	ANON_TEXT,   /* letters and digits replaced, same length */
	ANON_HASH,
	ANON_NULL,
	ANON_CONST,
	ANON_REGEX,
	ANON_DATE_SHIFT,
	ANON_COUNT
};

/* "email", "first_name", ...; anon_kind_parse returns -1 for an unknown name. */
const char *anon_kind_name(enum anon_kind k);
int anon_kind_parse(const char *s, enum anon_kind *out);

struct dataset_anon {
	const struct istr *table, *column;
	enum anon_kind kind;
	const struct istr *value;   /* const: the value; regex: the pattern */
	const struct istr *replace; /* regex: the replacement ($1 for groups) */
	int64_t days;               /* date_shift: dates move by up to this many days either way */
	struct pos pos;
};

struct dataset_root {
	const struct istr *table;
	const struct istr *where; /* SQL condition on the table's rows */
	struct pos pos;
};

struct dataset_table {
	const struct istr *table;
	bool whole; /* copied entirely */
	struct pos pos;
};

struct dataset_reference {
	const struct istr *constraint; /* foreign key constraint name */
	bool children; /* true: followed to children also from parent-only rows; false: never */
	struct pos pos;
};

struct dataset {
	struct object obj;
	const struct istr *source_url;    /* libpq URL, never with a password */
	const struct istr *password_file; /* NULL: libpq's PGPASSFILE / PGPASSWORD */
	const struct istr *build;         /* a fixed build, or NULL */
	const struct istr *build_dependency, *build_component; /* or the image a component runs */
	struct dataset_root *roots;
	uint32_t nroots;
	struct dataset_table *tables;
	uint32_t ntables;
	struct dataset_reference *references;
	uint32_t nreferences;
	struct dataset_anon *anonymize;
	uint32_t nanonymize;
	const struct istr *key_file; /* HMAC-SHA256 key of the anonymization */
	int64_t keep;                /* snapshots kept (default 3) */
	int64_t max_rows;            /* refuse a snapshot larger than this (default 10 000 000) */
	/* store: {s3: {...}}: snapshots kept in S3-compatible storage (NULL
	 * endpoint: in a local directory). */
	struct s3_location s3;
	bool scheduled;              /* `schedule: "HH:MM"`: cairn serve snapshots and prepares daily */
	int schedule_minute;         /* at this minute of the day, server's local time */
};

#define DATASET_KEEP_DEFAULT 3
#define DATASET_MAX_ROWS_DEFAULT 10000000

/* The code and cluster types there are drivers for (the engine's registry
 * says which: engine/drivers/registry.c). A policy given them names no
 * others; without them (the language alone) any type is taken but Aptomi's
 * Kubernetes ones, which are refused with a hint. */
struct policy_types {
	const char *const *code;
	size_t ncode;
	const char *const *cluster;
	size_t ncluster;
};

struct policy {
	struct arena *arena;
	const struct policy_types *types; /* not owned; NULL: any */
	struct intern *intern; /* not owned */
	struct object **objects; /* every live object, in the order added */
	size_t len, cap;
	struct map by_key;       /* "kind/ns/name" -> object */
	bool validated;
	/* Set by policy_validate(), sorted by (namespace, name): */
	struct dependency **deps;
	size_t ndeps;
};

struct policy *policy_new(struct intern *in);
void policy_free(struct policy *p);

/* Flags of policy_add_*(). */
enum {
	POLICY_REPLACE = 1, /* an object may replace one added by an earlier call */
};

/* Parses YAML (a list of objects per document, or one object) named `name`
 * (for positions) and adds the objects. Every error — syntax, unknown kind or
 * key (with the nearest valid one), wrong type, bad identifier, duplicate
 * object in this call, expression or template that does not compile, refused
 * helm/kubernetes types — is added to diags as "file:line:col: kind ns/name:
 * message", and -1 is returned; the objects that loaded are still added. */
int policy_add_yaml(struct policy *p, const char *name, const char *text, size_t len,
		    unsigned flags, struct diags *diags);
/* An object as the store keeps it: its JSON and its origin (object.origin;
 * NULL or not matching: positions name `label` and the JSON's lines). */
int policy_add_stored(struct policy *p, const char *label, const char *json, const char *origin,
		      unsigned flags, struct diags *diags);
/* A file, or a directory walked recursively for *.yaml and *.yml in name order. */
int policy_add_path(struct policy *p, const char *path, unsigned flags, struct diags *diags);
/* Calls fn for each file policy_add_path reads from path, in its order: path
 * itself when it is a file, else the *.yaml and *.yml below it by name
 * (hidden ones skipped). Paths it cannot open or walk go to diags; returns
 * how many. */
typedef void (*policy_file_fn)(void *ctx, const char *file);
size_t policy_each_file(const char *path, policy_file_fn fn, void *ctx, struct diags *diags);
/* Removes an object; returns whether it was there. */
bool policy_remove(struct policy *p, enum kind k, const char *ns, const char *name);
/* The object, or NULL. */
struct object *policy_get(const struct policy *p, enum kind k, const char *ns, const char *name);
/* Resolves a "[ns/]name" locator relative to ns. NULL if absent or malformed. */
struct object *policy_find(const struct policy *p, enum kind k, const char *locator, const char *ns);

/* Checks what needs the whole policy — references exist (contract of a
 * dependency or component, allocation service, component dependencies),
 * component cycles, clusters in `system` — computes topological orders and
 * the sorted dependency list. All errors go to diags; -1 if any. */
int policy_validate(struct policy *p, struct diags *diags);

/* The reading of a dependency's `expires`: an RFC 3339 time
 * (2026-12-01T00:00:00Z, +hh:mm offsets) as unix seconds. False when
 * malformed. (Its `ttl` is a duration of base/parse.h.) */
bool policy_parse_time(const char *s, int64_t *out);

/* When d expires (unix seconds), 0 for never: the earlier of its `expires`
 * and its `ttl` counted from `changed`, the time of the generation that last
 * changed it (0: unknown, the ttl is not counted); never when pinned. The
 * server's reaper and its page both count so. */
int64_t dependency_deadline(const struct dependency *d, int64_t changed);

/* "kind ns/name" for messages, e.g. "service main/kafka"; arena-owned. */
const char *object_describe(const struct policy *p, const struct object *o);

/* The longest label value, and secret value, a file may give. */
#define LABEL_VALUE_MAX 8192
#define SECRET_VALUE_MAX 65536

/* Users and their secrets (Aptomi's users file, secrets file). */
struct user {
	const struct istr *name;
	const char *password_hash; /* crypt(3) string, or NULL */
	bool admin;
	struct labels labels;
	struct labels secrets;
	bool has_secrets;
	struct pos pos;
};

struct users {
	struct arena *arena;
	struct intern *intern; /* not owned */
	struct user **items;
	size_t len, cap;
	struct map by_name; /* lower-cased name -> user */
	const struct user *decoy; /* the first user with a password hash */
};

struct users *users_new(struct intern *in);
void users_free(struct users *u);
/* Loads `- name, passwordhash, labels, admin` entries; errors to diags. */
int users_load(struct users *u, const char *path, struct diags *diags);
/* The same from text in memory; name is the file name in positions. */
int users_load_text(struct users *u, const char *name, const char *text, size_t len,
		    struct diags *diags);
/* users_load into an empty u through a cache in cache_dir (made when missing): a file whose
 * content (SHA-256) loaded without errors before is read back from its cache
 * file instead of parsed (*hit true), with the same users, labels and
 * positions. NULL cache_dir, or a cache that cannot be read or written: the
 * file is parsed as by users_load. */
int users_load_cached(struct users *u, const char *path, const char *cache_dir, bool *hit,
		      struct diags *diags);
/* Adds a user (arena-allocated in u); -1 when one of that name (any case) exists. */
int users_add(struct users *u, struct user *user);
/* Forgets every user, as after users_new. */
void users_clear(struct users *u);
/* Loads `- user, secrets` entries onto existing users; errors to diags. */
int users_load_secrets(struct users *u, const char *path, struct diags *diags);
/* A users file and its secrets file (NULL: none) into a new users of in,
 * for the server's background work; NULL with the first error in err. */
struct users *users_open(struct intern *in, const char *path, const char *secrets_path,
			 struct error *err);
/* Case-insensitive lookup, as Aptomi's loaders do. NULL when unknown. */
const struct user *users_find(const struct users *u, const char *name);
/* A user whose hash an unknown user's password is checked against, so that
 * both cost the same (the file's method and cost); NULL when none has one. */
const struct user *users_decoy(const struct users *u);
/* 0 when password matches the user's crypt(3) hash, -1 otherwise. */
int user_check_password(const struct user *user, const char *password);

/* ACL (Aptomi's roles from `system` aclrules and `admin: true`). */
enum privilege { PRIV_NONE, PRIV_VIEW, PRIV_FULL };

struct acl;

/* Roles are computed from the aclrules of p (namespace system), per user, on demand. */
struct acl *acl_new(const struct policy *p);
void acl_free(struct acl *acl);
/* What user may do with an object of kind k in namespace ns. */
enum privilege acl_privilege(struct acl *acl, const struct user *user, enum kind k, const char *ns);
/* 0 when user may create, change or delete o; else -1 with an
 * ERROR_FORBIDDEN error that names the object and the missing privilege.
 * A service consumer may only manage dependencies whose `user` is themself. */
int acl_check_manage(struct acl *acl, const struct user *user, const struct object *o,
		     struct error *err);
/* 0 when user may apply or delete requested, whose stored version (NULL
 * when new) is stored: both must pass acl_check_manage, so a consumer
 * neither takes over nor deletes a dependency that belongs to another. */
int acl_check_change(struct acl *acl, const struct user *user, const struct object *stored,
		     const struct object *requested, struct error *err);
/* Whether user may consume services of namespace ns (manage dependencies there). */
bool acl_can_consume(struct acl *acl, const struct user *user, const char *ns);
/* Appends a summary of user's roles, e.g. "domain-admin (*), namespace-admin (main)". */
void acl_describe_roles(struct acl *acl, const struct user *user, struct strbuf *out);

#endif
