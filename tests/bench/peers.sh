# shellcheck shell=bash
# tests/bench/peers.sh - sourced by tests/bench/run for benchmark 2: the
# tools a user would run instead of kwarden, beside the same parked
# processes at the same 1 s interval, interleaved with kwarden in slices:
#
#   atop      `atop -w FILE 1`: a raw sample file every second
#   exporter  prometheus-process-exporter (every process grouped by its
#             comm, the package's other defaults) scraped every second by
#             curl from this shell
#
# Every tool is started once per size and kept stopped (SIGSTOP) outside
# its slices; a slice continues it for a while and takes its CPU: the
# schedstat run time of all its threads (for the exporter, plus the curl
# processes of its scrapes, from bash's `times`). The order of the three
# rotates every round, so a change in the machine's load hits all alike.

# shellcheck disable=SC2034 # both read by bench_pipeline in tests/bench/run
PEERS_OK=0 PEERS_WHY=
PEER_PORT=19256
declare -A PEER_PID=()

peers_check() {
	local miss=()
	command -v atop >/dev/null || miss+=(atop)
	command -v prometheus-process-exporter >/dev/null || miss+=(prometheus-process-exporter)
	command -v curl >/dev/null || miss+=(curl)
	if [ ${#miss[@]} -gt 0 ]; then
		# shellcheck disable=SC2034 # read by bench_pipeline
		PEERS_WHY="not installed: ${miss[*]} (run/install-deps bench)"
		return 1
	fi
	# shellcheck disable=SC2034 # read by bench_pipeline
	PEERS_OK=1
}

# Start both peers (then stopped); $1: directory for their files.
peers_start() {
	local d=$1 _
	cat >"$d/pe.yml" <<-'EOF'
	process_names:
	  - name: "{{.Comm}}"
	    cmdline:
	    - '.+'
	EOF
	atop -w "$d/atop.raw" 1 >"$d/atop.log" 2>&1 </dev/null &
	PEER_PID[atop]=$!
	bg_add "${PEER_PID[atop]}"
	prometheus-process-exporter -config.path "$d/pe.yml" \
		-web.listen-address "127.0.0.1:$PEER_PORT" >"$d/pe.log" 2>&1 </dev/null &
	PEER_PID[exporter]=$!
	bg_add "${PEER_PID[exporter]}"
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$PEER_PORT/metrics" && break
		nap 0.1
	done
	# Their first second reads every process cold: not measured.
	nap 3
	scrape_for 3 >/dev/null
	kill -STOP "${PEER_PID[atop]}" "${PEER_PID[exporter]}" 2>/dev/null
}

peers_stop() {
	local n
	for n in atop exporter; do
		[ -n "${PEER_PID[$n]:-}" ] || continue
		kill -CONT "${PEER_PID[$n]}" 2>/dev/null
		bg_stop "${PEER_PID[$n]}"
	done
	PEER_PID=()
}

# Scrape the exporter once a second for $1 s of wall time, in this shell
# (its curl processes are this shell's children): a scrape that takes
# longer than the interval is followed by the next at once. Prints
# "SCRAPES OVERRUN".
scrape_for() {
	local end t0 t1 next now over=0 n=0 fd
	exec {fd}<> <(:)
	next=${EPOCHREALTIME/./}
	end=$((next + ${1%.*} * 1000000))
	while [ "$next" -lt "$end" ]; do
		t0=${EPOCHREALTIME/./}
		curl -s -o /dev/null --max-time 60 "http://127.0.0.1:$PEER_PORT/metrics"
		t1=${EPOCHREALTIME/./}
		n=$((n + 1))
		[ $((t1 - t0)) -gt 1000000 ] && over=$((over + 1))
		next=$((next + 1000000))
		now=${EPOCHREALTIME/./}
		if [ "$now" -lt "$next" ]; then
			read -r -t "$(printf '%d.%06d' $(((next - now) / 1000000)) $(((next - now) % 1000000)))" -u "$fd"
		else
			next=$now	# overran: the next one at once
		fi
	done
	exec {fd}>&-
	echo "$n $over"
}

# One slice of a peer: $1 atop|exporter, $2 seconds. Adds to PEER_NS[$1],
# PEER_S[$1] (and PEER_SCRAPES, PEER_OVER for the exporter).
declare -A PEER_NS=() PEER_S=()
PEER_OVER=0 PEER_SCRAPES=0
peer_slice() {
	local n=$1 s=$2 pid=${PEER_PID[$1]} a b t0 t1 k0 k1 over nscr
	kill -CONT "$pid" 2>/dev/null
	a=$(cpu_ns "$pid")
	t0=${EPOCHREALTIME/./}
	if [ "$n" = exporter ]; then
		children_cpu
		k0=$CHILD_NS
		read -r nscr over <<<"$(scrape_for "$s")"
		children_cpu
		k1=$CHILD_NS
		PEER_OVER=$((PEER_OVER + over))
		PEER_SCRAPES=$((PEER_SCRAPES + nscr))
	else
		nap "$s"
		k0=0 k1=0
	fi
	t1=${EPOCHREALTIME/./}
	b=$(cpu_ns "$pid")
	kill -STOP "$pid" 2>/dev/null
	PEER_NS[$n]=$((${PEER_NS[$n]:-0} + b - a + k1 - k0))
	PEER_S[$n]=$(awk -v a="${PEER_S[$n]:-0}" -v d=$((t1 - t0)) 'BEGIN { printf "%.6f", a + d / 1e6 }')
}
