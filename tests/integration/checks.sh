# Sourced by the integration tests: counted checks, and waiting for a
# condition. A test ends with its own summary of $passes and $failures.
failures=0
passes=0
check() { # check NAME COMMAND...
	local name="$1"
	shift
	if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; failures=$((failures + 1)); fi
}
wait_for() { # wait_for SECONDS COMMAND...: until the command succeeds
	local t="$1"
	shift
	for _ in $(seq $((t * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
