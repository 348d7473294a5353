#!/bin/bash
# kwarden-run: command line, restart with backoff, orderly stop. The
# supervisor logic is tested against stub daemons (shell scripts in a
# KWARDEN_BINDIR), then against the real three when they are built.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$ROOT/run/kwarden-run
PASS=0
FAIL=0
SKIP=0

[ -f "$ROOT/tests/integration/lib.sh" ] &&
	. "$ROOT/tests/integration/lib.sh"
declare -F ok >/dev/null ||
	ok() { echo "ok   $1"; PASS=$((PASS + 1)); }
declare -F fail >/dev/null ||
	fail() { echo "FAIL $1: ${2:-}"; FAIL=$((FAIL + 1)); }
declare -F skip >/dev/null ||
	skip() { echo "skip $1: ${2:-}"; SKIP=$((SKIP + 1)); }

# lib.sh gives a temp dir it removes itself; else make our own.
OWN_T=0
if [ -z "${T:-}" ]; then
	T=$(mktemp -d "${TMPDIR:-/tmp}/kwarden-test-run.XXXXXX")
	OWN_T=1
fi
RUN_PID=""
# SIGKILL a kwarden-run and the children it has.
kill_tree() {
	local p
	for p in $(pgrep -P "$1"); do
		kill -KILL "$p" 2>/dev/null
	done
	kill -KILL "$1" 2>/dev/null
}
run_cleanup() {
	if [ -n "$RUN_PID" ]; then kill_tree "$RUN_PID"; fi
	if [ "$OWN_T" = 1 ]; then rm -rf "$T"; fi
}
_prev_exit=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
trap 'run_cleanup; eval "$_prev_exit"' EXIT

if [ ! -x "$RUN" ]; then
	fail run_built "$RUN missing: make run/kwarden-run"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi

# Poll until a command succeeds, for at most $1 seconds.
poll() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

children() { pgrep -P "$1" | sort; }
nchildren() { [ "$(pgrep -P "$1" | wc -l)" -eq "$2" ]; }
child_of() { pgrep -P "$1" -f "kwarden-$2" | head -1; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# Start kwarden-run in the background; RUN_PID, log in $T/run.log.
start_run() {
	"$@" >"$T/run.log" 2>&1 &
	RUN_PID=$!
}

# Wait for RUN_PID to end within $1 s; RUN_RC gets its status (124: hung).
stop_wait() {
	local limit=$1
	if poll "$limit" gone "$RUN_PID"; then
		wait "$RUN_PID"
		RUN_RC=$?
	else
		RUN_RC=124
		kill_tree "$RUN_PID"
		wait "$RUN_PID" 2>/dev/null
	fi
	RUN_PID=""
}

# --- command line -----------------------------------------------------------

out=$("$RUN" --help 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q -- "--state-dir" <<<"$out"; then
	ok run__help__exits_0
else
	fail run__help__exits_0 "rc=$rc"
fi

out=$("$RUN" --state-dir "$T/s0" -o run.no_such_key=1 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "run.no_such_key" <<<"$out"; then
	ok run__bad_override__exits_2_naming_key
else
	fail run__bad_override__exits_2_naming_key "rc=$rc: $out"
fi

out=$("$RUN" --state-dir "$T/s0" -o run.stop_timeout=soon 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "run.stop_timeout" <<<"$out"; then
	ok run__bad_duration__exits_2_naming_key
else
	fail run__bad_duration__exits_2_naming_key "rc=$rc: $out"
fi

out=$(KWARDEN_BINDIR=/nonexistent "$RUN" --state-dir "$T/s0" 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "/nonexistent/kwarden-reader" <<<"$out"; then
	ok run__missing_binaries__exits_2
else
	fail run__missing_binaries__exits_2 "rc=$rc: $out"
fi

# --- supervisor logic, against stub daemons ---------------------------------

STUBS=$T/stubs
mkdir -p "$STUBS"
for d in reader decider recorder; do
	cat >"$STUBS/kwarden-$d" <<'EOF'
#!/bin/bash
# A stub daemon: records its argv, exits 0 on SIGTERM like the real ones.
echo "$*" >"$STUB_LOG_DIR/$(basename "$0").args"
trap 'exit 0' TERM INT
while :; do
	sleep 0.2 &
	wait $!
done
EOF
	chmod +x "$STUBS/kwarden-$d"
done
export STUB_LOG_DIR=$T

start_run env KWARDEN_BINDIR="$STUBS" "$RUN" --state-dir "$T/s1" \
    -o run.restart_delay=200ms -o run.stop_timeout=3s \
    -o reader.interval=2s
if poll 5 nchildren "$RUN_PID" 3; then
	ok run__stubs__three_children
else
	fail run__stubs__three_children "$(children "$RUN_PID" | xargs)"
fi
if [ -d "$T/s1/run" ]; then
	ok run__state_dir__run_dir_created
else
	fail run__state_dir__run_dir_created "no $T/s1/run"
fi
if poll 3 test -s "$T/kwarden-decider.args" &&
    grep -q "paths.run_dir=$T/s1/run" "$T/kwarden-decider.args" &&
    grep -q "reader.interval=2s" "$T/kwarden-decider.args"; then
	ok run__children__get_same_flags
else
	fail run__children__get_same_flags \
	    "$(cat "$T/kwarden-decider.args" 2>/dev/null)"
fi

old=$(child_of "$RUN_PID" decider)
kill -KILL "$old" 2>/dev/null
new_decider() {
	local p
	p=$(child_of "$RUN_PID" decider)
	[ -n "$p" ] && [ "$p" != "$old" ]
}
if [ -n "$old" ] && poll 5 new_decider; then
	ok run__child_killed__restarted_with_new_pid
else
	fail run__child_killed__restarted_with_new_pid "old=$old"
fi
if grep -q "decider killed by signal 9" "$T/run.log"; then
	ok run__child_killed__logged
else
	fail run__child_killed__logged "$(tail -3 "$T/run.log")"
fi

# Two quick crashes: the second restart waits twice as long.
old=$(child_of "$RUN_PID" decider)
kill -KILL "$old" 2>/dev/null
poll 5 new_decider
if grep -q "restarting decider in 200ms" "$T/run.log" &&
    grep -q "restarting decider in 400ms" "$T/run.log"; then
	ok run__crash_loop__backoff_doubles
else
	fail run__crash_loop__backoff_doubles \
	    "$(grep restarting "$T/run.log" | tail -2)"
fi

pids=$(children "$RUN_PID")
kill -TERM "$RUN_PID"
stop_wait 3
left=""
for p in $pids; do
	kill -0 "$p" 2>/dev/null && left="$left $p"
done
if [ "$RUN_RC" -eq 0 ] && [ -z "$left" ]; then
	ok run__sigterm__children_stopped_exit_0
else
	fail run__sigterm__children_stopped_exit_0 "rc=$RUN_RC left:$left"
fi

# A child that ignores SIGTERM is killed after stop_timeout: exit 1.
STUBS2=$T/stubs2
cp -r "$STUBS" "$STUBS2"
cat >"$STUBS2/kwarden-recorder" <<'EOF'
#!/bin/bash
trap '' TERM INT
while :; do sleep 0.1; done
EOF
start_run env KWARDEN_BINDIR="$STUBS2" "$RUN" --state-dir "$T/s2" \
    -o run.stop_timeout=1s
poll 5 nchildren "$RUN_PID" 3
kill -TERM "$RUN_PID"
stop_wait 4
if [ "$RUN_RC" -eq 1 ] &&
    grep -q "recorder still running after stop_timeout" "$T/run.log"; then
	ok run__child_ignores_sigterm__killed_exit_1
else
	fail run__child_ignores_sigterm__killed_exit_1 "rc=$RUN_RC"
fi

# A second SIGINT a while into the stop kills at once.
start_run env KWARDEN_BINDIR="$STUBS2" "$RUN" --state-dir "$T/s3" \
    -o run.stop_timeout=30s
poll 5 nchildren "$RUN_PID" 3
kill -INT "$RUN_PID"
sleep 1.3
kill -INT "$RUN_PID"
stop_wait 3
if [ "$RUN_RC" -eq 1 ] && grep -q "SIGINT again" "$T/run.log"; then
	ok run__second_sigint__kills_now
else
	fail run__second_sigint__kills_now "rc=$RUN_RC"
fi

if command -v valgrind >/dev/null &&
    ! grep -q fsanitize "$TOP/build/flags" 2>/dev/null; then
	start_run env KWARDEN_BINDIR="$STUBS" valgrind -q --leak-check=full \
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
	    "$RUN" --state-dir "$T/s4" -o run.restart_delay=100ms
	poll 20 nchildren "$RUN_PID" 3
	kill -KILL "$(child_of "$RUN_PID" reader)" 2>/dev/null
	sleep 1
	kill -TERM "$RUN_PID"
	stop_wait 20
	if [ "$RUN_RC" -eq 0 ]; then
		ok run__valgrind__clean
	else
		fail run__valgrind__clean "rc=$RUN_RC: $(tail -5 "$T/run.log")"
	fi
else
	skip run__valgrind__clean "no valgrind"
fi

# --- the real daemons -------------------------------------------------------

if [ -x "$ROOT/reader/kwarden-reader" ] &&
    [ -x "$ROOT/decider/kwarden-decider" ] &&
    [ -x "$ROOT/recorder/kwarden-recorder" ]; then
	start_run "$RUN" --state-dir "$T/real" -o run.stop_timeout=5s \
	    -o reader.interval=200ms
	if poll 10 nchildren "$RUN_PID" 3 &&
	    poll 10 test -S "$T/real/run/reader.sock"; then
		ok run__real__three_daemons_up
	else
		fail run__real__three_daemons_up \
		    "$(children "$RUN_PID" | xargs); $(tail -5 "$T/run.log")"
	fi
	old=$(child_of "$RUN_PID" decider)
	kill -KILL "$old" 2>/dev/null
	if [ -n "$old" ] && poll 5 new_decider; then
		ok run__real__decider_killed__back_with_new_pid
	else
		fail run__real__decider_killed__back_with_new_pid "old=$old"
	fi
	sleep 1
	pids=$(children "$RUN_PID")
	kill -TERM "$RUN_PID"
	stop_wait 6
	left=""
	for p in $pids; do
		kill -0 "$p" 2>/dev/null && left="$left $p"
	done
	if [ "$RUN_RC" -eq 0 ] && [ -z "$left" ]; then
		ok run__real__sigterm__all_gone_exit_0
	else
		fail run__real__sigterm__all_gone_exit_0 \
		    "rc=$RUN_RC left:$left; $(tail -5 "$T/run.log")"
	fi
else
	skip run__real "daemons not built yet"
fi

if declare -F finish >/dev/null; then
	finish
	exit $?
else
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ] || exit 1
fi
