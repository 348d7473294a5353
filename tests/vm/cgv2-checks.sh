# cgv2-checks.sh - sourced by tests/vm/run: the cgroup v2 phase.  Boots
# the kernel once more with MODE=cgv2 (tests/vm/cgv2.sh runs in the VM:
# a pure cgroup2 mount, Docker-shaped scopes with workloads, the reader on
# procfs) and checks the reader's per-container cgroup figures against
# the files read just before and just after its snapshot.
# Uses run's ok/bad/check, ship_bin, boot_vm, unpack_out, hexid, $WORK.
# shellcheck shell=bash disable=SC2016

ID_SD=$(hexid cg-systemd)
ID_CGF=$(hexid cg-cgroupfs)
ID_RL=$(hexid cg-rootless)
ID_OOM=$(hexid cg-oom)
ID_DECOY=$(hexid cg-decoy)
DECOY_PATH=/batch.slice/docker-$ID_DECOY.scope

# fv PHASE SCOPE FILE [KEY]: a figure of the files as dumped in the VM
# (PSI lines by "some"/"full": their avg10), ABSENT for a missing file
fv() {
	awk -v s="$2" -v f="$3" -v k="${4:-}" '
		$1 == s && $2 == f {
			if ($3 == "ABSENT") { print "ABSENT"; exit }
			if (k == "") { print $3; exit }
			if ($3 == k) { v = $4; sub(/^avg10=/, "", v); print v; exit }
		}' "$CG_OUT/$1"
}
# rv TAP ID FIELD: the reader's figure in the last snapshot, "none" when
# the container has no cgroup entry there
rv() {
	jq -r -s --arg id "$2" --arg f "$3" \
		'[.[-1].cgroups[] | select(.container_id == $id)][0] | if . == null then "none" else .[$f] end' \
		"$CG_OUT/$1.json" 2>/dev/null || echo none
}
# within NAME A B X: X between A and B (either order), else NAME noted in
# CG_MISS
within() {
	if ! awk -v a="$2" -v b="$3" -v x="$4" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || x !~ /^[0-9.]+$/)
			exit 1
		lo = a + 0 < b + 0 ? a + 0 : b + 0
		hi = a + 0 < b + 0 ? b + 0 : a + 0
		exit !(x + 0 >= lo - 1e-9 && x + 0 <= hi + 1e-9)
	}'; then
		CG_MISS="$CG_MISS $1=$4 not in [$2,$3]"
	fi
}
ws_of() {	# phase scope: memory.current - inactive_file, never below 0
	local c i
	c=$(fv "$1" "$2" memory.current)
	i=$(fv "$1" "$2" memory.stat inactive_file)
	awk -v c="$c" -v i="${i:-0}" 'BEGIN { if (c !~ /^[0-9]+$/) print "x"; else print (c > i ? c - i : 0) }'
}
max0() { if [ "$1" = max ]; then echo 0; else echo "$1"; fi; }

# every figure of one scope, frozen: the reader's equals the files'
cg_frozen_scope() {	# label scope id
	local l=$1 s=$2 id=$3 f a b x
	CG_MISS=""
	if [ "$(rv tap_frz "$id" flags)" = none ]; then
		bad "$CG_K: cgv2: $l: frozen: the reader has a cgroup entry"
		return
	fi
	a=$(fv frz_pre "$s" cpu.stat usage_usec)
	b=$(fv frz_post "$s" cpu.stat usage_usec)
	x=$(rv tap_frz "$id" cpu_usage_ns)
	within cpu_usage_usec "$a" "$b" "$(awk -v x="$x" 'BEGIN { printf "%.0f", x / 1000 }')"
	[ "$((x % 1000))" -eq 0 ] || CG_MISS="$CG_MISS cpu_usage_ns=$x not whole usec"
	for f in nr_throttled:nr_throttled throttled_usec:throttled_ns; do
		x=$(rv tap_frz "$id" "${f#*:}")
		[ "${f#*:}" = throttled_ns ] && x=$(awk -v x="$x" 'BEGIN { printf "%.0f", x / 1000 }')
		within "${f%%:*}" "$(fv frz_pre "$s" cpu.stat "${f%%:*}")" \
			"$(fv frz_post "$s" cpu.stat "${f%%:*}")" "$x"
	done
	within memory.current "$(fv frz_pre "$s" memory.current)" \
		"$(fv frz_post "$s" memory.current)" "$(rv tap_frz "$id" mem_usage_bytes)"
	within working_set "$(ws_of frz_pre "$s")" "$(ws_of frz_post "$s")" \
		"$(rv tap_frz "$id" mem_working_set_bytes)"
	for f in anon:mem_anon_bytes file:mem_file_bytes; do
		within "${f%%:*}" "$(fv frz_pre "$s" memory.stat "${f%%:*}")" \
			"$(fv frz_post "$s" memory.stat "${f%%:*}")" "$(rv tap_frz "$id" "${f#*:}")"
	done
	within memory.max "$(max0 "$(fv frz_pre "$s" memory.max)")" \
		"$(max0 "$(fv frz_post "$s" memory.max)")" "$(rv tap_frz "$id" mem_limit_bytes)"
	within oom_kill "$(fv frz_pre "$s" memory.events oom_kill)" \
		"$(fv frz_post "$s" memory.events oom_kill)" "$(rv tap_frz "$id" oom_kills)"
	if [ "$(fv frz_pre "$s" cpu.pressure)" != ABSENT ]; then
		within cpu.pressure.some "$(fv frz_pre "$s" cpu.pressure some)" \
			"$(fv frz_post "$s" cpu.pressure some)" "$(rv tap_frz "$id" psi_cpu_some_avg10)"
		within memory.pressure.some "$(fv frz_pre "$s" memory.pressure some)" \
			"$(fv frz_post "$s" memory.pressure some)" "$(rv tap_frz "$id" psi_mem_some_avg10)"
		within memory.pressure.full "$(fv frz_pre "$s" memory.pressure full)" \
			"$(fv frz_post "$s" memory.pressure full)" "$(rv tap_frz "$id" psi_mem_full_avg10)"
	fi
	if [ -z "$CG_MISS" ]; then
		ok "$CG_K: cgv2: $l: frozen: the reader's CPU, throttling, memory.current, working set, anon, file, limit, oom_kill and PSI equal the files' ($(rv tap_frz "$id" mem_usage_bytes) bytes, $(rv tap_frz "$id" cpu_usage_ns) ns)"
	else
		bad "$CG_K: cgv2: $l: frozen: the reader's figures equal the files':$CG_MISS"
	fi
}

cgv2_vm() {	# kver
	local k=$1 B="$WORK/cgv2-$1" t0 t1 s l id pre post x n sum rule want got
	CG_K=$k
	CG_OUT="$B/out"
	mkdir -p "$B/root/bin" "$B/root/proc" "$B/root/sys" "$B/root/dev" "$B/root/tmp" "$CG_OUT"
	if [ ! -x "$ROOT/reader/kwarden-reader" ] || [ ! -x "$ROOT/run/kwarden-tap" ]; then
		bad "$k: cgv2: reader in the VM (build it first: make)"
		return
	fi
	if ! gcc -static -O2 -Wall -o "$B/root/bin/kwcg" "$VM_DIR/kwcg.c" >"$B/kwcg.log" 2>&1 ||
	    ! gcc -O2 -Wall -DKWCG_RULE -I"$ROOT/common" -o "$B/kwcg-host" \
	    "$VM_DIR/kwcg.c" "$ROOT/common/cgroup.c" "$ROOT/common/util.c" \
	    >>"$B/kwcg.log" 2>&1; then
		sed 's/^/    /' "$B/kwcg.log"
		bad "$k: cgv2: build tests/vm/kwcg.c"
		return
	fi
	cp "$BUSYBOX" "$B/root/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -s busybox "$B/root/bin/$a"
	done
	ship_bin "$ROOT/reader/kwarden-reader" "$B/root"
	ship_bin "$ROOT/run/kwarden-tap" "$B/root"
	cp "$VM_DIR/init.sh" "$B/root/init"
	chmod +x "$B/root/init"
	cp "$VM_DIR/cgv2.sh" "$B/root/cgv2.sh"
	printf 'MODE=cgv2\nID_SD=%s\nID_CGF=%s\nID_RL=%s\nID_OOM=%s\nID_DECOY=%s\n' \
		"$ID_SD" "$ID_CGF" "$ID_RL" "$ID_OOM" "$ID_DECOY" >"$B/root/kw.conf"
	(cd "$B/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$B/initramfs.gz"
	t0=$(date +%s)
	boot_vm "$k" "$B"
	t1=$(date +%s)
	if ! grep -q '^==KW-DONE==' "$B/data.txt" 2>/dev/null; then
		tail -30 "$B/console.log" | sed 's/^/    /'
		bad "$k: cgv2: VM ran to completion (stopped after $((t1 - t0)) s)"
		return
	fi
	ok "$k: cgv2: VM ran to completion in $((t1 - t0)) s"
	unpack_out "$B/data.txt" "$CG_OUT"
	for n in tap_live tap_frz; do mv "$CG_OUT/$n" "$CG_OUT/$n.json"; done
	OUTD=$CG_OUT	# for run's r()
	export OUTD

	check "$k: cgv2: cgroup2 mounted alone, cpu memory pids delegated ($(r cg_subtree))" \
		test "$(r cg_mount)" = 0 -a "$(r cg_subtree)" = "cpu memory pids"
	n=0
	for s in sd cgf rl oom decoy; do
		x=$(awk -v s="$s" '$1 == "scope" && $2 == s { print $3; exit }' "$CG_OUT/results")
		[ "${x:-1}" = 0 ] && [ -n "$(awk -v s="$s" '$1 == "procs" && $2 == s { print $3 }' "$CG_OUT/results")" ] && n=$((n + 1))
	done
	check "$k: cgv2: $n/5 scopes made with their processes in them (system.slice/docker-<id>.scope, docker/<id>, user@1000.service/user.slice/docker-<id>.scope, a limited docker/<id>, batch.slice/docker-<id>.scope)" \
		test "$n" -eq 5
	check "$k: cgv2: the reader finds the v2 layout, streams (tap $(r tap_live)/$(r tap_frz)) and exits 0 ($(r reader_exit))" \
		test "$(grep -c 'cgroup: /sys/fs/cgroup (v2)' "$CG_OUT/reader_log")" = 1 -a \
		"$(r tap_live) $(r tap_frz) $(r reader_exit)" = "0 0 0"

	# live: CPU counters of the last snapshot between the files before and after
	for l in "sd:$ID_SD:systemd scope" "cgf:$ID_CGF:cgroupfs /docker/<id>" \
	    "rl:$ID_RL:rootless scope" "oom:$ID_OOM:limited /docker/<id>"; do
		s=${l%%:*}
		id=${l#*:}
		id=${id%%:*}
		l=${l##*:}
		pre=$(fv live_pre "$s" cpu.stat usage_usec)
		post=$(fv live_post "$s" cpu.stat usage_usec)
		x=$(rv tap_live "$id" cpu_usage_ns)
		[ "$x" = none ] || x=$(awk -v x="$x" 'BEGIN { printf "%.0f", x / 1000 }')
		CG_MISS=""
		within usage_usec "$pre" "$post" "$x"
		check "$k: cgv2: $l: live: the reader's CPU $x us is between cpu.stat usage_usec before ($pre) and after ($post)" \
			test -z "$CG_MISS"
	done
	pre=$(fv live_pre sd cpu.stat nr_throttled)
	post=$(fv live_post sd cpu.stat nr_throttled)
	x=$(rv tap_live "$ID_SD" nr_throttled)
	CG_MISS=""
	within nr_throttled "$pre" "$post" "$x"
	check "$k: cgv2: systemd scope under cpu.max 50000 100000: nr_throttled $x, between the files' $pre and $post, and > 0" \
		test -z "$CG_MISS" -a "${x:-0}" != 0 -a "${x:-0}" != none
	# the forker's CPU is its children's: no snapshot sees them
	x=$(rv tap_live "$ID_CGF" cpu_usage_ns)
	sum=$(jq -s --arg id "$ID_CGF" '[.[-1].procs[] | select(.container_id == $id) | .cpu_ns] | add // 0' "$CG_OUT/tap_live.json" 2>/dev/null)
	check "$k: cgv2: cgroupfs scope of short-lived children: the cgroup's CPU $x ns is over twice its processes' sum ${sum:-?} ns" \
		awk -v x="$x" -v s="${sum:-x}" 'BEGIN { exit !(x ~ /^[0-9]+$/ && s ~ /^[0-9]+$/ && x + 0 > 2 * s) }'
	check "$k: cgv2: limited scope before the OOM: limit $(rv tap_live "$ID_OOM" mem_limit_bytes) = 32 MiB, oom_kills $(rv tap_live "$ID_OOM" oom_kills) = 0 (file $(fv live_post oom memory.events oom_kill))" \
		test "$(rv tap_live "$ID_OOM" mem_limit_bytes) $(rv tap_live "$ID_OOM" oom_kills) $(fv live_post oom memory.events oom_kill)" = "33554432 0 0"
	check "$k: cgv2: no limit (memory.max \"max\") is 0 in the reader ($(rv tap_live "$ID_SD" mem_limit_bytes))" \
		test "$(fv live_post sd memory.max) $(rv tap_live "$ID_SD" mem_limit_bytes)" = "max 0"

	# the OOM kill
	x=$(rv tap_frz "$ID_OOM" oom_kills)
	check "$k: cgv2: a 64 MiB toucher over the 32 MiB memory.max is OOM-killed (status $(r oom_toucher)), the reader's oom_kills $x = memory.events oom_kill $(fv frz_pre oom memory.events oom_kill) >= 1" \
		test "$(r oom_toucher)" = 137 -a "$x" = "$(fv frz_pre oom memory.events oom_kill)" -a "${x:-0}" != 0 -a "$x" != none
	check "$k: cgv2: the kernel logged a memory cgroup OOM kill" \
		grep -q 'Memory cgroup out of memory' "$CG_OUT/dmesg"

	# frozen: every figure equal
	n=0
	for s in sd cgf rl oom decoy; do
		[ "$(awk -v s="$s" '$1 == "frozen" && $2 == s { print $3 }' "$CG_OUT/results")" = 1 ] && n=$((n + 1))
	done
	check "$k: cgv2: $n/5 scopes frozen (cgroup.freeze)" test "$n" -eq 5
	cg_frozen_scope "systemd scope" sd "$ID_SD"
	cg_frozen_scope "cgroupfs /docker/<id>" cgf "$ID_CGF"
	cg_frozen_scope "rootless scope" rl "$ID_RL"
	cg_frozen_scope "limited /docker/<id>" oom "$ID_OOM"
	x=$(rv tap_frz "$ID_RL" mem_anon_bytes)
	check "$k: cgv2: rootless scope: the reader's anon $x covers the 32 MiB touched" \
		test "${x:-0}" != none -a "${x:-0}" -ge $((32 << 20))

	# PSI
	n=0
	for s in sd:SD cgf:CGF oom:OOM; do
		x=$(rv tap_frz "$(eval echo "\$ID_${s#*:}")" flags)
		[ "$(fv frz_pre "${s%%:*}" cpu.pressure)" != ABSENT ] && [ "$x" != none ] && [ $((x & 32)) -ne 0 ] && n=$((n + 1))
	done
	check "$k: cgv2: PSI: cpu.pressure present and read (flag PSI) in $n/3 scopes" test "$n" -eq 3
	x=$(rv tap_frz "$ID_SD" psi_cpu_some_avg10)
	check "$k: cgv2: PSI: the throttled burner's cpu.pressure some avg10 was above 0 ($(fv live_post sd cpu.pressure some) live, $x frozen)" \
		awk -v a="$(fv live_post sd cpu.pressure some)" 'BEGIN { exit !(a + 0 > 0) }'
	if [ "$(r rl_psi_off)" = 0 ]; then
		x=$(rv tap_frz "$ID_RL" flags)
		check "$k: cgv2: PSI switched off in a scope (cgroup.pressure 0): files gone ($(fv frz_pre rl cpu.pressure)), flags $x without PSI but with CPU and memory, PSI figures 0" \
			test "$(fv frz_pre rl cpu.pressure) $(fv frz_pre rl memory.pressure)" = "ABSENT ABSENT" -a \
			"$x" != none -a $((${x/none/32} & 32)) -eq 0 -a $((${x/none/0} & 5)) -eq 5 -a \
			"$(rv tap_frz "$ID_RL" psi_cpu_some_avg10) $(rv tap_frz "$ID_RL" psi_mem_some_avg10)" = "0 0"
	else
		echo "skip  $k: cgv2: no cgroup.pressure in this kernel: PSI cannot be switched off per cgroup ($(r rl_psi_off))"
	fi

	# a container-like name under an unrelated slice: whatever the rule says
	rule=$("$B/kwcg-host" rule "$DECOY_PATH")
	want=$rule
	[ "$want" = - ] && want=""
	x=$(awk '$1 == "pid" && $2 == "decoy" { print $3 }' "$CG_OUT/results")
	got=$(jq -r -s --argjson p "${x:-0}" '[.[-1].procs[] | select(.pid == $p)][0].container_id // "gone"' "$CG_OUT/tap_frz.json" 2>/dev/null)
	if [ -n "$want" ]; then
		check "$k: cgv2: $DECOY_PATH: reported as container ${want:0:12} (the rule in common/cgroup.c names one)" \
			test "$got" = "$want"
		cg_frozen_scope "$DECOY_PATH" decoy "$ID_DECOY"
	else
		check "$k: cgv2: $DECOY_PATH: reported as a host process (the rule in common/cgroup.c names none), no cgroup entry ($(rv tap_frz "$ID_DECOY" flags))" \
			test "$got" = "" -a "$(rv tap_frz "$ID_DECOY" flags)" = none
	fi

	if grep -E 'BUG:|Oops|general protection|KASAN|UBSAN|WARNING:|refcount_t' "$CG_OUT/dmesg" >"$B/dmesg.bad"; then
		sed 's/^/    /' "$B/dmesg.bad" | head -20
		bad "$k: cgv2: dmesg has no oops, warning or BUG (the OOM report aside)"
	else
		ok "$k: cgv2: dmesg has no oops, warning or BUG (the OOM report aside)"
	fi
	[ -n "${KW_VM_KEEP:-}" ] && cp -r "$B" "$KW_VM_KEEP/"
}
