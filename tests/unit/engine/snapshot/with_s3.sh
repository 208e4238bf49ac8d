#!/bin/sh
# Runs one test program against a private S3-compatible server (tools/s3:
# s3rver) with CAIRN_TEST_S3 set to its endpoint (and CAIRN_TEST_S3_DIR to
# where it keeps its objects), then stops it.
# Usage: with_s3.sh SOURCE_DIR PROGRAM [ARGS...]
set -u
src=$1
shift
dir=$(mktemp -d /tmp/cairn-s3-XXXXXX) || exit 1
cleanup() {
	"$src/tools/s3" stop "$dir"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! url=$("$src/tools/s3" start "$dir"); then
	echo "with_s3.sh: cannot start the S3 server (see above)" >&2
	exit 1
fi
CAIRN_TEST_S3=$url CAIRN_TEST_S3_DIR=$dir "$@"
