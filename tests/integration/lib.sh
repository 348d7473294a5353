# Shared by the integration tests: a temp state dir, the real binaries,
# helpers to wait, talk to control sockets and query the database, and the
# closing "N passed, N failed" line. Source it; call `finish` at the end.
# shellcheck shell=bash disable=SC2034 # variables for the scripts that source this file
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN="$TOP/run/kwarden-run"
TAP="$TOP/run/kwarden-tap"
READER="$TOP/reader/kwarden-reader"
DECIDER="$TOP/decider/kwarden-decider"
RECORDER="$TOP/recorder/kwarden-recorder"
PASS=0
FAIL=0
PIDS=()
T=$(mktemp -d /tmp/kw-it.XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=24}

ok() { echo "ok   $1"; PASS=$((PASS + 1)); }
fail() {
	echo "FAIL $1${2:+: $2}"
	FAIL=$((FAIL + 1))
}
# check NAME CMD...: ok when CMD succeeds.
check() {
	local name=$1
	shift
	if "$@" >/dev/null; then ok "$name"; else fail "$name"; fi
}

# fake_container: a sleeping process in a cgroup named like Docker's
# (cgroupfs driver), made by hand in every hierarchy as Docker does: the
# reader sees it exactly as a container's process, cgroup figures
# included. Sets CID (its 64-hex id), CPROC (its pid) and CG (its first
# cgroup directory, "" when none could be made: not root, no cgroupfs).
CG_ALL=()
fake_container() {
	local h d
	CID=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	CG=""
	sleep 30000 &
	CPROC=$!
	PIDS+=("$CPROC")
	if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		mkdir -p /sys/fs/cgroup/docker 2>/dev/null &&
			echo "+cpu +memory" >/sys/fs/cgroup/docker/cgroup.subtree_control 2>/dev/null
		set -- /sys/fs/cgroup/docker/"$CID"
	else
		set --
		for h in pids cpu cpuacct memory; do
			[ -d "/sys/fs/cgroup/$h" ] && set -- "$@" "/sys/fs/cgroup/$h/docker/$CID"
		done
	fi
	for d in "$@"; do
		if mkdir -p "$d" 2>/dev/null && echo "$CPROC" >"$d/cgroup.procs" 2>/dev/null; then
			CG_ALL+=("$d")
			[ -z "$CG" ] && CG=$d
		else
			rmdir "$d" 2>/dev/null
		fi
	done
}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	# A fake container's cgroups go once its process is gone.
	for p in "${CG_ALL[@]}"; do
		rmdir "$p" 2>/dev/null
	done
	if [ "${KW_KEEP:-0}" = 1 ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# wait_for SECONDS CMD...: poll until CMD succeeds; 1 on timeout.
wait_for() {
	local secs=$1
	shift
	for _ in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ctl DAEMON COMMAND: one request on a control socket, the reply on stdout.
ctl() {
	echo "$2" | socat -t 2 - "UNIX-CONNECT:$T/run/$1.ctl"
}

# sqldb FILE QUERY: run on the database FILE (read-only, waits for locks).
sqldb() {
	sqlite3 -cmd '.timeout 5000' "file:$1?mode=ro" "$2"
}

# sql QUERY: run on the pipeline's database.
sql() {
	sqldb "$T/kwarden.db" "$1"
}

# The decider's messages in the database: each one it sends but its end
# gives one row (a sys message two: sys_metrics and process_count), and
# every such row carries the message's (epoch, seq).

# seq_tables [FILE]: the tables holding decider messages, one a line: every
# table with the columns ts, epoch and seq the recorder adds to each record
# table (stream_state has epoch and seq but no ts). Read from the database,
# so a new record table is covered without editing a test; one left out
# would show as missing seqs, never as a pass.
seq_tables() {
	sqldb "${1:-$T/kwarden.db}" "SELECT m.name FROM sqlite_master m
	    WHERE m.type = 'table' AND (SELECT count(*) FROM pragma_table_info(m.name) c
	    WHERE c.name IN ('ts', 'epoch', 'seq')) = 3 ORDER BY m.name"
}

# seq_union [FILE]: a query of every (epoch, seq) in those tables, with
# repeats (a SELECT to use as a subquery); 1 when there is no such table.
seq_union() {
	local t q=""
	for t in $(seq_tables "$@"); do
		q+="${q:+ UNION ALL }SELECT epoch, seq FROM \"$t\""
	done
	[ -n "$q" ] && echo "$q"
}

# epoch_seqs EPOCH [FILE [CONDITION]]: "DISTINCT MIN MAX" of the seqs of
# EPOCH stored (those meeting the SQL CONDITION too); "" when none is.
epoch_seqs() {
	local db=${2:-$T/kwarden.db}
	sqldb "$db" "SELECT count(DISTINCT seq) || ' ' || min(seq) || ' ' || max(seq)
	    FROM ($(seq_union "$db")) WHERE epoch = $1${3:+ AND ($3)}"
}

# check_seqs_unique: in every table of the pipeline's database, one row
# per message: no (epoch, seq) twice.
check_seqs_unique() {
	local db=$T/kwarden.db t d
	for t in $(seq_tables "$db"); do
		d=$(sqldb "$db" "SELECT count(*) - count(DISTINCT epoch || ':' || seq) FROM \"$t\"")
		[ "$d" = 0 ] && ok "$t: no duplicate (epoch, seq)" || fail "$t duplicates" "$d"
	done
}

# check_seqs_from_1: in the pipeline's database, every epoch's seqs run
# from 1 with no gap.
check_seqs_from_1() {
	local db=$T/kwarden.db all bad
	if ! all=$(seq_union "$db"); then
		fail "seqs" "no table with (epoch, seq) in $db"
		return
	fi
	bad=$(sqldb "$db" "SELECT epoch || ': ' || min(seq) || '..' || max(seq) || ' has ' || count(DISTINCT seq)
	    FROM ($all) GROUP BY epoch HAVING min(seq) != 1 OR count(DISTINCT seq) != max(seq) - min(seq) + 1")
	if [ -z "$bad" ]; then
		ok "every epoch's seqs run from 1 with no gap: $(sqldb "$db" "SELECT group_concat(c, ' + ')
		    FROM (SELECT count(DISTINCT seq) c FROM ($all) GROUP BY epoch)") messages"
	else
		fail "seq gaps" "$bad"
	fi
}

# start_pipeline [FLAGS...]: kwarden-run in the background, logs in $T/log.
start_pipeline() {
	"$RUN" --state-dir "$T" "$@" >"$T/log" 2>&1 &
	RUN_PID=$!
	PIDS+=("$RUN_PID")
	wait_for 10 test -S "$T/run/decider.sock" &&
		wait_for 10 test -S "$T/run/reader.ctl" &&
		wait_for 10 test -S "$T/run/recorder.ctl"
}

# stop_pipeline: SIGTERM the supervisor; its exit status in STOP_RC.
stop_pipeline() {
	kill -TERM "$RUN_PID" 2>/dev/null
	wait "$RUN_PID"
	STOP_RC=$?
}

# child_pid NAME: pid of the supervisor's child running kwarden-NAME.
child_pid() {
	pgrep -P "$RUN_PID" -f "kwarden-$1" | head -n 1
}

# restarted NAME OLD_PID: the supervisor runs a new kwarden-NAME, its
# control socket up.
restarted() {
	local p
	p=$(child_pid "$1")
	[ -n "$p" ] && [ "$p" != "$2" ] && [ -S "$T/run/$1.ctl" ]
}

# sys_rows_past N: sys_metrics has more than N rows.
sys_rows_past() {
	[ "$(sql "SELECT count(*) FROM sys_metrics")" -gt "$1" ]
}

# crash NAME SECS [WHAT]: kill -9 the pipeline's kwarden-NAME; ok when the
# supervisor restarts it within SECS and rows land again (a few samples)
# within SECS more. WHAT is said of the kill (" under the load").
crash() {
	local old before
	old=$(child_pid "$1")
	before=$(sql "SELECT count(*) FROM sys_metrics")
	kill -KILL "$old"
	if wait_for "$2" restarted "$1" "$old"; then
		ok "$1 killed with -9${3:-} is restarted (pid $old -> $(child_pid "$1"))"
	else
		fail "$1 restarted" "$(tail -n 5 "$T/log")"
	fi
	if wait_for "$2" sys_rows_past $((before + 2)); then
		ok "rows land again after the $1's restart ($before -> $(sql "SELECT count(*) FROM sys_metrics"))"
	else
		fail "rows after the $1's restart" "$before -> $(sql "SELECT count(*) FROM sys_metrics")"
	fi
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
