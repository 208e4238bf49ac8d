#!/bin/sh
# Runs one store test program against a private PostgreSQL: starts a cluster
# with tools/pg in a new temporary directory, runs the program with
# CAIRN_TEST_POSTGRES set to its URL, then stops and removes the cluster.
# Usage: with_postgres.sh SOURCE_DIR PROGRAM [ARGS...]
set -u
src=$1
shift
dir=$(mktemp -d /tmp/cairn-pg-XXXXXX) || exit 1
cleanup() {
	"$src/tools/pg" stop "$dir" || echo "with_postgres.sh: PostgreSQL in $dir did not stop" >&2
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Not skipped when PostgreSQL cannot start: the test fails and says why.
if ! url=$("$src/tools/pg" start "$dir"); then
	echo "with_postgres.sh: cannot start PostgreSQL for the store tests (see above)" >&2
	exit 1
fi
CAIRN_TEST_POSTGRES=$url "$@"
