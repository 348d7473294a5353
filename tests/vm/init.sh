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
echo 200000 >/proc/sys/kernel/threads-max

# cgroup v1 (cpu,cpuacct) and cgroup2 side by side, as on a hybrid host
mkdir -p /sys/fs/cgroup
mount -t tmpfs cgroup /sys/fs/cgroup
mkdir /sys/fs/cgroup/cpu /sys/fs/cgroup/unified
mount -t cgroup -o cpu,cpuacct cgroup /sys/fs/cgroup/cpu
res "mount_v1 $?"
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
res "mount_v2 $?"
V1=/sys/fs/cgroup/cpu
V2=/sys/fs/cgroup/unified

insmod /sysinfo.ko
res "insmod_sysinfo $?"
insmod /continfo.ko
res "insmod_continfo $?"
res "mode_sysinfo $(stat -c %a $SYS)"
res "mode_continfo $(stat -c %a $CONT)"

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
	rc=0
	echo $! >"$d/cgroup.procs" || rc=1
	res "container $! $id $rc $d"
}
echo "+memory +pids" >$V2/cgroup.subtree_control
mkdir -p $V2/system.slice
echo "+memory +pids" >$V2/system.slice/cgroup.subtree_control
contain $V1/docker/$ID_V1 $ID_V1 ctr-v1 sleep
contain $V2/system.slice/docker-$ID_V2.scope $ID_V2 ctr-v2 sleep
contain $V2/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-$ID_CRI.scope $ID_CRI ctr-cri sleep
contain $V2/kubepods.slice/crio-$ID_CRIO.scope $ID_CRIO ctr-crio sleep
contain $V2/machine.slice/libpod-$ID_PODMAN.scope $ID_PODMAN ctr-podman sleep
contain $V2/kubepods/burstable/pod5678/$ID_KUBE $ID_KUBE ctr-kube sleep
contain $V2/system.slice/docker.service - dockerd dockerd -H fd:// --containerd=/run/containerd/containerd.sock
contain $V2/system.slice/containerd.service - containerd-shim containerd-shim-runc-v2 -namespace moby -id $ID_V2 -address /run/containerd/containerd.sock
contain $V2/machine.slice/libpod-conmon-$ID_PODMAN.scope - conmon conmon --cid $ID_PODMAN
contain $V1/docker - docker docker run busybox /docker/$ID_V1
contain $V2 - runc runc init docker-$ID_V2.scope
usleep 500000

cat /proc/$SPIN/status >/tmp/spin1pre.status
timed_cat $SYS /tmp/s1.json read_s1
cat /proc/$SPIN/status >/tmp/spin1.status
timed_cat $CONT /tmp/c1.json read_c1
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
	timeout 120 /bin/kwarden-tap --count 3 /tmp/kw/run/reader.sock \
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

# leak: with references leaked, the parked tasks would never be freed
slab_tasks() { awk '$1 == "task_struct" { print $2 }' /proc/slabinfo; }
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
	exec 3<$SYS
	dd bs=1000 count=1 <&3 >/dev/null 2>&1
	sleep 2
	cat <&3 >/dev/null 2>&1
	res "read_after_rmmod $?"
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
for f in results:results s0:s0.json s1:s1.json s2:s2.json c1:c1.json \
	spin1pre:spin1pre.status spin1:spin1.status \
	spin2pre:spin2pre.status spin2:spin2.status s_dd:s_dd.json c_dd:c_dd.json \
	storm_s_mid:storm_s_mid.json storm_s:storm_s.json \
	storm_c:storm_c.json dmesg:dmesg.txt tap:tap.json \
	reader_log:reader.log; do
	[ -e "/tmp/${f#*:}" ] || : >"/tmp/${f#*:}"
	emit "${f%%:*}" "/tmp/${f#*:}"
done
echo "==KW-DONE==" >$OUT
sync
poweroff -f
