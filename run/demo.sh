#!/usr/bin/env bash
# `make demo`: containers being evicted, live. Installs docker.io when it
# is missing (as root), starts dockerd when none answers, builds the
# workload images, keeps the seed's mix of containers alive
# (run/workload/mix.sh) and runs the pipeline in the foreground on ./var,
# printing each deletion row as the recorder stores it. Ctrl-C stops it
# all and removes the demo's containers (and dockerd, if it started it).
#
#   run/demo.sh [kwarden-run flags...]    e.g. -o policy.action=dry-run
set -u
cd "$(dirname "$0")/.." || exit 2
TOP=$(pwd)
STATE=${KW_DEMO_STATE:-$TOP/var}
say() { echo "demo: $*" >&2; }

if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		say "Docker is not installed. As root: apt-get install docker.io"
		exit 2
	fi
	say "installing docker.io"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends docker.io ||
		{ say "cannot install docker.io"; exit 2; }
fi
command -v sqlite3 >/dev/null || say "sqlite3 is missing: deletion rows will not be printed"

STARTED_DOCKERD=
if ! docker info >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ]; then
		say "no Docker engine answers and only root can start one"
		say "(or add yourself to the docker group and start docker)"
		exit 2
	fi
	mkdir -p "$STATE"
	say "starting dockerd (log in $STATE/dockerd.log)"
	setsid dockerd --iptables=false --bridge=none >"$STATE/dockerd.log" 2>&1 </dev/null &
	STARTED_DOCKERD=$!
	for _ in $(seq 60); do
		docker info >/dev/null 2>&1 && break
		sleep 0.5
	done
	docker info >/dev/null 2>&1 || { say "dockerd did not start: $STATE/dockerd.log"; exit 1; }
fi

say "building the workload images (high_cpu_img, high_mem_img, low_img)"
run/workload/build.sh || exit 1
[ -x run/kwarden-run ] || { say "build kwarden first: make"; exit 2; }
mkdir -p "$STATE"

PIDS=()
stop_all() {
	trap - INT TERM EXIT
	say "stopping"
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	say "removing the demo's containers"
	run/workload/mix.sh --stop
	if [ -n "$STARTED_DOCKERD" ]; then
		say "stopping the dockerd it started"
		kill -TERM "$STARTED_DOCKERD" 2>/dev/null
	fi
	exit 0
}
trap stop_all INT TERM EXIT

run/workload/mix.sh &
PIDS+=($!)

# Deletion rows as they land in the database.
(
	last=0
	while sleep 2; do
		[ -f "$STATE/kwarden.db" ] && command -v sqlite3 >/dev/null || continue
		sqlite3 -cmd '.timeout 2000' -separator ' ' "file:$STATE/kwarden.db?mode=ro" \
			"SELECT id, datetime(ts, 'unixepoch'), name, '(' || class || ')', action, result, '--', reason FROM deletions WHERE id > $last ORDER BY id" 2>/dev/null |
		while read -r id rest; do
			echo "ROW deletions #$id: $rest"
			echo "$id" >"$STATE/.demo-last"
		done
		[ -f "$STATE/.demo-last" ] && last=$(cat "$STATE/.demo-last")
	done
) &
PIDS+=($!)

say "pipeline on $STATE; Ctrl-C stops everything"
say "(watch: sqlite3 $STATE/kwarden.db 'SELECT * FROM deletions')"
rm -f "$STATE/.demo-last"
run/kwarden-run --state-dir "$STATE" -o policy.mem_threshold=2 "$@" &
PIDS+=($!)
wait "${PIDS[-1]}"
stop_all
