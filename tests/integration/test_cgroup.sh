#!/usr/bin/env bash
# Container figures from the container's own cgroup, on the real Docker
# engine here: a container that burns CPU only through short-lived
# children is evicted as fast as a plain hog (with the cgroup reads off it
# usually is not, reported for comparison); CPU and memory agree with Docker's
# one-shot stats; a pre-forking container whose children share their
# parent's pages is charged once (working set), while the seed's RSS sum
# would have taken it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

if ! need_docker; then
	finish
	exit
fi
kwt_rm
FLAGS=(-o reader.interval=500ms -o policy.window=2s -o recorder.batch_delay=200ms
	-o "class.high.match=${KWT}high" -o class.high.min_alive=0
	-o "class.low.match=${KWT}low, ${KWT}pre" -o class.low.min_alive=0)

# gone NAME: the container of this run is no longer running.
gone() { ! docker ps -q --filter "name=^${KWT}$1\$" | grep -q .; }

## 1. Short-lived children against a plain hog, with the cgroup reads off.
run_c "${KWT}high_fork" high_fork_img 40
run_c "${KWT}high_cpu" high_cpu_img
use_state off
start_pipeline "${FLAGS[@]}" -o policy.cpu_threshold="$CPU_THRESHOLD" \
	-o reader.cgroup_root= || fail "pipeline (cgroup off) starts"
wait_for 15 gone high_cpu && ok "cgroup off: the plain hog is removed" ||
	fail "cgroup off: plain hog removed" "$(grep decider "$T/log" | tail -3)"
sleep 4
fork_cpu=$(ctl decider containers | jq -r '.containers[] | select(.name == "'"${KWT}"'high_fork") | .cpu_pct')
# For comparison only: whether process sums miss it depends on how long
# its children happen to live on a loaded machine (removed in one run of
# three under CI load), so it is reported, not checked; the checks below
# are on the cgroup figures.
if ! gone high_fork; then
	echo "# cgroup off: the short-lived-children hog is not seen (cpu ${fork_cpu:-?} %), not removed"
else
	echo "# cgroup off: the short-lived-children hog was removed all the same (its children lived long enough to be sampled)"
fi
stop_pipeline

kwt_rm
run_c "${KWT}high_fork" high_fork_img 40
run_c "${KWT}high_cpu" high_cpu_img
use_state on
start_pipeline "${FLAGS[@]}" -o policy.cpu_threshold="$CPU_THRESHOLD" || fail "pipeline starts"
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)
wait_for 20 gone high_cpu && t_cpu=$(since "$t0")
wait_for 20 gone high_fork && t_fork=$(since "$t0")
[ -n "${t_cpu:-}" ] && ok "plain hog removed after ${t_cpu} s" || fail "plain hog removed"
[ -n "${t_fork:-}" ] && ok "short-lived-children hog removed after ${t_fork} s" ||
	fail "short-lived-children hog removed" "$(ctl decider containers | jq -c '.containers[] | {name, cpu_pct, cpu_pct_procs, figures}')"
# Its row is published when Docker's call ends, which may be after the
# container has left `docker ps`.
fork_row() { sql "SELECT reason FROM deletions WHERE name = '${KWT}high_fork' LIMIT 1" | grep -q .; }
wait_for 15 fork_row
row=$(sql "SELECT reason FROM deletions WHERE name = '${KWT}high_fork' LIMIT 1")
echo "$row" | grep -qE "^cpu [0-9.]+% > " && ok "its deletion row says why: $row" || fail "deletion row" "$row"
stop_pipeline

## 2. Agreement with Docker's one-shot stats (GET /containers/{id}/stats).
kwt_rm
run_c "${KWT}low_cpu" high_cpu_img
run_c "${KWT}low_mem" high_mem_img 256
use_state stats
start_pipeline "${FLAGS[@]}" -o policy.action=dry-run -o policy.cpu_threshold=100 \
	-o policy.mem_threshold=100 || fail "stats pipeline starts"
mem_full() { [ "$(docker stats --no-stream --format '{{.MemUsage}}' "${KWT}low_mem" | cut -d' ' -f1 | tr -d 'MiB' | cut -d. -f1)" -ge 250 ]; }
wait_for 20 mem_full
sleep 4
ncpu=$(nproc)
dstats() { curl -s --unix-socket /var/run/docker.sock "http://docker/containers/$1/stats?stream=false"; }
kw=$(ctl decider containers)
for c in low_cpu low_mem; do
	s=$(dstats "${KWT}$c")
	# Docker's CPU % is of one CPU (the CLI's formula); kwarden's of the machine.
	d_cpu=$(echo "$s" | jq --argjson n "$ncpu" '((.cpu_stats.cpu_usage.total_usage - .precpu_stats.cpu_usage.total_usage)
		/ (.cpu_stats.system_cpu_usage - .precpu_stats.system_cpu_usage)) * 100 * .cpu_stats.online_cpus / $n')
	d_ws=$(echo "$s" | jq '(.memory_stats.usage - (.memory_stats.stats.total_inactive_file // .memory_stats.stats.inactive_file // 0)) / 1024 | floor')
	k_cpu=$(echo "$kw" | jq '.containers[] | select(.name == "'"${KWT}$c"'") | .cpu_pct')
	k_ws=$(echo "$kw" | jq '.containers[] | select(.name == "'"${KWT}$c"'") | .working_set_kb')
	# CPU: 5 points or 20 % apart at most (windows differ: 1 s vs 2 s).
	if jq -en --argjson a "${k_cpu:-null}" --argjson b "$d_cpu" \
	    '$a != null and (($a - $b) | fabs) <= ([5, 0.2 * $b] | max)' >/dev/null; then
		ok "$c: CPU agrees with Docker's stats (kwarden $k_cpu %, Docker $d_cpu % of the machine)"
	else
		fail "$c: CPU vs Docker's stats" "kwarden $k_cpu, Docker $d_cpu"
	fi
	if jq -en --argjson a "${k_ws:-null}" --argjson b "$d_ws" \
	    '$a != null and (($a - $b) | fabs) <= ([1024, 0.03 * $b] | max)' >/dev/null; then
		ok "$c: working set agrees with Docker's stats (kwarden $k_ws kB, Docker $d_ws kB)"
	else
		fail "$c: working set vs Docker's stats" "kwarden $k_ws, Docker $d_ws"
	fi
done
stop_pipeline

## 3. Pre-forking: 8 processes share 256 MiB. Threshold between the two.
kwt_rm
run_c "${KWT}prefork" prefork_img 256 7
total_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
# The RSS sum is ~8 x 256 MiB; the working set ~256 MiB. Halfway (log) between.
thr=$(awk -v t="$total_kb" 'BEGIN { printf "%.2f", 4 * 256 * 1024 * 100 / t }')
rss_full() { [ "$(docker top "${KWT}prefork" -o pid | tail -n +2 | wc -l)" -ge 8 ]; }
wait_for 20 rss_full
sleep 2
for basis in working_set rss; do
	use_state "prefork-$basis"
	start_pipeline "${FLAGS[@]}" -o policy.action=dry-run -o policy.cpu_threshold=100 \
		-o policy.mem_threshold="$thr" -o policy.mem_basis="$basis" || fail "prefork pipeline starts"
	sleep 5
	c=$(ctl decider containers | jq -c '.containers[] | select(.name == "'"${KWT}"'prefork")')
	n=$(sql "SELECT count(*) FROM deletions WHERE name = '${KWT}prefork'")
	if [ "$basis" = working_set ]; then
		[ "$n" = 0 ] && ok "working set: the pre-forking container is charged once ($(echo "$c" | jq -r '"mem \(.mem_pct)%, ws \(.working_set_kb) kB, rss sum \(.rss_kb) kB"')), under $thr %" ||
			fail "working set: charged once" "$c; $n rows"
	else
		[ "$n" -ge 1 ] && ok "rss (the seed's sum): the same container crosses $thr % and is taken (dry-run)" ||
			fail "rss basis takes it" "$c; $n rows"
	fi
	stop_pipeline
done

kwt_rm
finish
