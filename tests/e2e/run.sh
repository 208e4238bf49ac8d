#!/usr/bin/env bash
# The web page of `cairn serve` end to end: starts the real server on a free
# port with a temporary SQLite state, the twitter-analytics users (passwords
# "demo") and tests/e2e/policy.yaml (a docker cluster with no engine behind
# it: nothing is ever started), then drives the page in headless Chromium
# (web.test.mjs, playwright-core). Screenshots go to the temp dir, kept when
# the test fails (or with CAIRN_E2E_KEEP=1). usage: run.sh CAIRN REPO
set -euo pipefail
cairn="$1"
repo="$2"
here="$repo/tests/e2e"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
	echo "FAIL: no Chromium at $chromium (tools/setup installs Debian's chromium)"
	exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
	echo "FAIL: playwright-core is not installed (tools/setup runs npm ci --prefix tests/e2e)"
	exit 1
fi
work=$(mktemp -d /tmp/cairn-e2e.XXXXXX)
server_pid=
cleanup() {
	local rc=$?
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ]; then
		echo "--- server.log (last lines, requests left out)"
		grep -v '"method"' "$work/server.log" 2>/dev/null | tail -20 || true
		echo "kept $work (screenshots in $work/screenshots)"
	elif [ -n "${CAIRN_E2E_KEEP:-}" ]; then
		echo "kept $work (screenshots in $work/screenshots)"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
cd "$work"
unset CAIRN_SERVER CAIRN_TOKEN CAIRN_STATE CAIRN_USERS CAIRN_SECRETS
mkdir screenshots
cp "$repo/examples/twitter-analytics/users.yaml" users.yaml
"$cairn" --state state.db --users users.yaml policy apply --user Sam -f "$here/policy.yaml" --no-apply >/dev/null

# Demos of main/shop-demo (consumers of main may ask) and of ops/tools
# (only admins may: a button Alice does not get).
cat >server.yaml <<'EOF'
demos:
  domain: e2e.test
  contracts:
    - {contract: main/shop-demo, ttl: 3d}
    - {contract: ops/tools}
EOF
"$cairn" serve --config server.yaml --listen 127.0.0.1:0 --state state.db --users users.yaml 2>server.log &
server_pid=$!
port=
for _ in $(seq 100); do
	port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' server.log | sed 's/.*://' || true)
	[ -n "$port" ] && break
	kill -0 "$server_pid" 2>/dev/null || { echo "cairn serve exited"; exit 1; }
	sleep 0.1
done
[ -n "$port" ] || { echo "cairn serve did not start"; exit 1; }

BASE_URL="http://127.0.0.1:$port" SHOT_DIR="$work/screenshots" CHROMIUM="$chromium" \
	node "$here/web.test.mjs"

# A clean stop, and nothing the sanitizers noticed (ASan/UBSan builds).
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
if [ "$rc" -ne 0 ]; then
	echo "FAIL: cairn serve exited with $rc after SIGTERM"
	exit 1
fi
if grep -E "runtime error|Sanitizer" server.log; then
	echo "FAIL: the sanitizers reported errors in cairn serve"
	exit 1
fi
