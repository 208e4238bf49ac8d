# Sourced by the integration and CLI tests: counted checks, running cairn
# for its exit code, and waiting for a condition. A test ends with its own
# summary of $passes and $failures.
failures=0
passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # check NAME COMMAND...
	local name="$1"
	shift
	if "$@"; then ok; else fail "$name"; fi
}
expect_exit() { # expect_exit CODE ARGS...: $cairn_bin must exit with CODE; output in $work/out, $work/err
	local want="$1" got=0
	shift
	"$cairn_bin" "$@" >"$work/out" 2>"$work/err" || got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		fail "cairn $* exited $got, expected $want"
		sed 's/^/    /' "$work/out" "$work/err" | tail -20
	fi
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
