#!/usr/bin/env bash
# `cairn snapshot` end to end on the demo-shop example against a private
# PostgreSQL: the example's own script, then each command's JSON, exit codes
# and refusals. usage: test_snapshot.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
repo="$2"
ex="$repo/examples/demo-shop"
work=$(mktemp -d /tmp/cairn-snapshot-cli-XXXXXX)
chmod 755 "$work" # the postgres user runs the server below it
# prepared images this test made (their snapshots are in $work)
remove_images() { docker images -q --filter "label=cairn.snapshot.dataset=demo/shop-demo" | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true; }
remove_demo() { # what the shop service ran on cluster demo-shop
	docker ps -aq --filter label=cairn.cluster=demo-shop | xargs -r docker rm -f >/dev/null 2>&1 || true
	docker network ls -q --filter label=cairn.cluster=demo-shop | xargs -r docker network rm >/dev/null 2>&1 || true
}
trap '"$repo/tools/s3" stop "$work/s3" >/dev/null 2>&1 || true; remove_demo; remove_images; "$repo/tools/pg" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
. "$repo/tests/integration/checks.sh"
check_json() { # check_json NAME PYTHON-EXPRESSION over the JSON in $work/out (as d) and $work/err (as err)
	if python3 -c "import json,sys; d=json.load(open('$work/out')) if open('$work/out').read().strip() else None; err=open('$work/err').read(); sys.exit(0 if ($2) else 1)"; then
		ok
	else
		fail "$1"; cat "$work/out" "$work/err"
	fi
}
contains() { # contains NAME TEXT: the output ($work/out and $work/err) holds TEXT
	if grep -qF -- "$2" "$work/out" "$work/err"; then ok; else
		fail "$1: no '$2' in"; cat "$work/out" "$work/err"
	fi
}

# The example as a person runs it.
CAIRN="$cairn_bin" "$ex/run" "$work" >"$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
grep -q "^restored snapshot demo.shop-demo." "$work/run.log" || { echo "FAIL: run did not restore"; cat "$work/run.log"; exit 1; }
passes=$((passes + 1))
grep -q "^  a customer: .*@example.com$" "$work/run.log" || { echo "FAIL: run's demo did not show its customers"; cat "$work/run.log"; exit 1; }
passes=$((passes + 1))
run_demo=$(sed -n 's/^demo \(demo\/demo-[a-z0-9]*\) at .*/\1/p' "$work/run.log")
CAIRN_STATE="$work/state.db" CAIRN_USERS="$ex/users.yaml" "$cairn_bin" demo delete "$run_demo" --user admin >/dev/null

export CAIRN_STATE="$work/state.db" CAIRN_USERS="$ex/users.yaml" CAIRN_SNAPSHOTS="$work/snapshots"
cd "$work" # the dataset's key_file is relative
base=$("$repo/tools/pg" url "$work/pg")
url_of() { echo "${base/\/postgres\?//$1?}"; }

for c in create list show restore delete prepare images; do expect_exit 0 snapshot "$c" --help; done
expect_exit 2 snapshot
expect_exit 2 snapshot create
expect_exit 2 snapshot restore some-id
expect_exit 2 snapshot frobnicate x
expect_exit 3 snapshot create demo/no-such-dataset
check_json "unknown dataset named" "'no dataset demo/no-such-dataset' in err"

expect_exit 0 -o json snapshot create demo/shop-demo
check_json "create's JSON" "d['id'].startswith('demo.shop-demo.') and d['rows'] == sum(t['rows'] for t in d['tables']) and d['rows'] > 500 and d['build'] == '2026.12.1' and any('address.city' in w for w in d['warnings']) and d['schema_changed_since'] is None"
id=$(python3 -c "import json; print(json.load(open('$work/out'))['id'])")
rows=$(python3 -c "import json; print(json.load(open('$work/out'))['rows'])")
expect_exit 0 -o json snapshot list demo/shop-demo
check_json "list holds both snapshots" "len(d) == 2 and d[-1]['id'] == '$id'"
expect_exit 0 -o json snapshot show "$id"
check_json "show's manifest" "d['id'] == '$id' and d['rows'] == $rows and {t['table'] for t in d['tables']} >= {'public.customer', 'public.payment'} and 'email' in [t for t in d['tables'] if t['table'] == 'public.customer'][0]['anonymized']"
expect_exit 1 snapshot show no.such.snapshot
check_json "missing snapshot named" "'no snapshot no.such.snapshot in' in err"
expect_exit 1 snapshot restore "$id" --into "postgres://someone:secretpw@127.0.0.1:1/db"
check_json "password not repeated" "'secretpw' not in err and 'someone:***@127.0.0.1:1/db' in err"

# build.txt from the image of a component that runs for a dependency (the
# policy is stored with --no-apply: resolving it needs no Docker).
cat >app.yaml <<'YAML'
- {kind: cluster, metadata: {namespace: system, name: local}, type: docker, config: {endpoint: "unix:///nonexistent.sock"}}
- {kind: rule, metadata: {namespace: demo, name: local}, criteria: {require-all: ["true"]}, actions: {change-labels: {set: {cluster: local}}}}
- {kind: service, metadata: {namespace: demo, name: shop}, components: [{name: app, code: {type: docker, params: {image: "registry.example:5000/shop/app:2026.12.7"}}}]}
- {kind: contract, metadata: {namespace: demo, name: shop}, contexts: [{name: prod, allocation: {service: shop}}]}
- {kind: dependency, metadata: {namespace: demo, name: prod}, user: admin, contract: shop}
YAML
sed 's|build: "2026.12.1"|build: {dependency: prod, component: app}|' dataset.yaml >built.yaml
expect_exit 0 policy apply --no-apply --user admin -f app.yaml -f built.yaml
expect_exit 0 -o json snapshot create demo/shop-demo
check_json "build from the component's image" "d['build'] == '2026.12.7'"
built=$(python3 -c "import json; print(json.load(open('$work/out'))['id'])")
if [ "$(cat "snapshots/$built/build.txt")" = 2026.12.7 ]; then ok; else fail "build.txt"; fi
sed 's|build: "2026.12.1"|build: {dependency: prod, component: db}|' dataset.yaml >built.yaml
expect_exit 0 policy apply --no-apply --user admin -f built.yaml
expect_exit 1 snapshot create demo/shop-demo
check_json "unknown component named" "'dependency demo/prod runs no component db' in err"
expect_exit 0 policy apply --no-apply --user admin -f dataset.yaml
expect_exit 0 snapshot delete "$built"

# Restore into an empty database; again into the same one is refused, naming a table.
psql -X -q -d "$(url_of postgres)" -c "DROP DATABASE IF EXISTS copy2" -c "CREATE DATABASE copy2"
expect_exit 0 -o json snapshot restore "$id" --into "$(url_of copy2)"
check_json "restore's JSON" "d['rows'] == $rows"
expect_exit 1 snapshot restore "$id" --into "$(url_of copy2)"
check_json "non-empty target refused" "'is not empty: it has table public.address' in err"
n=$(psql -X -At -d "$(url_of copy2)" -c "SELECT count(*) FROM customer WHERE email LIKE '%@mail.example'")
if [ "$n" = 0 ]; then ok; else fail "$n original emails in the copy"; fi

# Data for a component (examples/demo-shop/shop.yaml, in a state of its own):
# without a prepared image the database fails closed, naming the command
# that makes one, and the application that needs it does not start.
printf -- '- {kind: dependency, metadata: {namespace: demo, name: demo-a}, user: admin, contract: shop, labels: {demo: a, host: a.demo.localhost}}\n' >demo-a.yaml
remove_images
expect_exit 1 --state "$work/demo.db" policy apply --user admin -f "$ex/shop.yaml" -f demo-a.yaml
contains "no prepared image: refused, naming the way out" "has no prepared snapshot on cluster demo-shop: run \`cairn snapshot create demo/shop-demo\`, then \`cairn snapshot prepare ID\`"
contains "the application is skipped" "skipped: create demo-shop#demo#shop#demo#a#db failed"
if [ -z "$(docker ps -aq --filter label=cairn.instance=demo-shop#demo#shop#demo#a#app)" ]; then ok; else fail "the app started without its data"; fi

# Prepared copies: the snapshot committed in a PostgreSQL image, which starts
# with the data in place; preparing again reuses it.
expect_exit 0 -o json snapshot prepare "$id"
check_json "prepare's JSON" "not d['reused'] and d['rows'] == $rows and d['image'].startswith('cairn-data/demo.shop-demo:') and d['database'] == 'shop' and d['user'] == 'postgres' and d['steps']['restore'] > 0"
image=$(python3 -c "import json; print(json.load(open('$work/out'))['image'])")
expect_exit 0 -o json snapshot prepare "$id"
check_json "prepared twice reuses the image" "d['reused'] and d['image'] == '$image'"
expect_exit 0 -o json snapshot images demo/shop-demo
check_json "images lists it with its build" "[(i['image'], i['build'], i['database']) for i in d if i['snapshot'] == '$id'] == [('$image', '2026.12.1', 'shop')]"
cid=$(docker run -d "$image")
ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$cid")
for _ in $(seq 150); do pg_isready -q -h "$ip" && break; sleep 0.1; done
n=$(psql -X -At -h "$ip" -U postgres -d shop -c "SELECT count(*) FROM customer WHERE email NOT LIKE '%@mail.example'" 2>&1 || true)
want=$(psql -X -At -d "$(url_of copy2)" -c "SELECT count(*) FROM customer")
if [ "$n" = "$want" ] && [ "$n" -gt 0 ]; then ok; else fail "the prepared image has '$n' anonymized customers, the restore $want"; fi
# the engine's log may trail the server by a moment: wait for the ready line
# (grep reads a captured copy: under pipefail, `docker logs | grep -q` fails
# whenever grep quits before docker logs has written its last line)
for _ in $(seq 50); do grep -q "ready to accept connections" <<<"$(docker logs "$cid" 2>&1)" && break; sleep 0.1; done
if grep -q "database system was shut down at" <<<"$(docker logs "$cid" 2>&1)"; then ok; else fail "the prepared image needed recovery"; docker logs "$cid"; fi
docker rm -f "$cid" >/dev/null
# Prepared: the database runs the snapshot's image, the application answers
# with its anonymized customers, and status names the snapshot.
expect_exit 0 --state "$work/demo.db" apply
expect_exit 0 --state "$work/demo.db" -o json status
check_json "status names the database's snapshot" "[(i['state'], i['snapshot']) for i in d['instances'] if i['component'] == 'db'] == [('running', '$id')] and [i['snapshot'] for i in d['instances'] if i['component'] == 'app'] == [None]"
app_url=$(python3 -c "import json; print([i['url'] for i in json.load(open('$work/out'))['instances'] if i['component'] == 'app'][0])")
page=""
for _ in $(seq 50); do page=$(curl -fsS "$app_url" 2>/dev/null || true); case "$page" in *"<td align=\"right\">50</td>"*) break ;; esac; sleep 0.1; done
case "$page" in *"build <b id=\"build\">2026.12.1</b>"*"<td align=\"right\">50</td>"*"@example.com"*) passes=$((passes + 1)) ;; *) echo "FAIL: the demo's app at $app_url: $page"; failures=$((failures + 1)) ;; esac
case "$page" in *"@mail.example"*) echo "FAIL: the demo shows a real email"; failures=$((failures + 1)) ;; *) passes=$((passes + 1)) ;; esac

# A snapshot whose restore fails (a table file cut short) leaves no image
# and no container.
broken=demo.shop-demo.20000101T000000Z
cp -r "snapshots/$id" "snapshots/$broken"
python3 -c "import json; p='snapshots/$broken/manifest.json'; m=json.load(open(p)); m['id']='$broken'; json.dump(m, open(p, 'w'))"
truncate -s 100 "snapshots/$broken/public.customer.json.gz"
expect_exit 1 snapshot prepare "$broken"
check_json "a failed restore is named" "'prepare $broken' in err and 'public.customer' in err"
if [ -z "$(docker ps -aq --filter "label=cairn.prepare=$broken")" ] && [ -z "$(docker images -q --filter "label=cairn.snapshot=$broken")" ]; then ok; else fail "a failed prepare left a container or an image"; fi
rm -rf "snapshots/$broken"
expect_exit 1 snapshot prepare no.such.snapshot
check_json "prepare of a missing snapshot" "'no snapshot no.such.snapshot in' in err"
expect_exit 1 snapshot images --docker unix:///nonexistent.sock
check_json "an engine that does not answer is named" "'unix:///nonexistent.sock' in err"

# A schema change is noted; keep: 3 prunes the oldest.
psql -X -q -d "$(url_of shop)" -c "ALTER TABLE product ADD COLUMN colour text"
expect_exit 0 -o json snapshot create demo/shop-demo
check_json "schema change noted" "d['schema_changed_since'] == '$id' and d['pruned'] == []"
expect_exit 0 -o json snapshot create demo/shop-demo
check_json "keep prunes the oldest" "len(d['pruned']) == 1"
expect_exit 0 -o json snapshot list
check_json "three kept" "len(d) == 3"

# A newer prepared snapshot does not replace a running demo's data; the
# dependency's label snapshot: latest (or an id) does.
newest=$(python3 -c "import json; print(json.load(open('$work/out'))[-1]['id'])")
expect_exit 0 snapshot prepare "$newest"
expect_exit 0 --state "$work/demo.db" apply
expect_exit 0 --state "$work/demo.db" -o json status
check_json "the demo keeps its snapshot" "[i['snapshot'] for i in d['instances'] if i['component'] == 'db'] == ['$id']"
sed -i 's/labels: {demo: a,/labels: {demo: a, snapshot: latest,/' demo-a.yaml
expect_exit 0 --state "$work/demo.db" policy apply --user admin -f demo-a.yaml
expect_exit 0 --state "$work/demo.db" -o json status
check_json "snapshot: latest moves it" "[i['snapshot'] for i in d['instances'] if i['component'] == 'db'] == ['$newest']"
sed -i "s/snapshot: latest/snapshot: $id.x/" demo-a.yaml
expect_exit 1 --state "$work/demo.db" policy apply --user admin -f demo-a.yaml
contains "an id that is not prepared is named" "snapshot $id.x (label snapshot) of dataset demo/shop-demo is not prepared on cluster demo-shop"
expect_exit 0 --state "$work/demo.db" policy delete --user admin -f demo-a.yaml
if [ -z "$(docker ps -aq --filter label=cairn.cluster=demo-shop)" ]; then ok; else fail "containers left after the demo's dependency went"; fi

# Demos: a request makes demo-<random> and converges it; its app answers
# with the data; list shows it; refresh moves its data to a newer snapshot
# and keeps it there; delete removes everything it ran.
expect_exit 0 --state "$work/demo.db" -o json demo request --contract demo/shop --user admin --ttl 2h --requested-by sales
check_json "request's JSON" "d['id'].startswith('demo/demo-') and d['host'] == d['id'][len('demo/demo-'):] + '.demo.localhost' and d['url'].startswith('http://') and d['apply']['unsuccessful'] == 0"
demo_id=$(python3 -c "import json; print(json.load(open('$work/out'))['id'])")
demo_url=$(python3 -c "import json; print(json.load(open('$work/out'))['url'])")
page=""
for _ in $(seq 50); do page=$(curl -fsS "$demo_url" 2>/dev/null || true); case "$page" in *"<td align=\"right\">50</td>"*) break ;; esac; sleep 0.1; done
case "$page" in *"<td align=\"right\">50</td>"*"@example.com"*) passes=$((passes + 1)) ;; *) echo "FAIL: the demo at $demo_url: $page"; failures=$((failures + 1)) ;; esac
expect_exit 0 --state "$work/demo.db" -o json demo list
check_json "list shows the demo" "[(x['state'], x['snapshot'], x['build'], x['requested_by']) for x in d if x['id'] == '$demo_id'] == [('running', '$newest', '2026.12.1', 'sales')]"
check_json "it expires in two hours" "7100 < __import__('calendar').timegm(__import__('time').strptime([x for x in d if x['id'] == '$demo_id'][0]['expires'], '%Y-%m-%dT%H:%M:%SZ')) - __import__('time').time() <= 7200"
sleep 1 # a snapshot id has one-second resolution
expect_exit 0 -o json snapshot create demo/shop-demo
newer=$(python3 -c "import json; print(json.load(open('$work/out'))['id'])")
expect_exit 0 snapshot prepare "$newer"
expect_exit 0 --state "$work/demo.db" -o json demo refresh "$demo_id" --user admin
check_json "refresh moves the data" "d['snapshot'] == '$newer'"
expect_exit 0 --state "$work/demo.db" -o json status
check_json "the database runs it" "[i['snapshot'] for i in d['instances'] if i['component'] == 'db'] == ['$newer'] and d['dependencies'][0]['id'] == '$demo_id'"
sleep 1
expect_exit 0 -o json snapshot create demo/shop-demo
expect_exit 0 snapshot prepare "$(python3 -c "import json; print(json.load(open('$work/out'))['id'])")"
expect_exit 0 --state "$work/demo.db" apply
expect_exit 0 --state "$work/demo.db" -o json status
check_json "a snapshot prepared after the refresh leaves it" "[i['snapshot'] for i in d['instances'] if i['component'] == 'db'] == ['$newer']"
expect_exit 2 --state "$work/demo.db" demo request --user admin
expect_exit 3 --state "$work/demo.db" demo request --contract demo/shop --user admin --ttl soon
contains "a bad ttl is named" "ttl 'soon' is not a positive duration"
expect_exit 3 --state "$work/demo.db" demo request --contract demo/nope --user admin
expect_exit 3 --state "$work/demo.db" demo delete demo/nope --user admin
contains "a missing demo is named" "there is no dependency demo/nope"
expect_exit 0 --state "$work/demo.db" -o json demo delete "$demo_id" --user admin
check_json "delete's JSON" "d['deleted'] == '$demo_id' and d['apply']['unsuccessful'] == 0"
if [ -z "$(docker ps -aq --filter label=cairn.cluster=demo-shop)" ]; then ok; else fail "containers left after the demo went"; fi

# A snapshot whose build is a component's image tag: that component must run
# it. Here the app runs 2026.12.1 against data of build 2026.12.7: refused,
# naming both, and the app does not start.
sed 's|build: "2026.12.1"|build: {dependency: prod, component: app}|' dataset.yaml >built.yaml
expect_exit 0 policy apply --no-apply --user admin -f app.yaml -f built.yaml
expect_exit 0 -o json snapshot create demo/shop-demo
other_build=$(python3 -c "import json; print(json.load(open('$work/out'))['id'])")
expect_exit 0 policy apply --no-apply --user admin -f dataset.yaml
expect_exit 0 snapshot prepare "$other_build"
cat >pinned.yaml <<YAML
- kind: service
  metadata: {namespace: demo, name: shop-pinned}
  components:
    - {name: db, code: {type: docker, params: {cluster: demo-shop, data: {dataset: demo/shop-demo}}}}
    - {name: app, code: {type: docker, params: {cluster: demo-shop, image: "cairn/shop-app:2026.12.1"}}, dependencies: [db]}
- {kind: contract, metadata: {namespace: demo, name: shop-pinned}, contexts: [{name: m, allocation: {service: shop-pinned}}]}
- {kind: dependency, metadata: {namespace: demo, name: demo-m}, user: admin, contract: shop-pinned, labels: {snapshot: $other_build}}
YAML
expect_exit 1 --state "$work/demo.db" policy apply --user admin -f pinned.yaml
contains "an app of another build is refused, naming both" "params: image cairn/shop-app:2026.12.1 is build 2026.12.1, but its data (snapshot $other_build of dataset demo/shop-demo) is build 2026.12.7"
if [ -z "$(docker ps -aq --filter 'label=cairn.instance=demo-shop#demo#shop-pinned#m#app')" ]; then ok; else fail "the app of another build started"; fi
expect_exit 0 --state "$work/demo.db" policy delete --user admin -f pinned.yaml

# Snapshots kept in S3-compatible storage (a local s3rver, tools/s3): made
# here, stored in the bucket where keep applies, listed from it, fetched back
# (each file checked by its SHA-256) to restore; deleted from it.
s3=$("$repo/tools/s3" start "$work/s3")
printf 'S3RVER\n' >s3.access
printf 'S3RVER\n' >s3.secret
sed "s/name: shop-demo}/name: shop-s3}/; s|^  keep: 3$|  keep: 2\n  store: {s3: {endpoint: \"$s3\", bucket: snapshots, prefix: cli/, access_key_file: s3.access, secret_key_file: s3.secret}}|" dataset.yaml >s3.yaml
expect_exit 0 policy apply --no-apply --user admin -f s3.yaml
s3_ids=()
for n in 1 2 3; do
	[ "$n" = 1 ] || sleep 1
	expect_exit 0 -o json snapshot create demo/shop-s3 --store "$work/s3cache"
	s3_ids+=("$(python3 -c "import json; print(json.load(open('$work/out'))['id'])")")
done
check_json "stored in the bucket, keep applied there, no credential shown" "d['stored'] == 's3://snapshots/cli/' and d['pruned_stored'] == ['${s3_ids[0]}'] and 'S3RVER' not in open('$work/out').read() + err"
expect_exit 0 -o json snapshot list demo/shop-s3 --store "$work/s3cache"
check_json "list reads the bucket" "[m['id'] for m in d] == ['${s3_ids[1]}', '${s3_ids[2]}'] and {m['stored'] for m in d} == {'s3://snapshots/cli/'}"
rm -rf "$work/s3cache/${s3_ids[1]}" # not here any more: the restore fetches it
psql -X -q -d "$(url_of postgres)" -c "DROP DATABASE IF EXISTS copy3" -c "CREATE DATABASE copy3"
expect_exit 0 -o json snapshot restore "${s3_ids[1]}" --into "$(url_of copy3)" --store "$work/s3cache"
check_json "a restore fetches from the bucket" "d['rows'] > 500"
rm -rf "$work/s3cache/${s3_ids[2]}"
python3 -c "
import glob
p = glob.glob('$work/s3/data/snapshots/cli/${s3_ids[2]}/public.customer.json.gz._S3rver_object')[0]
b = bytearray(open(p, 'rb').read()); b[20] ^= 0xff; open(p, 'wb').write(bytes(b))"
expect_exit 1 snapshot show "${s3_ids[2]}" --store "$work/s3cache"
contains "a damaged object is refused" "its SHA-256 is"
if [ ! -e "$work/s3cache/${s3_ids[2]}" ]; then ok; else fail "a damaged fetch left a snapshot"; fi
expect_exit 0 snapshot delete "${s3_ids[1]}" --store "$work/s3cache"
expect_exit 0 -o json snapshot list demo/shop-s3 --store "$work/s3cache"
check_json "delete removes it from the bucket" "[m['id'] for m in d] == ['${s3_ids[2]}']"
sed -i "s|secret_key_file: s3.secret|secret_key_file: no-such.secret|" s3.yaml
expect_exit 0 policy apply --no-apply --user admin -f s3.yaml
expect_exit 1 snapshot list demo/shop-s3 --store "$work/s3cache"
contains "a missing key file is named" "dataset demo/shop-s3: store: s3: secret_key_file: no-such.secret: No such file or directory"
"$repo/tools/s3" stop "$work/s3"

# A source the dataset cannot read: the error names it; nothing is left behind.
sed -i "s|\"customer_id <= 50\"|\"no_such_column = 1\"|" dataset.yaml
expect_exit 0 policy apply --no-apply --user admin -f dataset.yaml
expect_exit 1 snapshot create demo/shop-demo
check_json "bad root named" "'roots: where: querying table public.customer' in err and 'no_such_column' in err"
if [ "$(find snapshots -mindepth 1 -maxdepth 1 | wc -l)" = 3 ]; then ok; else fail "a failed create left something"; ls -la snapshots; fi

expect_exit 0 -o json snapshot delete "$newer"
check_json "delete's JSON" "d == {'deleted': '$newer'}"
expect_exit 1 snapshot delete "$newer"

echo "snapshot CLI: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
