#!/usr/bin/env bash
# kill -9 each daemon mid-run: the supervisor restarts it, and the rows the
# recorder stored carry every decider seq exactly once (per decider epoch):
# no gap, no duplicate.
. "$(dirname "$0")/lib.sh"

# dry-run: other containers on this machine are never touched.
check "pipeline starts" start_pipeline -o reader.interval=250ms -o recorder.batch_delay=300ms \
	-o policy.action=dry-run
sleep 3

restarted() { # NAME OLD_PID
	local p
	p=$(child_pid "$1")
	[ -n "$p" ] && [ "$p" != "$2" ] && [ -S "$T/run/$1.ctl" ]
}

for victim in recorder recorder decider reader; do
	old=$(child_pid $victim)
	before=$(sql "SELECT count(*) FROM sys_metrics")
	kill -KILL "$old"
	if wait_for 15 restarted $victim "$old"; then
		ok "$victim killed with -9 is restarted (pid $old -> $(child_pid $victim))"
	else
		fail "$victim restarted" "$(tail -5 "$T/log")"
	fi
	sleep 3
	after=$(sql "SELECT count(*) FROM sys_metrics")
	[ "$after" -gt "$before" ] && ok "rows land again after $victim restart ($before -> $after)" ||
		fail "rows after $victim restart" "$before -> $after"
done
sleep 1
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "kwarden-run exits 0" || fail "kwarden-run exit" "$STOP_RC"
grep -q "recorder.*killed by signal 9\|recorder.*signal 9" "$T/log" && ok "supervisor logged the kill" || fail "supervisor log" "$(grep -i signal "$T/log" | head -3)"

ALL="SELECT epoch, seq FROM sys_metrics UNION ALL SELECT epoch, seq FROM containers
     UNION ALL SELECT epoch, seq FROM processes UNION ALL SELECT epoch, seq FROM deletions
     UNION ALL SELECT epoch, seq FROM decisions UNION ALL SELECT epoch, seq FROM policy"
# One row per message in every table: (epoch, seq) is unique in each.
for t in sys_metrics process_count containers processes deletions decisions policy; do
	d=$(sql "SELECT count(*) - count(DISTINCT epoch || ':' || seq) FROM $t")
	[ "$d" = 0 ] && ok "$t: no duplicate (epoch, seq)" || fail "$t duplicates" "$d"
done
n=$(sql "SELECT count(DISTINCT epoch) FROM ($ALL)")
[ "$n" -ge 2 ] && ok "the decider's restart shows as a new epoch ($n epochs)" || fail "epochs" "$n"
bad=$(sql "SELECT epoch || ': ' || min(seq) || '..' || max(seq) || ' has ' || count(DISTINCT seq)
	FROM ($ALL) GROUP BY epoch HAVING min(seq) != 1 OR count(DISTINCT seq) != max(seq) - min(seq) + 1")
if [ -z "$bad" ]; then
	ok "every epoch's seqs run from 1 with no gap: $(sql "SELECT group_concat(c, ' + ') FROM (SELECT count(DISTINCT seq) c FROM ($ALL) GROUP BY epoch)") messages"
else
	fail "seq gaps" "$bad"
fi
st=$(sql "SELECT seq FROM stream_state WHERE stream = 'decider'")
mx=$(sql "SELECT max(seq) FROM ($ALL) WHERE epoch = (SELECT epoch FROM stream_state WHERE stream = 'decider')")
# After a clean stop the resume point is the decider's end message, which
# has no row: one past the last stored, and marked as the end.
end=$(sql "SELECT count(*) FROM stream_state s JOIN stream_state e ON e.stream = 'decider.end'
	AND e.epoch = s.epoch AND e.seq = s.seq WHERE s.stream = 'decider'")
[ -n "$mx" ] && [ "$st" = "$((mx + end))" ] &&
	ok "stream_state holds the last stored seq ($st$([ "$end" = 1 ] && echo ", the end message"))" ||
	fail "stream_state" "$st vs $mx (end: $end)"

finish
