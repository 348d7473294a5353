#!/usr/bin/env bash
# The database file deleted or replaced under a running recorder, end to
# end with the real daemons and the real sqlite3 (docs/reliability.md):
#  1. rm of the database, its -wal and -shm: the recorder notices, makes a
#     new database at the path and goes on from the first seq it had not
#     committed, with no gap;
#  2. a file that is not a database moved over it: refused and left as it
#     is (error, status), retried; once it is gone the recorder goes on;
#  3. another program's SQLite database moved over it: refused, untouched;
#     then a kwarden database moved over it: used, rows keep coming.
# The recorder is never restarted; every seq after the event is in the file
# at the path, and the seqs before it are in the file it replaced.
. "$(dirname "$0")/lib.sh"

DB=$T/kwarden.db

rstatus() {
	ctl recorder status | jq -r "$1"
}

# status_is JQ: the recorder's status satisfies JQ (for wait_for).
status_is() {
	ctl recorder status | jq -e "$1" >/dev/null
}

# rows_in: sys_metrics rows of the file at the path (0 when none).
rows_in() {
	sqldb "$DB" "SELECT count(*) FROM sys_metrics" 2>/dev/null || echo 0
}

# rows_grow N: the file at the path gets more than N sys_metrics rows.
rows_grow() {
	[ "$(rows_in)" -gt "$1" ]
}

# contiguous EPOCH WHAT: every seq from the file's first to its last is
# there; sets FIRST to its first seq.
contiguous() {
	local n lo hi
	read -r n lo hi <<<"$(epoch_seqs "$1" "$DB")"
	FIRST=$lo
	if [ -n "$hi" ] && [ "$n" -gt 0 ] && [ "$n" = $((hi - lo + 1)) ]; then
		ok "$2: every seq from $lo to $hi is there ($n)"
	else
		fail "$2: seqs" "$n distinct in $lo..$hi"
	fi
}

# dry-run: other containers on this machine are never touched.
if ! start_pipeline -o reader.interval=100ms -o recorder.batch_delay=200ms -o policy.action=dry-run; then
	fail "pipeline starts" "$(tail -n 5 "$T/log")"
	finish
	exit
fi
wait_for 20 rows_grow 5 || fail "first rows" "$(tail -n 5 "$T/log")"
rec=$(child_pid recorder)
epoch=$(sqldb "$DB" "SELECT epoch FROM sys_metrics LIMIT 1")

# --- 1. the database and its -wal and -shm deleted ---
rm -f "$DB" "$DB-wal" "$DB-shm"
if wait_for 20 status_is '.db_file.reopens >= 1 and .db_file.first_seq > 0'; then
	ok "a deleted database is noticed and made again ($(ctl recorder status | jq -c '.db_file | {events, last_event, committed_before, first_seq}'))"
else
	fail "database made again" "$(ctl recorder status | jq -c .db_file)"
fi
rstatus '.db_file.last_event' | grep -q deleted &&
	ok "status says it was deleted" || fail "deleted in status" "$(rstatus .db_file)"
rstatus '.last_db_error' | grep -q deleted &&
	ok "and it is the last database error" || fail "last_db_error" "$(rstatus .last_db_error)"
grep -q "deleted under the recorder" "$T/log" &&
	ok "the deletion is logged" || fail "deletion logged" "$(grep -i database "$T/log" | tail -n 3)"
wait_for 20 rows_grow 10 && ok "rows keep arriving in the new file ($(rows_in))" ||
	fail "rows in the new file" "$(rows_in)"
[ "$(child_pid recorder)" = "$rec" ] && ok "the recorder was not restarted" ||
	fail "recorder restarted" "$rec -> $(child_pid recorder)"
before=$(rstatus '.db_file.committed_before')
contiguous "$epoch" "the new file"
[ "$FIRST" = $((before + 1)) ] &&
	ok "it begins right after the last commit into the deleted file (seq $FIRST)" ||
	fail "first seq of the new file" "first $FIRST, committed before $before"
[ "$(stat -c %a "$DB")" = 640 ] && ok "made 0640 as at start" ||
	fail "mode of the new file" "$(stat -c %a "$DB")"

# --- 2. a file that is not a database moved over it ---
echo "not a database: an operator's notes" >"$T/notes"
cp "$T/notes" "$T/notes.orig"
events=$(rstatus '.db_file.events')
mv "$T/notes" "$DB"
if wait_for 20 status_is '.db_file.state == "refused"'; then
	ok "a file that is not a database is refused ($(rstatus .last_db_error))"
else
	fail "refused" "$(ctl recorder status | jq -c '{db_file, last_db_error}')"
fi
[ "$(rstatus '.db_file.events')" -gt "$events" ] && rstatus '.db_file.last_event' | grep -q replaced &&
	ok "status says the file was replaced" || fail "replaced in status" "$(rstatus .db_file)"
grep -q "not a SQLite database" "$T/log" && ok "the refusal is logged" ||
	fail "refusal logged" "$(grep -i database "$T/log" | tail -n 3)"
sleep 2
cmp -s "$DB" "$T/notes.orig" && ok "the file is left as it was" ||
	fail "foreign file untouched" "$(head -c 200 "$DB" | od -c | head -n 3)"
[ ! -e "$DB-wal" ] && ok "no -wal made beside it" || fail "-wal beside the foreign file"
kill -0 "$rec" 2>/dev/null && ok "the recorder keeps running while refused" ||
	fail "recorder alive while refused"
refusals=$(rstatus '.db_file.refusals')
[ "$refusals" -gt 1 ] && ok "it retries ($refusals attempts)" || fail "retries" "$refusals"
reopens=$(rstatus '.db_file.reopens')
rm -f "$DB"
if wait_for 20 status_is ".db_file.reopens > $reopens and .db_file.state == \"open\" and .db_file.first_seq > 0"; then
	ok "once the file is gone, a new database is made"
else
	fail "reopen after the refusal" "$(ctl recorder status | jq -c .db_file)"
fi
wait_for 20 rows_grow 10 || fail "rows after the refusal" "$(rows_in)"
before=$(rstatus '.db_file.committed_before')
contiguous "$epoch" "after the refusal"
gaps=$(rstatus '.gaps')
[ "$FIRST" = $((before + 1)) ] && [ "$gaps" = 0 ] &&
	ok "nothing lost while refused: the decider held it (first seq $FIRST, no gap)" ||
	fail "seqs held across the refusal" "first $FIRST, committed before $before, gaps $gaps"

# --- 3. another program's SQLite database, then a kwarden database ---
sqlite3 "$T/other.db" "CREATE TABLE notes(t TEXT); INSERT INTO notes VALUES ('mine')"
cp "$T/other.db" "$T/other.orig"
sqlite3 -cmd '.timeout 5000' "$DB" ".backup '$T/copy.db'"
events=$(rstatus '.db_file.events')
mv "$T/other.db" "$DB"
if wait_for 20 status_is ".db_file.state == \"refused\" and .db_file.events > $events"; then
	ok "another program's SQLite database is refused"
else
	fail "foreign SQLite refused" "$(ctl recorder status | jq -c '{db_file, last_db_error}')"
fi
rstatus '.last_db_error' | grep -q "without kwarden's tables" &&
	ok "status says why" || fail "why refused" "$(rstatus .last_db_error)"
sleep 1
cmp -s "$DB" "$T/other.orig" && ok "the other database is left as it was" ||
	fail "foreign database untouched" "$(sqlite3 "$DB" .tables)"
reopens=$(rstatus '.db_file.reopens')
copied=$(sqlite3 "$T/copy.db" "SELECT count(*) FROM sys_metrics")
mv "$T/copy.db" "$DB"
if wait_for 20 status_is ".db_file.reopens > $reopens and .db_file.state == \"open\""; then
	ok "a kwarden database moved in is used"
else
	fail "kwarden database used" "$(ctl recorder status | jq -c .db_file)"
fi
wait_for 20 rows_grow "$((copied + 10))" &&
	ok "rows go on in it ($copied copied, $(rows_in) now)" ||
	fail "rows in the moved-in database" "$copied copied, $(rows_in) now"
read -r _ _ hi <<<"$(epoch_seqs "$epoch" "$DB")"
first=$(rstatus '.db_file.first_seq')
read -r n _ _ <<<"$(epoch_seqs "$epoch" "$DB" "seq BETWEEN $first AND $hi")"
[ "$n" = $((hi - first + 1)) ] &&
	ok "every seq since it came is there ($first..$hi)" ||
	fail "seqs in the moved-in database" "$n distinct in $first..$hi"
[ "$(rstatus '.gaps')" = 0 ] && ok "no gap all along" || fail "gaps" "$(rstatus .gaps)"

stop_pipeline
[ "$STOP_RC" = 0 ] && ok "clean stop (rc 0)" || fail "stop" "rc=$STOP_RC"

# --- 4. at start: what is at the path is probed the same way ---
mkdir -p "$T/start"
cp "$T/other.orig" "$T/start/kwarden.db"
timeout 20 "$RECORDER" --state-dir "$T/start" >"$T/start.log" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q "without kwarden's tables" "$T/start.log" &&
	ok "at start, another program's database at the path: exit 2, said why" ||
	fail "start on a foreign database" "rc $rc: $(tail -n 2 "$T/start.log")"
cmp -s "$T/start/kwarden.db" "$T/other.orig" && ok "and it is left as it was" ||
	fail "foreign database untouched at start"
finish
