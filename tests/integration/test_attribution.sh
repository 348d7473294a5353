#!/usr/bin/env bash
# Attribution on the real Docker engine: a busy process placed in a
# look-alike cgroup (/kwa-fake.slice/docker-<a real container's id>.scope,
# in every hierarchy, as anyone allowed to make a cgroup could) is not
# counted for that container and does not get it removed, while a real
# hog container is; the refusal shows in `status`. Containers are named
# kwa-<run>-..., removed at exit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

KWT=kwa-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-
if ! need_docker; then
	finish
	exit
fi
if [ "$(id -u)" != 0 ]; then
	fail "making a look-alike cgroup needs root"
	finish
	exit
fi
kwt_rm
FLAGS=(-o reader.interval=500ms -o policy.window=2s -o recorder.batch_delay=200ms
	-o "class.high.match=${KWT}high" -o class.high.min_alive=0
	-o "class.low.match=${KWT}low" -o class.low.min_alive=0)

gone() { ! docker ps -q --filter "name=^${KWT}$1\$" | grep -q .; }
cid_of() { docker inspect -f '{{.Id}}' "${KWT}$1"; }

# lookalike ID PID: a cgroup named like container ID's under a parent of
# our own, in every hierarchy there is, with PID moved into it.
FAKE_DIRS=()
lookalike() {
	local id=$1 pid=$2 root h parent d
	if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		set -- /sys/fs/cgroup
	else
		set -- /sys/fs/cgroup/*/
	fi
	for root in "$@"; do
		root=${root%/}
		parent=$root/kwa-fake.slice
		d=$parent/docker-$id.scope
		mkdir -p "$d" || return 1
		FAKE_DIRS+=("$d" "$parent")
		# cpuset: a new cgroup has no CPUs until given its parent's.
		for h in cpuset.cpus cpuset.mems; do
			if [ -e "$d/$h" ]; then
				cat "$root/$h" >"$parent/$h" && cat "$root/$h" >"$d/$h" || return 1
			fi
		done
		echo "$pid" >"$d/cgroup.procs" || return 1
	done
}
fake_cleanup() {
	local d
	if [ -n "${BUSY:-}" ]; then
		kill -KILL "$BUSY" 2>/dev/null
		wait "$BUSY" 2>/dev/null
	fi
	# A cgroup goes once its last task is gone: give the kernel a moment.
	for d in "${FAKE_DIRS[@]}"; do
		for _ in $(seq 20); do
			rmdir "$d" 2>/dev/null || [ ! -d "$d" ] && break
			sleep 0.1
		done
	done
	docker_cleanup
}
trap fake_cleanup EXIT

## 1. An idle real container, and a busy process in a look-alike of its cgroup.
# The busy process starts first: the lower pid comes first in a /proc
# walk, so a reader that took the first process's directory as the
# container's would read the look-alike's figures.
sh -c 'while :; do :; done' &
BUSY=$!
PIDS+=("$BUSY")
run_c "${KWT}low_idle" low_img
IDLE_ID=$(cid_of low_idle)
if lookalike "$IDLE_ID" "$BUSY"; then
	ok "look-alike cgroup made: $(sed -n 's/^[0-9]*:cpu:\(.*\)/\1/p; s/^0::\(.*\)/\1/p' /proc/$BUSY/cgroup | head -n 1)"
else
	fail "look-alike cgroup made"
fi
# The busy process does claim the container: without the rule it is one.
grep -q "docker-$IDLE_ID.scope" /proc/$BUSY/cgroup &&
	ok "the busy process's /proc/<pid>/cgroup names the real container's id" ||
	fail "busy process named like the container" "$(cat /proc/$BUSY/cgroup)"

# With the container's own cgroup figures, then from its processes alone.
for figures in cgroup processes; do
	use_state "lookalike-$figures"
	extra=()
	[ "$figures" = processes ] && extra=(-o reader.cgroup_root=)
	start_pipeline "${FLAGS[@]}" "${extra[@]}" -o policy.cpu_threshold="$CPU_THRESHOLD" ||
		fail "$figures: pipeline starts"
	# Long enough for several windows and the inspect of the container.
	sleep 8
	row=$(ctl decider containers | jq -c '.containers[] | select(.name == "'"${KWT}"'low_idle")')
	st=$(ctl decider status)
	nreal=$(docker top "${KWT}low_idle" -o pid | tail -n +2 | wc -l)
	if [ -n "$row" ] && [ "$(echo "$row" | jq .nprocs)" = "$nreal" ]; then
		ok "$figures: containers counts only the container's own $nreal process(es) for it"
	else
		fail "$figures: containers row of the real container" "$row (docker top: $nreal)"
	fi
	cpu=$(echo "$row" | jq -r .cpu_pct)
	if jq -en --argjson c "${cpu:-null}" --argjson t "$CPU_THRESHOLD" '$c != null and $c < $t' >/dev/null; then
		ok "$figures: its CPU is its own: $cpu % (figures: $(echo "$row" | jq -r .figures))"
	else
		fail "$figures: its CPU without the look-alike's" "$row"
	fi
	gone low_idle && fail "$figures: the idle container was removed for the look-alike's CPU" ||
		ok "$figures: the idle container is not removed"
	n=$(sql "SELECT count(*) FROM deletions WHERE container_id = '$IDLE_ID'")
	[ "$n" = 0 ] && ok "$figures: no deletion row for it" || fail "$figures: deletion rows for the idle container" "$n"
	refused=$(echo "$st" | jq '.attribution.refused_total // 0')
	[ "$refused" -ge 1 ] && ok "$figures: status counts the refused claim (attribution.refused_total $refused)" ||
		fail "$figures: status attribution" "$(echo "$st" | jq -c .attribution)"
	grep -q "attribution: .* pid $BUSY claims ${IDLE_ID:0:12} from /kwa-fake.slice/docker-" "$T/log" &&
		ok "$figures: the log names the look-alike: $(grep -c 'attribution:' "$T/log") line(s)" ||
		fail "$figures: attribution log line" "$(grep attribution "$T/log" | head -2)"
	echo "$st" | jq -e '.attribution.by_first_process >= 1' >/dev/null &&
		ok "$figures: the container's processes are held by its first process's cgroup" ||
		fail "$figures: held by the first process" "$(echo "$st" | jq -c .attribution)"
	[ "$figures" = processes ] || stop_pipeline
	gone low_idle && break
done

## 2. A real hog is still taken, with the look-alike still burning.
run_c "${KWT}high_cpu" high_cpu_img
wait_for 20 gone high_cpu && ok "the real hog container is removed" ||
	fail "real hog removed" "$(grep decider "$T/log" | tail -3)"
gone low_idle && fail "the idle container was removed" || ok "the idle container is still running"
stop_pipeline

kwt_rm
finish
