# shellcheck shell=bash
# tests/bench/vm.sh - benchmark 5, sourced by tests/bench/run: the kernel
# module's /proc/sysinfo_so1_202041390 (and its delta file, kept open and
# read pass after pass, with ~100 of the processes busy) against busybox ps, inside the qemu
# VM of tests/vm (same kernel discovery, module build, busybox initramfs,
# TCG with 2 vCPUs; 2 GiB and a raised kernel.threads-max here). Only the
# ratios mean something: the VM is emulated.

vm_pick_kernel() {
	local d k best=
	for d in /lib/modules/*; do
		k=${d##*/}
		[ -e "/boot/vmlinuz-$k" ] && [ -e "$d/build/Makefile" ] || continue
		if [ -n "${KW_BENCH_KVER:-}" ]; then
			[ "$k" = "$KW_BENCH_KVER" ] && best=$k
		else
			best=$k		# glob order: the last is the newest
		fi
	done
	echo "$best"
}

max1() { awk -v v="$1" 'BEGIN { print (v + 0 < 1 ? 1 : v) }'; }

bench_kmod() {
	local reps sizes k V a tmo t0 qemu
	reps=${REPS:-$([ "$QUICK" = 1 ] && echo 3 || echo 7)}
	sizes=$([ "$QUICK" = 1 ] && echo "2000" || echo "2000 10000")
	tmo=${KW_BENCH_VM_TIMEOUT:-$([ "$QUICK" = 1 ] && echo 300 || echo 900)}
	echo
	echo "5. Module cost in qemu (TCG, 2 vCPUs, 2 GiB): read /proc/sysinfo_so1_202041390 to the end"
	echo "   (128 KiB reads) vs busybox ps -o pid,comm,vsz,rss,stat,args; medians of $reps, alternating"
	for t in qemu-system-x86_64 cpio gzip; do
		if ! command -v $t >/dev/null; then
			echo "   skipped: $t missing (tests/vm/install-kernels installs it)"
			goal skipped "5 kmod: $t missing"
			return
		fi
	done
	if [ ! -e /usr/share/doc/busybox-static ]; then
		echo "   skipped: busybox-static missing (tests/vm/install-kernels installs it)"
		goal skipped "5 kmod: busybox-static missing"
		return
	fi
	k=$(vm_pick_kernel)
	if [ -z "$k" ]; then
		echo "   skipped: no Debian kernel with headers (tests/vm/install-kernels)"
		goal skipped "5 kmod: no kernel with headers installed"
		return
	fi
	V="$WORK/vm"
	mkdir -p "$V/build" "$V/root/bin" "$V/root/proc" "$V/root/sys" \
		"$V/root/dev" "$V/root/tmp"
	cp "$ROOT"/kmods/*.c "$ROOT"/kmods/*.h "$ROOT/kmods/Kbuild" "$V/build/"
	if ! make -s -C "/lib/modules/$k/build" M="$V/build" modules >"$V/build.log" 2>&1; then
		tail -20 "$V/build.log" | sed 's/^/   /'
		goal missed "5 kmod: module build failed for $k"
		return
	fi
	cp "$(command -v busybox)" "$V/root/bin/busybox"
	for a in $(busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$V/root/bin/$a"
	done
	cp "$B/forker-static" "$V/root/bin/forker"
	cp "$B/vmtime-static" "$V/root/bin/vmtime"
	cp "$V/build/sysinfo.ko" "$V/root/"
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
			vmtime $reps /proc/sysinfo_so1_202041390,/proc/sysinfo_so1_202041390_nocmdline,/proc/sysinfo_so1_202041390_delta \\
				ps -o pid,comm,vsz,rss,stat,args |
				sed "s/^/result \$size /" >\$OUT
			echo "load \$size \$(cat /proc/loadavg)" >\$OUT
			kill \$fk
			wait \$fk
		done
		echo "==KW-DONE==" >\$OUT
		poweroff -f
	EOF
	chmod +x "$V/root/init"
	(cd "$V/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$V/initramfs.gz"

	local try
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
		# TCG very rarely oopses while booting: one more try
		echo "   VM did not finish (try $try): $(grep -m1 -E 'Oops|BUG|panic' "$V/console.log")"
	done
	tr -d '\r' <"$V/data.txt" >"$V/data" 2>/dev/null
	if ! grep -q '^==KW-DONE==' "$V/data" 2>/dev/null; then
		tail -15 "$V/console.log" | sed 's/^/   /'
		echo "   VM did not finish (after $(($(date +%s) - t0)) s)"
		goal missed "5 kmod: VM did not finish"
		return
	fi
	echo "   VM ran $(($(date +%s) - t0)) s; insmod status $(awk '$1 == "insmod" { print $2 }' "$V/data")"
	hr
	printf '%6s | %9s | %-22s | %-22s | %8s %8s | %-16s | %7s\n' procs "file KiB" "module cpu/wall ms" \
		"busybox ps cpu/wall ms" "cpu x" "wall x" "_nocmdline KiB/ms" "cpu x"
	hr
	local size fb fn fc fw cc cw gb gc last_ratio='' last_n='' last_nocmd=''
	for size in $sizes; do
		read -r _ _ _ fb fn fc fw <<<"$(awk -v s="$size" '$1 == "result" && $2 == s && $3 == "file"' "$V/data")"
		read -r _ _ _ gb _ gc _ <<<"$(awk -v s="$size" '$1 == "result" && $2 == s && $3 == "file2"' "$V/data")"
		read -r _ _ _ _ _ cc cw <<<"$(awk -v s="$size" '$1 == "result" && $2 == s && $3 == "cmd"' "$V/data")"
		if [ -z "${fc:-}" ] || [ -z "${cc:-}" ]; then
			printf '%6s | no result\n' "$size"
			continue
		fi
		printf '%6s | %9.0f | %9.1f / %9.1f | %9.1f / %9.1f | %7sx %7sx | %6.0f / %7.1f | %6sx\n' "$fn" \
			"$(ratio "$fb" 1024)" "$(ratio "$fc" 1000)" "$(ratio "$fw" 1000)" \
			"$(ratio "$cc" 1000)" "$(ratio "$cw" 1000)" \
			"$(ratio "$cc" "$fc")" "$(ratio "$cw" "$fw")" \
			"$(ratio "${gb:-0}" 1024)" "$(ratio "${gc:-0}" 1000)" "$(ratio "$cc" "${gc:-0}")"
		last_ratio=$(ratio "$cc" "$fc")
		last_nocmd=$(ratio "$cc" "${gc:-0}")
		last_n=$fn
	done
	hr
	echo "   _nocmdline: the same records without \"cmdline\" (for a reader that caches it),"
	echo "   read in the same rounds; its ratio is against the same busybox ps runs"
	echo
	echo "   _delta: kept open, one pass per round (~100 processes busy: each wakes every 200 ms);"
	echo "   its first pass (full) timed apart; ratios against the same busybox ps runs and the full file"
	hr
	printf '%6s | %-14s | %-19s | %9s | %9s | %-7s | %s\n' procs "records/KiB" "delta cpu/wall ms" "vs ps" "vs file" "1st ms" "VM load average"
	hr
	local db dr dc dw df lavg last_delta='' last_dfile=''
	for size in $sizes; do
		read -r _ _ _ db dr dc dw df <<<"$(awk -v s="$size" '$1 == "result" && $2 == s && $3 == "delta"' "$V/data")"
		read -r _ _ _ _ _ cc _ <<<"$(awk -v s="$size" '$1 == "result" && $2 == s && $3 == "cmd"' "$V/data")"
		read -r _ _ _ _ _ fc _ <<<"$(awk -v s="$size" '$1 == "result" && $2 == s && $3 == "file"' "$V/data")"
		lavg=$(awk -v s="$size" '$1 == "load" && $2 == s { print $3, $4, $5 }' "$V/data")
		if [ -z "${dc:-}" ] || [ -z "${cc:-}" ]; then
			printf '%6s | no result\n' "$size"
			continue
		fi
		printf '%6s | %5s / %6.1f | %8.2f / %8.2f | %8sx | %8sx | %7.1f | %s\n' "$size" \
			"$dr" "$(ratio "$db" 1024)" "$(ratio "$dc" 1000)" "$(ratio "$dw" 1000)" \
			"$(ratio "$cc" "$(max1 "$dc")")" "$(ratio "$fc" "$(max1 "$dc")")" \
			"$(ratio "$df" 1000)" "$lavg"
		last_delta=$(ratio "$cc" "$(max1 "$dc")")
		last_dfile=$(ratio "$fc" "$(max1 "$dc")")
	done
	hr
	echo "   (a CPU time of 0 us, below getrusage's resolution, is counted as 1 us)"
	if [ -z "$last_delta" ]; then
		goal missed "5 kmod delta: no result from the VM"
	elif [ "$last_n" -lt 9000 ]; then
		goal skipped "5 kmod delta: 10,000 processes not measured (quick); ${last_delta}x at $last_n"
	elif ge "$last_delta" 20; then
		goal met "5 kmod delta: a delta pass ${last_delta}x cheaper than busybox ps at $last_n procs, ~100 busy (goal 20x; ${last_dfile}x cheaper than the full file)"
	else
		goal missed "5 kmod delta: a delta pass only ${last_delta}x cheaper than busybox ps at $last_n procs, ~100 busy (goal 20x; ${last_dfile}x cheaper than the full file)"
	fi
	if [ -z "$last_ratio" ]; then
		goal missed "5 kmod: no result from the VM"
	elif [ "$last_n" -lt 9000 ]; then
		goal skipped "5 kmod: 10,000 processes not measured (quick); ${last_ratio}x at $last_n"
	elif ge "$last_ratio" 10; then
		goal met "5 kmod: reading the module's file ${last_ratio}x cheaper than busybox ps at $last_n procs (goal 10x; _nocmdline ${last_nocmd}x)"
	else
		goal missed "5 kmod: reading the module's file only ${last_ratio}x cheaper than busybox ps at $last_n procs (goal 10x; _nocmdline ${last_nocmd}x)"
	fi
}
