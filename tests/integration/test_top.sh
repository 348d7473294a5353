#!/usr/bin/env bash
# kwarden-top against a real pipeline and real containers: --once prints
# the frame (containers by excess, classes, policy, health, processes),
# and the full-screen view driven in tmux shows the table, sorts and
# filters on keys, explains, redraws on resize, and rides out a restart
# of its pipeline's decider. Containers are named kwtop-<run>-...
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

TOPBIN="$TOP/run/kwarden-top"
# Our own prefix; the classes know only this run's containers.
KWT=kwtop-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-
DOCKER_FLAGS=(-o reader.interval=500ms -o policy.window=2s
	-o recorder.batch_delay=200ms
	-o "class.high.match=${KWT}high" -o class.high.min_alive=0
	-o "class.low.match=${KWT}low" -o class.low.min_alive=3)
TMUX_SOCK=kwtop-$$
tm() { tmux -L "$TMUX_SOCK" "$@"; }
top_cleanup() {
	tm kill-server 2>/dev/null
	docker_cleanup
}
trap top_cleanup EXIT

if [ ! -x "$TOPBIN" ]; then
	fail "run/kwarden-top is built (make run/kwarden-top)"
	finish
	exit
fi

## Usage and an unreachable decider: clear errors, the documented codes.
"$TOPBIN" --bogus >/dev/null 2>"$T/err"
[ $? = 2 ] && grep -q "unrecognized option" "$T/err" && ok "bad option: exit 2" ||
	fail "bad option: exit 2" "$(cat "$T/err")"
"$TOPBIN" --once --interval 0 >/dev/null 2>"$T/err"
[ $? = 2 ] && ok "bad duration: exit 2" || fail "bad duration: exit 2" "$(cat "$T/err")"
"$TOPBIN" </dev/null >/dev/null 2>"$T/err"
[ $? = 2 ] && grep -q "needs a terminal" "$T/err" && ok "no terminal: exit 2, says --once" ||
	fail "no terminal: exit 2" "$(cat "$T/err")"
"$TOPBIN" --version | grep -q '^kwarden-top [0-9]' && ok "--version" || fail "--version"
t0=$(date +%s%N)
"$TOPBIN" --once --socket-dir "$T/nowhere" >"$T/out" 2>"$T/err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc = 1 ] && [ ! -s "$T/out" ] &&
    grep -q "nowhere/decider.sock: the decider is unreachable: cannot connect" "$T/err"; then
	ok "--once, no decider: exit 1 after ${ms} ms: $(cat "$T/err")"
else
	fail "--once, no decider: exit 1 with a clear error" "rc=$rc $(cat "$T/err")"
fi

if ! need_docker; then
	finish
	exit
fi
kwt_rm

## Three known containers: a CPU hog of class high, two idle of class low.
run_c "${KWT}high_cpu_z" high_cpu_img
run_c "${KWT}low_a" low_img
run_c "${KWT}low_b" low_img
[ "$(running .)" = 3 ] && ok "3 containers running" || fail "3 containers running"

## The live view starts before the pipeline: it waits and says so. A tall
## window: other containers on this engine share the table.
tm new-session -d -x 200 -y 100 \
	"'$TOPBIN' --state-dir '$T' --interval 500ms; echo \$? >'$T/top.rc'; sleep 60"
screen() { tm capture-pane -p -t 0; }
shows() { screen | grep -q -- "$1"; }
hides() { ! screen | grep -q -- "$1"; }
# row NAME: the screen line a container is on (0 when absent).
row() { screen | grep -n -- "^$KWT$1 " | head -n 1 | cut -d: -f1; }
if wait_for 5 shows "reconnecting"; then
	ok "no decider yet: the screen says reconnecting"
else
	fail "no decider yet: says reconnecting" "$(screen | head -5)"
fi

# A slow restart of the decider later leaves time to see it down.
start_pipeline "${DOCKER_FLAGS[@]}" -o policy.cpu_threshold=$CPU_THRESHOLD \
	-o policy.action=dry-run -o run.restart_delay=3s || fail "pipeline starts"

## --once: one plain frame with the known containers, by excess.
named() {	# the three names are in a frame from --once
	COLUMNS=150 "$TOPBIN" --once --state-dir "$T" >"$T/once" 2>"$T/once.err" &&
		grep -q "^${KWT}high_cpu_z " "$T/once" &&
		grep -q "^${KWT}low_a " "$T/once" && grep -q "^${KWT}low_b " "$T/once"
}
if wait_for 20 named; then
	ok "--once: the 3 containers by name"
else
	fail "--once: the 3 containers by name" "$(cat "$T/once" "$T/once.err")"
fi
COLUMNS=150 "$TOPBIN" --once --no-color --state-dir "$T" >"$T/once" 2>"$T/once.err"
rc=$?
[ $rc = 0 ] && ok "--once: exit 0" || fail "--once: exit 0" "rc=$rc $(cat "$T/once.err")"
order=$(grep -o "^${KWT}[a-z_]*" "$T/once" | sed "s/^$KWT//" | tr '\n' ' ')
[ "$order" = "high_cpu_z low_a low_b " ] && ok "--once: sorted by excess (hog first): $order" ||
	fail "--once: sorted by excess" "$order"
# Dry-run has decided on it by now, or is about to. Fields top does not
# know (identity, quarantined) follow the state as key=value extras.
grep -E "^${KWT}high_cpu_z +high +[0-9.]+ \[#+" "$T/once" |
	grep -qE "\+[0-9.]+ (running|acted \(dry-run\))( [a-z_]+=.*)?$" &&
	ok "--once: the hog's class, bar, excess over and state" ||
	fail "--once: the hog's row" "$(grep "^${KWT}high_cpu_z" "$T/once")"
grep -E "^${KWT}low_a +low +[0-9.]+ \[" "$T/once" | grep -q -- "-[0-9.]* running" &&
	ok "--once: an idle one under the thresholds" ||
	fail "--once: the idle row" "$(grep "^${KWT}low_a" "$T/once")"
grep -q "^policy cpu > ${CPU_THRESHOLD}.0%  mem > 20.0%  window 2.0s  action dry-run" "$T/once" &&
	ok "--once: the policy line" || fail "--once: the policy line" "$(grep ^policy "$T/once")"
grep -qE "^classes  high [01]/1 alive, min 0( \(at min\))?  low 2/2 alive, min 3 \(at min\)" "$T/once" &&
	ok "--once: class counts against min_alive" ||
	fail "--once: class counts" "$(grep ^classes "$T/once")"
grep -qE "^health reader up [0-9.a-z]+ errors [0-9]+ \| decider up .* behind [0-9]+ samples? .*\| recorder up .* behind [0-9]+ msgs?" "$T/once" &&
	ok "--once: the three daemons' health" || fail "--once: health" "$(grep ^health "$T/once")"
grep -qE "^kwarden-top  host cpu [0-9.]+%  mem [0-9.]+[KMG]/[0-9.]+[KMG] [0-9.]+%  procs [0-9]+" "$T/once" &&
	grep -q "docker connected" "$T/once" &&
	ok "--once: host, sample age and Docker in the header" || fail "--once: header" "$(head -2 "$T/once")"
grep -qE "^ +[0-9]+ prog +[0-9.]+ .* ${KWT}high_cpu_z$" "$T/once" &&
	ok "--once: the hog's process among the top processes" ||
	fail "--once: top processes" "$(sed -n '/PROCESS/,$p' "$T/once")"
if grep -q $'\e' "$T/once"; then fail "--once: no escape sequences"; else ok "--once: plain text"; fi

if command -v valgrind >/dev/null && ! grep -q fsanitize "$TOP/build/flags" 2>/dev/null; then
	if valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --error-exitcode=99 "$TOPBIN" --once --state-dir "$T" >/dev/null 2>"$T/vg"; then
		ok "--once: valgrind clean"
	else
		fail "--once: valgrind clean" "$(tail -20 "$T/vg")"
	fi
fi

## The full screen: table, the dry-run action, sorting, filtering.
if wait_for 10 shows "^${KWT}low_b "; then
	ok "screen: the table shows the containers"
else
	fail "screen: the table" "$(screen)"
fi
# A hog that starts now is decided on while we watch (dry-run: once).
run_c "${KWT}high_cpu_y" high_cpu_img
wait_for 15 shows "^ *[0-9.]*[smh]* ${KWT}high_cpu_y  *high  *dry-run ok  *cpu [0-9.]*% > ${CPU_THRESHOLD}.0%" &&
	ok "screen: a new hog's dry-run decision under last actions" ||
	fail "screen: last actions" "$(screen)"
# By excess: the hog first.
[ "$(row high_cpu_z)" -lt "$(row low_a)" ] && [ "$(row low_a)" -lt "$(row low_b)" ] &&
	shows "EXCESSv" && ok "screen: sorted by excess" || fail "screen: sorted by excess" "$(screen)"
tm send-keys -t 0 N
tm send-keys -t 0 N
sorted_desc() {
	shows "CONTAINER^" && [ "$(row low_b)" -lt "$(row low_a)" ] &&
		[ "$(row low_a)" -lt "$(row high_cpu_z)" ]
}
wait_for 3 sorted_desc && ok "screen: N N sorts by name, Z to A" ||
	fail "screen: sorting on a key" "$(screen)"
tm send-keys -t 0 X
wait_for 3 shows "EXCESSv" && ok "screen: X back to excess" || fail "screen: X sorts by excess"
tm send-keys -t 0 f
high_only() { shows "filter: high" && [ "$(row high_cpu_z)" -gt 0 ] && [ "$(row low_a)" = "" ]; }
wait_for 3 high_only && ok "screen: f filters to class high" || fail "screen: filter high" "$(screen)"
# Explain the selected row: the first of class high is one of our hogs
# (other containers on this engine are in class none).
tm send-keys -t 0 g e
explained() {
	shows "explain ${KWT}high_cpu_[yz]: not supported by this decider" ||
		shows "explain ${KWT}high_cpu_[yz]:$"
}
wait_for 3 explained && ok "screen: e explains the selected container" ||
	fail "screen: explain" "$(screen | tail -15)"
tm send-keys -t 0 Escape
wait_for 3 shows "LAST ACTIONS" && ok "screen: Esc closes explain" || fail "screen: Esc"
tm send-keys -t 0 f
low_only() { shows "filter: low" && [ "$(row high_cpu_z)" = "" ] && [ "$(row low_a)" -gt 0 ]; }
wait_for 3 low_only && ok "screen: f again: class low" || fail "screen: filter low" "$(screen)"
tm send-keys -t 0 f
tm send-keys -t 0 f
wait_for 3 shows "filter: all" && [ "$(row high_cpu_z)" -gt 0 ] &&
	ok "screen: filters cycle back to all" || fail "screen: filter all" "$(screen)"

## Resize: the frame follows the window.
tm resize-window -t 0 -x 100 -y 30
resized() {
	[ "$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 100 ] &&
		screen | sed -n 30p | grep -q "q quit"
}
wait_for 3 resized && ok "screen: redrawn at 100x30" || fail "screen: resize" "$(screen)"
tm resize-window -t 0 -x 200 -y 100

## The decider killed: the screen says so, then comes back on its own.
dec_pid=$(child_pid decider)
kill -KILL "$dec_pid"
down() { shows "reconnecting" && shows "decider down"; }
wait_for 5 down && ok "decider killed: the screen says reconnecting, decider down" ||
	fail "decider killed: shown" "$(screen | head -6)"
back() {
	shows "decider restarted 1 time" && shows "^${KWT}high_cpu_z " &&
		hides "decider down"
}
if wait_for 20 back; then
	ok "decider restarted: reconnected, the table is back"
else
	fail "decider restarted: reconnected" "$(screen | head -12)"
fi
new_pid=$(child_pid decider)
[ -n "$new_pid" ] && [ "$new_pid" != "$dec_pid" ] && ok "a new decider ($dec_pid -> $new_pid)" ||
	fail "a new decider" "$dec_pid -> $new_pid"

## q quits with status 0.
tm send-keys -t 0 q
wait_for 5 test -s "$T/top.rc" && [ "$(cat "$T/top.rc")" = 0 ] &&
	ok "q: exit 0" || fail "q: exit 0" "$(cat "$T/top.rc" 2>/dev/null)"

stop_pipeline
finish
