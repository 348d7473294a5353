#!/bin/bash
# What kwarden-top costs: a real pipeline sampling every second with N
# containers (processes in cgroups named like Docker's: the reader and
# decider see them exactly as containers), kwarden-top's full screen in a
# detached tmux at a 1 s refresh for S seconds, and its CPU time from
# /proc/<pid>/stat over that span. Also --once, end to end.
#
#   tests/bench/top.sh [N [S]]        (defaults: 100 containers, 60 s)
#
# Needs root (cgroups), tmux, a built tree. Removes what it made on exit.
set -u
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-100}
S=${2:-60}
T=$(mktemp -d /tmp/kwtop-bench.XXXXXX)
TMUX_SOCK=kwtop-bench-$$
CGS=()
PROCS=()
RUN_PID=""

cleanup() {
	local p c
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null
	[ -n "$RUN_PID" ] && kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
	for p in "${PROCS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	for c in "${CGS[@]}"; do rmdir "$c" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "top.sh: needs root (cgroups)" >&2; exit 2; }
for h in memory cpuacct cpu pids unified; do
	[ -d "/sys/fs/cgroup/$h" ] && break
done
[ -d "/sys/fs/cgroup/$h" ] || { echo "top.sh: no cgroup hierarchy to use" >&2; exit 2; }

for _ in $(seq "$N"); do
	id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mkdir -p "/sys/fs/cgroup/$h/docker/$id" || exit 1
	CGS+=("/sys/fs/cgroup/$h/docker/$id")
	sleep 100000 &
	PROCS+=($!)
	echo $! >"/sys/fs/cgroup/$h/docker/$id/cgroup.procs"
done

"$ROOT/run/kwarden-run" --state-dir "$T" -o reader.interval=1s \
	-o policy.action=dry-run >"$T/log" 2>&1 &
RUN_PID=$!
for _ in $(seq 100); do
	n=$("$ROOT/run/kwarden-top" --once --state-dir "$T" --timeout 5s 2>/dev/null |
		grep -o 'containers [0-9]*' | head -n1 | cut -d' ' -f2)
	[ "${n:-0}" -ge "$N" ] && break
	sleep 0.5
done
echo "containers seen by the decider: ${n:-0} (wanted $N)"

# --once: wall and CPU time, five runs.
for _ in 1 2 3 4 5; do
	/usr/bin/time -f "%e %U %S" "$ROOT/run/kwarden-top" --once \
		--state-dir "$T" >/dev/null 2>>"$T/once.times"
done
awk '{ w += $1; c += $2 + $3 } END { printf "--once: %.2f s wall, %.3f s CPU (mean of %d)\n", w / NR, c / NR, NR }' "$T/once.times"

tmux -L "$TMUX_SOCK" new-session -d -x 160 -y 50 \
	"'$ROOT/run/kwarden-top' --state-dir '$T' --interval 1s"
sleep 3
pid=$(pgrep -x kwarden-top -P "$(tmux -L "$TMUX_SOCK" list-panes -F '#{pane_pid}')" ||
	tmux -L "$TMUX_SOCK" list-panes -F '#{pane_pid}')
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
s0=$(date +%s.%N)
sleep "$S"
t1=$(ticks)
s1=$(date +%s.%N)
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")
awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$s0" -v b="$s1" -v n="$N" -v r="$rss" 'BEGIN {
	s = b - a
	printf "live view, %d containers, 1 s refresh, %.0f s: %.2f s CPU = %.2f %% of one core, RSS %d kB\n",
	    n, s, t / hz, 100 * t / hz / s, r
}'
tmux -L "$TMUX_SOCK" capture-pane -p -t 0 | head -4
