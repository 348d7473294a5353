#!/usr/bin/env bash
# The decider on a reader stream of whole snapshots and deltas: each delta
# applied to the snapshot it follows gives the processes the reader holds
# (counted in the decider's sys records, a container's in its container
# records); a delta on another base waits for the next whole snapshot; a
# claim attribution refused is refused again each sample (it does not
# stick as a host process once the snapshot is only patched). The stream
# comes from tests/integration/fake-reader.py: the real reader sends deltas
# only from the kernel module's delta file (the VM suite runs that one).
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/run"
python3 "$TOP/tests/integration/fake-reader.py" "$T/run/reader.sock" 0.4 \
	>"$T/fake.out" 2>"$T/fake.err" &
PIDS+=($!)
if ! wait_for 10 test -S "$T/run/reader.sock"; then
	fail "fake reader listening" "$(cat "$T/fake.err")"
	finish
	exit
fi
"$DECIDER" --state-dir "$T" -o "decider.docker_socket=$T/no-docker.sock" \
	>"$T/decider.log" 2>&1 &
DEC=$!
PIDS+=("$DEC")
if wait_for 30 grep -qx "done" "$T/fake.out" && sleep 0.5; then
	ok "the script of 7 messages was taken ($(wc -l <"$T/fake.out") lines)"
else
	fail "script sent" "$(tail -3 "$T/fake.out" "$T/fake.err" "$T/decider.log")"
fi

st=$(ctl decider status)
got=$(jq -c '[.reader_wholes, .reader_deltas, .reader_deltas_waiting, .bad_snapshots]' <<<"$st")
if [ "$got" = "[2,3,2,0]" ]; then
	ok "2 whole snapshots and 3 deltas applied, 2 deltas off the base waited, none bad"
else
	fail "wholes, deltas, waiting, bad" "$got (want [2,3,2,0]); $(tail -5 "$T/decider.log")"
fi

# counts TYPE WANT WHAT: nprocs of the decider's first 5 TYPE records,
# replayed from its stream, are WANT.
counts() {
	local got
	timeout 10 "$TAP" --sub 0:1 --type "$1" --count 5 \
		"$T/run/decider.sock" >"$T/$1.json" 2>"$T/tap.err"
	got=$(jq -sc '[.[].nprocs]' "$T/$1.json")
	if [ "$got" = "$2" ]; then
		ok "$3: $got"
	else
		fail "$3" "$got (want $2); $(cat "$T/tap.err")"
	fi
}
counts sys "[8,8,9,7,8]" "processes after each applied message"
counts container "[1,1,2,1,1]" "the container's processes after each (the look-alike never counted)"

got=$(jq -c '.attribution.refused_total' <<<"$st")
if [ "$got" = 5 ]; then
	ok "the look-alike's claim refused in each of the 5 samples, not once and then forgotten"
else
	fail "refusals" "$got (want 5)"
fi

grep -q "waiting for a whole one" "$T/decider.log" &&
	ok "the wait is logged: $(grep -m1 -o 'delta seq.*' "$T/decider.log")" ||
	fail "the wait logged" "$(tail -5 "$T/decider.log")"

# Stopped, it frees what it holds (under the sanitizer build a leak is exit
# 23): the snapshot, the delta being applied, the claims kept.
kill -TERM "$DEC"
wait "$DEC"
rc=$?
[ "$rc" = 0 ] && ok "the decider stops with exit 0" ||
	fail "the decider's exit" "$rc; $(tail -5 "$T/decider.log")"
finish
