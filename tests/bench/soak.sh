#!/usr/bin/env bash
# tests/bench/soak.sh - the pipeline left running (make soak; not make test).
#
# The three daemons at a 100 ms interval on ~2,000 sleeping processes,
# with churn (a batch of short-lived children forked and reaped every
# second) and, when Docker answers, idle containers started and removed
# in turn. Every SOAK_EVERY seconds it samples each daemon's VmRSS,
# RssAnon and open fds, and the database's size. After the warm-up it
# fits a line to each series and prints its slope per hour with the
# slope's standard error; it fails when a slope is beyond its bound by
# more than twice its standard error (a short run is noisy; a leak is not):
#   VmRSS and RssAnon  SOAK_RSS_MB_H MiB/h (default 16) per daemon
#   open fds           SOAK_FD_H per hour (default 10) per daemon
#   database           grows by design: bytes per sample are printed, and
#                      its second half must grow no faster than 1.5 x its
#                      first (linear, not accelerating)
# A daemon restarted during the soak fails it too, and so does the
# decider's RssAnon over SOAK_DECIDER_ANON_MB (8 MiB, the goal at 10,000
# processes) at any sample after the warm-up: it runs with its default
# replay ring (decider.ring_size 32M), of which what the recorder has
# acked is kept only up to decider.ring_acked (1M).
#
# Environment: SOAK_MINUTES (30), SOAK_WARMUP_S (1/5 of the run, at most
# 300), SOAK_PROCS (2000), SOAK_CHURN (50 children a second), SOAK_EVERY
# (5 s), SOAK_INTERVAL (100ms), SOAK_DECIDER_RING and SOAK_DECIDER_ACKED
# (the decider's ring_size and ring_acked, default: the defaults),
# SOAK_DECIDER_ANON_MB (8), KW_KEEP=1 keeps the temp dir and the CSV.
set -u
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
B="$ROOT/build/bench"
MINUTES=${SOAK_MINUTES:-30}
TOTAL_S=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')
WARMUP_S=${SOAK_WARMUP_S:-$((TOTAL_S / 5 > 300 ? 300 : TOTAL_S / 5))}
NPROCS=${SOAK_PROCS:-2000}
CHURN=${SOAK_CHURN:-50}
EVERY=${SOAK_EVERY:-5}
INTERVAL=${SOAK_INTERVAL:-100ms}
RSS_BOUND=${SOAK_RSS_MB_H:-16}
FD_BOUND=${SOAK_FD_H:-10}
PREFIX=kwsoak-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-
T=$(mktemp -d /tmp/kw-soak.XXXXXX)
CSV=$T/soak.csv
PIDS=()
DOCKER=0

# shellcheck disable=SC2317 # run by the trap
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ "$DOCKER" = 1 ]; then
		docker ps -aq --filter "name=^$PREFIX" | xargs -r docker rm -f >/dev/null 2>&1
	fi
	if [ "${KW_KEEP:-0}" = 1 ]; then
		echo "soak: kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make -s -C "$BENCH_DIR" O="$B" "$B/forker" >/dev/null || exit 2

# The ~2,000 processes that stay.
"$B/forker" "$NPROCS" "$T/ready" &
PIDS+=($!)
for _ in $(seq 300); do [ -s "$T/ready" ] && break; sleep 0.1; done
echo "soak: $(cat "$T/ready" 2>/dev/null || echo 0) sleeping processes"

# Churn: CHURN children forked, held a moment and reaped, every second.
(
	trap 'kill -TERM "$f" 2>/dev/null; wait "$f" 2>/dev/null; exit 0' TERM
	i=0
	while :; do
		i=$((i + 1))
		rm -f "$T/churn.$i"
		"$B/forker" "$CHURN" "$T/churn.$i" &
		f=$!
		sleep 1
		kill -TERM "$f" 2>/dev/null
		wait "$f" 2>/dev/null
		rm -f "$T/churn.$i"
	done
) &
PIDS+=($!)

# Containers: an idle one started every 10 s, the oldest of more than 3
# removed. Only this run's containers are in a class: the policy never
# acts on anything else on the machine (and idle ones are never acted on).
if docker info >/dev/null 2>&1 && "$ROOT/run/workload/build.sh" >"$T/build.log" 2>&1; then
	DOCKER=1
	(
		n=0
		while :; do
			n=$((n + 1))
			docker run -d --network none --name "${PREFIX}low_$n" low_img >/dev/null 2>&1
			mapfile -t old < <(docker ps -q --filter "name=^${PREFIX}low_" | tail -n +4)
			[ ${#old[@]} -gt 0 ] && docker rm -f "${old[@]}" >/dev/null 2>&1
			sleep 10
		done
	) &
	PIDS+=($!)
else
	echo "soak: no Docker engine (or images): no container starts/stops"
fi

# The decider's replay ring: what the recorder has acked is kept up to
# decider.ring_acked, the rest up to decider.ring_size. With the recorder
# keeping up, the ring holds about ring_acked plus a batch: flat within
# the warm-up, whatever ring_size is.
DECIDER_RING=${SOAK_DECIDER_RING:-32M}
DECIDER_ACKED=${SOAK_DECIDER_ACKED:-1M}
ANON_BOUND=${SOAK_DECIDER_ANON_MB:-8}
ring_opts=()
[ -n "${SOAK_DECIDER_RING:-}" ] && ring_opts+=(-o "decider.ring_size=$DECIDER_RING")
[ -n "${SOAK_DECIDER_ACKED:-}" ] && ring_opts+=(-o "decider.ring_acked=$DECIDER_ACKED")
"$ROOT/run/kwarden-run" --state-dir "$T" -o "reader.interval=$INTERVAL" \
    "${ring_opts[@]}" \
    -o "class.high.match=${PREFIX}high" -o "class.low.match=${PREFIX}low" \
    >"$T/log" 2>&1 &
RUN_PID=$!
PIDS+=("$RUN_PID")
for _ in $(seq 100); do [ -S "$T/run/recorder.ctl" ] && break; sleep 0.1; done

DAEMONS=(reader decider recorder)
declare -A DPID
for d in "${DAEMONS[@]}"; do
	for _ in $(seq 100); do
		DPID[$d]=$(pgrep -P "$RUN_PID" -f "kwarden-$d" | head -n 1)
		[ -n "${DPID[$d]}" ] && break
		sleep 0.1
	done
	if [ -z "${DPID[$d]}" ]; then
		echo "soak: kwarden-$d did not start"
		tail -n 20 "$T/log"
		exit 1
	fi
done

# kb PID FIELD: a /proc/PID/status field in KiB.
kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

echo "soak: $MINUTES min at $INTERVAL, warm-up $WARMUP_S s, a sample every $EVERY s ($T)"
{
	printf 't,samples,db_bytes,nprocs'
	for d in "${DAEMONS[@]}"; do printf ',%s_rss,%s_anon,%s_fds' "$d" "$d" "$d"; done
	echo
} >"$CSV"
start=$(date +%s)
restarted=""
while :; do
	now=$(date +%s)
	t=$((now - start))
	[ "$t" -ge "$TOTAL_S" ] && break
	samples=$(echo status | socat -t 2 - "UNIX-CONNECT:$T/run/recorder.ctl" 2>/dev/null |
	    jq -r '.rows_written.sys_metrics // empty')
	db=$(( $(fsize "$T/kwarden.db") + $(fsize "$T/kwarden.db-wal") ))
	nprocs=$(echo status | socat -t 2 - "UNIX-CONNECT:$T/run/reader.ctl" 2>/dev/null |
	    jq -r '.last_nprocs // empty')
	line="$t,${samples:-},$db,${nprocs:-}"
	for d in "${DAEMONS[@]}"; do
		p=${DPID[$d]}
		if ! kill -0 "$p" 2>/dev/null; then
			restarted="$restarted $d"
			line="$line,,,"
			continue
		fi
		fds=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		line="$line,$(kb "$p" VmRSS),$(kb "$p" RssAnon),$fds"
	done
	echo "$line" >>"$CSV"
	[ -n "$restarted" ] && break
	sleep "$EVERY"
done

status=0
if [ -n "$restarted" ]; then
	echo "soak: FAIL: daemon gone during the soak:$restarted"
	grep -iE 'exit|signal|restart' "$T/log" | tail -n 10
	status=1
fi

# fit COLUMN SCALE: "slope stderr n" per hour of a column after the warm-up
# (values multiplied by SCALE), least squares.
fit() {
	awk -F, -v c="$1" -v w="$WARMUP_S" -v s="$2" 'NR > 1 && $1 >= w && $c != "" {
		x = $1 / 3600; y = $c * s; n++; sx += x; sy += y; sxx += x * x; sxy += x * y
		X[n] = x; Y[n] = y
	} END {
		if (n < 3) { print "0 0 " n; exit }
		d = n * sxx - sx * sx; b = (n * sxy - sx * sy) / d; a = (sy - b * sx) / n
		for (i = 1; i <= n; i++) { r = Y[i] - a - b * X[i]; ss += r * r }
		se = sqrt(ss / (n - 2) / (sxx - sx * sx / n))
		printf "%.3f %.3f %d\n", b, se, n
	}' "$CSV"
}

# col NAME: the CSV column of NAME.
col() { head -n 1 "$CSV" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }

echo
echo "soak: after the warm-up ($(awk -F, -v w="$WARMUP_S" 'NR > 1 && $1 >= w' "$CSV" | wc -l) samples):"
printf '  %-9s %-8s %12s %12s %10s %10s\n' daemon series start end "slope/h" "stderr"
for d in "${DAEMONS[@]}"; do
	for s in rss anon fds; do
		c=$(col "${d}_$s")
		if [ "$s" = fds ]; then
			scale=1 bound=$FD_BOUND unit=fds
		else
			scale=0.0009765625 bound=$RSS_BOUND unit=MiB	# KiB to MiB
		fi
		read -r slope se n <<<"$(fit "$c" "$scale")"
		first=$(awk -F, -v c="$c" -v w="$WARMUP_S" -v s="$scale" 'NR > 1 && $1 >= w && $c != "" { printf "%.1f", $c * s; exit }' "$CSV")
		last=$(awk -F, -v c="$c" -v s="$scale" 'NR > 1 && $c != "" { v = $c * s } END { printf "%.1f", v }' "$CSV")
		verdict=ok
		if awk -v b="$slope" -v e="$se" -v m="$bound" 'BEGIN { exit !(b - 2 * e > m) }'; then
			verdict="FAIL (bound $bound $unit/h)"
			status=1
		fi
		printf '  %-9s %-8s %12s %12s %10s %10s  %s\n' "$d" "$s" "$first" "$last" "$slope" "$se" "$verdict"
	done
done

# The database: bytes per sample, and the growth of each half.
read -r s0 b0 s1 b1 s2 b2 <<<"$(awk -F, -v w="$WARMUP_S" 'NR > 1 && $1 >= w && $2 != "" { n++; S[n] = $2; D[n] = $3 }
    END { m = int((n + 1) / 2); print S[1], D[1], S[m], D[m], S[n], D[n] }' "$CSV")"
if [ -n "${s2:-}" ] && [ "$s2" -gt "$s0" ]; then
	per=$(( (b2 - b0) / (s2 - s0) ))
	h1=$(awk -v a="$b0" -v b="$b1" -v x="$s0" -v y="$s1" 'BEGIN { printf "%.0f", (y > x ? (b - a) / (y - x) : 0) }')
	h2=$(awk -v a="$b1" -v b="$b2" -v x="$s1" -v y="$s2" 'BEGIN { printf "%.0f", (y > x ? (b - a) / (y - x) : 0) }')
	echo "  database: $b0 -> $b2 bytes over $((s2 - s0)) samples: $per bytes a sample (first half $h1, second $h2)"
	if awk -v a="$h1" -v b="$h2" 'BEGIN { exit !(a > 0 && b > 1.5 * a) }'; then
		echo "  database: FAIL: the second half grows over 1.5 x the first (accelerating)"
		status=1
	fi
	rate=$(awk -F, -v w="$WARMUP_S" 'NR > 1 && $1 >= w && $2 != "" { if (!t0) { t0 = $1; a = $2 } t1 = $1; b = $2 }
	    END { printf "%.1f", (t1 > t0 ? (b - a) / (t1 - t0) : 0) }' "$CSV")
	echo "  samples stored: $rate a second (interval $INTERVAL)"
	# The reader sees every process of the machine, not only the soak's:
	# memory follows the largest snapshot, so a busy machine moves it.
	read -r pmin pmax <<<"$(awk -F, -v w="$WARMUP_S" 'NR > 1 && $1 >= w && $4 != "" {
	    if (min == "" || $4 < min) min = $4; if ($4 > max) max = $4 } END { print min, max }' "$CSV")"
	echo "  processes on the machine (the reader's count): $pmin to $pmax"
	if awk -v a="${pmin:-0}" -v b="${pmax:-0}" 'BEGIN { exit !(a > 0 && b > 1.2 * a) }'; then
		echo "  note: the machine's process count moved by over 20 %: the daemons' memory follows the largest snapshot, so the slopes are not theirs alone"
	fi
	if awk -v r="$rate" -v i="$INTERVAL" 'BEGIN { ms = i + 0; if (i ~ /ms$/) ms = i + 0; else if (i ~ /s$/) ms = (i + 0) * 1000; exit !(ms > 0 && r < 500 / ms) }'; then
		echo "  note: under half the samples the interval asks for were stored: the machine is overloaded"
	fi
else
	echo "  database: FAIL: no samples stored after the warm-up"
	status=1
fi
# The decider's private memory: under the goal at every sample after the
# warm-up.
c=$(col decider_anon)
read -r amax at <<<"$(awk -F, -v c="$c" -v w="$WARMUP_S" 'NR > 1 && $1 >= w && $c != "" && $c + 0 > m { m = $c + 0; t = $1 }
    END { printf "%.1f %d\n", m / 1024, t }' "$CSV")"
echo "  decider's RssAnon after the warm-up: at most $amax MiB (at $at s; bound $ANON_BOUND MiB)"
if awk -v a="$amax" -v b="$ANON_BOUND" 'BEGIN { exit !(a <= 0 || a > b) }'; then
	echo "  decider's RssAnon: FAIL: over $ANON_BOUND MiB or unread"
	status=1
fi
# The bounded buffers stayed within their bounds: the ring within its size,
# its acked part within ring_acked.
read -r ring acked trimmed <<<"$(echo status | socat -t 2 - "UNIX-CONNECT:$T/run/decider.ctl" 2>/dev/null |
    jq -r '.pub | "\(.ring_bytes // "") \(.acked_bytes // "") \(.ring_trimmed // "")"')"
ring_max=$(numfmt --from=iec "$DECIDER_RING" 2>/dev/null || echo 0)
acked_max=$(numfmt --from=iec "$DECIDER_ACKED" 2>/dev/null || echo -1)
echo "  decider's ring: ${ring:-?} bytes held, ${acked:-?} of them acked, ${trimmed:-?} acked messages trimmed (decider.ring_size $DECIDER_RING, ring_acked $DECIDER_ACKED)"
if [ -z "$ring" ] || [ -z "$acked" ] || [ "$ring_max" -le 0 ] ||
    [ "$ring" -gt "$ring_max" ] || [ "$acked" -gt "$acked_max" ]; then
	echo "  decider's ring: FAIL: over its bounds or unreadable"
	status=1
fi
[ -n "${KW_SOAK_CSV:-}" ] && cp "$CSV" "$KW_SOAK_CSV"
kill -TERM "$RUN_PID" 2>/dev/null
wait "$RUN_PID"
rc=$?
[ "$rc" = 0 ] || { echo "soak: FAIL: the pipeline stopped with rc $rc"; status=1; }
[ "$status" = 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit "$status"
