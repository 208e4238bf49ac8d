/* Shared by the `cairn` commands: global options and what every command
 * opens (store, users). Exit codes are part of the interface. */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include "base/intern.h"
#include "engine/core/engine.h"
#include "engine/apply/exec.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stdbool.h>

enum exit_code { EXIT_DONE = 0, EXIT_FAILURE_ = 1, EXIT_USAGE = 2, EXIT_REFUSED = 3 };

struct store;

struct cli {
	const char *state;   /* --state, CAIRN_STATE, default .cairn/state.db */
	const char *users_path;   /* --users, CAIRN_USERS */
	const char *secrets_path; /* --secrets, CAIRN_SECRETS */
	bool json;           /* -o json */
	bool state_set;      /* --state or CAIRN_STATE given (not the default) */
	const char *server;  /* --server URL, CAIRN_SERVER: policy commands go there */
	const char *token;   /* --token T, CAIRN_TOKEN */
	struct intern *intern;
	struct users *users; /* loaded on demand by cli_users() */
	struct store *store; /* opened on demand by cli_store() */
};

/* The users (and secrets) file, loaded once; NULL after printing why. */
struct users *cli_users(struct cli *cli);
/* The store, opened once; NULL after printing why. */
struct store *cli_store(struct cli *cli);
/* Prints "cairn: " + message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the diagnostics to stderr, the first CLI_DIAGS_SHOWN of them and
 * then how many more there are. */
#define CLI_DIAGS_SHOWN 50
void cli_print_diags(const struct diags *d);
/* Says that `what` ("policy apply") was refused and why: with -o json the
 * refusal's JSON, every diagnostic in it, on stdout; otherwise the first
 * diagnostics. Then "cairn: WHAT refused: N errors in F files; nothing was
 * stored" on stderr. Returns EXIT_REFUSED. */
int cli_refused(struct cli *cli, const char *what, const struct diags *d);
/* Says that `what` failed: cli_refused when err is a refusal with its
 * reasons, else err's message (EXIT_FAILURE_). */
int cli_failed(struct cli *cli, const char *what, const struct diags *reasons,
	       const struct error *err);
/* Writes text to stdout as it is, and releases it. */
void cli_print_text(struct strbuf *text);
/* Writes text and a newline to stdout. */
void cli_print_json(const char *text);
/* Writes j compactly, keys in their order, and a newline to stdout. */
void cli_print_json_value(const json_t *j);
/* "deleted backup ID" ({"deleted": ID} with -o json) on stdout. */
void cli_print_deleted(const struct cli *cli, const char *what, const char *id);
/* "512 B", "12.5 kB", "3.2 MB". */
void cli_format_bytes(long long n, char *out, size_t size);

/* Commands: argc/argv start at the command's own name. */
int cmd_policy(struct cli *cli, int argc, char **argv);
int cmd_plan(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_explain(struct cli *cli, int argc, char **argv);

int cmd_apply(struct cli *cli, int argc, char **argv);
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
/* A policy, plan, status or explain command sent to cli->server
 * (remote.c); CLI_LOCAL when the local command answers (usage, help). */
#define CLI_LOCAL (-1)
int cmd_remote(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_extend(struct cli *cli, int argc, char **argv);
int cmd_rollback(struct cli *cli, int argc, char **argv);
int cmd_rollout(struct cli *cli, int argc, char **argv);
int cmd_snapshot(struct cli *cli, int argc, char **argv);
int cmd_demo(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_replica(struct cli *cli, int argc, char **argv);

/* The latest generation, resolved with the current users file. */
struct cli_current {
	long long generation;
	struct policy *policy;
	struct resolution *resolution;
	struct acl *acl;
};
/* Loads and resolves it (flags: resolve_policy's); prints why not and returns -1. */
int cli_current_load(struct cli *cli, struct cli_current *c, unsigned flags);
void cli_current_release(struct cli_current *c);

/* Options of every command that converges (apply, policy apply). */
struct converge_cli {
	struct exec_options exec;
	bool no_wait;
};
extern const char converge_options_usage[];
/* 1 when argv[*i] was a converge option (its value consumed), 0 when it is
 * not one, -1 after printing why its value is wrong. */
int converge_option(struct converge_cli *o, int argc, char **argv, int *i);
/* Converges the clusters of p to resolution r of generation gen under the
 * apply lock, printing progress; returns the exit code (130 when
 * interrupted). With -o json, *json gets the result document (free it):
 * json must not be NULL then. */
int cli_converge(struct cli *cli, const struct converge_cli *opts, const struct policy *p,
		 const struct resolution *r, long long generation, char **json);

/* "<directory of a SQLite state>/name" (heap), or NULL when the state is
 * PostgreSQL: where per-machine files (users cache, snapshots) go. */
char *cli_beside_state(const struct cli *cli, const char *name);

/* Where a kind of data is kept on this machine (snapshots, backups): given
 * (an option), the variable env_name, "name" beside a SQLite state, else
 * the user's data directory; heap. */
char *cli_data_dir(const struct cli *cli, const char *given, const char *env_name,
		   const char *name);

/* Rewrites dependency id ("ns/name", checked by the caller) of the latest
 * generation as user: edit changes its JSON, or returns why it refuses;
 * then a revision recorded as log_verb. EXIT_DONE with res filled (a
 * REVISE_DONE or REVISE_UNCHANGED), else the exit code after saying why
 * ("WHAT ID: …"); revise_result_release(res) either way. */
struct revise_result;
typedef const char *(*cli_dependency_edit)(void *ctx, const struct dependency *dep, json_t *obj);
int cli_rewrite_dependency(struct cli *cli, const char *what, const char *id, const char *user,
			   const char *log_verb, cli_dependency_edit edit, void *ctx,
			   struct revise_result *res);

/* True when argv holds -h or --help (then the command prints its usage). */
bool cli_wants_help(int argc, char **argv);
/* Prints a command's usage on stdout, as -h asks; returns EXIT_DONE. */
int cli_help(const char *usage);
/* Prints a command's usage on stderr, its arguments being wrong; returns EXIT_USAGE. */
int cli_usage_error(const char *usage);

#endif
