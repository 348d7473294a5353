#!/bin/sh
# init.sh - /init of the test VM (busybox sh).  Loads the modules, starts
# the workloads of tests/vm/kwtest, and ships raw results to the host over
# the second serial port (/dev/ttyS1), gzip+base64 between markers.  All
# judging happens on the host (tests/vm/run); this script only collects.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# shellcheck source=/dev/null
. /kw.conf

OUT=/dev/ttyS1
SYS=/proc/sysinfo_so1_202041390
CONT=/proc/continfo_so1_202041390
stty -F $OUT raw -echo 2>/dev/null

log() { echo "kwvm: $*"; }
res() {
	echo "$*" >>/tmp/results
	echo "kwvm $(uptime_s): $*"
}
emit() {
	{
		echo "==KW-BEGIN $1=="
		gzip -c "$2" | base64
		echo "==KW-END $1=="
	} >$OUT
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# The end of the VM: qemu runs with -no-reboot, so a reset ends it on any
# kernel. A power-off would not: without ACPI sleep support (the debug
# kernel has neither SUSPEND nor HIBERNATION) the kernel only halts, and
# qemu waits for its timeout.
vm_off() { reboot -f; }
wait_file() {	# file, tenths of a second
	i=0
	while [ ! -s "$1" ] && [ $i -lt "$2" ]; do
		usleep 100000
		i=$((i + 1))
	done
	[ -s "$1" ]
}
timed_cat() {	# src dst key
	t0=$(uptime_s)
	cat "$1" >"$2"
	res "$3 $? $t0 $(uptime_s)"
}

res "kernel $(uname -r)"

# The positive control of the debug kernel: one deliberate bug per load of
# kwbuggy.ko.  Lockdep and PROVE_RCU switch themselves off after a report
# (and KASAN's taints the kernel, which does too), so their bugs go first.
if [ "${MODE:-}" = control ]; then
	# a bug that oopses leaves the module half-loaded and the next
	# insmod waiting for it: hence the timeout
	for b in rcuderef rculist lockdep rcusleep refcount uaf list; do
		timeout 60 insmod /kwbuggy.ko bug=$b
		res "bug_$b $?"
	done
	dmesg >/tmp/dmesg.txt
	emit results /tmp/results
	emit dmesg /tmp/dmesg.txt
	echo "==KW-DONE==" >$OUT
	sync
	vm_off
fi
# the cgroup v2 phase (tests/vm/cgv2.sh): a VM of its own
# shellcheck source=/dev/null
[ "${MODE:-}" = cgv2 ] && . /cgv2.sh
echo 200000 >/proc/sys/kernel/threads-max

# cgroup v1 hierarchies (cpu,cpuacct; memory where the kernel still has
# it in v1; pids) and cgroup2 side by side, as on a hybrid host
mkdir -p /sys/fs/cgroup
mount -t tmpfs cgroup /sys/fs/cgroup
V1=/sys/fs/cgroup/cpu
V1MEM=/sys/fs/cgroup/memory
V1PIDS=/sys/fs/cgroup/pids
V2=/sys/fs/cgroup/unified
mkdir $V1 $V1MEM $V1PIDS $V2
mount -t cgroup -o cpu,cpuacct cgroup $V1
res "mount_v1 $?"
mount -t cgroup -o memory cgroup $V1MEM 2>/dev/null
res "mount_v1mem $?"
mount -t cgroup -o pids cgroup $V1PIDS
res "mount_v1pids $?"
mount -t cgroup2 cgroup2 $V2
res "mount_v2 $?"

insmod /sysinfo.ko
res "insmod_sysinfo $?"
insmod /continfo.ko
res "insmod_continfo $?"
res "mode_sysinfo $(stat -c %a $SYS)"
res "mode_continfo $(stat -c %a $CONT)"

# 7: a thread group whose threads keep exiting, its cpu_ns read in a loop:
# a torn sum (signal struct before an exit, thread list after) goes back.
# In a container cgroup, so that continfo (short) lists it.
/bin/kwtest churn "$CHURN_THREADS" "$CHURN_LOADED" /tmp/churn.ready &
CHURN=$!
mkdir -p "$V2/churn/docker-$ID_CHURN.scope"
echo $CHURN >"$V2/churn/docker-$ID_CHURN.scope/cgroup.procs"
wait_file /tmp/churn.ready 1800
res "churn_threads $(cat /tmp/churn.ready)"
res "cpumono $(/bin/kwtest cpumono $CONT $CHURN "$CHURN_S" 40)"
kill -9 $CHURN
wait $CHURN 2>/dev/null

# 4: spinner.  A first thread burns 1 s and exits; two more start on USR1.
/bin/kwtest spin /tmp/spin.ready &
SPIN=$!
wait_file /tmp/spin.ready 300
res "spin_pid $SPIN"
timed_cat $SYS /tmp/s0.json read_s0
kill -USR1 $SPIN

# 1: thousands of processes
/bin/kwtest park "$NPROC" /tmp/park.ready &
PARK=$!
wait_file /tmp/park.ready 1200
res "parked $(cat /tmp/park.ready)"

# 2: hostile argv
/bin/kwtest hostile &
res "hostile_pid $!"

# 3: containers (expected id) and decoys (expected none)
contain() {	# cgroup dir, expected id or -, comm, args...
	d=$1 id=$2
	shift 2
	mkdir -p "$d"
	/bin/kwtest plainhold "$@" &
	LAST=$!
	rc=0
	echo $LAST >"$d/cgroup.procs" || rc=1
	res "container $LAST $id $rc $d"
}
also() {	# cgroup dir: the last container's process goes there too
	mkdir -p "$1" && echo $LAST >"$1/cgroup.procs"
}
# as Docker does on v1: the same /docker/<id> in every hierarchy
contain "$V1/docker/$ID_V1" "$ID_V1" ctr-v1 sleep
grep -q " $V1MEM cgroup " /proc/mounts && also "$V1MEM/docker/$ID_V1"
also "$V1PIDS/docker/$ID_V1"
# in one v1 hierarchy only, at / in the others (hand-made, kubelet)
contain "$V1/docker/$ID_V1CPU" "$ID_V1CPU" ctr-v1cpu sleep
contain "$V1PIDS/docker/$ID_V1PIDS" "$ID_V1PIDS" ctr-v1pids sleep
# a path longer than the module's path buffer, the id at its end
deep=$V2/deep
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	deep=$deep/kwdeep$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
done
contain "$deep/docker-$ID_DEEP.scope" "$ID_DEEP" ctr-deep sleep
contain "$V2/system.slice/docker-$ID_V2.scope" "$ID_V2" ctr-v2 sleep
contain "$V2/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-$ID_CRI.scope" "$ID_CRI" ctr-cri sleep
contain "$V2/kubepods.slice/crio-$ID_CRIO.scope" "$ID_CRIO" ctr-crio sleep
contain "$V2/machine.slice/libpod-$ID_PODMAN.scope" "$ID_PODMAN" ctr-podman sleep
contain "$V2/kubepods/burstable/pod5678/$ID_KUBE" "$ID_KUBE" ctr-kube sleep
contain "$V2/system.slice/docker.service" - dockerd dockerd -H fd:// --containerd=/run/containerd/containerd.sock
contain "$V2/system.slice/containerd.service" - containerd-shim containerd-shim-runc-v2 -namespace moby -id "$ID_V2" -address /run/containerd/containerd.sock
contain "$V2/machine.slice/libpod-conmon-$ID_PODMAN.scope" - conmon conmon --cid "$ID_PODMAN"
contain "$V1/docker" - docker docker run busybox "/docker/$ID_V1"
contain "$V2" - runc runc init "docker-$ID_V2.scope"
usleep 500000

cat /proc/$SPIN/status >/tmp/spin1pre.status
timed_cat $SYS /tmp/s1.json read_s1
cat /proc/$SPIN/status >/tmp/spin1.status
timed_cat $CONT /tmp/c1.json read_c1
timed_cat ${SYS}_nocmdline /tmp/s1n.json read_s1n
sleep 5
cat /proc/$SPIN/status >/tmp/spin2pre.status
timed_cat $SYS /tmp/s2.json read_s2
cat /proc/$SPIN/status >/tmp/spin2.status
kill -9 $SPIN

# 6: the project's own reader on the module's file, its stream decoded by
# kwarden-tap (both shipped with their shared libraries)
if [ -x /bin/kwarden-reader ]; then
	/bin/kwarden-reader --source kmod --state-dir /tmp/kw \
	    --interval 500ms 2>/tmp/reader.log &
	READER=$!
	wait_file /tmp/kw/run/reader.ctl 300
	timeout 120 /bin/kwarden-tap --count 8 --sub 0:1 /tmp/kw/run/reader.sock \
	    >/tmp/tap.json 2>>/tmp/reader.log
	res "tap $?"
	kill -TERM $READER
	wait $READER
	res "reader_exit $?"
fi

# odd read sizes, partial reads, seeks
t0=$(uptime_s)
dd if=$SYS of=/tmp/s_dd.json bs=100 2>/dev/null
res "read_dd100 $? $t0 $(uptime_s)"
dd if=$CONT of=/tmp/c_dd.json bs=7 2>/dev/null
res "read_dd7 $?"
head -c 10000 $SYS >/dev/null
dd if=$SYS of=/dev/null bs=4096 skip=3 count=2 2>/dev/null
res "read_seek $?"

# 5: fork/exit storm while reading
/bin/kwtest storm "$STORM_S" >/tmp/storm.count &
STORM=$!
(
	while [ ! -s /tmp/storm.count ]; do
		dd if=$SYS bs=512 of=/dev/null 2>/dev/null
	done
) &
reads=0
end=$(($(cut -d. -f1 /proc/uptime) + STORM_S + 60))
while [ ! -s /tmp/storm.count ] && [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; do
	cat $SYS >/tmp/storm_s.json
	cat $CONT >/tmp/storm_c.json
	reads=$((reads + 1))
	[ $reads = 2 ] && cp /tmp/storm_s.json /tmp/storm_s_mid.json
done
wait $STORM
res "storm_forks $(cat /tmp/storm.count)"
res "storm_reads $reads"
sleep 1

# 8: the delta file, read pass after pass on one open file, each pass
# followed by a full read, under fork/exit (some children threaded), exec
# from threads, pid reuse and a process changing its comm, argv, RSS and
# threads, and another changing sleeping processes from outside (their
# RSS, state, cgroup, parent); a full pass every 5
DELTA=${SYS}_delta
res "mode_delta $(stat -c %a $DELTA)"
echo 5 >/sys/module/sysinfo/parameters/full_every
mkdir -p /tmp/delta
/bin/kwtest storm "$DELTA_S" >/tmp/dl_storm &
dl1=$!
/bin/kwtest threxec "$DELTA_S" >/tmp/dl_threxec &
dl2=$!
/bin/kwtest pidreuse "$DELTA_S" >/tmp/dl_reuse &
dl3=$!
/bin/kwtest changer "$DELTA_S" >/tmp/dl_changer &
dl4=$!
mkdir -p $V2/kwout1 $V2/kwout2
/bin/kwtest outsider "$DELTA_S" $V2 >/tmp/dl_outsider &
dl5=$!
usleep 500000
res "deltaseq $(/bin/kwtest deltaseq $DELTA $SYS "$DELTA_N" 200 /tmp/delta/p)"
wait $dl1 $dl2 $dl3 $dl4 $dl5
rmdir $V2/kwout1 $V2/kwout2
res "delta_load $(cat /tmp/dl_storm) forks, $(tr '\n' ' ' </tmp/dl_threxec)"
res "delta_reuse $(tail -n1 /tmp/dl_reuse)"
res "delta_changer $(cat /tmp/dl_changer)"
res "delta_outsider $(cat /tmp/dl_outsider)"
# more processes than delta_max: every pass is full, counted
echo 100 >/sys/module/sysinfo/parameters/delta_max
res "deltacap $(/bin/kwtest deltaseq $DELTA - 2 0 /tmp/delta/cap)"
echo 262144 >/sys/module/sysinfo/parameters/delta_max
echo 60 >/sys/module/sysinfo/parameters/full_every
cp /tmp/dl_reuse /tmp/delta/reuse.txt
(cd /tmp && tar -cf /tmp/delta.tar delta)

# stress (debug kernel): everything at once while both files are read
if [ "${STRESS_S:-0}" -gt 0 ]; then
	mkdir -p $V2/stress $V1/stress
	spids=
	bg() {	# name, command...
		n=$1
		shift
		"$@" >"/tmp/st_$n" 2>&1 &
		spids="$spids $!"
	}
	bg randread_sys /bin/kwtest randread $SYS "$STRESS_S"
	bg randread_cont /bin/kwtest randread $CONT "$STRESS_S"
	bg randread_delta /bin/kwtest randread "${SYS}_delta" "$STRESS_S"
	bg cg_v2 /bin/kwtest cgchurn $V2/stress "$STRESS_S"
	bg cg_v1 /bin/kwtest cgchurn $V1/stress "$STRESS_S"
	bg threxec /bin/kwtest threxec "$STRESS_S"
	bg argv /bin/kwtest argvstorm "$STRESS_S"
	bg mmargv /bin/kwtest mmargv "$STRESS_S"
	bg forks /bin/kwtest storm "$STRESS_S"
	bg cat /bin/kwtest cpumono $SYS 1 "$STRESS_S"
	# shellcheck disable=SC2086
	wait $spids
	for n in randread_sys randread_cont randread_delta cg_v2 cg_v1 threxec argv mmargv forks cat; do
		res "stress_$n $(tr '\n' ' ' </tmp/st_$n)"
	done
fi

# leak: with references leaked, the parked tasks would never be freed
# (shrinking the cache first flushes KASAN's quarantine of freed objects)
slab_tasks() {
	echo 1 >/sys/kernel/slab/task_struct/shrink 2>/dev/null
	awk '$1 == "task_struct" { print $2 }' /proc/slabinfo
}
cat $SYS >/dev/null
cat $CONT >/dev/null
before=$(slab_tasks)
kill -TERM $PARK
wait $PARK
sleep 3
res "task_structs $before $(slab_tasks)"

# unload while a reader holds the file open half-read: rmmod must not wait
# for it nor leak, and the reader's next read must fail cleanly
(
	exec 3<$SYS 4<$CONT 5<"${SYS}_delta"
	dd bs=1000 count=1 <&3 >/dev/null 2>&1
	dd bs=10 count=1 <&4 >/dev/null 2>&1
	dd bs=1000 count=1 <&5 >/dev/null 2>&1
	sleep 2
	cat <&3 >/dev/null 2>&1
	res "read_after_rmmod $?"
	cat <&4 >/dev/null 2>&1
	res "read_after_rmmod_c $?"
	cat <&5 >/dev/null 2>&1
	res "read_after_rmmod_d $?"
) &
OPENFD=$!
sleep 1
rmmod continfo
res "rmmod_continfo $?"
rmmod sysinfo
res "rmmod_sysinfo $?"
wait $OPENFD
n=0
for f in /proc/*so1_202041390*; do [ -e "$f" ] && n=$((n + 1)); done
res "proc_left $n"

insmod /sysinfo.ko proc_name=kw_param_test proc_mode=0444
res "insmod_param $?"
res "param_mode $(stat -c %a /proc/kw_param_test)"
head -c 1 /proc/kw_param_test >/dev/null
rmmod sysinfo
res "param_gone $([ -e /proc/kw_param_test ] && echo no || echo yes)"

dmesg >/tmp/dmesg.txt
for f in results:results s0:s0.json s1:s1.json s1n:s1n.json s2:s2.json c1:c1.json \
	spin1pre:spin1pre.status spin1:spin1.status \
	spin2pre:spin2pre.status spin2:spin2.status s_dd:s_dd.json c_dd:c_dd.json \
	storm_s_mid:storm_s_mid.json storm_s:storm_s.json \
	storm_c:storm_c.json dmesg:dmesg.txt tap:tap.json \
	reader_log:reader.log delta_tar:delta.tar; do
	[ -e "/tmp/${f#*:}" ] || : >"/tmp/${f#*:}"
	emit "${f%%:*}" "/tmp/${f#*:}"
done
echo "==KW-DONE==" >$OUT
sync
vm_off
