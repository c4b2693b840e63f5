#!/usr/bin/env bash
# VHDs on block devices and in LVM volume groups, with the real thing: sparse files on
# loop devices, and a volume group whose volumes are made without device-mapper
# (`lvcreate --driverloaded n -an -Zn`) and filled by writing images into their extents.
#
# 1. Every vhd-util subcommand on loop devices (create, snapshot, query, check, fill,
#    coalesce, repair, resize, set, scan), data written through the C library and read
#    back with qemu-io; the device is never truncated. The C library's create, snapshot,
#    open and I/O on devices (capi.c).
# 2. `vhd-util scan -l VG` in each option combination against the expected lines and
#    exit codes.
# 3. blktap3's `lvm_scan_vg`/`lvm_free_vg` (build/lib-blktap3) on a group of its own,
#    under valgrind and under ASan/UBSan (lvm_scan.c).
# 4. The storage manager's calls on VHDs in logical volumes, blktap3 flavour
#    (tools/vhd-util/tests/sm_replay/lvm.rs, which needs root and so is run from here).
#
# Needs root, losetup and lvm2 (`.ci/run` installs them). Without them the test says so
# on stderr and is skipped. Every loop device and volume group it makes is removed on
# exit, whatever the outcome. Names start with $VHDRS_TEST_PREFIX (default `vhdrs`) and
# the PID, so runs side by side do not collide.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
util=$root/target/release/vhd-util

skip() {
    echo "*** blockdev test SKIPPED: $* ***" >&2
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (loop devices, LVM)"
for t in losetup blockdev pvcreate vgcreate lvcreate /usr/sbin/vgs /usr/sbin/lvs qemu-io valgrind; do
    command -v "$t" >/dev/null || skip "$t not installed (.ci/run installs it)"
done

prefix=${VHDRS_TEST_PREFIX:-vhdrs}$$
d=$(mktemp -d "$root/target/$prefix.XXXXXX")
loops=()
vg=${prefix}vg
scan_vg=${prefix}scan
export LVM_SUPPRESS_FD_WARNINGS=1
cleanup() {
    set +e
    for g in "$vg" "$scan_vg"; do
        if /usr/sbin/vgs "$g" >/dev/null 2>&1; then
            vgremove -q -f "$g" >/dev/null 2>&1
        fi
    done
    for l in "${loops[@]}"; do
        pvremove -q -ff -y "$l" >/dev/null 2>&1
        losetup -d "$l"
    done
    rm -rf "$d"
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP

# A new loop device over a sparse file of $2 MiB; its name in the variable named $1.
new_loop() {
    truncate -s "$2M" "$d/$1.img"
    local dev
    dev=$(losetup -f --show "$d/$1.img")
    loops+=("$dev")
    printf -v "$1" '%s' "$dev"
}

fail() {
    echo "blockdev test: $*" >&2
    exit 1
}

# Runs vhd-util and compares stdout and exit status with the expected ones.
expect() {
    local want=$1 want_rc=$2
    shift 2
    set +e
    got=$("$util" "$@" 2>&1)
    rc=$?
    set -e
    if [ "$got" != "$want" ] || [ "$rc" != "$want_rc" ]; then
        echo "vhd-util $*:" >&2
        diff <(printf '%s\nexit %s\n' "$want" "$want_rc") <(printf '%s\nexit %s\n' "$got" "$rc") >&2
        fail "unexpected output"
    fi
}

cc -Wall -Wextra -Werror -Iinclude -o "$d/vhd-util-c" tests/e2e/vhd-util-c.c \
    -Lbuild/lib -lvhd -luuid
cutil() { LD_LIBRARY_PATH="$root/build/lib" "$d/vhd-util-c" "$@"; }
# Reads the image with qemu-io and checks that $2 bytes at $1 hold pattern $3.
qread() {
    local out
    out=$(qemu-io -f vpc -r -c "read -P $3 $1 $2" "$4" 2>&1)
    case $out in
    read\ *) ;;
    *) fail "qemu-io: $4 does not hold $3 at $1: $out" ;;
    esac
}

# ---- 1. Block devices -------------------------------------------------------------
new_loop base 64
new_loop leaf 64
size=$(blockdev --getsize64 "$base")

expect "" 0 create -n "$base" -s 20
expect "$base is valid" 0 check -n "$base"
expect "20
3584" 0 query -n "$base" -v -s
cutil write "$base" 0 0x11 4096                 # 2 MiB of 0x11 at 0: one block
[ "$("$util" query -n "$base" -s)" -gt $((2 << 20)) ] || fail "no block allocated"
expect "" 0 snapshot -n "$leaf" -p "$base"
expect "$(realpath "$base")" 0 query -n "$leaf" -p
cutil write "$leaf" 2048 0x22 2048              # 1 MiB of 0x22 at 1 MiB
expect "$leaf is valid
$base is valid" 0 check -n "$leaf" -p
# qemu does not follow VHD parents: the leaf's own sectors through vhd-util, the rest
# once coalesced.
"$util" read -n "$leaf" -r 2048 -c 2048 | cmp -s - <(head -c 1M /dev/zero | tr '\0' '\042') ||
    fail "the leaf does not hold what was written"
expect "" 0 coalesce -n "$leaf"
expect "$base is valid" 0 check -n "$base"
qread 0 1M 0x11 "$base"
qread 1M 1M 0x22 "$base"
qread 2M 1M 0 "$base"

# Resize (journalled), then fill every block; the data stays.
expect "" 0 resize -n "$base" -s 40 -j "$d/resize.journal"
expect "40" 0 query -n "$base" -v
expect "$base is valid" 0 check -n "$base"
# A resize stopped half-way is undone from its journal, here a block device too (used
# in place, and left there).
set +e
VHD_UTIL_TEST_FAIL_RESIZE_METADATA_MOVED=1 "$util" resize -n "$base" -s 60 -j "$leaf" >/dev/null
rc=$?
set -e
[ "$rc" = 22 ] || fail "resize with a failure point exited $rc"
expect "" 0 revert -n "$base" -j "$leaf"
[ -b "$leaf" ] || fail "revert removed the journal device"
expect "40" 0 query -n "$base" -v
expect "$base is valid" 0 check -n "$base"
expect "" 0 fill -n "$base"
expect "$base is valid" 0 check -n "$base"
qread 0 1M 0x11 "$base"
qread 1M 1M 0x22 "$base"
qread 38M 2M 0 "$base"

# A lost primary footer (at the end of data, not of the device) is repaired from the
# copy at offset 0.
phys=$("$util" query -n "$base" -s)
dd if=/dev/zero of="$base" bs=512 seek=$((phys / 512 - 1)) count=1 conv=notrunc status=none
expect "" 0 repair -n "$base"
expect "$base is valid" 0 check -n "$base"
expect "hidden: 0" 0 query -n "$base" -f
expect "" 0 set -n "$base" -f hidden -v 1
expect "hidden: 1" 0 query -n "$base" -f
[ "$(blockdev --getsize64 "$base")" = "$size" ] || fail "the device changed size"

# A fixed image keeps its footer in the device's last sector; a dynamic one made over
# it afterwards is not mistaken for it.
expect "" 0 create -n "$leaf" -s 8 -r
expect "8
$size" 0 query -n "$leaf" -v -s
cutil write "$leaf" 8 0x33 8
qread 4096 4096 0x33 "$leaf"
expect "" 0 create -n "$leaf" -s 8
expect "8
3584" 0 query -n "$leaf" -v -s
expect "vhd=$(basename "$base") capacity=41943040 size=0 hidden=1 parent=none
vhd=$(basename "$leaf") capacity=8388608 size=0 hidden=0 parent=none" 0 \
    scan -m "$base" "$leaf"

# The C library: vhd_create, vhd_snapshot, vhd_open (is_block), sizes, data.
cc -Wall -Wextra -Werror -Iinclude -o "$d/capi" tests/blockdev/capi.c -Lbuild/lib -lvhd -luuid
LD_LIBRARY_PATH="$root/build/lib" "$d/capi" "$base" "$leaf" || fail "the C library on devices"
expect "$leaf is valid
$base is valid" 0 check -n "$leaf" -p

# modify -p: the child on a device pointed at a parent on another device.
new_loop other 16
expect "" 0 create -n "$other" -s 8
expect "" 0 modify -n "$leaf" -p "$other"
expect "$(realpath "$other")" 0 query -n "$leaf" -p
expect "$leaf is valid
$other is valid" 0 check -n "$leaf" -p

# ---- 2. LVM -------------------------------------------------------------------------
new_loop pv1 64
new_loop pv2 16
pvcreate -q "$pv1" "$pv2" >/dev/null
vgcreate -q -s 4M "$vg" "$pv1" "$pv2" >/dev/null
# lv NAME SIZE [OPTIONS] VG [PV...]
lv() {
    lvcreate --driverloaded n -an -Zn -q -n "$1" -L "$2" "${@:3}" >/dev/null 2>&1 ||
        fail "lvcreate $*"
}
lv base 8M "$vg"                  # hidden parent
lv mid 8M "$vg"                   # differencing, parent base
lv leaf--x 4M "$vg"               # differencing, parent mid (a dash in the name)
lv solo 4M "$vg"                  # dynamic
lv raw 4M "$vg"                   # not a VHD
lv striped 8M -i2 -I64k "$vg"     # first segment not linear
lv solo2 4M "$vg" "$pv2"          # dynamic, first of two segments
lvextend --driverloaded n -q -L +4M "$vg/solo2" "$pv1" >/dev/null 2>&1

# The images, made as files named as device-mapper names the volumes, so the parent
# locators hold paths that reduce to the parents' volume names.
m=$d/mapper
mkdir "$m"
"$util" create -n "$m/$vg-base" -s 20
"$util" set -n "$m/$vg-base" -f hidden -v 1
"$util" snapshot -n "$m/$vg-mid" -p "$m/$vg-base"
cutil write "$m/$vg-mid" 0 0x44 8     # not empty, or the leaf's snapshot would skip it
"$util" snapshot -n "$m/$vg-leaf----x" -p "$m/$vg-mid"
"$util" create -n "$m/$vg-solo" -s 10
cp "$m/$vg-solo" "$m/$vg-solo2"
head -c 4M /dev/urandom >"$m/$vg-raw"
extent=$(/usr/sbin/vgs "$vg" --noheadings --nosuffix --units=b -o vg_extent_size | head -1 | tr -d ' ')
/usr/sbin/lvs "$vg" --noheadings --nosuffix --units=b -o lv_name,seg_start,devices |
while read -r name start dev; do
    [ "$start" = 0 ] && [ -f "$m/$vg-${name//-/--}" ] || continue
    pv=${dev%%(*}
    pe=${dev#*(}
    pe=${pe%%)*}
    pe_start=$(/usr/sbin/pvs "$pv" --noheadings --nosuffix --units=b -o pe_start | tr -d ' ')
    dd if="$m/$vg-${name//-/--}" of="$pv" bs=512 seek=$(((pe_start + pe * extent) / 512)) \
        conv=notrunc status=none
done

base_l="vhd=base capacity=20971520 size=8388608 hidden=1 parent=none"
mid_l="vhd=mid capacity=20971520 size=8388608 hidden=0 parent=base"
leaf_l="vhd=leaf--x capacity=20971520 size=4194304 hidden=0 parent=mid"
solo_l="vhd=solo capacity=10485760 size=4194304 hidden=0 parent=none"
raw_l="vhd=raw scan-error=-22 error-message='invalid footer'"
striped_l="vhd=striped scan-error=-38 error-message='opening file'"
solo2_l="vhd=solo2 capacity=10485760 size=8388608 hidden=0 parent=none"

# The storage manager's call (`-f`: the header's parent name), and the default (the
# locator's); both reduced to volume names.
expect "$mid_l" 0 scan -l "$vg" -m mid
expect "$mid_l" 0 scan -f -l "$vg" -m mid
expect "$base_l
$mid_l
$leaf_l
$solo_l
$raw_l" 22 scan -l "$vg" -m '*'
expect "$base_l
$mid_l
$leaf_l
$solo_l
$raw_l
$striped_l
$solo2_l" 0 scan -c -l "$vg" -m '*'
# FILE operands are patterns too; -v changes nothing for volume names.
expect "$leaf_l
$solo_l
$solo2_l" 0 scan -v -l "$vg" 'leaf*' 'solo*'
expect "$striped_l" 38 scan -l "$vg" -m striped
# -a adds the parents the group holds.
expect "$leaf_l
$mid_l
$base_l" 0 scan -a -l "$vg" -m leaf--x
expect "$leaf_l
$solo_l
$mid_l
$base_l" 0 scan -c -a -l "$vg" -m 'leaf*' solo
expect "$leaf_l
$mid_l
$base_l" 0 scan -f -a -l "$vg" -m leaf--x
# -p: hidden roots first, children indented.
expect "$raw_l
$striped_l
$base_l
   $mid_l
      $leaf_l
$solo_l
$solo2_l" 0 scan -p -c -l "$vg" -m '*'
expect "$base_l
   $mid_l
      $leaf_l" 0 scan -p -a -l "$vg" -m leaf--x
expect "$mid_l (not found in scan)" 0 scan -p -l "$vg" -m mid
# No match: silent. An unknown group: the target search fails.
expect "" 0 scan -l "$vg" -m 'nothing*'
expect "scan failed: -22" 22 scan -l "${prefix}none" -m '*'
expect "scan failed: -22" 22 scan -c -l "${prefix}none" -m '*'

# ---- 3. blktap3's lvm_scan_vg ------------------------------------------------------
# The program makes and removes its group; the trap above removes it if the program dies.
new_loop spv1 64
new_loop spv2 32
b3=(-Wall -Wextra -Werror -Iinclude/blktap3 -Ic-tests tests/blockdev/lvm_scan.c
    -Lbuild/lib-blktap3 -lvhd -luuid)
cc -o "$d/lvm_scan" "${b3[@]}"
cc -g -fsanitize=address,undefined -fno-sanitize-recover=all -o "$d/lvm_scan_san" "${b3[@]}"
LD_LIBRARY_PATH="$root/build/lib-blktap3" valgrind -q --error-exitcode=1 --leak-check=full \
    "$d/lvm_scan" "$scan_vg" "$spv1" "$spv2" || fail "lvm_scan_vg under valgrind"
LD_LIBRARY_PATH="$root/build/lib-blktap3" ASAN_OPTIONS=detect_leaks=1 \
    "$d/lvm_scan_san" "$scan_vg" "$spv1" "$spv2" || fail "lvm_scan_vg under ASan/UBSan"

# ---- 4. The storage manager on logical volumes -------------------------------------
# Its group, loop devices and /dev links are its own, removed by the test itself.
VHDRS_TEST_PREFIX=$prefix "${CARGO:-cargo}" test -q -p vhd-util --features blktap3 \
    --target-dir "${BLKTAP3_TARGET:-target/blktap3}" --test sm_replay -- --ignored ||
    fail "the storage manager's calls on logical volumes"

echo "blockdev test passed"
