#!/usr/bin/env bash
# End to end across the pieces: create a base with vhd-util, write into it with qemu-io,
# snapshot twice, write into the leaf through the C library, compare the C dispatcher's
# output with the Rust binary's, coalesce leaf into parent and parent into base, check,
# and compare qemu-img's conversion of the base with the expected bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
util=$root/target/release/vhd-util
d=$(mktemp -d "$root/target/e2e.XXXXXX")
trap 'rm -rf "$d"' EXIT
cc -Wall -Wextra -Werror -Iinclude -o "$d/vhd-util-c" tests/e2e/vhd-util-c.c \
    -Lbuild/lib -lvhd -luuid
cutil() { LD_LIBRARY_PATH="$root/build/lib" "$d/vhd-util-c" "$@"; }
cd "$d"

# The base is qemu's own image: qemu places new blocks right after the BAT, where a tap
# image keeps its batmap, so qemu writing into a tap-created image breaks the batmap
# (see COMPATIBILITY.md); an image qemu creates has none.
qemu-img create -q -f vpc -o subformat=dynamic base.vhd 16M
qemu-io -f vpc -c 'write -P 0x11 0 4M' base.vhd >/dev/null
size=$(qemu-img info -f vpc base.vhd | sed -n 's/^virtual size: .*(\([0-9]*\) bytes)$/\1/p')
"$util" snapshot -n mid.vhd -p base.vhd
"$util" snapshot -n leaf.vhd -p mid.vhd
# 1 MiB of 0x22 at 1 MiB, through vhd_io_write. The flush rule's library side
# (COMPATIBILITY.md, "Flushing with O_DIRECT"; tools/vhd-util/tests/flush_rule.rs checks
# the tools'): on the library's own direct descriptor the engine's ordering points do not
# sync, as libvhd's never do; vhd_close syncs a writable image once.
strace -f -y -o strace.log -e trace=openat,pwrite64,pwritev,fdatasync,fsync \
    env LD_LIBRARY_PATH="$root/build/lib" "$d/vhd-util-c" write leaf.vhd 2048 0x22 2048
on_leaf() { grep -c "^[0-9]* *$1(.*<$d/leaf.vhd>" strace.log || true; }
if grep -q "\"leaf.vhd\", O_RDWR.*O_DIRECT.* = [0-9]" strace.log; then
    writes=$(($(on_leaf pwrite64) + $(on_leaf pwritev)))
    datasyncs=$(on_leaf fdatasync) fsyncs=$(on_leaf fsync)
    if [ "$writes" -lt 2 ] || [ "$datasyncs" -ne 0 ] || [ "$fsyncs" -ne 1 ]; then
        echo "C writer on leaf.vhd: $writes writes, $datasyncs fdatasync, $fsyncs fsync;" \
            "want at least 2 writes (the block, the BAT), no fdatasync, one fsync" >&2
        exit 1
    fi
else
    echo "e2e: leaf.vhd not opened with O_DIRECT here: the library's no-sync rule is not checked"
fi

# The unchanged-C-main path and the Rust binary print the same bytes, exit the same.
for args in "query -n leaf.vhd -v -s -p -f -d" "read -n leaf.vhd -p" "check -n leaf.vhd" \
            "scan -m *.vhd" "read -n leaf.vhd -t 2048 -c 3" "query -n missing.vhd -v"; do
    set +e
    # shellcheck disable=SC2086
    a=$("$util" $args 2>&1); ra=$?
    # shellcheck disable=SC2086
    b=$(cutil $args 2>&1); rb=$?
    set -e
    if [ "$a" != "$b" ] || [ "$ra" != "$rb" ]; then
        echo "vhd-util $args: Rust binary and C dispatcher differ" >&2
        diff <(echo "$a"; echo "exit $ra") <(echo "$b"; echo "exit $rb") >&2 || true
        exit 1
    fi
done

"$util" coalesce -n leaf.vhd
"$util" coalesce -n mid.vhd
out=$("$util" check -n base.vhd)
[ "$out" = "base.vhd is valid" ] || { echo "check of the coalesced base: $out" >&2; exit 1; }

# Expected: 4 MiB of 0x11 with 1 MiB of 0x22 at 1 MiB, then zeros to the disk's size.
head -c "$size" /dev/zero > expect.raw
head -c $((4 << 20)) /dev/zero | tr '\0' '\021' | dd of=expect.raw conv=notrunc status=none
head -c $((1 << 20)) /dev/zero | tr '\0' '\042' | dd of=expect.raw bs=1M seek=1 conv=notrunc status=none
qemu-img convert -f vpc -O raw base.vhd out.raw
cmp out.raw expect.raw
echo "e2e test passed"
