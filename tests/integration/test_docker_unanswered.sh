#!/usr/bin/env bash
# An action Docker never answers (a fake engine that holds the DELETE and
# finishes it 2 s later, as dockerd does after the client gave up): the
# row says the outcome is unknown, the container stays counted as gone
# and is not acted on again, and Docker's destroy event settles it with a
# second row. No real Docker: tests/fixtures/docker/fake-engine.py on a
# unix socket, and a process in a cgroup named like Docker's.
. "$(dirname "$0")/lib.sh"

fake_container
if [ -z "$CG" ]; then
	fail "cannot make a cgroup under /sys/fs/cgroup (need root and cgroupfs)"
	finish
	exit
fi
command -v python3 >/dev/null || { fail "python3 is needed"; finish; exit; }

python3 "$TOP/tests/fixtures/docker/fake-engine.py" "$T/engine.sock" \
	"$CID" kwf-victim kwf_img "$T/actions.log" 2>"$T/engine.err" &
PIDS+=($!)
wait_for 5 test -S "$T/engine.sock" || fail "fake engine listens"

check "pipeline starts" start_pipeline -o reader.interval=500ms \
	-o policy.window=1s -o policy.mem_threshold=0.0001 -o policy.mem_basis=rss \
	-o policy.cpu_threshold=100 -o policy.action=remove \
	-o "class.high.match=kwf-nothing" -o class.high.min_alive=0 \
	-o "class.low.match=kwf" -o class.low.min_alive=0 \
	-o recorder.batch_delay=200ms -o decider.docker_timeout=1s \
	-o "decider.docker_socket=$T/engine.sock"

rows() { sql "SELECT name || '|' || class || '|' || action || '|' || result || '|' || reason FROM deletions ORDER BY id"; }
two_rows() { [ "$(sql 'SELECT count(*) FROM deletions')" -ge 2 ]; }
if wait_for 20 two_rows; then
	r=$(rows)
	first=$(echo "$r" | sed -n 1p)
	second=$(echo "$r" | sed -n 2p)
	case "$first" in
	"kwf-victim|low|remove|unknown: "*"waiting for Docker|mem "*) ok "first row: outcome unknown ($first)" ;;
	*) fail "first row says unknown" "$r" ;;
	esac
	case "$second" in
	"kwf-victim|low|remove|ok: settled"*"|settled: the call had no answer") ok "second row: settled by Docker's events ($second)" ;;
	*) fail "second row settled" "$r" ;;
	esac
else
	fail "two rows within 20 s" "$(rows; tail -5 "$T/log")"
fi
sleep 2
n=$(wc -l <"$T/actions.log" 2>/dev/null || echo 0)
[ "$n" = 1 ] && ok "one DELETE: never sent again while the outcome was unknown" ||
	fail "one DELETE" "$(cat "$T/actions.log")"
[ "$(sql 'SELECT count(*) FROM deletions')" = 2 ] && ok "two rows, no more" || fail "two rows" "$(rows)"
st=$(ctl decider status)
echo "$st" | jq -e '.docker.actions_unknown == 1' >/dev/null &&
	ok "status counts actions_unknown" || fail "actions_unknown" "$st"
grep -q 'remove: unknown: ' "$T/log" && ok "the unknown outcome is logged" ||
	fail "unknown logged" "$(grep decider "$T/log" | tail -5)"

stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "exit $STOP_RC"
finish
