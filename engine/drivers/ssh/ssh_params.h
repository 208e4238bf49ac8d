/* What `code.type: process` takes and what an ssh cluster's config takes:
 * the ssh driver's two param tables (engine/core/params.h), checked on policy
 * being applied and read again from rendered params by process_spec_parse. */
#ifndef CAIRN_SSH_PARAMS_H
#define CAIRN_SSH_PARAMS_H

#include "engine/core/params.h"

#include <jansson.h>

/* The rows' builds fill a struct process_spec (ssh_spec.h). */
extern const struct param process_params;
extern const struct param ssh_cluster_config;

/* What an ssh cluster's config says, read through ssh_cluster_config with
 * its defaults filled in. Strings live as long as the settings. */
struct ssh_host_settings {
	const char *address, *name, *user; /* name and user default to address, root */
	int port;                          /* 22 by default */
};
struct ssh_settings {
	const char *identity, *known_hosts;
	const char *root;   /* where releases live on the hosts, /srv/cairn */
	const char *domain; /* the default route host, localhost */
	const char *nginx_config, *nginx_pid;
	int connect_timeout_s;
	struct ssh_host_settings *hosts;
	size_t nhosts;
	json_t *config; /* what the strings point into */
};
void ssh_settings_read(struct ssh_settings *s, const struct ynode *config);
void ssh_settings_release(struct ssh_settings *s);

/* 1..99 (a trailing % allowed), the share of a canary; -1 otherwise. */
int process_parse_percent(const char *s, int *out);

#endif
