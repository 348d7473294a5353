#!/bin/bash
# checks.sh - runs inside the VM of tests/vm/systemd/run, as the oneshot
# kwarden-vmcheck.service once kwarden.target and docker.service are up:
# checks kwarden as systemd runs it and prints one `ok`/`FAIL` line per
# check and a final `N passed, N failed` on the second serial port (the
# host reads it) and the journal. The unit powers the VM off afterwards.
set -u
export LC_ALL=C PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin

KW=/opt/kwcheck
RUN=/run/kwarden
DB=/var/lib/kwarden/kwarden.db
CONF=/etc/kwarden/kwarden.conf
SERVICES="kwarden-reader kwarden-decider kwarden-recorder"
PREFIX=kwvm

if [ -c /dev/ttyS1 ]; then
	stty -F /dev/ttyS1 raw -echo 2>/dev/null
	exec 3>/dev/ttyS1
else
	exec 3>&1
fi

PASS=0
FAIL=0
say() { echo "$*" >&3; echo "$*"; }
ok() { say "ok   $*"; PASS=$((PASS + 1)); }
bad() { say "FAIL $*"; FAIL=$((FAIL + 1)); }
skip() { say "skip $*"; }
detail() { sed 's/^/    /' | head -n "${1:-20}" | while IFS= read -r l; do say "$l"; done; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
	local d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
# wait_for SECONDS COMMAND...: poll every 0.5 s until COMMAND succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.5
	done
}
prop() { systemctl show -P "$2" "$1.service"; }
ctl() { echo "$2" | socat -t 10 - "UNIX-CONNECT:$RUN/$1.ctl" 2>/dev/null; }
status() { ctl "$1" status | jq -r "$2" 2>/dev/null; }
journal() { journalctl -b -q --no-pager -o cat "$@"; }
now() { date +%s.%N; }
# journal_has UNIT PATTERN...: every PATTERN (grep -E) is in UNIT's journal.
journal_has() {
	local u=$1 p
	shift
	journal -u "$u" >/tmp/j.log 2>&1
	for p in "$@"; do
		grep -qiE -- "$p" /tmp/j.log || return 1
	done
}
# is COMMAND... VALUE: the command prints VALUE.
is() {
	local n=$# want=${!#}
	[ "$("${@:1:n-1}")" = "$want" ]
}
# more COMMAND... NUMBER: the command prints a number above NUMBER.
more() {
	local n=$# than=${!#} v
	v=$("${@:1:n-1}")
	[ -n "$v" ] && [ "$v" -gt "$than" ]
}
# restarted UNIT OLDPID: active again under another pid, one restart.
restarted() {
	[ "$(prop "$1" NRestarts)" = 1 ] && [ "$(prop "$1" ActiveState)" = active ] &&
		[ "$(prop "$1" MainPID)" != "$2" ]
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

say "kernel $(uname -r), systemd $(systemctl --version | awk 'NR == 1 { print $2 }')"

# --- the units came up by themselves at boot ------------------------------
check_units_up() {
	local s st n
	wait_for 60 systemctl is-active --quiet kwarden.target
	st=$(systemctl is-active kwarden.target)
	check "kwarden.target is active at boot ($st)" test "$st" = active
	for s in $SERVICES; do
		st=$(prop "$s" ActiveState)/$(prop "$s" SubState)
		n=$(prop "$s" NRestarts)
		check "$s.service active/running ($st), NRestarts=$n" \
			test "$st/$n" = "active/running/0"
	done
	# Warnings and errors so far (before any fault is injected below);
	# the recorder's word on a loss across a reboot is checked apart.
	journal -p warning -u kwarden-reader.service -u kwarden-decider.service \
		-u kwarden-recorder.service >/tmp/warn-all.log 2>&1
	grep -v 'did not deliver is lost' /tmp/warn-all.log >/tmp/warn.log
	if [ -s /tmp/warn.log ]; then
		bad "no warning or error in the three services' journal"
		detail </tmp/warn.log
	else
		ok "no warning or error in the three services' journal"
	fi
	st=$(systemctl is-active docker.service)
	check "docker.service is active ($st)" test "$st" = active
}

# --- kernel modules: modules-load.d at boot, the reader on their file -----
# check_modules DIR: loaded from /lib/modules/<kver>/DIR.
check_modules() {
	local m path first
	for m in sysinfo continfo; do
		path=$(modinfo -n "$m" 2>/dev/null)
		check "module $m loaded at boot from $path" \
			test -d "/sys/module/$m" -a "$path" = "/lib/modules/$(uname -r)/$1/$m.ko"
	done
	# early in boot: journald has its lines from the kernel log, by
	# identifier and not by unit
	journal -t systemd-modules-load >/tmp/ml.log 2>&1
	if grep -q "Inserted module 'sysinfo'" /tmp/ml.log &&
	    grep -q "Inserted module 'continfo'" /tmp/ml.log; then
		ok "systemd-modules-load inserted both (modules-load.d/kwarden.conf)"
	else
		bad "systemd-modules-load inserted both (modules-load.d/kwarden.conf)"
		detail </tmp/ml.log
	fi
	m=$(stat -c '%a %U' /proc/sysinfo_so1_202041390 2>/dev/null)
	check "/proc/sysinfo_so1_202041390 is 0400 root ($m)" test "$m" = "400 root"
	m=$(status reader .source_in_use)
	check "the reader's source is kmod (status: $m; CAP_DAC_READ_SEARCH reads the 0400 file)" \
		test "$m" = kmod
	first=$(journal -u kwarden-reader.service | sed -n 's/.*source: \([a-z]*\).*/\1/p' | head -n 1)
	check "the reader used kmod from its first sample (first 'source:' line: $first)" \
		test "$first" = kmod
}

# --- sockets and directories ----------------------------------------------
check_sockets() {
	local d f m bad_ones="" n=0
	d=$(stat -c '%a %U:%G' "$RUN")
	check "$RUN is 0750 kwarden:kwarden ($d)" test "$d" = "750 kwarden:kwarden"
	for f in reader.sock reader.ctl decider.sock decider.ctl recorder.ctl; do
		m=$(stat -c '%a %U:%G %F' "$RUN/$f" 2>/dev/null)
		n=$((n + 1))
		[ "$m" = "660 kwarden:kwarden socket" ] || bad_ones="$bad_ones $f($m)"
	done
	check "$n sockets are 0660 kwarden:kwarden${bad_ones:+:$bad_ones}" test -z "$bad_ones"
	d=$(stat -c '%a %U:%G' /var/lib/kwarden)
	check "/var/lib/kwarden is 0750 kwarden:kwarden ($d)" test "$d" = "750 kwarden:kwarden"
	m=$(stat -c '%a %U:%G' "$DB" 2>/dev/null)
	check "kwarden.db is 0640 kwarden:kwarden ($m)" test "$m" = "640 kwarden:kwarden"
}

# --- every user's processes are in the snapshot ---------------------------
# shellcheck disable=SC2016 # $p is jq's
JQ_NOBODY='any(.[]; .t == "snapshot" and .source == "kmod" and
	any(.procs[]; .pid == $p and .uid == 65534))'
check_nobody() {
	local pid
	setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 300 &
	pid=$!
	sleep 2.5
	# With the module's delta file the reader sends deltas; a sub gets a
	# whole snapshot at the next sample.
	timeout 60 kwarden-tap --sub 0:1 --type snapshot --count 1 \
		"$RUN/reader.sock" >/tmp/snap.json 2>/tmp/tap.err
	check "a process of nobody (pid $pid) is in the reader's snapshot, uid 65534" \
		jq -e -s --argjson p "$pid" "$JQ_NOBODY" /tmp/snap.json >/dev/null
	kill "$pid"
	wait "$pid" 2>/dev/null
}

# --- a busy container is removed and recorded -----------------------------
image_built=0
build_image() {
	[ "$image_built" = 1 ] && return 0
	docker build -q -t "$PREFIX-spin" "$KW/image" >/tmp/build.log 2>&1 || return 1
	image_built=1
}
gone() { ! docker inspect "$1" >/dev/null 2>&1; }
# deletion_row ID: the container's last row in deletions, as
# action|result|class (a Docker slower than decider.docker_timeout gives a
# first row "unknown: ..." and a last one "ok: settled: ...").
deletion_row() {
	local r
	r=$(sqlite3 -readonly "$DB" "SELECT action, result, class FROM deletions
		WHERE container_id = '$1' ORDER BY id DESC LIMIT 1" 2>/dev/null)
	echo "$r"
	[ -n "$r" ]
}
removed_ok() { [[ $1 =~ ^remove\|ok[^|]*\|high$ ]]; }
# hog NAME WHAT: run a busy container, expect it removed and its row in
# deletions.
hog() {
	local name=$1 what=$2 id t0 t1 row
	id=$(docker run -d --name "$name" --network none "$PREFIX-spin" 2>/tmp/run.log)
	if [ -z "$id" ]; then
		bad "$what: docker run --network none $PREFIX-spin"
		detail </tmp/run.log
		return
	fi
	t0=$(now)
	if wait_for 120 gone "$id"; then
		t1=$(now)
		ok "$what: busy container $name removed by the decider in $(elapsed "$t0" "$t1") s"
	else
		bad "$what: busy container $name removed by the decider"
		ctl decider containers | detail
		docker rm -f "$id" >/dev/null 2>&1
		return
	fi
	wait_for 10 deletion_row "$id"
	row=$(deletion_row "$id")
	check "$what: its row in deletions ($row)" removed_ok "$row"
}
check_container() {
	if ! build_image; then
		bad "docker build (FROM scratch, a static binary) inside the VM"
		detail </tmp/build.log
		return
	fi
	ok "docker build (FROM scratch, a static binary) inside the VM"
	hog "$PREFIX-cpu-hog" "container"
}

# The webhook's receiver: one request per connection, the body kept.
start_receiver() {
	socat TCP-LISTEN:9999,bind=127.0.0.1,reuseaddr,fork \
		EXEC:/opt/kwcheck/recv.sh >/dev/null 2>&1 &
}

# --- systemctl reload -----------------------------------------------------
check_reload() {
	local s p0 p1 r
	p0=$(prop kwarden-decider MainPID)
	systemctl reload kwarden-decider.service
	wait_for 10 is status decider .reloads 1
	r=$(status decider .reloads)
	p1=$(prop kwarden-decider MainPID)
	check "systemctl reload kwarden-decider: same pid ($p0 -> $p1), config reread (reloads=$r), $(prop kwarden-decider ActiveState)" \
		test "$p0" = "$p1" -a "$r" = 1 -a "$(prop kwarden-decider ActiveState)" = active
	for s in kwarden-reader kwarden-recorder; do
		p0=$(prop "$s" MainPID)
		systemctl reload "$s.service"
		sleep 1
		p1=$(prop "$s" MainPID)
		check "systemctl reload $s: same pid ($p0 -> $p1), $(prop "$s" ActiveState)" \
			test "$p0" = "$p1" -a "$(prop "$s" ActiveState)" = active
	done
}

# --- Docker restarts under the decider ------------------------------------
check_docker_restart() {
	local p0 p1 c
	p0=$(prop kwarden-decider MainPID)
	if ! systemctl restart docker.service; then
		bad "systemctl restart docker"
		return
	fi
	wait_for 60 is status decider .docker.connected true
	c=$(status decider .docker.connected)
	p1=$(prop kwarden-decider MainPID)
	check "docker restarted: decider kept its pid ($p0 -> $p1), NRestarts=$(prop kwarden-decider NRestarts), Docker connected again ($c)" \
		test "$p0" = "$p1" -a "$(prop kwarden-decider NRestarts)" = 0 -a "$c" = true
	hog "$PREFIX-cpu-hog2" "after docker restart"
}

# --- the watchdog restarts a stuck recorder, which resumes by seq ---------
check_watchdog() {
	local p0 p1 seq0 seq1 ep line t0 t1
	p0=$(prop kwarden-recorder MainPID)
	seq0=$(status recorder .committed.seq)
	# epochs go up to 2^63: jq would round them to a double
	ep=$(ctl decider status | sed -n 's/.*"pub":{"epoch":\([0-9]*\).*/\1/p')
	t0=$(now)
	kill -STOP "$p0"
	wait_for 120 restarted kwarden-recorder "$p0"
	t1=$(now)
	p1=$(prop kwarden-recorder MainPID)
	check "SIGSTOPped recorder restarted by the watchdog (pid $p0 -> $p1, NRestarts=$(prop kwarden-recorder NRestarts), $(elapsed "$t0" "$t1") s)" \
		test "$p1" != "$p0" -a "$(prop kwarden-recorder NRestarts)" = 1
	check "the journal says why: watchdog timeout" \
		journal_has kwarden-recorder.service "Watchdog timeout"
	line=$(journal -u kwarden-recorder.service "_PID=$p1" | grep -m1 'resuming after')
	seq1=$(echo "$line" | sed -n "s/.*resuming after epoch $ep seq \([0-9]*\).*/\1/p")
	check "the new recorder resumes after the committed seq (before the stop: epoch $ep seq $seq0; '${line##*: }')" \
		test "${seq1:-0}" -ge "$seq0"
	wait_for 20 more status recorder .committed.seq "${seq1:-0}"
	check "it goes on committing without a gap (committed seq $(status recorder .committed.seq), gaps $(status recorder .gaps))" \
		test "$(status recorder .gaps)" = 0 -a "$(status recorder .committed.seq)" -gt "$seq0"
}

# --- the wall clock stepped back an hour, then forward two ----------------
# Here, where it is harmless: the pipeline keeps sampling and committing
# (timers and rates run on the monotonic clock), a busy process keeps its
# CPU % in every sample, the rows' ts follow the wall clock while their
# seqs go on rising, and nothing is acted on.
q() { sqlite3 -readonly -cmd '.timeout 5000' "$DB" "$1" 2>/dev/null; }
# after SEQ: samples stored after the decider's seq SEQ (this epoch).
after() { q "SELECT count(*) FROM sys_metrics WHERE seq > $1 AND epoch = (SELECT max(epoch) FROM sys_metrics)"; }
# clock_step SECONDS WHAT: step the clock, then check the samples after
# it (those the decider published once it was stepped: above its seq then).
clock_step() {
	local d=$1 what=$2 sb s0 t0 ts n bad
	sb=$(status decider .pub.seq)
	t0=$(date +%s)
	date -s "@$((t0 + d))" >/dev/null
	s0=$(status decider .pub.seq)
	wait_for 60 more after "$s0" 4
	n=$(after "$s0")
	check "clock $what: sampling and commits go on ($n samples since)" test "$n" -ge 5
	ts=$(q "SELECT min(ts) || ' ' || max(ts) FROM sys_metrics WHERE seq > $s0
		AND epoch = (SELECT max(epoch) FROM sys_metrics)")
	check "clock $what: the rows' ts follow the wall clock ($ts, stepped to $((t0 + d)))" \
		awk -v r="$ts" -v w="$((t0 + d))" 'BEGIN { split(r, a, " "); exit !(a[1] >= w && a[2] <= w + 120) }'
	bad=$(q "SELECT count(*) FROM processes WHERE pid = $SPIN AND seq > $sb
		AND (cpu_pct < 1.0 OR cpu_pct > 100.0)")
	check "clock $what: the busy process keeps its CPU % in every sample ($(q "SELECT printf('%.1f..%.1f', min(cpu_pct), max(cpu_pct)) FROM processes WHERE pid = $SPIN AND seq > $sb"))" \
		test "$bad" = 0
}
check_clock() {
	local d0 o
	d0=$(q "SELECT count(*) FROM deletions")
	sh -c 'while :; do :; done' &
	SPIN=$!
	sleep 8	# a window of samples
	clock_step -3600 "back 1 h"
	clock_step 7200 "forward 2 h"
	date -s "@$(($(date +%s) - 3600))" >/dev/null
	kill "$SPIN"
	wait "$SPIN" 2>/dev/null
	o=$(q "SELECT min(seq) < max(seq) AND count(*) = count(DISTINCT seq) FROM sys_metrics
		WHERE epoch = (SELECT max(epoch) FROM sys_metrics)")
	check "clock: the seqs are still one a sample, in order" test "$o" = 1
	check "clock: no action taken across the steps ($(q "SELECT count(*) FROM deletions") rows, $d0 before)" \
		test "$(q "SELECT count(*) FROM deletions")" = "$d0"
	check "clock: all three daemons kept their pids (NRestarts $(prop kwarden-reader NRestarts)/$(prop kwarden-decider NRestarts)/$(prop kwarden-recorder NRestarts))" \
		test "$(prop kwarden-reader NRestarts)" = 0 -a "$(prop kwarden-decider NRestarts)" = 0
}

# --- a bad config: exit 2, no restart loop --------------------------------
check_bad_config() {
	local n0 st
	cp "$CONF" /tmp/kwarden.conf.good
	printf '\n[decider]\ndocker_timeout = soon\n' >>"$CONF"
	n0=$(prop kwarden-decider NRestarts)
	systemctl restart kwarden-decider.service 2>/dev/null
	sleep 5
	st="$(prop kwarden-decider ActiveState) status=$(prop kwarden-decider ExecMainStatus) NRestarts=$(prop kwarden-decider NRestarts)"
	check "bad config: decider failed with status 2 and was not restarted ($st, 5 s later)" \
		test "$st" = "failed status=2 NRestarts=$n0"
	check "the journal names the file, line and key" \
		journal_has kwarden-decider.service "$CONF:[0-9]*: decider.docker_timeout"
	cp /tmp/kwarden.conf.good "$CONF"
	systemctl reset-failed kwarden-decider.service
	systemctl start kwarden-decider.service
	wait_for 30 is status recorder .sub.connected true
	check "config fixed: decider active again, the recorder reconnected" \
		test "$(prop kwarden-decider ActiveState)" = active -a "$(status recorder .sub.connected)" = true
}

# --- systemctl stop kwarden.target ----------------------------------------
all_inactive() {
	local s
	for s in $SERVICES; do
		[ "$(prop "$s" ActiveState)" = inactive ] || return 1
	done
}
check_stop() {
	local t0 t1 s res="" left
	t0=$(now)
	systemctl stop kwarden.target
	# the target stops before the services it is ordered after: wait
	# for them too
	wait_for 60 all_inactive
	t1=$(now)
	for s in $SERVICES; do
		res="$res $(prop "$s" ActiveState)/$(prop "$s" Result)"
	done
	check "systemctl stop kwarden.target in $(elapsed "$t0" "$t1") s: all inactive, none killed on timeout ($res)" \
		test "$res" = " inactive/success inactive/success inactive/success"
	left=$(pgrep -u kwarden -a)
	check "no kwarden process left${left:+: $left}" test -z "$left"
	left=$(find "$RUN" -mindepth 1 2>/dev/null | tr '\n' ' ')
	check "no socket left in $RUN${left:+: $left}" test -z "$left"
}

# --- make install on the live system --------------------------------------
# As on a host that never had kwarden: uninstall what the image had, drop
# the user, then install from the tree (run/install.sh, what `make install`
# runs) with no DESTDIR. Install must create the user and reload systemd:
# otherwise the units fail with 217/USER until the next boot.
reloaded_since() {	# unix time, NeedDaemonReload
	journalctl -q --no-pager -o cat _PID=1 --since "@$1" | grep -q '^Reloading' &&
		[ "$2" = no ]
}
check_live_install() {
	local s st t0 bad_ones=""
	if ! (cd "$KW/src" && run/install.sh uninstall) >/tmp/uninstall.log 2>&1; then
		bad "live make uninstall"
		detail </tmp/uninstall.log
		return
	fi
	# with DKMS, the modules come from it alone, as on a host
	if have_dkms; then
		rm -f "/lib/modules/$(uname -r)/extra/sysinfo.ko" "/lib/modules/$(uname -r)/extra/continfo.ko"
		depmod
	fi
	userdel kwarden 2>/dev/null
	groupdel kwarden 2>/dev/null
	check "live uninstall: units gone, user kwarden gone" \
		test -z "$(systemctl list-unit-files kwarden.target 'kwarden-[rd]*' --no-legend)" -a -z "$(getent passwd kwarden)"
	t0=$(date +%s)
	if ! (cd "$KW/src" && run/install.sh install) >/tmp/install.log 2>&1; then
		bad "live make install"
		detail </tmp/install.log
		return
	fi
	check "live make install: user kwarden created ($(getent passwd kwarden | cut -d: -f1,3,6))" \
		test -n "$(getent passwd kwarden)"
	st=$(systemctl show -P NeedDaemonReload kwarden-reader.service kwarden.target | sed '/^$/d' | sort -u)
	check "live make install: systemd reloaded (\"Reloading\" from pid 1 since, NeedDaemonReload=$st)" \
		reloaded_since "$t0" "$st"
	systemctl enable --now kwarden.target >/tmp/enable.log 2>&1
	for s in $SERVICES; do
		wait_for 30 is prop "$s" ActiveState active
		st="$(prop "$s" ActiveState)/$(prop "$s" ExecMainStatus)/$(prop "$s" NRestarts)"
		[ "$st" = "active/0/0" ] || bad_ones="$bad_ones $s:$st"
	done
	check "systemctl enable --now kwarden.target right after: the three active, none restarted${bad_ones:+:$bad_ones}" \
		test -z "$bad_ones"
	wait_for 30 is status reader .source_in_use kmod
	check "the new reader reads the modules' file ($(status reader .source_in_use))" \
		is status reader .source_in_use kmod
	check_dkms
}

# DKMS (when the image has it and the headers): install added the modules
# and built them for the running kernel; the next boot must load those.
have_dkms() { command -v dkms >/dev/null && [ -e "/lib/modules/$(uname -r)/build/Makefile" ]; }
check_dkms() {
	local k st path built f
	k=$(uname -r)
	if ! have_dkms; then
		skip "DKMS: no dkms or no headers for $k in the image"
		return
	fi
	st=$(dkms status -m kwarden -k "$k" 2>/dev/null)
	check "live make install: dkms built and installed the modules for $k ($st)" \
		grep -q ': installed$' <<<"$st"
	path=$(modinfo -n sysinfo 2>/dev/null)
	built=
	for f in /var/lib/dkms/kwarden/*/"$k"/*/module/sysinfo.ko; do
		[ -e "$f" ] && built=$f
	done
	check "modinfo sysinfo is the module DKMS built ($path)" cmp -s "$path" "$built"
	mkdir -p /var/lib/kwcheck
	dirname "${path#/lib/modules/"$k"/}" >/var/lib/kwcheck/dkms-boot
	AGAIN=1
}

# --- surfaces still to come: each gets its checks here --------------------
# /metrics answers on its listen address under the decider's hardening.
check_metrics() {
	local m
	m=$(curl -sf --max-time 10 http://127.0.0.1:9877/metrics 2>/tmp/curl.log)
	if printf '%s\n' "$m" | grep -q '^kwarden_build_info{'; then
		ok "/metrics answers on 127.0.0.1:9877 under the unit's hardening"
	else
		bad "/metrics answers on 127.0.0.1:9877 under the unit's hardening"
		detail </tmp/curl.log
	fi
	if printf '%s\n' "$m" | grep -Eq '^kwarden_actions_total\{.*action="remove".*result="ok".*\} [1-9]'; then
		ok "/metrics counts the container's removal (kwarden_actions_total)"
	else
		bad "/metrics counts the container's removal (kwarden_actions_total)"
		printf '%s\n' "$m" | grep '^kwarden_actions_total' | detail
	fi
}
# A webhook reaches a receiver inside the VM (socat on 127.0.0.1:9999,
# started before the container; the decider POSTs the evidence).
check_webhook() {
	if wait_for 60 test -s /tmp/kwcheck-webhook.json; then
		check "webhook: the receiver got the removal's evidence ($(jq -c '{action, name, figures: (.figures | type)}' /tmp/kwcheck-webhook.json 2>/dev/null))" \
			jq -e '.action == "remove" and (.name | startswith("kwvm-"))' /tmp/kwcheck-webhook.json
	else
		bad "webhook: the receiver got the removal's evidence"
		status decider .hooks | detail
	fi
}
# The decider runs the hook program (as kwarden, in its sandbox).
check_hook() {
	local f=/var/lib/kwarden/kwcheck-hook.out
	if wait_for 60 test -s "$f"; then
		check "hook program ran with the facts and the evidence ($(grep -c '^KWARDEN_' "$f") variables)" \
			grep -q '^KWARDEN_ACTION=remove$' "$f"
	else
		bad "hook program ran with the facts and the evidence"
		status decider .hooks | detail
	fi
}
# The reader reads the containers' cgroup files (v2, systemd driver).
check_cgroup_files() {
	local l r u
	l=$(status reader .cgroup.layout)
	r=$(status reader .cgroup.containers_read)
	u=$(status reader .cgroup.containers_unreadable)
	check "reader: cgroup $l, $r container reads, $u unreadable" \
		test "$l" = v2 -a "${r:-0}" -gt 0 -a "${u:-1}" = 0
}

AGAIN=0
if [ -e /var/lib/kwcheck/dkms-boot ]; then
	# second boot: the modules DKMS built, loaded at boot
	dir=$(cat /var/lib/kwcheck/dkms-boot)
	rm -f /var/lib/kwcheck/dkms-boot
	say "boot 2: modules from DKMS ($dir)"
	check_units_up
	if grep 'did not deliver is lost' /tmp/warn-all.log >/tmp/lost.log; then
		bad "a reboot loses nothing the decider published before it stopped"
		detail </tmp/lost.log
	else
		ok "a reboot loses nothing the decider published before it stopped"
	fi
	check_modules "$dir"
	say "$PASS passed, $FAIL failed"
	say "==KW-DONE=="
	exit 0
fi

check_units_up
check_modules extra
check_sockets
check_nobody
start_receiver
check_container
check_metrics
check_webhook
check_hook
check_cgroup_files
check_reload
check_docker_restart
check_watchdog
check_clock
check_bad_config
check_stop
check_live_install

if [ "$FAIL" -gt 0 ]; then
	say "== journal of the kwarden units"
	journalctl -b -q --no-pager -o short-monotonic -u 'kwarden*' | tail -n 60 | detail 60
fi
say "$PASS passed, $FAIL failed"
[ "$AGAIN" = 1 ] && say "==KW-AGAIN=="
say "==KW-DONE=="
