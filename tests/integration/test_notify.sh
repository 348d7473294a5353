#!/usr/bin/env bash
# systemd notification protocol, without systemd: each daemon runs with a
# NOTIFY_SOCKET of ours (a datagram listener) and WATCHDOG_USEC /
# WATCHDOG_PID as systemd sets them for Type=notify + WatchdogSec=. It must
# send READY=1 once its sockets are up, MAINPID=<its pid>, WATCHDOG=1 at
# half the interval, nothing while its loop is stuck (SIGSTOP), WATCHDOG=1
# again after SIGCONT, STOPPING=1 on SIGTERM; and no WATCHDOG=1 when
# WATCHDOG_PID names another process (the variable was meant for it).
. "$(dirname "$0")/lib.sh"

LISTEN=$TOP/tests/integration/notify-listen.py
WATCHDOG_USEC=400000	# a ping every 200 ms
mkdir -p "$T/sd"
# Never touch the host's Docker: no socket there, and dry-run anyway.
ISOLATE=(-o policy.action=dry-run -o "decider.docker_socket=$T/no-docker.sock")

# count FILE FIELD: how many FIELD lines the listener wrote.
count() {
	grep -c " $2\$" "$1" 2>/dev/null || true
}
has() { [ "$(count "$1" "$2")" -gt 0 ]; }

# start_notified NAME BIN [WATCHDOG_PID]: the daemon with our notify socket;
# its pid in DPID, the listener's log in NLOG.
start_notified() {
	local name=$1 bin=$2 wpid=${3:-self} sock=$T/notify-$1.sock
	NLOG=$T/notify-$1.log
	: >"$NLOG"
	python3 "$LISTEN" "$sock" "$NLOG" &
	PIDS+=("$!")
	wait_for 5 grep -q LISTENING "$NLOG" || fail "$name: notify listener did not start"
	NOTIFY_SOCKET=$sock WATCHDOG_USEC=$WATCHDOG_USEC KW_WPID=$wpid \
		sh -c '[ "$KW_WPID" = self ] && KW_WPID=$$; WATCHDOG_PID=$KW_WPID; export WATCHDOG_PID; exec "$@"' \
		sh "$bin" --state-dir "$T/sd" "${ISOLATE[@]}" >"$T/$name.log" 2>&1 &
	DPID=$!
	PIDS+=("$DPID")
}

for d in reader decider recorder; do
	case $d in
	reader) bin=$READER; socks="reader.ctl reader.sock" ;;
	decider) bin=$DECIDER; socks="decider.ctl decider.sock" ;;
	recorder) bin=$RECORDER; socks="recorder.ctl" ;;
	esac
	start_notified "$d" "$bin"
	if wait_for 10 has "$NLOG" READY=1; then
		ok "$d: READY=1"
		# Sockets are made before READY=1 is sent, so they are there now.
		for s in $socks; do
			[ -S "$T/sd/run/$s" ] && ok "$d: $s is up when READY=1 arrives" ||
				fail "$d: $s is up when READY=1 arrives"
		done
	else
		fail "$d: READY=1 within 10 s" "$(cat "$NLOG" "$T/$d.log")"
	fi
	has "$NLOG" "MAINPID=$DPID" && ok "$d: MAINPID=$DPID" ||
		fail "$d: MAINPID=$DPID" "$(grep MAINPID "$NLOG")"

	sleep 1.2
	n=$(count "$NLOG" WATCHDOG=1)
	# 1.2 s at one ping per 200 ms: 6; allow for a slow machine.
	[ "$n" -ge 3 ] && ok "$d: WATCHDOG=1 every WATCHDOG_USEC/2 ($n in 1.2 s)" ||
		fail "$d: WATCHDOG=1 at least 3 times in 1.2 s" "got $n"

	# A stuck loop sends nothing: systemd would kill and restart it.
	kill -STOP "$DPID"
	sleep 0.3
	n1=$(count "$NLOG" WATCHDOG=1)
	sleep 1.5
	n2=$(count "$NLOG" WATCHDOG=1)
	[ "$n1" = "$n2" ] && ok "$d: no WATCHDOG=1 while stopped (1.5 s)" ||
		fail "$d: no WATCHDOG=1 while stopped" "$n1 -> $n2"
	kill -CONT "$DPID"
	more() { [ "$(count "$NLOG" WATCHDOG=1)" -gt "$n2" ]; }
	wait_for 3 more && ok "$d: WATCHDOG=1 again after SIGCONT" ||
		fail "$d: WATCHDOG=1 again after SIGCONT"

	kill -TERM "$DPID"
	wait "$DPID"
	rc=$?
	[ "$rc" = 0 ] && ok "$d: exits 0 on SIGTERM" || fail "$d: exit on SIGTERM" "$rc"
	has "$NLOG" STOPPING=1 && ok "$d: STOPPING=1 on SIGTERM" || fail "$d: STOPPING=1 on SIGTERM"
done

# WATCHDOG_PID names another process: READY=1 but no watchdog pings.
start_notified reader-otherpid "$READER" 1
if wait_for 10 has "$NLOG" READY=1; then
	sleep 1
	n=$(count "$NLOG" WATCHDOG=1)
	[ "$n" = 0 ] && ok "reader: no WATCHDOG=1 when WATCHDOG_PID is another pid" ||
		fail "reader: no WATCHDOG=1 when WATCHDOG_PID is another pid" "got $n"
else
	fail "reader (WATCHDOG_PID=1): READY=1"
fi
kill -TERM "$DPID"
wait "$DPID"

finish
