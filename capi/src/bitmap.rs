//! Blocks as C sees them: their sector bitmaps (bit helpers, reading and writing) and
//! their data.

use core::ffi::{c_char, c_int};

use vhd_nostd::bitmap::{BitOrder, Bitmap};
use vhd_nostd::header::MAX_BLOCK_SIZE;
use vhd_nostd::layout;
use vhd_nostd::{Io, SECTOR_SIZE};

use crate::bat::{entries, get_bat};
use crate::cmem::{c_aligned, c_free};
use crate::convert::creator_app;
use crate::ffi::{boundary, context, errno, object, shared, Res};
use crate::state::{with_io, with_io_writing};
use crate::types::vhd_context_t;

/// Bit order of the context's sector bitmaps: LSB-first for images by tap 0.1, else
/// MSB-first.
fn order(ctx: &vhd_context_t) -> BitOrder {
    BitOrder::of_creator(creator_app(&ctx.footer), ctx.footer.crtr_ver)
}

/// The bitmap bytes up to and including the one holding `bit`.
///
/// # Safety
/// `map` must be non-null and hold bit `bit`.
unsafe fn bits<'a>(map: *mut c_char, bit: u32) -> &'a mut [u8] {
    // SAFETY: caller's contract.
    unsafe { core::slice::from_raw_parts_mut(map.cast(), (bit >> 3) as usize + 1) }
}

/// 1 if bit `sector` is set in the sector bitmap `map`, else 0 (MSB-first; LSB-first for
/// images by tap 0.1). 0 for a null argument.
///
/// # Safety
/// `ctx` must be an open context and `map` hold bit `sector`.
#[no_mangle]
pub unsafe extern "C" fn vhd_bitmap_test(
    ctx: *mut vhd_context_t,
    map: *mut c_char,
    sector: u32,
) -> c_int {
    boundary!(on_panic = 0, {
        // SAFETY: caller's contract.
        let Ok(ctx) = (unsafe { shared(ctx) }) else {
            return 0;
        };
        if map.is_null() {
            return 0;
        }
        // SAFETY: caller's contract.
        let m = Bitmap::new(unsafe { bits(map, sector) }, order(ctx));
        m.test(sector).into()
    })
}

/// Sets bit `sector` in the sector bitmap `map`.
///
/// # Safety
/// As for `vhd_bitmap_test`.
#[no_mangle]
pub unsafe extern "C" fn vhd_bitmap_set(ctx: *mut vhd_context_t, map: *mut c_char, sector: u32) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        unsafe { assign(ctx, map, sector, true) };
    })
}

/// Clears bit `sector` in the sector bitmap `map`.
///
/// # Safety
/// As for `vhd_bitmap_test`.
#[no_mangle]
pub unsafe extern "C" fn vhd_bitmap_clear(ctx: *mut vhd_context_t, map: *mut c_char, sector: u32) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        unsafe { assign(ctx, map, sector, false) };
    })
}

/// # Safety
/// As for `vhd_bitmap_test`.
unsafe fn assign(ctx: *mut vhd_context_t, map: *mut c_char, sector: u32, value: bool) {
    // SAFETY: caller's contract.
    let Ok(ctx) = (unsafe { shared(ctx) }) else {
        return;
    };
    if map.is_null() {
        return;
    }
    // SAFETY: caller's contract.
    let mut m = Bitmap::new(unsafe { bits(map, sector) }, order(ctx));
    if value {
        m.set(sector);
    } else {
        m.clear(sector);
    }
}

/// Where `block` starts in the file (its bitmap), loading the BAT if needed: `-ERANGE`
/// beyond the BAT, `-EINVAL` for a fixed disk or an unallocated block.
fn block_start(ctx: &mut vhd_context_t, block: u32) -> Res<u64> {
    get_bat(ctx)?;
    if ctx.header.block_size > MAX_BLOCK_SIZE {
        return Err(-libc::EINVAL);
    }
    let e = *entries(&ctx.bat).get(block as usize).ok_or(-libc::ERANGE)?;
    layout::block_offset(e).ok_or(-libc::EINVAL)
}

/// Reads `len` bytes at `off` into new memory from `posix_memalign`. They must lie in
/// the file (`-EINVAL`), except that with `partial` what lies beyond its end reads as
/// zeros (the last block of an image cut short).
fn read_new(ctx: &vhd_context_t, off: u64, len: usize, partial: bool) -> Res<*mut c_char> {
    let p = c_aligned(len)?;
    // SAFETY: `p` holds `len` zeroed bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(p, len) };
    let read = with_io(ctx, |io| {
        let size = io.size().map_err(errno)?;
        let have = size.saturating_sub(off).min(len as u64) as usize;
        if have == 0 || (have < len && !partial) {
            return Err(-libc::EINVAL);
        }
        io.read_at(off, &mut buf[..have]).map_err(errno)
    });
    match read {
        Ok(()) => Ok(p.cast()),
        Err(e) => {
            c_free(p);
            Err(e)
        }
    }
}

/// Reads `block`'s sector bitmap (`bm_secs` sectors) into new sector-aligned memory
/// `*bufp`; release it with `free`. `-ERANGE` beyond the BAT, `-EINVAL` for a fixed
/// disk, an unallocated block or one outside the file.
///
/// # Safety
/// `ctx` must be an open context and `bufp` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_bitmap(
    ctx: *mut vhd_context_t,
    block: u32,
    bufp: *mut *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, out) = unsafe { (context(ctx)?, object(bufp)?) };
        *out = core::ptr::null_mut();
        let off = block_start(ctx, block)?;
        *out = read_new(ctx, off, ctx.bm_secs as usize * SECTOR_SIZE, false)?;
        Ok(())
    })
}

/// Reads `block`'s data (`spb` sectors) into new sector-aligned memory `*bufp`; release
/// it with `free`. A block cut short by the end of the file reads as zeros beyond it.
/// Errors as for `vhd_read_bitmap`.
///
/// # Safety
/// `ctx` must be an open context and `bufp` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_block(
    ctx: *mut vhd_context_t,
    block: u32,
    bufp: *mut *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, out) = unsafe { (context(ctx)?, object(bufp)?) };
        *out = core::ptr::null_mut();
        let off = block_start(ctx, block)? + u64::from(ctx.bm_secs) * SECTOR_SIZE as u64;
        *out = read_new(ctx, off, ctx.spb as usize * SECTOR_SIZE, true)?;
        Ok(())
    })
}

/// Writes `len` bytes from `src` at `off` of the image.
///
/// # Safety
/// `src` must hold `len` bytes.
unsafe fn write_from(ctx: &vhd_context_t, off: u64, src: *const c_char, len: usize) -> Res<()> {
    if src.is_null() {
        return Err(-libc::EINVAL);
    }
    // SAFETY: caller's contract.
    let data = unsafe { core::slice::from_raw_parts(src.cast::<u8>(), len) };
    with_io_writing(ctx, |io| io.write_at(off, data).map_err(errno))
}

/// Writes `block`'s sector bitmap (`bm_secs` sectors) from `bitmap`. Errors as for
/// `vhd_read_bitmap`.
///
/// # Safety
/// `ctx` must be an open context and `bitmap` hold `bm_secs` sectors.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_bitmap(
    ctx: *mut vhd_context_t,
    block: u32,
    bitmap: *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        let off = block_start(ctx, block)?;
        // SAFETY: caller's contract.
        unsafe { write_from(ctx, off, bitmap, ctx.bm_secs as usize * SECTOR_SIZE) }
    })
}

/// Writes `block`'s data (`spb` sectors) from `data`. Errors as for `vhd_read_bitmap`.
///
/// # Safety
/// `ctx` must be an open context and `data` hold `spb` sectors.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_block(
    ctx: *mut vhd_context_t,
    block: u32,
    data: *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        let off = block_start(ctx, block)? + u64::from(ctx.bm_secs) * SECTOR_SIZE as u64;
        // SAFETY: caller's contract.
        unsafe { write_from(ctx, off, data, ctx.spb as usize * SECTOR_SIZE) }
    })
}
