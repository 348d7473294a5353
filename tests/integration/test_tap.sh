#!/bin/bash
# kwarden-tap: decoding crafted msgpack (hostile strings, garbage, limits)
# and, when kwarden-reader is built, a live reader stream.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAP=$ROOT/run/kwarden-tap
READER=$ROOT/reader/kwarden-reader
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
	T=$(mktemp -d "${TMPDIR:-/tmp}/kwarden-test-tap.XXXXXX")
	OWN_T=1
fi
READER_PID=""
tap_cleanup() {
	if [ -n "$READER_PID" ]; then kill -KILL "$READER_PID" 2>/dev/null; fi
	if [ "$OWN_T" = 1 ]; then rm -rf "$T"; fi
}
_prev_exit=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
trap 'tap_cleanup; eval "$_prev_exit"' EXIT

if [ ! -x "$TAP" ]; then
	fail tap_built "$TAP missing: make run/kwarden-tap"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi

# Every line of file $1 is a JSON object.
all_json() {
	[ -s "$1" ] || return 1
	while IFS= read -r line; do
		jq -e 'type == "object"' <<<"$line" >/dev/null 2>&1 || return 1
	done <"$1"
}

# Crafted streams. msgpack: 0x8N map of N, 0xaN str of N, 0xcf uint64,
# 0xcb float64, 0xc4 bin8, 0xdb str32.
msg() {	# {"t": $1, "seq": $2}, $2 < 128
	printf '\x82\xa1t%b%s\xa3seq%b' "\\x$(printf %x $((0xa0 + ${#1})))" \
	    "$1" "\\x$(printf %x "$2")"
}

# --- crafted input ----------------------------------------------------------

printf '\x81\xa1t\xa3\xff\xfe\x41' | "$TAP" - >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && jq -e '.t == "\ufffd\ufffdA"' "$T/out" >/dev/null; then
	ok tap__invalid_utf8__replaced_valid_json
else
	fail tap__invalid_utf8__replaced_valid_json "rc=$rc $(cat "$T/out")"
fi

# A surrogate (ed a0 80), an overlong '/' (c0 af), a quote, a newline, a
# control byte and valid UTF-8 (c3 a9).
printf '\x81\xa1s\xab\xed\xa0\x80\xc0\xaf"\n\x01\xc3\xa9\x5c' |
	"$TAP" - >"$T/out" 2>&1
if jq -e '.s == "\ufffd\ufffd\ufffd\ufffd\ufffd\"\n\u0001\u00e9\\"' \
    "$T/out" >/dev/null; then
	ok tap__hostile_string__escaped
else
	fail tap__hostile_string__escaped "$(cat "$T/out")"
fi

# uint64 max, a negative int, a float, a bin key and value, an int key.
printf '\x86\xa1e\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xa1n\xd0\x85'\
'\xa1f\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00'\
'\xa1b\xc4\x03\x00\x01\xff\x07\xa5seven\xa1a\x93\xc0\xc3\xc2' |
	"$TAP" - >"$T/out" 2>&1
if grep -q '"e":18446744073709551615,' "$T/out" &&
    jq -e '.n == -123 and .f == 1.5 and .b == "AAH/" and ."7" == "seven"
    and .a == [null, true, false]' "$T/out" >/dev/null; then
	ok tap__scalars__exact_json
else
	fail tap__scalars__exact_json "$(cat "$T/out")"
fi

# Keys stay in stream order.
printf '\x83\xa1z\x01\xa1a\x02\xa1m\x03' | "$TAP" - >"$T/out" 2>&1
if [ "$(cat "$T/out")" = '{"z":1,"a":2,"m":3}' ]; then
	ok tap__keys__stream_order
else
	fail tap__keys__stream_order "$(cat "$T/out")"
fi

for i in 1 2 3 4 5; do msg snapshot "$i"; done >"$T/five.bin"
"$TAP" --count 3 - <"$T/five.bin" >"$T/out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 3 ] && all_json "$T/out"; then
	ok tap__count_3__stops_after_3
else
	fail tap__count_3__stops_after_3 "rc=$rc $(wc -l <"$T/out") lines"
fi

{ msg hello 1; msg snapshot 2; msg gap 3; msg snapshot 4; } |
	"$TAP" --type snapshot - >"$T/out" 2>&1
if [ "$(jq -r .seq "$T/out" | xargs)" = "2 4" ]; then
	ok tap__type__filters
else
	fail tap__type__filters "$(cat "$T/out")"
fi

echo "this is not msgpack at all" | "$TAP" - >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "kwarden-tap" "$T/err"; then
	ok tap__garbage__exit_1_with_message
else
	fail tap__garbage__exit_1_with_message "rc=$rc $(cat "$T/err")"
fi

printf '\xc1' | "$TAP" - >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "malformed" "$T/err"; then
	ok tap__invalid_msgpack__exit_1
else
	fail tap__invalid_msgpack__exit_1 "rc=$rc $(cat "$T/err")"
fi

{ msg hello 1; printf '\x82\xa1t'; } | "$TAP" - >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "truncated" "$T/err" &&
    [ "$(wc -l <"$T/out")" -eq 1 ]; then
	ok tap__truncated__exit_1_after_whole_messages
else
	fail tap__truncated__exit_1_after_whole_messages "rc=$rc"
fi

# A str32 that claims 68 MB: refused once KW_MSG_MAX (64 MiB) is buffered.
{ printf '\x81\xa1t\xdb\x04\x10\x00\x00'; head -c 70000000 /dev/zero; } |
	"$TAP" - >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "larger than" "$T/err"; then
	ok tap__oversized_message__refused
else
	fail tap__oversized_message__refused "rc=$rc $(cat "$T/err")"
fi

: | "$TAP" - >"$T/out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$T/out" ]; then
	ok tap__empty_input__exit_0
else
	fail tap__empty_input__exit_0 "rc=$rc"
fi

# A reader that goes away (head) ends tap quietly.
msg snapshot 1 >"$T/many.bin"
for i in $(seq 1 15); do	# 32768 messages
	cat "$T/many.bin" "$T/many.bin" >"$T/many2.bin"
	mv "$T/many2.bin" "$T/many.bin"
done
"$TAP" - <"$T/many.bin" 2>"$T/err" | head -1 >/dev/null
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ] && [ ! -s "$T/err" ]; then
	ok tap__stdout_closed__quiet_exit
else
	fail tap__stdout_closed__quiet_exit "rc=$rc $(cat "$T/err")"
fi

"$TAP" >/dev/null 2>&1
rc1=$?
"$TAP" --count 0 - </dev/null >/dev/null 2>&1
rc2=$?
"$TAP" --sub 1:2 - </dev/null >/dev/null 2>&1
rc3=$?
"$TAP" --help >/dev/null 2>&1
rc4=$?
if [ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ] && [ $rc4 -eq 0 ]; then
	ok tap__usage__exit_codes
else
	fail tap__usage__exit_codes "$rc1 $rc2 $rc3 $rc4"
fi

"$TAP" "$T/no.sock" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "no.sock" "$T/err"; then
	ok tap__no_socket__exit_1
else
	fail tap__no_socket__exit_1 "rc=$rc $(cat "$T/err")"
fi

# --- a live reader ----------------------------------------------------------

if [ -x "$READER" ] && command -v socat >/dev/null; then
	SOCK=$T/state/run/reader.sock
	"$READER" --state-dir "$T/state" -o reader.interval=200ms \
	    -o reader.source=procfs 2>"$T/reader.log" &
	READER_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$SOCK" ] && break
		sleep 0.1
	done

	# Captured with socat, decoded offline.
	timeout 2 socat -u UNIX-CONNECT:"$SOCK" - >"$T/cap.bin" 2>/dev/null
	"$TAP" - <"$T/cap.bin" >"$T/out" 2>"$T/err"
	rc=$?
	# socat may stop in the middle of a message: that one is reported.
	if { [ $rc -eq 0 ] || grep -q truncated "$T/err"; } &&
	    all_json "$T/out" &&
	    head -1 "$T/out" | jq -e '.t == "hello" and .stream == "reader"' \
	    >/dev/null &&
	    jq -se 'map(select(.t == "snapshot")) | length >= 1' "$T/out" \
	    >/dev/null; then
		ok tap__socat_capture__hello_then_snapshots
	else
		fail tap__socat_capture__hello_then_snapshots \
		    "rc=$rc $(cat "$T/err") $(head -c 300 "$T/out")"
	fi

	timeout 10 "$TAP" --count 3 "$SOCK" >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 3 ] &&
	    all_json "$T/out"; then
		ok tap__socket_count_3__stops
	else
		fail tap__socket_count_3__stops "rc=$rc $(cat "$T/err")"
	fi

	timeout 10 "$TAP" --type snapshot --count 1 "$SOCK" >"$T/out" \
	    2>"$T/err"
	if jq -e '.t == "snapshot" and (.procs | length) > 0 and
	    (.seq | type) == "number"' "$T/out" >/dev/null; then
		ok tap__socket_type_snapshot__has_procs
	else
		fail tap__socket_type_snapshot__has_procs "$(cat "$T/err")"
	fi

	# Replay from seq 2 of the current epoch (a wrong epoch would replay
	# from 1). jq reads numbers as doubles: take the epoch as text.
	epoch=$(timeout 10 "$TAP" --count 1 "$SOCK" |
	    grep -o '"epoch":[0-9]*' | cut -d: -f2)
	timeout 10 "$TAP" --sub "$epoch:2" --count 3 "$SOCK" >"$T/out" \
	    2>"$T/err"
	# The tap's sub is read after the hello: a live message published
	# in between may come first, then the replay (or its gap).
	if grep -q "\"epoch\":${epoch}[,}]" "$T/out" &&
	    jq -se 'map(select(.t != "hello")) |
	    any(.[]; .seq == 2 or .t == "gap")' "$T/out" >/dev/null; then
		ok tap__sub__replays_from_seq
	else
		fail tap__sub__replays_from_seq \
		    "epoch=$epoch $(jq -c '{t, seq}' "$T/out" | xargs)"
	fi

	kill -TERM "$READER_PID"
	wait "$READER_PID"
	READER_PID=""
else
	skip tap__live_reader "kwarden-reader not built or no socat"
fi

if declare -F finish >/dev/null; then
	finish
	exit $?
else
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ] || exit 1
fi
