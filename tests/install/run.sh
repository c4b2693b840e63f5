#!/usr/bin/env bash
# Installs into a temporary DESTDIR, builds a C program against the installed files with
# pkg-config, runs it with the installed library, runs the installed vhd-util, then
# checks that uninstall removes exactly what install put there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$(mktemp -d "$PWD/target/install-test.XXXXXX")
trap 'rm -rf "$dest"' EXIT
prefix=/usr/local
make -s install DESTDIR="$dest" PREFIX="$prefix" >/dev/null
libdir=$dest$prefix/lib
for f in libvhd.so.1.0.0 libvhd.so.1.0 libvhd.so libvhd.a pkgconfig/vhd.pc; do
    [ -e "$libdir/$f" ] || { echo "missing $libdir/$f"; exit 1; }
done
[ "$(readlink "$libdir/libvhd.so")" = libvhd.so.1.0 ]
[ "$(readlink "$libdir/libvhd.so.1.0")" = libvhd.so.1.0.0 ]
for f in libvhd.h libvhd-journal.h vhd-util.h; do
    [ -e "$dest$prefix/include/$f" ] || { echo "missing header $f"; exit 1; }
done
[ -e "$dest$prefix/share/man/man8/vhd-util.8" ]
# Installed objects are stripped by default (the build keeps its debug info).
has_debug() { readelf -S --wide "$1" 2>/dev/null | grep ' \.debug_info ' >/dev/null; }
has_debug build/lib/libvhd.so.1.0.0 || { echo "the build has no debug info to strip"; exit 1; }
for f in "$libdir/libvhd.so.1.0.0" "$dest$prefix/sbin/vhd-util" "$dest$prefix/sbin/vhd-update"; do
    ! has_debug "$f" || { echo "$f is not stripped"; exit 1; }
done
flags=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$libdir/pkgconfig" \
    pkg-config --cflags --libs vhd)
cc -Wall -Werror -o "$dest/smoke" tests/install/smoke.c $flags
LD_LIBRARY_PATH="$libdir" "$dest/smoke" "$dest/smoke.vhd" | grep -q 'type 3'
# The README's C example must compile and run against the installed library too.
awk '/^```c$/{on=1; next} /^```$/{on=0} on' README.md > "$dest/readme.c"
cc -Wall -Werror -o "$dest/readme" "$dest/readme.c" $flags
(cd "$dest" && LD_LIBRARY_PATH="$libdir" ./readme) | grep -q '^8388608 bytes, block 0 at sector 7, err 0$'
out=$("$dest$prefix/sbin/vhd-util" query -n "$dest/smoke.vhd" -v)
[ "$out" = 8 ] || { echo "installed vhd-util query printed '$out'"; exit 1; }
make -s uninstall DESTDIR="$dest" PREFIX="$prefix" >/dev/null
left=$(find "$dest$prefix" -type f -o -type l)
[ -z "$left" ] || { echo "uninstall left: $left"; exit 1; }
# STRIP= installs the objects whole; DEBUGDIR keeps the debug info apart, linked.
make -s install DESTDIR="$dest/whole" PREFIX="$prefix" STRIP= >/dev/null
has_debug "$dest/whole$prefix/lib/libvhd.so.1.0.0" || { echo "STRIP= still stripped"; exit 1; }
dbg=$prefix/lib/debug
make -s install DESTDIR="$dest/split" PREFIX="$prefix" DEBUGDIR="$dbg" >/dev/null
for f in lib/libvhd.so.1.0.0 sbin/vhd-util sbin/vhd-update; do
    has_debug "$dest/split$dbg$prefix/$f.debug" || { echo "no debug info kept for $f"; exit 1; }
    ! has_debug "$dest/split$prefix/$f" || { echo "$f not stripped with DEBUGDIR"; exit 1; }
    readelf --string-dump=.gnu_debuglink "$dest/split$prefix/$f" 2>/dev/null | grep "$(basename "$f").debug" >/dev/null ||
        { echo "$f does not link its debug file"; exit 1; }
done
make -s uninstall DESTDIR="$dest/split" PREFIX="$prefix" DEBUGDIR="$dbg" >/dev/null
left=$(find "$dest/split" -type f -o -type l)
[ -z "$left" ] || { echo "uninstall with DEBUGDIR left: $left"; exit 1; }
echo "install test passed"
