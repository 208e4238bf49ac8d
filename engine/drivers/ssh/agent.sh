# cairn's agent on a host of an ssh cluster: run as `sh -c AGENT cairn-agent
# COMMAND ARGS…` by the ssh driver (it is sent with each command, so the host
# needs nothing but a POSIX sh, tar, and nginx/curl when routes or HTTP health
# checks are used). It only touches what lives under ROOT (and the nginx it
# is told to reload). Messages on stderr end up in cairn's error messages.
set -u
umask 022

die() { echo "$*" >&2; exit 1; }

# JSON string of $1 (paths and names cairn made, or a link changed by hand)
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n\r\t')"; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -f "$1" ] && cat "$1" 2>/dev/null; }

# ---- observe: everything the driver needs, one JSON document ----
cmd_observe() {
	root=$1
	printf '{"agent":1,"releases":['
	sep=
	if [ -d "$root/releases" ]; then
		for r in "$root"/releases/*; do
			[ -d "$r" ] || continue
			case ${r##*/} in .*) continue ;; esac
			printf '%s%s' "$sep" "$(jstr "${r##*/}")"
			sep=,
		done
	fi
	printf '],"instances":['
	isep=
	if [ -d "$root/run" ]; then
		for d in "$root"/run/*/; do
			[ -f "$d/key.json" ] || continue
			name=$(basename "$d")
			printf '%s{"name":%s,"key":%s' "$isep" "$(jstr "$name")" "$(cat "$d/key.json")"
			isep=,
			if [ -f "$root/state/$name.json" ]; then
				printf ',"state":%s' "$(cat "$root/state/$name.json")"
			fi
			if [ -L "$d/current" ]; then
				printf ',"current":%s' "$(jstr "$(readlink "$d/current")")"
			fi
			printf ',"running":['
			sep=
			for p in "$d"*.pid; do
				case $p in *.app.pid) continue ;; esac
				[ -f "$p" ] || continue
				rid=$(basename "$p" .pid)
				if alive "$(pid_of "$p")"; then
					printf '%s%s' "$sep" "$(jstr "$rid")"
					sep=,
				fi
			done
			printf '],"stored":['
			sep=
			for s in "$d"*.spec; do
				[ -f "$s" ] || continue
				printf '%s%s' "$sep" "$(jstr "$(basename "$s" .spec)")"
				sep=,
			done
			printf ']}'
		done
	fi
	printf ']}\n'
}

# ---- upload: the artifact on stdin becomes ROOT/releases/HASH ----
cmd_upload() {
	root=$1 hash=$2 kind=$3
	mkdir -p "$root/releases" || exit 1
	[ -d "$root/releases/$hash" ] && { cat >/dev/null; exit 0; }
	tmp=$root/releases/.new-$hash-$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	case $kind in
	tgz) tar -xzf - -C "$tmp" --no-same-owner || { rm -rf "$tmp"; die "unpacking the artifact failed"; } ;;
	*) tar -xf - -C "$tmp" --no-same-owner || { rm -rf "$tmp"; die "unpacking the artifact failed"; } ;;
	esac
	mv -T "$tmp" "$root/releases/$hash" 2>/dev/null || rm -rf "$tmp" # another upload won the race
	[ -d "$root/releases/$hash" ] || die "release $hash could not be stored"
}

# ---- the supervisor cairn installs on the host ----
install_supervisor() {
	mkdir -p "$root/bin"
	tmp=$root/bin/.cairn-supervise.$$
	cat >"$tmp" <<'SUPERVISOR'
#!/bin/sh
# cairn's supervisor: runs one release of one instance (ROOT INSTANCE RELEASE),
# restarts it when it exits (backoff 1, 2, 4 … 30 s; reset after 30 s up),
# appends its output to ROOT/log/INSTANCE.log. SIGTERM stops it: the app gets
# SIGTERM, then SIGKILL after its grace period.
root=$1 inst=$2 rid=$3
run=$root/run/$inst
log=$root/log/$inst.log
. "$run/$rid.spec"
echo $$ >"$run/$rid.pid"
child=
stopping=
stop() {
	stopping=1
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null
		i=0
		while kill -0 "$child" 2>/dev/null && [ $i -lt $((STOP_GRACE * 10)) ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$child" 2>/dev/null
	fi
	[ -n "$SOCKET" ] && rm -f "$SOCKET"
	rm -f "$run/$rid.pid" "$run/$rid.app.pid"
	echo "cairn-supervise: $rid stopped" >>"$log"
	exit 0
}
trap stop TERM INT HUP
delay=1
while [ -z "$stopping" ]; do
	[ -n "$SOCKET" ] && rm -f "$SOCKET"
	started=$(date +%s)
	(cd "$root/releases/$RELEASE" && set -a && . "$run/$rid.env" && set +a && exec sh -c "$START") >>"$log" 2>&1 </dev/null &
	child=$!
	echo "$child" >"$run/$rid.app.pid"
	wait "$child"
	code=$?
	[ -n "$stopping" ] && break
	kill -0 "$child" 2>/dev/null && continue # wait was interrupted, the app runs
	if [ $(($(date +%s) - started)) -ge 30 ]; then delay=1; fi
	echo "cairn-supervise: $rid exited ($code), restarting in ${delay}s" >>"$log"
	sleep "$delay" &
	wait $!
	delay=$((delay * 2))
	[ $delay -gt 30 ] && delay=30
done
SUPERVISOR
	if cmp -s "$tmp" "$root/bin/cairn-supervise"; then
		rm -f "$tmp"
	else
		chmod 755 "$tmp" && mv -f "$tmp" "$root/bin/cairn-supervise"
	fi
}

start_rid() { # inst rid: unless its supervisor runs
	r=$1
	alive "$(pid_of "$run/$r.pid")" && return 0
	[ -f "$run/$r.spec" ] || die "release $r of $inst is not on this host any more (no $run/$r.spec)"
	rel=$(sed -n "s/^RELEASE='\(.*\)'\$/\1/p" "$run/$r.spec")
	[ -d "$root/releases/$rel" ] || die "release directory $root/releases/$rel is missing"
	echo "cairn-supervise: starting $r" >>"$root/log/$inst.log"
	if command -v setsid >/dev/null 2>&1; then
		setsid sh "$root/bin/cairn-supervise" "$root" "$inst" "$r" </dev/null >/dev/null 2>&1 &
	else
		nohup sh "$root/bin/cairn-supervise" "$root" "$inst" "$r" </dev/null >/dev/null 2>&1 &
	fi
	i=0
	while [ ! -f "$run/$r.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

stop_rid() {
	p=$(pid_of "$run/$1.pid")
	alive "$p" && kill -TERM "$p" 2>/dev/null
	i=0
	while alive "$p" && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
	alive "$p" && kill -KILL "$p" 2>/dev/null
	rm -f "$run/$1.pid"
}

healthy() { # rid: once
	(
		. "$run/$1.spec"
		if [ -n "$HEALTH_HTTP" ]; then
			command -v curl >/dev/null 2>&1 || { echo "an http health check needs curl on the host" >&2; exit 2; }
			if [ -n "$SOCKET" ]; then
				curl -fsS -o /dev/null --max-time 2 --unix-socket "$SOCKET" "http://localhost$HEALTH_HTTP" 2>/dev/null
			else
				curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT$HEALTH_HTTP" 2>/dev/null
			fi
		elif [ -n "$HEALTH_CMD" ]; then
			cd "$root/releases/$RELEASE" && set -a && . "$run/$1.env" && set +a && sh -c "$HEALTH_CMD" >/dev/null 2>&1
		elif [ -n "$SOCKET" ]; then
			[ -S "$SOCKET" ]
		else
			true
		fi
	)
}

wait_healthy() { # rid timeout_s
	end=$(($(date +%s) + $2))
	while :; do
		healthy "$1"
		rc=$?
		[ $rc -eq 0 ] && return 0
		[ $rc -eq 2 ] && return 1
		if ! alive "$(pid_of "$run/$1.app.pid")" && ! alive "$(pid_of "$run/$1.pid")"; then
			echo "release $1 of $inst exited; last lines of $root/log/$inst.log:" >&2
			tail -n 15 "$root/log/$inst.log" >&2
			return 1
		fi
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "release $1 of $inst did not pass its health check within $2 s; last lines of $root/log/$inst.log:" >&2
			tail -n 15 "$root/log/$inst.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

nginx_reload() {
	[ -n "$nginx_conf" ] || return 0
	command -v nginx >/dev/null 2>&1 || die "routes need nginx on the host"
	out=$(nginx -t -q -c "$nginx_conf" 2>&1) || die "nginx -t refused the configuration: $out"
	np=$(pid_of "$nginx_pid")
	alive "$np" || die "nginx is not running (no live pid in $nginx_pid)"
	before=$(workers_of "$np")
	kill -HUP "$np"
	# The reload is done once a worker started after it exists: until then
	# the old workers answer with the old routes (a new route would 404).
	i=0
	while :; do
		fresh=
		for w in $(workers_of "$np"); do
			case " $before " in *" $w "*) ;; *) fresh=1 ;; esac
		done
		[ -n "$fresh" ] && break
		[ $i -ge 100 ] && die "nginx did not start workers with the new configuration within 5 s"
		sleep 0.05
		i=$((i + 1))
	done
	# An old worker accepts until it has handled the master's QUIT: give
	# them up to a second to go (one serving a long request may stay).
	i=0
	while [ $i -lt 20 ]; do
		old=
		for w in $(workers_of "$np"); do
			case " $before " in *" $w "*) old=1 ;; esac
		done
		[ -z "$old" ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
}

workers_of() { # master pid: its children's pids, space separated
	for s in /proc/[0-9]*/stat; do
		read -r pid _ _ ppid _ <"$s" 2>/dev/null || continue
		[ "$ppid" = "$1" ] && printf '%s ' "$pid"
	done
}

write_file() { # rel content
	f=$root/nginx/$1
	mkdir -p "$(dirname "$f")"
	printf '%s' "$2" >"$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"
}

# files of an instance that the final stage does not list go
prune_nginx() { # keep-list (newline separated rel paths)
	for f in "$root/nginx/up/$inst.conf" "$root/nginx/srv/preview-$inst.conf" "$root/nginx"/loc/*/"$inst.conf"; do
		[ -f "$f" ] || continue
		rel=${f#"$root/nginx/"}
		printf '%s\n' "$1" | grep -qxF "$rel" || rm -f "$f"
	done
	for d in "$root/nginx"/loc/*/; do
		[ -d "$d" ] || continue
		h=$(basename "$d")
		if [ -z "$(ls -A "$d")" ]; then
			rmdir "$d" && rm -f "$root/nginx/srv/$h.conf"
		fi
	done
}

gc_releases() {
	keep=$(cat "$root"/run/*/*.spec 2>/dev/null | sed -n "s/^RELEASE='\(.*\)'\$/\1/p" | sort -u)
	for r in "$root"/releases/*; do
		[ -d "$r" ] || continue
		printf '%s\n' "$keep" | grep -qxF "${r##*/}" || rm -rf "$r"
	done
}

# one nginx change at a time per host; not held while draining
lock() {
	mkdir -p "$root/nginx"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$root/nginx/.lock"
		flock 9
	fi
}
unlock() { exec 9>&-; }

# ---- activate: make PRIMARY (and ALSO, a canary) the live releases ----
# activate ROOT INST KEY PRIMARY ALSO GRACE TIMEOUT NGINX_CONF NGINX_PID STATE
#          NEW_RID NEW_SPEC N1 [REL TEXT]… N2 [REL TEXT]…   (stdin: NEW_RID's env)
cmd_activate() {
	root=$1 inst=$2 key=$3 primary=$4 also=$5 grace=$6 timeout=$7 nginx_conf=$8 nginx_pid=$9
	shift 9
	state=$1 new=$2 spec=$3
	shift 3
	run=$root/run/$inst
	mkdir -p "$run" "$root/log" "$root/state" "$root/nginx" || exit 1
	printf '%s' "$key" >"$run/key.json"
	install_supervisor
	if [ "$new" != - ]; then
		printf '%s' "$spec" >"$run/$new.spec.tmp" && mv -f "$run/$new.spec.tmp" "$run/$new.spec"
		(umask 077 && cat >"$run/$new.env.tmp") && mv -f "$run/$new.env.tmp" "$run/$new.env"
	fi
	for r in $primary $also; do
		[ "$r" = - ] && continue
		start_rid "$r"
		if ! wait_healthy "$r" "$timeout"; then
			[ "$r" = "$new" ] && stop_rid "$r"
			exit 1
		fi
	done
	printf '%s' 'include '"$root"'/nginx/up/*.conf;
include '"$root"'/nginx/srv/*.conf;
' >"$root/nginx/cairn.conf.tmp" && mv -f "$root/nginx/cairn.conf.tmp" "$root/nginx/cairn.conf"
	n=$1
	shift
	if [ "$n" -gt 0 ]; then # preview: the new release on its own host name, no user traffic yet
		lock
		while [ "$n" -gt 0 ]; do write_file "$1" "$2"; shift 2; n=$((n - 1)); done
		nginx_reload
	else
		lock
	fi
	n=$1
	shift
	keep=
	while [ "$n" -gt 0 ]; do
		write_file "$1" "$2"
		keep="$keep
$1"
		shift 2
		n=$((n - 1))
	done
	prune_nginx "$keep"
	nginx_reload
	unlock
	rel=$(sed -n "s/^RELEASE='\(.*\)'\$/\1/p" "$run/$primary.spec")
	ln -sfn "$root/releases/$rel" "$run/current.tmp" && mv -T "$run/current.tmp" "$run/current"
	printf '%s\n' "$state" >"$root/state/$inst.json.tmp" && mv -f "$root/state/$inst.json.tmp" "$root/state/$inst.json"
	# the old releases drain: nginx's old workers finish their requests
	others=
	for p in "$run"/*.pid; do
		case $p in *.app.pid) continue ;; esac
		[ -f "$p" ] || continue
		r=$(basename "$p" .pid)
		[ "$r" = "$primary" ] || [ "$r" = "$also" ] || others="$others $r"
	done
	[ -n "$others" ] && sleep "$grace"
	for r in $others; do stop_rid "$r"; done
	# keep the spec of the release before (rollback), forget older ones
	prev=$(printf '%s' "$state" | sed -n 's/.*"previous":"\([0-9a-f]*\)".*/\1/p')
	for s in "$run"/*.spec; do
		[ -f "$s" ] || continue
		r=$(basename "$s" .spec)
		[ "$r" = "$primary" ] || [ "$r" = "$also" ] || [ "$r" = "$prev" ] || rm -f "$s" "$run/$r.env"
	done
	gc_releases
}

# ---- delete: stop an instance and remove everything of it ----
# stop: the instance's processes end and its routes go; its state and
# releases stay, so the next activate starts the same release again.
stop_instance() {
	run=$root/run/$inst
	[ -d "$run" ] || return 1
	lock
	for p in "$run"/*.pid; do
		case $p in *.app.pid) continue ;; esac
		[ -f "$p" ] && stop_rid "$(basename "$p" .pid)"
	done
	prune_nginx ""
	[ -f "$root/nginx/cairn.conf" ] && nginx_reload
	return 0
}

cmd_stop() {
	root=$1 inst=$2 nginx_conf=$3 nginx_pid=$4
	stop_instance || exit 0
}

cmd_delete() {
	root=$1 inst=$2 nginx_conf=$3 nginx_pid=$4
	stop_instance || exit 0
	rm -rf "$run" "$root/state/$inst.json"
	gc_releases
}

cmd_logs() {
	root=$1 inst=$2 follow=$3
	[ -f "$root/log/$inst.log" ] || die "no log for $inst on this host"
	if [ "$follow" = 1 ]; then exec tail -n 100 -f "$root/log/$inst.log"; fi
	exec cat "$root/log/$inst.log"
}

cmd=$1
shift
case $cmd in
observe) cmd_observe "$@" ;;
upload) cmd_upload "$@" ;;
activate) cmd_activate "$@" ;;
stop) cmd_stop "$@" ;;
delete) cmd_delete "$@" ;;
logs) cmd_logs "$@" ;;
*) die "cairn-agent: unknown command $cmd" ;;
esac
