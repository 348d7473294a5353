#!/usr/bin/env bash
# kill -9 each daemon mid-run: the supervisor restarts it, and the rows the
# recorder stored carry every decider seq exactly once (per decider epoch):
# no gap, no duplicate.
. "$(dirname "$0")/lib.sh"

# dry-run: other containers on this machine are never touched.
check "pipeline starts" start_pipeline -o reader.interval=250ms -o recorder.batch_delay=300ms \
	-o policy.action=dry-run
sleep 3

for victim in recorder recorder decider reader; do
	crash $victim 15
done
sleep 1
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "kwarden-run exits 0" || fail "kwarden-run exit" "$STOP_RC"
grep -q "recorder.*killed by signal 9\|recorder.*signal 9" "$T/log" && ok "supervisor logged the kill" || fail "supervisor log" "$(grep -i signal "$T/log" | head -3)"

ALL=$(seq_union)
# One row per message in every table: (epoch, seq) is unique in each.
check_seqs_unique
n=$(sql "SELECT count(DISTINCT epoch) FROM ($ALL)")
[ "$n" -ge 2 ] && ok "the decider's restart shows as a new epoch ($n epochs)" || fail "epochs" "$n"
check_seqs_from_1
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
