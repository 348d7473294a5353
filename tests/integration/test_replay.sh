#!/usr/bin/env bash
# kwarden-replay over a database a real pipeline wrote (real dockerd, real
# containers): the recorded policy reproduces every recorded action; a
# stricter threshold (-o) adds actions, a looser one drops them; --json is
# JSON lines; the database is not changed, and a read-only copy read by
# an unprivileged user replays the same; bad input gives the documented
# exit codes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"
REPLAY="$TOP/run/kwarden-replay"

if ! need_docker; then
	finish
	exit
fi
kwt_rm

# Two CPU hogs and an idle container in class low (no min_alive); the live
# policy removes the hogs, the idle one stays under every threshold. A
# third hog, of a class whose ladder is throttle alone, is capped at 1 %.
run_c "${KWT}low_hog1" high_cpu_img
run_c "${KWT}low_hog2" high_cpu_img
run_c "${KWT}low_idle" low_img
run_c "${KWT}cap_hog" high_cpu_img
start_pipeline "${DOCKER_FLAGS[@]}" -o class.low.min_alive=0 \
	-o "policy.cpu_threshold=$CPU_THRESHOLD" -o policy.sustain=1s \
	-o "class.cap.match=${KWT}cap" -o class.cap.min_alive=0 -o class.cap.action=throttle \
	-o policy.throttle_to=1 ||
	fail "pipeline starts"

gone() { [ "$(running '^low_hog')" = 0 ]; }
if wait_for 60 gone; then ok "the live policy removed both hogs"; else
	fail "hogs removed" "$(grep decider "$T/log" | tail -5)"; fi
rows() { sql "SELECT count(*) FROM deletions WHERE name LIKE '${KWT}low_hog%'"; }
wait_for 10 sh -c "[ \"\$(sqlite3 -cmd '.timeout 5000' 'file:$T/kwarden.db?mode=ro' \
	\"SELECT count(*) FROM deletions WHERE name LIKE '${KWT}low_hog%'\")\" -ge 2 ]"
capped() { [ "$(sql "SELECT count(*) FROM deletions WHERE name = '${KWT}cap_hog' AND action = 'throttle'")" -ge 1 ]; }
wait_for 20 capped && ok "the live policy capped the third hog" || fail "third hog capped"
# A reload records the policy again (the same one here).
kill -HUP "$(child_pid decider)"
reloaded() { [ "$(sql "SELECT count(*) FROM policy WHERE reason = 'reload'")" -ge 1 ]; }
wait_for 10 reloaded && ok "a reload: a policy row" || fail "reload row" "$(sql 'SELECT reason FROM policy')"
# A few samples of the idle one alone, for the stricter policy to act on.
sleep 3
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "rc $STOP_RC"
# The database replayed holds every message the decider sent, once.
check_seqs_unique
check_seqs_from_1
DB=$T/kwarden.db
did=$(sql "SELECT count(*) FROM deletions WHERE reason NOT LIKE 'settled:%'")
[ "${did:-0}" -ge 2 ] && ok "recorded: $did actions" || fail "recorded actions" "$did"
p=$(sql "SELECT count(*) FROM policy WHERE reason = 'start' AND conf LIKE '%policy.cpu_threshold=$CPU_THRESHOLD%'")
[ "${p:-0}" -ge 1 ] && ok "the policy table holds the live policy" || fail "policy row" "$p"
n=$(sql "SELECT count(*) FROM containers WHERE sample_ns IS NOT NULL AND docker_state = 'running'
	AND identity = 'name:' || name")
[ "${n:-0}" -gt 0 ] && ok "container rows carry the sample clock, Docker's state, the identity" ||
	fail "container rows" "$n"

sum_before=$(sha256sum "$DB" | cut -d' ' -f1)

# summary FIELD [ARGS...]: a field of the replay's summary line.
summary() {
	local f=$1
	shift
	"$REPLAY" "$DB" --json "$@" | jq -r "select(.type == \"summary\") | .$f"
}

# The property: the policy that was live reproduces the recorded actions.
out=$("$REPLAY" "$DB" --json)
rc=$?
[ "$rc" = 0 ] && ok "replay: exit 0" || fail "replay exit" "rc $rc"
if echo "$out" | jq -e . >/dev/null 2>&1 &&
	[ "$(echo "$out" | jq -s 'map(select(.type == "summary")) | length')" = 1 ]; then
	ok "--json: every line is a JSON object, one summary"
else fail "--json lines" "$(echo "$out" | head -3)"; fi
s=$(echo "$out" | jq -c 'select(.type == "summary")')
if [ -n "$s" ] && echo "$s" | jq -e --argjson did "$did" '.did == $did and .would == $did and .same == $did
	and .only_would == 0 and .only_did == 0 and .samples > 0' >/dev/null; then
	ok "the recorded policy (start, then reload) reproduces all $did recorded actions"
else fail "reproduced" "$s; $(echo "$out" | jq -c 'select(.same == false)' | head -5)"; fi
echo "$out" | jq -e -s '[.[] | select(.type == "action" and (.name | test("low_hog")))]
	| length == 2 and all(.same and .would.action == "remove" and .would.step == 1
	and .did.result == "ok")' >/dev/null &&
	ok "each hog: would remove, did remove, ok" || fail "hog lines" "$(echo "$out" | head -3)"
echo "$out" | jq -e -s '[.[] | select(.type == "action" and (.name | test("cap_hog")))]
	| length >= 1 and all(.same and .would.action == "throttle")' >/dev/null &&
	ok "the capped hog: would throttle, did throttle" || fail "cap lines" "$(echo "$out" | grep cap_hog)"

# Stricter: a memory threshold the idle container is over adds actions.
# (It also changes the capped hog's: a cap frees no memory, so its
# throttle-only ladder has no step for it.)
s=$("$REPLAY" "$DB" --json -o policy.mem_threshold=0.0001 | jq -c 'select(.type == "summary")')
if [ -n "$s" ] && echo "$s" | jq -e '.only_would >= 1' >/dev/null; then
	ok "stricter (mem_threshold 0.0001): actions added ($(echo "$s" | jq .only_would))"
else fail "stricter adds" "$s"; fi
"$REPLAY" "$DB" --json -o policy.mem_threshold=0.0001 |
	jq -e -s 'map(select(.type == "action" and (.name | test("low_idle")) and .would != null
		and .did == null)) | length >= 1' >/dev/null &&
	ok "stricter: the idle container would have been removed" || fail "idle would"
# Looser: no container is over 100 % of the machine.
s=$("$REPLAY" "$DB" --json -o policy.cpu_threshold=100 | jq -c 'select(.type == "summary")')
if [ -n "$s" ] && echo "$s" | jq -e --argjson did "$did" '.would == 0 and .only_did == $did' >/dev/null; then
	ok "looser (cpu_threshold 100): the recorded actions dropped"
else fail "looser drops" "$s"; fi
# -c: a config file with the live policy's keys reproduces them too.
conf=$T/replay.conf
sql "SELECT conf FROM policy ORDER BY id DESC LIMIT 1" |
	awk -F= 'NF == 0 { next } { k = $1; sub(/^[^=]*=/, ""); s = k; sub(/\.[^.]*$/, "", s); n = k; sub(/^.*\./, "", n);
		if (s != last) { print "[" s "]"; last = s } print n " = " $0 }' >"$conf"
s=$("$REPLAY" "$DB" --json -c "$conf" | jq -c 'select(.type == "summary")')
[ -n "$s" ] && echo "$s" | jq -e --argjson did "$did" '.policy == "file" and .same == $did
	and .only_would == 0 and .only_did == 0' >/dev/null &&
	ok "-c FILE with the live policy: the same actions" || fail "-c file" "$s"

# The human table: a header per container, then the summary.
"$REPLAY" "$DB" >"$T/table.txt"
grep -q "^container .* ${KWT}low_hog1 (class low)" "$T/table.txt" &&
	grep -q "^  TIME  *WOULD  *DID  *WHY" "$T/table.txt" &&
	grep -Eq "^  [0-9T:-]+Z  1 remove  *1 remove: ok" "$T/table.txt" &&
	grep -q "only would, 0 only did" "$T/table.txt" &&
	ok "the table: per container, time, would, did, why" || fail "table" "$(head -5 "$T/table.txt")"

# --since / --until: unix seconds and ISO-8601.
last=$(sql "SELECT max(ts) FROM containers")
[ "$(summary did --since $((last + 3600)))" = 0 ] && [ "$(summary would --since $((last + 3600)))" = 0 ] &&
	ok "--since after the last row: nothing shown" || fail "--since"
iso=$(date -u -d "@$((last + 3600))" +%Y-%m-%dT%H:%M:%SZ)
[ "$(summary would --until "$(date -u -d "@$((last - 86400))" +%Y-%m-%dT%H:%M:%SZ)")" = 0 ] &&
	[ "$(summary same --since "$(date -u -d "@$((last - 3600))" +%Y-%m-%dT%H:%M:%S)" --until "$iso")" = "$did" ] &&
	ok "--since/--until in ISO-8601: the range" || fail "ISO range"

sum_after=$(sha256sum "$DB" | cut -d' ' -f1)
[ "$sum_before" = "$sum_after" ] && ok "the database is unchanged (sha256)" || fail "database changed"

# A read-only copy, read by a user who can write nothing there.
ro=$(mktemp -d /tmp/kw-replay-ro.XXXXXX)
cp "$DB" "$ro/kwarden.db"
chmod 0444 "$ro/kwarden.db"
chmod 0555 "$ro"
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$REPLAY" "$ro/kwarden.db" --json 2>&1)
	s=$(echo "$out" | jq -c 'select(.type == "summary")' 2>/dev/null)
	[ -n "$s" ] && echo "$s" | jq -e --argjson did "$did" '.same == $did and .only_would == 0' >/dev/null &&
		ok "a read-only copy, as nobody: the same replay" || fail "read-only copy" "$out"
else
	s=$("$REPLAY" "$ro/kwarden.db" --json | jq -c 'select(.type == "summary")')
	[ -n "$s" ] && echo "$s" | jq -e --argjson did "$did" '.same == $did' >/dev/null &&
		ok "a read-only copy: the same replay" || fail "read-only copy" "$s"
fi
chmod 0755 "$ro"
rm -rf "$ro"

# Bad input: exit codes and what they say.
"$REPLAY" "$DB" -o policy.nope=1 >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 2 ] && grep -q "policy.nope: unknown key" "$T/err" && ok "bad -o: exit 2, the key named" ||
	fail "bad -o" "rc $rc: $(cat "$T/err")"
"$REPLAY" "$DB" --since soon >/dev/null 2>&1
[ $? = 2 ] && ok "bad --since: exit 2" || fail "bad --since"
"$REPLAY" >/dev/null 2>&1
[ $? = 2 ] && ok "no database: exit 2" || fail "no database"
echo "not a database at all, just some text that is long enough" >"$T/text.db"
"$REPLAY" "$T/text.db" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && ok "not a database: exit 1 ($(cat "$T/err"))" || fail "not a database" "rc $rc"
sqlite3 "$T/old.db" "CREATE TABLE containers (id INTEGER, container_id TEXT, ts INTEGER);
	CREATE TABLE deletions (id INTEGER, ts INTEGER)"
"$REPLAY" "$T/old.db" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && grep -q "recorded before replay support" "$T/err" &&
	ok "an older database: exit 1, recorded before replay support" || fail "older database" "rc $rc: $(cat "$T/err")"
"$REPLAY" --help | grep -q "^usage: kwarden-replay DB" && ok "--help" || fail "--help"

kwt_rm
finish
