/* The ssh:// transport of the Engine API client: `ssh -N -L` forwarding a
 * private local socket to the remote engine's socket, started with the
 * client and ended with it. Private to the client (docker_api.c). */
#ifndef CAIRN_DOCKER_TUNNEL_H
#define CAIRN_DOCKER_TUNNEL_H

#include "docker_api.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#define DOCKER_TUNNEL_REMOTE_SOCKET "/var/run/docker.sock"

struct docker_tunnel {
	const char *endpoint; /* as given, for messages; borrowed */
	char *dir;            /* private: the forwarded socket and ssh's stderr */
	char *socket, *log;
	char *host, *known_hosts;
	pthread_mutex_t lock; /* guards pid and status */
	pid_t pid;            /* 0 when no ssh runs (or it was reaped) */
	int status;
};

/* Starts ssh to given ([user@]host[:port], the rest of endpoint after
 * ssh://) and waits until (*out)->socket accepts connections. */
int docker_tunnel_open(struct docker_tunnel **out, const char *endpoint, const char *given,
		       const struct docker_options *opts, struct error *err);
/* Why a request through the tunnel got no answer: ssh exited (and why), or
 * the remote engine did not answer; detail is curl's word for it. -1. */
int docker_tunnel_failure(struct docker_tunnel *t, const char *detail, struct error *err);
/* Ends ssh, removes its directory and frees t. */
void docker_tunnel_close(struct docker_tunnel *t);

/* docker_api.c: the endpoint checks both transports share */
int docker_refuse_endpoint(const char *endpoint, const char *why, struct error *err);
/* Splits "host[:port]" (host may be "[v6]") at the port; *port is NULL when absent. */
int docker_split_host_port(const char *endpoint, const char *s, char **host, char **port,
			   struct error *err);
int docker_check_readable(const char *what, const char *path, struct error *err);

#endif
