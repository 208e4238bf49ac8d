#!/usr/bin/env bash
# `cairn serve` end to end over real HTTP: authentication (tokens, revoked
# tokens, passwords), the ACL, the API and `cairn --server` giving what the
# local commands give, dry runs, oversized, malformed and slow requests,
# 404/405, /metrics, /healthz, reconcile jobs, SIGTERM and a restart. No
# Docker: the only generation that is reconciled has no cluster, every other
# apply is stored only (apply=0, --no-apply). usage: test_server.sh CAIRN REPO
set -euo pipefail
cairn="$1"
ex="$2/examples/twitter-analytics"
work=$(mktemp -d)
server_pid=
cleanup() {
	local rc=$?
	if [ "$rc" -ne 0 ] && [ -f "$work/server.log" ]; then
		echo "--- server.log (last lines)"; grep -v '"method"' "$work/server.log" | tail -40
	fi
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
unset CAIRN_SERVER CAIRN_TOKEN CAIRN_STATE CAIRN_USERS CAIRN_SECRETS
. "$2/tests/integration/checks.sh"

# The server's config: relative paths are relative to this file.
mkdir -p etc
cp "$ex/users.yaml" "$ex/secrets.yaml" etc/
cat >etc/server.yaml <<EOF
listen: 127.0.0.1:0
state: state.db
users: users.yaml
secrets: secrets.yaml
public_url: http://cairn.test
timeout: 2
max_body: 1048576
EOF
export CAIRN_USERS="$work/etc/users.yaml" CAIRN_SECRETS="$work/etc/secrets.yaml"
srv_state="$work/etc/state.db"
for u in Sam Frank John Alice Bob Carol; do
	"$cairn" --state "$srv_state" token create --user "$u" --name "test-$u" >"tok.$u" 2>/dev/null
done
"$cairn" --state "$srv_state" token create --user Bob --name old >tok.revoked 2>/dev/null
revoked_id=$("$cairn" --state "$srv_state" token list -o json |
	python3 -c "import json,sys; print([t['id'] for t in json.load(sys.stdin)['tokens'] if t['name'] == 'old'][0])")
"$cairn" --state "$srv_state" token revoke "$revoked_id" >/dev/null
check "token list shows the revoked token" sh -c "'$cairn' --state '$srv_state' token list | grep -q REVOKED"
check "only hashes are stored" sh -c "! sqlite3 '$srv_state' .dump | grep -q '$(cat tok.Sam)'"
check "an unknown user gets no token" sh -c "! '$cairn' --state '$srv_state' token create --user Nobody 2>/dev/null"

start_server() {
	"$cairn" serve --config etc/server.yaml 2>>server.log &
	server_pid=$!
	for _ in $(seq 100); do
		# One read of the log for both: the Nth start's port, never the one before.
		port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' server.log | sed -n "$1s/.*://p") || true
		if [ -n "$port" ]; then
			base="http://127.0.0.1:$port"
			return 0
		fi
		sleep 0.1
	done
	echo "server did not start"; cat server.log; exit 1
}
stop_server() {
	kill -TERM "$server_pid"
	local rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	return $rc
}

start_server 1
export CAIRN_SERVER="$base"

# http METHOD PATH [curl args...]: status in $status, body in $work/body.
http() {
	local method="$1" path="$2"
	shift 2
	status=$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' -X "$method" "$@" "$base$path") ||
		status="curl-exit-$?"
}
as() { echo "Authorization: Bearer $(cat "tok.$1")"; }
yaml='Content-Type: application/yaml'  # what the API documents; a form's types are refused
body_json() { python3 -c "import json,sys; d=json.load(open('$work/body')); sys.exit(0 if ($1) else 1)"; }
expect() { # expect STATUS NAME
	if [ "$status" = "$1" ]; then ok; else fail "$2: status $status, expected $1: $(head -c 400 "$work/body")"; fi
}

http GET /healthz
expect 200 "healthz"
check "healthz says ok" body_json "d['status'] == 'ok'"

# Authentication.
http GET /api/v1/whoami
expect 401 "no token"
check "401 carries WWW-Authenticate" grep -qi '^WWW-Authenticate: Bearer' headers
check "401 invites no browser Basic prompt" sh -c "! grep -qi '^WWW-Authenticate: Basic' headers"
http GET /api/v1/whoami -H "Authorization: Bearer cairn_0000"
expect 401 "bad token"
http GET /api/v1/whoami -H "Authorization: Bearer $(cat tok.revoked)"
expect 401 "revoked token"
http GET /api/v1/whoami -H "$(as Alice)"
expect 200 "good token"
check "whoami names the token's user" body_json "d == {'user': 'Alice', 'admin': False, 'method': 'token', 'server': 'http://cairn.test'}"
http GET /api/v1/whoami -u Sam:demo
expect 200 "right password"
check "whoami after a password" body_json "d['user'] == 'Sam' and d['method'] == 'password' and d['admin']"
http GET /api/v1/whoami -u Sam:wrong
expect 401 "wrong password"
http GET /api/v1/whoami -u Nobody:demo
expect 401 "unknown user"
# Padding alone once made the decoded length negative: a write before the buffer.
for bad in '====' '=' 'A===' 'U2Ft' '!!!!' "$(head -c 6000 /dev/zero | tr '\0' A)"; do
	http GET /api/v1/whoami -H "Authorization: Basic $bad"
	expect 401 "malformed basic credentials '${bad:0:8}'"
done
http GET /healthz
expect 200 "alive after malformed credentials"

# A generation with no cluster: its reconcile job converges nothing, and ends done.
http POST /api/v1/policy -H "$(as Sam)" -H "$yaml" --data-binary @"$ex/Sam/acl.yaml"
expect 202 "apply queues a reconcile"
check "apply answers the plan, the generation and the job" body_json "d['generation'] == 1 and d['actions'] == [] and d['job'] > 0"
check "apply sends the job in a header" grep -qi '^X-Cairn-Job: ' headers
job=$(python3 -c "import json; print(json.load(open('$work/body'))['job'])")
for _ in $(seq 100); do
	http GET "/api/v1/jobs/$job" -H "$(as Sam)"
	body_json "d['status'] in ('done', 'failed', 'cancelled')" && break
	sleep 0.1
done
check "the reconcile job is done" body_json "d['status'] == 'done' and d['kind'] == 'reconcile' and d['key'] == 'reconcile' and 'generation 1' in d['message']"
http GET /api/v1/jobs -H "$(as Sam)"
check "jobs list has it" body_json "any(j['id'] == $job for j in d['jobs'])"

# The example through the server (CLI --server) and locally: the same log.
local_state="$work/local.db"
local_cairn() { env -u CAIRN_SERVER "$cairn" --state "$local_state" "$@"; }
steps=("Sam|$ex/Sam" "Frank|$ex/Frank" "John|$ex/John" "John|$ex/john-prod-ts.yaml" "Alice|$ex/alice-stage-ts.yaml" "Bob|$ex/bob-stage-ts.yaml" "Carol|$ex/carol-stage-ts.yaml")
local_cairn policy apply --no-apply --user Sam -f "$ex/Sam/acl.yaml" >/dev/null
for s in "${steps[@]}"; do
	u=${s%%|*} f=${s#*|}
	rc=0
	"$cairn" --token "$(cat "tok.$u")" policy apply --no-apply -f "$f" >remote.out 2>remote.err || rc=$?
	[ "$rc" -eq 0 ] && ok || { fail "remote apply $u $f exited $rc"; cat remote.err; }
	local_cairn policy apply --no-apply --user "$u" -f "$f" >local.out 2>&1
	check "remote apply prints what local prints ($u)" cmp -s remote.out local.out
done
strip_times() { python3 -c "import json,sys; d=json.load(sys.stdin); [g.pop('time') for g in d['generations']]; print(json.dumps(d))"; }
CAIRN_TOKEN=$(cat tok.Alice) "$cairn" policy log -o json | strip_times >remote.log
local_cairn policy log -o json | strip_times >local.log
check "the same generations through the server as locally" cmp -s remote.log local.log
check "eight generations" python3 -c "import json; assert len(json.load(open('remote.log'))['generations']) == 8"
for cmd in "plan" "explain main/carol_stage" "policy diff 3 5" "policy show --generation 4" "policy show"; do
	for fmt in "" "-o json"; do
		# shellcheck disable=SC2086 # the words split on purpose
		CAIRN_TOKEN=$(cat tok.Bob) "$cairn" $cmd $fmt >remote.out 2>&1 || true
		# shellcheck disable=SC2086
		local_cairn $cmd $fmt >local.out 2>&1 || true
		check "'$cmd $fmt' through the server prints what it prints locally" cmp -s remote.out local.out
	done
done
for fmt in "" "-o json"; do
	# shellcheck disable=SC2086
	CAIRN_TOKEN=$(cat tok.Sam) "$cairn" policy rollback 4 --dry-run $fmt >remote.out 2>&1 || true
	# shellcheck disable=SC2086
	local_cairn policy rollback 4 --user Sam --dry-run $fmt >local.out 2>&1 || true
	check "a rollback's dry run through the server prints what it prints locally ($fmt)" cmp -s remote.out local.out
done
check "and it plans the removal of what came after generation 4" grep -q "would make generation 9 (0 created, 0 updated, 4 deleted)" <(local_cairn policy rollback 4 --user Sam --dry-run)
http POST "/api/v1/policy/rollback?generation=4&apply=0" -H "$(as Alice)"
expect 403 "Alice may not roll back the others' dependencies"
check "a refused rollback is worded as the CLI words it" body_json "d['error'].startswith('policy rollback refused: ') and any(\"user 'Alice' may not manage\" in x for x in d['diagnostics'])"
http POST "/api/v1/policy/rollback?generation=x" -H "$(as Sam)"
expect 400 "a rollback needs a generation number"
http POST "/api/v1/policy/rollback?generation=99&dry_run=1" -H "$(as Sam)"
expect 422 "a rollback to a generation that does not exist"
http GET "/api/v1/explain?dependency=main/carol_stage" -H "$(as Bob)"
check "explain over the API" body_json "not d['resolved'] and 'reject_dependency_for_mobile_dev_users' in d['reason']"
http GET "/api/v1/revisions/5/diff" -H "$(as Bob)"
check "a revision's diff defaults to the one before" body_json "d['from'] == 4 and d['to'] == 5 and len(d['changes']) == 1"
http GET "/api/v1/revisions/99" -H "$(as Bob)"
expect 404 "a generation that does not exist"
http GET "/api/v1/explain?dependency=main/nobody" -H "$(as Bob)"
expect 404 "explain of a dependency that does not exist"

# The ACL: the same refusal, worded as the CLI words it, and nothing stored.
http POST "/api/v1/policy?apply=0" -H "$(as Alice)" -H "$yaml" --data-binary @"$ex/alice-publishes-service.yaml"
expect 403 "Alice may not publish a service"
check "403 says what the CLI says" body_json "d['error'] == 'policy apply refused: 1 error in 1 file; nothing was stored' and d['diagnostics'] == [\"request:5:3: user 'Alice' may not manage service main/alice_tweetbot: service-consumer of main can only declare dependencies\"]"
rc=0
CAIRN_TOKEN=$(cat tok.Alice) "$cairn" policy apply --no-apply -f "$ex/alice-publishes-service.yaml" >/dev/null 2>remote.err || rc=$?
local_cairn policy apply --no-apply --user Alice -f "$ex/alice-publishes-service.yaml" >/dev/null 2>local.err || true
check "remote refusal exits 3" test "$rc" -eq 3
check "remote refusal prints what local prints" cmp -s remote.err local.err
http POST "/api/v1/policy/delete?apply=0" -H "$(as Alice)" -H "$yaml" --data-binary @"$ex/bob-stage-ts.yaml"
expect 403 "Alice may not delete Bob's dependency"
# Bob's dependency, named in a file that says it is Alice's: neither taken
# over nor deleted (the stored object is judged, not only the request).
sed 's/user: Bob/user: Alice/' "$ex/bob-stage-ts.yaml" >takeover.yaml
http POST "/api/v1/policy?apply=0" -H "$(as Alice)" -H "$yaml" --data-binary @takeover.yaml
expect 403 "Alice may not take Bob's dependency over"
check "the takeover is refused as Bob's" body_json "any(\"it belongs to user 'Bob'\" in x for x in d['diagnostics'])"
http POST "/api/v1/policy/delete?apply=0" -H "$(as Alice)" -H "$yaml" --data-binary @takeover.yaml
expect 403 "Alice may not delete Bob's dependency by calling it hers"
http DELETE /api/v1/environments/main/bob_stage -H "$(as Alice)"
expect 403 "Alice may not delete Bob's environment"
http POST /api/v1/environments/main/bob_stage/stop -H "$(as Alice)"
expect 403 "Alice may not stop Bob's environment"
http GET /api/v1/explain?dependency=main/bob_stage -H "$(as Bob)"
check "Bob's dependency is still his" body_json "d['user'] == 'Bob'"
http POST "/api/v1/policy?apply=0&user=Sam" -H "$(as Alice)" -H "$yaml" --data-binary @"$ex/alice-stage-ts.yaml"
expect 403 "a token acts only as its user"
rc=0
CAIRN_TOKEN=bad "$cairn" plan >/dev/null 2>remote.err || rc=$?
check "a rejected token: exit 1 and a hint" sh -c "[ $rc -eq 1 ] && grep -q 'token rejected.*cairn token create' remote.err"
rc=0
CAIRN_SERVER=http://127.0.0.1:1 "$cairn" plan >/dev/null 2>remote.err || rc=$?
check "an unreachable server: exit 1, said" sh -c "[ $rc -eq 1 ] && grep -q 'cannot reach the server' remote.err"

# Dry runs store nothing; deletes through the server are generations too.
http POST "/api/v1/policy?dry_run=1" -H "$(as John)" -H "$yaml" --data-binary @"$ex/john-prod-ts-changed.yaml"
expect 200 "dry run"
check "dry run answers plan and status" body_json "sorted((a['action'], a['instance']) for a in d['plan']['actions']) == [('update', 'cluster-us-east#main#twitter_stats#prod#root'), ('update', 'cluster-us-east#main#twitter_stats#prod#tweeviz')] and 'dependencies' in d['status']"
http GET /api/v1/revisions -H "$(as John)"
check "dry run stored nothing" body_json "len(d['generations']) == 8"
http POST "/api/v1/policy/delete?apply=0" -H "$(as Alice)" -H "$yaml" --data-binary @"$ex/alice-stage-ts.yaml"
expect 200 "Alice deletes her dependency"
check "the delete is generation 9" body_json "d['generation'] == 9 and all(a['dependency'] == 'main/alice_stage' for a in d['actions'])"

# Cross-site requests: a form on another site (Origin other than Host, a
# form's content type) changes nothing; the same from this site's page does.
http POST /api/v1/environments/main/bob_stage/stop -H "$(as Bob)" -H 'Origin: http://evil.example' -H 'Content-Type: application/x-www-form-urlencoded' --data 'x=1'
expect 403 "a cross-site form post is refused"
check "the refusal says why" body_json "'cross-site' in d['error']"
http POST /api/v1/environments/main/bob_stage/stop -H "$(as Bob)" -H 'Sec-Fetch-Site: cross-site'
expect 403 "Sec-Fetch-Site: cross-site is refused"
http POST "/api/v1/policy?apply=0" -H "$(as Bob)" -H 'Content-Type: text/plain' --data-binary @"$ex/bob-stage-ts.yaml"
expect 415 "a beacon's text/plain is refused"
http POST "/api/v1/policy?apply=0" -H "$(as Bob)" --data-binary @"$ex/bob-stage-ts.yaml"
expect 415 "curl's default form type is refused"
http POST /api/v1/login -H 'Origin: http://evil.example' -H 'Content-Type: application/json' --data '{"user":"Bob","password":"demo"}'
expect 403 "a cross-site login is refused"
http POST "/api/v1/policy?dry_run=1" -H "$(as Bob)" -H "$yaml" -H "Origin: http://127.0.0.1:$port" -H 'Sec-Fetch-Site: same-origin' --data-binary @"$ex/bob-stage-ts.yaml"
expect 200 "the server's own page may post"
http GET /api/v1/whoami -H "$(as Bob)" -H 'Origin: http://evil.example'
expect 200 "reads are not refused for their Origin"

# Bad requests.
printf -- '- kind: dependency\n  metadata: {namespace: main, name: x\n' >bad.yaml
http POST "/api/v1/policy?apply=0" -H "$(as Alice)" -H "$yaml" --data-binary @bad.yaml
expect 422 "malformed YAML"
check "422 gives the position in the request" body_json "any(x.startswith('request:') and x.split(':')[1].isdigit() for x in d['diagnostics'])"
head -c 2000000 /dev/zero | tr '\0' 'a' >big.yaml
http POST "/api/v1/policy" -H "$(as Alice)" -H "$yaml" --data-binary @big.yaml
expect 413 "oversized body"
check "413 names the limit" body_json "'1048576' in d['error']"
http GET /api/v1/nothing-here -H "$(as Alice)"
expect 404 "unknown route"
check "404 is JSON" body_json "'no route' in d['error']"
http DELETE /api/v1/plan -H "$(as Alice)"
expect 405 "wrong method"
check "405 says what is allowed" grep -qi '^Allow: GET' headers

# A slow client is dropped after the timeout (2 s) and blocks nobody.
check "slow client dropped, others answered" python3 - "$port" <<'EOF'
import socket, sys, time, urllib.request
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
t0 = time.time()
assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
s.settimeout(10)
data = s.recv(100)  # b"" once the server closes it
elapsed = time.time() - t0
assert data == b"" or b"408" in data, data
assert 1.0 <= elapsed <= 8, elapsed
EOF

# A flood from one address: 1,100 connections that trickle a header line
# every half second. Beyond 64 from that address the server answers 503 at
# once; those it keeps are cut when their request is not read whole within
# the timeout (2 s), trickle or not; another address is answered every time.
check "a flood from one address leaves the others answered" python3 - "$port" <<'EOF'
import http.client, resource, socket, sys, threading, time
port = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
flood, stop = [], threading.Event()
for _ in range(1100):
    s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.1", 0))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    flood.append(s)
def trickle():
    while not stop.is_set():
        for s in flood:
            try:
                s.send(b"X-Slow: 1\r\n", socket.MSG_DONTWAIT)
            except OSError:
                pass
        time.sleep(0.5)
t = threading.Thread(target=trickle)
t.start()
slowest, answered = 0.0, 0
try:
    end = time.time() + 6
    while time.time() < end:
        for method, path in (("GET", "/healthz"), ("POST", "/webhook/github")):
            t0 = time.time()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2, source_address=("127.0.0.2", 0))
            c.request(method, path, body=b"{}" if method == "POST" else None)
            r = c.getresponse()
            r.read()
            c.close()
            assert r.status < 500, (method, path, r.status)
            slowest = max(slowest, time.time() - t0)
            answered += 1
        time.sleep(0.1)
finally:
    stop.set()
    t.join()
refused = 0
for s in flood:
    s.settimeout(0.2)
    try:
        refused += s.recv(200).startswith(b"HTTP/1.1 503")
    except OSError:
        pass
    s.close()
print(f"flood: {answered} requests from another address answered, slowest {slowest * 1000:.0f} ms; "
      f"{refused} of 1100 flood connections refused with 503")
assert slowest < 2 and answered >= 20, (answered, slowest)
assert refused >= 1100 - 64, refused
EOF
check "the cut requests are counted" sh -c "curl -s '$base/metrics' | grep -q '^cairn_http_requests_cut_total [1-9]'"
check "the refused connections are counted" sh -c "curl -s '$base/metrics' | grep -q '^cairn_http_connections_refused_total{limit=\"per_client\"} [1-9]'"

# A second server on the busy port is refused, and says why.
sed "s/^listen: .*/listen: 127.0.0.1:$port/; s/^state: .*/state: second.db/" etc/server.yaml >etc/second.yaml
rc=0
timeout 10 "$cairn" serve --config etc/second.yaml >second.out 2>&1 || rc=$?
check "a second server on a busy port exits 1" test "$rc" -eq 1
check "... saying the address is in use" grep -q "cannot listen on 127.0.0.1:$port: address in use" second.out

# Metrics move.
metric() { curl -s "$base/metrics" | python3 -c "
import sys
for line in sys.stdin:
    if line.startswith('$1 '): print(line.split()[-1]); break
else: print(0)"; }
before=$(metric 'cairn_http_requests_total{route="/healthz",method="GET",status="200"}')
curl -s "$base/healthz" >/dev/null
after=$(metric 'cairn_http_requests_total{route="/healthz",method="GET",status="200"}')
check "the healthz counter grows" python3 -c "assert float('$after') == float('$before') + 1, ('$before', '$after')"
check "the 413 was counted" sh -c "curl -s '$base/metrics' | grep -q 'cairn_http_requests_total{route=\"/api/v1/policy\",method=\"POST\",status=\"413\"} 1'"
check "the reconcile job was counted" sh -c "curl -s '$base/metrics' | grep -q '^cairn_jobs_total{outcome=\"done\"} [1-9]'"
check "a duration histogram" sh -c "curl -s '$base/metrics' | grep -q '^cairn_http_request_duration_seconds_bucket{le=\"+Inf\"} [1-9]'"

# Logs: one JSON object per request line.
check "structured logs" python3 - server.log <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reqs = [l for l in lines if "method" in l]
assert reqs and all({"time", "method", "path", "status", "ms", "user"} <= set(l) for l in reqs)
assert any(l["path"] == "/api/v1/whoami" and l["status"] == 200 and l["user"] == "Alice" for l in reqs)
assert any(l["status"] == 401 and l["user"] is None for l in reqs)
assert not any("tried" in l for l in reqs if l["status"] < 400), "a login that worked logs no 'tried'"
EOF

# Password guessing: ten wrong passwords for Carol (from 127.0.0.3), then
# 429 with Retry-After, her right password included, through Basic and the
# page's login alike; the log names the user tried.
for i in $(seq 10); do
	http GET /api/v1/whoami -u Carol:guess$i --interface 127.0.0.3
	expect 401 "wrong password $i for Carol"
done
http GET /api/v1/whoami -u Carol:demo --interface 127.0.0.3
expect 429 "the eleventh try is throttled"
check "429 says when to come back" grep -qiE '^Retry-After: [1-6]' headers
http POST /api/v1/login -H 'Content-Type: application/json' --data '{"user":"carol","password":"demo"}' --interface 127.0.0.4
expect 429 "the page's login is throttled for that name too"
http GET /api/v1/whoami -u Frank:demo --interface 127.0.0.3
expect 200 "another name from that address is still checked"
check "failed logins are logged with the name tried" grep -q '"status":401,.*"tried":"Carol"' server.log

# SIGTERM: exit 0; a restarted server sees everything.
check "SIGTERM exits 0" stop_server
start_server 2
export CAIRN_SERVER="$base"
http GET /api/v1/revisions -H "$(as Sam)"
check "after a restart: every generation" body_json "len(d['generations']) == 9 and d['generations'][0]['user'] == 'Alice'"
http GET "/api/v1/jobs/$job" -H "$(as Sam)"
check "after a restart: the job" body_json "d['status'] == 'done'"
http GET /api/v1/whoami -H "Authorization: Bearer $(cat tok.revoked)"
expect 401 "after a restart: the revoked token stays revoked"
check "SIGTERM exits 0 again" stop_server

echo "server: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
