/* What `code.type: process` takes and what an ssh cluster's config takes:
 * the ssh driver's two param tables (engine/params.h), checked on policy
 * being applied and read again from rendered params by process_spec_parse. */
#ifndef CAIRN_SSH_PARAMS_H
#define CAIRN_SSH_PARAMS_H

#include "engine/params.h"

/* The rows' builds fill a struct process_spec (ssh_spec.h). */
extern const struct param process_params;
extern const struct param ssh_cluster_config;

/* 1..99 (a trailing % allowed), the share of a canary; -1 otherwise. */
int process_parse_percent(const char *s, int *out);

#endif
