//! Data I/O: sectors of the virtual disk through the engine (`vhd_io_read`,
//! `vhd_io_write`), and raw access to the image file at its file position
//! (`vhd_position`, `vhd_seek`, `vhd_read`, `vhd_write`).
//!
//! The sector path allocates nothing once the BAT is loaded and the parents are open
//! (both happen on first use): the engine works in the buffers it got at open and the
//! descriptor's bounce buffer serves unaligned client buffers.

use core::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex};

use libc::{off_t, size_t};
use vhd_nostd::bat::UNUSED;
use vhd_nostd::{batmap, read_chain, DiskType, Io, SECTOR_SIZE};
use vhd_std::VhdDisk;

use crate::bat::{entries_mut, get_bat};
use crate::batmap::{get_batmap, has_batmap, map_mut};
use crate::convert::c_footer;

use crate::convert::is_dynamic;
use crate::ffi::{boundary, context, errno, last_errno, Res};
use crate::state::{find, lock, with_io, with_io_writing, State};
use crate::types::vhd_context_t;

/// Checks a sector range against the virtual size (`-ERANGE` beyond it or on overflow,
/// as libvhd) and returns the buffer length in bytes.
fn range(ctx: &vhd_context_t, buf: *const c_char, sec: u64, secs: u32) -> Res<usize> {
    let end = sec
        .checked_add(u64::from(secs))
        .and_then(|e| e.checked_mul(SECTOR_SIZE as u64))
        .ok_or(-libc::ERANGE)?;
    if end > ctx.footer.curr_size {
        return Err(-libc::ERANGE);
    }
    if buf.is_null() && secs > 0 {
        return Err(-libc::EINVAL);
    }
    usize::try_from(u64::from(secs) * SECTOR_SIZE as u64).map_err(|_| -libc::ERANGE)
}

/// Loads the context's BAT and (when it has a valid one) batmap, as libvhd's I/O paths
/// do, so that clients find them loaded after the first I/O: copies of the engine's
/// tables, which `begin` has just made current.
fn load_tables(ctx: &mut vhd_context_t) -> Res<()> {
    if is_dynamic(ctx) {
        get_bat(ctx)?;
        if has_batmap(ctx) {
            // An invalid batmap only means the bitmaps are read instead.
            let _ = get_batmap(ctx);
        }
    }
    Ok(())
}

/// What both data I/O functions do first: check the range, load the tables, find the
/// context's state. `None` when there is nothing to transfer.
fn begin(
    ctx: &mut vhd_context_t,
    buf: *const c_char,
    sec: u64,
    secs: u32,
) -> Res<Option<(usize, Arc<Mutex<State>>)>> {
    let len = range(ctx, buf, sec, secs)?;
    if len == 0 {
        return Ok(None);
    }
    let shared = find(ctx).ok_or(-libc::EINVAL)?;
    // The engine's view first (reopened if a metadata write dropped it), so that the
    // tables are copied from it rather than read again.
    lock(&shared).disk()?;
    load_tables(ctx)?;
    Ok(Some((len, shared)))
}

/// After a write to blocks `first..=last`, copies into the context what the engine
/// changed, and only that: when a block was allocated (the footer moved), the footer
/// and the range's BAT entries; when the batmap changed (its checksum), the range's
/// bits and the checksum. A write into allocated blocks copies nothing.
fn sync_copies(ctx: &mut vhd_context_t, image: &VhdDisk, first: u32, last: u32, allocated: bool) {
    let bat = image.bat();
    let last = last.min(bat.entries().saturating_sub(1));
    if allocated {
        ctx.footer = c_footer(image.footer());
        for (block, e) in entries_mut(&mut ctx.bat)
            .iter_mut()
            .enumerate()
            .take(last as usize + 1)
            .skip(first as usize)
        {
            *e = bat.raw(block as u32).unwrap_or(UNUSED);
        }
    }
    let Some((hdr, map)) = image.batmap() else {
        return;
    };
    if hdr.checksum == ctx.batmap.header.checksum {
        return;
    }
    if let Some(ours) = map_mut(&mut ctx.batmap) {
        for block in first..=last {
            batmap::assign(ours, block, batmap::test(map, block));
        }
        ctx.batmap.header.checksum = hdr.checksum;
    }
}

/// Reads `secs` sectors from virtual sector `sec` into `buf`: through the BAT and the
/// bitmaps, and for a differencing disk through its parents (found through the
/// locators relative to the image's directory; a nil parent UUID means a raw parent;
/// each parent must carry the UUID its child names). Unallocated sectors of a dynamic
/// disk read as zeros. `-ERANGE` beyond the virtual size; `-EINVAL` for a malformed
/// image or a missing parent; `-EIO` (or the file's error) for a failed read.
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `secs` sectors. Any alignment works;
/// sector-aligned buffers avoid a copy.
#[no_mangle]
pub unsafe extern "C" fn vhd_io_read(
    ctx: *mut vhd_context_t,
    buf: *mut c_char,
    sec: u64,
    secs: u32,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        let Some((len, shared)) = begin(ctx, buf, sec, secs)? else {
            return Ok(());
        };
        // SAFETY: `buf` holds `secs` sectors (caller's contract), checked non-null.
        let data = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        let mut state = lock(&shared);
        read_chain(state.chain()?, sec, data).map_err(errno)
    })
}

/// Writes `secs` sectors from `buf` at virtual sector `sec`, allocating blocks as
/// needed (at the end of data, data 4 KiB aligned, the BAT entry written last). The
/// context's BAT, batmap and footer are kept equal to the disk. Errors as for
/// `vhd_io_read`, and `-EBADF` for an image opened read-only. A differencing disk
/// opens its parents first, as a read does, and refuses the write with the read's
/// error when they do not open or match (data it could not read back).
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `secs` sectors.
#[no_mangle]
pub unsafe extern "C" fn vhd_io_write(
    ctx: *mut vhd_context_t,
    buf: *mut c_char,
    sec: u64,
    secs: u32,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        let Some((len, shared)) = begin(ctx, buf, sec, secs)? else {
            return Ok(());
        };
        // SAFETY: `buf` holds `secs` sectors (caller's contract), checked non-null.
        let data = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
        let mut state = lock(&shared);
        // Writes take the read path's rule: a differencing disk whose chain does not open
        // (parent missing, UUID not the one the child names) would accept data no read
        // could return, so it refuses them with the read's error.
        if state.disk()?.disk_type() == Some(DiskType::Differencing) {
            state.chain()?;
        }
        let image = state.disk()?;
        let before = image.footer_position();
        let result = image.write(sec, data).map_err(errno);
        if is_dynamic(ctx) && ctx.spb != 0 {
            let first = (sec / u64::from(ctx.spb)) as u32;
            let last = ((sec + u64::from(secs) - 1) / u64::from(ctx.spb)) as u32;
            sync_copies(ctx, image, first, last, image.footer_position() != before);
        }
        result
    })
}

/// The current file position of `ctx->fd`, or -1 with `errno` set (as `lseek`).
///
/// # Safety
/// `ctx` must be an open context.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_position(ctx: *mut vhd_context_t) -> off_t {
    boundary!(on_panic = -1, {
        // SAFETY: caller's contract.
        match unsafe { context(ctx) } {
            // SAFETY: plain syscall.
            Ok(ctx) => unsafe { libc::lseek(ctx.fd, 0, libc::SEEK_CUR) },
            Err(_) => -1,
        }
    })
}

/// Moves the file position of `ctx->fd` (`lseek` semantics for `whence`); the negative
/// `errno` on failure.
///
/// # Safety
/// `ctx` must be an open context.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_seek(ctx: *mut vhd_context_t, offset: off_t, whence: c_int) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        // SAFETY: plain syscall.
        if unsafe { libc::lseek(ctx.fd, offset, whence) } < 0 {
            return Err(last_errno());
        }
        Ok(())
    })
}

/// Transfers `size` bytes at the file position of `ctx` through `f` and advances the
/// position past them.
fn at_position(
    ctx: &vhd_context_t,
    size: size_t,
    f: impl FnOnce(&vhd_context_t, u64) -> Res<()>,
) -> Res<()> {
    // SAFETY: plain syscall.
    let pos = unsafe { libc::lseek(ctx.fd, 0, libc::SEEK_CUR) };
    let pos = u64::try_from(pos).map_err(|_| -last_errno())?;
    f(ctx, pos)?;
    let end = off_t::try_from(pos + size as u64).map_err(|_| -libc::EINVAL)?;
    // SAFETY: plain syscall.
    if unsafe { libc::lseek(ctx.fd, end, libc::SEEK_SET) } < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// Reads exactly `size` bytes at the file position of `ctx->fd` into `buf` and moves
/// the position past them; `-EIO` for a short read. Unlike libvhd, any buffer alignment
/// and size works on an `O_DIRECT` descriptor.
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `size` bytes.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_read(
    ctx: *mut vhd_context_t,
    buf: *mut c_void,
    size: size_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        if buf.is_null() {
            return Err(-libc::EINVAL);
        }
        // SAFETY: `buf` holds `size` bytes (caller's contract).
        let data = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), size) };
        at_position(ctx, size, |ctx, pos| {
            with_io(ctx, |io| io.read_at(pos, data).map_err(errno))
        })
    })
}

/// Writes exactly `size` bytes from `buf` at the file position of `ctx->fd` and moves
/// the position past them.
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `size` bytes.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_write(
    ctx: *mut vhd_context_t,
    buf: *mut c_void,
    size: size_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        if buf.is_null() {
            return Err(-libc::EINVAL);
        }
        // SAFETY: `buf` holds `size` bytes (caller's contract).
        let data = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) };
        at_position(ctx, size, |ctx, pos| {
            with_io_writing(ctx, |io| io.write_at(pos, data).map_err(errno))
        })
    })
}
