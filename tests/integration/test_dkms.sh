#!/usr/bin/env bash
# DKMS: the modules' source as `make install` ships it (/usr/src/kwarden-<v>
# under a DESTDIR) is a complete DKMS package: dkms add, then dkms build -k
# for every kernel in /lib/modules that has headers, each .ko built for that
# kernel; the modules-load.d entry names exactly the modules DKMS builds;
# dkms remove cleans up. The DKMS tree and source tree are the test's own
# (--dkmstree, --sourcetree): nothing is registered with the system's DKMS.
. "$(dirname "$0")/lib.sh"

if ! command -v dkms >/dev/null; then
	fail "dkms is missing (run/install-deps test)"
	finish
	exit
fi

R=$T/root
VERSION=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/kmods/dkms.conf")
NAME=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$TOP/kmods/dkms.conf")
[ "$NAME" = kwarden ] && ok "dkms.conf: PACKAGE_NAME kwarden" || fail "dkms.conf PACKAGE_NAME" "$NAME"

check "make install DESTDIR=root" make -s --no-print-directory -C "$TOP" install DESTDIR="$R"
SRC=$R/usr/src
[ -f "$SRC/kwarden-$VERSION/dkms.conf" ] && ok "installed /usr/src/kwarden-$VERSION/dkms.conf" ||
	fail "installed /usr/src/kwarden-$VERSION"
DT=$T/dkms
mkdir -p "$DT"
dk() { dkms "$@" -m kwarden -v "$VERSION" --sourcetree "$SRC" --dkmstree "$DT"; }

if dk add >"$T/add.log" 2>&1; then ok "dkms add kwarden/$VERSION"; else fail "dkms add" "$(cat "$T/add.log")"; fi

# Modules DKMS builds, from dkms.conf, and what modules-load.d loads.
built_names=$(sed -n 's/^BUILT_MODULE_NAME\[[0-9]*\]="\(.*\)"/\1/p' "$TOP/kmods/dkms.conf" | sort | tr '\n' ' ')
load_names=$(grep -v '^#' "$R/usr/local/lib/modules-load.d/kwarden.conf" | sed '/^ *$/d' | sort | tr '\n' ' ')
[ -n "$built_names" ] && [ "$built_names" = "$load_names" ] &&
	ok "modules-load.d/kwarden.conf loads what DKMS builds ($built_names)" ||
	fail "modules-load.d vs BUILT_MODULE_NAME" "'$load_names' vs '$built_names'"

nkernels=0
for kdir in /lib/modules/*/; do
	k=$(basename "$kdir")
	if [ ! -e "$kdir/build/Makefile" ]; then
		echo "skip $k: no headers"
		continue
	fi
	nkernels=$((nkernels + 1))
	if dk build -k "$k" >"$T/build-$k.log" 2>&1; then
		ok "dkms build -k $k"
	else
		fail "dkms build -k $k" "$(tail -n 20 "$T/build-$k.log"; tail -n 30 "$DT/kwarden/$VERSION/build/make.log" 2>/dev/null)"
		continue
	fi
	for m in $built_names; do
		ko=""
		for f in "$DT/kwarden/$VERSION/$k/"*/module/"$m".ko*; do
			[ -e "$f" ] && { ko=$f; break; }
		done
		vm=$( [ -n "$ko" ] && modinfo -F vermagic "$ko" 2>/dev/null | awk '{print $1}')
		[ "$vm" = "$k" ] && ok "$m.ko for $k (vermagic $vm)" || fail "$m.ko for $k" "'$ko' vermagic '$vm'"
	done
done
[ "$nkernels" -gt 0 ] && ok "$nkernels kernel(s) with headers in /lib/modules" ||
	fail "no kernel with headers in /lib/modules (tests/vm/install-kernels)"
dk status 2>/dev/null | grep -q built && ok "dkms status: built" || fail "dkms status" "$(dk status 2>&1)"

if dk remove --all >"$T/remove.log" 2>&1 && [ -z "$(ls -A "$DT")" ]; then
	ok "dkms remove --all leaves the DKMS tree empty"
else
	fail "dkms remove --all" "$(cat "$T/remove.log"; ls -R "$DT")"
fi

finish
