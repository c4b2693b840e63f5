//! Image bytes (and a parent's) through the C ABI, as tapdisk and vhd-util call it:
//! `vhd_open` read-only or read-write, `vhd_read_bat`, `vhd_read_batmap`,
//! `vhd_read_bitmap`, `vhd_io_read`, `vhd_io_write` (every acknowledged write must read
//! back), `vhd_close`, then `vhd_util_check -p`, `vhd_util_query` and `vhd_util_scan -p`
//! on the files. Input: a flag byte, a 4-byte big-endian child length, the child image
//! (`c.vhd`), the rest as the parent (`p.vhd`, the name snapshots in the seeds use).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vhd::types::{vhd_bat_t, vhd_batmap_t, vhd_context_t};

#[path = "capi_harness.rs"]
mod capi_harness;
use capi_harness::{c, call_argv, clear, dir};

/// Reads through the library and checks what came back is sane to touch.
unsafe fn exercise(ctx: &mut vhd_context_t, seed: u64, writable: bool) {
    let mut bat = vhd_bat_t::zeroed();
    if unsafe { vhd::bat::vhd_read_bat(ctx, &mut bat) } == 0 {
        // Every entry must be readable memory.
        let n = bat.entries as usize;
        let sum = (0..n).fold(0u32, |s, i| s ^ unsafe { *bat.bat.add(i) });
        std::hint::black_box(sum);
        unsafe { libc::free(bat.bat.cast()) };
    }
    let mut bm = vhd_batmap_t::zeroed();
    if unsafe { vhd::batmap::vhd_read_batmap(ctx, &mut bm) } == 0 {
        unsafe { libc::free(bm.map.cast()) };
    }
    let entries = ctx.header.max_bat_size;
    if entries > 0 {
        for block in [0, (seed % u64::from(entries)) as u32, entries - 1] {
            let mut p: *mut libc::c_char = std::ptr::null_mut();
            if unsafe { vhd::bitmap::vhd_read_bitmap(ctx, block, &mut p) } == 0 {
                unsafe { libc::free(p.cast()) };
            }
        }
    }
    let sectors = ctx.footer.curr_size / 512;
    let mut buf = vec![0u8; 8 * 512];
    if sectors > 0 {
        for s in [0, sectors - 1, sectors / 2, (seed >> 8) % sectors] {
            let n = (sectors - s).min(8) as u32;
            let _ = unsafe { vhd::io::vhd_io_read(ctx, buf.as_mut_ptr().cast(), s, n) };
        }
        // Odd alignment goes through the bounce buffer.
        let _ = unsafe { vhd::io::vhd_io_read(ctx, buf.as_mut_ptr().add(1).cast(), 0, 1) };
    }
    if writable && sectors > 0 {
        let s = (seed >> 16) % sectors;
        let mut data = [0u8; 512];
        data.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (seed as u8).wrapping_add(i as u8) | 1);
        let w = unsafe { vhd::io::vhd_io_write(ctx, data.as_mut_ptr().cast(), s, 1) };
        if w == 0 {
            let mut back = [0u8; 512];
            let r = unsafe { vhd::io::vhd_io_read(ctx, back.as_mut_ptr().cast(), s, 1) };
            assert_eq!(
                r, 0,
                "an acknowledged write at sector {s} does not read back"
            );
            assert!(back == data, "sector {s} reads other data than was written");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if rest.len() < 4 {
        return;
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let rest = &rest[4..];
    let (child, parent) = rest.split_at(len.min(rest.len()));
    clear();
    let d = dir();
    let cp = d.join("c.vhd");
    std::fs::write(&cp, child).unwrap();
    if !parent.is_empty() {
        std::fs::write(d.join("p.vhd"), parent).unwrap();
    }
    let seed = data
        .iter()
        .fold(0u64, |h, &b| h.wrapping_mul(31) ^ u64::from(b));
    let writable = flags & 1 != 0;
    let mode = if writable {
        vhd::consts::VHD_OPEN_RDWR
    } else {
        vhd::consts::VHD_OPEN_RDONLY
    };
    let path = c(&cp);
    let mut ctx = vhd_context_t::zeroed();
    if unsafe { vhd::open::vhd_open(&mut ctx, path.as_ptr(), mode) } == 0 {
        unsafe { exercise(&mut ctx, seed, writable) };
        unsafe { vhd::open::vhd_close(&mut ctx) };
    }
    let name = cp.to_str().unwrap();
    if flags & 2 != 0 {
        call_argv(vhd::util::vhd_util_check, &["check", "-n", name, "-p"]);
    }
    if flags & 4 != 0 {
        call_argv(
            vhd::util::vhd_util_query,
            &["query", "-n", name, "-v", "-s", "-p", "-f", "-d"],
        );
    }
    if flags & 8 != 0 {
        let pattern = d.join("*.vhd");
        call_argv(
            vhd::util::vhd_util_scan,
            &["scan", "-m", pattern.to_str().unwrap(), "-p"],
        );
    }
});
