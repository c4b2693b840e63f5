#!/usr/bin/env bash
# The fault tests (issue 17): vhd-util and a C client of libvhd killed with SIGKILL,
# a file system that fills up, readers beside a writer. Needs root (tmpfs mount,
# dropping to nobody). KILL_ITERATIONS per operation (default 6), KILL_SEED to replay,
# FAULT_SECONDS for the concurrent run (default 4), KILL_OPS to kill only some
# operations (comma-separated, e.g. modify-p).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
[ "$(id -u)" -eq 0 ] || { echo "tests/faults/run.sh: needs root (mount, setpriv)" >&2; exit 1; }
d=$(mktemp -d "$root/target/faults.XXXXXX")
chmod 755 "$d"
mnt="$d/mnt"
cleanup() {
    if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt"; fi
    rm -rf "$d"
}
trap cleanup EXIT
cc -Wall -Wextra -Werror -Iinclude -o "$d/vhdio" tests/faults/vhdio.c -Lbuild/lib -lvhd -luuid
common=(--util "$root/target/release/vhd-util" --vhdio "$d/vhdio" --libdir "$root/build/lib")
seed=()
[ -n "${KILL_SEED:-}" ] && seed=(--seed "$KILL_SEED")
[ -n "${KILL_OPS:-}" ] && seed+=(--ops "$KILL_OPS")
python3 tests/faults/kill.py "${common[@]}" --dir "$d/kill" \
    --iterations "${KILL_ITERATIONS:-6}" "${seed[@]}"
python3 tests/faults/enospc.py "${common[@]}" --mnt "$mnt"
python3 tests/faults/concurrent.py "${common[@]}" --dir "$d/concurrent" \
    --seconds "${FAULT_SECONDS:-4}"
