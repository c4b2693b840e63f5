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
