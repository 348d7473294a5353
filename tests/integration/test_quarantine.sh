#!/usr/bin/env bash
# Respawn memory against real containers: a compose service that this
# test's loop recreates (same compose labels, --restart=always) after each
# removal is removed at most quarantine_after times, then quarantined:
# stopped, not removed, restart policy "no", flagged in containers,
# explain and the database, and left alone. The quarantine survives a
# restart of the decider (its file, 0640); release lifts it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"
# This suite's containers: kwl-<run>-...
KWT=kwl-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-
PROJ=${KWT%-}
AFTER=2

if ! need_docker; then
	finish
	exit
fi
kwt_rm
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_pipeline -o reader.interval=500ms -o policy.window=2s -o recorder.batch_delay=200ms \
	-o policy.action=remove -o "policy.quarantine_after=$AFTER" -o policy.quarantine_window=1h \
	-o "policy.cpu_threshold=$CPU_THRESHOLD" \
	-o "class.high.match=${KWT}high" -o class.high.min_alive=0 \
	-o "class.low.match=${KWT}web" -o class.low.min_alive=0 -o "metrics.listen=127.0.0.1:$MPORT" ||
	fail "pipeline starts"

# The service's containers, running or not.
service() {
	docker ps -aq --filter "label=com.docker.compose.project=$PROJ" \
		--filter "label=com.docker.compose.service=web"
}
n=0
recreate() {
	n=$((n + 1))
	docker run -d --network none --restart=always --name "${KWT}web_$n" \
		--label "com.docker.compose.project=$PROJ" --label com.docker.compose.service=web \
		high_cpu_img >/dev/null
}
quarantined() {
	local id
	id=$(service)
	[ -n "$id" ] && [ "$(docker inspect -f '{{.State.Status}}|{{.HostConfig.RestartPolicy.Name}}' "$id" 2>/dev/null)" = "exited|no" ]
}
# The loop: a new container of the service whenever there is none.
end=$((SECONDS + 90))
while [ $SECONDS -lt $end ] && ! quarantined; do
	[ -z "$(service)" ] && recreate
	sleep 0.5
done
if quarantined; then ok "quarantined after $n containers: stopped, restart policy no"; else
	fail "quarantined" "$n containers; $(grep decider "$T/log" | tail -5)"; fi
removes=$(sql "SELECT count(*) FROM deletions WHERE identity = 'compose:$PROJ/web' AND action = 'remove'")
[ "$removes" = "$AFTER" ] && ok "removed exactly quarantine_after ($AFTER) times" ||
	fail "removes" "$removes: $(sql "SELECT name, action, result FROM deletions")"
q=$(sql "SELECT name || '|' || result || '|' || strikes FROM deletions WHERE action = 'quarantine'")
[ "$q" = "${KWT}web_$n|ok|$AFTER" ] && ok "a quarantine row: its container, ok, $AFTER strikes" || fail "quarantine row" "$q"
name=${KWT}web_$n
[ "$(docker inspect -f '{{.Name}}' "$name")" = "/$name" ] && ok "the container is kept for inspection" || fail "container kept"

# Left alone: nothing more, even with a new container of it running.
docker start "$name" >/dev/null
sleep 6
[ "$(docker inspect -f '{{.State.Status}}' "$name")" = running ] && ok "started by hand: left alone" ||
	fail "left alone" "$(docker inspect -f '{{.State.Status}}' "$name")"
e=$(ctl decider "explain $name")
echo "$e" | jq -e '.verdict == "quarantined" and .quarantined == true and .identity == "compose:'"$PROJ"'/web"
	and .strikes == '"$AFTER"' and .quarantine.carried_out == true' >/dev/null &&
	ok "explain: quarantined, with its identity and strikes" || fail "explain quarantined" "$e"
docker stop -t 1 "$name" >/dev/null
c=$(ctl decider containers)
echo "$c" | jq -e '[.quarantined[] | select(.identity == "compose:'"$PROJ"'/web")] | length == 1' >/dev/null &&
	ok "containers: the quarantined identity" || fail "containers quarantined" "$c"
m=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "kwarden_quarantined_identities" { print $2 }')
[ "$m" = 1 ] && ok "/metrics: kwarden_quarantined_identities 1" || fail "quarantined gauge" "$m"
e=$(ctl decider "explain $name")
echo "$e" | jq -e '.verdict == "quarantined" and .name == "'"$name"'"' >/dev/null &&
	ok "explain of the stopped one: quarantined" || fail "explain stopped" "$e"
[ "$(dstatus .quarantines)" = 1 ] && ok "status: 1 quarantine" || fail "status quarantines" "$(dstatus .quarantines)"
v=$(sql "SELECT count(*) FROM decisions WHERE identity = 'compose:$PROJ/web' AND verdict = 'quarantined'")
[ "${v:-0}" -ge 1 ] && ok "decisions table: the quarantined verdict" || fail "decisions quarantined" "${v:-0}"

# Kept across a restart of the decider, in a file only its group reads.
f=$T/decider-strikes.json
[ "$(stat -c %a "$f")" = 640 ] && ok "strikes file, mode 0640" || fail "strikes file mode" "$(stat -c %a "$f" 2>&1)"
old=$(child_pid decider)
kill -KILL "$old"
back() { p=$(child_pid decider); [ -n "$p" ] && [ "$p" != "$old" ] && [ -S "$T/run/decider.ctl" ] &&
	ctl decider "explain $name" | jq -e '.verdict == "quarantined"'; }
wait_for 20 back && ok "after a decider restart: still quarantined" || fail "quarantine persisted" "$(ctl decider "explain $name")"
grep -q "strikes: 1 identities from" "$T/log" && ok "the restarted decider read the file" || fail "strikes file read"

r=$(ctl decider "release $name")
echo "$r" | jq -e '.result | test("quarantine of compose:'"$PROJ"'/web lifted")' >/dev/null &&
	ok "release lifts the quarantine" || fail "release" "$r"
ctl decider containers | jq -e '.quarantined | length == 0' >/dev/null && ok "containers: none quarantined" ||
	fail "none quarantined"
jq -e '.identities | length == 0' "$f" >/dev/null && ok "the file forgets it" || fail "file after release" "$(cat "$f")"
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "rc $STOP_RC"
kwt_rm
finish
