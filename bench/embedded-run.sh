#!/usr/bin/env bash
# Runs the core on a Cortex-M4F board model (QEMU's mps2-an386): the program in
# bench/embedded-run/ opens a differencing chain held in its flash image, reads and
# writes through it, verifies every sector and prints the stack each step used below
# its caller. Exits non-zero if the program fails or goes over its stack budget.
set -euo pipefail
cd "$(dirname "$0")/embedded-run"
cargo build -q --release
elf=target/thumbv7em-none-eabihf/release/vhd-embedded-run
timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$elf"
