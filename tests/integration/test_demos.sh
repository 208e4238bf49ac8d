#!/usr/bin/env bash
# Demos end to end, for real: a private PostgreSQL with the demo-shop
# example's shop (tools/pg) and its dataset, scheduled; `cairn serve`, whose
# schedule takes the snapshot and prepares it, offering demos of demo/shop
# with host names routed by a private nginx; a demo asked for over the API;
# its app answering at its host name with anonymized rows; extend; expiry by
# the server's reaper, after which no container, volume or network of it is
# left.
# usage: test_demos.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
repo="$2"
ex="$repo/examples/demo-shop"
work=$(mktemp -d /tmp/cairn-demos-XXXXXX)
chmod 755 "$work" # the postgres user runs the server below it
server_pid=""
cleanup() {
	local rc=$?
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	[ "$rc" -ne 0 ] && [ -f "$work/server.log" ] && { echo "--- server.log (last lines)"; grep -v '"method"' "$work/server.log" | tail -20; }
	docker ps -aq --filter label=cairn.cluster=demo-shop | xargs -r docker rm -f >/dev/null 2>&1 || true
	docker volume ls -q --filter label=cairn.cluster=demo-shop | xargs -r docker volume rm >/dev/null 2>&1 || true
	docker network ls -q --filter label=cairn.cluster=demo-shop | xargs -r docker network rm >/dev/null 2>&1 || true
	docker images -q --filter label=cairn.snapshot.dataset=demo/shop-demo | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	"$repo/tools/pg" stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
cd "$work"
. "$repo/tests/integration/checks.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== the shop and its dataset, scheduled daily at 00:00 (so due now)"
base=$("$repo/tools/pg" start "$work/pg")
url_of() { echo "${base/\/postgres\?//$1?}"; }
psql -X -q -v ON_ERROR_STOP=1 -d "$(url_of postgres)" -c "CREATE DATABASE shop"
psql -X -q -v ON_ERROR_STOP=1 -d "$(url_of shop)" -f "$ex/schema.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$(url_of shop)" -v scale=1 -f "$ex/generate.sql"
(umask 077 && openssl rand -hex 32 >demo.key)
shop_url=$(url_of shop)
sed "s|postgres://postgres@127.0.0.1:5432/shop|${shop_url//&/\\&}|; s|^  keep: 3$|  keep: 3\n  schedule: \"00:00\"|" "$ex/dataset.yaml" >dataset.yaml
grep -q 'schedule: "00:00"' dataset.yaml
export CAIRN_STATE="$work/state.db" CAIRN_USERS="$ex/users.yaml" CAIRN_SNAPSHOTS="$work/snapshots"
nginx_port=$(free_port)
: >routes.conf
cat >nginx.conf <<EOF
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events {}
http {
    access_log off;
    server { listen $nginx_port default_server; return 404; }
    include $work/routes.conf;
}
EOF
nginx -c "$work/nginx.conf"
cat >cluster.yaml <<EOF
- {kind: cluster, metadata: {namespace: system, name: demo-shop}, type: docker, config: {endpoint: "unix:///var/run/docker.sock", domain: localhost, nginx: {file: "$work/routes.conf", conf: "$work/nginx.conf", port: $nginx_port}}}
EOF
"$cairn_bin" policy apply --no-apply --user admin -f dataset.yaml -f "$ex/shop.yaml" >/dev/null
"$cairn_bin" policy apply --no-apply --user admin -f cluster.yaml >/dev/null

echo "== cairn serve offers demos of demo/shop"
port=$(free_port)
cat >config.yaml <<EOF
listen: 127.0.0.1:$port
state: state.db
workers: 2
demos:
  domain: localhost
  contracts:
    - {contract: demo/shop, ttl: 1h}
  schedule_interval: 1s
expiry:
  reap_interval: 1s
EOF
token=$("$cairn_bin" token create --user admin --name demos 2>/dev/null)
"$cairn_bin" serve --config config.yaml 2>server.log &
server_pid=$!
api="http://127.0.0.1:$port/api/v1"
wait_for 10 curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null || { echo "server did not start"; exit 1; }
auth=(-H "Authorization: Bearer $token")
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "== the schedule snapshots and prepares"
refreshed() { [ "$(curl -sf "${auth[@]}" "$api/demos" | json "[s['last_job']['status'] for s in d['datasets'] if s['last_job']]")" = "['done']" ]; }
check "the dataset's refresh job is done" wait_for 60 refreshed
curl -sf "${auth[@]}" "$api/demos" >datasets.json
check "it says so, with its schedule" python3 -c "
import json; d = json.load(open('datasets.json'))['datasets'][0]
assert d['dataset'] == 'demo/shop-demo' and d['schedule'] == '00:00', d
assert 'prepared on cluster demo-shop as cairn-data/demo.shop-demo:' in d['last_job']['message'], d"
id=$("$cairn_bin" -o json snapshot list demo/shop-demo --store "$work/snapshots" | json "d[-1]['id']")
check "one snapshot, prepared" test -n "$(docker images -q --filter "label=cairn.snapshot=$id")"
sleep 2
check "and only once a day" test "$("$cairn_bin" -o json snapshot list --store "$work/snapshots" | json "len(d)")" = 1

echo "== a demo over the API"
curl -sf "${auth[@]}" "$api/demos" >offers.json
check "the contract is offered to admin" test "$(json "[o['contract'] for o in d['offers'] if o['allowed']]" <offers.json)" = "['demo/shop']"
curl -s "${auth[@]}" -H 'Content-Type: application/json' -d '{"contract": "demo/shop"}' -o demo.json -w '%{http_code}' "$api/demos" >status
check "POST /api/v1/demos answers 202" test "$(cat status)" = 202
demo=$(json "d['id']" <demo.json)
host=$(json "d['host']" <demo.json)
job=$(json "d['job']" <demo.json)
check "the host is <random>.demo.localhost" python3 -c "
import re, sys
m = re.fullmatch(r'([a-z][a-z0-9]{7})\.demo\.localhost', '$host')
sys.exit(0 if m and '$demo' == 'demo/demo-' + m.group(1) else 1)"
job_done() { [ "$(curl -sf "${auth[@]}" "$api/jobs/$job" | json "d['status']")" = done ]; }
check "its reconcile job is done" wait_for 60 job_done
page() { curl -s -H "Host: $host" "http://127.0.0.1:$nginx_port/"; }
has_rows() { grep -q '<td align="right">50</td>' <<<"$(page)"; }
check "the app answers at its host name with the data" wait_for 20 has_rows
check "with anonymized rows only" bash -c "page() { curl -s -H 'Host: $host' 'http://127.0.0.1:$nginx_port/'; }; p=\$(page); [[ \$p == *@example.com* && \$p != *@mail.example* ]]"
check "the app runs the data's build" bash -c "curl -s -H 'Host: $host' 'http://127.0.0.1:$nginx_port/' | grep -q 'build <b id=\"build\">2026.12.1</b>'"
curl -sf "${auth[@]}" "$api/demos" >list.json
check "the demo lists its snapshot, build and URL" test "$(json "[(x['snapshot'], x['build'], x['state'], x['requested_by']) for x in d['demos'] if x['id'] == '$demo']" <list.json)" = "[('$id', '2026.12.1', 'running', 'admin')]"
expires=$(json "[x['expires'] for x in d['demos'] if x['id'] == '$demo'][0]" <list.json)

echo "== extend, then expiry"
ns=${demo%%/*} name=${demo#*/}
curl -sf "${auth[@]}" -X POST "$api/environments/$ns/$name/extend" -o extend.json
check "extend moves the expiry a day on" python3 -c "
import json, datetime
a = datetime.datetime.strptime('$expires', '%Y-%m-%dT%H:%M:%SZ')
b = datetime.datetime.strptime(json.load(open('extend.json'))['expires'], '%Y-%m-%dT%H:%M:%SZ')
assert (b - a).total_seconds() == 86400, (a, b)"
instances() { docker ps -aq --filter "label=cairn.dependencies=$demo" | wc -l; }
check "two containers run for it" test "$(instances)" = 2
until=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)
"$cairn_bin" extend "$demo" --user admin --until "$until" >/dev/null
gone() { [ "$(curl -sf "${auth[@]}" "$api/demos" | json "len([x for x in d['demos'] if x['id'] == '$demo'])")" = 0 ]; }
check "the reaper removes it when it expires" wait_for 30 gone
left() { [ -z "$(docker ps -aq --filter label=cairn.cluster=demo-shop)$(docker volume ls -q --filter label=cairn.cluster=demo-shop)$(docker network ls -q --filter label=cairn.cluster=demo-shop)" ]; }
check "and leaves no container, volume or network" wait_for 30 left
unrouted() { ! grep -q "$host" routes.conf; }
check "nor its route" wait_for 10 unrouted

echo "demos: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
