/* libarchive, opened on first use (see base/lazylib.h): include this instead
 * of the library's header; calls read as usual. */
#ifndef CAIRN_LAZY_ARCHIVE_H
#define CAIRN_LAZY_ARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#include "base/lazylib.h"

#define LAZY_ARCHIVE_FUNCTIONS(X)                                                                  \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_free)                                                                      \
	X(archive_entry_gid)                                                                       \
	X(archive_entry_mtime)                                                                     \
	X(archive_entry_new)                                                                       \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_perm)                                                                      \
	X(archive_entry_set_filetype)                                                              \
	X(archive_entry_set_gid)                                                                   \
	X(archive_entry_set_mtime)                                                                 \
	X(archive_entry_set_pathname)                                                              \
	X(archive_entry_set_perm)                                                                  \
	X(archive_entry_set_size)                                                                  \
	X(archive_entry_set_symlink)                                                               \
	X(archive_entry_set_uid)                                                                   \
	X(archive_entry_size)                                                                      \
	X(archive_entry_symlink)                                                                   \
	X(archive_entry_uid)                                                                       \
	X(archive_error_string)                                                                    \
	X(archive_read_data)                                                                       \
	X(archive_read_data_block)                                                                 \
	X(archive_read_free)                                                                       \
	X(archive_read_new)                                                                        \
	X(archive_read_next_header)                                                                \
	X(archive_read_open_fd)                                                                    \
	X(archive_read_support_format_tar)                                                         \
	X(archive_write_close)                                                                     \
	X(archive_write_data)                                                                      \
	X(archive_write_free)                                                                      \
	X(archive_write_header)                                                                    \
	X(archive_write_new)                                                                       \
	X(archive_write_open)                                                                      \
	X(archive_write_set_bytes_in_last_block)                                                   \
	X(archive_write_set_format_pax_restricted)

struct lazy_archive {
	LAZY_ARCHIVE_FUNCTIONS(LAZYLIB_MEMBER)
};

const struct lazy_archive *lazy_archive(void);

#ifndef LAZY_ARCHIVE_TABLE
#define archive_entry_filetype (lazy_archive()->archive_entry_filetype)
#define archive_entry_free (lazy_archive()->archive_entry_free)
#define archive_entry_gid (lazy_archive()->archive_entry_gid)
#define archive_entry_mtime (lazy_archive()->archive_entry_mtime)
#define archive_entry_new (lazy_archive()->archive_entry_new)
#define archive_entry_pathname (lazy_archive()->archive_entry_pathname)
#define archive_entry_perm (lazy_archive()->archive_entry_perm)
#define archive_entry_set_filetype (lazy_archive()->archive_entry_set_filetype)
#define archive_entry_set_gid (lazy_archive()->archive_entry_set_gid)
#define archive_entry_set_mtime (lazy_archive()->archive_entry_set_mtime)
#define archive_entry_set_pathname (lazy_archive()->archive_entry_set_pathname)
#define archive_entry_set_perm (lazy_archive()->archive_entry_set_perm)
#define archive_entry_set_size (lazy_archive()->archive_entry_set_size)
#define archive_entry_set_symlink (lazy_archive()->archive_entry_set_symlink)
#define archive_entry_set_uid (lazy_archive()->archive_entry_set_uid)
#define archive_entry_size (lazy_archive()->archive_entry_size)
#define archive_entry_symlink (lazy_archive()->archive_entry_symlink)
#define archive_entry_uid (lazy_archive()->archive_entry_uid)
#define archive_error_string (lazy_archive()->archive_error_string)
#define archive_read_data (lazy_archive()->archive_read_data)
#define archive_read_data_block (lazy_archive()->archive_read_data_block)
#define archive_read_free (lazy_archive()->archive_read_free)
#define archive_read_new (lazy_archive()->archive_read_new)
#define archive_read_next_header (lazy_archive()->archive_read_next_header)
#define archive_read_open_fd (lazy_archive()->archive_read_open_fd)
#define archive_read_support_format_tar (lazy_archive()->archive_read_support_format_tar)
#define archive_write_close (lazy_archive()->archive_write_close)
#define archive_write_data (lazy_archive()->archive_write_data)
#define archive_write_free (lazy_archive()->archive_write_free)
#define archive_write_header (lazy_archive()->archive_write_header)
#define archive_write_new (lazy_archive()->archive_write_new)
#define archive_write_open (lazy_archive()->archive_write_open)
#define archive_write_set_bytes_in_last_block                                                      \
	(lazy_archive()->archive_write_set_bytes_in_last_block)
#define archive_write_set_format_pax_restricted                                                    \
	(lazy_archive()->archive_write_set_format_pax_restricted)
#endif

#endif
