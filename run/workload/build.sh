#!/usr/bin/env bash
# Build the workload images offline: high_cpu_img (CPU hog), high_mem_img
# (memory hog), low_img (idle), high_fork_img (CPU through short-lived
# children), prefork_img (children sharing their parent's pages). Each is FROM scratch with one static C
# binary. Idempotent: an image whose kwarden.workload.src label matches
# the source's checksum is kept, so a second run takes well under a second.
#   run/workload/build.sh [--force]
set -eu
cd "$(dirname "$0")"
HERE=$(pwd)
OUT=${KW_WORKLOAD_BUILD:-$HERE/../../build/workload}
CC=${CC:-cc}
force=0
[ "${1:-}" = --force ] && force=1

command -v docker >/dev/null || { echo "build.sh: docker is not installed" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "build.sh: no Docker engine answers (start dockerd)" >&2; exit 2; }

build() {	# build IMAGE SOURCE
	local img=$1 src=$2 sum have ctx
	sum=$(cat "$src" build.sh | sha256sum | cut -c1-16)
	have=$(docker image inspect -f '{{index .Config.Labels "kwarden.workload.src"}}' "$img" 2>/dev/null || true)
	if [ "$force" = 0 ] && [ "$have" = "$sum" ]; then
		return 0
	fi
	ctx="$OUT/$img"
	mkdir -p "$ctx"
	"$CC" -static -Os -s -Wall -Wextra -Werror -Wno-unused-parameter \
		-o "$ctx/prog" "$src"
	cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY prog /prog
LABEL kwarden.workload.src="$sum"
ENTRYPOINT ["/prog"]
DOCKERFILE
	if ! docker build -q -t "$img" "$ctx" >/dev/null 2>"$ctx/build.err"; then
		cat "$ctx/build.err" >&2
		exit 1
	fi
	echo "built $img"
}

build high_cpu_img hog_cpu.c
build high_mem_img hog_mem.c
build low_img idle.c
build high_fork_img hog_fork.c
build prefork_img prefork.c
# Images replaced by a rebuild are left dangling: drop ours.
docker image prune -f --filter label=kwarden.workload.src >/dev/null 2>&1 || true
