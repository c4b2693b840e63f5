#!/usr/bin/env python3
"""Concurrent readers: while the C writer allocates blocks in an image through
vhd_io_write, loops of `vhd-util query`, `scan`, `read -p` and `check` run on the same
file as an unprivileged user (nobody) who cannot write it, so any attempt to open it
for writing would fail the run. No reader may die by a signal, panic, or exit with
anything but 0 or a refusal listed in ALLOWED (what a reader may see between the
writes of one allocation); after the writer stops, `check` passes and every
acknowledged write reads back. Needs root (to drop to nobody).
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from harness import common_args, env_of, Failure, writer_readback

# What a reader may report while a write is under way: (subcommand, exit, start of the
# first line). A reader's view is not a snapshot: check reads the file size, the BAT
# and the batmap at different moments, so an allocation that lands between them shows
# as a block past the end it saw, or a batmap bit without its BAT entry; and between
# the batmap sector and its header the map fails its checksum. It also reads the
# primary footer at the end it measured a moment before, as the reference does: if a
# block was placed there in between (the new footer already written further on), that
# sector now holds the block's gap or bitmap. query, scan and read -p open through
# libvhd, which falls back to the copy at 0, and must always succeed.
ALLOWED = (
    ("check", 22, "primary footer invalid: invalid cookie"),
    ("check", 22, "error reading batmap"),
    ("check", 22, "batmap shows unallocated block"),
    ("check", 22, "block "),  # "block N (offset X) clobbers footer"
)


def allowed(name, code, first):
    return any(name == n and code == c and first.startswith(f) for n, c, f in ALLOWED)


READERS = {
    "query": ["query", "-n", "w.vhd", "-v", "-s", "-p", "-f", "-d"],
    "scan": ["scan", "-m", "*.vhd", "-p"],
    "read": ["read", "-p", "-n", "w.vhd"],
    "check": ["check", "-n", "w.vhd"],
}


def reader(e, d, name, args, stop, seen, errors):
    drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    while not stop.is_set():
        p = subprocess.run(drop + [e.util, *args], cwd=d, env=e.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = p.stdout.split(b"\n", 1)[0].decode(errors="replace")
        # Messages name blocks and offsets; count them by kind.
        kind = re.sub(r"0x[0-9a-f]+|-?[0-9]+", "N", first) if p.returncode else ""
        key = (name, p.returncode, kind)
        seen[key] += 1
        if p.returncode < 0 or b"panicked" in p.stderr:
            errors.append(f"{name}: died: {p.returncode} {p.stderr[-200:]!r}")
        elif p.returncode != 0 and not allowed(name, p.returncode, first):
            errors.append(f"{name}: exit {p.returncode}: {first!r} "
                          f"{p.stderr.decode(errors='replace')[-200:]!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(ap)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    e = env_of(a)
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    os.chmod(a.dir, 0o755)
    d = a.dir
    e.ok(d, "create", "-n", "w.vhd", "-s", "2048")
    os.chmod(os.path.join(d, "w.vhd"), 0o644)
    stop = threading.Event()
    seen = collections.Counter()
    errors = []
    threads = [threading.Thread(target=reader, args=(e, d, n, args, stop, seen, errors))
               for n, args in READERS.items()]
    writer = subprocess.Popen([e.vhdio, "writer", "w.vhd", str(a.seed), "w.log"], cwd=d,
                              env=e.env, stderr=subprocess.PIPE)
    for t in threads:
        t.start()
    time.sleep(a.seconds)
    writer.terminate()
    _, werr = writer.communicate()
    stop.set()
    for t in threads:
        t.join()
    try:
        if writer.returncode not in (0, -15):
            raise Failure(f"the writer failed: {writer.returncode} {werr[-200:]!r}")
        e.check(d, "w.vhd")
        acked = writer_readback(e.cat(d, "w.vhd"), os.path.join(d, "w.log"))
    except Failure as err:
        errors.append(str(err))
        acked = 0
    for (name, code, first), n in sorted(seen.items()):
        print(f"  {name:6} exit {code:3} x{n:5} {first}")
    runs = sum(seen.values())
    print(f"concurrent readers: {runs} reader runs over {a.seconds:.0f} s beside "
          f"{acked} acknowledged writes; {len(errors)} failures")
    for err in errors[:20]:
        print(f"  FAILED: {err}")
    if not errors:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
