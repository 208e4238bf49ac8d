#!/usr/bin/env bash
# Preview environments end to end: `cairn serve` with a GitHub double
# (tests/github_double.py), signed deliveries, the github-pr jobs, expiry and
# the closed-PR sweep. The contract's service has no components and no
# cluster, so nothing touches Docker. usage: test_previews.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
src="$2"
work=$(mktemp -d)
server_pid=""
double_pid=""
cleanup() {
	local rc=$?
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	if [ -n "$double_pid" ]; then kill "$double_pid" 2>/dev/null || true; wait "$double_pid" 2>/dev/null || true; fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
cd "$work"
. "$src/tests/integration/checks.sh"
ok() { passes=$((passes + 1)); }
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

secret="preview-test-secret"
printf '%s\n' "$secret" >webhook-secret
printf 'ghp_double\n' >github-token
cat >users.yaml <<'EOF'
- {name: Sam, admin: true}
- {name: ci-bot, labels: {team: ci}}
- {name: Mallory, labels: {team: other}}
EOF
cat >policy.yaml <<'EOF'
- {kind: aclrule, metadata: {namespace: system, name: ci}, weight: 10, criteria: {require-all: ["team == 'ci'"]}, actions: {add-role: {service-consumer: main}}}
- {kind: service, metadata: {namespace: main, name: shop}, components: []}
- {kind: contract, metadata: {namespace: main, name: shop}, contexts: [{name: preview, allocation: {service: shop, keys: ["{{ .Labels.pr }}"]}}]}
EOF
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 "$src/tests/github_double.py" --record calls.json --port-file double.port --token ghp_double &
double_pid=$!
wait_for 10 test -s double.port || { echo "github double did not start"; exit 1; }
dport=$(cat double.port)
port=$(free_port)
cat >config.yaml <<EOF
listen: 127.0.0.1:$port
state: state.db
users: users.yaml
workers: 2
github:
  api_url: http://127.0.0.1:$dport
  token_file: github-token
  webhook_secret_file: webhook-secret
  timeout: 3s
domain: Preview.Example.Test
repositories:
  - name: acme/shop
    contract: main/shop
    user: ci-bot
expiry:
  reap_interval: 1s
  sweep_interval: 2s
EOF
export CAIRN_STATE="$work/state.db" CAIRN_USERS="$work/users.yaml"
"$cairn_bin" policy apply --user Sam -f policy.yaml --no-apply >/dev/null

"$cairn_bin" serve --config config.yaml 2>server.log &
server_pid=$!
url="http://127.0.0.1:$port"
wait_for 10 curl -sf "$url/healthz" -o /dev/null || { echo "server did not start"; cat server.log; exit 1; }

control() { curl -sf -X POST -d "$2" "http://127.0.0.1:$dport/_control/$1" -o /dev/null; }

# pr_body ACTION NUMBER SHA [ASSOCIATION] [HEAD_REPO] [LABELS_JSON] [LABEL] [UPDATED_AT]
pr_body() {
	python3 - "$@" <<'EOF'
import json, sys
a = sys.argv[1:] + [None] * 8
action, number, sha = a[0], int(a[1]), a[2]
assoc, head, labels, label = a[3] or "MEMBER", a[4] or "acme/shop", a[5] or "[]", a[6]
updated_at = a[7]
body = {"action": action, "number": number,
        "pull_request": {"number": number, "state": "closed" if action == "closed" else "open",
                         "author_association": assoc, "user": {"login": "octocat"},
                         "labels": [{"name": n} for n in json.loads(labels)],
                         "head": {"sha": sha, "ref": "feature/pr-%d" % number,
                                  "repo": {"full_name": head}},
                         "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}},
        "repository": {"full_name": "acme/shop"}, "sender": {"login": "octocat"}}
if label:
    body["label"] = {"name": label}
if updated_at:
    body["pull_request"]["updated_at"] = updated_at
print(json.dumps(body))
EOF
}
# deliver EVENT DELIVERY BODY [SIGNATURE|-]: prints "CODE BODY"
deliver() {
	python3 - "$url" "$secret" "$@" <<'EOF'
import hashlib, hmac, sys, urllib.request, urllib.error
url, secret, event, delivery, body = sys.argv[1:6]
sig = sys.argv[6] if len(sys.argv) > 6 else None
data = body.encode()
headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
           "Content-Type": "application/json"}
if sig is None:
    headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
elif sig != "-":
    headers["X-Hub-Signature-256"] = sig
req = urllib.request.Request(url + "/webhook/github", data=data, headers=headers, method="POST")
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
EOF
}
expect_code() { # expect_code CODE NAME EVENT DELIVERY BODY [SIG]
	local want="$1" name="$2" got
	shift 2
	got=$(deliver "$@")
	if [ "${got%% *}" = "$want" ]; then ok; else fail "$name: got $got, want $want"; fi
	last_reply="$got"
}
sha() { printf '%040x' "$1"; }

# The policy as stored: python over {"generation", "objects"} as `d`, deps as `deps`.
policy() {
	"$cairn_bin" policy show -o json >policy.json
	python3 -c "
import json, sys
d = json.load(open('policy.json'))
deps = {o['metadata']['namespace'] + '/' + o['metadata']['name']: o for o in d['objects'] if o['kind'] == 'dependency'}
sys.exit(0 if ($1) else 1)"
}
# The jobs table: python over rows (dicts) as `jobs`.
jobq() {
	python3 -c "
import sqlite3, sys
db = sqlite3.connect('file:$work/state.db?mode=ro', uri=True)
db.row_factory = sqlite3.Row
jobs = [dict(r) for r in db.execute('SELECT * FROM jobs ORDER BY id')]
sys.exit(0 if ($1) else 1)"
}
# The GitHub double's record: python over the calls as `calls`.
calls() {
	python3 -c "
import json, sys
calls = [json.loads(l) for l in open('$work/calls.json')]
sys.exit(0 if ($1) else 1)"
}
generations() { "$cairn_bin" policy log -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["generations"]))'; }
idle() { jobq "all(j['status'] in ('done', 'failed', 'cancelled') for j in jobs)"; }

# --- ping, forged and replayed deliveries ---
expect_code 200 "ping" ping p-1 '{"zen": "hi"}'
body1=$(pr_body opened 1 "$(sha 1)")
gens=$(generations)
expect_code 401 "wrong signature" pull_request d-1 "$body1" "sha256=$(printf '%064d' 0)"
expect_code 401 "missing signature" pull_request d-1 "$body1" -
expect_code 401 "signature of another body" pull_request d-1 "$body1" \
	"sha256=$(printf '{}' | openssl dgst -sha256 -hmac "$secret" | sed 's/.*= //')"
check "forged deliveries queue nothing" jobq "len(jobs) == 0"
check "forged deliveries change no policy" test "$(generations)" = "$gens"
check "rejections are counted" sh -c "curl -s '$url/metrics' | grep -q 'bad_signature\"} 3'"

expect_code 202 "signed opened" pull_request d-1 "$body1"
expect_code 200 "replayed delivery" pull_request d-1 "$body1"
check "replay says duplicate" test "${last_reply#* }" != "${last_reply#*duplicate}"
check "replay queues one job" jobq "len(jobs) == 1 and jobs[0]['key'] == 'pr:acme/shop#1'"
check "pr-1 appears" wait_for 20 policy "'main/pr-1' in deps"
check "pr-1 labels" policy "deps['main/pr-1']['labels'] == {'repo': 'acme/shop', 'pr': '1', 'branch': 'feature/pr-1', 'sha': '$(sha 1)', 'author': 'octocat', 'host': 'shop-pr-1.preview.example.test'} and deps['main/pr-1']['user'] == 'ci-bot'"
check "pr-1 job done" wait_for 20 jobq "jobs[0]['status'] == 'done'"
check "deployment recorded" calls "any(c['path'] == '/repos/acme/shop/deployments' and c['body']['ref'] == '$(sha 1)' and c['body']['environment'] == 'pr-1' and c['body']['transient_environment'] is True and c['body']['auto_merge'] is False and c['body']['required_contexts'] == [] and c['authorized'] for c in calls)"
check "deployment status with the URL" calls "any(c['path'].startswith('/repos/acme/shop/deployments/') and c['body']['state'] == 'success' and c['body']['environment_url'] == 'http://shop-pr-1.preview.example.test' for c in calls)"
check "commit status with the URL" calls "any(c['path'] == '/repos/acme/shop/statuses/$(sha 1)' and c['body'] == {'state': 'success', 'target_url': 'http://shop-pr-1.preview.example.test', 'description': 'preview at http://shop-pr-1.preview.example.test', 'context': 'cairn/preview'} for c in calls)"
check "the token never reaches the log" sh -c "! grep -q ghp_double server.log"

# --- rapid pushes: the newest commit wins ---
expect_code 202 "opened 2" pull_request d-2-0 "$(pr_body opened 2 "$(sha 20)")"
for i in 1 2 3 4 5; do
	expect_code 202 "synchronize 2.$i" pull_request "d-2-$i" "$(pr_body synchronize 2 "$(sha $((20 + i)))")"
done
check "pushes settle" wait_for 30 idle
check "one pr-2 with the last sha" policy "deps['main/pr-2']['labels']['sha'] == '$(sha 25)' and len([k for k in deps if k.startswith('main/pr-2')]) == 1"
check "last commit reported" calls "any(c['path'] == '/repos/acme/shop/statuses/$(sha 25)' for c in calls)"

# --- closed, then a late push ---
expect_code 202 "closed 2" pull_request d-2-c "$(pr_body closed 2 "$(sha 25)")"
check "pr-2 gone" wait_for 20 policy "'main/pr-2' not in deps"
check "deployment marked inactive" wait_for 10 calls "any(c['path'].startswith('/repos/acme/shop/deployments/') and c['body'].get('state') == 'inactive' for c in calls)"
expect_code 200 "late synchronize after close" pull_request d-2-late "$(pr_body synchronize 2 "$(sha 26)")"
sleep 2
check "late synchronize does not bring pr-2 back" policy "'main/pr-2' not in deps"

# --- replays: a signed body under a new delivery id, a captured event older
# than one already taken (GitHub's updated_at) ---
b6o=$(pr_body opened 6 "$(sha 6)" "" "" "" "" 2026-01-01T10:00:00Z)
expect_code 202 "opened 6" pull_request d-6-o "$b6o"
check "pr-6 appears" wait_for 20 policy "'main/pr-6' in deps"
expect_code 200 "the same body under a new delivery id" pull_request d-6-o-again "$b6o"
check "... is a duplicate" test "${last_reply#*duplicate}" != "$last_reply"
b6r=$(pr_body reopened 6 "$(sha 6)" "" "" "" "" 2026-01-01T10:03:00Z)
expect_code 202 "closed 6" pull_request d-6-c "$(pr_body closed 6 "$(sha 6)" "" "" "" "" 2026-01-01T10:05:00Z)"
check "pr-6 gone" wait_for 20 policy "'main/pr-6' not in deps"
expect_code 200 "a captured reopened older than the close" pull_request d-6-r "$b6r"
check "... is stale" test "${last_reply#*stale event}" != "$last_reply"
sleep 2
check "a stale reopened does not bring pr-6 back" policy "'main/pr-6' not in deps"
expect_code 202 "a real reopen" pull_request d-6-r2 "$(pr_body reopened 6 "$(sha 6)" "" "" "" "" 2026-01-01T10:10:00Z)"
check "pr-6 is back" wait_for 20 policy "'main/pr-6' in deps"
expect_code 200 "the captured close, replayed" pull_request d-6-c-again "$(pr_body closed 6 "$(sha 6)" "" "" "" "" 2026-01-01T10:05:00Z)"
sleep 2
check "a replayed close does not delete the live pr-6" policy "'main/pr-6' in deps"

# --- who may trigger; forks wait for the label ---
expect_code 200 "contributor ignored" pull_request d-5 "$(pr_body opened 5 "$(sha 5)" CONTRIBUTOR)"
expect_code 200 "fork waits" pull_request d-3 "$(pr_body opened 3 "$(sha 3)" COLLABORATOR eve/shop)"
sleep 1
check "no pr-3 or pr-5 yet" policy "'main/pr-3' not in deps and 'main/pr-5' not in deps"
expect_code 202 "approval label" pull_request d-3-l "$(pr_body labeled 3 "$(sha 3)" COLLABORATOR eve/shop '["preview-approved"]' preview-approved)"
check "fork PR runs once approved" wait_for 20 policy "'main/pr-3' in deps"

# --- GitHub answering 500: the job retries, then reports ---
control mode '{"mode": "500"}'
expect_code 202 "opened 4 while github fails" pull_request d-4 "$(pr_body opened 4 "$(sha 4)")"
check "pr-4 created anyway" wait_for 20 policy "'main/pr-4' in deps"
check "job 4 waits for a retry" wait_for 10 jobq "any(j['key'] == 'pr:acme/shop#4' and j['status'] == 'queued' and 'retrying' in (j['message'] or '') for j in jobs)"
control mode '{"mode": "ok"}'
check "job 4 done after the retry" wait_for 30 jobq "any(j['key'] == 'pr:acme/shop#4' and j['status'] == 'done' and j['attempts'] >= 2 for j in jobs)"
check "pr-4 reported" calls "any(c['path'] == '/repos/acme/shop/statuses/$(sha 4)' and c['mode'] == 'ok' for c in calls)"

# --- the sweep: closed on GitHub → deleted; GitHub down → nothing deleted ---
control mode '{"mode": "down"}'
control pull '{"repo": "acme/shop", "number": 3, "state": "closed"}'
sleep 6
check "sweep deletes nothing while github is down" policy "'main/pr-3' in deps and 'main/pr-1' in deps and 'main/pr-4' in deps"
check "sweep logs why" grep -q "sweep: deleting nothing" server.log
control mode '{"mode": "ok"}'
check "sweep deletes the PR closed on github" wait_for 20 policy "'main/pr-3' not in deps"
check "sweep keeps open PRs" policy "'main/pr-1' in deps and 'main/pr-4' in deps"

# --- expiry: ttl, pin, extend ---
cat >tmp.yaml <<'EOF'
- {kind: dependency, metadata: {namespace: main, name: short}, user: ci-bot, contract: main/shop, labels: {pr: "901"}, ttl: 2s}
- {kind: dependency, metadata: {namespace: main, name: kept}, user: ci-bot, contract: main/shop, labels: {pr: "902"}, ttl: 2s, pinned: true}
- {kind: dependency, metadata: {namespace: main, name: extended}, user: ci-bot, contract: main/shop, labels: {pr: "903"}, ttl: 3s}
EOF
"$cairn_bin" policy apply --user ci-bot -f tmp.yaml --no-apply >/dev/null
check "extend --pin" "$cairn_bin" extend main/extended --user ci-bot --pin
ext_code=0
"$cairn_bin" extend main/extended --user Mallory --unpin 2>ext.err || ext_code=$?
check "extend as another user is refused by the ACL" test "$ext_code" = 3
check "short-lived dependency reaped" wait_for 15 policy "'main/short' not in deps"
check "reaped as system with verb expire" sh -c "'$cairn_bin' policy log -o json | python3 -c 'import json,sys; g=json.load(sys.stdin)[\"generations\"]; sys.exit(0 if any(x[\"user\"] == \"system\" and x[\"verb\"] == \"expire\" and x[\"deleted\"] >= 1 for x in g) else 1)'"
sleep 3
check "pinned dependencies stay" policy "'main/kept' in deps and 'main/extended' in deps"
check "extend --ttl sets expires" sh -c "'$cairn_bin' -o json extend main/extended --user ci-bot --unpin >/dev/null && '$cairn_bin' -o json extend main/extended --user ci-bot --ttl 2s | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[\"expires\"] and d[\"ttl\"] is None and not d[\"pinned\"] else 1)'"
check "extended dependency expires at its new time" wait_for 15 policy "'main/extended' not in deps"
check "extend log entries" sh -c "'$cairn_bin' policy log | grep -q extend"
check "extend of a missing dependency" sh -c "! '$cairn_bin' extend main/nothing --user ci-bot --pin 2>/dev/null"

# --- a burst: 50 PRs opened, pushed to and closed ---
python3 - "$url" "$secret" <<'EOF'
import hashlib, hmac, json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, secret = sys.argv[1:3]
def body(action, n, sha):
    return json.dumps({"action": action, "number": n, "repository": {"full_name": "acme/shop"},
                       "pull_request": {"number": n, "author_association": "MEMBER",
                                        "user": {"login": "octocat"}, "labels": [],
                                        "head": {"sha": "%040x" % sha, "ref": "burst-%d" % n,
                                                 "repo": {"full_name": "acme/shop"}}}}).encode()
def send(args):
    delivery, data = args
    sig = "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
    req = urllib.request.Request(url + "/webhook/github", data=data, method="POST", headers={
        "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status
prs = range(100, 150)
phases = [[("b-%d-o" % n, body("opened", n, n)) for n in prs],
          [("b-%d-s%d" % (n, k), body("synchronize", n, n * 10 + k)) for n in prs for k in (1, 2, 3)],
          [("b-%d-c" % n, body("closed", n, n * 10 + 3)) for n in prs]]
with ThreadPoolExecutor(8) as pool:
    for phase in phases:
        codes = list(pool.map(send, phase))
        if any(c != 202 for c in codes):
            sys.exit("burst: not every delivery was queued: %s" % codes)
EOF
check "burst settles" wait_for 240 idle
check "zero burst environments left" policy "not [k for k, o in deps.items() if 100 <= int(o.get('labels', {}).get('pr', 0)) <= 149]"
check "no burst job failed" jobq "not [j for j in jobs if j['key'].startswith('pr:acme/shop#1') and len(j['key']) == 17 and j['status'] == 'failed']"

# A clean stop, and nothing from the sanitizers (ASan/UBSan builds) in the log.
kill -TERM "$server_pid"
stop_code=0
wait "$server_pid" || stop_code=$?
server_pid=""
check "server stops cleanly on SIGTERM" test "$stop_code" = 0
check "no sanitizer report" sh -c "! grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' server.log"

if [ "$failures" -ne 0 ]; then
	echo "--- server log (tail)"
	tail -n 40 server.log
fi
echo "previews: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
