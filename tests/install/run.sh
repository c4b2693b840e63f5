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
echo "install test passed"
