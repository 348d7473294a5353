#!/usr/bin/env bash
# make install / make uninstall with DESTDIR and PREFIX: exactly the files
# of `run/install.sh list`, binaries that run from where they land (and
# kwarden-run finding its daemons there), a default config that a second
# install never overwrites once edited, an uninstall that leaves the
# staging tree empty (keeping an edited config, and files that are not
# kwarden's), templated paths following PREFIX.
. "$(dirname "$0")/lib.sh"

mk() { make -s --no-print-directory -C "$TOP" "$@"; }
# tree DIR: every file and symlink under DIR, relative, sorted.
tree() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./|/|' | sort); }
empty() { [ -d "$1" ] && [ -z "$(find "$1" -mindepth 1 -print -quit)" ]; }

D=$T/dest
mkdir -p "$D"

# --- round trip, default PREFIX (/usr/local)
check "make install DESTDIR=\$tmp" mk install DESTDIR="$D"
DESTDIR='' PREFIX=/usr/local "$TOP/run/install.sh" list | sort >"$T/manifest"
tree "$D" >"$T/tree"
if diff "$T/manifest" "$T/tree" >"$T/diff"; then
	ok "installs exactly what install.sh list names ($(wc -l <"$T/manifest") files)"
else
	fail "installed files vs install.sh list" "$(cat "$T/diff")"
fi
for b in reader decider recorder run tap; do
	f=$D/usr/local/bin/kwarden-$b
	[ -x "$f" ] && [ "$(stat -c %a "$f")" = 755 ] && ok "bin/kwarden-$b 0755" || fail "bin/kwarden-$b 0755"
done
cmp -s "$D/etc/kwarden/kwarden.conf" "$TOP/run/kwarden.conf" &&
	[ "$(stat -c %a "$D/etc/kwarden/kwarden.conf")" = 644 ] &&
	ok "/etc/kwarden/kwarden.conf is run/kwarden.conf, 0644" || fail "/etc/kwarden/kwarden.conf"
"$D/usr/local/bin/kwarden-reader" --version >/dev/null 2>&1 &&
	ok "installed kwarden-reader runs" || fail "installed kwarden-reader --version"
bad=""
for f in dkms.conf Kbuild sysinfo.c continfo.c common.h; do
	cmp -s "$D/usr/src/kwarden-0.1.0/$f" "$TOP/kmods/$f" || bad="$bad $f"
done
[ -z "$bad" ] && ok "modules' source in /usr/src/kwarden-0.1.0" || fail "modules' source in /usr/src/kwarden-0.1.0" "differs:$bad"

# kwarden-run from the installed tree runs the installed daemons.
"$D/usr/local/bin/kwarden-run" --state-dir "$T/s" -o policy.action=dry-run \
	-o "decider.docker_socket=$T/no-docker.sock" >"$T/run.log" 2>&1 &
RUN_PID=$!
PIDS+=("$RUN_PID")
if wait_for 10 test -S "$T/s/run/recorder.ctl"; then
	grep -q "decider: $D/usr/local/bin/kwarden-decider" "$T/run.log" &&
		ok "installed kwarden-run starts the installed daemons" ||
		fail "installed kwarden-run starts the installed daemons" "$(head -n 5 "$T/run.log")"
else
	fail "installed kwarden-run starts" "$(tail -n 5 "$T/run.log")"
fi
kill -TERM "$RUN_PID"
wait "$RUN_PID"
rc=$?
[ "$rc" = 0 ] && ok "installed kwarden-run stops cleanly" || fail "installed kwarden-run stop" "exit $rc"

check "make install twice (unchanged config)" mk install DESTDIR="$D"
tree "$D" | diff -q - "$T/tree" >/dev/null && ok "second install: same files" || fail "second install: same files"

check "make uninstall DESTDIR=\$tmp" mk uninstall DESTDIR="$D"
empty "$D" && ok "uninstall leaves DESTDIR empty" || fail "uninstall leaves DESTDIR empty" "$(tree "$D" | head)"
check "make uninstall on an empty tree" mk uninstall DESTDIR="$D"

# --- an edited config survives install and uninstall
mk install DESTDIR="$D" >/dev/null
printf '\n[policy]\ncpu_threshold = 35\n' >>"$D/etc/kwarden/kwarden.conf"
cp "$D/etc/kwarden/kwarden.conf" "$T/edited.conf"
mk install DESTDIR="$D" >"$T/install2.log" 2>&1
cmp -s "$D/etc/kwarden/kwarden.conf" "$T/edited.conf" &&
	ok "install again keeps the edited /etc/kwarden/kwarden.conf" || fail "install again keeps the edited config"
grep -q "kept your /etc/kwarden/kwarden.conf" "$T/install2.log" &&
	ok "install says it kept the config" || fail "install says it kept the config" "$(cat "$T/install2.log")"
mkdir -p "$D/usr/local/bin"
echo keep >"$D/usr/local/bin/not-kwarden"
mk uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1
left=$(tree "$D" | tr '\n' ' ')
[ "$left" = "/etc/kwarden/kwarden.conf /usr/local/bin/not-kwarden " ] &&
	ok "uninstall keeps the edited config and files that are not kwarden's" ||
	fail "uninstall keeps only the edited config and foreign files" "$left"
cmp -s "$D/etc/kwarden/kwarden.conf" "$T/edited.conf" && ok "edited config unchanged by uninstall" ||
	fail "edited config unchanged by uninstall"
rm -rf "${D:?}"/*

# --- PREFIX=/usr
check "make install DESTDIR=\$tmp PREFIX=/usr" mk install DESTDIR="$D" PREFIX=/usr
DESTDIR='' PREFIX=/usr "$TOP/run/install.sh" list | sort >"$T/manifest-usr"
tree "$D" | diff - "$T/manifest-usr" >"$T/diff" && ok "PREFIX=/usr: exactly the listed files" ||
	fail "PREFIX=/usr files" "$(cat "$T/diff")"
for f in usr/bin/kwarden-reader usr/lib/systemd/system/kwarden.target usr/lib/sysusers.d/kwarden.conf \
	usr/lib/modules-load.d/kwarden.conf usr/share/kwarden/grafana/dashboards/kwarden-host.json \
	etc/kwarden/kwarden.conf usr/src/kwarden-0.1.0/dkms.conf; do
	[ -f "$D/$f" ] && ok "PREFIX=/usr: /$f" || fail "PREFIX=/usr: /$f"
done
grep -q 'path: /usr/share/kwarden/grafana/dashboards$' "$D/usr/share/kwarden/grafana/provisioning/dashboards/kwarden.yaml" &&
	grep -q '/usr/share/kwarden/grafana/dashboards:ro' "$D/usr/share/kwarden/grafana/compose.yaml" &&
	ok "PREFIX=/usr: Grafana provider and compose name /usr/share/kwarden/grafana/dashboards" ||
	fail "PREFIX=/usr: Grafana dashboards path"
if grep -rq /usr/local "$D/usr/lib/systemd/system" "$D/usr/share/kwarden"; then
	fail "PREFIX=/usr: no /usr/local left in units and Grafana files" "$(grep -rl /usr/local "$D/usr")"
else
	ok "PREFIX=/usr: no /usr/local left in units and Grafana files"
fi
check "make uninstall DESTDIR=\$tmp PREFIX=/usr" mk uninstall DESTDIR="$D" PREFIX=/usr
empty "$D" && ok "PREFIX=/usr: uninstall leaves DESTDIR empty" || fail "PREFIX=/usr: uninstall leaves DESTDIR empty" "$(tree "$D")"

finish
