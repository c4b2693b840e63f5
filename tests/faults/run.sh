#!/usr/bin/env bash
# The fault tests (issue 17): vhd-util and a C client of libvhd killed with SIGKILL,
# a file system that fills up (a tmpfs, then a loop-mounted ext4), readers beside a
# writer. Needs root (mount, losetup, dropping to nobody). KILL_ITERATIONS per
# operation (default 6), KILL_SEED to replay, FAULT_SECONDS for the concurrent run
# (default 4), KILL_OPS to kill only some operations (comma-separated, e.g. modify-p).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
[ "$(id -u)" -eq 0 ] || { echo "tests/faults/run.sh: needs root (mount, setpriv)" >&2; exit 1; }
d=$(mktemp -d "$root/target/faults.XXXXXX")
chmod 755 "$d"
mnt="$d/mnt"
ext4="$d/mnt-ext4"
# enospc.py unmounts and detaches what it made; this is for when it is killed. A
# vhd-util it started may still be working in the mount for a moment: retry, then
# detach lazily rather than leave the mount behind.
unmount() {
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        mountpoint -q "$1" 2>/dev/null || return 0
        umount "$1" 2>/dev/null && return 0
        sleep 0.5
    done
    umount -l "$1"
}
cleanup() {
    for m in "$mnt" "$ext4"; do unmount "$m"; done
    if [ -e "$ext4.ext4" ]; then
        losetup -l -n -O NAME -j "$ext4.ext4" | xargs -r -n1 losetup -d
    fi
    rm -rf "$d"
}
trap cleanup EXIT
cc -Wall -Wextra -Werror -Iinclude -o "$d/vhdio" tests/faults/vhdio.c -Lbuild/lib -lvhd -luuid
common=(--util "$root/target/release/vhd-util" --vhdio "$d/vhdio" --libdir "$root/build/lib")
# blktap3's vhd-util (make util-blktap3) for enospc.py's `set -f hidden` scenarios.
util3=(--util3 "${VHD_UTIL_BLKTAP3:-$root/target/blktap3/release/vhd-util}")
seed=()
[ -n "${KILL_SEED:-}" ] && seed=(--seed "$KILL_SEED")
[ -n "${KILL_OPS:-}" ] && seed+=(--ops "$KILL_OPS")
python3 tests/faults/kill.py "${common[@]}" --dir "$d/kill" \
    --iterations "${KILL_ITERATIONS:-6}" "${seed[@]}"
python3 tests/faults/enospc.py "${common[@]}" "${util3[@]}" --fs tmpfs --mnt "$mnt"
# ext4 keeps metadata of its own (extents, a journal) that a full disk also stops.
python3 tests/faults/enospc.py "${common[@]}" "${util3[@]}" --fs ext4 --mnt "$ext4" --size-mib 64
python3 tests/faults/concurrent.py "${common[@]}" --dir "$d/concurrent" \
    --seconds "${FAULT_SECONDS:-4}"
