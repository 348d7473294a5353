# shellcheck shell=bash
# Sourced by tests/bench/run: item 6, what the cgroup reads add to a sample.
# N containers made by hand as cgroups named like Docker's (cgroupfs
# driver: /docker/<id> in each v1 hierarchy, or in the v2 tree), one
# sleeping process in each, the host parked to ~1,000 processes; the
# procfs source alone against procfs + one cgroup read per container.

CG_DIRS=()
cg_fake() {	# n: make n fake containers
	local n=$1 id h d pid
	for _ in $(seq "$n"); do
		id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
		sleep 100000 &
		pid=$!
		bg_add "$pid"
		if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
			mkdir -p /sys/fs/cgroup/docker
			echo "+cpu +memory" >/sys/fs/cgroup/docker/cgroup.subtree_control 2>/dev/null
			d=/sys/fs/cgroup/docker/$id
			mkdir "$d" && echo "$pid" >"$d/cgroup.procs" && CG_DIRS+=("$d")
		else
			for h in cpuacct cpu memory pids; do
				d=/sys/fs/cgroup/$h/docker/$id
				[ -d "/sys/fs/cgroup/$h" ] || continue
				mkdir -p "$d" && echo "$pid" >"$d/cgroup.procs" && CG_DIRS+=("$d")
			done
		fi
	done
}
cg_unfake() {
	local d p
	unpark
	for d in "${CG_DIRS[@]}"; do
		while read -r p; do
			kill "$p" 2>/dev/null
		done <"$d/cgroup.procs"
	done
	sleep 0.5
	for d in "${CG_DIRS[@]}"; do
		rmdir "$d" 2>/dev/null
	done
	CG_DIRS=()
}

bench_cgroup() {
	local reps n out np nc pc cc added worst=0
	reps=${REPS:-$([ "$QUICK" = 1 ] && echo 5 || echo 21)}
	echo
	echo "6. Cgroup reads: a warm procfs sample alone vs the same plus each"
	echo "   container's cgroup counters (one directory per container), ~1,000 procs,"
	echo "   medians of $reps, alternating; CPU = user+sys us per sample"
	hr
	printf '%10s | %6s | %14s | %14s | %s\n' containers procs "procfs cpu" "+cgroup cpu" "added"
	hr
	for n in 10 100; do
		cg_fake "$n"
		park_to 1000
		out=$("$B/cgbench" -r "$reps")
		cg_unfake
		read -r _ np nc pc _ <<<"$(grep '^procfs ' <<<"$out")"
		read -r _ _ _ cc _ <<<"$(grep '^procfs+cgroup ' <<<"$out")"
		added=$(awk -v a="$cc" -v b="$pc" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')
		printf '%10s | %6s | %14s | %14s | %s %%\n' "$nc" "$np" "$pc" "$cc" "$added"
		[ "$n" = 100 ] && worst=$added
	done
	hr
	if awk -v a="$worst" 'BEGIN { exit !(a < 5) }'; then
		goal met "6 cgroup: the reads add $worst % to a sample at ~1,000 procs and 100 containers (goal < 5 %)"
	else
		goal missed "6 cgroup: the reads add $worst % to a sample at ~1,000 procs and 100 containers (goal < 5 %)"
	fi
}
