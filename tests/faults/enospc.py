#!/usr/bin/env python3
"""Full disk, for real: a small file system (`--fs tmpfs`: a tmpfs with a size limit;
`--fs ext4`: an ext4 made with mkfs.ext4 in a file and loop-mounted) filled to a few KiB
or MiB of its brim with a filler file, then create, snapshot, fill, coalesce, resize -j
and a C client's allocating writes until the file system says ENOSPC. Each must fail
with exit 28 (-ENOSPC) and leave every image passing `check` with its data intact (old
or new per sector, the C writer's acknowledged writes readable); with the filler removed
the same operation must then succeed. `set -f hidden`, which rewrites footers in place,
must succeed on the full file system in both flavours (`--util3`: blktap3's vhd-util),
and blktap3's fallback, where the footer cannot go to the end of data, is exercised. Needs root (mount, losetup); unmounts and detaches
the loop device on every exit (run.sh's trap does too, should this process be killed).
"""
import argparse
import contextlib
import errno
import os
import shutil
import subprocess
import sys

from harness import common_args, env_of, Env, Failure, old_or_new, SECTOR, writer_readback

MIB = 1 << 20


def avail(mnt):
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


def leave_free(mnt, free):
    """Grows the filler file until about `free` bytes of the file system are left. On
    ext4 the filler's own extent blocks take space too, so a reservation that does not
    fit is retried smaller until it does, and the rest is topped up."""
    path = os.path.join(mnt, "filler")
    with open(path, "ab") as f:
        for _ in range(64):
            have = os.fstat(f.fileno()).st_size
            grow = avail(mnt) - free
            if grow <= 0:
                break
            while grow > 0:
                try:
                    os.posix_fallocate(f.fileno(), have, grow)
                    break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    grow -= max(grow // 8, 1024)
        os.fsync(f.fileno())


def make_room(mnt):
    os.unlink(os.path.join(mnt, "filler"))


def expect_enospc(e, d, what, *args):
    p = e.vhd(d, *args)
    out = (p.stdout + p.stderr).decode(errors="replace").strip().replace("\n", " | ")
    print(f"  {what}: exit {p.returncode}, output [{out}]", flush=True)
    if p.returncode != 28:
        raise Failure(f"{what}: exit {p.returncode}, want 28 (ENOSPC): {out}")


def scenario_create(e, mnt, d, free):
    leave_free(mnt, free)
    expect_enospc(e, d, "create", "create", "-n", "new.vhd", "-s", "8192")
    if os.path.exists(os.path.join(d, "new.vhd")):
        raise Failure("a failed create left its file")
    make_room(mnt)
    e.ok(d, "create", "-n", "new.vhd", "-s", "8192")
    e.check(d, "new.vhd")
    return 1


def base(e, d):
    e.ok(d, "create", "-n", "p.vhd", "-s", "32")
    e.io(d, "pattern", "p.vhd", "1", "40")


def chain(e, d):
    base(e, d)
    e.ok(d, "snapshot", "-n", "c.vhd", "-p", "p.vhd")
    e.io(d, "pattern", "c.vhd", "2", "40")


def scenario_snapshot(e, mnt, d, free):
    base(e, d)
    before = e.cat(d, "p.vhd")
    leave_free(mnt, free)
    expect_enospc(e, d, "snapshot", "snapshot", "-n", "s.vhd", "-p", "p.vhd")
    if os.path.exists(os.path.join(d, "s.vhd")):
        raise Failure("a failed snapshot left its file")
    e.check(d, "p.vhd")
    if e.cat(d, "p.vhd") != before:
        raise Failure("the parent changed")
    make_room(mnt)
    e.ok(d, "snapshot", "-n", "s.vhd", "-p", "p.vhd")
    e.check(d, "s.vhd", parents=True)
    return 2


def scenario_fill(e, mnt, d, free):
    chain(e, d)
    before = e.cat(d, "c.vhd")
    leave_free(mnt, free)
    expect_enospc(e, d, "fill", "fill", "-n", "c.vhd")
    e.check(d, "c.vhd", parents=True)
    if e.cat(d, "c.vhd") != before:
        raise Failure("a failed fill changed what the disk reads")
    make_room(mnt)
    e.ok(d, "fill", "-n", "c.vhd")
    e.check(d, "c.vhd", parents=True)
    if e.cat(d, "c.vhd") != before:
        raise Failure("fill changed what the disk reads")
    return 2


def scenario_coalesce(e, mnt, d, free):
    chain(e, d)
    old, new = e.cat(d, "p.vhd"), e.cat(d, "c.vhd")
    leave_free(mnt, free)
    expect_enospc(e, d, "coalesce", "coalesce", "-n", "c.vhd")
    e.check(d, "c.vhd", parents=True)
    old_or_new(e.cat(d, "p.vhd"), old, new, "parent after a failed coalesce")
    if e.cat(d, "c.vhd") != new:
        raise Failure("the child changed")
    make_room(mnt)
    e.ok(d, "coalesce", "-n", "c.vhd")
    e.check(d, "p.vhd")
    if e.cat(d, "p.vhd") != new:
        raise Failure("the parent does not read as the child did")
    return 2


def scenario_resize(e, mnt, d, free):
    base(e, d)
    old = e.cat(d, "p.vhd")
    leave_free(mnt, free)
    expect_enospc(e, d, "resize -j", "resize", "-n", "p.vhd", "-s", "64", "-j", "p.journal")
    if os.path.exists(os.path.join(d, "p.journal")):
        r = e.vhd(d, "revert", "-n", "p.vhd", "-j", "p.journal")
        print(f"  resize -j: journal left; revert exit {r.returncode}", flush=True)
        if r.returncode != 0:
            os.unlink(os.path.join(d, "p.journal"))
    e.check(d, "p.vhd")
    if e.cat(d, "p.vhd") != old:
        raise Failure("a failed resize changed the data")
    make_room(mnt)
    e.ok(d, "resize", "-n", "p.vhd", "-s", "64", "-j", "p.journal")
    e.check(d, "p.vhd")
    got = e.cat(d, "p.vhd")
    if got[:len(old)] != old or got[len(old):] != bytes(len(got) - len(old)):
        raise Failure("the resized disk does not read as before, then zeros")
    return 1


def scenario_writer(e, mnt, d, free):
    e.ok(d, "create", "-n", "w.vhd", "-s", "256")
    leave_free(mnt, free)
    # The log lives off the full file system, so that logging never fails.
    log = os.path.join(os.path.dirname(os.path.abspath(mnt)), "enospc-writer.log")
    p = subprocess.run([e.vhdio, "writer", "w.vhd", "7", log], cwd=d, env=e.env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errs = [line for line in open(log) if line.startswith("e ")]
    print(f"  C writer: exit {p.returncode}, {errs[-1].strip() if errs else 'no error'}, "
          f"{p.stderr.decode(errors='replace').strip()}", flush=True)
    if p.returncode != 1 or errs != ["e -28\n"]:
        raise Failure(f"the C writer did not stop with -28: {errs}")
    e.check(d, "w.vhd")
    acked = writer_readback(e.cat(d, "w.vhd"), log)
    os.unlink(log)
    print(f"  C writer: {acked} acknowledged writes read back", flush=True)
    make_room(mnt)
    e.io(d, "pattern", "w.vhd", "9", "200")
    e.check(d, "w.vhd")
    return 1


def set_hidden(e, d, name, value):
    p = e.vhd(d, "set", "-n", name, "-f", "hidden", "-v", str(value))
    out = (p.stdout + p.stderr).decode(errors="replace").strip().replace("\n", " | ")
    return p.returncode, out


def expect_hidden(e, d, name, value):
    got = e.ok(d, "query", "-f", "-n", name).decode()
    if got != f"hidden: {value}\n":
        raise Failure(f"{name}: query -f says {got!r}, want hidden: {value}")


def scenario_set_hidden(e, mnt, d, free):
    """Both flavours rewrite the two footers where they are: no space needed."""
    chain(e, d)
    before = {n: e.cat(d, n) for n in ("p.vhd", "c.vhd")}
    leave_free(mnt, free)
    if avail(mnt) >= 4 * K:
        raise Failure(f"the file system is not full: {avail(mnt)} bytes free")
    flavours = [("blktap2", e)] + ([("blktap3", e.blktap3)] if e.blktap3 else [])
    for flavour, f in flavours:
        for value in (1, 0):
            for name in ("p.vhd", "c.vhd"):
                code, out = set_hidden(f, d, name, value)
                print(f"  {flavour} set -f hidden -v {value} -n {name}: exit {code} [{out}]",
                      flush=True)
                if code != 0:
                    raise Failure(f"{flavour} set -f hidden -v {value} -n {name} on a full "
                                  f"disk: exit {code}: {out}")
                expect_hidden(f, d, name, value)
                f.check(d, name, parents=name == "c.vhd")
    for n, data in before.items():
        if e.cat(d, n) != data:
            raise Failure(f"{n}: set -f hidden changed the data")
    return 4 * len(flavours)


def scenario_set_hidden_fallback(e, mnt, d, free):
    """A last block cut short by the end of the file puts blktap3's footer (at the end
    of data) past the end: on a full disk that write fails. For a value other than 0
    blktap3 then writes the copy at 0 alone and exits with its status (0); for 0 it
    exits 28. The footer rewritten in place holds the flag either way."""
    if not e.blktap3:
        print("  no --util3: skipped", flush=True)
        return 0
    e3 = e.blktap3
    base(e, d)
    path = os.path.join(d, "p.vhd")
    with open(path, "r+b") as f:
        data = f.read()
        cut = len(data) - SECTOR - 16 * SECTOR
        f.truncate(cut)
        f.seek(cut)
        f.write(data[-SECTOR:])
    size = os.path.getsize(path)
    leave_free(mnt, free)
    code, out = set_hidden(e3, d, "p.vhd", 0)
    print(f"  blktap3 set -f hidden -v 0, footer past the end: exit {code} [{out}]", flush=True)
    if code != 28:
        raise Failure(f"set -f hidden -v 0 with no room for the footer: exit {code}, want 28")
    code, out = set_hidden(e3, d, "p.vhd", 1)
    print(f"  blktap3 set -f hidden -v 1, footer past the end: exit {code} [{out}]", flush=True)
    if code != 0:
        raise Failure(f"set -f hidden -v 1 with no room for the footer: exit {code}, want 0")
    expect_hidden(e3, d, "p.vhd", 1)
    with open(path, "rb") as f:
        got = f.read()
    # Byte 85 of a footer: the hidden flag; both copies carry it, nothing was added.
    if len(got) != size or got[85] != 1 or got[-SECTOR + 85] != 1:
        raise Failure(f"after the fallback: size {len(got)} (was {size}), hidden flags "
                      f"{got[85]} at 0 and {got[-SECTOR + 85]} at the end, want 1 and 1")
    make_room(mnt)
    e3.ok(d, "set", "-n", "p.vhd", "-f", "hidden", "-v", "0")
    expect_hidden(e3, d, "p.vhd", 0)
    e3.check(d, "p.vhd")
    return 1


# Each scenario at several distances from the brim (bytes left free; tmpfs counts whole
# 4 KiB pages, the ext4 here 1 KiB blocks), so that ENOSPC strikes different writes of
# an operation: the first one, the new end footer, the data, the bitmap, a later block.
K = 1 << 10
SCENARIOS = [
    (scenario_create, [0, 4 * K, 8 * K]),
    (scenario_snapshot, [0, 4 * K]),
    (scenario_fill, [0, 4 * K, 8 * K, 12 * K, 16 * K, 64 * K, MIB, 3 * MIB]),
    (scenario_coalesce, [0, 4 * K, 8 * K, 12 * K, 16 * K, 64 * K, 512 * K]),
    (scenario_resize, [0, 4 * K]),
    (scenario_writer, [0, 4 * K, 8 * K, 12 * K, 16 * K, 64 * K, 512 * K]),
    (scenario_set_hidden, [0]),
    (scenario_set_hidden_fallback, [0]),
]


@contextlib.contextmanager
def mounted(fs, mnt, size_mib):
    """`fs` mounted on `mnt` for the body; unmounted (and for ext4 the loop device
    detached and its backing file, beside the mount point, removed) however it ends."""
    if fs == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "vhd-enospc", mnt],
                       check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", mnt], check=False)
        return
    backing = mnt.rstrip("/") + ".ext4"
    with open(backing, "wb") as f:
        f.truncate(size_mib << 20)
    # -m 0: no blocks reserved for root, who runs this, so that the free space statvfs
    # reports is all there is.
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", backing], check=True)
    loop = subprocess.run(["losetup", "-f", "--show", backing], check=True,
                          stdout=subprocess.PIPE).stdout.decode().strip()
    try:
        subprocess.run(["mount", "-t", "ext4", loop, mnt], check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", mnt], check=False)
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
        os.unlink(backing)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(ap)
    ap.add_argument("--mnt", required=True, help="empty directory to mount the file system on")
    ap.add_argument("--fs", choices=("tmpfs", "ext4"), default="tmpfs")
    # Room for the largest scenario once the filler goes: `fill` of a 32 MiB disk.
    ap.add_argument("--size-mib", type=int, default=48)
    ap.add_argument("--util3", help="blktap3's vhd-util, for the set -f hidden scenarios")
    ap.add_argument("--only", help="run only these scenarios (comma-separated, e.g. set_hidden)")
    a = ap.parse_args()
    e = env_of(a)
    e.blktap3 = None
    if a.util3:
        e.blktap3 = Env(os.path.abspath(a.util3), e.vhdio, os.path.abspath(a.libdir))
    os.makedirs(a.mnt, exist_ok=True)
    failures = checked = runs = 0
    with mounted(a.fs, a.mnt, a.size_mib):
        print(f"full disk on {a.fs} ({a.size_mib} MiB)", flush=True)
        only = set(a.only.split(",")) if a.only else None
        for s, levels in SCENARIOS:
            if only is not None and s.__name__.removeprefix("scenario_") not in only:
                continue
            for free in levels:
                d = os.path.join(a.mnt, s.__name__)
                os.makedirs(d)
                what = f"{s.__name__} with {free // K} KiB free"
                runs += 1
                try:
                    checked += s(e, a.mnt, d, free)
                    print(f"{what}: ok", flush=True)
                except Failure as err:
                    failures += 1
                    print(f"{what}: FAILED: {err}", flush=True)
                filler = os.path.join(a.mnt, "filler")
                if os.path.exists(filler):
                    os.unlink(filler)
                shutil.rmtree(d)
    print(f"full disk on {a.fs}: {runs} runs, {checked} images checked, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
