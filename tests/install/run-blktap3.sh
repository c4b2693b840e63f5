#!/usr/bin/env bash
# `make install FLAVOR=blktap3` into a temporary DESTDIR: the library under blktap3's names,
# the headers in include/vhd/, vhd-util in blktap3's dialect and the pkg-config file; a C
# client built with pkg-config runs against the installed library; uninstall removes
# exactly what install put there.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p target
dest=$(mktemp -d "$PWD/target/install-test-blktap3.XXXXXX")
trap 'rm -rf "$dest"' EXIT
prefix=/usr/local
make -s install FLAVOR=blktap3 DESTDIR="$dest" PREFIX="$prefix" >/dev/null
libdir=$dest$prefix/lib
for f in libvhd.so.0.1.1 libvhd.so.0 libvhd.so libvhd.a pkgconfig/vhd.pc; do
    [ -e "$libdir/$f" ] || { echo "missing $libdir/$f"; exit 1; }
done
[ "$(readlink "$libdir/libvhd.so")" = libvhd.so.0.1.1 ]
[ "$(readlink "$libdir/libvhd.so.0")" = libvhd.so.0.1.1 ]
readelf -d "$libdir/libvhd.so.0.1.1" | grep -q 'SONAME.*\[libvhd\.so\.0\]' || { echo "soname"; exit 1; }
for f in libvhd.h libvhd-journal.h vhd-util.h libvhd-index.h list.h vhd.h; do
    [ -e "$dest$prefix/include/vhd/$f" ] || { echo "missing header vhd/$f"; exit 1; }
done
[ ! -e "$dest$prefix/include/libvhd.h" ] || { echo "blktap3 headers belong in include/vhd/"; exit 1; }
[ ! -e "$dest$prefix/sbin/vhd-update" ] || { echo "blktap3 has no vhd-update"; exit 1; }
flags=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$libdir/pkgconfig" \
    pkg-config --cflags --libs vhd)
cc -Wall -Werror -o "$dest/smoke" tests/install/smoke-blktap3.c $flags
out=$(LD_LIBRARY_PATH="$libdir" "$dest/smoke" "$dest/smoke.vhd")
[ "$out" = "type 3 max_bat 8 offset 0 marker 1 block0 allocated err 0" ] ||
    { echo "smoke printed '$out'"; exit 1; }
# vhd-util speaks blktap3's dialect: it has `key` and `copy` and reads the marker.
usage=$("$dest$prefix/sbin/vhd-util" 2>&1 || true)
case $usage in *"| revert | key | copy }"*) ;; *) echo "installed vhd-util is not blktap3's: $usage"; exit 1 ;; esac
[ "$("$dest$prefix/sbin/vhd-util" query -n "$dest/smoke.vhd" -m)" = "marker: 1" ] ||
    { echo "vhd-util query -m"; exit 1; }
make -s uninstall FLAVOR=blktap3 DESTDIR="$dest" PREFIX="$prefix" >/dev/null
left=$(find "$dest$prefix" -type f -o -type l)
[ -z "$left" ] || { echo "uninstall left: $left"; exit 1; }
echo "install test (blktap3) passed"
