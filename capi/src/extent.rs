//! Where a context's image ends: the end of its headers and of its data (from the
//! context's copies, as libvhd computes them), its physical size, and writing the footer
//! where it belongs.

use core::ffi::c_int;

use libc::off_t;
use vhd_nostd::footer::FOOTER_SIZE;
use vhd_nostd::layout::{self, Metadata};
use vhd_nostd::locator::PLAT_CODE_NONE;
use vhd_nostd::{Io, SECTOR_SIZE};

use crate::bat::{entries, get_bat};
use crate::batmap::{get_batmap, has_batmap};
use crate::consts::VHD_SECTOR_SHIFT;
use crate::convert::{engine_locator, is_dynamic, offset};
use crate::ffi::{boundary, context, errno, object, with_copy, Res};
use crate::meta::write_footer_at;
use crate::state::with_io;
use crate::types::{vhd_context_t, vhd_footer_t};

/// libvhd's `vhd_end_of_headers`: the end of the header, the BAT, the batmap (header
/// and map) and every used locator's space, from the context's copies.
pub(crate) fn end_of_headers(ctx: &mut vhd_context_t) -> Res<u64> {
    if !is_dynamic(ctx) {
        return Ok(0);
    }
    let batmap_map = if has_batmap(ctx) {
        get_batmap(ctx)?;
        let b = &ctx.batmap.header;
        Some((
            b.batmap_offset,
            u64::from(b.batmap_size) * SECTOR_SIZE as u64,
        ))
    } else {
        None
    };
    let tables = Metadata {
        header_offset: ctx.footer.data_offset,
        table_offset: ctx.header.table_offset,
        max_bat_size: ctx.header.max_bat_size,
        batmap_map,
    };
    let locators = ctx
        .header
        .loc
        .iter()
        .filter(|l| l.code != PLAT_CODE_NONE)
        .map(|l| (l.data_offset, engine_locator(l).space_bytes()));
    Ok(layout::end_of_headers(&tables, locators))
}

/// libvhd's `vhd_end_of_data`: for a fixed disk where its footer starts; for a sparse
/// one the end of its headers or of its last block (`ctx->bat`, loaded if needed),
/// whichever is further, in whole sectors.
pub(crate) fn end_of_data(ctx: &mut vhd_context_t) -> Res<u64> {
    if !is_dynamic(ctx) {
        let size = with_io(ctx, |io| io.size().map_err(errno))?;
        return Ok(size.saturating_sub(FOOTER_SIZE as u64));
    }
    // libvhd counts in whole sectors: the end of the headers is rounded down.
    let headers = end_of_headers(ctx)? >> VHD_SECTOR_SHIFT << VHD_SECTOR_SHIFT;
    get_bat(ctx)?;
    let span = layout::block_span_bytes(ctx.bm_secs, ctx.spb);
    let entries = entries(&ctx.bat).iter().copied();
    Ok(layout::end_of_data(headers, span, entries))
}

/// Writes `footer` where the image's footer belongs (the end of data; the end of a
/// block device) and, for dynamic and differencing disks, as the copy at offset 0.
pub(crate) fn write_footer(ctx: &mut vhd_context_t, footer: &mut vhd_footer_t) -> Res<()> {
    let off = if ctx.is_block != 0 {
        with_io(ctx, |io| io.size().map_err(errno))?.saturating_sub(FOOTER_SIZE as u64)
    } else {
        end_of_data(ctx)?
    };
    write_footer_at(ctx, footer, off)?;
    if is_dynamic(ctx) {
        write_footer_at(ctx, footer, 0)?;
    }
    Ok(())
}

/// Sets `*off` to the byte offset just past the metadata: header, BAT, batmap and
/// locator data (0 for a fixed disk).
///
/// # Safety
/// `ctx` must be an open context and `off` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_end_of_headers(ctx: *mut vhd_context_t, off: *mut off_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, out) = unsafe { (context(ctx)?, object(off)?) };
        *out = 0;
        *out = off_t::try_from(end_of_headers(ctx)?).map_err(|_| -libc::EINVAL)?;
        Ok(())
    })
}

/// Sets `*off` to the byte offset just past the last metadata or data block (where the
/// footer of a fixed disk starts), from `ctx->bat` (loaded if needed), so it follows a
/// client's own allocations as long as it keeps `ctx->bat` current, as tapdisk does.
///
/// # Safety
/// `ctx` must be an open context and `off` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_end_of_data(ctx: *mut vhd_context_t, off: *mut off_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, out) = unsafe { (context(ctx)?, object(off)?) };
        *out = off_t::try_from(end_of_data(ctx)?).map_err(|_| -libc::EINVAL)?;
        Ok(())
    })
}

/// Sets `*size` to the physical size of the image: end of data plus the footer (the
/// file's length for a fixed disk).
///
/// # Safety
/// `ctx` must be an open context and `size` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_get_phys_size(ctx: *mut vhd_context_t, size: *mut off_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, out) = unsafe { (context(ctx)?, object(size)?) };
        let phys = end_of_data(ctx)? + FOOTER_SIZE as u64;
        *out = off_t::try_from(phys).map_err(|_| -libc::EINVAL)?;
        Ok(())
    })
}

/// Writes `ctx->footer` so that the image ends at `size` bytes (the footer at
/// `size - 512`; nothing is truncated or moved). `-EINVAL` if `size` is below the
/// physical size.
///
/// # Safety
/// `ctx` must be a context opened read-write.
#[no_mangle]
pub unsafe extern "C" fn vhd_set_phys_size(ctx: *mut vhd_context_t, size: off_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        let size = offset(size)?;
        if size < end_of_data(ctx)? + FOOTER_SIZE as u64 {
            return Err(-libc::EINVAL);
        }
        let mut footer = ctx.footer;
        let result = write_footer_at(ctx, &mut footer, size - FOOTER_SIZE as u64);
        ctx.footer = footer;
        result
    })
}
/// Writes `footer` (host order, checksum recomputed and stored back) where the image's
/// footer belongs: at the end of data (after the last block), or at the end of a block
/// device; dynamic and differencing disks also get the copy at offset 0. `-EINVAL` for
/// an invalid footer.
///
/// # Safety
/// `ctx` must be an open context and `footer` a valid footer.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_write_footer(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract; `footer` may be `&ctx->footer`, so it is worked on
        // as a copy, stored back once the context is no longer borrowed.
        unsafe { with_copy(footer, |f| write_footer(context(ctx)?, f)) }
    })
}
