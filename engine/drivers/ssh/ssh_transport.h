/* Running commands on hosts through the OpenSSH client: argument vectors
 * only (no local shell), connection reuse (ControlMaster/ControlPersist in a
 * private directory), host keys checked against a given known_hosts, batch
 * mode. Safe to call from many threads at once, one host or many. It knows
 * nothing about what runs: the ssh driver's agent is its only user. */
#ifndef CAIRN_SSH_TRANSPORT_H
#define CAIRN_SSH_TRANSPORT_H

#include "base/error.h"
#include "base/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

struct ssh_host {
	const char *name;    /* for messages: "h2" */
	const char *address; /* host name or IP */
	const char *user;    /* "root" when NULL */
	int port;            /* 22 when 0 */
};

struct ssh_transport_options {
	const char *identity;    /* private key file, or NULL for the agent/defaults */
	const char *known_hosts; /* required: host keys are always checked */
	int connect_timeout_s;   /* 0: 10 */
	/* The ssh program: NULL reads $CAIRN_SSH, then "ssh" (a wrapper may
	 * count round trips). */
	const char *program;
	/* Where control sockets live: NULL reads $CAIRN_SSH_CONTROL_DIR, then
	 * $XDG_RUNTIME_DIR/cairn-ssh, then /tmp/cairn-ssh-UID (made 0700, and
	 * refused when another user owns it or others may write it). */
	const char *control_dir;
};

struct ssh_transport;

/* Checks the files and the control directory. Errors say which file. */
int ssh_transport_new(struct ssh_transport **out, const struct ssh_transport_options *o,
		      struct error *err);
void ssh_transport_free(struct ssh_transport *t);

/* What a remote command did. */
struct ssh_result {
	int status;          /* the remote command's exit status; 255: ssh failed */
	struct strbuf out;   /* its stdout */
	struct strbuf err;   /* its stderr (and ssh's own messages) */
};
void ssh_result_release(struct ssh_result *r);

/* Runs `command` (one string, run by the remote login shell: build it with
 * ssh_quote) on h, with `in` (inlen bytes, may be NULL) or the file in_path
 * (may be NULL) as its stdin. Returns 0 when ssh ran and the command
 * exited (see res->status); -1 with err "host h2 (10.77.0.12:22): connection
 * refused" when the host could not be reached, the host key did not match,
 * or deadline_ms (clock_ms(), 0: none) passed; of kind ERROR_TRANSIENT
 * when trying again later may help (refused, timed out, reset). */
int ssh_run(struct ssh_transport *t, const struct ssh_host *h, const char *command,
	    const char *in, size_t inlen, const char *in_path, long long deadline_ms,
	    struct ssh_result *res, struct error *err);

/* Appends s as one single-quoted shell word. */
void ssh_quote(struct strbuf *sb, const char *s);

/* The -o options every connection uses (BatchMode, StrictHostKeyChecking,
 * UserKnownHostsFile, ControlMaster/Path/Persist, ConnectTimeout…), for
 * other ssh users (a NULL-terminated vector owned by t). */
const char *const *ssh_transport_options_argv(const struct ssh_transport *t, size_t *n);

#endif
