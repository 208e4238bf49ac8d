/* Access control: the roles a user gets from `admin: true` and the aclrules of
 * namespace system, and what each role may do with each kind of object
 * (Aptomi's rule_acl_resolver.go and policy_view.go). Not authentication:
 * the caller says who the user is. */
#include "policy.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/strbuf.h"
#include "base/vec.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SYSTEM_NS "system"

/* The namespaces one role applies to for one user. */
struct role_set {
	bool all;
	const struct istr **namespaces;
	uint32_t len;
};

/* A user's roles; nobody is implicit (it always applies). */
struct user_roles {
	struct role_set roles[ROLE_NOBODY];
};

struct acl {
	struct arena *arena;         /* cached role sets and their keys */
	struct intern *intern;       /* the policy's pool, for trimmed namespaces */
	const struct aclrule **rules; /* system aclrules by weight, then name */
	size_t nrules;
	struct map by_user;          /* user name -> struct user_roles */
};

/* Privileges per kind and deciding role, for objects outside system and in system. */
static const enum privilege ns_privileges[KIND_COUNT][ROLE_COUNT] = {
	[KIND_SERVICE] = { PRIV_FULL, PRIV_FULL, PRIV_VIEW, PRIV_VIEW },
	[KIND_CONTRACT] = { PRIV_FULL, PRIV_FULL, PRIV_VIEW, PRIV_VIEW },
	[KIND_RULE] = { PRIV_FULL, PRIV_FULL, PRIV_VIEW, PRIV_VIEW },
	[KIND_DEPENDENCY] = { PRIV_FULL, PRIV_FULL, PRIV_FULL, PRIV_VIEW },
	/* A dataset reads production: admins of the namespace only. */
	[KIND_DATASET] = { PRIV_FULL, PRIV_FULL, PRIV_VIEW, PRIV_VIEW },
};

static const enum privilege system_privileges[KIND_COUNT][ROLE_COUNT] = {
	[KIND_CLUSTER] = { PRIV_FULL, PRIV_VIEW, PRIV_VIEW, PRIV_VIEW },
	[KIND_RULE] = { PRIV_FULL, PRIV_VIEW, PRIV_VIEW, PRIV_VIEW },
	[KIND_ACLRULE] = { PRIV_FULL, PRIV_VIEW, PRIV_VIEW, PRIV_VIEW },
};

static const struct user_roles no_roles;

static int aclrule_cmp(const void *a, const void *b)
{
	const struct aclrule *x = *(const struct aclrule *const *)a;
	const struct aclrule *y = *(const struct aclrule *const *)b;
	if (x->weight != y->weight)
		return x->weight < y->weight ? -1 : 1;
	return strcmp(x->obj.name->s, y->obj.name->s);
}

struct acl *acl_new(const struct policy *p)
{
	struct acl *acl = xcalloc(1, sizeof(*acl));
	acl->arena = arena_new();
	acl->intern = p->intern;
	/* Taken now, so objects applied to p later cannot grant themselves rights. */
	for (size_t i = 0; i < p->len; i++) {
		const struct object *o = p->objects[i];
		if (o->kind == KIND_ACLRULE && strcmp(o->ns->s, SYSTEM_NS) == 0)
			acl->nrules++;
	}
	acl->rules = xcalloc(acl->nrules ? acl->nrules : 1, sizeof(*acl->rules));
	size_t k = 0;
	for (size_t i = 0; i < p->len; i++) {
		const struct object *o = p->objects[i];
		if (o->kind == KIND_ACLRULE && strcmp(o->ns->s, SYSTEM_NS) == 0)
			acl->rules[k++] = (const struct aclrule *)o;
	}
	qsort(acl->rules, acl->nrules, sizeof(*acl->rules), aclrule_cmp);
	return acl;
}

void acl_free(struct acl *acl)
{
	if (!acl)
		return;
	map_release(&acl->by_user);
	free(acl->rules);
	arena_free(acl->arena);
	free(acl);
}

/* The namespace without surrounding blanks ("main1, main2 ,main3" splits into
 * padded entries); NULL when nothing is left. */
static const struct istr *trimmed(struct acl *acl, const struct istr *ns)
{
	const char *s = ns->s, *e = ns->s + ns->len;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (s == e)
		return NULL;
	if (s == ns->s && e == ns->s + ns->len)
		return ns;
	return intern(acl->intern, s, (size_t)(e - s));
}

struct ns_vec {
	const struct istr **items;
	size_t len, cap;
};

static void grant_add(struct acl *acl, struct ns_vec *set, bool *all,
		      const struct role_grant *g)
{
	/* A domain admin is one everywhere, whatever the rule lists. */
	if (g->all || g->role == ROLE_DOMAIN_ADMIN) {
		*all = true;
		return;
	}
	for (uint32_t i = 0; i < g->nnamespaces; i++) {
		const struct istr *ns = trimmed(acl, g->namespaces[i]);
		if (!ns)
			continue;
		if (ns->len == 1 && ns->s[0] == '*') {
			*all = true;
			continue;
		}
		bool seen = false;
		for (size_t k = 0; k < set->len && !seen; k++)
			seen = set->items[k] == ns;
		if (!seen)
			vec_push(set, ns);
	}
}

static const struct user_roles *roles_compute(struct acl *acl, const struct user *user)
{
	struct user_roles *ur = arena_alloc(acl->arena, sizeof(*ur));
	if (user->admin) {
		ur->roles[ROLE_DOMAIN_ADMIN].all = true;
		return ur;
	}
	struct ns_vec sets[ROLE_NOBODY] = { { 0 } };
	struct expr_env env = { .labels = &user->labels, .service = NULL };
	struct error err = ERROR_INIT;
	for (size_t i = 0; i < acl->nrules; i++) {
		const struct aclrule *r = acl->rules[i];
		/* An evaluation error (e.g. comparing a string label with a number)
		 * grants nothing, as a rule that does not match. */
		int m = criteria_eval(r->criteria, &env, &err);
		error_clear(&err);
		if (m != 1)
			continue;
		for (uint32_t g = 0; g < r->ngrants; g++) {
			enum role role = r->grants[g].role;
			if (role >= ROLE_NOBODY)
				continue;
			grant_add(acl, &sets[role], &ur->roles[role].all, &r->grants[g]);
		}
	}
	for (int role = 0; role < ROLE_NOBODY; role++) {
		struct role_set *rs = &ur->roles[role];
		rs->len = (uint32_t)sets[role].len;
		if (rs->len) {
			rs->namespaces = arena_alloc(acl->arena, rs->len * sizeof(*rs->namespaces));
			memcpy(rs->namespaces, sets[role].items, rs->len * sizeof(*rs->namespaces));
		}
		vec_release(&sets[role]);
	}
	return ur;
}

/* Cached per user name, as Aptomi does, for the life of the acl. */
static const struct user_roles *roles_of(struct acl *acl, const struct user *user)
{
	if (!user)
		return &no_roles;
	const char *name = user->name->s;
	size_t len = user->name->len;
	const struct user_roles *ur = map_get(&acl->by_user, name, len);
	if (ur)
		return ur;
	ur = roles_compute(acl, user);
	map_put(&acl->by_user, arena_strndup(acl->arena, name, len), len, (void *)ur);
	return ur;
}

static bool role_applies(const struct role_set *rs, const char *ns)
{
	if (rs->all)
		return true;
	for (uint32_t i = 0; i < rs->len; i++)
		if (strcmp(rs->namespaces[i]->s, ns) == 0)
			return true;
	return false;
}

/* The first role, in the order domain-admin, namespace-admin, service-consumer,
 * whose namespaces include ns; nobody otherwise. */
static enum role deciding_role(const struct user_roles *ur, const char *ns)
{
	for (int r = 0; r < ROLE_NOBODY; r++)
		if (role_applies(&ur->roles[r], ns))
			return (enum role)r;
	return ROLE_NOBODY;
}

static const enum privilege (*privilege_table(const char *ns))[ROLE_COUNT]
{
	return strcmp(ns, SYSTEM_NS) == 0 ? system_privileges : ns_privileges;
}

enum privilege acl_privilege(struct acl *acl, const struct user *user, enum kind k, const char *ns)
{
	if ((unsigned)k >= KIND_COUNT)
		return PRIV_NONE;
	enum role r = deciding_role(roles_of(acl, user), ns);
	return privilege_table(ns)[k][r];
}

int acl_check_manage(struct acl *acl, const struct user *user, const struct object *o,
		     struct error *err)
{
	const char *ns = o->ns->s;
	const char *who = user ? user->name->s : "anonymous";
	const char *kind = kind_name(o->kind);
	bool system = strcmp(ns, SYSTEM_NS) == 0;
	enum role r = deciding_role(roles_of(acl, user), ns);
	const enum privilege(*table)[ROLE_COUNT] = privilege_table(ns);

	if (table[o->kind][ROLE_DOMAIN_ADMIN] == PRIV_NONE) {
		if (system)
			return error_set_kind(err, ERROR_FORBIDDEN,
					 "user '%s' may not manage %s %s/%s: only clusters, rules and "
					 "aclrules live in namespace " SYSTEM_NS,
					 who, kind, ns, o->name->s);
		return error_set_kind(err, ERROR_FORBIDDEN, "user '%s' may not manage %s %s/%s: %ss live in namespace " SYSTEM_NS,
				 who, kind, ns, o->name->s, kind);
	}
	if (table[o->kind][r] != PRIV_FULL) {
		if (system)
			return error_set_kind(err, ERROR_FORBIDDEN, "user '%s' may not manage %s %s/%s: needs domain-admin",
					 who, kind, ns, o->name->s);
		if (r == ROLE_SERVICE_CONSUMER)
			return error_set_kind(err, ERROR_FORBIDDEN,
					 "user '%s' may not manage %s %s/%s: service-consumer of %s can "
					 "only declare dependencies",
					 who, kind, ns, o->name->s, ns);
		return error_set_kind(err, ERROR_FORBIDDEN, "user '%s' may not manage %s %s/%s: needs %s of %s", who, kind,
				 ns, o->name->s,
				 o->kind == KIND_DEPENDENCY ? "service-consumer or namespace-admin"
							    : "namespace-admin",
				 ns);
	}
	/* A consumer declares dependencies for themself only; admins for anyone. */
	if (r == ROLE_SERVICE_CONSUMER && o->kind == KIND_DEPENDENCY) {
		const struct dependency *dep = (const struct dependency *)o;
		if (!dep->user)
			return error_set_kind(err, ERROR_FORBIDDEN, "user '%s' may not manage dependency %s/%s: it names no user",
					 who, ns, o->name->s);
		if (!user || strcasecmp(dep->user->s, user->name->s) != 0)
			return error_set_kind(err, ERROR_FORBIDDEN,
					 "user '%s' may not manage dependency %s/%s: it belongs to user '%s'",
					 who, ns, o->name->s, dep->user->s);
	}
	return 0;
}

int acl_check_change(struct acl *acl, const struct user *user, const struct object *stored,
		     const struct object *requested, struct error *err)
{
	if (acl_check_manage(acl, user, requested, err) < 0)
		return -1;
	/* A request naming another's object judges that object too: else a
	 * consumer could rewrite it as their own, or delete it. */
	if (stored && stored != requested && acl_check_manage(acl, user, stored, err) < 0)
		return -1;
	return 0;
}

bool acl_can_consume(struct acl *acl, const struct user *user, const char *ns)
{
	return acl_privilege(acl, user, KIND_DEPENDENCY, ns) == PRIV_FULL;
}

void acl_describe_roles(struct acl *acl, const struct user *user, struct strbuf *out)
{
	const struct user_roles *ur = roles_of(acl, user);
	bool any = false;
	for (int r = 0; r < ROLE_NOBODY; r++) {
		const struct role_set *rs = &ur->roles[r];
		if (!rs->all && !rs->len)
			continue;
		strbuf_addf(out, "%s%s (", any ? ", " : "", role_name((enum role)r));
		if (rs->all) {
			strbuf_addc(out, '*');
		} else {
			for (uint32_t i = 0; i < rs->len; i++)
				strbuf_addf(out, "%s%s", i ? ", " : "", rs->namespaces[i]->s);
		}
		strbuf_addc(out, ')');
		any = true;
	}
	if (!any)
		strbuf_adds(out, "no role (view only)");
}
