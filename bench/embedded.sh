#!/usr/bin/env bash
# Measures the core on thumbv7em-none-eabihf (release, LTO, opt-level s, gc-sections):
# .text of a program linking only the read path and of one linking every operation, and
# the stack frames on the read path from -Z emit-stack-sizes. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/embedded"
rustup target add thumbv7em-none-eabihf >/dev/null 2>&1
rustup target add thumbv7em-none-eabihf --toolchain nightly >/dev/null 2>&1
rustup component add llvm-tools >/dev/null 2>&1
bin=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
cargo build -q --release
cargo build -q --release --features full --target-dir target-full
RUSTFLAGS="-C link-arg=-Tlink.x -C link-arg=--gc-sections -Z emit-stack-sizes" \
    cargo +nightly build -q --release --target-dir target-stack
text() { "$bin/llvm-size" -A "$1" | awk '$1 == ".text" {print $2}'; }
ro=$(text target/thumbv7em-none-eabihf/release/vhd-embedded-probe)
full=$(text target-full/thumbv7em-none-eabihf/release/vhd-embedded-probe)
frames=$("$bin/llvm-readobj" --demangle --stack-sizes target-stack/thumbv7em-none-eabihf/release/vhd-embedded-probe |
    python3 -c '
import re, sys
name, rows = None, []
for line in sys.stdin:
    m = re.search(r"Functions: \[(.*)\]", line)
    if m:
        n = m.group(1)
        for _ in range(4):
            n = re.sub(r"::<[^<>]*>", "", n)
        name = re.sub(r" as [^>]*>", ">", n).replace("<", "").replace(">", "")
    m = re.search(r"Size: (0x[0-9A-Fa-f]+)", line)
    if m and name:
        rows.append((int(m.group(1), 16), name.replace(" ", "")))
        name = None
for size, n in sorted(rows, reverse=True):
    print(n, size)
')
cat <<MD
## Embedded (thumbv7em-none-eabihf, release, opt-level "s", LTO)

Measured by \`bench/embedded.sh\` on programs in \`bench/embedded/\` that link the core
against an in-memory image (\`MemIo\`).

| build | .text bytes |
|---|---:|
| read-only path (open + read) | $ro |
| every operation (create, open, read, write, read_chain, coalesce, grow, check) | $full |

Stack frames on the read path (\`-Z emit-stack-sizes\`, bytes; open runs its steps one after
another, so its worst case is its deepest single step plus the caller's frame):

| function | frame |
|---|---:|
MD
echo "$frames" | grep -v '^reset ' | grep -v '^core::' | head -12 | awk '{printf "| `%s` | %s |\n", $1, $2}'
f() { echo "$frames" | awk -v n="$1" '$1 ~ n {print $2; exit}'; }
rw=$(f 'read_within$'); lb=$(f 'load_bitmap$'); ra=$(f 'MemIo.*read_at$')
echo
echo "Worst-case stack of a read on an open disk, below the caller: read_within ($rw) +"
echo "load_bitmap ($lb) + the I/O callback (MemIo::read_at, $ra) = $((rw + lb + ra)) bytes; each"
echo "level of a differencing chain adds one read_within frame ($rw bytes)."
echo
echo "\`reset\` (the probe's own frame, $(echo "$frames" | awk '$1 == "reset" {print $2}') bytes) holds the 16 KiB image and the caller's buffers."
# The same core on a board model: the program in bench/embedded-run/ (see
# bench/embedded-run.sh) measures the stack each step really used.
if command -v qemu-system-arm >/dev/null 2>&1; then
    run=$(../embedded-run.sh 2>&1 | grep "stack below the caller")
    num() { echo "$run" | sed -n "s/.* $1 \([0-9]*\) B.*/\1/p"; }
    budget=$(echo "$run" | sed -n 's/.*(budget \([0-9]*\) B).*/\1/p')
    cat <<MD

### Stack measured on a Cortex-M4F board model

\`make embedded-run\` (in \`make check\`) runs \`bench/embedded-run/\` under
\`qemu-system-arm -M mps2-an386\`: it opens a differencing chain held in its flash image
(dynamic parent read in place from flash, child copied to RAM), reads all 2,048 sectors
through the chain, writes into a block the child holds, one only the parent holds and one
neither holds, verifies every sector, and reports the high-water mark of painted stack
below each step's caller (the figure includes the harness's call frame, so it bounds the
core from above). It fails above a budget of $budget bytes per step.

| step | stack below the caller (bytes) |
|---|---:|
| open (\`Disk::open_in\`, worst of the read-only parent and the writable child) | $(num open) |
| read (\`read_chain\` over the chain of two, worst of 512 reads) | $(num read) |
| write (\`Disk::write\`, worst of three, two of which allocate a block) | $(num write) |
MD
fi

