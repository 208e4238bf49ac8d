/* libmicrohttpd, opened on first use (see base/lazylib.h): include this instead
 * of the library's header; calls read as usual. */
#ifndef CAIRN_LAZY_MHD_H
#define CAIRN_LAZY_MHD_H

#include <microhttpd.h>

#include "base/lazylib.h"

#define LAZY_MHD_FUNCTIONS(X)                                                                      \
	X(MHD_add_response_header)                                                                 \
	X(MHD_create_post_processor)                                                               \
	X(MHD_create_response_from_buffer)                                                         \
	X(MHD_destroy_post_processor)                                                              \
	X(MHD_destroy_response)                                                                    \
	X(MHD_get_connection_info)                                                                 \
	X(MHD_get_daemon_info)                                                                     \
	X(MHD_lookup_connection_value)                                                             \
	X(MHD_post_process)                                                                        \
	X(MHD_queue_response)                                                                      \
	X(MHD_quiesce_daemon)                                                                      \
	X(MHD_start_daemon)                                                                        \
	X(MHD_stop_daemon)

struct lazy_mhd {
	LAZY_MHD_FUNCTIONS(LAZYLIB_MEMBER)
};

const struct lazy_mhd *lazy_mhd(void);

#ifndef LAZY_MHD_TABLE
#define MHD_add_response_header (lazy_mhd()->MHD_add_response_header)
#define MHD_create_post_processor (lazy_mhd()->MHD_create_post_processor)
#define MHD_create_response_from_buffer (lazy_mhd()->MHD_create_response_from_buffer)
#define MHD_destroy_post_processor (lazy_mhd()->MHD_destroy_post_processor)
#define MHD_destroy_response (lazy_mhd()->MHD_destroy_response)
#define MHD_get_connection_info (lazy_mhd()->MHD_get_connection_info)
#define MHD_get_daemon_info (lazy_mhd()->MHD_get_daemon_info)
#define MHD_lookup_connection_value (lazy_mhd()->MHD_lookup_connection_value)
#define MHD_post_process (lazy_mhd()->MHD_post_process)
#define MHD_queue_response (lazy_mhd()->MHD_queue_response)
#define MHD_quiesce_daemon (lazy_mhd()->MHD_quiesce_daemon)
#define MHD_start_daemon (lazy_mhd()->MHD_start_daemon)
#define MHD_stop_daemon (lazy_mhd()->MHD_stop_daemon)
#endif

#endif
