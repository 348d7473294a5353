#!/usr/bin/env bash
# kill -9 under load and in the middle of a Docker action, with the real
# daemons, a real dockerd and 10,000 sleeping processes:
#  1. the decider killed right after it sent `stop` to a container that
#     ignores SIGTERM (Docker takes stop_timeout to stop it): the restarted
#     decider reads the call it had out (decider-acts.json), does not send
#     a second stop, and records the outcome once Docker settles it; the
#     strike is there once;
#  2. the reader and the recorder killed in turn under the load;
# and in the database every seq of every epoch exactly once, from 1 (the
# decider's kill is reported as a lossy restart by the recorder).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"
KWT=kwk-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-
NPROCS=${KW_CRASH_PROCS:-10000}
STOP_S=20

if [ "$(id -u)" -ne 0 ]; then
	echo "# skip: needs root (10,000 processes, dockerd)"
	finish
	exit
fi
if ! need_docker; then
	finish
	exit
fi
kwt_rm

# The load: NPROCS sleeping children of one forker (killed with it).
if ! cc -O2 -o "$T/forker" "$TOP/tests/bench/forker.c" 2>"$T/cc.err"; then
	fail "build forker" "$(cat "$T/cc.err")"
	finish
	exit
fi
"$T/forker" "$NPROCS" "$T/ready" &
PIDS+=($!)
wait_for 120 test -s "$T/ready"
made=$(cat "$T/ready" 2>/dev/null || echo 0)
[ "$made" -ge "$NPROCS" ] && ok "$made sleeping processes" ||
	fail "processes forked" "$made of $NPROCS (pid_max $(cat /proc/sys/kernel/pid_max))"

# The victim: a CPU hog that ignores SIGTERM as PID 1.
docker run -d --network none -e KW_IGNORE_TERM=1 --name "${KWT}stop_1" high_cpu_img >/dev/null ||
	fail "victim container starts"
CIDV=$(docker inspect -f '{{.Id}}' "${KWT}stop_1")
since=$(date +%s)

start_pipeline -o reader.interval=500ms -o policy.window=2s -o recorder.batch_delay=200ms \
	-o policy.action=stop -o "policy.stop_timeout=${STOP_S}s" \
	-o "policy.cpu_threshold=$CPU_THRESHOLD" -o policy.mem_threshold=100 \
	-o "class.high.match=${KWT}stop" -o class.high.min_alive=0 \
	-o "class.low.match=${KWT}nothing" -o class.low.min_alive=0 ||
	fail "pipeline starts" "$(tail -n 5 "$T/log")"

# A stop begins with Docker's "kill" event carrying signal 15.
term_events() {
	docker events --since "$since" --until "$(date +%s)" \
	    --filter "container=$CIDV" --filter event=kill --format '{{.Actor.Attributes.signal}}' |
		grep -c '^15$'
}
stop_sent() { [ "$(term_events)" -ge 1 ]; }

# --- 1. the decider killed while its stop is out ---
if wait_for 90 stop_sent; then
	dec=$(child_pid decider)
	kill -KILL "$dec"
	ok "the decider sent stop (Docker's kill event, signal 15) and was killed with -9"
	grep -q "$CIDV" "$T/decider-acts.json" 2>/dev/null &&
		ok "the call out was written down before it went ($(jq -c '.pending[0] | {action, name, class}' "$T/decider-acts.json"))" ||
		fail "decider-acts.json holds the stop" "$(cat "$T/decider-acts.json" 2>&1)"
else
	fail "the decider sends stop" "$(grep decider "$T/log" | tail -n 5)"
	dec=""
fi
wait_for 30 restarted decider "$dec" && ok "the decider is restarted" || fail "decider restarted" "$(tail -n 5 "$T/log")"
wait_for 10 sh -c "echo status | socat -t 2 - UNIX-CONNECT:$T/run/decider.ctl | jq -e '.actions_file.loaded_at_start == 1' >/dev/null" &&
	ok "it read the call that was out" || fail "acts loaded" "$(ctl decider status | jq -c .actions_file)"
grep -q "were out when the decider stopped" "$T/log" && ok "and says so in its log" ||
	fail "log of the call out" "$(grep decider "$T/log" | tail -n 3)"
stopped() { [ "$(docker inspect -f '{{.State.Running}}' "${KWT}stop_1")" = false ]; }
wait_for $((STOP_S + 30)) stopped && ok "Docker stopped the container (after its stop_timeout)" ||
	fail "victim stopped" "$(docker inspect -f '{{.State.Status}}' "${KWT}stop_1")"
settled_row() { [ -n "$(sql "SELECT 1 FROM deletions WHERE container_id = '$CIDV' AND result LIKE 'ok: settled%'")" ]; }
wait_for 30 settled_row && ok "the restarted decider records the outcome: $(sql "SELECT action || ': ' || result FROM deletions WHERE container_id = '$CIDV'")" ||
	fail "settled row" "$(sql "SELECT action, result FROM deletions WHERE container_id = '$CIDV'")"
sleep 3
n=$(term_events)
[ "$n" = 1 ] && ok "one stop sent to Docker, none after the restart" ||
	fail "stops sent" "$n SIGTERMs by Docker's events"
n=$(sql "SELECT count(*) FROM deletions WHERE container_id = '$CIDV'")
[ "$n" = 1 ] && ok "one row for the container" ||
	fail "rows for the container" "$(sql "SELECT epoch, action, result FROM deletions WHERE container_id = '$CIDV'")"
strikes=$(jq -r --arg n "${KWT}stop_1" '[.identities[] | select(.name == $n) | .strikes | length] | add // 0' "$T/decider-strikes.json" 2>/dev/null)
[ "$strikes" = 1 ] && ok "one strike against it, kept across the kill" ||
	fail "strikes" "$strikes: $(head -c 300 "$T/decider-strikes.json" 2>&1)"
jq -e '.pending == []' "$T/decider-acts.json" >/dev/null &&
	ok "settled: nothing left out in decider-acts.json" || fail "acts file emptied" "$(cat "$T/decider-acts.json")"
lossy=$(ctl recorder status | jq -r '.sub.restarts_lossy')
[ "$lossy" -ge 1 ] && ok "the recorder reports the decider's kill as a lossy restart ($lossy)" ||
	fail "lossy restart reported" "$lossy"

# --- 2. reader and recorder killed under the load ---
procs_seen() { [ "$(ctl reader status | jq -r '.last_nprocs // .nprocs // 0')" -ge "$NPROCS" ]; }
wait_for 30 procs_seen && ok "the reader sees the load ($(ctl reader status | jq -r '.last_nprocs // .nprocs'))" ||
	fail "reader sees the load" "$(ctl reader status | jq -c '{nprocs, last_nprocs}')"
for victim in reader recorder; do
	crash $victim 30 " under the load"
done
sleep 1
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "clean stop (rc 0)" || fail "stop" "rc=$STOP_RC"

check_seqs_unique
check_seqs_from_1
finish
