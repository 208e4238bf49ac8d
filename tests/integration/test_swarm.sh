#!/usr/bin/env bash
# cairn on a real 3-node Docker Swarm (tools/swarm: three engines, three
# managers, on this machine): the twitter-analytics example converged on
# the swarm, services spread over the nodes and finding each other across
# them; a no-op; a rolling update under load with no failed request; a node
# drained; a node's engine killed (Swarm reschedules, cairn converges); the
# leader lost (cairn follows to another manager); delete leaves nothing on
# any node. usage: test_swarm.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
repo="$2"
work=$(mktemp -d)
swarm="$repo/tools/swarm"
fixture="$work/swarm"

cleanup() {
	"$swarm" down "$fixture" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=checks.sh
. "$repo/tests/integration/checks.sh"

cairn() { # cairn EXPECTED-EXIT ARGS... ; output in $work/out, $work/err
	local want="$1" got=0
	shift
	"$cairn_bin" "$@" >"$work/out" 2>"$work/err" || got=$?
	if [ "$got" -eq "$want" ]; then passes=$((passes + 1)); else
		echo "FAIL: cairn $* exited $got, expected $want"
		failures=$((failures + 1))
		sed 's/^/    /' "$work/out" "$work/err" | tail -20
	fi
}
in_out() { grep -q -- "$1" "$work/out"; }
on() { # on NODE ARGS...: the docker CLI on that node's engine
	local k=$1
	shift
	"$swarm" docker "$fixture" "$k" "$@"
}
# "node state" of every task meant to run, as node $1 sees them ("name
# node state" with names)
task_states() {
	local ids format='{{.Node}} {{.CurrentState}}'
	[ "${2:-}" = names ] && format='{{.Name}} {{.Node}} {{.CurrentState}}'
	ids=$(on "$1" service ls -q --filter label=cairn.cluster) || return 0
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086
	on "$1" service ps -f desired-state=running --format "$format" $ids
}
# "service node" per running task of cairn's services, sorted
placement() {
	task_states "$1" names | awk '$3 == "Running" { sub(/\.[0-9]+$/, "", $1); print $1, $2 }' | sort
}
running_tasks() { placement "$1" | grep -c . || true; }
node_of() { placement "$1" | awk -v s="$2" '$1 == s { print $2; exit }'; }
# the container of service $2's task on node $1's engine
task_on() { on "$1" ps -q --filter "label=com.docker.swarm.service.name=$2" | head -1; }
node_status() { grep -q "^$2 $3$" <<<"$(on "$1" node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null)"; }
settled_off_node3() {
	[ -z "$(task_states 1 | awk '$1 == "node3" || $2 != "Running"')" ] &&
		[ "$(running_tasks 1)" -eq "$services" ]
}
all_running_but_node2() { [ "$(task_states 1 | grep -v '^node2' | grep -c ' Running' || true)" -eq "$services" ]; }
leads() { grep -q Leader <<<"$(on "$1" node ls --format '{{.Hostname}} {{.ManagerStatus}}' 2>/dev/null)"; }
services_left() { [ "$(on "$1" service ls -q --filter label=cairn.cluster | grep -c . || true)" -eq "$2" ]; }
load_started() { grep -q ok <<<"$(on 1 logs load 2>/dev/null)"; }

echo "== a swarm of 3 managers"
# demo12 of the visualizer is not loaded: cairn loads it into the nodes
"$swarm" up 3 "$fixture" --managers 3 --images "cairn/demo:1 cairn/tweeviz:demo11" >/dev/null
config=$(sed -n '/^  config:/,$p' "$fixture/cluster.yaml")

# The example as it is, its clusters of type swarm.
ex="$work/example"
cp -r "$repo/examples/twitter-analytics" "$ex"
cat >"$ex/Sam/clusters.yaml" <<EOF
- kind: cluster
  metadata: {namespace: system, name: cluster-us-east}
  type: swarm
$config
- kind: cluster
  metadata: {namespace: system, name: cluster-us-west}
  type: swarm
$config
EOF
cd "$work"
export CAIRN_USERS="$ex/users.yaml" CAIRN_SECRETS="$ex/secrets.yaml" CAIRN_STATE="$work/state.db"

echo "== the example converged on the swarm"
cairn 0 policy apply --user Sam -f "$ex/Sam"
cairn 0 policy apply --user Frank -f "$ex/Frank"
cairn 0 policy apply --user John -f "$ex/John"
cairn 0 policy apply --user John -f "$ex/john-prod-ts.yaml"
check "prod converges" in_out "converged: generation 4, .* done, 0 failed"
check "7 services, each with its task running" test "$(running_tasks 1)" -eq 7
nodes_used=$(placement 1 | awk '{ print $2 }' | sort -u | grep -c .)
check "the tasks are spread over the nodes ($nodes_used of 3 used)" test "$nodes_used" -ge 2
check "every service is on an overlay network of its own" \
	test "$(on 2 network ls --filter label=cairn.cluster=cluster-us-east --filter driver=overlay -q | grep -c .)" -eq 6

# Discovery across nodes: tweetics reaches kafka, zookeeper and spark by
# the names in its env, from wherever each one runs.
consumer=cairn-cluster-us-east-main-twitter-stats-prod-tweetics
cnode=$(node_of 1 "$consumer")
cid=$(task_on "${cnode#node}" "$consumer")
crossed=0 reached=0
for var in KAFKA_ADDRESS ZOOKEEPER_ADDRESS SPARK_ADDRESS; do
	host=$(on "${cnode#node}" exec "$cid" sh -c "echo \${$var%%:*}")
	# any HTTP answer (httpd -f -p 8080 serves no index) means the name
	# led to the task
	answer=$(on "${cnode#node}" exec "$cid" timeout 5 wget -qO- "http://$host:8080/" 2>&1 || true)
	case "$answer" in *HTTP/1*) reached=$((reached + 1)) ;; esac
	svc=$(placement 1 | awk -v h="$host" '$1 ~ h"$" { print $2 }')
	[ -n "$svc" ] && [ "$svc" != "$cnode" ] && crossed=$((crossed + 1))
done
check "tweetics reaches its 3 dependencies by their discovery names ($reached of 3)" test "$reached" -eq 3
check "at least one of them runs on another node ($crossed)" test "$crossed" -ge 1

echo "== secrets are Swarm secrets, never env"
pub=cairn-cluster-us-east-main-twitter-stats-prod-tweepub
spec=$(on 1 service inspect "$pub")
absent() { ! grep -q -- "$1" <<<"$2"; }
check "the secret's value is nowhere in the service's spec" absent fake-john "$spec"
check "its env gives the file instead" grep -q '"TWITTER_APP_KEY_FILE=/run/secrets/TWITTER_APP_KEY"' <<<"$spec"
pnode=$(node_of 1 "$pub")
check "the task reads the value from the file" test "$(on "${pnode#node}" exec "$(task_on "${pnode#node}" "$pub")" cat /run/secrets/TWITTER_APP_KEY)" = fake-john-app-key
sed -i 's/fake-john-app-key/rotated-john-app-key/' "$ex/secrets.yaml"
cairn 0 apply
check "a new value rolls the service" in_out "ok *update *cluster-us-east#main#twitter_stats#prod#tweepub"
check "and the old secret goes" in_out "ok *delete-secret"
check "the value is still nowhere in the spec" absent rotated-john "$(on 1 service inspect "$pub")"
check "there are 4 secrets, one per value read" test "$(on 1 secret ls -q | grep -c .)" -eq 4

echo "== a no-op"
cairn 0 apply
check "nothing to do when nothing changed" in_out "already runs as wanted"

echo "== drift repaired; status"
pub=cairn-cluster-us-east-main-twitter-stats-prod-tweepub
on 1 service scale -d "$pub=3" >/dev/null
cairn 0 apply
check "a service scaled by hand is scaled back" in_out "repaired: Mode.Replicated.Replicas was changed by hand"
on 1 service update -d --env-add HAND=1 "$pub" >/dev/null
cairn 0 apply
check "an env var added by hand goes" in_out "repaired: TaskTemplate.ContainerSpec.Env was changed by hand"
on 1 service rm "$pub" >/dev/null
cairn 0 apply
check "a service removed by hand is made again" in_out "ok *create *cluster-us-east#main#twitter_stats#prod#tweepub"
cairn 0 apply
check "and then nothing is left to do" in_out "already runs as wanted"
cairn 0 status
check "status shows each service's tasks and their nodes" \
	in_out "prod#tweepub  \[docker\]  running  1/1 tasks on node[1-3]  used by main/prod"
cairn 0 status -o json
tasks_json() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
t = [i["tasks"] for i in d["instances"] if i["key"].endswith("prod#tweeviz")][0]
sys.exit(0 if t["running"] == t["wanted"] == 1 and t["nodes"].startswith("node") else 1)' "$work/out"
}
check "and in JSON: {running, wanted, nodes}" tasks_json

echo "== Alice and Bob stage on the same swarm"
cairn 0 policy apply --user Alice -f "$ex/alice-stage-ts.yaml"
check "the image no node had is loaded into each" \
	in_out "ok *image *cairn/tweeviz:demo12 .*loaded into node1, node2, node3"
cairn 0 policy apply --user Bob -f "$ex/bob-stage-ts.yaml"
services=$(on 1 service ls -q --filter label=cairn.cluster | grep -c .)
check "Alice's and Bob's services run too ($services)" test "$services" -gt 7
check "each with its task running" test "$(running_tasks 1)" -eq "$services"

echo "== an image no node has, on a cluster that does not load images"
cat >"$work/bare.yaml" <<EOF
- kind: cluster
  metadata: {namespace: system, name: bare}
  type: swarm
  config: {endpoints: [unix://$fixture/node1/docker.sock]}
- kind: rule
  metadata: {namespace: main, name: bare}
  criteria: {require-all: ["true"]}
  actions: {change-labels: {set: {cluster: bare}}}
- kind: service
  metadata: {namespace: main, name: shop}
  components: [{name: app, code: {type: docker, params: {image: "cairn/shop-app:2026.12.1"}}}]
- kind: contract
  metadata: {namespace: main, name: shop}
  contexts: [{name: one, allocation: {service: shop}}]
- kind: dependency
  metadata: {namespace: main, name: shop}
  user: Sam
  contract: shop
EOF
CAIRN_STATE="$work/bare.db" cairn 1 policy apply --user Sam -f "$work/bare.yaml"
check "the apply fails saying which node lacks the image" \
	in_out "failed *create *bare#main#shop#one#app .*task on node[1-3] rejected: No such image: cairn/shop-app:2026.12.1"
CAIRN_STATE="$work/bare.db" cairn 0 policy delete --user Sam -f "$work/bare.yaml"

echo "== a rolling update under load"
net=$(on 1 network ls --filter label=cairn.instance=cluster-us-east#main#twitter_stats#prod#root --format '{{.Name}}')
viz=main-twitter-stats-prod-tweeviz
# a client on the service's network, one request every 0.1 s, by name;
# answered is any HTTP answer (httpd -f -p 8080 serves no index)
on 1 run -d --name load --network "$net" cairn/demo:1 sh -c \
	"while :; do if timeout 2 wget -qO- http://$viz:8080/ 2>&1 | grep -q HTTP/1; then echo ok; else echo fail; fi; sleep 0.1; done" >/dev/null
wait_for 10 load_started
cairn 0 policy apply --user John -f "$ex/john-prod-ts-changed.yaml"
check "one service updated" in_out "ok *update *cluster-us-east#main#twitter_stats#prod#tweeviz"
check "and nothing else" test "$(grep '^ok' "$work/out" | grep -vc '^ok *image')" -eq 1
sleep 1
oks=$(on 1 logs load 2>/dev/null | grep -c ok || true)
fails=$(on 1 logs load 2>/dev/null | grep -c fail || true)
on 1 rm -f load >/dev/null 2>&1 || true
echo "   $oks requests answered, $fails failed during the update"
check "requests kept being answered during the update ($oks)" test "$oks" -ge 20
check "no request failed during the update ($fails)" test "$fails" -eq 0
image=$(on 1 service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' cairn-cluster-us-east-main-twitter-stats-prod-tweeviz)
check "the new image runs ($image)" test "$image" = cairn/tweeviz:demo12

echo "== node 3 drained"
on 1 node update --availability drain node3 >/dev/null
check "its tasks move to the other nodes, where all $services run" wait_for 60 settled_off_node3
cairn 0 apply
check "cairn has nothing to do after a drain" in_out "already runs as wanted"
on 1 node update --availability active node3 >/dev/null

echo "== node 2's engine killed"
"$swarm" kill "$fixture" 2 >/dev/null
check "Swarm sees node 2 down" wait_for 40 node_status 1 node2 Down
check "its tasks run elsewhere" wait_for 60 all_running_but_node2
cairn 0 apply
check "cairn converges with a node down" in_out "converged"
"$swarm" start "$fixture" 2 >/dev/null
check "node 2 is back" wait_for 60 node_status 1 node2 Ready

echo "== the leader lost"
bobs=$(on 1 service ls -q --filter label=cairn.instance | xargs -r "$swarm" docker "$fixture" 1 service inspect -f '{{index .Spec.Labels "cairn.instance"}}' | grep -c '#Bob#' || true)
"$swarm" kill "$fixture" 1 >/dev/null
check "another manager leads" wait_for 60 leads 2
cairn 0 policy delete --user Bob -f "$ex/bob-stage-ts.yaml"
check "cairn follows to another manager and deletes Bob's stage" in_out "converged"
check "Bob's services are gone" services_left 2 $((services - bobs))
"$swarm" start "$fixture" 1 >/dev/null
check "node 1 is back" wait_for 60 node_status 2 node1 Ready

echo "== delete leaves nothing on any node"
cairn 0 policy delete --user Alice -f "$ex/alice-stage-ts.yaml"
cairn 0 policy delete --user John -f "$ex/john-prod-ts-changed.yaml"
check "everything deleted" in_out "converged"
left() {
	local k n=0
	for k in 2 3 1; do
		n=$((n + $(on "$k" ps -aq --filter label=cairn.cluster | grep -c . || true)))
		n=$((n + $(on "$k" network ls -q --filter label=cairn.cluster | grep -c . || true)))
	done
	n=$((n + $(on 2 secret ls -q --filter label=cairn.cluster | grep -c . || true)))
	echo "$n"
}
nothing_left() { [ "$(left)" -eq 0 ]; }
check "no container, network or secret of cairn's on any node" wait_for 60 nothing_left

echo "swarm: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
