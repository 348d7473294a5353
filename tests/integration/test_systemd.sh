#!/usr/bin/env bash
# systemd units: `make install` into a DESTDIR root, then
# `systemd-analyze verify --root` on the installed target and services
# (binaries, ExecReload, dependencies resolved inside that root), the
# hardening and ordering keys each unit must carry, paths that agree with
# the default config, the sysusers entry, and systemd's own exposure score.
# No running systemd needed.
. "$(dirname "$0")/lib.sh"

UNITS=(kwarden.target kwarden-reader.service kwarden-decider.service kwarden-recorder.service)
R=$T/root

if ! command -v systemd-analyze >/dev/null; then
	fail "systemd-analyze is missing (run/install-deps test)"
	finish
	exit
fi

# install_root ROOT PREFIX: make install there, plus what verify needs
# from the host: systemd's own units (sysinit.target, ...) and kill(1).
install_root() {
	make -s --no-print-directory -C "$TOP" install DESTDIR="$1" PREFIX="$2" >"$T/install.log" 2>&1 ||
		{ cat "$T/install.log"; return 1; }
	mkdir -p "$1/usr/lib/systemd" "$1/usr/bin"
	cp -a /usr/lib/systemd/system "$1/usr/lib/systemd/"
	cp "$(type -P kill)" "$1/usr/bin/kill"
	[ -e "$1/bin" ] || ln -s usr/bin "$1/bin"
}

# verify ROOT UNIT...: systemd-analyze verify, which must print nothing
# (unknown keys and bad values are only warnings).
verify() {
	local root=$1
	shift
	systemd-analyze verify --root="$root" "$@" >"$T/verify.out" 2>&1
	local rc=$?
	[ "$rc" = 0 ] && [ ! -s "$T/verify.out" ] && return 0
	sed 's/^/    /' "$T/verify.out" >&2
	return 1
}

check "make install DESTDIR=root" install_root "$R" /usr/local
UD=$R/usr/local/lib/systemd/system
for u in "${UNITS[@]}"; do
	check "systemd-analyze verify --root: $u" verify "$R" "$u"
done
check "systemd-analyze verify: the four together" verify "$R" "${UNITS[@]}"

# verify is meaningful here: it sees a missing binary and an unknown key.
mv "$R/usr/local/bin/kwarden-decider" "$T/decider.bin"
if verify "$R" kwarden-decider.service >/dev/null 2>&1; then
	fail "verify notices a missing ExecStart binary"
else
	ok "verify notices a missing ExecStart binary"
fi
mv "$T/decider.bin" "$R/usr/local/bin/kwarden-decider"
cp "$UD/kwarden-recorder.service" "$T/recorder.orig"
sed -i 's/^NoNewPrivileges=/NoNewPrivilege=/' "$UD/kwarden-recorder.service"
if verify "$R" kwarden-recorder.service >/dev/null 2>&1; then
	fail "verify notices a misspelt key"
else
	ok "verify notices a misspelt key"
fi
cp "$T/recorder.orig" "$UD/kwarden-recorder.service"

# key UNIT KEY: every value of KEY in the installed unit, one per line.
key() {
	sed -n "s/^$2=//p" "$UD/$1"
}
# has UNIT KEY=VALUE: one of KEY's lines, or one word of it, is VALUE.
has() {
	local k=${2%%=*} v=${2#*=}
	key "$1" "$k" | tr ' ' '\n' | grep -qxF -- "$v" || key "$1" "$k" | grep -qxF -- "$v"
}
need() {
	local u=$1 kv
	shift
	for kv in "$@"; do
		if has "$u" "$kv"; then ok "$u: $kv"; else fail "$u: $kv" "got '$(key "$u" "${kv%%=*}" | tr '\n' ' ')'"; fi
	done
}

need kwarden.target Wants=kwarden-reader.service Wants=kwarden-decider.service \
	Wants=kwarden-recorder.service WantedBy=multi-user.target
for d in reader decider recorder; do
	need "kwarden-$d.service" Type=notify Restart=always PartOf=kwarden.target \
		WantedBy=kwarden.target "ExecStart=/usr/local/bin/kwarden-$d" \
		RuntimeDirectory=kwarden RuntimeDirectoryPreserve=yes \
		User=kwarden Group=kwarden NoNewPrivileges=yes ProtectSystem=strict \
		ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
		ProtectKernelModules=yes ProtectKernelTunables=yes \
		ProtectControlGroups=yes RestrictAddressFamilies=AF_UNIX \
		SystemCallFilter=@system-service MemoryDenyWriteExecute=yes \
		RestartPreventExitStatus=2 IPAddressDeny=any
	w=$(key "kwarden-$d.service" WatchdogSec)
	[ -n "$w" ] && ok "kwarden-$d.service: WatchdogSec=$w" || fail "kwarden-$d.service: WatchdogSec="
done
# The network: only the decider, for /metrics on metrics.listen, from
# localhost (the default address); the others have no IP at all.
need kwarden-decider.service RestrictAddressFamilies=AF_INET RestrictAddressFamilies=AF_INET6 \
	IPAddressAllow=localhost
listen=$("$DECIDER" -c /dev/null --print-config | sed -n '/^\[metrics\]/,/^\[/s/^listen = *//p')
case "$listen" in
127.*|"[::1]":*) ok "metrics.listen $listen is on localhost, as IPAddressAllow=localhost" ;;
*) fail "metrics.listen default is on localhost" "'$listen'" ;;
esac
if key kwarden-decider.service PrivateNetwork | grep -q yes; then
	fail "kwarden-decider.service: no PrivateNetwork (its listener must be reachable)"
else
	ok "kwarden-decider.service: no PrivateNetwork (its listener must be reachable)"
fi
for d in reader recorder; do
	if key "kwarden-$d.service" RestrictAddressFamilies | grep -q AF_INET; then
		fail "kwarden-$d.service: AF_UNIX only"
	else
		ok "kwarden-$d.service: AF_UNIX only"
	fi
done

# Ordering: reader, then decider, then recorder; each pulls its producer in.
need kwarden-decider.service After=kwarden-reader.service Wants=kwarden-reader.service \
	After=docker.service
need kwarden-recorder.service Before=kwarden-decider.service Wants=kwarden-decider.service
need kwarden-reader.service After=systemd-modules-load.service

# Privileges: only the decider reaches Docker; the recorder has no
# capability at all; the reader only the two it needs to read /proc.
need kwarden-decider.service SupplementaryGroups=docker
for d in reader recorder; do
	if key "kwarden-$d.service" SupplementaryGroups | grep -q docker; then
		fail "kwarden-$d.service has no docker group"
	else
		ok "kwarden-$d.service has no docker group"
	fi
	need "kwarden-$d.service" InaccessiblePaths=-/run/docker.sock
done
cbs=$(key kwarden-recorder.service CapabilityBoundingSet)
[ -z "$cbs" ] && grep -q '^CapabilityBoundingSet=$' "$UD/kwarden-recorder.service" &&
	ok "kwarden-recorder.service: empty CapabilityBoundingSet (no CAP_SYS_ADMIN)" ||
	fail "kwarden-recorder.service: empty CapabilityBoundingSet" "'$cbs'"
need kwarden-recorder.service StateDirectory=kwarden
need kwarden-reader.service CapabilityBoundingSet=CAP_DAC_READ_SEARCH \
	CapabilityBoundingSet=CAP_SYS_PTRACE AmbientCapabilities=CAP_SYS_PTRACE
for u in kwarden-reader.service kwarden-decider.service kwarden-recorder.service; do
	if grep -qE '^(CapabilityBoundingSet|AmbientCapabilities)=.*CAP_SYS_ADMIN' "$UD/$u"; then
		fail "$u: no CAP_SYS_ADMIN"
	else
		ok "$u: no CAP_SYS_ADMIN"
	fi
done

# Paths agree with the built-in defaults and with the shipped config.
for conf in /dev/null "$TOP/run/kwarden.conf"; do
	"$READER" -c "$conf" --print-config >"$T/conf.out"
	rd=$(sed -n 's/^run_dir = //p' "$T/conf.out")
	db=$(sed -n 's/^database = //p' "$T/conf.out")
	grp=$(sed -n 's/^socket_group = *//p' "$T/conf.out")
	mode=$(sed -n 's/^socket_mode = //p' "$T/conf.out")
	[ "$rd" = "/run/$(key kwarden-reader.service RuntimeDirectory)" ] &&
		ok "run_dir $rd is the units' RuntimeDirectory ($conf)" || fail "run_dir vs RuntimeDirectory" "$rd"
	[ "$(dirname "$db")" = "/var/lib/$(key kwarden-recorder.service StateDirectory)" ] &&
		ok "database $db is in the recorder's StateDirectory ($conf)" || fail "database vs StateDirectory" "$db"
	[ -z "$grp" ] && [ "$mode" = 0660 ] &&
		ok "sockets 0660, group = the daemons' own (kwarden) ($conf)" || fail "socket_mode/socket_group" "$mode '$grp'"
done

# systemd-sysusers creates the user and group the units name.
if systemd-sysusers --root="$R" >"$T/sysusers.out" 2>&1 &&
	grep -q '^kwarden:' "$R/etc/passwd" && grep -q '^kwarden:' "$R/etc/group" &&
	grep -q '^docker:' "$R/etc/group"; then
	ok "sysusers.d/kwarden.conf creates user kwarden, groups kwarden and docker"
else
	fail "sysusers.d/kwarden.conf" "$(cat "$T/sysusers.out")"
fi

# systemd's own review of the hardening (0 = locked down, 10 = exposed).
for u in reader:20 decider:15 recorder:15; do
	name=kwarden-${u%%:*}.service
	if systemd-analyze security --offline=true --root="$R" --threshold="${u#*:}" --no-pager \
		"$name" >"$T/security.out" 2>&1; then
		ok "$(tail -n 1 "$T/security.out" | sed 's/^→ //') (at most $(awk -v t="${u#*:}" 'BEGIN{print t/10}'))"
	else
		fail "$name exposure" "$(tail -n 1 "$T/security.out")"
	fi
done

# PREFIX=/usr: units under /usr/lib/systemd/system run /usr/bin binaries.
R2=$T/root-usr
check "make install DESTDIR=root PREFIX=/usr" install_root "$R2" /usr
check "verify --root with PREFIX=/usr" verify "$R2" "${UNITS[@]}"
grep -qx 'ExecStart=/usr/bin/kwarden-reader' "$R2/usr/lib/systemd/system/kwarden-reader.service" &&
	ok "PREFIX=/usr: ExecStart=/usr/bin/kwarden-reader" || fail "PREFIX=/usr ExecStart"
grep -q '^Documentation=file:/usr/share/doc/kwarden/operations.md' "$R2/usr/lib/systemd/system/kwarden.target" &&
	ok "PREFIX=/usr: Documentation= follows" || fail "PREFIX=/usr Documentation="

finish
