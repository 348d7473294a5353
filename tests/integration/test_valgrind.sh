#!/usr/bin/env bash
# Each daemon runs under valgrind with real peers for a few seconds, is
# stopped with SIGTERM, and must exit 0 with no leak and no memory error.
# (Skipped in a SAN=1 build: valgrind and AddressSanitizer do not mix.)
. "$(dirname "$0")/lib.sh"

if grep -q fsanitize "$TOP/build/flags" 2>/dev/null; then
	echo "skip: sanitizer build (the sanitizers check this instead)"
	finish
	exit
fi
if ! command -v valgrind >/dev/null; then
	fail "valgrind is not installed"
	finish
	exit
fi

VG=(valgrind -q --leak-check=full "--show-leak-kinds=definite,indirect,possible"
	"--errors-for-leak-kinds=definite,indirect,possible" --error-exitcode=99
	--track-fds=no)
ARGS=(--state-dir "$T" -o reader.interval=300ms -o recorder.batch_delay=200ms)

"${VG[@]}" --log-file="$T/vg-reader.log" "$READER" "${ARGS[@]}" 2>"$T/reader.err" &
RP=$!; PIDS+=("$RP")
"${VG[@]}" --log-file="$T/vg-decider.log" "$DECIDER" "${ARGS[@]}" 2>"$T/decider.err" &
DP=$!; PIDS+=("$DP")
"${VG[@]}" --log-file="$T/vg-recorder.log" "$RECORDER" "${ARGS[@]}" 2>"$T/recorder.err" &
CP=$!; PIDS+=("$CP")

wait_for 60 test -S "$T/run/recorder.ctl" && wait_for 60 test -S "$T/run/decider.ctl" &&
	wait_for 60 test -S "$T/run/reader.ctl" || fail "daemons up under valgrind"
sleep 6
# Exercise the control sockets and a bad client under valgrind too.
for d in reader decider recorder; do
	ctl $d status >/dev/null
	ctl $d config >/dev/null
	printf 'nonsense\n' | socat -t 1 - "UNIX-CONNECT:$T/run/$d.ctl" >/dev/null 2>&1
done
ctl decider containers >/dev/null
ctl decider policy >/dev/null
head -c 2000 /dev/urandom | socat -t 1 -u - "UNIX-CONNECT:$T/run/reader.sock" 2>/dev/null
n=$(sql "SELECT count(*) FROM sys_metrics")
[ "${n:-0}" -gt 0 ] && ok "pipeline under valgrind stores rows ($n)" || fail "rows under valgrind" "$(tail -3 "$T/recorder.err")"

# Stop the consumers first, then the producers: each exits on its own.
for pair in "recorder $CP" "decider $DP" "reader $RP"; do
	read -r -a words <<<"$pair"
	set -- "${words[@]}"
	kill -TERM "$2"
	wait "$2"
	rc=$?
	if [ "$rc" = 0 ]; then
		ok "$1 exits 0 after SIGTERM, valgrind clean"
	else
		fail "$1 under valgrind exit $rc" "$(head -40 "$T/vg-$1.log"; tail -5 "$T/$1.err")"
	fi
done
finish
