# cgv2.sh - sourced by the VM's /init (init.sh) with MODE=cgv2: a pure
# cgroup2 host as systemd sets one up, Docker-shaped scopes with workloads
# in them, and the project's reader sampling them.  Collects the reader's
# stream and the cgroup files around it; tests/vm/cgv2-checks.sh judges.
# $? after "echo >file" is whether the write was taken:
# shellcheck shell=sh disable=SC2320
CG=/sys/fs/cgroup
mkdir -p $CG
mount -t cgroup2 cgroup2 $CG
res "cg_mount $?"
res "cg_controllers $(cat $CG/cgroup.controllers)"

# mkscope DIR: every level below $CG, each parent delegating cpu, memory
# and pids to its children (as systemd's Delegate= and dockerd do)
mkscope() {
	d=$CG
	rc=0
	for c in $(echo "${1#"$CG"/}" | tr / ' '); do
		echo "+cpu +memory +pids" >"$d/cgroup.subtree_control" || rc=1
		d=$d/$c
		mkdir -p "$d" || rc=1
	done
	return $rc
}
# run_in DIR CMD...: CMD in DIR from its first instruction on
run_in() {
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$@" &
	LAST=$!
}

SD=$CG/system.slice/docker-$ID_SD.scope
CGF=$CG/docker/$ID_CGF
RL=$CG/user.slice/user-1000.slice/user@1000.service/user.slice/docker-$ID_RL.scope
OOM=$CG/docker/$ID_OOM
DECOY=$CG/batch.slice/docker-$ID_DECOY.scope
SCOPES="sd:$SD cgf:$CGF rl:$RL oom:$OOM decoy:$DECOY"
for s in $SCOPES; do
	mkscope "${s#*:}"
	res "scope ${s%%:*} $? ${s#*:}"
done
res "cg_subtree $(cat $CG/cgroup.subtree_control)"

# systemd driver: a CPU burner held to half a CPU (throttled)
echo "50000 100000" >"$SD/cpu.max"
res "sd_cpu_max $?"
run_in "$SD" /bin/kwcg burn
res "pid sd $LAST"
# cgroupfs driver: CPU spent only by short-lived children
run_in "$CGF" /bin/kwcg forker 20
res "pid cgf $LAST"
# rootless: 32 MiB touched and held; pressure accounting switched off
# where the kernel can (cgroup.pressure), which hides the pressure files
run_in "$RL" /bin/kwcg touch 32
res "pid rl $LAST"
if [ -e "$RL/cgroup.pressure" ]; then
	echo 0 >"$RL/cgroup.pressure"
	res "rl_psi_off $?"
else
	res "rl_psi_off none"
fi
# a 32 MiB limit; a sleeper keeps the container alive, the toucher comes later
echo $((32 << 20)) >"$OOM/memory.max"
res "oom_max $?"
run_in "$OOM" sleep 100000
res "pid oom $LAST"
# named like a container, under a slice no container engine uses
run_in "$DECOY" /bin/kwcg touch 4
res "pid decoy $LAST"
usleep 500000
for s in $SCOPES; do
	res "procs ${s%%:*} $(tr '\n' ' ' <"${s#*:}/cgroup.procs")"
done

# dump PHASE: every file the reader reads, as "scope file line" (one awk:
# a process start is slow under TCG with the workloads running)
dump() {
	files=
	for s in $SCOPES; do
		for f in cpu.stat memory.current memory.stat memory.max \
		    memory.events cpu.pressure memory.pressure; do
			if [ -e "${s#*:}/$f" ]; then
				files="$files ${s#*:}/$f"
			else
				echo "${s%%:*} $f ABSENT"
			fi
		done
	done >"/tmp/$1"
	# shellcheck disable=SC2086 # one path per word
	awk -v scopes="$SCOPES" '
		BEGIN {
			n = split(scopes, a, " ")
			for (i = 1; i <= n; i++) {
				c = index(a[i], ":")
				label[substr(a[i], c + 1)] = substr(a[i], 1, c - 1)
			}
		}
		{
			d = FILENAME
			sub(/\/[^\/]*$/, "", d)
			f = substr(FILENAME, length(d) + 2)
			print label[d], f, $0
		}' $files >>"/tmp/$1"
}

/bin/kwarden-reader --source procfs --state-dir /tmp/kw --interval 500ms \
    2>/tmp/reader.log &
READER=$!
wait_file /tmp/kw/run/reader.ctl 1200
sleep 2

# live: the last of five snapshots was sampled after live_pre was read
dump live_pre
timeout 120 /bin/kwarden-tap --count 5 --type snapshot /tmp/kw/run/reader.sock \
    >/tmp/tap_live.json 2>>/tmp/reader.log
res "tap_live $?"
dump live_post

# OOM: a toucher over the limit is killed, the sleeper stays
run_in "$OOM" /bin/kwcg touch 64
wait $LAST
res "oom_toucher $?"
sleep 3

# frozen: nothing runs, so the files stand still for the reader.  Of the
# seven snapshots after frz_pre, the last six were sampled after it, one of
# them a full read (reader.cgroup_detail_every is 5): slow samples on a
# loaded host cannot leave figures from before the freeze in the last.
for s in $SCOPES; do
	echo 1 >"${s#*:}/cgroup.freeze"
done
for s in $SCOPES; do
	i=0
	while ! grep -q '^frozen 1' "${s#*:}/cgroup.events" && [ $i -lt 100 ]; do
		usleep 100000
		i=$((i + 1))
	done
	res "frozen ${s%%:*} $(awk '$1 == "frozen" { print $2 }' "${s#*:}/cgroup.events")"
done
sleep 4
dump frz_pre
timeout 120 /bin/kwarden-tap --count 7 --type snapshot /tmp/kw/run/reader.sock \
    >/tmp/tap_frz.json 2>>/tmp/reader.log
res "tap_frz $?"
dump frz_post
for s in $SCOPES; do
	echo 0 >"${s#*:}/cgroup.freeze"
done
kill -TERM $READER
wait $READER
res "reader_exit $?"

dmesg >/tmp/dmesg.txt
for f in results live_pre live_post frz_pre frz_post tap_live:tap_live.json \
    tap_frz:tap_frz.json reader_log:reader.log dmesg:dmesg.txt; do
	[ -e "/tmp/${f#*:}" ] || : >"/tmp/${f#*:}"
	emit "${f%%:*}" "/tmp/${f#*:}"
done
echo "==KW-DONE==" >"$OUT"
sync
vm_off
