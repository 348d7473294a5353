#!/usr/bin/env bash
# Keep the seed's mix of workload containers alive: at least 3 low
# (low_img) and 2 high (high_cpu_img / high_mem_img), filled up to 10 with
# a random pick of the three, replacing those that were removed or that
# stopped. Names are what the default classes recognise: low_N,
# high_cpu_N, high_mem_N. Every container it makes has the label
# kwarden.mix=1, and only those are ever counted or removed.
#
#   run/workload/mix.sh            run until SIGINT/SIGTERM (leaves the mix)
#   run/workload/mix.sh --once     top the mix up once and exit
#   run/workload/mix.sh --stop     remove every mix container
#
# Environment: KW_MIX_LOW (3), KW_MIX_HIGH (2), KW_MIX_TOTAL (10),
# KW_MIX_INTERVAL (2 s), KW_MIX_PREFIX (""), KW_MIX_LABEL (kwarden.mix=1),
# KW_MEM_MB (memory hog size in MiB; default 3 % of MemTotal).
set -u
LOW=${KW_MIX_LOW:-3}
HIGH=${KW_MIX_HIGH:-2}
TOTAL=${KW_MIX_TOTAL:-10}
INTERVAL=${KW_MIX_INTERVAL:-2}
PREFIX=${KW_MIX_PREFIX:-}
LABEL=${KW_MIX_LABEL:-kwarden.mix=1}
if [ -z "${KW_MEM_MB:-}" ]; then
	KW_MEM_MB=$(awk '/^MemTotal:/ { printf "%d", $2 * 0.03 / 1024 }' /proc/meminfo)
fi

ids() { docker ps -aq --filter "label=$LABEL" "$@"; }

if [ "${1:-}" = --stop ]; then
	ids | xargs -r docker rm -f >/dev/null
	exit 0
fi

# Names go on from the highest number in use, so none is reused.
seq_next() {
	local n
	n=$(docker ps -a --filter "label=$LABEL" --format '{{.Names}}' |
		sed -nE 's/.*_([0-9]+)$/\1/p' | sort -n | tail -n 1)
	echo $(( ${n:-0} + 1 ))
}
N=$(seq_next)

start() {	# start KIND: low | high_cpu | high_mem
	local kind=$1 name="${PREFIX}$1_$N"
	local args=()
	N=$((N + 1))
	[ "$kind" = high_mem ] && args=("$KW_MEM_MB")
	if docker run -d --network none --label "$LABEL" --name "$name" \
		"${kind}_img" "${args[@]}" >/dev/null; then
		echo "mix: started $name"
	fi
}

top_up() {
	local low high all kinds=(low high_cpu high_mem)
	# Stopped or killed ones are replaced, not left lying around.
	ids --filter status=exited --filter status=created --filter status=dead |
		xargs -r docker rm -f >/dev/null
	low=$(docker ps --filter "label=$LABEL" --filter ancestor=low_img -q | wc -l)
	high=$(docker ps --filter "label=$LABEL" --format '{{.Image}}' | grep -c '^high_')
	all=$(ids --filter status=running | wc -l)
	while [ "$low" -lt "$LOW" ]; do start low; low=$((low + 1)); all=$((all + 1)); done
	while [ "$high" -lt "$HIGH" ]; do
		start "${kinds[$((1 + RANDOM % 2))]}"
		high=$((high + 1)); all=$((all + 1))
	done
	while [ "$all" -lt "$TOTAL" ]; do
		start "${kinds[$((RANDOM % 3))]}"
		all=$((all + 1))
	done
}

if [ "${1:-}" = --once ]; then
	top_up
	exit 0
fi
trap 'exit 0' INT TERM
echo "mix: keeping $LOW low, $HIGH high, $TOTAL in all (memory hogs $KW_MEM_MB MiB)"
while :; do
	top_up
	sleep "$INTERVAL" &
	wait $!
done
