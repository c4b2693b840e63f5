//! The block allocation table as C sees it (`ctx->bat`, host order) and where a sector
//! lives in the file.

use core::ffi::c_int;

use vhd_nostd::bat::{bat_bytes, UNUSED};
use vhd_nostd::layout;
use vhd_nostd::Io;

use vhd_std::fileio::AlignedBuf;
use vhd_std::VhdDisk;

use crate::cmem::{c_aligned, c_free};
use crate::consts::VHD_SECTOR_SHIFT;
use crate::convert::is_dynamic;
use crate::ffi::{boundary, context, errno, object, shared, Res};
use crate::state::{with_io, with_io_writing, with_view};
use crate::types::{vhd_bat_t, vhd_context_t};

/// The BAT entries of `bat` (empty if none is loaded).
pub(crate) fn entries(bat: &vhd_bat_t) -> &[u32] {
    if bat.bat.is_null() {
        return &[];
    }
    // SAFETY: a loaded BAT holds `entries` entries (allocated by `read_bat`, or by the
    // client under the same contract).
    unsafe { core::slice::from_raw_parts(bat.bat, bat.entries as usize) }
}

/// The BAT entries of `bat`, writable.
pub(crate) fn entries_mut(bat: &mut vhd_bat_t) -> &mut [u32] {
    if bat.bat.is_null() {
        return &mut [];
    }
    // SAFETY: as in `entries`; `&mut` makes the access exclusive.
    unsafe { core::slice::from_raw_parts_mut(bat.bat, bat.entries as usize) }
}

/// Reads the BAT from disk into memory from `posix_memalign` (host order). The table
/// must lie inside the file, so its size is bounded by the file's.
fn read_bat(ctx: &vhd_context_t) -> Res<vhd_bat_t> {
    if !is_dynamic(ctx) {
        return Err(-libc::EINVAL);
    }
    let entries = ctx.header.max_bat_size;
    let len = bat_bytes(entries);
    let off = ctx.header.table_offset;
    with_io(ctx, |io| {
        let size = io.size().map_err(errno)?;
        if off.checked_add(len).is_none_or(|end| end > size) {
            return Err(-libc::EINVAL);
        }
        let len = usize::try_from(len).map_err(|_| -libc::EINVAL)?;
        let p = c_aligned(len)?;
        // SAFETY: `p` holds `len` zeroed bytes, aligned for u32.
        let bytes = unsafe { core::slice::from_raw_parts_mut(p, len) };
        if let Err(e) = io.read_at(off, bytes) {
            c_free(p);
            return Err(errno(e));
        }
        let mut bat = vhd_bat_t {
            spb: ctx.header.block_size >> VHD_SECTOR_SHIFT,
            entries,
            bat: p.cast(),
        };
        for e in entries_mut(&mut bat) {
            *e = u32::from_be(*e);
        }
        Ok(bat)
    })
}

/// A C copy (host order, from `posix_memalign`) of the BAT the engine read at open and
/// has kept current since.
pub(crate) fn c_bat(ctx: &vhd_context_t, disk: &VhdDisk) -> Res<vhd_bat_t> {
    let bat = disk.bat();
    let n = bat.entries();
    let len = usize::try_from(bat_bytes(n)).map_err(|_| -libc::EINVAL)?;
    let p = c_aligned(len)?;
    let mut copy = vhd_bat_t {
        spb: ctx.header.block_size >> VHD_SECTOR_SHIFT,
        entries: n,
        bat: p.cast(),
    };
    for (block, e) in entries_mut(&mut copy).iter_mut().enumerate() {
        *e = bat.raw(block as u32).unwrap_or(UNUSED);
    }
    Ok(copy)
}

/// Loads `ctx->bat` if it is not loaded: from the engine's view while it is current,
/// from disk after the client's own metadata writes dropped it (`state`'s rule).
pub(crate) fn get_bat(ctx: &mut vhd_context_t) -> Res<()> {
    if !is_dynamic(ctx) {
        return Err(-libc::EINVAL);
    }
    if !ctx.bat.bat.is_null() {
        return Ok(());
    }
    ctx.bat = match with_view(ctx, |disk| c_bat(ctx, disk)) {
        Some(copy) => copy?,
        None => read_bat(ctx)?,
    };
    Ok(())
}

/// Loads `ctx->bat` (host order, `posix_memalign`'d; `vhd_close` frees it) if it is not
/// loaded. `-EINVAL` for a fixed disk or a BAT reaching past the end of the file.
///
/// # Safety
/// `ctx` must be an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_get_bat(ctx: *mut vhd_context_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        get_bat(unsafe { context(ctx)? })
    })
}

/// Frees `ctx->bat` and zeroes it (dynamic and differencing disks).
///
/// # Safety
/// `ctx` must be null or an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_put_bat(ctx: *mut vhd_context_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        if let Ok(ctx) = unsafe { context(ctx) } {
            if is_dynamic(ctx) {
                c_free(ctx.bat.bat);
                ctx.bat = vhd_bat_t::zeroed();
            }
        }
    })
}

/// Reads the BAT into `bat` (entries host order, allocated with `posix_memalign`; free
/// them with `free`). On failure `bat` is zeroed.
///
/// # Safety
/// `ctx` must be an open context; `bat` writable (its old entries are not freed).
#[no_mangle]
pub unsafe extern "C" fn vhd_read_bat(ctx: *mut vhd_context_t, bat: *mut vhd_bat_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract; `bat` may be `&ctx->bat`, so it is written only
        // after the context is read.
        let read = read_bat(unsafe { shared(ctx)? });
        // SAFETY: as above.
        let bat = unsafe { object(bat)? };
        *bat = vhd_bat_t::zeroed();
        *bat = read?;
        Ok(())
    })
}

/// Writes the `bat->entries` entries of `bat` (host order) at the header's table
/// offset, padded with zeros to a whole sector. `-EINVAL` for a fixed disk, a null
/// table or more entries than the header's `max_bat_size`.
///
/// # Safety
/// `ctx` must be an open context; `bat` a BAT holding `entries` entries.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_bat(ctx: *mut vhd_context_t, bat: *mut vhd_bat_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract; both are only read (`bat` may be `&ctx->bat`).
        let (ctx, bat) = unsafe { (shared(ctx)?, shared(bat)?) };
        if !is_dynamic(ctx) || bat.bat.is_null() || bat.entries > ctx.header.max_bat_size {
            return Err(-libc::EINVAL);
        }
        let len = usize::try_from(bat_bytes(bat.entries)).map_err(|_| -libc::EINVAL)?;
        let mut buf = AlignedBuf::try_new(len).map_err(errno)?;
        for (out, e) in buf.as_mut().chunks_exact_mut(4).zip(entries(bat)) {
            out.copy_from_slice(&e.to_be_bytes());
        }
        let off = ctx.header.table_offset;
        with_io_writing(ctx, |io| io.write_at(off, buf.as_ref()).map_err(errno))
    })
}

/// Sets `*offset` to the file sector holding virtual `sector`: through the BAT
/// (`DD_BLK_UNUSED` if its block is not allocated) for a sparse disk, the sector itself
/// for a fixed one. `-ERANGE` for a sector beyond the BAT.
///
/// # Safety
/// `ctx` must be an open context and `offset` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_offset(
    ctx: *mut vhd_context_t,
    sector: u32,
    offset: *mut u32,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, out) = unsafe { (context(ctx)?, object(offset)?) };
        if !is_dynamic(ctx) {
            *out = sector;
            return Ok(());
        }
        get_bat(ctx)?;
        if ctx.spb == 0 {
            return Err(-libc::EINVAL);
        }
        let block = (sector / ctx.spb) as usize;
        let e = *entries(&ctx.bat).get(block).ok_or(-libc::ERANGE)?;
        *out = layout::data_sector(e, ctx.bm_secs, sector % ctx.spb);
        Ok(())
    })
}
