#!/usr/bin/env bash
# dockerd stopped for 10 s and started again under a running pipeline: the
# decider keeps sampling and recording, says Docker is unreachable in
# `status`, reconnects on its own and then acts again; nothing crashes.
# dockerd is restarted the way it was started (systemd, or its command
# line); its containers stop with it, so the ones needed are made after.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

if ! need_docker; then
	finish
	exit
fi
kwt_rm
if [ "$(id -u)" != 0 ]; then
	fail "restarting dockerd needs root"
	finish
	exit
fi

# How dockerd runs now, to start it again the same way.
if command -v systemctl >/dev/null && systemctl is-active -q docker 2>/dev/null; then
	MODE=systemd
else
	MODE=cmdline
	DPID=$(pgrep -xo dockerd)
	if [ -z "$DPID" ]; then
		fail "no dockerd process to restart"
		finish
		exit
	fi
	mapfile -d '' DCMD <"/proc/$DPID/cmdline"
fi
# Gone, or a zombie nobody reaps (when pid 1 does not).
dockerd_gone() {
	[ ! -d "/proc/$DPID" ] || grep -q '^State:[[:space:]]*Z' "/proc/$DPID/status"
}
dockerd_stop() {
	if [ "$MODE" = systemd ]; then
		systemctl stop docker.socket docker.service
	else
		kill -TERM "$DPID"
		wait_for 30 dockerd_gone
	fi
}
dockerd_start() {
	if [ "$MODE" = systemd ]; then
		systemctl start docker.socket docker.service
	else
		setsid "${DCMD[@]}" >>/var/log/dockerd.log 2>&1 </dev/null 9>&- &
	fi
	wait_for 60 docker_up
}
# Whatever happens below, leave a Docker engine running.
restart_cleanup() {
	docker_up || dockerd_start
	docker_cleanup
}
trap restart_cleanup EXIT

start_pipeline "${DOCKER_FLAGS[@]}" -o "policy.cpu_threshold=$CPU_THRESHOLD" || fail "pipeline starts"
connected() { [ "$(dstatus .docker.connected)" = true ]; }
wait_for 15 connected && ok "decider connected to Docker" || fail "decider connected"
dec_pid=$(child_pid decider)

dockerd_stop && ok "dockerd stopped ($MODE)" || fail "dockerd stopped"
t0=$(date +%s)
s0=$(dstatus .samples)
r0=$(sql "SELECT count(*) FROM sys_metrics")
down() { [ "$(dstatus .docker.state)" = unreachable ]; }
wait_for 8 down && ok "status says Docker unreachable" || fail "status unreachable" "$(dstatus -c .docker)"
e=$(dstatus .docker.last_error)
[ -n "$e" ] && ok "last_error: $e" || fail "last_error set"
sleep $((10 - ($(date +%s) - t0)))
s1=$(dstatus .samples)
r1=$(sql "SELECT count(*) FROM sys_metrics")
[ "$s1" -gt $((s0 + 5)) ] && ok "decider kept sampling ($s0 -> $s1)" || fail "sampling while Docker is down" "$s0 -> $s1"
[ "$r1" -gt $((r0 + 5)) ] && ok "recorder kept recording ($r0 -> $r1)" || fail "recording while Docker is down" "$r0 -> $r1"
[ "$(grep -c 'docker: unreachable' "$T/log")" = 1 ] && ok "one log line for the outage, not one per attempt" ||
	fail "outage logged once" "$(grep -c 'docker: unreachable' "$T/log")"

dockerd_start && ok "dockerd started again" || fail "dockerd started again"
wait_for 15 connected && ok "decider reconnected" || fail "decider reconnected" "$(dstatus -c .docker)"
[ "$(dstatus .docker.reconnects)" -ge 1 ] && ok "status counts the reconnect" || fail "reconnects counted"
kwt_rm	# stopped with dockerd

# It acts again: 3 hogs, min_alive 2, one goes.
for i in 1 2 3; do run_c "${KWT}high_cpu_r$i" high_cpu_img; done
one_gone() { [ "$(running '^high_cpu_r')" = 2 ]; }
if wait_for 15 one_gone; then ok "acts again after the reconnect"; else fail "acts after reconnect" "$(grep decider "$T/log" | tail -5)"; fi
row() { [ "$(sql "SELECT count(*) FROM deletions WHERE name LIKE '${KWT}high_cpu_r%' AND action = 'remove' AND result = 'ok'")" = 1 ]; }
wait_for 5 row && ok "its deletion row, result ok" || fail "deletion row after reconnect" "$(sql 'SELECT * FROM deletions')"
[ "$(child_pid decider)" = "$dec_pid" ] && ok "decider never restarted (pid $dec_pid)" || fail "decider crashed" "$(grep -E 'exited|signal' "$T/log")"
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "rc $STOP_RC"
finish
