#!/usr/bin/env bash
# The action ladder against real containers: a CPU hog under
# `throttle,remove` is capped through Docker's update call within two
# samples (inspect shows NanoCpus, Docker's own stats show it at the cap)
# and is not removed while the cap keeps it under; a memory hog skips the
# cap and is removed; explain's reasons for a protected, a min_alive-held
# and a sustain-pending hog (a class with its own sustain and CPU
# threshold); release lifts the cap.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"
# This suite's containers: kwl-<run>-...
KWT=kwl-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-

if ! need_docker; then
	finish
	exit
fi
kwt_rm
ncpu=$(nproc)
total_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
mem_thr=$(awk -v t="$total_kb" 'BEGIN { printf "%.4f", 150 * 1024 * 100 / t }')	# 150 MiB
CAP=1		# percent of the machine: half the CPU threshold
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

run_c "${KWT}cap_1" high_cpu_img
run_c "${KWT}grafana" "${KWT}grafana"
run_c "${KWT}keep_1" high_cpu_img
run_c "${KWT}slow_1" high_cpu_img
start_pipeline -o reader.interval=500ms -o policy.window=2s -o recorder.batch_delay=200ms \
	-o policy.action=throttle,remove -o "policy.throttle_to=$CAP" -o policy.escalate_after=20s \
	-o "policy.cpu_threshold=$CPU_THRESHOLD" -o "policy.mem_threshold=$mem_thr" \
	-o "policy.protect=${KWT}grafana" \
	-o "class.high.match=${KWT}high" -o class.high.min_alive=0 \
	-o "class.low.match=${KWT}cap" -o class.low.min_alive=0 \
	-o "class.prot.match=${KWT}grafana" -o class.prot.min_alive=0 -o class.prot.cpu_threshold=0.5 \
	-o "class.keep.match=${KWT}keep" -o class.keep.min_alive=1 -o class.keep.cpu_threshold=0.5 \
	-o "class.big.match=${KWT}big" -o class.big.min_alive=0 -o class.big.cpu_threshold=100 \
	-o "class.slow.match=${KWT}slow" -o class.slow.min_alive=0 -o class.slow.sustain=600s \
	-o class.slow.cpu_threshold=0.5 -o "metrics.listen=127.0.0.1:$MPORT" ||
	fail "pipeline starts"

nano() { docker inspect -f '{{.HostConfig.NanoCpus}}' "$1"; }
capped() { [ "$(nano "${KWT}cap_1")" = "$((ncpu * 10000000 * CAP))" ]; }
if wait_for 20 capped; then ok "the CPU hog is capped: NanoCpus $(nano "${KWT}cap_1")"; else
	fail "CPU hog capped" "NanoCpus $(nano "${KWT}cap_1"); $(grep decider "$T/log" | tail -5)"; fi
row() { sql "SELECT action || '|' || step || '|' || result FROM deletions WHERE name = '${KWT}cap_1' ORDER BY id"; }
wait_for 5 sh -c "[ -n \"\$(sqlite3 -cmd '.timeout 5000' 'file:$T/kwarden.db?mode=ro' \"SELECT 1 FROM deletions WHERE name = '${KWT}cap_1'\")\" ]"
[ "$(row)" = "throttle|1|ok" ] && ok "its row: throttle, step 1, ok" || fail "throttle row" "$(row)"
# /metrics: the capped one is throttled, the others are not.
gauge() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1" -v c="name=\"$2\"" 'index($0, n "{") == 1 && index($0, c) { print $NF }'; }
wait_for 5 sh -c "[ \"\$(curl -s http://127.0.0.1:$MPORT/metrics | grep -c '^kwarden_container_throttled{.*name=\"${KWT}cap_1\".*} 1$')\" = 1 ]" &&
	ok "/metrics: kwarden_container_throttled 1 for the capped one" ||
	fail "throttled gauge" "$(curl -s "http://127.0.0.1:$MPORT/metrics" | grep container_throttled)"
[ "$(gauge kwarden_container_throttled "${KWT}keep_1")" = 0 ] &&
	ok "/metrics: 0 for one held by min_alive" ||
	fail "throttled gauge of keep_1" "$(gauge kwarden_container_throttled "${KWT}keep_1")"

# Within two samples of the first one that saw it over (1 s, rounded to
# the database's whole seconds).
first=$(sql "SELECT min(ts) FROM containers WHERE name = '${KWT}cap_1' AND cpu_pct > $CPU_THRESHOLD")
at=$(sql "SELECT min(ts) FROM deletions WHERE name = '${KWT}cap_1' AND action = 'throttle'")
if [ -n "$first" ] && [ -n "$at" ] && [ $((at - first)) -le 2 ]; then
	ok "capped within two samples of being over ($((at - first)) s)"
else fail "capped within two samples" "over at $first, capped at $at"; fi

# Docker's one-shot stats: CPU as a share of one CPU, the cap times ncpu.
sleep 3
stats_pct() {
	curl -s --unix-socket /var/run/docker.sock \
		"http://localhost/v1.41/containers/${KWT}cap_1/stats?stream=false" |
		jq -r '((.cpu_stats.cpu_usage.total_usage - .precpu_stats.cpu_usage.total_usage) /
			(.cpu_stats.system_cpu_usage - .precpu_stats.system_cpu_usage) *
			.cpu_stats.online_cpus * 100)'
}
s=$(stats_pct)
if awk -v s="$s" -v c="$((CAP * ncpu))" 'BEGIN { exit !(s != "" && s <= c * 1.5 + 0.5) }'; then
	ok "Docker's stats show it at the cap ($s% of one CPU, cap $((CAP * ncpu))%)"
else fail "stats at the cap" "$s% of one CPU"; fi

# Under its threshold now: past escalate_after it is neither removed nor
# acted on again.
sleep 24
[ "$(running '^cap_1$')" = 1 ] && ok "capped and under: not removed after escalate_after" ||
	fail "capped hog kept" "$(row)"
[ "$(row)" = "throttle|1|ok" ] && ok "and no second step" || fail "no second step" "$(row)"
e=$(ctl decider "explain ${KWT}cap_1")
echo "$e" | jq -e '.capped == true and .cap_pct == '"$CAP"' and .step == 1 and .ladder == "throttle,remove"
	and (.state | test("capped"))' >/dev/null &&
	ok "explain: capped, step 1 of throttle,remove" || fail "explain capped" "$e"

# Memory over: a cap frees no memory, so remove (step 2) at once. (Its
# class's CPU threshold keeps its start-up CPU from being judged.)
run_c "${KWT}big_1" high_mem_img 300
mem_gone() { [ "$(running '^big_1$')" = 0 ]; }
if wait_for 30 mem_gone; then ok "a memory hog is removed"; else fail "memory hog removed" "$(grep decider "$T/log" | tail -5)"; fi
mrow() { sql "SELECT group_concat(action || '|' || step, ' ') FROM deletions WHERE name = '${KWT}big_1'"; }
wait_for 5 sh -c "[ -n \"\$(sqlite3 -cmd '.timeout 5000' 'file:$T/kwarden.db?mode=ro' \"SELECT 1 FROM deletions WHERE name = '${KWT}big_1'\")\" ]"
[ "$(mrow)" = "remove|2" ] && ok "its only row: remove, step 2 (throttle skipped)" || fail "memory hog rows" "$(mrow)"

# Why not the others (their classes' thresholds keep them over on a busy
# machine).
field() { ctl decider "explain $1" | jq -r "$2"; }
verdict_is() { [ "$(field "$1" .verdict)" = "$2" ]; }
wait_for 10 verdict_is "${KWT}grafana" protected
e=$(ctl decider "explain ${KWT}grafana")
echo "$e" | jq -e '.verdict == "protected" and .protected_by == "'"${KWT}"'grafana"' >/dev/null &&
	ok "explain: protected" || fail "explain protected" "$e"
wait_for 10 verdict_is "${KWT}keep_1" min-alive
e=$(ctl decider "explain ${KWT}keep_1")
echo "$e" | jq -e '.verdict == "min-alive" and .class == "keep" and .class_min_alive == 1
	and (.reason | test("at min_alive"))' >/dev/null &&
	ok "explain: held by min_alive" || fail "explain min_alive" "$e"
wait_for 10 verdict_is "${KWT}slow_1" sustain-pending
e=$(ctl decider "explain ${KWT}slow_1")
echo "$e" | jq -e '.verdict == "sustain-pending" and .sustain_pending == true and .sustain_s == 600
	and .cpu_threshold == 0.5 and .over_for_s >= 0 and .sustain_left_s > 0 and .sustain_left_s <= 600
	and (.reason | test("sustain: over for"))' >/dev/null &&
	ok "explain: sustain pending, with its progress" || fail "explain sustain" "$e"
[ "$(nano "${KWT}slow_1")" = 0 ] && [ "$(nano "${KWT}keep_1")" = 0 ] && [ "$(nano "${KWT}grafana")" = 0 ] &&
	ok "none of them capped" || fail "others uncapped"
n=$(sql "SELECT count(*) FROM decisions WHERE name = '${KWT}slow_1' AND verdict = 'sustain-pending'")
# Written when the candidates or a verdict change, not every sample.
samples=$(sql "SELECT count(*) FROM containers WHERE name = '${KWT}slow_1'")
[ "${n:-0}" -ge 1 ] && [ "${n:-0}" -lt "${samples:-0}" ] &&
	ok "decisions table: the sustain-pending verdict ($n rows in $samples samples)" ||
	fail "decisions rows" "${n:-0} rows in ${samples:-0} samples"
p=$(ctl decider policy)
echo "$p" | jq -e '.ladder == "throttle,remove" and .escalate_after_ms == 20000 and
	([.classes[] | select(.name == "slow")][0].sustain_ms == 600000)' >/dev/null &&
	ok "policy: the ladder and the class's sustain" || fail "policy view" "$p"

# release lifts the cap (the whole machine), then escalate_after alone.
r=$(ctl decider "release ${KWT}cap_1")
echo "$r" | jq -e '.cap_lifted == true' >/dev/null && ok "release: cap lifted" || fail "release reply" "$r"
uncapped() { [ "$(nano "${KWT}cap_1")" = "$((ncpu * 1000000000))" ]; }
wait_for 10 uncapped && ok "inspect: NanoCpus back to the whole machine" || fail "uncapped" "$(nano "${KWT}cap_1")"
wait_for 5 sh -c "[ -n \"\$(sqlite3 -cmd '.timeout 5000' 'file:$T/kwarden.db?mode=ro' \"SELECT 1 FROM deletions WHERE name = '${KWT}cap_1' AND action = 'release' AND result = 'ok'\")\" ]" &&
	ok "a release row, result ok" || fail "release row" "$(row)"
ctl decider "release ${KWT}cap_1" | jq -e '.error | test("not capped")' >/dev/null &&
	ok "release again: nothing to release" || fail "second release"
ctl decider release | jq -e '.error | test("usage")' >/dev/null && ok "release: usage" || fail "release usage"
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "rc $STOP_RC"
kwt_rm
finish
