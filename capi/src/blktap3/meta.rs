//! Footers and the image's tags in blktap3's way: `vhd_read_footer` with a choice of
//! the backup copy, the legacy short footer, fast resize (`vhd_set_virt_size`), and the
//! marker and key hash (batmap header bytes 28..94, or extended attributes of the file
//! when the image has no batmap), all through the engine.

use core::ffi::{c_char, c_int};
use std::io::{Read, Seek, SeekFrom};

use vhd_nostd::keyhash::{KeyHash, KEYHASH_BYTES};
use vhd_nostd::resize::grow;

use super::consts::{KEYHASH_XATTR, MARKER_XATTR};
use super::path::{get_attr, set_attr};
use super::status;
use super::types::{vhd_keyhash, KEYHASH_SIZE};
use crate::consts::{HD_TYPE_DIFF, HD_TYPE_DYNAMIC, VHD_BLOCK_SHIFT};
use crate::convert::c_footer;
use crate::ffi::{boundary, context, errno, object, shared, Res};
use crate::state::with_state;
use crate::types::{vhd_context_t, vhd_footer_t};

const _: () = assert!(KEYHASH_SIZE == KEYHASH_BYTES);

/// Reads the image's footer into `footer` (host order): with `use_bkp_footer` the copy
/// at offset 0, else the one at the end of the file, falling back to a legacy 511-byte
/// footer and then to the copy at offset 0 (blktap3 does not enforce
/// `VHD_OPEN_STRICT`). `-EINVAL` if none is valid.
///
/// # Safety
/// `ctx` must be an open context and `footer` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_footer(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
    use_bkp_footer: bool,
) -> c_int {
    boundary!({
        status(if use_bkp_footer {
            // SAFETY: caller's contract.
            unsafe { crate::meta::vhd_read_footer_at(ctx, footer, 0) }
        } else {
            // SAFETY: caller's contract.
            unsafe { crate::meta::vhd_read_footer(ctx, footer) }
        })
    })
}

/// Writes `footer` as blktap2's `vhd_write_footer` does (at the end of data, and the copy
/// at offset 0 for dynamic and differencing disks), then cuts a regular file right
/// after it: whatever lay beyond the new end footer (an old footer, a tail left by a
/// shrink) is no longer part of the file.
///
/// # Safety
/// `ctx` must be an open context and `footer` a valid footer.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_footer(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        status(unsafe { crate::extent::vhd_write_footer(ctx, footer) })?;
        // SAFETY: caller's contract (the write succeeded, so `ctx` is an open context).
        let c = unsafe { context(ctx)? };
        if c.is_block != 0 {
            return Ok(());
        }
        let end = if c.footer.r#type == HD_TYPE_DYNAMIC || c.footer.r#type == HD_TYPE_DIFF {
            let mut eod: libc::off_t = 0;
            // SAFETY: an open context and a local out-value.
            match unsafe { crate::extent::vhd_end_of_data(c, &mut eod) } {
                0 => eod,
                e => return Err(e),
            }
        } else {
            libc::off_t::try_from(c.footer.curr_size).map_err(|_| -libc::EINVAL)?
        } + 512;
        // SAFETY: plain syscalls on the context's descriptor.
        let size = unsafe {
            let mut st: libc::stat = core::mem::zeroed();
            if libc::fstat(c.fd, &mut st) != 0 {
                return Err(crate::ffi::last_errno());
            }
            st.st_size
        };
        // SAFETY: as above; only ever shortens the file, past the footer just written.
        if size > end && unsafe { libc::ftruncate(c.fd, end) } != 0 {
            return Err(crate::ffi::last_errno());
        }
        Ok(())
    })
}

/// Reads a legacy short footer, the last 511 bytes of the file (images of early
/// writers that dropped the footer's last byte), into `footer` (host order).
/// `-EINVAL` if it is not a valid footer.
///
/// # Safety
/// `ctx` must be an open context and `footer` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_short_footer(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, footer) = unsafe { (context(ctx)?, object(footer)?) };
        let path = super::path::c_path_of(ctx)?;
        // The image's own descriptor may be O_DIRECT, which refuses 511-byte reads.
        let mut f = std::fs::File::open(path).map_err(crate::ffi::errno)?;
        let end = f.seek(SeekFrom::End(0)).map_err(crate::ffi::errno)?;
        if end < 511 {
            return Err(-libc::EINVAL);
        }
        let mut raw = [0u8; 512];
        f.seek(SeekFrom::Start(end - 511))
            .map_err(crate::ffi::errno)?;
        f.read_exact(&mut raw[..511]).map_err(crate::ffi::errno)?;
        let mut copy = vhd_footer_t::zeroed();
        // SAFETY: the footer is 512 bytes of integers and byte arrays.
        unsafe {
            core::ptr::copy_nonoverlapping(
                raw.as_ptr(),
                (&mut copy as *mut vhd_footer_t).cast(),
                512,
            )
        };
        // SAFETY: a local footer.
        unsafe { crate::helpers::vhd_footer_in(&mut copy) };
        *footer = copy;
        // SAFETY: as above.
        match unsafe { crate::meta::vhd_validate_footer(footer) } {
            0 => Ok(()),
            e => Err(e),
        }
    })
}

/// Re-reads the footer and, for dynamic and differencing disks, the header of `ctx`
/// from the start of the file (backup footer, then the header it points at), setting
/// `footer`, `header`, `spb` and `bm_secs`: the quick path of an open that does not
/// look at the end of the file. `-EINVAL` if either is invalid.
///
/// # Safety
/// `ctx` must be an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_open_fast(ctx: *mut vhd_context_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let c = unsafe { context(ctx)? };
        let mut footer = vhd_footer_t::zeroed();
        // SAFETY: an open context, a local footer.
        let err = unsafe { crate::meta::vhd_read_footer_at(c, &mut footer, 0) };
        if err != 0 {
            return Err(err);
        }
        let mut header = crate::types::vhd_header_t::zeroed();
        let dynamic = footer.r#type == HD_TYPE_DYNAMIC || footer.r#type == HD_TYPE_DIFF;
        if dynamic {
            let off = i64::try_from(footer.data_offset).map_err(|_| -libc::EINVAL)?;
            // SAFETY: as above.
            let err = unsafe { crate::meta::vhd_read_header_at(c, &mut header, off) };
            if err != 0 {
                return Err(err);
            }
        }
        c.footer = footer;
        if dynamic {
            c.header = header;
            c.spb = header.block_size >> crate::consts::VHD_SECTOR_SHIFT;
            c.bm_secs = vhd_nostd::secs_round_up_no_zero(u64::from(c.spb >> 3)) as u32;
        }
        Ok(())
    })
}

/// Fast resize: sets the virtual size of a dynamic or differencing disk to `bytes`
/// within the BAT it already has (images created with `mbytes`), updating `curr_size`,
/// the geometry and the checksum of both footers (`orig_size` kept) and `ctx->footer`.
/// `-EINVAL` if `bytes >> 21` exceeds `max_bat_size` or the disk is fixed; the
/// engine's error if the size shrinks or the BAT or batmap would have to move.
///
/// # Safety
/// `ctx` must be an open context (read-write).
#[no_mangle]
pub unsafe extern "C" fn vhd_set_virt_size(ctx: *mut vhd_context_t, bytes: u64) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let c = unsafe { context(ctx)? };
        let dynamic = c.footer.r#type == HD_TYPE_DYNAMIC || c.footer.r#type == HD_TYPE_DIFF;
        if !dynamic || bytes >> VHD_BLOCK_SHIFT > u64::from(c.header.max_bat_size) {
            return Err(-libc::EINVAL);
        }
        let footer = with_state(c, |st| {
            let disk = st.disk()?;
            grow(disk, bytes).map_err(errno)?;
            Ok(c_footer(disk.footer()))
        })?;
        c.footer = footer;
        Ok(())
    })
}

/// Reads the marker of `ctx` into `*marker`: batmap header byte 28, or the marker
/// extended attribute of an image without a batmap (0 where it is missing or the file
/// system has none).
///
/// # Safety
/// `ctx` must be an open context and `marker` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_marker(ctx: *mut vhd_context_t, marker: *mut c_char) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (c, out) = unsafe { (context(ctx)?, object(marker)?) };
        let stored = with_state(c, |st| Ok(st.disk()?.marker()))?;
        let value = match stored {
            Some(m) => m,
            None => {
                let mut v = [0u8; 1];
                get_attr(c.fd, MARKER_XATTR, &mut v)?;
                v[0]
            }
        };
        *out = value as c_char;
        Ok(())
    })
}

/// Sets the marker of `ctx` to `marker`: one write of the batmap header sector (also
/// `ctx->batmap.header.marker`), or the marker extended attribute of an image without a
/// batmap.
///
/// # Safety
/// `ctx` must be an open context (read-write).
#[no_mangle]
pub unsafe extern "C" fn vhd_set_marker(ctx: *mut vhd_context_t, marker: c_char) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let c = unsafe { context(ctx)? };
        let in_batmap = with_state(c, |st| {
            let disk = st.disk()?;
            if disk.marker().is_none() {
                return Ok(false);
            }
            disk.set_marker(marker as u8).map_err(errno)?;
            Ok(true)
        })?;
        if in_batmap {
            c.batmap.header.marker = marker;
            Ok(())
        } else {
            set_attr(c.fd, MARKER_XATTR, &[marker as u8])
        }
    })
}

/// The stored key hash bytes of `c`: the batmap header's, or the extended attribute's.
fn stored_keyhash(c: &vhd_context_t) -> Res<[u8; KEYHASH_SIZE]> {
    match with_state(c, |st| Ok(st.disk()?.keyhash_bytes()))? {
        Some(b) => Ok(b),
        None => {
            let mut b = [0u8; KEYHASH_SIZE];
            get_attr(c.fd, KEYHASH_XATTR, &mut b)?;
            Ok(b)
        }
    }
}

/// Reads the key hash of `ctx` into `*keyhash` (cookie 1 when one is stored, all zero
/// otherwise): batmap header bytes 29..94, or the key hash extended attribute.
///
/// # Safety
/// `ctx` must be an open context and `keyhash` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_get_keyhash(
    ctx: *mut vhd_context_t,
    keyhash: *mut vhd_keyhash,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (c, out) = unsafe { (context(ctx)?, object(keyhash)?) };
        *out = vhd_keyhash::from_bytes(&stored_keyhash(c)?);
        Ok(())
    })
}

/// Stores `*keyhash` as the key hash of `ctx`: one write of the batmap header sector
/// (marker and the rest kept; also `ctx->batmap.header.keyhash`), or the extended
/// attribute of an image without a batmap. Only a present hash (cookie 1) can be stored
/// in a batmap header here (`-EINVAL` otherwise; see COMPATIBILITY.md).
///
/// # Safety
/// `ctx` must be an open context (read-write) and `keyhash` readable.
#[no_mangle]
pub unsafe extern "C" fn vhd_set_keyhash(
    ctx: *mut vhd_context_t,
    keyhash: *const vhd_keyhash,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (c, k) = unsafe { (context(ctx)?, *shared(keyhash)?) };
        let bytes = k.to_bytes();
        let in_batmap = with_state(c, |st| {
            let disk = st.disk()?;
            if disk.keyhash_bytes().is_none() {
                return Ok(false);
            }
            let hash = KeyHash::decode(&bytes).ok_or(-libc::EINVAL)?;
            disk.set_keyhash(&hash).map_err(errno)?;
            Ok(true)
        })?;
        if in_batmap {
            c.batmap.header.keyhash = vhd_keyhash::from_bytes(&stored_keyhash(c)?);
            Ok(())
        } else {
            set_attr(c.fd, KEYHASH_XATTR, &bytes)
        }
    })
}
