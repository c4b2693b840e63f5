//! Parents of differencing disks: reading and writing parent locators, finding the
//! parent file, pointing an image at a new parent, and the depth of a chain.

use core::ffi::{c_char, c_int};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use libc::{off_t, size_t};
use vhd_cli::flavour::PARENT_NAMING;
use vhd_nostd::locator::{
    encode_windows_path, ParentLocator, LOCATOR_COUNT, PATH_MAX, PLAT_CODE_MACX, PLAT_CODE_W2KU,
    PLAT_CODE_W2RU,
};
use vhd_nostd::Io;
use vhd_std::reparent::{self, reparent};

use vhd_std::fileio::AlignedBuf;
use vhd_std::path::{find_parent_as, realpath};
use vhd_std::FileIo;

use crate::cmem::c_string;
use crate::consts::{HD_TYPE_DIFF, VHD_SECTOR_SIZE};
use crate::convert::{c_header, c_locator, engine_header, engine_locator};
use crate::ffi::{boundary, c_str, context, errno, object, Res};
use crate::path::relative_path;
use crate::state::{with_io, with_io_writing, with_state};
use crate::types::{vhd_context_t, vhd_header_t, vhd_parent_locator_t};

/// Bytes of a locator payload the engine accepts (UTF-16 of a `PATH_MAX` path).
const PAYLOAD_MAX: usize = 2 * PATH_MAX;
/// Room for a decoded path: UTF-16 code units become at most three UTF-8 bytes each.
const DECODED_MAX: usize = 3 * PATH_MAX;

/// `path` as a C string; `-EINVAL` if it holds a NUL.
pub(crate) fn c_path(path: &Path) -> Res<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| -libc::EINVAL)
}

fn holds_path(code: u32) -> bool {
    matches!(code, PLAT_CODE_MACX | PLAT_CODE_W2KU | PLAT_CODE_W2RU)
}

/// Decodes the path stored by locator `loc` (read through `io`) as a POSIX path.
fn read_locator(io: &mut FileIo, loc: &ParentLocator) -> Res<Vec<u8>> {
    if !holds_path(loc.code) {
        return Err(-libc::EINVAL);
    }
    let mut scratch = vec![0u8; PAYLOAD_MAX];
    let mut out = vec![0u8; DECODED_MAX];
    let path = loc
        .read_path(io, &mut scratch, &mut out)
        .map_err(|e| match e {
            vhd_nostd::Error::Io(e) => errno(e),
            _ => -libc::EINVAL,
        })?;
    Ok(path.as_bytes().to_vec())
}

/// The file of a context, as a path.
fn context_file(ctx: &vhd_context_t) -> Res<&Path> {
    // SAFETY: `file` is null or the NUL-terminated string vhd_open duplicated.
    let file = unsafe { c_str(ctx.file) }?;
    Ok(Path::new(OsStr::from_bytes(file.to_bytes())))
}

/// The resolved path of the parent of `ctx`, from the first locator that names a file.
pub(crate) fn locate_parent(ctx: &vhd_context_t) -> Res<PathBuf> {
    if ctx.footer.r#type != HD_TYPE_DIFF {
        return Err(-libc::EINVAL);
    }
    let mut err = -libc::EINVAL;
    for loc in &ctx.header.loc {
        let found = with_io(ctx, |io| read_locator(io, &engine_locator(loc))).and_then(|name| {
            find_parent_as(context_file(ctx)?, &name, PARENT_NAMING).map_err(errno)
        });
        match found {
            Ok(path) => return Ok(path),
            Err(e) => err = e,
        }
    }
    Err(err)
}

/// Stores a malloc'd copy of `bytes` in `*out`.
fn give_string(out: &mut *mut c_char, bytes: &[u8]) -> Res<()> {
    *out = c_string(bytes)?;
    Ok(())
}

/// The number of parent locator slots in the header: always 8, as in libvhd (empty
/// slots included).
///
/// # Safety
/// `ctx` is not read.
#[no_mangle]
pub unsafe extern "C" fn vhd_parent_locator_count(ctx: *mut vhd_context_t) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = ctx;
        LOCATOR_COUNT as c_int
    })
}

/// Sets `*parent` to the resolved path of the parent, from the first locator whose path
/// names a readable file (relative paths resolve against the image's directory). The
/// string is malloc'd; release it with `free`. `-EINVAL` for a non-differencing image
/// or when no locator resolves.
///
/// # Safety
/// `ctx` must be an open context; `parent` must be writable.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_parent_locator_get(
    ctx: *mut vhd_context_t,
    parent: *mut *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, parent) = unsafe { (context(ctx)?, object(parent)?) };
        *parent = core::ptr::null_mut();
        let path = locate_parent(ctx)?;
        give_string(parent, path.as_os_str().as_bytes())
    })
}

/// Sets `*parent` to the path stored in locator `loc` of a differencing image, decoded
/// (`file://` removed from MacX; W2ku/W2ru converted from UTF-16LE with `\` turned into
/// `/` and a `C:` removed) but not resolved. malloc'd; release with `free`. `-EINVAL`
/// for another platform code or a payload outside the file.
///
/// # Safety
/// `ctx` must be an open context, `loc` a valid locator, `parent` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_parent_locator_read(
    ctx: *mut vhd_context_t,
    loc: *mut vhd_parent_locator_t,
    parent: *mut *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, loc, parent) = unsafe { (context(ctx)?, object(loc)?, object(parent)?) };
        *parent = core::ptr::null_mut();
        if ctx.footer.r#type != HD_TYPE_DIFF {
            return Err(-libc::EINVAL);
        }
        let loc = engine_locator(loc);
        let name = with_io(ctx, |io| read_locator(io, &loc))?;
        give_string(parent, &name)
    })
}

/// Resolves `parent` (a path as a locator stores it) into `*location` (malloc'd): an
/// absolute readable path as it is, else relative to the image's directory, resolved.
/// The error is that of `realpath` or `access` (e.g. `-ENOENT`).
///
/// # Safety
/// `ctx` must be an open context, `parent` a string, `location` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_find_parent(
    ctx: *mut vhd_context_t,
    parent: *const c_char,
    location: *mut *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, parent, location) = unsafe { (context(ctx)?, c_str(parent)?, object(location)?) };
        *location = core::ptr::null_mut();
        let path =
            find_parent_as(context_file(ctx)?, parent.to_bytes(), PARENT_NAMING).map_err(errno)?;
        give_string(location, path.as_os_str().as_bytes())
    })
}

/// The payload of a locator of platform `code` for the relative path `rel`.
fn encode_locator(code: u32, rel: &str) -> Res<Vec<u8>> {
    let mut out = vec![0u8; PAYLOAD_MAX + 8];
    let n = match code {
        PLAT_CODE_MACX => vhd_nostd::locator::encode_macx(rel, &mut out),
        PLAT_CODE_W2KU | PLAT_CODE_W2RU => encode_windows_path(rel, &mut out),
        _ => return Err(-libc::EINVAL),
    }
    .map_err(|_| -libc::ENAMETOOLONG)?;
    out.truncate(n);
    Ok(out)
}

/// The parent's path relative to the image, checked to be a regular file or a block
/// device.
fn relative_parent(ctx: &vhd_context_t, parent: &Path) -> Res<String> {
    let kind = std::fs::metadata(parent).map_err(errno)?.file_type();
    if !kind.is_file() && !kind.is_block_device() {
        return Err(-libc::EINVAL);
    }
    // SAFETY: `file` is null or the string vhd_open duplicated.
    let file = unsafe { c_str(ctx.file) }?;
    let rel = relative_path(file, &c_path(parent)?)?;
    String::from_utf8(rel).map_err(|_| -libc::EINVAL)
}

/// Writes a locator of platform `code` (MacX, W2ku or W2rU) for `parent` at byte offset
/// `off`: the path relative to the image, padded to whole sectors; `-ENAMETOOLONG` if
/// that exceeds a non-zero `max_bytes`. On success `*loc` describes it, with
/// `data_space` in bytes as libvhd (and Windows) write it.
///
/// # Safety
/// `ctx` must be an open context, `parent` a string, `loc` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_parent_locator_write_at(
    ctx: *mut vhd_context_t,
    parent: *const c_char,
    off: off_t,
    code: u32,
    max_bytes: size_t,
    loc: *mut vhd_parent_locator_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, parent, loc) = unsafe { (context(ctx)?, c_str(parent)?, object(loc)?) };
        *loc = c_locator(&ParentLocator::default());
        if ctx.footer.r#type != HD_TYPE_DIFF || !holds_path(code) {
            return Err(-libc::EINVAL);
        }
        let parent = realpath(Path::new(OsStr::from_bytes(parent.to_bytes()))).map_err(errno)?;
        let payload = encode_locator(code, &relative_parent(ctx, &parent)?)?;
        let size = payload.len().div_ceil(VHD_SECTOR_SIZE as usize) * VHD_SECTOR_SIZE as usize;
        if max_bytes != 0 && size > max_bytes {
            return Err(-libc::ENAMETOOLONG);
        }
        let at = u64::try_from(off).map_err(|_| -libc::EINVAL)?;
        let mut block = AlignedBuf::try_new(size).map_err(errno)?;
        block.as_mut()[..payload.len()].copy_from_slice(&payload);
        with_io_writing(ctx, |io| io.write_at(at, block.as_ref()).map_err(errno))?;
        *loc = c_locator(&ParentLocator {
            code,
            data_space: size as u32,
            data_len: payload.len() as u32,
            res: 0,
            data_offset: at,
        });
        Ok(())
    })
}

/// Sets `*name` to `header->prt_name` decoded from UTF-16BE as libvhd decodes a `W2ku`
/// location: `\` becomes `/` and a `C:` drive prefix is dropped (malloc'd). `-EINVAL` if
/// it is not valid UTF-16 or has no terminator.
///
/// # Safety
/// `header` must be a valid header and `name` writable; `ctx` is not read.
#[no_mangle]
pub unsafe extern "C" fn vhd_header_decode_parent(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
    name: *mut *mut c_char,
) -> c_int {
    boundary!({
        let _ = ctx;
        // SAFETY: caller's contract.
        let (header, name) = unsafe { (object(header)?, object(name)?) };
        *name = core::ptr::null_mut();
        let mut out = vec![0u8; 3 * 256 + 1];
        let decoded = engine_header(header)
            .parent_location(&mut out)
            .map_err(|_| -libc::EINVAL)?;
        give_string(name, decoded.as_bytes())
    })
}

/// Points a differencing image at a new parent `parent_path`: its UUID (nil if `raw`),
/// file name and modification time go into the header, and the existing MacX, W2ku and
/// W2ru locators are rewritten in place with the path relative to the image
/// (`-ENAMETOOLONG` if it outgrows a slot; nothing is written then). The change is
/// vhd-std's reparent, crash-safe under a journal beside the image; `ctx->header` is
/// updated.
///
/// # Safety
/// `ctx` must be a context opened read-write; `parent_path` a string.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_change_parent(
    ctx: *mut vhd_context_t,
    parent_path: *mut c_char,
    raw: c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, parent) = unsafe { (context(ctx)?, c_str(parent_path)?) };
        // SAFETY: `file` is null or the string vhd_open duplicated.
        let file = unsafe { c_str(ctx.file) }?;
        let child = Path::new(OsStr::from_bytes(file.to_bytes()));
        let parent = Path::new(OsStr::from_bytes(parent.to_bytes()));
        let link =
            reparent::Link::new_as(child, parent, raw != 0, PARENT_NAMING).map_err(|e| e.0)?;
        let header = with_state(ctx, |state| {
            if !state.disk()?.is_writable() {
                return Err(errno(vhd_nostd::Error::<vhd_std::IoError>::ReadOnly));
            }
            // The change goes through an image of vhd-std's own; this context's view
            // is reopened from disk afterwards, parents included.
            state.invalidate();
            let opts = vhd_std::OpenOptions {
                writable: true,
                ..Default::default()
            };
            let mut image = vhd_std::Image::open(child, opts).map_err(|e| e.0)?;
            reparent(&mut image, &link).map_err(|e| e.0)?;
            drop(image);
            state.disk()?.header().map(c_header).ok_or(-libc::EINVAL)
        })?;
        ctx.header = header;
        Ok(())
    })
}

/// Sets `*depth` to the number of images in the chain from `ctx` down: 1 for an image
/// without parent, one more per differencing level; a raw parent counts as one.
/// Fails if a parent cannot be found or opened, does not carry the UUID its child
/// names, or the chain loops.
///
/// # Safety
/// `ctx` must be an open context; `depth` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_chain_depth(ctx: *mut vhd_context_t, depth: *mut c_int) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, depth) = unsafe { (context(ctx)?, object(depth)?) };
        *depth = 0;
        let n = if ctx.footer.r#type != HD_TYPE_DIFF {
            1
        } else {
            with_state(ctx, |state| Ok(state.chain()?.len()))?
        };
        *depth = n as c_int;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locator_payloads() {
        assert_eq!(
            encode_locator(PLAT_CODE_MACX, "./a.vhd").unwrap(),
            b"file://./a.vhd"
        );
        let w = encode_locator(PLAT_CODE_W2RU, "./a.vhd").unwrap();
        assert_eq!(w.len(), 14);
        assert_eq!(&w[..4], &[b'.', 0, b'\\', 0]);
        assert_eq!(encode_locator(0x1234, "./a.vhd"), Err(-libc::EINVAL));
    }
}
