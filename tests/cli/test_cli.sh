#!/usr/bin/env bash
# The `cairn` command end to end on the twitter-analytics example: exit codes,
# JSON output, refusals that change nothing, revisions. usage: test_cli.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
ex="$2/examples/twitter-analytics"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export CAIRN_USERS="$ex/users.yaml" CAIRN_SECRETS="$ex/secrets.yaml"
. "$2/tests/integration/checks.sh"
json() { # json PYTHON-EXPRESSION over the JSON in $work/out, as `d`
	python3 -c "import json,sys; d=json.load(open('$work/out')); sys.exit(0 if ($1) else 1)"
}

expect_exit 2
expect_exit 2 frobnicate
expect_exit 2 policy apply -f "$ex/Sam"
for c in "policy apply" "policy delete" "policy log" "policy show" "policy diff" plan status explain; do
	# shellcheck disable=SC2086 # the command words split on purpose
	expect_exit 0 $c --help
done
expect_exit 1 --users "$work/missing.yaml" status

# Secrets on the command line are hidden from ps once read: a token, and the
# password of a postgres:// state. A listener that never answers keeps
# cairn waiting while its command line is read.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
held = []
while True: held.append(s.accept()[0])
' >"$work/hold.port" &
hold_pid=$!
for _ in $(seq 50); do [ -s "$work/hold.port" ] && break; sleep 0.1; done
hold_port=$(cat "$work/hold.port")
cmdline_of() { # cmdline_of ARGS...: cairn's /proc cmdline, half a second in
	"$cairn_bin" "$@" >/dev/null 2>&1 &
	local pid=$!
	sleep 0.5
	tr '\0' ' ' <"/proc/$pid/cmdline" || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cmdline_of --token cairn_topsecret --server "http://127.0.0.1:$hold_port" plan >"$work/cmdline"
check "--token is hidden from ps" sh -c "grep -q -- '--token \*\*\*' '$work/cmdline' && ! grep -q topsecret '$work/cmdline'"
cmdline_of --state "postgres://u:hunter2@127.0.0.1:$hold_port/db" status >"$work/cmdline"
check "a state URL's password is hidden from ps" sh -c "grep -q 'postgres://u:\*\*\*\*\*\*\*@127.0.0.1' '$work/cmdline' && ! grep -q hunter2 '$work/cmdline'"
kill "$hold_pid"
echo cairn_fromfile >"$work/token"
expect_exit 1 --token-file "$work/token" --server "http://127.0.0.1:1" plan
check "--token-file is read" grep -q "cannot reach the server" "$work/err"
expect_exit 1 --token-file "$work/missing" --server "http://127.0.0.1:1" plan
check "a missing token file is said" grep -q "cannot read the token file" "$work/err"

expect_exit 0 policy apply --no-apply --user Sam -f "$ex/Sam"
expect_exit 0 policy apply --no-apply --user Frank -f "$ex/Frank"
expect_exit 0 policy apply --no-apply --user John -f "$ex/John"
expect_exit 0 policy apply --no-apply --user John -f "$ex/john-prod-ts.yaml" -o json
check "first plan creates the production instances" json "d['generation'] == 4 and all(a['action'] in ('create', 'attach') for a in d['actions']) and len(d['actions']) > 0"
expect_exit 0 policy apply --no-apply --user Alice -f "$ex/alice-stage-ts.yaml"
expect_exit 0 policy apply --no-apply --user Bob -f "$ex/bob-stage-ts.yaml" -o json
check "Bob attaches to Alice's staging pipeline" json "{'action': 'attach', 'instance': 'cluster-us-west#main#analytics_pipeline#stage#root', 'dependency': 'main/bob_stage'} in d['actions'] and not any(a['action'] == 'create' and '#analytics_pipeline#stage#root' in a['instance'] for a in d['actions'])"
expect_exit 0 policy apply --no-apply --user Carol -f "$ex/carol-stage-ts.yaml"
expect_exit 0 status -o json
check "Carol is rejected, the others resolve" json "{x['id']: x['resolved'] for x in d['dependencies']} == {'main/alice_stage': True, 'main/bob_stage': True, 'main/carol_stage': False, 'main/prod': True}"
check "Alice and Bob have their own twitter_stats" json "{'cluster-us-west#main#twitter_stats#stage#Alice#root', 'cluster-us-west#main#twitter_stats#stage#Bob#root'} <= {i['key'] for i in d['instances']}"
check "secrets never appear in status" json "'fake-' not in json.dumps(d)"
expect_exit 0 explain main/carol_stage -o json
check "explain names the reject rule" json "not d['resolved'] and 'reject_dependency_for_mobile_dev_users' in d['reason'] and d['context'] == 'stage'"
expect_exit 1 explain main/nobody

# Alice may not publish a service: refused (3), and nothing is stored.
expect_exit 3 policy apply --no-apply --user Alice -f "$ex/alice-publishes-service.yaml"
check "refusal names the object and the privilege" grep -q "may not manage service main/alice_tweetbot" "$work/err"
expect_exit 0 policy log -o json
check "refused apply made no generation" json "len(d['generations']) == 7 and d['generations'][0]['user'] == 'Carol'"
# A consumer may not delete someone else's dependency.
expect_exit 3 policy delete --no-apply --user Alice -f "$ex/bob-stage-ts.yaml"
# Nor take it over, or delete it, by naming it with herself as its user.
sed 's/user: Bob/user: Alice/' "$ex/bob-stage-ts.yaml" >"$work/takeover.yaml"
expect_exit 3 policy apply --no-apply --user Alice -f "$work/takeover.yaml"
check "a takeover is refused as Bob's" grep -q "takeover.yaml:2:3: user 'Alice' may not manage dependency main/bob_stage: it belongs to user 'Bob'" "$work/err"
expect_exit 3 policy delete --no-apply --user Alice -f "$work/takeover.yaml"
expect_exit 0 policy log -o json
check "refused takeovers made no generation" json "len(d['generations']) == 7"
# A cluster cannot go while dependencies placed on it remain.
expect_exit 3 policy delete --no-apply --user Sam -f "$ex/Sam/clusters.yaml"
check "deleting a cluster in use is refused with the count" grep -q "cluster system/cluster-us-east: 1[0-9] instances placed on it serve dependencies that remain (main/" "$work/err"

expect_exit 0 policy apply --no-apply --user John -f "$ex/john-prod-ts-changed.yaml" --dry-run -o json
check "dry run: only tweeviz and its root update" json "sorted((a['action'], a['instance']) for a in d['plan']['actions']) == [('update', 'cluster-us-east#main#twitter_stats#prod#root'), ('update', 'cluster-us-east#main#twitter_stats#prod#tweeviz')]"
expect_exit 0 policy log -o json
check "dry run stored nothing" json "len(d['generations']) == 7"
expect_exit 0 policy apply --no-apply --user John -f "$ex/john-prod-ts-changed.yaml"
expect_exit 0 policy apply --no-apply --user John -f "$ex/john-prod-ts-changed.yaml"
check "re-applying the same objects changes nothing" grep -q "policy unchanged" "$work/out"

expect_exit 0 policy delete --no-apply --user Alice -f "$ex/alice-stage-ts.yaml" -o json
check "Alice's delete: her instances go, the shared pipeline stays" json "all(a['dependency'] == 'main/alice_stage' for a in d['actions']) and {a['instance'] for a in d['actions'] if a['action'] == 'delete'} == {k for k in (a['instance'] for a in d['actions']) if '#Alice#' in k} and not any(a['action'] == 'delete' and '#analytics_pipeline#stage#root' in a['instance'] for a in d['actions'])"
expect_exit 0 plan -o json
check "after apply the plan is empty" json "d['actions'] == [] and d['generation'] == 9"
expect_exit 0 policy diff 8 9 -o json
check "diff lists Alice's deleted dependency" json "[(c['kind'], c['name'], c['change']) for c in d['changes']] == [('dependency', 'alice_stage', 'deleted')]"
expect_exit 0 policy show --generation 1 -o json
check "generation 1 holds Sam's objects" json "len(d['objects']) == 8"
expect_exit 1 policy show --generation 99

# Bad input: a file with errors is refused with file:line, nothing stored.
printf -- '- kind: service\n  metadata: {namespace: main, name: bad}\n  compnents: []\n' >"$work/bad.yaml"
expect_exit 3 policy apply --no-apply --user Sam -f "$work/bad.yaml"
check "error names file, line and the nearest key" grep -q "bad.yaml:3:3: .*unknown key 'compnents' (did you mean 'components'?)" "$work/err"

check "the last line says why in a few words" grep -q "^cairn: policy apply refused: 1 error in 1 file; nothing was stored$" "$work/err"

# A flood of errors: the first 50, how many more, and -o json has them all.
python3 -c "
for i in range(1200):
    print('- kind: service\\n  metadata: {namespace: main, name: s%d}\\n  owner: x' % i)" >"$work/flood.yaml"
expect_exit 3 policy apply --no-apply --user Sam -f "$work/flood.yaml" -f "$work/bad.yaml"
check "50 errors shown, then the count of the rest" test "$(grep -c "unknown key" "$work/err")" -eq 50
check "the rest counted" grep -q "^… and 1151 more errors (-o json lists all)$" "$work/err"
check "a flood's reason" grep -q "^cairn: policy apply refused: 1201 errors in 2 files; nothing was stored$" "$work/err"
expect_exit 3 policy apply --no-apply --user Sam -f "$work/flood.yaml" -o json
check "-o json lists every error" json "len(d['diagnostics']) == 1200 and d['error'] == 'policy apply refused: 1200 errors in 1 file; nothing was stored'"

# Absurdly deep nesting is refused, not a crash.
python3 -c "print('- ' + '[' * 100000)" >"$work/deep.yaml"
expect_exit 3 policy apply --no-apply --user Sam -f "$work/deep.yaml"
check "deep nesting is named" grep -q "deep.yaml:1:.*nested deeper than 256 levels" "$work/err"

# Concurrent applies: each becomes its own generation, none is lost (a
# revise that lost the race to commit is tried again on the newer policy).
before=$("$cairn_bin" policy log -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["generations"]))')
for i in $(seq 1 8); do
	printf -- '- {kind: dependency, metadata: {namespace: main, name: race-%s}, user: John, contract: twitter_stats, labels: {n: "%s"}}\n' "$i" "$i" >"$work/race-$i.yaml"
	"$cairn_bin" policy apply --no-apply --user John -f "$work/race-$i.yaml" >"$work/race-$i.out" 2>&1 &
done
wait
expect_exit 0 policy log -o json
check "8 concurrent applies make 8 consecutive generations" json "[g['generation'] for g in d['generations'][:8]] == list(range($before + 8, $before, -1))"
expect_exit 0 policy show -o json
check "and every one of their dependencies is stored" json "sum(o['metadata']['name'].startswith('race-') for o in d['objects']) == 8"

# Rollback: a new generation with the objects of generation N; history kept.
latest=$("$cairn_bin" policy log -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["generations"][0]["generation"])')
"$cairn_bin" policy show --generation 4 -o json >"$work/gen4.json"
expect_exit 3 policy rollback 4 --user Alice --no-apply
check "a consumer cannot roll back others' objects" grep -q "user 'Alice' may not manage" "$work/err"
expect_exit 0 policy rollback 4 --user Sam --dry-run -o json
check "a dry run plans the rollback" json "'plan' in d and 'status' in d"
expect_exit 0 policy log -o json
check "the dry run stored nothing" json "d['generations'][0]['generation'] == $latest"
expect_exit 0 policy rollback 4 --user Sam --no-apply
check "the rollback says what it is" grep -q "^generation $((latest + 1)) by Sam, a rollback of 4: " "$work/out"
expect_exit 0 policy show -o json
check "its objects are those of generation 4" python3 -c "
import json
a = json.load(open('$work/out'))['objects']; b = json.load(open('$work/gen4.json'))['objects']
key = lambda o: (o['kind'], o['metadata']['namespace'], o['metadata']['name'])
assert sorted(a, key=key) == sorted(b, key=key), 'objects differ'"
expect_exit 0 policy log -o json
check "the log shows a rollback of 4, history kept" json "d['generations'][0]['verb'] == 'rollback of 4' and d['generations'][0]['rollback_of'] == 4 and d['generations'][0]['generation'] == $((latest + 1))"
expect_exit 0 policy rollback 4 --user Sam --no-apply
check "rolling back to what is already there changes nothing" grep -q "policy unchanged" "$work/out"
expect_exit 3 policy rollback 999 --user Sam
check "a generation that does not exist is named" grep -q "generation 999 does not exist (the latest is $((latest + 1)))" "$work/err"
expect_exit 2 policy rollback --user Sam
expect_exit 2 policy rollback 4 --user Sam -f "$ex/Sam"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
