# Shared by the test_docker*.sh scripts (source after lib.sh): a Docker
# engine that answers (started here when none runs and we are root), the
# workload images, kwt- containers removed at exit, pipeline flags that
# keep the policy's hands off anything that is not ours.
# Every container a run makes is named kwt-<run>-...: two runs at once
# (or the demo) never count or remove each other's.
# shellcheck shell=bash disable=SC2034 # variables for the scripts that source this file
KWT=kwt-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-

# The classes only know this run's containers: anything else on this
# machine is class "none" and is never acted on, whatever it uses.
DOCKER_FLAGS=(-o reader.interval=500ms -o policy.window=2s
	-o recorder.batch_delay=200ms
	-o "class.high.match=${KWT}high, ${KWT}mem" -o class.high.min_alive=2
	-o "class.low.match=${KWT}low, ${KWT}grafana" -o class.low.min_alive=3)

# A CPU hog takes 20 % of the machine or more here, but other work on a
# shared machine (tests, qemu, benchmarks) can squeeze it to a few %: a
# low threshold still tells every hog (and only them) from idle ones.
CPU_THRESHOLD=2

docker_up() { docker info >/dev/null 2>&1; }

# One docker suite at a time on this machine, whichever tree it runs
# from: one of them stops dockerd, and all of them count CPU hogs.
exec 9>/tmp/kwarden-docker-tests.lock
if ! flock -w 900 9; then
	echo "# another docker suite holds /tmp/kwarden-docker-tests.lock"
fi

# need_docker: 0 when an engine answers (starting one if we may).
need_docker() {
	if ! command -v docker >/dev/null; then
		fail "docker is not installed (apt-get install docker.io)"
		return 1
	fi
	if ! docker_up && [ "$(id -u)" = 0 ] && ! pgrep -x dockerd >/dev/null; then
		echo "# starting dockerd (log in /var/log/dockerd.log)"
		# (9>&-: the engine must not hold our lock.)
		setsid dockerd --iptables=false --bridge=none \
			>>/var/log/dockerd.log 2>&1 </dev/null 9>&- &
		wait_for 30 docker_up
	fi
	if ! docker_up; then
		fail "no Docker engine answers on /var/run/docker.sock"
		return 1
	fi
	if ! "$TOP/run/workload/build.sh" >"$T/build.log" 2>&1; then
		fail "workload images build" "$(tail -5 "$T/build.log")"
		return 1
	fi
	# Grafana's stand-in: a CPU hog under an image name of its own.
	docker tag high_cpu_img "${KWT}grafana:latest"
}

# kwt_rm: remove every container of this run.
kwt_rm() {
	docker ps -aq --filter "name=^$KWT" 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
	return 0
}

docker_cleanup() {
	if docker_up; then
		kwt_rm
		docker rmi "${KWT}grafana:latest" >/dev/null 2>&1
	fi
	T=$BASE
	cleanup
}
trap docker_cleanup EXIT

# run_c NAME IMAGE [ARGS...]: a detached container with no network.
run_c() {
	local name=$1 image=$2
	shift 2
	docker run -d --network none --name "$name" "$image" "$@" >/dev/null
}

# running NAME_REGEX: how many running containers of this run match it
# (without the prefix: running '^high_cpu_').
running() {
	docker ps --filter "name=^$KWT" --format '{{.Names}}' |
		sed "s/^$KWT//" | grep -cE "$1"
}

# dstatus JQ: a field of the decider's status.
dstatus() {
	ctl decider status | jq -r "$1"
}

# use_state NAME: a fresh state dir for the next pipeline.
use_state() {
	T="$BASE/$1"
	mkdir -p "$T"
}
BASE=$T
