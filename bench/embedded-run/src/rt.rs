//! The bare minimum to run on the board model: the vector table, the reset handler,
//! semihosting (output and exit status through the debugger interface QEMU emulates)
//! and stack painting. The only `unsafe` of the program is here: inline assembly for
//! semihosting and the FPU barrier, and volatile access to the unused stack below the
//! running code, which no Rust object owns.

use core::fmt::Write;

/// The reset handler and the fault handlers, after the initial stack pointer that the
/// linker script places first.
#[link_section = ".vectors"]
#[used]
static VECTORS: [extern "C" fn() -> !; 15] = [
    reset, fault, fault, fault, fault, fault, fault, fault, fault, fault, fault, fault, fault,
    fault, fault,
];

/// Coprocessor access control: full access to CP10 and CP11, the FPU.
const CPACR: usize = 0xE000_ED88;

#[no_mangle]
extern "C" fn reset() -> ! {
    // The hard-float target may use FPU registers for moves; the FPU is off at reset.
    // SAFETY: CPACR is a memory-mapped System Control Block register, always present
    // on a Cortex-M4F; setting CP10/CP11 full access has no other effect. The barriers
    // make later instructions see it.
    unsafe {
        let v = core::ptr::read_volatile(CPACR as *const u32);
        core::ptr::write_volatile(CPACR as *mut u32, v | (0xF << 20));
        core::arch::asm!("dsb", "isb", options(nostack));
    }
    let ok = crate::run();
    exit(ok)
}

extern "C" fn fault() -> ! {
    print(format_args!("embedded-run: processor fault\n"));
    exit(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    print(format_args!("embedded-run: panic: {info}\n"));
    exit(false)
}

const SYS_WRITE0: u32 = 0x04;
const SYS_EXIT: u32 = 0x18;
/// `ADP_Stopped_ApplicationExit`: QEMU exits 0.
const EXIT_SUCCESS: usize = 0x2_0026;
/// `ADP_Stopped_RunTimeErrorUnknown`: QEMU exits 1.
const EXIT_FAILURE: usize = 0x2_0023;

fn semihost(op: u32, arg: usize) {
    // SAFETY: a semihosting call: `bkpt 0xAB` with the operation in r0 and its argument
    // in r1, both valid for the operation (callers pass a NUL-terminated string that
    // outlives the call, or an exit reason); the debugger may write r0.
    unsafe {
        core::arch::asm!("bkpt 0xAB", inout("r0") op => _, in("r1") arg, options(nostack));
    }
}

/// Ends the program: QEMU exits 0 if `ok`, else 1.
pub fn exit(ok: bool) -> ! {
    semihost(SYS_EXIT, if ok { EXIT_SUCCESS } else { EXIT_FAILURE });
    // Not reached under QEMU; on a board without a debugger, wait for one.
    loop {
        // SAFETY: `wfi` only waits for an interrupt.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
}

/// A line buffer for semihosting output (NUL-terminated; long lines are cut).
struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 1 < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// Prints to the host's standard output.
pub fn print(args: core::fmt::Arguments<'_>) {
    let mut line = Line {
        buf: [0; 160],
        len: 0,
    };
    let _ = line.write_fmt(args);
    line.buf[line.len] = 0;
    semihost(SYS_WRITE0, line.buf.as_ptr() as usize);
}

/// The pattern painted on unused stack.
const PAINT: u32 = 0x5AA5_C33C;
/// Bytes painted below the measuring frame: more than any call may use.
const SPAN: usize = 64 * 1024;
/// Bytes left unpainted just below the measuring frame, for `paint`'s own frame.
const GUARD: usize = 128;

/// Paints `[from, to)` (word-aligned).
#[inline(never)]
fn paint(from: usize, to: usize) {
    let mut p = from;
    while p < to {
        // SAFETY: `[from, to)` lies below the stack pointer of the caller's caller by at
        // least GUARD bytes, more than `paint`'s frame: stack no live object uses, inside
        // RAM (the stack starts at its top, 4 MiB above its start).
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The lowest address in `[from, to)` whose word is no longer the paint.
#[inline(never)]
fn lowest_touched(from: usize, to: usize) -> usize {
    let mut p = from;
    while p < to {
        // SAFETY: as in `paint`; the memory is no longer used by the call that ran.
        if unsafe { core::ptr::read_volatile(p as *const u32) } != PAINT {
            return p;
        }
        p += 4;
    }
    to
}

/// Runs `f` in a frame of its own and returns its result with the bytes of stack it
/// used below this function's frame: the high-water mark of the painted stack. The
/// figure includes `call`'s frame (which holds `f`'s own locals), so it is an upper
/// bound for the code `f` calls.
#[inline(never)]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let here = 0u32;
    let top = core::hint::black_box(core::ptr::addr_of!(here) as usize) & !3;
    paint(top - SPAN, top - GUARD);
    let r = call(f);
    let low = lowest_touched(top - SPAN, top - GUARD);
    (r, top - low)
}

#[inline(never)]
fn call<R>(f: impl FnOnce() -> R) -> R {
    core::hint::black_box(f)()
}
