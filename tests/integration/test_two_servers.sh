#!/usr/bin/env bash
# Two `cairn serve` on one real PostgreSQL: 200 preview jobs (signed GitHub
# deliveries, sent to both) while one server is killed with SIGKILL halfway —
# every job runs to its end once, the dead server's jobs are taken over when
# their lease ends — then PostgreSQL restarted under load: no request hangs,
# every request after the restart succeeds, and the jobs and schedules go on
# without restarting either server. The contract's service has no components
# and no cluster, so nothing touches Docker.
# usage: test_two_servers.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
src="$2"
work=$(mktemp -d)
pgdir=$(mktemp -d /tmp/cairn-pg-XXXXXX) # the postgres user's, short enough for its socket
pids=()
cleanup() {
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/server-*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last lines)"
			grep -v '"method"' "$f" | tail -20 || true
		done
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$src/tools/pg" stop "$pgdir" || true
	rm -rf "$work" "$pgdir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # a timeout's kill still stops the servers and PostgreSQL
cd "$work"
. "$src/tests/integration/checks.sh"

admin_url=$("$src/tools/pg" start "$pgdir")
psql "$admin_url" -qc "CREATE DATABASE cairn" >/dev/null
state=${admin_url/\/postgres\?//cairn?}
sql() { psql "$state" -Atc "$1"; }

secret="two-servers-secret"
printf '%s\n' "$secret" >webhook-secret
printf 'ghp_double\n' >github-token
cat >users.yaml <<'EOF'
- {name: Sam, admin: true}
- {name: ci-bot, labels: {team: ci}}
EOF
cat >policy.yaml <<'EOF'
- {kind: aclrule, metadata: {namespace: system, name: ci}, weight: 10, criteria: {require-all: ["team == 'ci'"]}, actions: {add-role: {service-consumer: main}}}
- {kind: service, metadata: {namespace: main, name: shop}, components: []}
- {kind: contract, metadata: {namespace: main, name: shop}, contexts: [{name: preview, allocation: {service: shop, keys: ["{{ .Labels.pr }}"]}}]}
EOF
export CAIRN_STATE="$state" CAIRN_USERS="$work/users.yaml"
"$cairn_bin" policy apply --user Sam -f policy.yaml --no-apply >/dev/null
"$cairn_bin" token create --user Sam --name test >token 2>/dev/null

python3 "$src/tests/github_double.py" --record calls.json --port-file double.port --token ghp_double &
pids+=($!)
wait_for 10 test -s double.port || { echo "github double did not start"; exit 1; }
dport=$(cat double.port)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=("$(free_port)" "$(free_port)")
for i in 0 1; do
	cat >"config-$i.yaml" <<EOF
listen: 127.0.0.1:${ports[$i]}
state: $state
users: users.yaml
workers: 2
job_lease: 3
github:
  api_url: http://127.0.0.1:$dport
  token_file: github-token
  webhook_secret_file: webhook-secret
  timeout: 3s
domain: preview.example.test
repositories:
  - name: acme/shop
    contract: main/shop
    user: ci-bot
expiry:
  reap_interval: 2s
  sweep_interval: 5s
EOF
done
server_pid=("" "")
start_server() { # start_server I
	"$cairn_bin" serve --config "config-$1.yaml" 2>>"server-$1.log" &
	server_pid[$1]=$!
	pids+=($!)
	wait_for 10 curl -sf "http://127.0.0.1:${ports[$1]}/healthz" -o /dev/null ||
		{ echo "server $1 did not start"; exit 1; }
}
start_server 0
start_server 1
t_start=$(date +%s)

# deliver FIRST LAST: "opened" for PRs FIRST..LAST, alternating between the
# two servers, 8 at a time; prints the codes that were not 202.
deliver() {
	python3 - "$secret" "$1" "$2" "http://127.0.0.1:${ports[0]}" "http://127.0.0.1:${ports[1]}" <<'PYEOF'
import concurrent.futures, hashlib, hmac, json, sys, urllib.request, urllib.error
secret, first, last, urls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
def one(n):
    sha = "%040x" % n
    body = {"action": "opened", "number": n,
            "pull_request": {"number": n, "state": "open", "author_association": "MEMBER",
                             "user": {"login": "octocat"}, "labels": [],
                             "head": {"sha": sha, "ref": "feature/pr-%d" % n, "repo": {"full_name": "acme/shop"}},
                             "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}},
            "repository": {"full_name": "acme/shop"}, "sender": {"login": "octocat"}}
    data = json.dumps(body).encode()
    headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-%d" % n,
               "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()}
    req = urllib.request.Request(urls[n % 2] + "/webhook/github", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return n, r.status
    except urllib.error.HTTPError as e:
        return n, e.code
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    for n, code in pool.map(one, range(first, last + 1)):
        if code != 202:
            print(n, code)
PYEOF
}
done_jobs() { sql "SELECT count(*) FROM jobs WHERE kind = 'github-pr' AND status = 'done'"; }
done_at_least() { [ "$(done_jobs)" -ge "$1" ]; }

# --- 200 jobs, server 0 killed halfway ---
check "200 deliveries accepted by the two servers" test -z "$(deliver 1 200)"
check "half the jobs are done" wait_for 120 done_at_least 100
kill -KILL "${server_pid[0]}"
t_kill=$(date +%s)
wait "${server_pid[0]}" 2>/dev/null || true
owner0=$(sql "SELECT DISTINCT owner FROM jobs WHERE owner LIKE '%:${server_pid[0]}:%' LIMIT 1")
orphans=$(sql "SELECT id FROM jobs WHERE status = 'running' AND owner = '$owner0'" | tr '\n' ' ')
echo "killed server 0 ($owner0) with $(done_jobs) jobs done; it was running: ${orphans:-none}"
check "all 200 jobs are done" wait_for 120 done_at_least 200
t_all=$(date +%s)
check "no job failed, none is left" test "$(sql "SELECT count(*) FROM jobs WHERE kind = 'github-pr' AND status <> 'done'")" -eq 0
check "both servers ran jobs" test "$(sql "SELECT count(DISTINCT owner) FROM jobs WHERE kind = 'github-pr'")" -eq 2
for id in $orphans; do
	check "job $id of the dead server was taken over once" \
		test "$(sql "SELECT attempts || ' ' || (owner <> '$owner0') FROM jobs WHERE id = $id")" = "2 true"
done
n_orphans=$(wc -w <<<"$orphans")
takeover=none
if [ "$n_orphans" -gt 0 ]; then
	takeover="$(($(sql "SELECT max(updated) FROM jobs WHERE id IN (${orphans// /,}0)") - t_kill))s"
fi
check "every other job ran once" test "$(sql "SELECT count(*) FROM jobs WHERE kind = 'github-pr' AND attempts = 1")" -eq $((200 - n_orphans))
check "200 previews in the policy" test "$("$cairn_bin" policy show -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len([o for o in d["objects"] if o["kind"] == "dependency" and o["metadata"]["name"].startswith("pr-")]))')" -eq 200
# What GitHub saw: one finished report per PR (a job cut short by the kill
# may have reported before it died, and reports again when it runs again).
check "every PR reported to GitHub, twice at most for a job cut short" python3 -c "
import collections, json, sys
calls = [json.loads(l) for l in open('calls.json')]
n = collections.Counter(c['path'] for c in calls if c['method'] == 'POST' and c['path'].startswith('/repos/acme/shop/statuses/') and c['body'].get('state') == 'success')
per_pr = [n['/repos/acme/shop/statuses/%040x' % i] for i in range(1, 201)]
twice = sum(1 for k in per_pr if k == 2)
sys.exit(0 if min(per_pr) == 1 and max(per_pr) <= 2 and twice <= $n_orphans else 1)"

# --- PostgreSQL restarted under load ---
start_server 0
python3 - "$(cat token)" "http://127.0.0.1:${ports[0]}" "http://127.0.0.1:${ports[1]}" >requests.log <<'PYEOF' &
import json, sys, threading, time, urllib.request, urllib.error
token, urls = sys.argv[1], sys.argv[2:]
out = []
def client(k):
    end = time.time() + 12
    while time.time() < end:
        for path in ("/api/v1/whoami", "/api/v1/jobs?limit=5", "/api/v1/revisions"):
            t0 = time.time()
            req = urllib.request.Request(urls[k % 2] + path, headers={"Authorization": "Bearer " + token})
            try:
                with urllib.request.urlopen(req, timeout=15) as r:
                    code, body = r.status, ""
            except urllib.error.HTTPError as e:
                code, body = e.code, e.read().decode(errors="replace")[:300]
            except Exception as e:
                code, body = 0, repr(e)
            out.append({"start": t0, "end": time.time(), "code": code, "body": body, "path": path})
            time.sleep(0.02)
threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
for o in out: print(json.dumps(o))
PYEOF
load_pid=$!
pids+=($load_pid)
sleep 2
check "20 more deliveries accepted" test -z "$(deliver 201 220)"
sweep_before=$(sql "SELECT value FROM kv WHERE key = 'schedule:sweep'")
restart_begin=$(date +%s.%N)
"$src/tools/pg" restart "$pgdir"
restart_end=$(date +%s.%N)
wait "$load_pid"
check "both servers lived through the restart" kill -0 "${server_pid[0]}" "${server_pid[1]}"
check "the 20 jobs queued before the restart are done after it" wait_for 60 done_at_least 220
swept_since() { [ "$(sql "SELECT value FROM kv WHERE key = 'schedule:sweep'")" '>' "$1" ]; }
check "the sweep goes on after the restart" wait_for 15 swept_since "$sweep_before"
rc=0
python3 - "$restart_begin" "$restart_end" requests.log <<'PYEOF' >restart.txt || rc=$?
import json, sys
begin, end = float(sys.argv[1]), float(sys.argv[2])
reqs = [json.loads(l) for l in open(sys.argv[3])]
hung = [r for r in reqs if r["end"] - r["start"] > 10]
after = [r for r in reqs if r["start"] > end]
after_bad = [r for r in after if r["code"] != 200]
during = [r for r in reqs if r["start"] <= end and r["end"] >= begin]
during_bad = [r for r in during if r["code"] != 200]
unclean = [r for r in during_bad if r["code"] != 503 or "state database" not in r["body"]]
print("requests %d, hung %d, during the restart %d (failed %d, unclean %d), after it %d (failed %d), restart %.2fs"
      % (len(reqs), len(hung), len(during), len(during_bad), len(unclean), len(after), len(after_bad), end - begin))
for r in (hung + after_bad + unclean)[:5]:
    print("  ", r)
sys.exit(0 if not hung and not after_bad and not unclean and len(after) > 20 else 1)
PYEOF
cat restart.txt
check "PostgreSQL restart: no request hangs, failures are 503 with the cause, every request after it succeeds" test "$rc" -eq 0

# The sweep asks GitHub about each preview once per period (5 s), not once
# per server: over the whole run, two servers sweeping apart would double it.
sweeps=$(python3 -c "
import json
print(sum(1 for l in open('calls.json') if json.loads(l)['path'] == '/repos/acme/shop/pulls/1'))")
elapsed=$(($(date +%s) - t_start))
check "the sweep runs once per period across the servers ($sweeps sweeps in ${elapsed}s)" test "$sweeps" -le $((elapsed / 5 + 1))
check "the servers log one JSON object per line, with time, level and source" python3 -c "
import json, sys
for f in ('server-0.log', 'server-1.log'):
    for line in open(f):
        e = json.loads(line)
        assert {'time', 'level', 'source'} <= e.keys(), line
"

echo "two servers: 200 jobs in $((t_all - t_start))s, server 0 killed at $((t_kill - t_start))s, $n_orphans job(s) taken over (done $takeover after the kill, lease 3s)"
echo "the sweep: $sweeps sweeps in ${elapsed}s (one per 5s period across the two servers)"
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
