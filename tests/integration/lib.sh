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

# sql QUERY: run on the pipeline's database (read-only, waits for locks).
sql() {
	sqlite3 -cmd '.timeout 5000' "file:$T/kwarden.db?mode=ro" "$1"
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

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
