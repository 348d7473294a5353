#!/usr/bin/env bash
# The decider against a real Docker engine: CPU hogs evicted down to
# min_alive with grafana and the idle ones untouched (first in dry-run,
# then for real), a memory hog over the threshold removed and one under it
# kept, containers appearing and leaving through events, and the decider
# valgrind-clean with Docker absent. Containers are named kwt-<run>-... dockerd restarts: test_docker_restart.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

if ! need_docker; then
	finish
	exit
fi
kwt_rm

# deletion rows of one pipeline, as "name|image|class|action|result|reason".
deletions() {
	sql "SELECT name, image, class, action, result, reason FROM deletions ORDER BY id"
}

## 1 and 3: 3 idle low, 4 CPU-hog high, a CPU-hog grafana.
for i in 1 2 3; do run_c "${KWT}low_$i" low_img; done
for i in 1 2 3 4; do run_c "${KWT}high_cpu_$i" high_cpu_img; done
run_c "${KWT}grafana" "${KWT}grafana"
[ "$(running .)" = 8 ] && ok "8 containers running" || fail "8 containers running"

# Dry-run first: the same decisions, recorded, nothing touched.
use_state dry
check "dry-run pipeline starts" start_pipeline "${DOCKER_FLAGS[@]}" \
	-o "policy.cpu_threshold=$CPU_THRESHOLD" -o policy.action=dry-run
two_rows() { [ "$(sql "SELECT count(*) FROM deletions")" -ge 2 ]; }
if wait_for 15 two_rows; then
	sleep 3	# would a third come?
	rows=$(deletions)
	n=$(echo "$rows" | grep -c .)
	[ "$n" = 2 ] && ok "dry-run: 2 decisions recorded" || fail "dry-run: 2 decisions" "$rows"
	bad=$(echo "$rows" | grep -vcE "^${KWT}high_cpu_[1-4]"'\|high_cpu_img\|high\|dry-run\|ok\|cpu [0-9.]+% > '"$CPU_THRESHOLD"'\.00?%$')
	[ "$bad" = 0 ] && ok "dry-run rows: name, image, class high, dry-run, ok, reason" || fail "dry-run rows" "$rows"
else
	fail "dry-run: 2 decisions within 15 s" "$(deletions; grep decider "$T/log" | tail -5)"
fi
[ "$(running .)" = 8 ] && ok "dry-run: all 8 still running" || fail "dry-run removed something" "$(docker ps --format '{{.Names}}')"
st=$(ctl decider containers)
echo "$st" | jq -e '[.containers[] | select(.name | startswith("'"$KWT"'high_cpu_")) | select(.state == "acted (dry-run)")] | length == 2' >/dev/null &&
	ok "containers: 2 high shown as acted (dry-run)" || fail "containers states in dry-run" "$st"
stop_pipeline

# For real: within 15 s exactly 2 high left, the rest untouched.
use_state remove
start_pipeline "${DOCKER_FLAGS[@]}" -o "policy.cpu_threshold=$CPU_THRESHOLD" || fail "remove pipeline starts"
t0=$(date +%s)
two_high() { [ "$(running '^high_cpu_')" = 2 ]; }
if wait_for 15 two_high; then
	ok "2 high left after $(( $(date +%s) - t0 )) s"
else
	fail "2 high left within 15 s" "$(running '^high_cpu_') left; $(grep decider "$T/log" | tail -5)"
fi
wait_for 5 two_rows
sleep 2	# nothing more may go
[ "$(running '^high_cpu_')" = 2 ] && ok "still exactly 2 high" || fail "exactly 2 high" "$(running '^high_cpu_')"
[ "$(running '^low_')" = 3 ] && ok "the 3 low untouched" || fail "3 low untouched"
[ "$(running '^grafana$')" = 1 ] && ok "grafana untouched (protected)" || fail "grafana untouched"
rows=$(deletions)
n=$(echo "$rows" | grep -c .)
[ "$n" = 2 ] && ok "2 deletion rows" || fail "2 deletion rows" "$rows"
bad=$(echo "$rows" | grep -vcE "^${KWT}high_cpu_[1-4]"'\|high_cpu_img\|high\|remove\|ok\|cpu [0-9.]+% > '"$CPU_THRESHOLD"'\.00?%$')
[ "$bad" = 0 ] && ok "rows: name, image, class, remove, ok, 'cpu N% > $CPU_THRESHOLD.0%'" || fail "deletion rows" "$rows"
gone=$(sql "SELECT name FROM deletions" | sort)
still=$(docker ps --filter "name=^${KWT}high_cpu_" --format '{{.Names}}' | sort)
[ -z "$(comm -12 <(echo "$gone") <(echo "$still"))" ] && ok "the rows name the removed ones" || fail "rows name running containers" "$gone / $still"
grep -q "protected (matches \"grafana\")" "$T/log" && ok "log says grafana is protected" || fail "grafana skip logged"
s=$(ctl decider status)
echo "$s" | jq -e '.docker.connected == true and .docker.state == "connected" and .docker.actions_ok == 2 and .docker.actions_failed == 0 and .action == "remove"' >/dev/null &&
	ok "status: docker connected, 2 actions ok" || fail "status docker" "$(echo "$s" | jq -c .docker)"
c=$(ctl decider containers)
echo "$c" | jq -e '[.containers[] | select(.name == "'"$KWT"'grafana" and .image == "'"$KWT"'grafana" and .class == "low" and .state == "running")] | length == 1' >/dev/null &&
	ok "containers: name, image, class, state from Docker" || fail "containers enrichment" "$c"
n=$(sql "SELECT count(*) FROM containers WHERE name LIKE '${KWT}low_%' AND image = 'low_img' AND class = 'low'")
[ "${n:-0}" -gt 0 ] && ok "containers rows carry name, image and class" || fail "containers rows enriched"
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "rc $STOP_RC"
kwt_rm

## 2: memory over the threshold removed, under it kept.
total_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
thr=$(awk -v t="$total_kb" 'BEGIN { printf "%.4f", 200 * 1024 * 100 / t }')	# 200 MiB
run_c "${KWT}mem_big" high_mem_img 400
run_c "${KWT}mem_small" high_mem_img 40
use_state mem
start_pipeline "${DOCKER_FLAGS[@]}" -o class.high.min_alive=0 \
	-o policy.cpu_threshold=90 -o "policy.mem_threshold=$thr" || fail "mem pipeline starts"
big_gone() { [ "$(running '^mem_big$')" = 0 ]; }
if wait_for 20 big_gone; then ok "memory hog over $thr% (200 MiB) removed"; else fail "memory hog removed" "$(grep decider "$T/log" | tail -5)"; fi
sleep 2
[ "$(running '^mem_small$')" = 1 ] && ok "memory hog under the threshold kept" || fail "small memory hog kept"
wait_for 5 sql "SELECT 1 FROM deletions WHERE name = '${KWT}mem_big'" | grep -q 1
r=$(sql "SELECT class || '|' || action || '|' || result || '|' || reason FROM deletions WHERE name = '${KWT}mem_big'")
case "$r" in
high\|remove\|ok\|mem*%*'>'*%) ok "its row: high, remove, ok, '$r'" ;;
*) fail "mem deletion row" "'$r'" ;;
esac
n=$(sql "SELECT count(*) FROM deletions WHERE name = '${KWT}mem_small'")
[ "$n" = 0 ] && ok "no row for the small one" || fail "row for the small one"
stop_pipeline
kwt_rm

## SIGHUP: from dry-run to remove, the new action takes effect.
use_state hup
cat >"$T/kw.conf" <<CONF
[policy]
cpu_threshold = $CPU_THRESHOLD
action = dry-run
CONF
for i in 1 2 3; do run_c "${KWT}high_cpu_h$i" high_cpu_img; done
start_pipeline -c "$T/kw.conf" "${DOCKER_FLAGS[@]}" || fail "hup pipeline starts"
dry_row() { [ "$(sql "SELECT count(*) FROM deletions WHERE action = 'dry-run'")" = 1 ]; }
wait_for 15 dry_row && ok "dry-run decision before the reload" || fail "dry-run row before reload"
sed -i 's/^action = dry-run/action = remove/' "$T/kw.conf"
kill -HUP "$(child_pid decider)"
one_gone() { [ "$(running '^high_cpu_h')" = 2 ]; }
wait_for 15 one_gone && ok "after SIGHUP, action remove: one high removed" || fail "remove after SIGHUP" "$(grep decider "$T/log" | tail -5)"
[ "$(dstatus .action)" = remove ] && ok "status shows the reloaded action" || fail "status action after reload"
remove_row() { [ "$(sql "SELECT count(*) FROM deletions WHERE action = 'remove' AND result = 'ok'")" = 1 ]; }
wait_for 5 remove_row && ok "one remove row" || fail "one remove row after reload" "$(deletions)"
stop_pipeline
kwt_rm

## 5: containers come and go through events, not polling.
use_state events
start_pipeline -o reader.interval=1s -o recorder.batch_delay=200ms \
	-o policy.action=dry-run -o policy.cpu_threshold=100 \
	-o policy.mem_threshold=100 || fail "events pipeline starts"
connected() { [ "$(dstatus .docker.connected)" = true ] && [ "$(dstatus .samples)" -ge 2 ]; }
wait_for 15 connected || fail "decider connected to Docker"
lists0=$(dstatus .docker.lists)
ev0=$(dstatus .docker.events)
s0=$(dstatus .samples)
run_c "${KWT}low_ev" low_img
listed() {
	ctl decider containers | jq -e '.containers[] | select(.name == "'"$KWT"'low_ev" and .image == "low_img" and .class == "low")'
}
if wait_for 10 listed; then
	s1=$(dstatus .samples)
	[ $((s1 - s0)) -le 2 ] && ok "new container named in 'containers' within 2 samples ($((s1 - s0)))" ||
		fail "new container within 2 samples" "took $((s1 - s0))"
else
	fail "new container appears in 'containers'" "$(ctl decider containers)"
fi
row() { [ "$(sql "SELECT count(*) FROM containers WHERE name = '${KWT}low_ev' AND image = 'low_img'")" -gt 0 ]; }
wait_for 5 row && ok "and in the containers table with name and image" || fail "containers row for kwt-low_ev"
[ "$(dstatus .docker.lists)" = "$lists0" ] && [ "$(dstatus .docker.events)" -gt "$ev0" ] &&
	ok "learnt from events (no new list)" || fail "events, not polling" "$(dstatus -c .docker)"
docker rename "${KWT}low_ev" "${KWT}low_ev2"
renamed() { ctl decider containers | jq -e '.containers[] | select(.name == "'"$KWT"'low_ev2")'; }
wait_for 5 renamed && ok "rename followed" || fail "rename followed"
n0=$(dstatus .docker.containers)
docker rm -f "${KWT}low_ev2" >/dev/null
gone() { ! ctl decider containers | jq -e '.containers[] | select(.name | startswith("'"$KWT"'low_ev"))'; }
wait_for 5 gone && ok "removed by hand: gone from 'containers'" || fail "removed container leaves 'containers'"
[ "$(dstatus .docker.containers)" -lt "$n0" ] && ok "and from the Docker table" || fail "Docker table shrinks"
stop_pipeline

## The workload generator keeps the seed's mix: 3 low, 2 high, 10 in all.
MIX=(env "KW_MIX_PREFIX=${KWT}mix-" "KW_MIX_LABEL=kwarden.mix=$KWT" KW_MEM_MB=16 "$TOP/run/workload/mix.sh")
mixed() {
	local low high all
	all=$(docker ps --filter "label=kwarden.mix=$KWT" -q | wc -l)
	low=$(docker ps --filter "label=kwarden.mix=$KWT" --filter "name=^${KWT}mix-low_" -q | wc -l)
	high=$(docker ps --filter "label=kwarden.mix=$KWT" --filter "name=^${KWT}mix-high_" -q | wc -l)
	[ "$all" = 10 ] && [ "$low" -ge 3 ] && [ "$high" -ge 2 ] && [ $((low + high)) = 10 ]
}
"${MIX[@]}" --once >"$BASE/mix.log" 2>&1
mixed && ok "mix.sh: 10 containers, at least 3 low and 2 high" || fail "mix.sh mix" "$(cat "$BASE/mix.log")"
docker ps --filter "label=kwarden.mix=$KWT" --filter "name=^${KWT}mix-low_" -q |
	xargs -r docker rm -f >/dev/null
"${MIX[@]}" --once >>"$BASE/mix.log" 2>&1
mixed && ok "mix.sh: removed ones replaced" || fail "mix.sh refill" "$(tail -5 "$BASE/mix.log")"
"${MIX[@]}" --stop
[ "$(docker ps -aq --filter "label=kwarden.mix=$KWT" | wc -l)" = 0 ] && ok "mix.sh --stop removes them" || fail "mix.sh --stop"
kwt_rm

## kill: the container is killed, not removed.
use_state kill
for i in 1 2 3; do run_c "${KWT}high_cpu_k$i" high_cpu_img; done
start_pipeline "${DOCKER_FLAGS[@]}" -o "policy.cpu_threshold=$CPU_THRESHOLD" \
	-o policy.action=kill || fail "kill pipeline starts"
killed_row() { [ "$(sql "SELECT count(*) FROM deletions WHERE action = 'kill' AND result = 'ok'")" = 1 ]; }
wait_for 15 killed_row && ok "kill: one row, result ok" || fail "kill row" "$(deletions)"
k=$(sql "SELECT name FROM deletions WHERE action = 'kill'")
[ -n "$k" ] && [ "$(docker inspect -f '{{.State.Status}}' "$k" 2>/dev/null)" = exited ] &&
	ok "kill: $k is there, exited" || fail "killed container exited, not removed" "$k"
sleep 2
[ "$(running '^high_cpu_k')" = 2 ] && ok "kill: 2 high left" || fail "kill: 2 high left"
stop_pipeline
kwt_rm

## stop, and the decider stopped while the call is out: the call is
## cancelled, nothing leaks (valgrind or ASan), exit 0. These hogs ignore
## SIGTERM, so Docker's stop waits t = docker_timeout / 2 = 5 s.
use_state stop
if grep -q fsanitize "$TOP/build/flags" 2>/dev/null || ! command -v valgrind >/dev/null; then
	CHECK=()
else
	CHECK=(valgrind -q --leak-check=full
		"--show-leak-kinds=definite,indirect,possible"
		"--errors-for-leak-kinds=definite,indirect,possible"
		--error-exitcode=99 --log-file="$T/vg.log")
fi
touch "$T/vg.log"
for i in 1 2 3; do
	docker run -d --network none -e KW_IGNORE_TERM=1 --name "${KWT}high_cpu_s$i" \
		high_cpu_img >/dev/null
done
ARGS=(--state-dir "$T" "${DOCKER_FLAGS[@]}" -o "policy.cpu_threshold=$CPU_THRESHOLD"
	-o policy.action=stop -o decider.docker_timeout=10s)
"$READER" "${ARGS[@]}" 2>"$T/reader.err" &
PIDS+=($!)
"${CHECK[@]}" "$DECIDER" "${ARGS[@]}" 2>"$T/decider.err" &
VP=$!
PIDS+=("$VP")
stopping() { grep -q '(class high): stop:' "$T/decider.err"; }
if wait_for 60 stopping; then
	ok "stop: decided ($(grep -o 'stop: cpu.*' "$T/decider.err" | head -1))"
	infl=$(dstatus '.docker.calls_in_flight')
	[ "${infl:-0}" -ge 2 ] && ok "stop call in flight (calls_in_flight $infl)" || fail "stop call in flight" "$infl"
	kill -TERM "$VP"
	wait "$VP"
	rc=$?
	[ "$rc" = 0 ] && ok "decider stopped mid-call: exit 0${CHECK:+, valgrind clean}" ||
		fail "decider stopped mid-call: rc $rc" "$(head -30 "$T/vg.log"; tail -20 "$T/decider.err")"
	grep -q 'stop: cancelled' "$T/decider.err" && ok "the call was cancelled, and logged" ||
		fail "cancel logged" "$(tail -5 "$T/decider.err")"
else
	fail "stop decided within 60 s" "$(tail -5 "$T/decider.err")"
fi
kwt_rm

## The decider with Docker absent, stopped with SIGTERM: under valgrind,
## or in a SAN=1 build with AddressSanitizer's leak check at exit.
use_state absent
if grep -q fsanitize "$TOP/build/flags" 2>/dev/null; then
	CHECK=()
	CHECKED="ASan clean"
elif command -v valgrind >/dev/null; then
	CHECK=(valgrind -q --leak-check=full
		"--show-leak-kinds=definite,indirect,possible"
		"--errors-for-leak-kinds=definite,indirect,possible"
		--error-exitcode=99 --log-file="$T/vg.log")
	CHECKED="valgrind clean"
else
	CHECK=()
	CHECKED="no leak checker"
fi
touch "$T/vg.log"
"${CHECK[@]}" "$DECIDER" --state-dir "$T" \
	-o decider.docker_socket="$T/no-docker.sock" 2>"$T/decider.err" &
VP=$!
PIDS+=("$VP")
unreachable() { [ "$(dstatus .docker.state)" = unreachable ] && [ "$(dstatus .docker.reconnects)" -ge 1 ]; }
wait_for 30 unreachable && ok "Docker absent: status says unreachable, retrying" || fail "docker absent status"
dstatus .docker.last_error | grep -q "no-docker.sock: No such file" &&
	ok "last_error names the socket and why" || fail "last_error" "$(dstatus .docker.last_error)"
[ "$(grep -c 'docker: unreachable' "$T/decider.err")" = 1 ] &&
	ok "logged once, not every attempt" || fail "absent Docker logged once" "$(grep -c 'docker: unreachable' "$T/decider.err")"
kill -TERM "$VP"
wait "$VP"
rc=$?
[ "$rc" = 0 ] && ok "decider without Docker: exit 0, $CHECKED" ||
	fail "decider without Docker: rc $rc" "$(head -30 "$T/vg.log"; tail -20 "$T/decider.err")"
finish
