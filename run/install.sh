#!/bin/sh
# Install or remove kwarden: binaries, systemd units, the default config,
# Grafana provisioning, the modules' source for DKMS, a modules-load.d entry.
#   run/install.sh install | uninstall | list
# Environment (the Makefile passes the first two):
#   DESTDIR   staging root for packaging (default: empty, the live system)
#   PREFIX    /usr/local by default; /usr for a distribution package
#   UNITDIR   systemd units     (default $PREFIX/lib/systemd/system)
#   LIBDIR    sysusers.d and modules-load.d go under it (default $PREFIX/lib)
# The config is always /etc/kwarden/kwarden.conf and the modules' source
# /usr/src/kwarden-<version> (where the daemons and dkms look for them).
# On the live system (no DESTDIR, as root) install also creates the kwarden
# user and group, registers the modules with DKMS and reloads systemd;
# uninstall stops and disables the units and unregisters the modules.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
PREFIX=${PREFIX%/}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
LIBDIR=${LIBDIR:-$PREFIX/lib}
BINDIR=$PREFIX/bin
SHAREDIR=$PREFIX/share/kwarden
DOCDIR=$PREFIX/share/doc/kwarden
CONFDIR=/etc/kwarden
VERSION=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/kmods/dkms.conf")
SRCDIR=/usr/src/kwarden-$VERSION

BINS="reader/kwarden-reader decider/kwarden-decider recorder/kwarden-recorder
 run/kwarden-run run/kwarden-tap run/kwarden-top run/kwarden-replay"
UNITS="kwarden.target kwarden-reader.service kwarden-decider.service
 kwarden-recorder.service"
DOCS="README.md docs/operations.md docs/schema.md docs/architecture.md"

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

live() { [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; }
systemd_running() { [ -d /run/systemd/system ]; }

# Every file install puts in place, as installed path <tab> source path.
# The source of a file with a template path is rewritten (see put()).
manifest() {
	for b in $BINS; do
		printf '%s\t%s\n' "$BINDIR/${b##*/}" "$TOP/$b"
	done
	for u in $UNITS; do
		printf '%s\t%s\n' "$UNITDIR/$u" "$TOP/run/systemd/$u"
	done
	printf '%s\t%s\n' "$LIBDIR/sysusers.d/kwarden.conf" \
	    "$TOP/run/systemd/kwarden.sysusers"
	printf '%s\t%s\n' "$LIBDIR/modules-load.d/kwarden.conf" \
	    "$TOP/run/modules-load.d/kwarden.conf"
	# Grafana: compose file, provisioning and every dashboard.
	for f in "$TOP"/run/grafana/compose.yaml \
	    "$TOP"/run/grafana/provisioning/*/*.yaml \
	    "$TOP"/run/grafana/dashboards/*.json \
	    "$TOP"/run/grafana/dashboards-fleet/*.json; do
		if [ -f "$f" ]; then
			printf '%s\t%s\n' "$SHAREDIR/grafana/${f#"$TOP"/run/grafana/}" "$f"
		fi
	done
	# Prometheus: the alert rules and their tests.
	for f in "$TOP"/run/prometheus/*.yml; do
		if [ -f "$f" ]; then
			printf '%s\t%s\n' "$SHAREDIR/prometheus/${f##*/}" "$f"
		fi
	done
	for f in $DOCS; do
		printf '%s\t%s\n' "$DOCDIR/${f##*/}" "$TOP/$f"
	done
	printf '%s\t%s\n' "$DOCDIR/kwarden.conf" "$TOP/run/kwarden.conf"
	# The modules' source: dkms.conf, Kbuild and every .c and .h.
	for f in "$TOP/kmods/dkms.conf" "$TOP/kmods/Kbuild" "$TOP"/kmods/*.c \
	    "$TOP"/kmods/*.h; do
		if [ -f "$f" ]; then
			printf '%s\t%s\n' "$SRCDIR/${f##*/}" "$f"
		fi
	done
}

# put SRC DST MODE: install one file. Text files that name the default
# prefix (units, Grafana provisioning) get the real one.
put() {
	mkdir -p "$DESTDIR$(dirname "$2")"
	case "$2" in
	"$UNITDIR"/*|"$SHAREDIR"/grafana/*)
		sed "s|/usr/local/|$PREFIX/|g" "$1" >"$DESTDIR$2.tmp.$$"
		chmod "$3" "$DESTDIR$2.tmp.$$"
		mv -f "$DESTDIR$2.tmp.$$" "$DESTDIR$2" ;;
	*)
		install -m "$3" "$1" "$DESTDIR$2" ;;
	esac
}

do_install() {
	[ -n "$VERSION" ] || die "no PACKAGE_VERSION in kmods/dkms.conf"
	for b in $BINS; do
		[ -x "$TOP/$b" ] || die "$b is not built: run make first"
	done
	manifest | while IFS="$(printf '\t')" read -r dst src; do
		case "$dst" in
		"$BINDIR"/*) put "$src" "$dst" 0755 ;;
		*) put "$src" "$dst" 0644 ;;
		esac
	done

	# The config: never overwrite one that is there (edited or not); the
	# shipped default stays in $DOCDIR/kwarden.conf for comparison.
	conf=$DESTDIR$CONFDIR/kwarden.conf
	if [ -e "$conf" ]; then
		if cmp -s "$conf" "$TOP/run/kwarden.conf"; then
			say "$CONFDIR/kwarden.conf is the default already"
		else
			say "kept your $CONFDIR/kwarden.conf; the new default is $DOCDIR/kwarden.conf"
		fi
	else
		mkdir -p "$DESTDIR$CONFDIR"
		install -m 0644 "$TOP/run/kwarden.conf" "$conf"
	fi

	if live; then
		live_install
	elif [ -z "$DESTDIR" ]; then
		say "not root: create the kwarden user, register the modules with dkms and reload systemd by hand (docs/operations.md)"
	fi
	say "installed kwarden $VERSION under ${DESTDIR:-/} (prefix $PREFIX)"
}

live_install() {
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers "$LIBDIR/sysusers.d/kwarden.conf"
	else
		getent group docker >/dev/null || groupadd --system docker
		getent passwd kwarden >/dev/null ||
			useradd --system --user-group --home-dir /var/lib/kwarden \
			    --no-create-home --shell /usr/sbin/nologin kwarden
	fi
	if command -v dkms >/dev/null 2>&1; then
		# An upgrade: drop the modules of other kwarden versions.
		for v in $(dkms_versions); do
			[ "$v" = "$VERSION" ] && continue
			say "dkms: removing kwarden/$v"
			dkms remove -m kwarden -v "$v" --all || true
		done
		dkms_versions | grep -qx "$VERSION" ||
			dkms add -m kwarden -v "$VERSION"
		dkms install -m kwarden -v "$VERSION" ||
			say "dkms could not build the modules for $(uname -r) (headers installed?); kwarden reads /proc instead"
	else
		say "dkms is not installed: the modules' source is in $SRCDIR (apt-get install dkms; dkms install -m kwarden -v $VERSION)"
	fi
	if systemd_running; then
		systemctl daemon-reload
		say "start with: systemctl enable --now kwarden.target (after an upgrade: systemctl restart kwarden.target)"
	fi
}

dkms_versions() {
	# "kwarden/0.1.0, 6.1.0-56-amd64, x86_64: installed" or "kwarden/0.1.0: added"
	dkms status -m kwarden 2>/dev/null | sed -n 's|^kwarden/\([^,:]*\)[,:].*|\1|p' | sort -u
}

do_uninstall() {
	if live; then
		if systemd_running; then
			systemctl disable --now kwarden.target kwarden-reader.service \
			    kwarden-decider.service kwarden-recorder.service || true
		fi
		if command -v dkms >/dev/null 2>&1 && dkms_versions | grep -qx "$VERSION"; then
			dkms remove -m kwarden -v "$VERSION" --all || true
		fi
	fi
	manifest | while IFS="$(printf '\t')" read -r dst src; do
		rm -f "$DESTDIR$dst"
	done
	conf=$DESTDIR$CONFDIR/kwarden.conf
	if [ -e "$conf" ]; then
		if cmp -s "$conf" "$TOP/run/kwarden.conf"; then
			rm -f "$conf"
		else
			say "kept $CONFDIR/kwarden.conf (edited); remove it by hand if you are done with it"
		fi
	fi
	# Directories: ours go when empty; under a DESTDIR, every parent that
	# is left empty goes too, up to DESTDIR itself (a staging tree).
	for d in "$SHAREDIR/grafana/provisioning/datasources" \
	    "$SHAREDIR/grafana/provisioning/dashboards" \
	    "$SHAREDIR/grafana/provisioning" "$SHAREDIR/grafana/dashboards" \
	    "$SHAREDIR/grafana/dashboards-fleet" "$SHAREDIR/prometheus" \
	    "$SHAREDIR/grafana" "$SHAREDIR" "$DOCDIR" "$SRCDIR" "$CONFDIR"; do
		rmdir "$DESTDIR$d" 2>/dev/null || true
	done
	if [ -n "$DESTDIR" ] && [ -d "$DESTDIR" ]; then
		find "$DESTDIR" -mindepth 1 -depth -type d -empty -delete
	fi
	if live && systemd_running; then
		systemctl daemon-reload
	fi
	# RuntimeDirectoryPreserve=yes keeps /run/kwarden: empty now, drop it.
	if live; then
		rmdir /run/kwarden 2>/dev/null || true
	fi
	if live; then
		say "kept the database (/var/lib/kwarden) and the kwarden user; remove them with: rm -r /var/lib/kwarden; userdel kwarden"
	fi
	say "removed kwarden $VERSION from ${DESTDIR:-/} (prefix $PREFIX)"
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
list) manifest | cut -f1; echo "$CONFDIR/kwarden.conf" ;;
*) echo "usage: $0 install|uninstall|list  (DESTDIR=, PREFIX=)" >&2; exit 2 ;;
esac
