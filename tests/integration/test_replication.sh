#!/usr/bin/env bash
# Backups and replicas end to end, for real, on the local engine: the
# replication example's production (PostgreSQL in a container with the
# demo-shop's rows, the app with a media volume of files); backups of it
# (the dump, the files; unchanged files not copied again; keep; delete);
# staging, a replica of it: production's rows and files, its build pinned
# while it is made; removed with its database but not its media; made
# again copying only what changed.
# usage: test_replication.sh CAIRN REPO
set -euo pipefail
cairn_bin="$1"
repo="$2"
ex="$repo/examples/replication"
work=$(mktemp -d /tmp/cairn-replication-XXXXXX)
server_pid=""
cleanup() {
	local rc=$?
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	"$repo/tools/s3" stop "$work/s3" >/dev/null 2>&1 || true
	docker ps -aq --filter label=cairn.cluster=replication | xargs -r docker rm -f >/dev/null 2>&1 || true
	docker ps -aq --filter label=cairn.helper | xargs -r docker rm -f >/dev/null 2>&1 || true
	docker volume ls -q --filter label=cairn.cluster=replication | xargs -r docker volume rm >/dev/null 2>&1 || true
	docker network ls -q --filter label=cairn.cluster=replication | xargs -r docker network rm >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
cd "$work"
. "$repo/tests/integration/checks.sh"
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
export CAIRN_STATE="$work/state.db" CAIRN_USERS="$ex/users.yaml" CAIRN_BACKUPS="$work/backups"

echo "== production: the shop's rows in its database, files in its media volume"
"$cairn_bin" policy apply --user admin -f "$ex/shop.yaml" >/dev/null
db=cairn-replication-main-shop-shop-prod-db
app=cairn-replication-main-shop-shop-prod-app
wait_for 30 docker exec "$db" pg_isready -q -h 127.0.0.1
docker exec "$db" psql -X -q -U postgres -c "CREATE ROLE shop LOGIN" -c "CREATE DATABASE shop OWNER shop"
docker exec -i "$db" psql -X -q -v ON_ERROR_STOP=1 -U shop -d shop <"$repo/examples/demo-shop/schema.sql"
docker exec -i "$db" psql -X -q -v ON_ERROR_STOP=1 -v scale=1 -U shop -d shop \
	<"$repo/examples/demo-shop/generate.sql" 2>/dev/null
customers=$(docker exec "$db" psql -X -tA -U shop -d shop -c "SELECT count(*) FROM customer")
docker exec "$app" sh -c 'mkdir -p /srv/media/img && for i in $(seq 1 20); do
	dd if=/dev/urandom of=/srv/media/img/p$i.jpg bs=1k count=$i 2>/dev/null; done &&
	ln -s img/p1.jpg /srv/media/logo.jpg'
media_bytes=$(docker exec "$app" sh -c 'cat /srv/media/img/* | wc -c')

echo "== a backup: the dump and every file, with the build"
"$cairn_bin" backup main/prod -o json >b1.json
first=$(json 'd["id"]' <b1.json)
check "the id names the dependency" grep -q '^main\.prod\.' <<<"$first"
check "the database's dump" test "$(json '[p["files"] > 2 and p["database"] for p in d["parts"] if p["kind"] == "postgres"]' <b1.json)" = "['shop']"
check "every file of the volume, copied" test "$(json '[(p["files"], p["bytes"], p["copied_files"]) for p in d["parts"] if p["kind"] == "volume"]' <b1.json)" = "[(20, $media_bytes, 20)]"
check "the build each component runs" test "$("$cairn_bin" backup show "$first" -o json | json 'd["build"]')" = "{'shop/db': 'cairn/postgres:15', 'shop/app': 'cairn/shop-app:2026.12.1'}"
check "the symlink and the directory are listed" test "$(json '[e["type"] for e in d["entries"] if e["path"] in ("img", "logo.jpg")]' <"backups/$first/volume-1.json")" = "['dir', 'symlink']"
check "no helper container is left" test -z "$(docker ps -aq --filter label=cairn.helper)"
check "the dump restores: the shop's customers" sh -c "
	docker run -d --name cairn-replication-check --label cairn.cluster=replication cairn/postgres:15 >/dev/null &&
	for i in \$(seq 100); do docker exec cairn-replication-check pg_isready -q -h 127.0.0.1 && break; sleep 0.1; done &&
	docker exec cairn-replication-check mkdir /tmp/dump &&
	for f in backups/$first/postgres-0.*; do docker cp -q \"\$f\" cairn-replication-check:/tmp/dump/\${f##*/postgres-0.}; done &&
	docker exec cairn-replication-check psql -X -q -c 'CREATE DATABASE shop' &&
	docker exec cairn-replication-check pg_restore -d shop -j 2 --no-owner /tmp/dump &&
	test \"\$(docker exec cairn-replication-check psql -X -tA -d shop -c 'SELECT count(*) FROM customer')\" = $customers"

echo "== again: unchanged files are not read or copied; a changed one is"
"$cairn_bin" backup main/prod -o json >b2.json
check "nothing new to copy" test "$(json '[p["copied_files"] for p in d["parts"] if p["kind"] == "volume"]' <b2.json)" = "[0]"
docker exec "$app" sh -c 'echo changed >/srv/media/img/p3.jpg && echo new >/srv/media/img/new.jpg'
"$cairn_bin" backup main/prod -o json >b3.json
check "the changed and the new file, their bytes only" test "$(json '[(p["files"], p["copied_files"], p["copied_bytes"]) for p in d["parts"] if p["kind"] == "volume"]' <b3.json)" = "[(21, 2, 12)]"
objects=$(find backups/.objects -type f | wc -l)
check "each content stored once" test "$objects" = 22

echo "== keep 3: the oldest is deleted, with contents only it had"
"$cairn_bin" backup main/prod -o json >b4.json
check "the first backup pruned" test "$(json 'd["pruned"]' <b4.json)" = "['$first']"
check "three kept" test "$("$cairn_bin" backup list main/prod -o json | json 'len(d)')" = 3
check "contents the others have are kept" test "$(find backups/.objects -type f | wc -l)" = 22
second=$(json 'd["id"]' <b2.json)
"$cairn_bin" backup delete "$second" >/dev/null
check "the old p3 went with the last backup that had it" test "$(find backups/.objects -type f | wc -l)" = 21
check "deleted" test "$("$cairn_bin" backup list -o json | json 'len(d)')" = 2
third=$(json 'd["id"]' <b3.json)
cp "backups/$third/volume-1.json" volume-1.json.saved
echo broken >"backups/$third/volume-1.json"
"$cairn_bin" backup main/prod >b-gc.txt 2>&1 && gc_rc=0 || gc_rc=$?
check "a list that cannot be read stops the collection, saying why" sh -c "test $gc_rc = 1 && grep -q 'backup main.prod.* was taken: unreferenced contents were kept: backup $third: volume-1.json' b-gc.txt"
check "and no content was deleted" test "$(find backups/.objects -type f | wc -l)" = 21
cp volume-1.json.saved "backups/$third/volume-1.json"

echo "== refusals"
check "an unknown backup" sh -c "'$cairn_bin' backup show main.prod.nope 2>&1 | grep -q 'no backup main.prod.nope in'"
check "an unknown dependency" sh -c "'$cairn_bin' backup main/none 2>&1 | grep -q 'no dependency main/none'"
docker stop -t 1 "$app" >/dev/null
count=$("$cairn_bin" backup list -o json | json 'len(d)')
check "a stopped container: nothing stored" sh -c "'$cairn_bin' backup main/prod 2>&1 | grep -q 'container $app is not running' && test \$('$cairn_bin' backup list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = $count"
check "no pending backup is left" test -z "$(find backups -maxdepth 1 -name '.*pending*')"

echo "== staging, a replica of production's newest backup"
docker start "$app" >/dev/null
"$cairn_bin" backup main/prod -o json >b5.json
newest=$(json 'd["id"]' <b5.json)
"$cairn_bin" policy apply --user admin -f "$ex/staging.yaml" >apply1.txt
sapp=cairn-replication-main-shop-shop-staging-app
sdb=cairn-replication-main-shop-shop-staging-db
check "the database restored from the newest backup" grep -q "ok *restore .*staging#db .*restored backup $newest" apply1.txt
check "the media synced: every file copied" grep -q "ok *sync .*cairn-replica-main-staging-media: 21 of 21 files copied" apply1.txt
check "staging answers with production's rows" sh -c "curl -sf http://127.0.0.1:\$(docker port $sapp 8080 | head -1 | cut -d: -f2)/ | grep -q '<td align=\"right\">$customers</td>'"
media_sums() { docker exec "$1" sh -c 'cd /srv/media && find . -type f | sort | xargs sha256sum && readlink logo.jpg'; }
check "staging has production's files" test "$(media_sums "$sapp")" = "$(media_sums "$app")"
check "and their times" test "$(docker exec "$sapp" stat -c %Y /srv/media/img/p5.jpg)" = "$(docker exec "$app" stat -c %Y /srv/media/img/p5.jpg)"
check "its media volume is the dependency's" test "$(docker inspect -f '{{range .Mounts}}{{.Name}} {{end}}' "$sapp")" = "cairn-replica-main-staging-media "
check "staging runs production's build" test "$(docker inspect -f '{{.Config.Image}}' "$sapp")" = cairn/shop-app:2026.12.1

echo "== another build while replicating is refused, naming both"
sed 's/build: "2026.12.1"/build: "2026.12.2"/; s/name: staging/name: other/; s/stack: staging/stack: other/' "$ex/staging.yaml" >other.yaml
"$cairn_bin" policy apply --user admin -f other.yaml >apply2.txt 2>&1 || true
check "refused with both tags" grep -q "failed *create .*other#app .*would run cairn/shop-app:2026.12.2, but backup $newest was taken with cairn/shop-app:2026.12.1" apply2.txt
check "no app of it runs" test -z "$(docker ps -q --filter name=cairn-replication-main-shop-shop-other-app)"
"$cairn_bin" policy delete --user admin -f other.yaml >/dev/null

echo "== stop: the stack and its database go, its media stays"
"$cairn_bin" policy delete --user admin -f "$ex/staging.yaml" >/dev/null
check "no container of staging" test -z "$(docker ps -aq --filter name=cairn-replication-main-shop-shop-staging)"
check "its database volume is gone" test -z "$(docker volume ls -q --filter name=cairn-replication-main-shop-shop-staging-db-pgdata)"
check "its media volume is kept" test -n "$(docker volume ls -q --filter name=cairn-replica-main-staging-media)"

echo "== again, after production changed: only what changed is copied"
docker exec "$app" sh -c 'echo again >/srv/media/img/p4.jpg && rm /srv/media/img/new.jpg'
"$cairn_bin" backup main/prod >/dev/null
"$cairn_bin" policy apply --user admin -f "$ex/staging.yaml" >apply3.txt
check "one file copied, its 6 bytes; one removed" grep -q "ok *sync .*: 1 of 20 files copied (6 of [0-9]* bytes), 1 removed" apply3.txt
check "staging has production's files again" test "$(media_sums "$sapp")" = "$(media_sums "$app")"
check "and a fresh database" test "$(docker exec "$sdb" psql -X -tA -U shop -d shop -c 'SELECT count(*) FROM customer')" = "$customers"
"$cairn_bin" policy apply --user admin -f "$ex/staging.yaml" >apply4.txt
check "applied again, nothing is replicated again" sh -c "! grep -q 'sync\|restore' apply4.txt"

echo "== killed while it restores: the next apply restores again"
"$cairn_bin" policy delete --user admin -f "$ex/staging.yaml" >/dev/null
"$cairn_bin" policy apply --user admin -f "$ex/staging.yaml" >apply6.txt 2>&1 &
apply_pid=$!
restoring() { grep -q '^restore of database' <<<"$(docker ps --filter label=cairn.helper --format '{{.Label "cairn.helper"}}')"; }
check "a restore runs" wait_for 30 restoring
kill -9 "$apply_pid"
wait "$apply_pid" 2>/dev/null || true
check "killed before its app was made" test -z "$(docker ps -aq --filter name=$sapp)"
"$cairn_bin" policy apply --user admin -f "$ex/staging.yaml" >apply7.txt
check "restored again" grep -q "ok *restore .*staging#db .*: restored backup" apply7.txt
check "then its app answers with production's rows" sh -c "curl -sf http://127.0.0.1:\$(docker port $sapp 8080 | head -1 | cut -d: -f2)/ | grep -q '<td align=\"right\">$customers</td>'"
check "the killed run's helper is gone" test -z "$(docker ps -aq --filter label=cairn.helper)"

echo "== cairn replica stop and start"
"$cairn_bin" replica stop main/staging --user admin >stop.txt
check "stopped: its stack and database are removed" test -z "$(docker ps -aq --filter name=cairn-replication-main-shop-shop-staging)$(docker volume ls -q --filter name=cairn-replication-main-shop-shop-staging)"
check "its media is kept" test -n "$(docker volume ls -q --filter name=cairn-replica-main-staging-media)"
check "the dependency says so" sh -c "'$cairn_bin' policy show | sed -n '/# dependency main\/staging/,/^#/p' | grep -q '\"stopped\": true'"
"$cairn_bin" replica start main/staging --user admin >start.txt
check "started: nothing to copy, restored" sh -c "grep -q 'ok *sync .*: 0 of 20 files copied' start.txt && grep -q 'ok *restore .*: restored backup' start.txt"
check "it answers again" sh -c "curl -sf http://127.0.0.1:\$(docker port $sapp 8080 | head -1 | cut -d: -f2)/ | grep -q '<td align=\"right\">$customers</td>'"
"$cairn_bin" status >status.txt
check "status shows what it was made from" grep -q "replica of main/prod" status.txt
check "and its steps with their times" sh -c "grep -q 'restore shop/db [0-9.]* s at .*: restored backup' status.txt && grep -q 'sync shop/app [0-9.]* s at .*: 0 of 20 files copied' status.txt"
check "status -o json has them" test "$("$cairn_bin" status -o json | json '[(d["replica"]["of"], sorted(s["step"] for s in d["replica"]["steps"])) for d in d["dependencies"] if d["id"] == "main/staging"]')" = "[('main/prod', ['restore', 'sync'])]"
check "a dependency that is not a replica is refused" sh -c "'$cairn_bin' replica stop main/prod --user admin 2>&1 | grep -q 'not a replica'"

echo "== once made, a replica takes a newer build like any dependency"
sed 's/build: "2026.12.1"/build: "2026.12.2"/' "$ex/staging.yaml" >staging-next.yaml
"$cairn_bin" policy apply --user admin -f staging-next.yaml >apply9.txt
check "the app updated, nothing replicated again" sh -c "grep -q 'ok *update .*staging#app' apply9.txt && ! grep -q 'sync\|restore' apply9.txt"
check "it runs the newer build" test "$(docker inspect -f '{{.Config.Image}}' "$sapp")" = cairn/shop-app:2026.12.2
check "with production's rows still" sh -c "curl -sf http://127.0.0.1:\$(docker port $sapp 8080 | head -1 | cut -d: -f2)/ | grep -q '<td align=\"right\">$customers</td>'"

echo "== cairn serve backs production up at its schedule"
sed 's/  backup: {keep: 3}/  backup: {keep: 3, schedule: "00:00"}/' "$ex/shop.yaml" >shop-scheduled.yaml
grep -q 'schedule: "00:00"' shop-scheduled.yaml
"$cairn_bin" policy apply --user admin -f shop-scheduled.yaml >/dev/null
newest_backup() { "$cairn_bin" backup list main/prod -o json | json 'd[-1]["id"]'; }
last=$(newest_backup)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listen: 127.0.0.1:%s\nstate: %s\nworkers: 1\ndemos:\n  schedule_interval: 1s\n' "$port" "$CAIRN_STATE" >serve.yaml
"$cairn_bin" serve --config serve.yaml 2>serve.log &
server_pid=$!
scheduled() { grep -q 'queued dependency-backup of main/prod (schedule 00:00)' serve.log && [ "$(newest_backup)" != "$last" ]; }
check "a backup is queued and taken" wait_for 60 scheduled
check "once a day: queued once" sh -c "sleep 2; test \$(grep -c 'queued dependency-backup of main/prod' serve.log) = 1"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
check "keep still holds" test "$("$cairn_bin" backup list main/prod -o json | json 'len(d)')" -le 3

echo "== backups kept in an S3-compatible bucket; a replica elsewhere fetches from it"
s3=$("$repo/tools/s3" start "$work/s3")
printf 'S3RVER\n' >s3.access
printf 'S3RVER\n' >s3.secret
sed "s|  backup: {keep: 3}|  backup: {keep: 2, store: {s3: {endpoint: \"$s3\", bucket: snapshots, prefix: backups/, access_key_file: s3.access, secret_key_file: s3.secret}}}|" "$ex/shop.yaml" >shop-s3.yaml
grep -q 'store: {s3:' shop-s3.yaml
"$cairn_bin" policy apply --user admin -f shop-s3.yaml >/dev/null
for n in 1 2 3; do "$cairn_bin" backup main/prod -o json >s3-b$n.json; done
bucket_ids() { find "$work/s3/data/snapshots/backups" -name 'manifest.json*' | sed 's|.*/backups/||; s|/.*||' | sort -u; }
check "published, and keep 2 applied in the bucket" test "$(bucket_ids | tr '\n' ' ')" = "$(json 'd["id"]' <s3-b2.json) $(json 'd["id"]' <s3-b3.json) "
check "the bucket's pruned id is said" test "$(json 'd["pruned"]' <s3-b3.json | grep -c "$(json 'd["id"]' <s3-b1.json)")" = 1
check "each content once in the bucket" test "$(find "$work/s3/data/snapshots/backups/objects" -type f -name '*._S3rver_object' | wc -l)" = 20
check "no credential in what was said" sh -c "! grep -q S3RVER s3-b3.json"
sed 's/name: staging/name: elsewhere/; s/stack: staging/stack: elsewhere/' "$ex/staging.yaml" >elsewhere.yaml
CAIRN_BACKUPS="$work/elsewhere-backups" "$cairn_bin" policy apply --user admin -f elsewhere.yaml >apply8.txt
check "a replica with an empty backup directory is made from the bucket" grep -q "ok *restore .*elsewhere#db .*restored backup $(json 'd["id"]' <s3-b3.json)" apply8.txt
check "with every file" grep -q "ok *sync .*: 20 of 20 files copied" apply8.txt
check "its page answers with production's rows" sh -c "curl -sf http://127.0.0.1:\$(docker port cairn-replication-main-shop-shop-elsewhere-app 8080 | head -1 | cut -d: -f2)/ | grep -q '<td align=\"right\">$customers</td>'"
CAIRN_BACKUPS="$work/elsewhere-backups" "$cairn_bin" policy delete --user admin -f elsewhere.yaml >/dev/null
"$repo/tools/s3" stop "$work/s3" >/dev/null

echo "== a replica of a dependency without a backup fails closed"
sed 's/name: staging/name: orphan/; s/stack: staging/stack: orphan/; s/of: prod/of: staging/' "$ex/staging.yaml" >orphan.yaml
"$cairn_bin" policy apply --user admin -f orphan.yaml >apply5.txt 2>&1 || true
check "says there is no backup and how to make one" grep -q "dependency main/staging has no backup in .*: run \`cairn backup main/staging\`" apply5.txt
check "nothing of it runs" test -z "$(docker ps -q --filter name=cairn-replication-main-shop-shop-orphan)"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
