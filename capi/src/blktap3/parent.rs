//! Parents in blktap3's way: a custom parent path overrides the locators, unresolved
//! locator reads, locator encoders handed to C, writing the three standard locators and
//! the parent's name, and a reparent that refuses what is not a differencing disk.

use core::ffi::{c_char, c_int, CStr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vhd_nostd::locator::{encode_macx, encode_windows_path, PATH_MAX};

use crate::cmem::c_string;
use crate::consts::{HD_TYPE_DIFF, PLAT_CODE_MACX, PLAT_CODE_W2KU, PLAT_CODE_W2RU};
use crate::ffi::{boundary, c_str, context, object, Res};
use crate::types::{vhd_context_t, vhd_parent_locator_t};

/// Sets `*parent` to the parent's path (malloc'd): the custom parent if one was set,
/// else the first locator that resolves to a readable file. When none resolves the
/// error is that of the resolution (`-ENOENT` for a missing parent) rather than
/// blktap2's `-EINVAL`; `-EINVAL` for a non-differencing image.
///
/// # Safety
/// `ctx` must be an open context; `parent` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_parent_locator_get(
    ctx: *mut vhd_context_t,
    parent: *mut *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (c, out) = unsafe { (context(ctx)?, object(parent)?) };
        *out = core::ptr::null_mut();
        if !c.custom_parent.is_null() {
            // SAFETY: a string vhd_custom_parent_set copied.
            *out = c_string(unsafe { CStr::from_ptr(c.custom_parent) }.to_bytes())?;
            return Ok(());
        }
        // SAFETY: caller's contract.
        let err = unsafe { crate::parent::vhd_parent_locator_get(ctx, out) };
        if err != -libc::EINVAL || c.footer.r#type != HD_TYPE_DIFF {
            return if err == 0 { Ok(()) } else { Err(err) };
        }
        // A locator that decodes but does not resolve: the resolution's error.
        let mut stored: *mut c_char = core::ptr::null_mut();
        // SAFETY: an open context and a local out-pointer.
        if unsafe { vhd_parent_locator_unresolved_get(ctx, &mut stored) } != 0 {
            return Err(err);
        }
        // SAFETY: malloc'd just above, a string.
        let mut found: *mut c_char = core::ptr::null_mut();
        // SAFETY: as above.
        let resolved = unsafe { crate::parent::vhd_find_parent(ctx, stored, &mut found) };
        // SAFETY: malloc'd by the calls above (or null).
        unsafe {
            libc::free(stored.cast());
            libc::free(found.cast());
        }
        Err(if resolved == 0 { err } else { resolved })
    })
}

/// Sets `*parent` to the first locator path of `ctx` that decodes (MacX, W2ku or W2ru),
/// as stored (e.g. `./p.vhd`), not resolved; malloc'd. `-EINVAL` for a non-differencing
/// image or when no locator decodes.
///
/// # Safety
/// `ctx` must be an open context; `parent` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_parent_locator_unresolved_get(
    ctx: *mut vhd_context_t,
    parent: *mut *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (c, out) = unsafe { (context(ctx)?, object(parent)?) };
        *out = core::ptr::null_mut();
        if c.footer.r#type != HD_TYPE_DIFF {
            return Err(-libc::EINVAL);
        }
        for i in 0..c.header.loc.len() {
            let mut loc: vhd_parent_locator_t = c.header.loc[i];
            if ![PLAT_CODE_MACX, PLAT_CODE_W2KU, PLAT_CODE_W2RU].contains(&loc.code) {
                continue;
            }
            // SAFETY: an open context, a local locator and the caller's out-pointer.
            if unsafe { crate::parent::vhd_parent_locator_read(ctx, &mut loc, out) } == 0 {
                return Ok(());
            }
        }
        Err(-libc::EINVAL)
    })
}

/// Encodes the string `name` with `encode` (into a buffer of `room` bytes) and hands the
/// payload to C: `*out` malloc'd, `*outlen` its length. `-EINVAL` for a name that is not
/// UTF-8, `-ENAMETOOLONG` if the payload does not fit.
///
/// # Safety
/// `name` must be a string, `out` and `outlen` writable.
unsafe fn encode_location(
    name: *mut c_char,
    out: *mut *mut c_char,
    outlen: *mut c_int,
    room: usize,
    encode: fn(&str, &mut [u8]) -> Result<usize, vhd_nostd::FormatError>,
) -> Res<()> {
    // SAFETY: caller's contract.
    let (name, out, outlen) = unsafe { (c_str(name)?, object(out)?, object(outlen)?) };
    let name = name.to_str().map_err(|_| -libc::EINVAL)?;
    let mut buf = vec![0u8; room];
    let n = encode(name, &mut buf).map_err(|_| -libc::ENAMETOOLONG)?;
    *outlen = c_int::try_from(n).map_err(|_| -libc::ENAMETOOLONG)?;
    *out = c_string(&buf[..n])?;
    Ok(())
}

/// Encodes `name` as a MacX locator payload, `file://` then the UTF-8 path: `*out`
/// malloc'd (not NUL-counted in `*outlen`). `-EINVAL` for a name that is not UTF-8,
/// `-ENAMETOOLONG` past the locator limit.
///
/// # Safety
/// `name` must be a string, `out` and `outlen` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_macx_encode_location(
    name: *mut c_char,
    out: *mut *mut c_char,
    outlen: *mut c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        unsafe { encode_location(name, out, outlen, PATH_MAX * 2, encode_macx) }
    })
}

/// Encodes `name` as a W2ku/W2ru locator payload: `.\` prefixed unless it starts with
/// `.`, `/` turned into `\`, UTF-16LE; `*out` malloc'd, `*outlen` its bytes.
///
/// # Safety
/// `name` must be a string, `out` and `outlen` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_w2u_encode_location(
    name: *mut c_char,
    out: *mut *mut c_char,
    outlen: *mut c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        unsafe { encode_location(name, out, outlen, PATH_MAX * 4, encode_windows_path) }
    })
}

/// Sets `ctx->header.prt_name` to the file name of `path` in UTF-16BE, zero-filled (in
/// memory; `vhd_write_header` stores it). `-EINVAL` for a name that is not UTF-8,
/// `-ENAMETOOLONG` if it does not fit.
///
/// # Safety
/// `ctx` must be an open context and `path` a string.
#[no_mangle]
pub unsafe extern "C" fn vhd_initialize_header_parent_name(
    ctx: *mut vhd_context_t,
    path: *const c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (c, path) = unsafe { (context(ctx)?, c_str(path)?) };
        let base = Path::new(OsStr::from_bytes(path.to_bytes()))
            .file_name()
            .unwrap_or_default();
        let base = base.to_str().ok_or(-libc::EINVAL)?;
        let mut name = [0 as c_char; 512];
        let mut n = 0;
        for u in base.encode_utf16() {
            let dst = name.get_mut(n..n + 2).ok_or(-libc::ENAMETOOLONG)?;
            let [hi, lo] = u.to_be_bytes();
            dst[0] = hi as c_char;
            dst[1] = lo as c_char;
            n += 2;
        }
        c.header.prt_name = name;
        Ok(())
    })
}

/// Writes locators MacX, W2ku and W2ru for `parent` into slots 0, 1 and 2 of
/// `ctx->header.loc`, their payloads one after the other from the sector after the
/// batmap (after the BAT without one); each takes whole sectors. The header itself is
/// not written (`vhd_write_header` does). Errors as `vhd_parent_locator_write_at`.
///
/// # Safety
/// `ctx` must be an open context (read-write, differencing) and `parent` a string.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_parent_locators(
    ctx: *mut vhd_context_t,
    parent: *const c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let c = unsafe { context(ctx)? };
        // SAFETY: caller's contract.
        let parent = unsafe { c_str(parent)? };
        // SAFETY: an open context.
        let mut off = if unsafe { crate::batmap::vhd_has_batmap(ctx) } == 1 {
            // SAFETY: as above.
            let err = unsafe { crate::batmap::vhd_get_batmap(ctx) };
            if err != 0 {
                return Err(err);
            }
            c.batmap.header.batmap_offset
                + u64::from(c.batmap.header.batmap_size) * crate::consts::VHD_SECTOR_SIZE as u64
        } else {
            crate::batmap::batmap_header_offset(c)
        };
        for (slot, code) in [PLAT_CODE_MACX, PLAT_CODE_W2KU, PLAT_CODE_W2RU]
            .into_iter()
            .enumerate()
        {
            let mut loc = vhd_parent_locator_t::zeroed();
            let at = libc::off_t::try_from(off).map_err(|_| -libc::EINVAL)?;
            // SAFETY: an open context, a string and a local locator.
            let err = unsafe {
                crate::parent::vhd_parent_locator_write_at(
                    ctx,
                    parent.as_ptr(),
                    at,
                    code,
                    0,
                    &mut loc,
                )
            };
            if err != 0 {
                return Err(err);
            }
            c.header.loc[slot] = loc;
            off += u64::from(loc.data_space);
        }
        Ok(())
    })
}

/// Points differencing image `ctx` at `parent_path` as blktap2's `vhd_change_parent`
/// does; `-EINVAL` for any other image type (blktap3 refuses them).
///
/// # Safety
/// `ctx` must be a context opened read-write; `parent_path` a string.
#[no_mangle]
pub unsafe extern "C" fn vhd_change_parent(
    ctx: *mut vhd_context_t,
    parent_path: *mut c_char,
    raw: c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let c = unsafe { context(ctx)? };
        if c.footer.r#type != HD_TYPE_DIFF {
            return Err(-libc::EINVAL);
        }
        // SAFETY: caller's contract.
        match unsafe { crate::parent::vhd_change_parent(ctx, parent_path, raw) } {
            0 => Ok(()),
            e => Err(e),
        }
    })
}
