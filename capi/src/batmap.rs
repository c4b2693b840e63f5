//! blktap's batmap as C sees it (`ctx->batmap`): one bit per block, set when the block
//! is fully allocated.

use core::ffi::c_int;

use libc::off_t;
use vhd_nostd::batmap::{self, BatmapHeader};
use vhd_nostd::layout::{self, BatmapPresence};
use vhd_nostd::{Io, SECTOR_SIZE};
use vhd_std::{FileIo, VhdDisk};

use crate::cmem::{c_aligned, c_free};
use crate::consts::VHD_BATMAP_CURRENT_VERSION;
use crate::convert::{batmap_header_to_disk, c_batmap_header};
use crate::convert::{creator_app, is_dynamic};
use crate::ffi::{boundary, context, errno, object, shared, Res};
use crate::helpers::vhd_checksum_batmap;
use crate::state::{with_io, with_io_writing, with_view};
use crate::types::{vhd_batmap_t, vhd_context_t};

/// Byte offset of the batmap header: the sector after the BAT.
pub(crate) fn batmap_header_offset(ctx: &vhd_context_t) -> u64 {
    layout::batmap_header_offset(ctx.header.table_offset, ctx.header.max_bat_size)
}

/// 0 if `header` has the batmap cookie and a version this library knows.
fn check_header(batmap: &vhd_batmap_t) -> Res<()> {
    let sector = batmap_header_to_disk(&batmap.header);
    BatmapHeader::parse(&sector).map_err(|_| -libc::EINVAL)?;
    if batmap.header.batmap_version > VHD_BATMAP_CURRENT_VERSION {
        return Err(-libc::EINVAL);
    }
    Ok(())
}

/// Reads the batmap header sector of `ctx`.
fn read_header(ctx: &vhd_context_t, io: &mut FileIo) -> Res<BatmapHeader> {
    let mut sector = [0u8; SECTOR_SIZE];
    io.read_at(batmap_header_offset(ctx), &mut sector)
        .map_err(errno)?;
    BatmapHeader::parse(&sector).map_err(|_| -libc::EINVAL)
}

/// libvhd's `vhd_has_batmap`: images by tap 1.2 or later have a batmap; those by tap
/// 1.1 if one is present (a converted 0.1 image may lack it); no other image has one.
pub(crate) fn has_batmap(ctx: &vhd_context_t) -> bool {
    let f = &ctx.footer;
    match layout::batmap_presence(creator_app(f), f.crtr_ver, is_dynamic(ctx)) {
        BatmapPresence::Absent => false,
        BatmapPresence::Required => true,
        BatmapPresence::IfValid => {
            check_header(&ctx.batmap).is_ok()
                || with_io(ctx, |io| read_header(ctx, io))
                    .is_ok_and(|h| h.batmap_version <= VHD_BATMAP_CURRENT_VERSION)
        }
    }
}

/// Reads the batmap of `ctx`: the header (which must fit the BAT and the file, so the
/// map's size is bounded), then the map into memory from `posix_memalign`, checked
/// against the header's checksum.
fn read_batmap(ctx: &vhd_context_t) -> Res<vhd_batmap_t> {
    if !has_batmap(ctx) {
        return Err(-libc::EINVAL);
    }
    with_io(ctx, |io| {
        let hdr = read_header(ctx, io)?;
        let size = io.size().map_err(errno)?;
        if hdr.batmap_version > VHD_BATMAP_CURRENT_VERSION
            || hdr.validate(ctx.header.max_bat_size, size).is_err()
        {
            return Err(-libc::EINVAL);
        }
        let len = usize::try_from(hdr.map_bytes()).map_err(|_| -libc::EINVAL)?;
        let map = c_aligned(len)?;
        // SAFETY: `map` holds `len` zeroed bytes.
        let bytes = unsafe { core::slice::from_raw_parts_mut(map, len) };
        let checked = io
            .read_at(hdr.batmap_offset, bytes)
            .map_err(errno)
            .and_then(|()| hdr.verify(bytes).map_err(|_| -libc::EINVAL));
        if let Err(e) = checked {
            c_free(map);
            return Err(e);
        }
        Ok(vhd_batmap_t {
            header: c_batmap_header(&hdr),
            map: map.cast(),
        })
    })
}

/// A C copy (map from `posix_memalign`) of the batmap the engine holds, if it holds a
/// valid one this library knows.
fn c_batmap(disk: &VhdDisk) -> Option<Res<vhd_batmap_t>> {
    let (hdr, map) = disk.batmap()?;
    if hdr.batmap_version > VHD_BATMAP_CURRENT_VERSION {
        return None;
    }
    let copy = c_aligned(map.len()).map(|p| {
        // SAFETY: `p` holds `map.len()` writable bytes, disjoint from `map`.
        unsafe { core::ptr::copy_nonoverlapping(map.as_ptr(), p, map.len()) };
        vhd_batmap_t {
            header: c_batmap_header(hdr),
            map: p.cast(),
        }
    });
    Some(copy)
}

/// Loads `ctx->batmap` if it is not loaded: from the engine's view while it is current
/// and holds a valid batmap, else from disk (`state`'s rule).
pub(crate) fn get_batmap(ctx: &mut vhd_context_t) -> Res<()> {
    if !has_batmap(ctx) {
        return Err(-libc::EINVAL);
    }
    if !ctx.batmap.map.is_null() {
        return Ok(());
    }
    let engine = with_view(ctx, |disk| Ok(c_batmap(disk))).and_then(|r| r.ok().flatten());
    ctx.batmap = match engine {
        Some(copy) => copy?,
        None => read_batmap(ctx)?,
    };
    Ok(())
}

/// The map of `batmap` (`batmap_size` sectors), or `None` if none is loaded.
pub(crate) fn map_mut(batmap: &mut vhd_batmap_t) -> Option<&mut [u8]> {
    if batmap.map.is_null() {
        return None;
    }
    let len = batmap.header.batmap_size as usize * SECTOR_SIZE;
    // SAFETY: a loaded map holds `batmap_size` sectors (allocated by `read_batmap`, or
    // by the client under the same contract).
    Some(unsafe { core::slice::from_raw_parts_mut(batmap.map.cast(), len) })
}

/// 1 if the image has a batmap (`vhd_has_batmap`), else 0.
///
/// # Safety
/// `ctx` must be an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_has_batmap(ctx: *mut vhd_context_t) -> c_int {
    boundary!(on_panic = 0, {
        // SAFETY: caller's contract.
        unsafe { shared(ctx) }.is_ok_and(has_batmap).into()
    })
}

/// Sets `*off` to the byte offset of the batmap header (right after the BAT).
///
/// # Safety
/// `ctx` must be an open context and `off` writable.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_batmap_header_offset(
    ctx: *mut vhd_context_t,
    off: *mut off_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, out) = unsafe { (context(ctx)?, object(off)?) };
        *out = off_t::try_from(batmap_header_offset(ctx)).map_err(|_| -libc::EINVAL)?;
        Ok(())
    })
}

/// Loads `ctx->batmap` (map `posix_memalign`'d; `vhd_close` frees it) if it is not
/// loaded. `-EINVAL` if the image has no batmap or it is invalid (bad cookie, version,
/// size or checksum).
///
/// # Safety
/// `ctx` must be an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_get_batmap(ctx: *mut vhd_context_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        get_batmap(unsafe { context(ctx)? })
    })
}

/// Frees `ctx->batmap.map` and zeroes the batmap (images with a batmap).
///
/// # Safety
/// `ctx` must be null or an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_put_batmap(ctx: *mut vhd_context_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        if let Ok(ctx) = unsafe { context(ctx) } {
            if has_batmap(ctx) {
                c_free(ctx.batmap.map);
                ctx.batmap = vhd_batmap_t::zeroed();
            }
        }
    })
}

/// Reads the batmap into `batmap` (header host order; map allocated with
/// `posix_memalign`, free it with `free`). `-EINVAL` if the image has none or it is
/// invalid; `batmap` is zeroed then.
///
/// # Safety
/// `ctx` must be an open context; `batmap` writable (its old map is not freed).
#[no_mangle]
pub unsafe extern "C" fn vhd_read_batmap(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract; `batmap` may be `&ctx->batmap`, so it is written
        // only after the context is read.
        let read = read_batmap(unsafe { shared(ctx)? });
        // SAFETY: as above.
        let batmap = unsafe { object(batmap)? };
        *batmap = vhd_batmap_t::zeroed();
        *batmap = read?;
        Ok(())
    })
}

/// Writes `batmap`: the map (`batmap_size` sectors at `batmap_offset`, which must lie in
/// the file), then the header sector with a fresh checksum, which is also stored back
/// into `batmap->header`. `-EINVAL` if the image has no batmap or `batmap` no map.
///
/// # Safety
/// `ctx` must be an open context; `batmap` a batmap whose map holds `batmap_size`
/// sectors.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_batmap(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract; both are only read here (`batmap` may be
        // `&ctx->batmap`).
        let (ctx, b) = unsafe { (shared(ctx)?, shared(batmap)?) };
        if !has_batmap(ctx) || b.map.is_null() {
            return Err(-libc::EINVAL);
        }
        let mut header = b.header;
        // SAFETY: `b` is a batmap whose map holds `batmap_size` sectors.
        header.checksum = unsafe { vhd_checksum_batmap(core::ptr::from_ref(b).cast_mut()) };
        let len = header.batmap_size as usize * SECTOR_SIZE;
        // SAFETY: as above.
        let map = unsafe { core::slice::from_raw_parts(b.map.cast::<u8>(), len) };
        let sector = batmap_header_to_disk(&header);
        let hdr_off = batmap_header_offset(ctx);
        with_io_writing(ctx, |io| {
            let size = io.size().map_err(errno)?;
            if header
                .batmap_offset
                .checked_add(len as u64)
                .is_none_or(|end| end > size)
            {
                return Err(-libc::EINVAL);
            }
            io.write_at(header.batmap_offset, map).map_err(errno)?;
            io.write_at(hdr_off, &sector).map_err(errno)
        })?;
        // SAFETY: the shared views above are no longer used; `batmap` is writable.
        unsafe { (*batmap).header.checksum = header.checksum };
        Ok(())
    })
}

/// The map of a loaded `batmap` of an image that has one, if `block` is within it.
///
/// # Safety
/// `ctx` must be an open context; `batmap` null or a batmap whose map (if any) holds
/// `batmap_size` sectors, not otherwise accessed for `'a`.
unsafe fn map_of<'a>(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
    block: u32,
) -> Option<&'a mut [u8]> {
    // SAFETY: caller's contract; the view ends before `batmap` (which may lie inside
    // the context) is borrowed.
    if !unsafe { shared(ctx) }.is_ok_and(has_batmap) {
        return None;
    }
    // SAFETY: caller's contract.
    let b = unsafe { object(batmap) }.ok()?;
    let bits = u64::from(b.header.batmap_size) * SECTOR_SIZE as u64 * 8;
    if u64::from(block) >= bits {
        return None;
    }
    map_mut(b)
}

/// 1 if `block`'s bit is set in `batmap` (the block is fully allocated), else 0 (also
/// for an image without batmap, no map, or a block beyond the map).
///
/// # Safety
/// `ctx` must be an open context; `batmap` a batmap whose map (if any) holds
/// `batmap_size` sectors.
#[no_mangle]
pub unsafe extern "C" fn vhd_batmap_test(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
    block: u32,
) -> c_int {
    boundary!(on_panic = 0, {
        // SAFETY: caller's contract.
        let map = unsafe { map_of(ctx, batmap, block) };
        map.is_some_and(|m| batmap::test(m, block)).into()
    })
}

/// Sets `block`'s bit in `batmap` (in memory; `vhd_write_batmap` stores it).
///
/// # Safety
/// As for `vhd_batmap_test`.
#[no_mangle]
pub unsafe extern "C" fn vhd_batmap_set(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
    block: u32,
) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        unsafe { assign(ctx, batmap, block, true) };
    })
}

/// Clears `block`'s bit in `batmap` (in memory).
///
/// # Safety
/// As for `vhd_batmap_test`.
#[no_mangle]
pub unsafe extern "C" fn vhd_batmap_clear(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
    block: u32,
) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        unsafe { assign(ctx, batmap, block, false) };
    })
}

/// Sets or clears `block`'s bit.
///
/// # Safety
/// As for [`map_of`].
unsafe fn assign(ctx: *mut vhd_context_t, batmap: *mut vhd_batmap_t, block: u32, value: bool) {
    // SAFETY: caller's contract.
    if let Some(map) = unsafe { map_of(ctx, batmap, block) } {
        batmap::assign(map, block, value);
    }
}

/// 0 if `batmap->header` has the batmap cookie and a known version, else `-EINVAL`.
///
/// # Safety
/// `batmap` must be null or a valid batmap.
#[no_mangle]
pub unsafe extern "C" fn vhd_validate_batmap_header(batmap: *mut vhd_batmap_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        check_header(unsafe { shared(batmap)? })
    })
}

/// 0 if `batmap->map` matches the header's checksum, else `-EINVAL` (also for no map).
///
/// # Safety
/// `batmap` must be null or a batmap whose map holds `batmap_size` sectors.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_validate_batmap(batmap: *mut vhd_batmap_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let b = unsafe { shared(batmap)? };
        // SAFETY: as above.
        if b.map.is_null() || unsafe { vhd_checksum_batmap(batmap) } != b.header.checksum {
            return Err(-libc::EINVAL);
        }
        Ok(())
    })
}
