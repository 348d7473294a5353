# shellcheck shell=bash
# tests/bench/vmreader.sh - benchmark 7, sourced by tests/bench/run (after
# vm.sh, whose vm_pick_kernel it uses): kwarden-reader end to end (read +
# parse + publish) in the qemu VM of tests/vm, three ways in the same VM:
# --source procfs, --source kmod with reader.kmod_delta=off (the module's
# full file) and --source kmod with the delta file. 10,000 processes parked
# by forker, ~100 of them busy. Each way runs alternating, a fresh reader
# per run; its CPU per sample is utime+stime from /proc/<pid>/stat (and the
# threads' schedstat run time, ns) over N samples after a warm-up, the
# sample count from the reader's own status (reader.ctl), read between two
# samples (the reader's CPU standing still), once at each end. The reader
# publishes every snapshot on reader.sock to one consumer, kwarden-tap
# --type none (it decodes each message and prints nothing). Only ratios
# mean something: the VM is emulated (TCG). KW_BENCH_VMR_OLD=PATH adds a
# fourth way, "old": another build of kwarden-reader (e.g. the commit
# before a parser change) on the module's full file, in the same rounds
# (on its delta file with KW_BENCH_VMR_OLD_DELTA=on).

# Copy a dynamically linked program and the shared libraries ldd names
# into the initramfs root $1, at the same paths.
vmr_copy_prog() {
	local dir=$1 prog=$2 dest=$3 lib
	cp "$prog" "$dir/bin/$dest"
	for lib in $(ldd "$prog" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
		mkdir -p "$dir$(dirname "$lib")"
		[ -e "$dir$lib" ] || cp -L "$lib" "$dir$lib"
	done
}

bench_vmreader() {
	local reps sizes samples iv k V a tmo t0 qemu try
	reps=${REPS:-$([ "$QUICK" = 1 ] && echo 1 || echo 2)}
	sizes=$([ "$QUICK" = 1 ] && echo "2000" || echo "10000")
	sizes=${KW_BENCH_VMR_SIZES:-$sizes}
	samples=${KW_BENCH_VMR_SAMPLES:-$([ "$QUICK" = 1 ] && echo 4 || echo 8)}
	iv=${KW_BENCH_VMR_INTERVAL:-1s}
	tmo=${KW_BENCH_VM_TIMEOUT:-$([ "$QUICK" = 1 ] && echo 600 || echo 1800)}
	echo
	echo "7. The reader end to end in qemu (TCG, 2 vCPUs, 2 GiB): read + parse + publish at a"
	echo "   $iv interval, --source procfs vs the module's full file vs its delta file;"
	echo "   CPU per sample over $samples samples after a warm-up, medians of $reps runs, alternating"
	for t in qemu-system-x86_64 cpio gzip socat; do
		if ! command -v $t >/dev/null; then
			echo "   skipped: $t missing (tests/vm/install-kernels, run/install-deps bench)"
			goal skipped "7 reader in the VM: $t missing"
			return
		fi
	done
	if [ ! -e /usr/share/doc/busybox-static ]; then
		echo "   skipped: busybox-static missing (tests/vm/install-kernels installs it)"
		goal skipped "7 reader in the VM: busybox-static missing"
		return
	fi
	k=$(vm_pick_kernel)
	if [ -z "$k" ]; then
		echo "   skipped: no Debian kernel with headers (tests/vm/install-kernels)"
		goal skipped "7 reader in the VM: no kernel with headers installed"
		return
	fi
	V="$WORK/vmreader"
	mkdir -p "$V/build" "$V/root/bin" "$V/root/proc" "$V/root/sys" \
		"$V/root/dev" "$V/root/tmp"
	cp "$ROOT"/kmods/*.c "$ROOT"/kmods/*.h "$ROOT/kmods/Kbuild" "$V/build/"
	if ! make -s -C "/lib/modules/$k/build" M="$V/build" modules >"$V/build.log" 2>&1; then
		tail -20 "$V/build.log" | sed 's/^/   /'
		goal missed "7 reader in the VM: module build failed for $k"
		return
	fi
	cp "$(command -v busybox)" "$V/root/bin/busybox"
	for a in $(busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$V/root/bin/$a"
	done
	cp "$B/forker-static" "$V/root/bin/forker"
	vmr_copy_prog "$V/root" "$ROOT/reader/kwarden-reader" kwarden-reader
	vmr_copy_prog "$V/root" "$ROOT/run/kwarden-tap" kwarden-tap
	local ways="procfs full delta"
	if [ -n "${KW_BENCH_VMR_OLD:-}" ]; then
		vmr_copy_prog "$V/root" "$KW_BENCH_VMR_OLD" kwarden-reader-old
		ways="$ways old"
		# KW_BENCH_VMR_OLD_DELTA=on: the old build on the delta file
		echo "${KW_BENCH_VMR_OLD_DELTA:-off}" >"$V/root/old-delta"
		echo "   old: $KW_BENCH_VMR_OLD, reader.kmod_delta ${KW_BENCH_VMR_OLD_DELTA:-off}"
	fi
	vmr_copy_prog "$V/root" "$(command -v socat)" socat
	cp "$V/build/sysinfo.ko" "$V/root/"
	# The reader in the VM: $1 way, $2 size, $3 run. Its status at a sample's
	# end (polled from just before it), then its CPU at that moment.
	cat >"$V/root/bin/onerun" <<-'EOF'
		#!/bin/sh
		way=$1 size=$2 run=$3 N=$4 IV=$5 OUT=$6
		d=/tmp/kw-$way
		rm -rf $d; mkdir -p $d
		prog=kwarden-reader
		case $way in
		procfs) src="--source procfs" ;;
		full) src="--source kmod --kmod-delta off" ;;
		delta) src="--source kmod --kmod-delta on" ;;
		old) src="--source kmod --kmod-delta $(cat /old-delta)"; prog=kwarden-reader-old ;;
		esac
		$prog --state-dir $d --interval $IV $src \
			-o reader.cgroup_root= --log-level warn 2>$d/log &
		rd=$!
		i=0
		while [ ! -S $d/run/reader.sock ] && [ $i -lt 300 ]; do usleep 100000; i=$((i + 1)); done
		kwarden-tap --type none $d/run/reader.sock >/dev/null 2>$d/tap.log &
		tp=$!
		st() { echo status | socat - UNIX-CONNECT:$d/run/reader.ctl 2>/dev/null; }
		num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
		nsamp() { st | num samples; }
		cpu() { set -- $(cut -d' ' -f14,15 /proc/$rd/stat); echo $(($1 + $2)); }
		sys() { cut -d' ' -f15 /proc/$rd/stat; }
		real() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
		sched() { t=0; for f in /proc/$rd/task/*/schedstat; do set -- $(cat $f); t=$((t + $1)); done; echo $t; }
		# Between two samples: the reader's CPU stands still for 150 ms
		# (reading its /proc files costs it nothing; a status does).
		idle() {
			a=$(sched); k=0
			while [ $k -lt 20 ]; do
				usleep 150000; b=$(sched)
				[ "$a" = "$b" ] && return
				a=$b; k=$((k + 1))
			done
		}
		# warm-up: two samples (the delta file's first pass is a full one)
		s=0; i=0
		while [ "${s:-0}" -lt 2 ] && [ $i -lt 600 ]; do usleep 500000; s=$(nsamp); i=$((i + 1)); done
		# one status at each end, outside the CPU read between them
		idle; s0=$(nsamp); c0=$(cpu); n0=$(sched); y0=$(sys)
		sleep $((N - 1))
		s=$s0; i=0
		while [ "${s:-0}" -lt $((s0 + N)) ] && [ $i -lt 600 ]; do idle; c1=$(cpu); n1=$(sched); y1=$(sys); s=$(nsamp); i=$((i + 1)); done
		j=$(st)
		kill $tp $rd; wait $tp; wait $rd
		use=$(echo "$j" | sed -n 's/.*"source_in_use":"\([a-z]*\)".*/\1/p')
		ovr=$(echo "$j" | num overruns)
		fail=$(echo "$j" | num samples_failed)
		passes=$(echo "$j" | num passes)
		rec=$(echo "$j" | num last_records)
		np=$(echo "$j" | num last_nprocs)
		echo "reader $size $way $run $((c1 - c0)) $((n1 - n0)) $((s - s0)) ${ovr:-?} ${fail:-?} ${use:-none} ${passes:-0} ${rec:-0} ${np:-0} $((y1 - y0)) $(echo "$j" | real last_sample_ms) $(echo "$j" | real last_publish_ms) $(echo "$j" | real last_release_ms)" >$OUT
		sed "s/^/log $way: /" $d/log | head -5 >$OUT
	EOF
	chmod +x "$V/root/bin/onerun"
	cat >"$V/root/init" <<-EOF
		#!/bin/sh
		export PATH=/bin
		mount -t proc proc /proc
		mount -t sysfs sys /sys
		mount -t devtmpfs dev /dev
		mount -t tmpfs tmp /tmp
		OUT=/dev/ttyS1
		stty -F \$OUT raw -echo 2>/dev/null
		echo 200000 >/proc/sys/kernel/threads-max
		insmod /sysinfo.ko
		echo "insmod \$?" >\$OUT
		for size in $sizes; do
			have=\$(ls /proc | grep -c '^[0-9]*\$')
			rm -f /tmp/ready
			forker \$((size - have)) /tmp/ready \${KW_BUSY:-100} &
			fk=\$!
			while [ ! -s /tmp/ready ]; do usleep 200000; done
			echo "parked \$size \$(cat /tmp/ready)" >\$OUT
			set -- $ways
			for run in \$(seq $reps); do
				# each run starts with the next way: none always first
				ways=""
				for way in "\$@"; do ways="\$ways \$way"; done
				set -- "\$@" "\$1"
				shift
				for way in \$ways; do
					onerun \$way \$size \$run $samples $iv \$OUT
				done
			done
			echo "load \$size \$(cat /proc/loadavg)" >\$OUT
			kill \$fk
			wait \$fk
		done
		echo "==KW-DONE==" >\$OUT
		poweroff -f
	EOF
	chmod +x "$V/root/init"
	(cd "$V/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$V/initramfs.gz"

	for try in 1 2; do
		echo "   kernel $k; booting (timeout $tmo s)"
		t0=$(date +%s)
		rm -f "$V/data.txt"
		timeout -k 10 "$tmo" qemu-system-x86_64 -accel tcg -smp 2 -m 2048 \
			-nodefaults -display none -no-reboot \
			-kernel "/boot/vmlinuz-$k" -initrd "$V/initramfs.gz" \
			-append "console=ttyS0 quiet panic=-1" \
			-serial "file:$V/console.log" -serial "file:$V/data.txt" \
			>"$V/qemu.log" 2>&1 &
		qemu=$!
		bg_add "$qemu"
		wait "$qemu"
		bg_stop "$qemu"
		grep -q '^==KW-DONE==' "$V/data.txt" 2>/dev/null && break
		echo "   VM did not finish (try $try): $(grep -m1 -E 'Oops|BUG|panic' "$V/console.log")"
	done
	tr -d '\r' <"$V/data.txt" >"$V/data" 2>/dev/null
	[ -n "${KW_BENCH_VMR_KEEP:-}" ] && cp "$V/data" "$KW_BENCH_VMR_KEEP"
	if ! grep -q '^==KW-DONE==' "$V/data" 2>/dev/null; then
		tail -15 "$V/console.log" | sed 's/^/   /'
		echo "   VM did not finish (after $(($(date +%s) - t0)) s)"
		goal missed "7 reader in the VM: VM did not finish"
		return
	fi
	echo "   VM ran $(($(date +%s) - t0)) s; insmod status $(awk '$1 == "insmod" { print $2 }' "$V/data")"
	grep '^log ' "$V/data" | sort -u | head -5 | sed 's/^/   /'
	hr
	printf '%6s | %-7s | %5s | %-22s | %-19s | %5s | %s\n' procs way runs "CPU ms/sample (stat)" "(schedstat)" \
		"procfs/this" "samples, overruns, in use"
	hr
	local size way f m ms last_full='' last_delta='' last_old='' last_n='' lavg pm pmn
	for size in $sizes; do
		for way in $ways; do
			# ms per sample per run: ticks are 10 ms (USER_HZ 100)
			awk -v s="$size" -v w="$way" '$1 == "reader" && $2 == s && $3 == w && $7 > 0 { print $5 * 10 / $7 }' \
				"$V/data" >"$V/$size-$way.stat"
			awk -v s="$size" -v w="$way" '$1 == "reader" && $2 == s && $3 == w && $7 > 0 { print $6 / 1e6 / $7 }' \
				"$V/data" >"$V/$size-$way.ns"
		done
		pm=$(median <"$V/$size-procfs.stat")
		pmn=$(median <"$V/$size-procfs.ns")
		for way in $ways; do
			f="$V/$size-$way.stat"
			if [ ! -s "$f" ]; then
				printf '%6s | %-7s | no result\n' "$size" "$way"
				continue
			fi
			m=$(median <"$f")
			ms=$(median <"$V/$size-$way.ns")
			printf '%6s | %-7s | %5s | %9.2f (%s) | %8.2f | %5sx %5sx | %s\n' "$size" "$way" \
				"$(wc -l <"$f")" "$m" "$(tr '\n' ' ' <"$f" | sed 's/ $//')" "$ms" \
				"$(ratio "$pm" "$m")" "$(ratio "$pmn" "$ms")" \
				"$(awk -v s="$size" -v w="$way" '$1 == "reader" && $2 == s && $3 == w { printf "%s/%s/%s/%s ", $7, $8, $10, $12 }' "$V/data")"
			case $way in
			full) last_full=$(ratio "$pmn" "$ms") ;;
			delta) last_delta=$(ratio "$pmn" "$ms") ;;
			old) last_old=$(ratio "$pmn" "$ms") ;;
			esac
		done
		lavg=$(awk -v s="$size" '$1 == "load" && $2 == s { print $3, $4, $5 }' "$V/data")
		echo "   VM load average after the runs at $size: $lavg"
		last_n=$size
	done
	hr
	echo "   runs: samples/overruns/source in use/records in the last delta pass; the ratios are"
	echo "   procfs/this from the stat ticks and from schedstat (ns, the finer; the goals use it)"
	echo "   Where it goes, per run: the system (kernel) share of the CPU ticks, and the last sample's"
	echo "   wall ms reading (worker), publishing (pack + send) and releasing its memory:"
	awk '$1 == "reader" && $7 > 0 && NF >= 17 {
		printf "   %6s %-7s run %s: system %3.0f%%; last sample: read %s, publish %s, release %s ms\n",
			$2, $3, $4, ($5 > 0 ? 100 * $14 / $5 : 0), $15, $16, $17 }' "$V/data"
	if [ -z "$last_full" ]; then
		goal missed "7 reader in the VM: no result"
		return
	fi
	if [ "$last_n" -lt 9000 ]; then
		goal skipped "7 kmod end to end: 10,000 processes not measured (quick); procfs/kmod full ${last_full}x, procfs/delta ${last_delta}x at $last_n"
		return
	fi
	local old=''
	[ -n "$last_old" ] && old="; the old build, kmod_delta ${KW_BENCH_VMR_OLD_DELTA:-off}, ${last_old}x"
	if ge "$last_full" 1.0001; then
		goal met "7 kmod end to end: the reader on the module's full file ${last_full}x cheaper than on procfs at $last_n procs (goal: cheaper$old)"
	else
		goal missed "7 kmod end to end: the reader on the module's full file at ${last_full}x of procfs at $last_n procs (goal: cheaper$old)"
	fi
	if ge "$last_delta" 20; then
		goal met "7 kmod delta end to end: the reader's CPU per sample ${last_delta}x below procfs at $last_n procs, ~100 busy (goal 20x)"
	else
		goal missed "7 kmod delta end to end: the reader's CPU per sample only ${last_delta}x below procfs at $last_n procs, ~100 busy (goal 20x)"
	fi
}
