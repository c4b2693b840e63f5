"""What the fault tests share: running vhd-util and the C client (`vhdio`), the
checks after a fault, and the C writer's read-back rule."""
import os
import subprocess

SECTOR = 512


class Failure(Exception):
    pass


class Env:
    def __init__(self, util, vhdio, libdir):
        self.util = util
        self.vhdio = vhdio
        self.env = dict(os.environ, LD_LIBRARY_PATH=libdir, TZ="UTC")
        self.repaired = 0

    def vhd(self, cwd, *args):
        p = subprocess.run([self.util, *args], cwd=cwd, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if b"panicked" in p.stderr:
            raise Failure(f"vhd-util {' '.join(args)} panicked: {p.stderr[-300:]!r}")
        return p

    def ok(self, cwd, *args):
        p = self.vhd(cwd, *args)
        if p.returncode != 0:
            raise Failure(f"vhd-util {' '.join(args)}: exit {p.returncode}: "
                          f"{(p.stdout + p.stderr)[-300:]!r}")
        return p.stdout

    def io(self, cwd, *args):
        p = subprocess.run([self.vhdio, *args], cwd=cwd, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise Failure(f"vhdio {' '.join(args)}: exit {p.returncode}: {p.stderr[-300:]!r}")
        return p.stdout

    def cat(self, cwd, name):
        return self.io(cwd, "cat", name)

    def check(self, cwd, name, parents=False):
        """`check` must pass. What it may report after a kill is a two-write update cut
        in the middle, which no order of the two writes avoids and which the format
        defines as recoverable: the footer copy at offset 0 differing from the end footer
        or not there yet, or a batmap sector written without its header's checksum.
        The documented recovery, any read-write open such as `vhd-util repair`, rewrites
        the copy from the end footer and rebuilds the batmap from the bitmaps (readers
        ignore an invalid batmap meanwhile); then `check` must pass."""
        args = ["check", "-n", name, *(["-p"] if parents else [])]
        p = self.vhd(cwd, *args)
        recoverable = (b"primary and backup footers do not match", b"backup footer invalid",
                       b"error reading batmap: -22")
        if p.returncode != 0 and p.stdout.startswith(recoverable):
            self.ok(cwd, "repair", "-n", name)
            self.repaired += 1
            p = self.vhd(cwd, *args)
        if p.returncode != 0:
            raise Failure(f"vhd-util {' '.join(args)}: exit {p.returncode}: {p.stdout[:300]!r}")


def old_or_new(got, old, new, what):
    """Every sector of `got` equals the same sector of `old` or of `new`."""
    if got == old or got == new:
        return
    if len(got) not in (len(old), len(new)):
        raise Failure(f"{what}: {len(got)} bytes, old {len(old)}, new {len(new)}")
    for i in range(0, len(got), SECTOR):
        s = got[i:i + SECTOR]
        if s != old[i:i + SECTOR] and s != new[i:i + SECTOR]:
            raise Failure(f"{what}: sector {i // SECTOR} is neither old nor new")



def writer_readback(got, log):
    """Checks the image content `got` against the C writer's log: every sector holds its
    last acknowledged write, or the write in flight when the writer stopped, or zeros
    if none was acknowledged. Returns how many writes were acknowledged."""
    secs = len(got) // SECTOR
    # Tags grow, so a sector's last acknowledged write is the highest covering it;
    # at most the last begun write can be in flight (begun, not acknowledged).
    acked = [0] * secs
    begun = {}
    done = set()
    with open(log) as f:
        for line in f:
            p = line.split()
            if len(p) == 4 and p[0] == "b":
                begun[int(p[1])] = (int(p[2]), int(p[3]))
            elif len(p) == 2 and p[0] == "a":
                t = int(p[1])
                done.add(t)
                s, n = begun[t]
                for i in range(s, s + n):
                    acked[i] = t
    last = max(begun) if begun else 0
    fly = begun[last] if last and last not in done else (0, 0)
    zero = bytes(SECTOR)
    for i in range(secs):
        s = got[i * SECTOR:(i + 1) * SECTOR]
        allowed = {acked[i]}
        if fly[0] <= i < fly[0] + fly[1]:
            allowed.add(last)
        if s == zero:
            tag = 0
        else:
            tag = int.from_bytes(s[:8], "little")
            body = bytes([tag & 0xff]) * (SECTOR - 16)
            if int.from_bytes(s[8:16], "little") != i or s[16:] != body:
                raise Failure(f"sector {i} holds a damaged stamp")
        if tag not in allowed:
            raise Failure(f"sector {i} holds write {tag}, want one of {sorted(allowed)}")
    return len(done)


def common_args(ap):
    """The arguments every fault script takes: the binaries under test."""
    ap.add_argument("--util", required=True, help="vhd-util")
    ap.add_argument("--vhdio", required=True, help="the C client (tests/faults/vhdio.c)")
    ap.add_argument("--libdir", required=True, help="where libvhd.so is")


def env_of(a):
    return Env(os.path.abspath(a.util), os.path.abspath(a.vhdio), os.path.abspath(a.libdir))
