//! The batmap functions whose signatures blktap3 changed: the header offset is returned
//! rather than stored, and the checksum and validation take the context, because
//! blktap3 covers only the part of the map the virtual size needs.

use core::ffi::c_int;

use libc::off_t;

use crate::batmap::batmap_header_offset;
use crate::ffi::{boundary, shared};
use crate::types::{vhd_batmap_t, vhd_context_t};

/// Sectors of the map blktap3 reads and sums: one bit per 2 MiB block of the virtual
/// size, rounded up to whole sectors (at least one), never more than the map. blktap3
/// counts `curr_size >> 24` bytes, which floors and drops the last sector for sizes of
/// k * 8 GiB + 2..14 MiB (its bug, blktap3-abi.md §6); counting by ceiling covers every
/// block's bit and is the same count for every other size.
fn summed_sectors(ctx: &vhd_context_t, batmap: &vhd_batmap_t) -> u32 {
    let blocks = ctx.footer.curr_size.div_ceil(1 << 21);
    let secs = vhd_nostd::secs_round_up_no_zero(blocks.div_ceil(8));
    u32::try_from(secs)
        .unwrap_or(u32::MAX)
        .min(batmap.header.batmap_size)
}

/// Converts `batmap->header` to on-disk byte order, in place, and zeroes its reserved
/// bytes (the marker and key hash are single bytes and stay as they are). Null is
/// ignored.
///
/// # Safety
/// `batmap` must be null or point to a valid, writable batmap.
#[no_mangle]
pub unsafe extern "C" fn vhd_batmap_header_out(batmap: *mut vhd_batmap_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        unsafe { crate::helpers::vhd_batmap_header_out(batmap) };
        // SAFETY: null or a valid batmap (caller's contract); `as_mut` handles null.
        if let Some(b) = unsafe { batmap.as_mut() } {
            b.header.res = [0; 418];
        }
    })
}

/// The byte offset of the batmap header of `ctx` (the sector after the BAT), or
/// `-EINVAL` for a null context or an offset beyond `off64_t`.
///
/// # Safety
/// `ctx` must be null or an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_batmap_header_offset(ctx: *mut vhd_context_t) -> off_t {
    boundary!(on_panic = -off_t::from(libc::EIO), {
        // SAFETY: caller's contract.
        match unsafe { shared(ctx) } {
            Ok(ctx) => {
                off_t::try_from(batmap_header_offset(ctx)).unwrap_or(-off_t::from(libc::EINVAL))
            }
            Err(e) => off_t::from(e),
        }
    })
}

/// The batmap checksum: one's complement of the byte sum of the map's sectors that hold
/// a bit of the virtual size's blocks (signed bytes for batmap version 1.1). 0 for a null context, batmap or map.
///
/// # Safety
/// `ctx` must be null or an open context, `batmap` null or a batmap whose map is null or
/// holds `header.batmap_size` sectors.
#[no_mangle]
pub unsafe extern "C" fn vhd_checksum_batmap(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
) -> u32 {
    boundary!(on_panic = 0, {
        // SAFETY: caller's contract.
        let (Ok(ctx), Ok(b)) = (unsafe { shared(ctx) }, unsafe { shared(batmap) }) else {
            return 0;
        };
        // The blktap2 sum over the covered sectors only.
        let mut part = *b;
        part.header.batmap_size = summed_sectors(ctx, b);
        // SAFETY: `part` names a prefix of the map `batmap` holds.
        unsafe { crate::helpers::vhd_checksum_batmap(&mut part) }
    })
}

/// 0 if the map of `batmap` is loaded and matches its header's checksum (as
/// [`vhd_checksum_batmap`] computes it), else `-EINVAL`.
///
/// # Safety
/// As for [`vhd_checksum_batmap`].
#[no_mangle]
pub unsafe extern "C" fn vhd_validate_batmap(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        let Ok(b) = (unsafe { shared(batmap) }) else {
            return -libc::EINVAL;
        };
        if ctx.is_null() || b.map.is_null() {
            return -libc::EINVAL;
        }
        // SAFETY: caller's contract.
        let sum = unsafe { vhd_checksum_batmap(ctx, batmap) };
        if sum != b.header.checksum {
            return -libc::EINVAL;
        }
        0
    })
}
