#!/usr/bin/env bash
# Faults the real system can be made to show, end to end with the real
# daemons: the database's filesystem full (a small tmpfs) and space coming
# back; the recorder stopped (SIGSTOP) for longer than the decider's ring
# holds. Nothing acked may be lost, and a loss that does happen is a gap in
# the recorder's status and log, never silent.
. "$(dirname "$0")/lib.sh"

recorder_status() {
	ctl recorder status | jq -r "$1"
}

# --- 1. the filesystem under the database fills up, then space returns ---
if [ "$(id -u)" -ne 0 ]; then
	echo "# skip the full filesystem: needs root to mount a tmpfs"
else
	FS="$T/small"
	mkdir -p "$FS"
	if mount -t tmpfs -o size=4m tmpfs "$FS"; then
		umount_fs() { umount -l "$FS" 2>/dev/null; }
		if start_pipeline -o reader.interval=100ms -o "paths.database=$FS/kwarden.db" \
		    -o recorder.batch_delay=200ms -o policy.action=dry-run; then
			wait_for 10 test -s "$FS/kwarden.db"
			sleep 1
			# Fill what is left; SQLite's next page has nowhere to go.
			dd if=/dev/zero of="$FS/filler" bs=64k 2>/dev/null
			if wait_for 15 sh -c "echo status | socat -t 2 - UNIX-CONNECT:$T/run/recorder.ctl |
			    jq -e '.last_db_error | test(\"full\"; \"i\")' >/dev/null"; then
				ok "a full filesystem is an error in the recorder's status"
			else
				fail "full filesystem in status" "$(ctl recorder status | jq -c '{db_errors, last_db_error}')"
			fi
			grep -qi "full" "$T/log" &&
				ok "and in its log" ||
				fail "full filesystem logged" "$(grep -i recorder "$T/log" | tail -n 3)"
			kill -0 "$(child_pid recorder)" 2>/dev/null &&
				ok "the recorder keeps running on a full filesystem" ||
				fail "recorder alive while full"
			sleep 2
			acked0=$(ctl decider status | jq -r '.pub.acked_seq')
			rm -f "$FS/filler"
			if wait_for 20 sh -c "echo status | socat -t 2 - UNIX-CONNECT:$T/run/decider.ctl |
			    jq -e '.pub.acked_seq > $acked0' >/dev/null"; then
				ok "space back: the recorder commits and acks again"
			else
				fail "recovery after space returns" "$(ctl recorder status | jq -c '{db_errors, last_db_error, committed}')"
			fi
			sleep 1
			epoch=$(sqldb "$FS/kwarden.db" "SELECT epoch FROM sys_metrics ORDER BY id DESC LIMIT 1")
			read -r distinct _ max <<<"$(epoch_seqs "$epoch" "$FS/kwarden.db")"
			[ -n "$max" ] && [ "$distinct" = "$max" ] &&
				ok "no seq lost across the full filesystem ($distinct of $max)" ||
				fail "seqs across the full filesystem" "$distinct distinct of $max"
			gaps=$(recorder_status '.gaps')
			[ "$gaps" = 0 ] && ok "no gap reported" || fail "gaps" "$gaps"
			stop_pipeline
			[ "$STOP_RC" = 0 ] && ok "clean stop after the fault (rc 0)" ||
				fail "stop after the full filesystem" "rc=$STOP_RC"
		else
			fail "pipeline on a small tmpfs starts" "$(tail -n 5 "$T/log")"
		fi
		umount_fs
	else
		fail "mount a 4 MiB tmpfs"
	fi
fi

# --- 2. the recorder stopped for longer than the decider's ring ---
rm -f "$T/kwarden.db" "$T/kwarden.db-wal" "$T/kwarden.db-shm"
# A stopped client gets what is queued for it up to 4 MiB; after that it
# must replay from the ring, which moves on: 50 samples a second with 50
# processes each leave it behind in seconds.
if start_pipeline -o reader.interval=20ms -o decider.top_k=50 -o policy.action=dry-run \
    -o decider.ring_size=64k -o recorder.batch_delay=100ms; then
	wait_for 10 sh -c "[ -s '$T/kwarden.db' ]"
	sleep 1
	rec=$(child_pid recorder)
	kill -STOP "$rec"
	# Held until what the recorder can still read is out of the ring, by
	# either of two signs: the ring moved past every message the stopped
	# recorder can have been handed (limits.stream_client_bytes, 4 MiB:
	# under 50,000 of these messages); or the decider cut it for lagging
	# and the ring then moved past the seq at the cut. The first is a rate
	# a loaded machine may not reach in time; the second waits on the
	# decider noticing the lag, which needs a write to it to complete.
	past='.pub.oldest_seq > .pub.acked_seq + 50000'
	cut_seq=0
	deadline=$((SECONDS + 180))
	gone=0
	while [ $SECONDS -lt $deadline ]; do
		st=$(ctl decider status)
		if echo "$st" | jq -e "$past" >/dev/null 2>&1; then
			gone=1
			break
		fi
		if [ "$cut_seq" = 0 ] && echo "$st" | jq -e '.pub.clients_cut >= 1' >/dev/null 2>&1; then
			cut_seq=$(echo "$st" | jq '.pub.seq')
		elif [ "$cut_seq" != 0 ] && echo "$st" | jq -e ".pub.oldest_seq > $cut_seq" >/dev/null 2>&1; then
			gone=1
			break
		fi
		sleep 0.5
	done
	if [ "$gone" = 1 ]; then
		ok "the decider goes on while the recorder is stopped ($(ctl decider status | jq -c '.pub | {seq, oldest_seq, acked_seq}'))"
	else
		fail "decider's ring past the stopped recorder" "$(ctl decider status | jq -c .pub)"
	fi
	kill -CONT "$rec"
	if wait_for 15 sh -c "echo status | socat -t 2 - UNIX-CONNECT:$T/run/recorder.ctl |
	    jq -e '.gaps > 0' >/dev/null"; then
		ok "what fell out of the ring is a gap in the recorder's status"
	else
		fail "gap counted" "$(ctl recorder status | jq -c '{gaps, gap_messages}')"
	fi
	grep -q "lost by the producer" "$T/log" &&
		ok "and a log line naming the lost seqs" ||
		fail "gap logged" "$(grep -i 'lost\|gap' "$T/log" | tail -n 3)"
	sleep 1
	lost=$(recorder_status '.gap_messages')
	epoch=$(sql "SELECT epoch FROM sys_metrics ORDER BY id DESC LIMIT 1")
	read -r distinct _ max <<<"$(epoch_seqs "$epoch")"
	missing=$((max - distinct))
	[ "$missing" -gt 0 ] && [ "$missing" = "$lost" ] &&
		ok "the database misses exactly the seqs the recorder reported lost ($missing)" ||
		fail "missing seqs" "distinct $distinct of $max, reported lost $lost"
	kill -0 "$rec" 2>/dev/null && ok "the recorder goes on after the gap" ||
		fail "recorder alive after the gap"
	stop_pipeline
else
	fail "pipeline starts" "$(tail -n 5 "$T/log")"
fi

finish
