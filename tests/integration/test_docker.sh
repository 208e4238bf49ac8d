#!/usr/bin/env bash
# cairn against the real Docker engine: the twitter-analytics scenario step by
# step, checked on the containers themselves; then drift repair, an apply
# killed half-way and resumed, Ctrl-C, an engine that is down, an image that
# is missing, and two applies at once. usage: test_docker.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
repo="$2"
ex="$repo/examples/twitter-analytics"
work=$(mktemp -d)
clusters=(cluster-us-east cluster-us-west itest-local itest-down itest-route)

cleanup() {
	# every cluster's containers first: one of a cluster may be on a
	# network of another (a consumer joins the networks of what it uses)
	for c in "${clusters[@]}"; do
		ids=$(docker ps -aq --filter "label=cairn.cluster=$c")
		[ -z "$ids" ] || docker rm -f $ids >/dev/null
	done
	# and the engine may free a removed container's endpoints a moment later
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		left=0
		for c in "${clusters[@]}"; do
			nets=$(docker network ls -q --filter "label=cairn.cluster=$c")
			[ -z "$nets" ] || docker network rm $nets >/dev/null 2>&1 || left=1
			vols=$(docker volume ls -q --filter "label=cairn.cluster=$c")
			[ -z "$vols" ] || docker volume rm $vols >/dev/null 2>&1 || left=1
		done
		[ $left = 0 ] && break
		sleep 0.5
	done
	docker rm -f itest-not-cairn >/dev/null 2>&1 || true
	[ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cleanup_start() { for c in "${clusters[@]}"; do ids=$(docker ps -aq --filter "label=cairn.cluster=$c"); [ -z "$ids" ] || docker rm -f $ids >/dev/null; done; }
cleanup_start
mkdir -p "$work"
cd "$work"
export CAIRN_USERS="$ex/users.yaml" CAIRN_SECRETS="$ex/secrets.yaml" CAIRN_STATE="$work/state.db"

. "$repo/tests/integration/checks.sh"
cairn() { expect_exit "$@"; } # cairn EXPECTED-EXIT ARGS...
# containers of a cluster: "instance-key id image state" per line, sorted
containers() {
	docker ps -a --filter "label=cairn.cluster=$1" \
		--format '{{.Label "cairn.instance"}} {{.ID}} {{.Image}} {{.State}}' | sort
}
count() { containers "$1" | grep -c . || true; }
id_of() { docker ps -aq --filter "label=cairn.instance=$1"; }
in_out() { grep -q -- "$1" "$work/out"; }
in_err() { grep -q -- "$1" "$work/err"; }

echo "== twitter-analytics, step by step"
cairn 0 policy apply --user Sam -f "$ex/Sam"
cairn 0 policy apply --user Frank -f "$ex/Frank"
cairn 0 policy apply --user John -f "$ex/John"
check "services and contracts alone run nothing" test "$(count cluster-us-east)$(count cluster-us-west)" = 00

cairn 0 policy apply --user John -f "$ex/john-prod-ts.yaml"
check "production runs 7 containers in us-east" test "$(count cluster-us-east)" = 7
check "every production container is running" test "$(containers cluster-us-east | grep -vc ' running$' || true)" = 0

cairn 0 policy apply --user Alice -f "$ex/alice-stage-ts.yaml"
check "Alice's staging runs the pipeline and her twitter_stats (7) in us-west" test "$(count cluster-us-west)" = 7
pipeline_before=$(containers cluster-us-west | grep -v '#twitter_stats#' | awk '{print $2}')

cairn 0 policy apply --user Bob -f "$ex/bob-stage-ts.yaml"
check "Bob adds only his own twitter_stats (3)" test "$(count cluster-us-west)" = 10
pipeline_after=$(containers cluster-us-west | grep -v '#twitter_stats#' | awk '{print $2}')
check "Alice and Bob share one staging pipeline (same containers)" test "$pipeline_before" = "$pipeline_after"
check "Bob has his own tweeviz" test -n "$(id_of 'cluster-us-west#main#twitter_stats#stage#Bob#tweeviz')"

cairn 0 policy apply --user Carol -f "$ex/carol-stage-ts.yaml"
check "Carol gets nothing" test "$(count cluster-us-west)" = 10
check "Carol is reported as rejected" in_out "not resolved: main/carol_stage: rejected"

alice_viz=$(id_of 'cluster-us-west#main#twitter_stats#stage#Alice#tweeviz')
check "Alice's tweeviz reaches the shared kafka by its discovery name" \
	docker exec "$alice_viz" nslookup main-kafka-stage-kafka 127.0.0.11
check "Alice's tweeviz cannot reach Bob's containers" \
	bash -c "! docker exec '$alice_viz' nslookup main-twitter-stats-stage-Bob-tweeviz 127.0.0.11 >/dev/null 2>&1"
check "the discovery address reached tweepub's env" \
	bash -c "docker inspect '$alice_viz' --format '{{json .Config.Env}}' | grep -q 'HDFS_NAMENODE=main-hdfs-stage-hdfs:8020'"
check "no secret in any label or command line" bash -c \
	"! docker inspect \$(docker ps -aq --filter label=cairn.cluster=cluster-us-west) --format '{{json .Config.Labels}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}' | grep -q fake-"
check "secrets do reach the publisher's environment" bash -c \
	"docker inspect \$(docker ps -q --filter 'label=cairn.instance=cluster-us-west#main#twitter_stats#stage#Alice#tweepub') --format '{{json .Config.Env}}' | grep -q 'TWITTER_APP_KEY=fake-alice-app-key'"
check "containers carry cairn and demo labels" bash -c \
	"docker inspect '$alice_viz' --format '{{json .Config.Labels}}' | python3 -c 'import json,sys; l=json.load(sys.stdin); sys.exit(0 if l[\"cairn.instance\"].endswith(\"Alice#tweeviz\") and len(l[\"cairn.hash\"]) == 64 and l[\"cairn.dependencies\"] == \"main/alice_stage\" and int(l[\"cairn.generation\"]) >= 5 and l[\"run.demo\"] == \"true\" and l[\"run.demo.url\"].endswith(\".localhost\") else 1)'"

cairn 0 status -o json
check "status shows every container running with its name" python3 -c "
import json,sys
d = json.load(open('$work/out'))
code = [i for i in d['instances'] if i['container'] is not None]
sys.exit(0 if len(code) == 17 and all(i['state'] == 'running' for i in code) else 1)"

before=$(containers cluster-us-east)
cairn 0 policy apply --user John -f "$ex/john-prod-ts-changed.yaml"
after=$(containers cluster-us-east)
changed=$(diff <(echo "$before") <(echo "$after") | grep -c '^>' || true)
check "John's image bump replaces exactly one container" test "$changed" = 1
check "the replaced one is the visualizer, now on demo12" bash -c \
	"diff <(echo \"$before\") <(echo \"$after\") | grep '^>' | grep -q 'prod#tweeviz .* cairn/tweeviz:demo12 running'"

before=$(containers cluster-us-west)
cairn 0 policy delete --user Alice -f "$ex/alice-stage-ts.yaml"
after=$(containers cluster-us-west)
gone=$(comm -23 <(echo "$before") <(echo "$after"))
check "deleting Alice's dependency removes exactly her 3 containers" test "$(echo "$gone" | grep -c 'stage#Alice#')" = 3
check "and nothing else" test "$(echo "$gone" | grep -c .)" = 3
check "Alice's network is gone too" test -z "$(docker network ls -q --filter 'label=cairn.instance=cluster-us-west#main#twitter_stats#stage#Alice#root')"

cairn 0 apply
check "a second apply has nothing to do" in_out "already runs as wanted"

echo "== apply without the secrets file"
before=$(count cluster-us-east)$(count cluster-us-west)
CAIRN_SECRETS= cairn 3 apply
check "an apply that would remove environments because secrets are missing is refused" \
	in_err "refusing to converge: .* would be removed although the policy did not change"
check "the refusal names the dependency and the missing secrets" in_err "main/prod: .*user has no secrets"
check "and nothing was removed" test "$(count cluster-us-east)$(count cluster-us-west)" = "$before"

echo "== drift repair"
docker run -d --name itest-not-cairn --init cairn/demo:1 >/dev/null
kafka='cluster-us-east#main#kafka#prod#kafka'
hdfs='cluster-us-east#main#hdfs#prod#hdfs'
docker stop "$(id_of "$kafka")" >/dev/null
docker rm -f "$(id_of "$hdfs")" >/dev/null
docker run -d --init --label 'cairn.instance=cluster-us-east#main#gone#x#y' --label cairn.cluster=cluster-us-east cairn/demo:1 >/dev/null
# A second network of the hdfs service's name, as an apply killed while the
# engine was still creating it can leave: the engine calls the name ambiguous.
# (The docker CLI refuses a duplicate name; the Engine API without CheckDuplicate does not.)
curl -sf --unix-socket /var/run/docker.sock -X POST -H 'Content-Type: application/json' \
	-d '{"Name": "cairn-cluster-us-east-main-hdfs-prod-root", "CheckDuplicate": false, "Labels": {"cairn.instance": "cluster-us-east#main#hdfs#prod#root", "cairn.cluster": "cluster-us-east"}}' \
	http://docker/v1.41/networks/create >/dev/null
cairn 0 status
check "status shows the stopped container" bash -c "grep -q 'kafka#prod#kafka  \[docker\]  exited' '$work/out'"
check "status shows the removed container as missing" bash -c "grep -q 'hdfs#prod#hdfs  \[docker\]  missing' '$work/out'"
cairn 0 apply
check "the stopped container is started" in_out "ok *start *$kafka"
check "the removed container is created again" in_out "ok *create *$hdfs"
check "the duplicate network went first, and one of that name is left" test \
	"$(docker network ls -q --filter name=^cairn-cluster-us-east-main-hdfs-prod-root$ | wc -l)" = 1
check "a container with cairn's labels that no instance wants is removed" in_out "ok *delete *cluster-us-east#main#gone#x#y"
check "all 7 production containers run again" test "$(containers cluster-us-east | grep -c ' running$')" = 7
check "a container without cairn's labels is never touched" test "$(docker inspect -f '{{.State.Running}}' itest-not-cairn)" = true

echo "== a small policy of its own: crash, Ctrl-C, engine down, image missing, concurrency"
export CAIRN_USERS="$work/users.yaml"
unset CAIRN_SECRETS
export CAIRN_STATE="$work/small.db"
cat >"$work/users.yaml" <<'EOF'
- name: admin
  admin: true
  labels: {}
EOF
policy() { # policy N IMAGE : N services s0..s(N-1) with a dependency each, on itest-local
	cat <<EOF
- {kind: cluster, metadata: {namespace: system, name: itest-local}, type: docker, config: {endpoint: "unix:///var/run/docker.sock"}}
- {kind: rule, metadata: {namespace: main, name: place}, weight: 1, criteria: {require-all: ["true"]}, actions: {change-labels: {set: {cluster: itest-local}}}}
EOF
	for i in $(seq 0 $(($1 - 1))); do
		cat <<EOF
- {kind: service, metadata: {namespace: main, name: s$i}, components: [{name: app, code: {type: docker, params: {image: "$2", command: [httpd, -f, -p, "8080", -h, /www], ports: [{port: 8080, publish: true}], volumes: [{name: data, path: /data}], health: {command: "wget -q -O /dev/null http://127.0.0.1:8080/", interval: 200ms, retries: 10}}}}]}
- {kind: contract, metadata: {namespace: main, name: s$i}, contexts: [{name: only, allocation: {service: s$i}}]}
- {kind: dependency, metadata: {namespace: main, name: d$i}, user: admin, contract: s$i}
EOF
	done
}
policy 12 cairn/demo:1 >"$work/small.yaml"
cairn 0 policy apply --no-apply --user admin -f "$work/small.yaml"
"$cairn_bin" apply --parallel 2 >"$work/killed.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	[ "$(count itest-local)" -ge 3 ] && break
	sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
check "the killed apply had started some containers, not all" bash -c "n=\$(docker ps -aq --filter label=cairn.cluster=itest-local | wc -l); [ \$n -ge 1 ] && [ \$n -lt 12 ]"
cairn 0 apply
check "the next apply finishes the rest" test "$(containers itest-local | grep -c ' running$')" = 12
check "no instance has two containers" test "$(docker ps -a --filter label=cairn.cluster=itest-local --format '{{.Label "cairn.instance"}}' | sort | uniq -d | grep -c . || true)" = 0
check "named volumes belong to their instance" test "$(docker volume ls -q --filter label=cairn.cluster=itest-local | grep -c .)" = 12
cairn 0 policy log -o json
check "no generation was lost" python3 -c "import json; d=json.load(open('$work/out')); assert [g['generation'] for g in d['generations']] == [1]"
cairn 0 status
check "published ports give each instance a URL that answers" bash -c \
	"url=\$(grep -o 'http://127.0.0.1:[0-9]*/' '$work/out' | head -1); [ -n \"\$url\" ] && curl -sf \"\$url\" | grep -q 'cairn demo 1'"
check "health checks are reported" bash -c "grep -c 'running (healthy)' '$work/out' | grep -qx 12"

# Ctrl-C: the running actions finish, the rest are cancelled, exit 130.
policy 12 cairn/tweeviz:demo11 >"$work/small.yaml"
cairn 0 policy apply --no-apply --user admin -f "$work/small.yaml"
"$cairn_bin" apply --parallel 1 >"$work/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q '^ok .*update' "$work/int.out" && break; sleep 0.1; done
kill -INT "$pid"
code=0
wait "$pid" || code=$?
check "Ctrl-C stops the apply with exit 130" test "$code" = 130
check "the rest is cancelled, not half-done" bash -c "grep -q '^cancelled' '$work/int.out'"
cairn 0 apply
check "the next apply finishes the update" test "$(containers itest-local | grep -c 'cairn/tweeviz:demo11 running')" = 12

echo "== image missing"
policy 12 cairn/tweeviz:demo11 | sed '/name: s5}/ s|cairn/tweeviz:demo11|cairn/no-such-image:1|' >"$work/missing.yaml"
cairn 1 policy apply --user admin -f "$work/missing.yaml"
check "a missing image is named with what to do" in_out "image cairn/no-such-image:1 is not on the engine of cluster itest-local: build it (tools/images)"
check "the instance with the missing image has no container left half-made" test -z "$(id_of 'itest-local#main#s5#only#app')"
check "the other instances still run" test "$(containers itest-local | grep -c ' running$')" = 11

echo "== two applies at once"
policy 12 cairn/demo:1 >"$work/small.yaml"
cairn 0 policy apply --no-apply --user admin -f "$work/small.yaml"
"$cairn_bin" apply --parallel 2 >"$work/a.out" 2>&1 &
a=$!
sleep 0.3
"$cairn_bin" apply --no-wait >"$work/b.out" 2>&1 && b=0 || b=$?
check "with --no-wait the second apply is refused (exit 3)" test "$b" = 3
check "and says another apply is running" grep -q "another apply is running" "$work/b.out"
"$cairn_bin" apply >"$work/c.out" 2>&1 && c=0 || c=$?
wait "$a" || true
check "without it the second apply waits for the first" grep -q "waiting for the apply" "$work/c.out"
check "then finds nothing left to do" grep -q "already runs as wanted" "$work/c.out"
check "never two containers for one instance" test "$(docker ps -a --filter label=cairn.cluster=itest-local --format '{{.Label "cairn.instance"}}' | sort | uniq -d | grep -c . || true)" = 0
check "all 12 run the demo image" test "$(containers itest-local | grep -c 'cairn/demo:1 running')" = 12

echo "== engine down"
cat >"$work/down.yaml" <<EOF
- {kind: cluster, metadata: {namespace: system, name: itest-down}, type: docker, config: {endpoint: "unix://$work/no-engine.sock"}}
- {kind: rule, metadata: {namespace: main, name: place}, weight: 1, criteria: {require-all: ["true"]}, actions: {change-labels: {set: {cluster: itest-down}}}}
- {kind: service, metadata: {namespace: main, name: s}, components: [{name: app, code: {type: docker, params: {image: cairn/demo:1}}}]}
- {kind: contract, metadata: {namespace: main, name: s}, contexts: [{name: only, allocation: {service: s}}]}
- {kind: dependency, metadata: {namespace: main, name: d}, user: admin, contract: s}
EOF
CAIRN_STATE="$work/down.db" cairn 1 policy apply --user admin -f "$work/down.yaml"
check "an engine that is down is named, with what to do" in_out "cluster itest-down: docker engine at unix://$work/no-engine.sock is not running"
CAIRN_STATE="$work/down.db" cairn 0 status -o json
check "status says its instances are unknown, and why" bash -c "grep -q '\"state\":\"unknown\"' '$work/out' && grep -q 'itest-down' '$work/err'"
CAIRN_STATE="$work/down.db" cairn 0 policy log -o json
check "the generation is stored even though the engine was down" python3 -c "import json; d=json.load(open('$work/out')); assert len(d['generations']) == 1"

CAIRN_STATE="$work/down.db" cairn 1 policy delete --user admin -f "$work/down.yaml"
check "a deleted cluster that cannot be reached is kept to be emptied later" \
	test "$(sqlite3 "$work/down.db" "SELECT count(*) FROM kv WHERE key = 'retired-cluster:itest-down'")" = 1

echo "== the whole file deleted: cluster, rule, services, contracts, dependencies"
head -n 2 "$work/small.yaml" >"$work/cluster-and-rule.yaml"
cairn 3 policy delete --user admin -f "$work/cluster-and-rule.yaml"
check "a cluster whose dependencies remain cannot go" in_err "cluster system/itest-local: 24 instances placed on it serve dependencies that remain (main/d[0-9]*, main/d[0-9]*, main/d[0-9]*, …)"
cairn 0 policy delete --user admin -f "$work/small.yaml" --dry-run -o json
check "the dry run plans every instance's removal" python3 -c "import json; d=json.load(open('$work/out')); a = d['plan']['actions']; assert {x['action'] for x in a} == {'detach', 'delete'} and sum(x['action'] == 'delete' for x in a) == 24"
cairn 0 policy delete --user admin -f "$work/small.yaml"
check "no container, network or volume is left" test \
	"$(docker ps -aq --filter label=cairn.cluster=itest-local | wc -l)$(docker network ls -q --filter label=cairn.cluster=itest-local | wc -l)$(docker volume ls -q --filter label=cairn.cluster=itest-local | wc -l)" = 000
check "and the deleted cluster is forgotten once empty" test "$(sqlite3 "$CAIRN_STATE" "SELECT count(*) FROM kv")" = 0
cairn 0 policy show -o json
check "the policy is empty" python3 -c "import json; d=json.load(open('$work/out')); assert d['objects'] == []"

echo "== host-name routing through nginx"
export CAIRN_STATE="$work/route.db"
mkdir -p "$work/nginx"
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/nginx/nginx.conf" <<EOF
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events {}
http {
    access_log off;
    server { listen $nginx_port default_server; return 404; }
    include $work/nginx/routes.conf;
}
EOF
: >"$work/nginx/routes.conf"
nginx -c "$work/nginx/nginx.conf"
answers() { # answers HOST: nginx routes that host name to a cairn demo container (workers reload within ~1 s)
	for _ in $(seq 1 20); do
		grep -q 'cairn demo 1' <<<"$(curl -s -H "Host: $1" "http://127.0.0.1:$nginx_port/")" && return 0
		sleep 0.1
	done
	return 1
}
route_policy() { # route_policy NGINX-CONF
	cat <<EOF
- {kind: cluster, metadata: {namespace: system, name: itest-route}, type: docker, config: {domain: route.test, nginx: {file: "$work/nginx/routes.conf", conf: "$1", port: $nginx_port}}}
- {kind: rule, metadata: {namespace: main, name: place}, weight: 1, criteria: {require-all: ["true"]}, actions: {change-labels: {set: {cluster: itest-route}}}}
- {kind: service, metadata: {namespace: main, name: web}, components: [{name: app, code: {type: docker, params: {image: cairn/demo:1, command: [httpd, -f, -p, "8080", -h, /www], ports: [{port: 8080, publish: true}], host: "{{ .Labels.host }}"}}}]}
- {kind: contract, metadata: {namespace: main, name: web}, contexts: [{name: per-user, allocation: {service: web, keys: ["{{ .Labels.host }}"]}}]}
- {kind: dependency, metadata: {namespace: main, name: shop-pr-1}, user: admin, contract: web, labels: {host: shop-pr-1.route.test}}
- {kind: dependency, metadata: {namespace: main, name: shop-pr-2}, user: admin, contract: web, labels: {host: shop-pr-2.route.test}}
EOF
}
route_policy "$work/nginx/nginx.conf" >"$work/route.yaml"
cairn 0 policy apply --user admin -f "$work/route.yaml"
check "routes are written once the containers run" in_out "ok *route *itest-route"
check "the first environment answers on its own host name through nginx" answers shop-pr-1.route.test
check "so does the second" answers shop-pr-2.route.test
check "an unknown host name is not routed" bash -c "! curl -s -H 'Host: nope.route.test' http://127.0.0.1:$nginx_port/ | grep -q 'cairn demo'"
check "the app receives its own URL in CAIRN_URL" bash -c \
	"docker inspect \$(docker ps -q --filter label=cairn.cluster=itest-route --filter label=cairn.host=shop-pr-1.route.test) --format '{{range .Config.Env}}{{println .}}{{end}}' | grep -qx 'CAIRN_URL=http://shop-pr-1.route.test:$nginx_port/'"
check "traefik labels route the same host name" bash -c \
	"docker ps --filter label=cairn.cluster=itest-route --format '{{.Labels}}' | grep -q 'Host(\`shop-pr-1.route.test\`)'"
cairn 0 status
check "status shows the routed URL" in_out "http://shop-pr-1.route.test:$nginx_port/"
cairn 0 apply
check "a second apply leaves routes alone" in_out "already runs as wanted"
pr1=$(docker ps -aq --filter label=cairn.cluster=itest-route --filter label=cairn.host=shop-pr-1.route.test)
grep 'name: shop-pr-1}' "$work/route.yaml" | sed 's/labels:/stopped: true, labels:/' >"$work/route-stop.yaml"
cairn 0 policy apply --user admin -f "$work/route-stop.yaml"
check "a stopped environment's container is stopped, not removed" test \
	"$(docker inspect -f '{{.State.Running}}' "$pr1")" = false
check "and it is no longer routed" bash -c "! grep -q shop-pr-1 '$work/nginx/routes.conf'"
check "the other environment keeps running" answers shop-pr-2.route.test
cairn 0 apply
check "a stopped environment stays stopped on the next apply" in_out "already runs as wanted"
cairn 0 policy apply --user admin -f "$work/route.yaml"
check "started again, the same container runs" test "$(docker inspect -f '{{.State.Running}}' "$pr1")" = true
check "and answers on its host name again" answers shop-pr-1.route.test
echo "# edited by hand" >>"$work/nginx/routes.conf"
cairn 0 apply
check "a routes file edited by hand is rewritten" bash -c "! grep -q 'edited by hand' '$work/nginx/routes.conf'"
grep 'name: shop-pr-2}' "$work/route.yaml" >"$work/route-del.yaml"
cairn 0 policy delete --user admin -f "$work/route-del.yaml"
check "a deleted environment loses its route" bash -c "! grep -q shop-pr-2 '$work/nginx/routes.conf' && grep -q shop-pr-1 '$work/nginx/routes.conf'"
cp "$work/nginx/routes.conf" "$work/routes.before"
route_policy "$work/nginx/missing.conf" | sed 's/shop-pr-1.route.test}/shop-pr-3.route.test}/' >"$work/route.yaml"
cairn 1 policy apply --user admin -f "$work/route.yaml"
check "nginx refusing the routes fails the route action with nginx's words" in_out "failed *route .*checking the routes"
check "and the previous routes file stays" cmp -s "$work/routes.before" "$work/nginx/routes.conf"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
