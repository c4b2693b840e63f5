#!/usr/bin/env python3
"""Kill tests: real vhd-util processes and a C client of libvhd, SIGKILLed at random
moments, then the images are checked.

Each operation runs to completion three times first (the shortest duration and the
final content are what the kills are measured against); then every iteration copies
fresh images, starts the operation, kills it after a random delay in [0, 1.1 x that
duration] and checks:
  - the image and its parents pass `vhd-util check` (`-p` for a differencing disk),
    after `revert` where a resize journal was left (and after `repair` where check
    found a footer copy or batmap cut between its two writes: harness.Env.check);
  - every sector reads the operation's old or new content, nothing else;
  - for the C writer, every write acknowledged before the kill reads back.
Iterations are seeded from --seed, the operation and the iteration number, and every
one is logged with its delay, so a failure replays with
    kill.py --seed S --ops OP --only N
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

from harness import common_args, env_of, Failure, old_or_new, writer_readback


# ---- operations: setup (once, in a template directory), command, verification ----

def make_base(e, d, name="p.vhd", seed=1, mib=32):
    e.ok(d, "create", "-n", name, "-s", str(mib))
    e.io(d, "pattern", name, str(seed), "60")


def make_chain(e, d):
    make_base(e, d)
    e.ok(d, "snapshot", "-n", "c.vhd", "-p", "p.vhd")
    e.io(d, "pattern", "c.vhd", "2", "60")


class Op:
    """One operation under test. `before` is what reads saw before it ran, `after` what
    they see after a complete run (both filled in by `calibrate`)."""
    files = ()

    def __init__(self, e):
        self.e = e
        self.before = {}
        self.after = {}

    def cmd(self, d, seed):
        raise NotImplementedError

    def contents(self, d):
        return {n: self.e.cat(d, n) for n in self.files}

    def verify(self, d, killed, seed):
        raise NotImplementedError


class Coalesce(Op):
    files = ("p.vhd", "c.vhd")

    def setup(self, d):
        make_chain(self.e, d)

    def cmd(self, d, seed):
        return [self.e.util, "coalesce", "-n", "c.vhd"]

    def verify(self, d, killed, seed):
        self.e.check(d, "c.vhd", parents=True)
        got = self.e.cat(d, "p.vhd")
        old_or_new(got, self.before["p.vhd"], self.after["p.vhd"], "parent")
        if self.e.cat(d, "c.vhd") != self.before["c.vhd"]:
            raise Failure("the child no longer reads as before")


class Fill(Op):
    files = ("c.vhd",)

    def setup(self, d):
        make_chain(self.e, d)

    def cmd(self, d, seed):
        return [self.e.util, "fill", "-n", "c.vhd"]

    def verify(self, d, killed, seed):
        self.e.check(d, "c.vhd", parents=True)
        if self.e.cat(d, "c.vhd") != self.before["c.vhd"]:
            raise Failure("fill changed what the disk reads")


class Resize(Op):
    files = ("p.vhd",)

    def setup(self, d):
        make_base(self.e, d)

    def cmd(self, d, seed):
        return [self.e.util, "resize", "-n", "p.vhd", "-s", "64", "-j", "p.journal"]

    def verify(self, d, killed, seed):
        j = os.path.join(d, "p.journal")
        if os.path.exists(j):
            # The documented recovery: revert a journal that verifies. One that does not
            # was cut while it was being written, before the image was touched.
            r = self.e.vhd(d, "revert", "-n", "p.vhd", "-j", "p.journal")
            if r.returncode != 0:
                os.unlink(j)
        self.e.check(d, "p.vhd")
        got = self.e.cat(d, "p.vhd")
        old_or_new(got, self.before["p.vhd"], self.after["p.vhd"], "resized image")


class Snapshot(Op):
    files = ("p.vhd",)

    def setup(self, d):
        make_base(self.e, d)

    def cmd(self, d, seed):
        return [self.e.util, "snapshot", "-n", "s.vhd", "-p", "p.vhd"]

    def verify(self, d, killed, seed):
        self.e.check(d, "p.vhd")
        if self.e.cat(d, "p.vhd") != self.before["p.vhd"]:
            raise Failure("snapshot changed its parent")
        s = os.path.join(d, "s.vhd")
        if os.path.exists(s):
            # A snapshot cut before its end footer is not a VHD (refused at open); a
            # complete one must check and read as its parent.
            if self.e.vhd(d, "query", "-n", "s.vhd", "-v").returncode == 0:
                self.e.check(d, "s.vhd", parents=True)
                if self.e.cat(d, "s.vhd") != self.before["p.vhd"]:
                    raise Failure("the snapshot does not read as its parent")
            else:
                os.unlink(s)
        # The operation can always be run again.
        if not os.path.exists(s):
            self.e.ok(d, "snapshot", "-n", "s.vhd", "-p", "p.vhd")
            self.e.check(d, "s.vhd", parents=True)


class ModifyParent(Op):
    """`modify -p` runs under a journal beside the image (vhd-std's reparent): killed
    after the image was disabled, the journal is left and the image refused until it is
    reverted; otherwise the image must carry the old link or the new one, whole."""
    files = ("c.vhd",)
    journal = "c.vhd.reparent-journal"
    journaled = 0

    def setup(self, d):
        make_chain(self.e, d)
        make_base(self.e, d, "q.vhd", seed=3)

    def cmd(self, d, seed):
        return [self.e.util, "modify", "-n", "c.vhd", "-p", "q.vhd"]

    def verify(self, d, killed, seed):
        if os.path.exists(os.path.join(d, self.journal)):
            self.journaled += 1
            if seed % 2:
                # The documented recovery: revert the journal (back to the old link).
                # One that does not verify was cut before the image was disabled.
                r = self.e.vhd(d, "revert", "-n", "c.vhd", "-j", self.journal)
                if r.returncode != 0:
                    os.unlink(os.path.join(d, self.journal))
            else:
                # Or the same command again, which reverts first, then completes.
                self.e.ok(d, *self.cmd(d, seed)[1:])
        # A torn link (locators naming one parent, the header another) fails here.
        self.e.check(d, "c.vhd", parents=True)
        parent = os.path.basename(self.e.ok(d, "query", "-n", "c.vhd", "-p").strip())
        if parent not in (b"p.vhd", b"q.vhd"):
            raise Failure(f"parent is {parent!r}")
        got = self.e.cat(d, "c.vhd")
        want = self.after["c.vhd"] if parent == b"q.vhd" else self.before["c.vhd"]
        if self.after and got != want:
            raise Failure(f"the child does not read as it should through {parent!r}")
        # The operation can always be run again, and is then whole.
        self.e.ok(d, *self.cmd(d, seed)[1:])
        self.e.check(d, "c.vhd", parents=True)


class SetHidden(Op):
    files = ("p.vhd",)

    def setup(self, d):
        make_base(self.e, d)

    def cmd(self, d, seed):
        return [self.e.util, "set", "-n", "p.vhd", "-f", "hidden", "-v", "1"]

    def verify(self, d, killed, seed):
        self.e.check(d, "p.vhd")
        if self.e.cat(d, "p.vhd") != self.before["p.vhd"]:
            raise Failure("set changed the data")


class Writer(Op):
    """The C client: random allocating writes through vhd_io_write, killed mid-stream."""
    files = ("w.vhd",)
    duration = 1.0

    def setup(self, d):
        self.e.ok(d, "create", "-n", "w.vhd", "-s", "64")

    def cmd(self, d, seed):
        return [self.e.vhdio, "writer", "w.vhd", str(seed), "w.log"]

    def verify(self, d, killed, seed):
        self.e.check(d, "w.vhd")
        self.acked = writer_readback(self.e.cat(d, "w.vhd"), os.path.join(d, "w.log"))


OPS = {
    "coalesce": Coalesce,
    "resize": Resize,
    "fill": Fill,
    "snapshot": Snapshot,
    "modify-p": ModifyParent,
    "set": SetHidden,
    "writer": Writer,
}


def kill_after(cmd, cwd, env, delay):
    """Starts `cmd`, SIGKILLs it after `delay` seconds; whether it was still running."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and p.poll() is None:
        time.sleep(min(0.0005, max(0.0, deadline - time.monotonic())))
    running = p.poll() is None
    if running:
        p.send_signal(signal.SIGKILL)
    _, err = p.communicate()
    if not running and p.returncode != 0:
        raise Failure(f"{cmd} failed by itself: exit {p.returncode}: {err[-300:]!r}")
    if b"panicked" in err:
        raise Failure(f"{cmd} panicked: {err[-300:]!r}")
    return running


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(ap)
    ap.add_argument("--dir", required=True, help="scratch directory (emptied)")
    ap.add_argument("--iterations", type=int, default=10, help="per operation")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--only", type=int, default=None, help="replay one iteration")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"kill tests: seed {seed} (replay: --seed {seed} --ops OP --only N)", flush=True)
    e = env_of(a)
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    failures = 0
    rows = []
    for name in a.ops.split(","):
        op = OPS[name](e)
        tmpl = os.path.join(a.dir, name + ".template")
        os.makedirs(tmpl)
        op.setup(tmpl)
        op.before = op.contents(tmpl)
        # Three complete runs: the shortest sets the range of the kill delays (a slow
        # outlier would put most kills after the end), the last gives the new content.
        duration = op.duration if name == "writer" else float("inf")
        for _ in range(3):
            full = os.path.join(a.dir, name + ".complete")
            shutil.rmtree(full, ignore_errors=True)
            shutil.copytree(tmpl, full)
            t0 = time.monotonic()
            if name == "writer":
                kill_after(op.cmd(full, 0), full, e.env, 0.2)
            else:
                subprocess.run(op.cmd(full, 0), cwd=full, env=e.env, check=True,
                               stdout=subprocess.DEVNULL)
                duration = min(duration, time.monotonic() - t0)
        op.after = op.contents(full)
        op.verify(full, False, 0)
        shutil.rmtree(full)
        iters = [a.only] if a.only is not None else range(a.iterations)
        mid = checked = bad = 0
        e.repaired = 0
        for i in iters:
            rng = random.Random(f"{seed}-{name}-{i}")
            delay = rng.uniform(0, 1.1 * duration)
            d = os.path.join(a.dir, f"{name}.{i}")
            shutil.copytree(tmpl, d)
            it_seed = rng.randrange(1 << 32)
            try:
                running = kill_after(op.cmd(d, it_seed), d, e.env, delay)
                mid += running
                op.verify(d, running, it_seed)
                checked += len(op.files)
                extra = f" acked {op.acked}" if name == "writer" else ""
                print(f"  {name} #{i}: delay {delay * 1000:.2f} ms, "
                      f"{'killed mid-run' if running else 'had finished'}: ok{extra}",
                      flush=True)
                shutil.rmtree(d)
            except Failure as err:
                bad += 1
                failures += 1
                print(f"  {name} #{i}: delay {delay * 1000:.2f} ms: FAILED: {err}\n"
                      f"    replay: --seed {seed} --ops {name} --only {i}; kept {d}",
                      flush=True)
        shutil.rmtree(tmpl)
        rows.append((name, len(iters), mid, checked, bad, e.repaired,
                     getattr(op, "journaled", 0), duration))
    print("operation  iterations  killed-mid-run  images-checked  inconsistent  "
          "repaired-by-rw-open  reparent-journal-left  run-ms")
    for name, n, mid, checked, bad, rep, jl, dur in rows:
        print(f"{name:10} {n:10} {mid:15} {checked:15} {bad:13} {rep:21} {jl:22} "
              f"{dur * 1000:7.1f}")
    if failures == 0:
        shutil.rmtree(a.dir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
