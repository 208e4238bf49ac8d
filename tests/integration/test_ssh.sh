#!/usr/bin/env bash
# The ssh driver end to end: three hosts (tools/hosts: network namespaces with
# their own sshd and nginx), the example's web app deployed to all three, a
# blue-green switch under continuous load with zero failed requests, a canary
# split measured, promote, rollback, drift repaired, a no-op apply costing one
# ssh round trip per host, a host whose sshd dies mid-apply, and a host key
# that does not match. Needs root. Usage: test_ssh.sh CAIRN SOURCE_DIR
set -euo pipefail
CAIRN=$(realpath "$1")
SRC=$(realpath "$2")
[ "$(id -u)" -eq 0 ] || { echo "test_ssh: needs root (network namespaces)"; exit 1; }
for p in nginx sshd ip curl python3; do
	command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "test_ssh: $p missing (tools/setup)"; exit 1; }
done

T=$(mktemp -d /tmp/cairn-test-ssh.XXXXXX)
export CAIRN_HOSTS_NET=${CAIRN_HOSTS_NET:-10.78.$((RANDOM % 200 + 20))}
cleanup() {
	"$SRC/tools/hosts" down "$T/hosts" || true
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

"$SRC/tools/hosts" up 3 "$T/hosts" >/dev/null
ADDRS=$(awk '{print $2}' "$T/hosts/hosts" | paste -sd,)
H2=$(awk '$1=="h2"{print $2}' "$T/hosts/hosts")
export CAIRN_STATE=$T/state.db CAIRN_USERS=$SRC/examples/plain-hosts/users.yaml
export CAIRN_SSH_CONTROL_DIR=$T/cm
# every ssh the driver runs is counted per host
cat >"$T/ssh" <<EOF
#!/bin/sh
seen=
for a in "\$@"; do
	if [ -n "\$seen" ]; then echo "\$a" >>"$T/ssh-calls"; break; fi
	[ "\$a" = -- ] && seen=1
done
exec ssh "\$@"
EOF
chmod +x "$T/ssh"
export CAIRN_SSH=$T/ssh

for v in 1 2 3; do
	cp -r "$SRC/examples/plain-hosts/app" "$T/app-v$v"
	echo "v$v" >"$T/app-v$v/VERSION"
done
policy() { # VERSION UPDATE
	sed "s|update: blue-green|update: $2|" "$SRC/examples/plain-hosts/web.yaml" >"$T/web.yaml"
	sed "s|artifact: examples/plain-hosts/app|artifact: $T/app-v$1|" "$SRC/examples/plain-hosts/deps.yaml" >"$T/deps.yaml"
}
apply() { "$CAIRN" policy apply --user ops -f "$T/hosts/cluster.yaml" -f "$T/web.yaml" -f "$T/deps.yaml" --attempts 1 "$@"; }
get() { curl -s --max-time 5 -H "Host: $2" "http://$1$3"; }
# until WANT ADDR HOST PATH: the first word served, once it is WANT (up to 2 s:
# an nginx worker of the old configuration may answer a moment longer)
until_serves() {
	local got
	for _ in $(seq 1 20); do
		got=$(get "$2" "$3" "$4" | cut -d' ' -f1)
		[ "$got" = "$1" ] && break
		sleep 0.1
	done
	echo "$got"
}
load() { python3 "$SRC/tests/integration/ssh_load.py" --addresses "$ADDRS" "$@"; }
jget() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

step "release v1 deployed to three hosts"
policy 1 blue-green
apply >"$T/out" 2>&1 || { cat "$T/out"; fail "first apply"; }
for a in ${ADDRS//,/ }; do
	[ "$(until_serves v1 "$a" web.test /)" = v1 ] || { cat "$T/out"; fail "$a does not serve v1"; }
	[ "$(until_serves v1 "$a" staging.test /feature-login/)" = v1 ] || fail "$a: branch feature-login not routed"
	[ "$(until_serves v1 "$a" staging.test /fix-typo/)" = v1 ] || fail "$a: branch fix-typo not routed"
done
b1=$(get "$H2" staging.test /feature-login/)
b2=$(get "$H2" staging.test /fix-typo/)
[ "$b1" != "$b2" ] || fail "two branches share one release ($b1)"

step "no-op apply: one ssh round trip per host"
rm -f "$T/ssh-calls"
"$CAIRN" apply --attempts 1 >"$T/out" 2>&1 || { cat "$T/out"; fail "no-op apply"; }
grep -q "already runs as wanted" "$T/out" || { cat "$T/out"; fail "no-op apply did something"; }
calls=$(sort "$T/ssh-calls" | uniq -c | awk '{print $1}' | sort -u | paste -sd,)
[ "$calls" = 1 ] && [ "$(wc -l <"$T/ssh-calls")" = 3 ] || fail "no-op apply: ssh calls per host: $(sort "$T/ssh-calls" | uniq -c)"
echo "   3 hosts, 1 round trip each"

step "a stopped branch stops on every host, keeps its release, and starts again"
sed '/name: web_fix_typo}/,/labels:/ s/  user: ops/  user: ops\n  stopped: true/' "$T/deps.yaml" >"$T/deps-stopped.yaml"
grep -q "stopped: true" "$T/deps-stopped.yaml" || fail "could not write the stopped dependency"
"$CAIRN" policy apply --user ops -f "$T/deps-stopped.yaml" --attempts 1 >"$T/out" 2>&1 || { cat "$T/out"; fail "stop"; }
[ "$(grep -c 'stop ' "$T/out")" -ge 3 ] || { cat "$T/out"; fail "stopping fix-typo did not stop it on the three hosts"; }
for a in ${ADDRS//,/ }; do
	[ "$(until_serves "<html>" "$a" staging.test /fix-typo/)" != v1 ] || fail "$a still routes the stopped branch"
	[ "$(until_serves v1 "$a" staging.test /feature-login/)" = v1 ] || fail "$a: the other branch stopped too"
done
"$CAIRN" apply --attempts 1 >"$T/out" 2>&1 || { cat "$T/out"; fail "apply while stopped"; }
grep -q "already runs as wanted" "$T/out" || { cat "$T/out"; fail "a stopped branch was started again by apply"; }
apply >"$T/out" 2>&1 || { cat "$T/out"; fail "start"; }
for a in ${ADDRS//,/ }; do
	for _ in $(seq 1 20); do # nginx workers pick up a reload within a moment
		[ "$(get "$a" staging.test /fix-typo/)" = "$b2" ] && break
		sleep 0.1
	done
	got=$(get "$a" staging.test /fix-typo/)
	[ "$got" = "$b2" ] || fail "$a: fix-typo did not come back on its release: '$got', not '$b2'"
done

step "blue-green switch to v2 under load: zero failed requests"
rm -f "$T/stop"
load --until "$T/stop" --threads 8 >"$T/load.json" &
lp=$!
sleep 1
policy 2 blue-green
apply >"$T/out" 2>&1 || { cat "$T/out"; fail "switch to v2"; }
sleep 1
touch "$T/stop"
wait $lp
echo "   $(cat "$T/load.json")"
[ "$(jget "$T/load.json" "d['failed']")" = 0 ] || {
	for h in "$T"/hosts/h*/; do tail -n 5 "$h/srv/nginx/error.log" 2>/dev/null | sed "s|^|   $(basename "$h") nginx: |"; done
	fail "requests failed during the switch"
}
[ "$(jget "$T/load.json" "d['versions'].get('v1',0) > 0 and d['versions'].get('v2',0) > 0")" = True ] ||
	fail "the load did not see both versions"
for a in ${ADDRS//,/ }; do
	[ "$(until_serves v2 "$a" web.test /)" = v2 ] || fail "$a does not serve v2"
done
root1=$T/hosts/h1/srv
inst=$(ls "$root1/run" | grep prod)
[ "$(readlink "$root1/run/$inst/current")" = "/srv/cairn/releases/$(jget "$root1/state/$inst.json" "d['release']")" ] ||
	fail "current link does not name the live release"

step "rollback to v1, kept by the next apply"
"$CAIRN" rollback "hosts#main#web#prod#app" >"$T/out" 2>&1 || { cat "$T/out"; fail "rollback"; }
for a in ${ADDRS//,/ }; do
	[ "$(until_serves v1 "$a" web.test /)" = v1 ] || fail "$a does not serve v1 after rollback"
done
"$CAIRN" apply --attempts 1 >"$T/out" 2>&1 || { cat "$T/out"; fail "apply after rollback"; }
[ "$(until_serves v1 "$H2" web.test /)" = v1 ] || fail "apply undid the rollback"

step "canary 20% of v3: split measured, then promote"
policy 3 "{canary: 20}"
apply >"$T/out" 2>&1 || { cat "$T/out"; fail "canary apply"; }
load --requests 2000 --threads 8 >"$T/load.json"
echo "   $(cat "$T/load.json")"
share=$(jget "$T/load.json" "round(100.0 * d['versions'].get('v3',0) / d['requests'], 1)")
echo "   canary share: $share% (weight 20%)"
[ "$(jget "$T/load.json" "d['failed']")" = 0 ] || fail "requests failed during the canary"
python3 -c "import sys; sys.exit(0 if abs($share - 20) <= 3 else 1)" || fail "canary share $share% is not 20% ± 3"
"$CAIRN" apply --attempts 1 >"$T/out" 2>&1 && grep -q "already runs as wanted" "$T/out" ||
	{ cat "$T/out"; fail "apply during a canary changed something"; }
"$CAIRN" rollout promote "hosts#main#web#prod#app" >"$T/out" 2>&1 || { cat "$T/out"; fail "promote"; }
load --requests 300 >"$T/load.json"
[ "$(jget "$T/load.json" "d['versions'].get('v3',0)")" = 300 ] || fail "after promote not all traffic on v3: $(cat "$T/load.json")"

step "drift repaired: a killed process, a deleted release, a moved current link"
inst=$(ls "$root1/run" | grep fix-typo)
rid=$(jget "$root1/state/$inst.json" "d['rid']")
kill "$(cat "$root1/run/$inst/$rid.pid")"
sleep 0.5
rel=$(jget "$T/hosts/h2/srv/state/$inst.json" "d['release']")
rm -rf "$T/hosts/h2/srv/releases/$rel"
ln -sfn /tmp "$T/hosts/h3/srv/run/$inst/current"
"$CAIRN" apply --attempts 1 >"$T/out" 2>&1 || { cat "$T/out"; fail "repairing apply"; }
# the release is shared by every instance running that version: each of them is repaired on h2
[ "$(grep -c ' repair ' "$T/out")" -ge 3 ] || { cat "$T/out"; fail "expected at least 3 repairs"; }
for a in ${ADDRS//,/ }; do
	[ "$(until_serves v3 "$a" staging.test /fix-typo/)" = v3 ] || fail "$a: fix-typo not repaired"
done
[ "$(readlink "$T/hosts/h3/srv/run/$inst/current")" = "/srv/cairn/releases/$rel" ] || fail "current link not repaired"

step "a host whose sshd dies mid-apply: named, the others converge, a rerun completes"
policy 1 blue-green
apply >"$T/out" 2>&1 &
ap=$!
sleep 1.5 # observed and uploading: the release is switching
"$SRC/tools/hosts" stop-sshd "$T/hosts" h2
wait $ap && { cat "$T/out"; fail "apply with a dead host succeeded"; }
grep -E "host h2 \\($H2:22\\): (connection refused|connection closed|connection lost|connection reset)" "$T/out" >/dev/null ||
	{ cat "$T/out"; fail "no clear error naming h2"; }
for a in $(awk '$1!="h2"{print $2}' "$T/hosts/hosts"); do
	[ "$(until_serves v1 "$a" web.test /)" = v1 ] || fail "$a did not converge while h2 was dead"
done
echo "   $(grep -m1 'host h2' "$T/out" | sed 's/^ *//')"
"$SRC/tools/hosts" start-sshd "$T/hosts" h2
apply >"$T/out" 2>&1 || { cat "$T/out"; fail "rerun after h2 came back"; }
[ "$(until_serves v1 "$H2" web.test /)" = v1 ] || fail "h2 did not converge on the rerun"

step "a host key that does not match is refused"
ssh-keygen -q -t ed25519 -N '' -f "$T/other_key"
awk -v k="$(cut -d' ' -f2 "$T/other_key.pub")" '{ if ($1 == "'"$H2"'") $3 = k; print }' "$T/hosts/known_hosts" >"$T/bad_known_hosts"
sed "s|known_hosts: .*|known_hosts: $T/bad_known_hosts|" "$T/hosts/cluster.yaml" >"$T/bad_cluster.yaml"
"$CAIRN" policy apply --user ops -f "$T/bad_cluster.yaml" --attempts 1 >"$T/out" 2>&1 && fail "apply with a wrong host key succeeded"
grep -q "host h2 ($H2:22): host key" "$T/out" || { cat "$T/out"; fail "the mismatch is not named"; }
echo "   $(grep -m1 'host h2' "$T/out" | sed 's/^ *//')"

step "deleting the whole policy, cluster included, removes everything cairn made"
"$CAIRN" policy apply --user ops -f "$T/hosts/cluster.yaml" --attempts 1 >/dev/null 2>&1 || true
"$CAIRN" policy delete --user ops -f "$T/hosts/cluster.yaml" -f "$T/web.yaml" -f "$T/deps.yaml" --attempts 1 >"$T/out" 2>&1 ||
	{ cat "$T/out"; fail "delete"; }
for h in h1 h2 h3; do
	[ -z "$(ls "$T/hosts/$h/srv/run")" ] || fail "$h still runs instances"
	[ -z "$(ls "$T/hosts/$h/srv/releases")" ] || fail "$h still keeps releases"
done
echo "ok"
