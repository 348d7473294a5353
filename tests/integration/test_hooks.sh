#!/usr/bin/env bash
# Evidence and hooks against a real Docker engine: a CPU hog that printed
# some lines is removed; a hook program and a webhook receiver (a local
# HTTP server of ours) each get the action exactly once with its evidence
# (top processes, the lines it printed, the inspect summary); `evidence
# NAME` on decider.ctl and the deletions row carry the same document. Then
# a receiver that is down gets its retries and the failure is counted in
# status, and a hook that hangs is killed (with its children) at its
# timeout. Containers and the image are named kwh-<run>-...
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

KWT=kwh-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-
LISTEN=$TOP/tests/integration/hook-listen.py

if ! need_docker; then
	finish
	exit
fi
kwt_rm

# A busybox image: a shell that prints, then spins.
mkdir -p "$T/rootfs/bin"
cp /bin/busybox "$T/rootfs/bin/busybox"
ln -s busybox "$T/rootfs/bin/sh"
tar -C "$T/rootfs" -c . | docker import - "${KWT}bb:latest" >/dev/null ||
	fail "busybox image imports"
bb_cleanup() {
	docker rmi "${KWT}bb:latest" >/dev/null 2>&1
	docker_cleanup
}
trap bb_cleanup EXIT

# Only this run's hogs are in a class, and nothing holds them.
FLAGS=(-o reader.interval=500ms -o policy.window=2s
	-o recorder.batch_delay=200ms -o "policy.cpu_threshold=$CPU_THRESHOLD"
	-o "class.high.match=${KWT}hog" -o class.high.min_alive=0
	-o "class.low.match=${KWT}none" -o class.low.min_alive=0
	-o hooks.evidence_log_lines=20 -o hooks.evidence_timeout=2s)

# hog NAME: prints two lines (one on stderr), then spins.
hog() {
	docker run -d --network none --name "$KWT$1" --memory 256m \
		--label kwh.test=evidence --restart no "${KWT}bb" \
		sh -c 'echo "evidence line one $0"; echo "evidence on stderr" >&2; while :; do :; done' \
		"$1" >/dev/null
}

## 1: a hook program and a webhook, both up.
use_state up
cat >"$T/hook.sh" <<EOF
#!/bin/sh
n=\$(ls "$T"/hook.*.json 2>/dev/null | wc -l)
cat >"$T/hook.\$n.json"
env | grep '^KWARDEN_' | sort >"$T/hook.\$n.env"
EOF
chmod +x "$T/hook.sh"
python3 "$LISTEN" "$T/recv.log" &
PIDS+=("$!")
wait_for 5 grep -q LISTENING "$T/recv.log" || fail "receiver starts"
PORT=$(awk '/LISTENING/ {print $2; exit}' "$T/recv.log")

hog hog1
wait_for 5 sh -c "docker logs ${KWT}hog1 2>&1 | grep -q 'evidence on stderr'" ||
	fail "the hog printed its lines"
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_pipeline "${FLAGS[@]}" -o "hooks.exec=$T/hook.sh" -o "metrics.listen=127.0.0.1:$MPORT" \
	-o "hooks.webhook=http://127.0.0.1:$PORT/kwarden" ||
	fail "pipeline starts"
gone() { ! docker ps -q --filter "name=^${KWT}hog1\$" | grep -q .; }
wait_for 30 gone && ok "the hog is removed" ||
	fail "the hog is removed within 30 s" "$(grep decider "$T/log" | tail -5)"
received() { [ "$(grep -c '"body"' "$T/recv.log")" -ge 1 ] && ls "$T"/hook.0.env; }
wait_for 15 received || fail "hook and webhook called within 15 s" "$(grep hook "$T/log")"
sleep 2		# would a second delivery come?

n=$(grep -c '"body"' "$T/recv.log")
[ "$n" = 1 ] && ok "webhook: one POST" || fail "webhook: one POST" "$n"
n=$(find "$T" -maxdepth 1 -name 'hook.*.json' | wc -l)
[ "$n" = 1 ] && ok "hook program: run once" || fail "hook program: run once" "$n"

body=$(grep '"body"' "$T/recv.log" | head -1 | jq -c .body)
hookdoc=$(cat "$T/hook.0.json")
echo "$body" | jq -e --arg n "${KWT}hog1" '.name == $n and .action == "remove" and .result == "ok"' >/dev/null &&
	ok "webhook: name, action, result" || fail "webhook: name, action, result" "$body"
echo "$body" | jq -e '[.top[] | select(.name == "sh" or .name == "busybox")] | length >= 1' >/dev/null &&
	ok "evidence: the hog's process among the top ones" || fail "evidence: top processes" "$(echo "$body" | jq -c .top)"
echo "$body" | jq -e '[.logs[] | select(.stream == "stdout" and .text == "evidence line one hog1")] | length == 1' >/dev/null &&
	ok "evidence: the line it printed on stdout" || fail "evidence: stdout line" "$(echo "$body" | jq -c '.logs, .logs_error')"
echo "$body" | jq -e '[.logs[] | select(.stream == "stderr" and .text == "evidence on stderr")] | length == 1' >/dev/null &&
	ok "evidence: the line it printed on stderr" || fail "evidence: stderr line" "$(echo "$body" | jq -c .logs)"
echo "$body" | jq -e --arg i "${KWT}bb" '.inspect.image == $i and .inspect.labels["kwh.test"] == "evidence" and .inspect.limits.memory == 268435456 and .inspect.restart_policy.name == "no"' >/dev/null &&
	ok "evidence: inspect summary (image, label, memory limit, restart policy)" ||
	fail "evidence: inspect summary" "$(echo "$body" | jq -c '.inspect, .inspect_error')"
echo "$body" | jq -e '.figures.cpu_pct > 0 and .timed_out == false' >/dev/null &&
	ok "evidence: the container's figures, captured in time" || fail "evidence: figures" "$(echo "$body" | jq -c '.figures, .timed_out')"
[ "$(echo "$hookdoc" | jq -c -S .)" = "$(echo "$body" | jq -c -S .)" ] &&
	ok "hook program's stdin is the webhook's body" || fail "hook stdin = webhook body" "$hookdoc"
grep -qx "KWARDEN_ACTION=remove" "$T/hook.0.env" &&
	grep -qx "KWARDEN_CONTAINER_NAME=${KWT}hog1" "$T/hook.0.env" &&
	grep -qx "KWARDEN_CONTAINER_ID=$(echo "$body" | jq -r .container_id)" "$T/hook.0.env" &&
	grep -qx "KWARDEN_RESULT=ok" "$T/hook.0.env" &&
	ok "hook program's environment: action, name, id, result" || fail "hook environment" "$(cat "$T/hook.0.env")"

# (Reals are printed to the control socket's precision: compare the rest.)
same() { jq -c -S '{container_id, name, action, result, ts_ms, logs, inspect, pids: [.top[].pid]}'; }
ev=$(ctl decider "evidence ${KWT}hog1")
[ "$(echo "$ev" | same)" = "$(echo "$body" | same)" ] && echo "$ev" | jq -e '.action_id == 1' >/dev/null &&
	ok "evidence NAME on decider.ctl: the same document" || fail "evidence on decider.ctl" "$ev"
id=$(echo "$body" | jq -r .container_id)
ctl decider "evidence ${id:0:12}" | jq -e --arg n "${KWT}hog1" '.name == $n' >/dev/null &&
	ok "evidence ID (12 hex digits) on decider.ctl" || fail "evidence ID"
ctl decider "evidence nosuchcontainer" | jq -e '.error' >/dev/null &&
	ok "evidence of an unknown container: an error" || fail "evidence unknown"
row() { [ -n "$(sql "SELECT evidence FROM deletions WHERE name = '${KWT}hog1' AND evidence <> ''")" ]; }
wait_for 10 row
dbdoc=$(sql "SELECT evidence FROM deletions WHERE name = '${KWT}hog1' AND evidence <> '' LIMIT 1")
[ "$(echo "$dbdoc" | jq -c -S .)" = "$(echo "$body" | jq -c -S .)" ] &&
	ok "deletions.evidence holds the same document" || fail "deletions.evidence" "$dbdoc"
[ "$(sql "SELECT json_extract(evidence, '\$.inspect.labels.\"kwh.test\"') FROM deletions WHERE name = '${KWT}hog1'")" = evidence ] &&
	ok "deletions.evidence answers json_extract" || fail "json_extract on deletions.evidence"
st=$(ctl decider status)
echo "$st" | jq -e '.hooks.exec.ok == 1 and .hooks.webhook.ok == 1 and .hooks.webhook.failed == 0 and .hooks.exec.in_flight == 0' >/dev/null &&
	ok "status: one delivery of each ok" || fail "status hooks" "$(echo "$st" | jq -c .hooks)"
m=$(curl -s "http://127.0.0.1:$MPORT/metrics" | grep '^kwarden_hook_deliveries_total{.*outcome="ok"}' | sort)
[ "$m" = 'kwarden_hook_deliveries_total{kind="exec",outcome="ok"} 1
kwarden_hook_deliveries_total{kind="webhook",outcome="ok"} 1' ] &&
	ok "/metrics: one ok delivery of each kind" || fail "hook deliveries on /metrics" "$m"
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "$STOP_RC"

## 2: the receiver is down, the hook program hangs.
use_state down
cat >"$T/hang.sh" <<EOF
#!/bin/sh
sleep 1000 &
echo \$! >>"$T/hang.pids"
wait
EOF
chmod +x "$T/hang.sh"
DEAD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hog hog2
start_pipeline "${FLAGS[@]}" -o "hooks.exec=$T/hang.sh" \
	-o "hooks.webhook=http://127.0.0.1:$DEAD_PORT/kwarden" \
	-o hooks.timeout=1s -o hooks.retries=2 -o hooks.backoff=200ms ||
	fail "pipeline starts"
gone2() { ! docker ps -q --filter "name=^${KWT}hog2\$" | grep -q .; }
wait_for 30 gone2 && ok "the second hog is removed" || fail "second hog removed"
given_up() { ctl decider status | jq -e '.hooks.webhook.failed == 1 and .hooks.exec.failed == 1' >/dev/null; }
wait_for 20 given_up
st=$(ctl decider status)
echo "$st" | jq -e '.hooks.webhook.failed == 1 and .hooks.webhook.retried == 2 and .hooks.webhook.sent == 3 and .hooks.webhook.ok == 0 and (.hooks.webhook.last_error | length > 0)' >/dev/null &&
	ok "receiver down: 3 attempts, 2 retries, the failure counted" || fail "receiver down counted" "$(echo "$st" | jq -c .hooks.webhook)"
echo "$st" | jq -e '.hooks.exec.failed == 1 and .hooks.exec.timeouts == 3 and .hooks.exec.in_flight == 0' >/dev/null &&
	ok "hanging hook: killed at its timeout on each attempt" || fail "hanging hook" "$(echo "$st" | jq -c .hooks.exec)"
grep -q "hook webhook: container .* failed after 3 attempts" "$T/log" &&
	ok "the webhook's failure is logged" || fail "webhook failure logged" "$(grep hook "$T/log")"
# count_alive: how many of the hung hooks' children still run (a killed
# one may take a moment to be reaped by init).
count_alive() {
	alive=0
	while read -r p; do
		kill -0 "$p" 2>/dev/null && alive=$((alive + 1))
	done < <(cat "$T/hang.pids" 2>/dev/null)
	[ "$alive" = 0 ]
}
wait_for 5 count_alive
count_alive
[ -s "$T/hang.pids" ] && [ "$alive" = 0 ] && ok "the hung hook's children are killed with it" ||
	fail "hung hook's children killed" "$alive alive of $(wc -l <"$T/hang.pids" 2>/dev/null)"
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "$STOP_RC"

finish
