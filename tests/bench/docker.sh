# shellcheck shell=bash
# tests/bench/docker.sh - benchmark 4, sourced by tests/bench/run: the
# cost of knowing which container a process belongs to, per sample, with
# 10 running containers: kwarden's decider (container table fed by Docker
# events) against the seed's `docker ps -q` + one `docker inspect` per
# container; and the time from a CPU hog's start to its removal.
#
# Images kwb-idle and kwb-hog are built here FROM scratch from
# run/workload/idle.c and hog_cpu.c and removed at exit, as are the
# containers (kwb-*). The pipeline's classes match only kwb- names, so no
# other container on the machine is ever a candidate.

# CPU ns of dockerd + containerd (the engine's side of the API calls)
engine_cpu_ns() {
	local p s=0 v
	for p in $(pgrep -x dockerd) $(pgrep -x containerd); do
		v=$(cpu_ns "$p")
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
# CPU of this shell's waited-for children, ns, into CHILD_NS (bash's
# `times`, ms resolution; it must run in this shell, not a subshell)
CHILD_NS=0
children_cpu() {
	times >"$WORK/times"
	CHILD_NS=$(awk 'NR == 2 {
		split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%.0f\n", ((u[1] * 60 + u[2]) + (s[1] * 60 + s[2])) * 1e9 }' "$WORK/times")
}

docker_image() {	# name source
	local ctx="$WORK/img-$1"
	mkdir -p "$ctx"
	cc -static -Os -s -o "$ctx/prog" "$2" || return 1
	printf 'FROM scratch\nCOPY prog /prog\nLABEL kwarden.bench=1\nENTRYPOINT ["/prog"]\n' >"$ctx/Dockerfile"
	docker build -q -t "$1" "$ctx" >/dev/null 2>"$ctx/err" || { cat "$ctx/err" >&2; return 1; }
}

bench_docker() {
	local reps secs d run i n ok pid
	reps=${REPS:-$([ "$QUICK" = 1 ] && echo 3 || echo 9)}
	secs=$([ "$QUICK" = 1 ] && echo 5 || echo 10)
	echo
	echo "4. Docker mapping cost per sample, 10 running containers; hog start to removal"
	if ! command -v docker >/dev/null; then
		echo "   skipped: docker is not installed"
		goal skipped "4 docker: docker is not installed"
		return
	fi
	if ! docker info >/dev/null 2>&1; then
		echo "   starting dockerd (--iptables=false --bridge=none)"
		dockerd --iptables=false --bridge=none >"$WORK/dockerd.log" 2>&1 &
		bg_add $!
		for i in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
		if ! docker info >/dev/null 2>&1; then
			echo "   skipped: dockerd does not answer"
			goal skipped "4 docker: no Docker engine"
			return
		fi
	fi
	# shellcheck disable=SC2034 # read by the exit trap in tests/bench/run
	DOCKER_CLEAN=1
	if ! docker_image kwb-idle "$ROOT/run/workload/idle.c" ||
	   ! docker_image kwb-hog "$ROOT/run/workload/hog_cpu.c"; then
		goal missed "4 docker: building the kwb images failed"
		return
	fi
	for i in $(seq 10); do
		docker run -d --network none --name "kwb-idle-$i" kwb-idle >/dev/null || {
			goal missed "4 docker: docker run failed"; return; }
	done

	d="$WORK/docker"
	mkdir -p "$d"
	: >"$d/empty.conf"
	"$ROOT/run/kwarden-run" -c "$d/empty.conf" --state-dir "$d" \
		-o reader.source=procfs -o policy.action=remove \
		-o class.high.match=kwb-high-none -o class.high.min_alive=0 \
		-o class.low.match=kwb- -o class.low.min_alive=3 >"$d/run.log" 2>&1 &
	run=$!
	bg_add "$run"
	ok=0
	for i in $(seq 100); do
		if ctl "$d" decider status | jq -e '.pid' >/dev/null 2>&1; then ok=1; break; fi
		sleep 0.1
	done
	if [ $ok = 0 ]; then
		tail -5 "$d/run.log" | sed 's/^/   /'
		bg_stop "$run"
		echo "   skipped: the pipeline does not start with policy.action=remove"
		goal skipped "4 docker: decider has no Docker client (action=remove refused)"
		return
	fi
	if ! ctl "$d" decider status | jq -e '.docker.connected' >/dev/null 2>&1; then
		sleep 3
	fi
	if ! ctl "$d" decider status | jq -e '.docker' >/dev/null 2>&1; then
		bg_stop "$run"
		echo "   skipped: decider has no Docker client"
		goal skipped "4 docker: decider has no Docker client"
		return
	fi
	for i in $(seq 100); do
		n=$(ctl "$d" decider containers | jq '[.containers[] | select(.name | startswith("kwb-idle"))] | length' 2>/dev/null)
		[ "${n:-0}" -ge 10 ] && break
		sleep 0.2
	done
	if [ "${n:-0}" -lt 10 ]; then
		bg_stop "$run"
		echo "   skipped: the decider does not name the 10 containers ($n)"
		goal skipped "4 docker: decider has no working Docker client ($n of 10 named)"
		return
	fi
	pid=$(ctl "$d" decider status | jq -r .pid)
	sleep 2

	# A: alternate a seed cycle and a kwarden window of $secs samples
	: >"$d/seed"; : >"$d/kw"
	local r w0 w1 c0 c1 e0 e1 s0 s1 k0 k1 q0 q1
	for r in $(seq "$reps"); do
		# seed: docker ps -q, then docker inspect per container
		e0=$(engine_cpu_ns); children_cpu; c0=$CHILD_NS; w0=$(date +%s%N)
		for id in $(docker ps -q --filter name=kwb-); do
			docker inspect "$id" >/dev/null
		done
		w1=$(date +%s%N); children_cpu; c1=$CHILD_NS; e1=$(engine_cpu_ns)
		echo "$(( (w1 - w0) / 1000 )) $(( (c1 - c0) / 1000 )) $(( (e1 - e0) / 1000 ))" >>"$d/seed"
		# kwarden: decider CPU and engine CPU over whole samples
		s0=$(ctl "$d" decider status | jq '[.samples, .docker.lists + .docker.inspects] | @tsv' -r)
		k0=$(cpu_ns "$pid"); e0=$(engine_cpu_ns)
		nap "$secs"
		k1=$(cpu_ns "$pid"); e1=$(engine_cpu_ns)
		s1=$(ctl "$d" decider status | jq '[.samples, .docker.lists + .docker.inspects] | @tsv' -r)
		read -r q0 c0 <<<"$s0"
		read -r q1 c1 <<<"$s1"
		[ "$q1" -gt "$q0" ] || continue
		echo "$(( (k1 - k0) / (q1 - q0) / 1000 )) $(( (e1 - e0) / (q1 - q0) / 1000 )) $(awk -v a="$c0" -v b="$c1" -v n=$((q1 - q0)) 'BEGIN { printf "%.3f", (b - a) / n }')" >>"$d/kw"
	done
	local sw sc se kc ke kcalls
	sw=$(awk '{ print $1 }' "$d/seed" | median); sc=$(awk '{ print $2 }' "$d/seed" | median)
	se=$(awk '{ print $3 }' "$d/seed" | median)
	kc=$(awk '{ print $1 }' "$d/kw" | median); ke=$(awk '{ print $2 }' "$d/kw" | median)
	kcalls=$(awk '{ print $3 }' "$d/kw" | median)
	echo "   A. per sample, medians of $reps, alternating (kwarden: $secs-sample windows)"
	hr
	printf '%-40s | %9s | %9s | %9s | %s\n' alternative "wall ms" "CPU ms" "engine ms" "Docker calls"
	hr
	printf '%-40s | %9.1f | %9.1f | %9.1f | %s\n' "seed: docker ps -q + 10 x docker inspect" \
		"$(ratio "$sw" 1000)" "$(ratio "$sc" 1000)" "$(ratio "$se" 1000)" 11
	printf '%-40s | %9s | %9.2f | %9.2f | %s\n' "kwarden: decider, whole sample" "-" \
		"$(ratio "$kc" 1000)" "$(ratio "$ke" 1000)" "$kcalls"
	hr
	echo "   CPU: the seed's = the docker CLI processes; kwarden's = the decider's whole sample"
	echo "   (rates, containers, policy, publishing), an upper bound on its mapping cost."
	echo "   engine = dockerd + containerd CPU in the same time. Ratio (seed CLI+engine) /"
	echo "   (decider+engine): $(ratio "$(awk -v a="$sc" -v b="$se" 'BEGIN { print a + b }')" "$(awk -v a="$kc" -v b="$ke" 'BEGIN { print a + b }')")x CPU per sample"

	# B: hog start -> removal
	local ev t_start t_over t_gone api_ms reason
	if ! docker info >/dev/null 2>&1; then
		bg_stop "$run"
		echo "   B. skipped: the Docker engine went away"
		goal missed "4 docker: the Docker engine went away during the run"
		return
	fi
	echo "   B. CPU hog (one core = 50 % > 20 %) from start to removal, 1 s interval, window 5 s"
	: >"$d/hog"
	run/kwarden-tap "$d/run/decider.sock" >"$d/tap.jsonl" 2>/dev/null &
	local tap=$!
	bg_add "$tap"
	docker events --filter type=container --format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}' >"$d/events" 2>/dev/null &
	ev=$!
	bg_add "$ev"
	sleep 1
	local hreps
	hreps=$([ "$QUICK" = 1 ] && echo 2 || echo 5)
	for r in $(seq "$hreps"); do
		# the Docker call alone: DELETE ?force=true of an idle container
		docker run -d --network none --name "kwb-probe-$r" kwb-idle >/dev/null
		api_ms=$(curl -s -o /dev/null -w '%{time_total}' --unix-socket /var/run/docker.sock \
			-X DELETE "http://docker/containers/kwb-probe-$r?force=true" | awk '{ printf "%.0f", $1 * 1000 }')
		docker run -d --network none --name "kwb-hog-$r" kwb-hog >/dev/null
		for i in $(seq 600); do
			grep -q " destroy kwb-hog-$r\$" "$d/events" && break
			sleep 0.1
		done
		t_start=$(awk -v n="kwb-hog-$r" '$2 == "start" && $3 == n { print $1; exit }' "$d/events")
		t_gone=$(awk -v n="kwb-hog-$r" '$2 == "destroy" && $3 == n { print $1; exit }' "$d/events")
		t_over=$(jq -r --arg n "kwb-hog-$r" 'select(.t == "container" and .name == $n and .cpu_pct > 20) | .ts' "$d/tap.jsonl" 2>/dev/null | head -n1)
		if [ -z "$t_gone" ] || [ -z "$t_start" ]; then
			echo "   kwb-hog-$r was not removed within 60 s"
			docker rm -f "kwb-hog-$r" >/dev/null 2>&1
			echo "- - - $api_ms" >>"$d/hog"
			continue
		fi
		echo "$(( (t_gone - t_start) / 1000000 )) $([ -n "$t_over" ] && echo $(( (t_gone - t_over) / 1000000 )) || echo -) $(( (${t_over:-$t_start} - t_start) / 1000000 )) $api_ms" >>"$d/hog"
		sleep 1
	done
	bg_stop "$ev"
	bg_stop "$tap"
	reason=$(jq -r 'select(.t == "deletion" and (.name | startswith("kwb-hog"))) | "\(.action) \(.result): \(.reason)"' "$d/tap.jsonl" 2>/dev/null | head -n1)
	bg_stop "$run"
	local ms mo mapi removed
	removed=$(grep -c '^[0-9]' "$d/hog")
	ms=$(awk '$1 != "-" { print $1 }' "$d/hog" | median | xargs printf '%.0f')
	mo=$(awk '$2 != "-" { print $2 }' "$d/hog" | median | xargs printf '%.0f')
	mapi=$(awk '{ print $4 }' "$d/hog" | median | xargs printf '%.0f')
	hr
	printf '%-48s | %s\n' "hogs removed" "$removed of $hreps"
	printf '%-48s | %6.0f ms\n' "start event -> destroy event (median)" "$ms"
	printf '%-48s | %6.0f ms\n' "first record over 20 % -> destroy event (median)" "$mo"
	printf '%-48s | %6.0f ms\n' "the Docker call: DELETE ?force=true (median)" "$mapi"
	printf '%-48s | %s\n' "runs (start->gone, over->gone, start->over, api)" "$(tr '\n' ';' <"$d/hog")"
	[ -n "$reason" ] && printf '%-48s | %s\n' "deletion record" "$reason"
	hr
	if [ "$removed" -eq 0 ]; then
		goal missed "4 docker: no hog was removed"
	elif [ "$removed" -lt "$hreps" ]; then
		goal missed "4 docker: only $removed of $hreps hogs removed"
	elif ge "$((2000 + mapi))" "$ms"; then
		goal met "4 docker: hog start to removal ${ms} ms <= 2 intervals + Docker call ($((2000 + mapi)) ms); ${kcalls} Docker calls per sample vs 11"
	else
		goal missed "4 docker: hog start to removal ${ms} ms > 2 intervals + Docker call ($((2000 + mapi)) ms)"
	fi
	for i in $(seq 10); do docker rm -f "kwb-idle-$i" >/dev/null 2>&1; done
}
