//! Opening and closing images: `vhd_open`, `vhd_close`, `vhd_test_file_fixed`.

use core::ffi::{c_char, c_int, CStr};
use std::ffi::OsStr;
use std::os::fd::IntoRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use vhd_nostd::OpenOptions;
use vhd_std::fileio::open_file;
use vhd_std::OpenMode;

use crate::cmem::{c_free, c_string};
use crate::consts::{VHD_OPEN_IGNORE_DISABLED, VHD_OPEN_RDWR, VHD_OPEN_STRICT, VHD_SECTOR_SHIFT};
use crate::convert::{c_footer, c_header};
use crate::ffi::{boundary, c_str, context, errno, object, Res};
use crate::state::{self, State};
use crate::types::vhd_context_t;

/// Whether the file at `path` is a block device.
pub(crate) fn is_block_device(path: &CStr) -> Res<bool> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(OsStr::from_bytes(path.to_bytes())).map_err(errno)?;
    Ok(meta.file_type().is_block_device())
}

/// Sets `*is_fixed` to 1 if `file` is a block device (a file of fixed size), else 0, as
/// libvhd's function of this name does; the `stat` error otherwise (`-ENOENT`).
///
/// # Safety
/// `file` must be a string and `is_fixed` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_test_file_fixed(file: *const c_char, is_fixed: *mut c_int) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (file, out) = unsafe { (c_str(file)?, object(is_fixed)?) };
        *out = c_int::from(is_block_device(file)?);
        Ok(())
    })
}

/// Opens `file` into `ctx` (Rust callers: the journal uses this too).
pub(crate) fn open_context(ctx: &mut vhd_context_t, file: &CStr, flags: c_int) -> Res<()> {
    zero(ctx);
    ctx.fd = -1;
    let result = fill_context(ctx, file, flags);
    if result.is_err() {
        close_context(ctx);
    }
    result
}

fn fill_context(ctx: &mut vhd_context_t, file: &CStr, flags: c_int) -> Res<()> {
    ctx.file = c_string(file.to_bytes())?;
    let writable = flags & VHD_OPEN_RDWR != 0;
    let (access, mode) = if writable {
        (libc::O_RDWR, OpenMode::ReadWrite)
    } else {
        (libc::O_RDONLY, OpenMode::ReadOnly)
    };
    let path = PathBuf::from(OsStr::from_bytes(file.to_bytes()));
    let (f, direct) = open_file(&path, mode, 0).map_err(errno)?;
    let fd = f.into_raw_fd();
    ctx.fd = fd;
    // The client's descriptor, as libvhd opens it: inherited by programs it runs.
    // SAFETY: F_SETFD on the descriptor just opened; no pointers.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    ctx.oflags = access | libc::O_LARGEFILE | if direct { libc::O_DIRECT } else { 0 };
    ctx.is_block = c_int::from(is_block_device(file)?);
    let opts = OpenOptions {
        writable,
        strict: flags & VHD_OPEN_STRICT != 0,
        ignore_disabled: flags & VHD_OPEN_IGNORE_DISABLED != 0,
    };
    let mut st = State::open(fd, opts, path)?;
    let image = st.disk()?;
    ctx.footer = c_footer(image.footer());
    if let Some(h) = image.header() {
        ctx.header = c_header(h);
        ctx.spb = ctx.header.block_size >> VHD_SECTOR_SHIFT;
        ctx.bm_secs = vhd_nostd::secs_round_up_no_zero(u64::from(ctx.spb >> 3)) as u32;
    }
    state::register(ctx, st);
    Ok(())
}

/// Closes `ctx` (Rust callers: the journal uses this too).
pub(crate) fn close_context(ctx: &mut vhd_context_t) {
    state::unregister(ctx);
    if !ctx.file.is_null() && ctx.fd >= 0 {
        // SAFETY: the descriptor vhd_open opened for this context, closed once.
        unsafe { libc::close(ctx.fd) };
    }
    c_free(ctx.file);
    c_free(ctx.bat.bat);
    c_free(ctx.batmap.map);
    zero(ctx);
}

/// Zeroes every byte of `ctx`, padding included, as libvhd's `memset` does (clients may
/// compare contexts bytewise).
pub(crate) fn zero(ctx: &mut vhd_context_t) {
    // SAFETY: all zero bytes are a valid context (integers and null pointers).
    unsafe { core::ptr::write_bytes(core::ptr::from_mut(ctx), 0, 1) }
}

/// Opens image `file` into `ctx` with `VHD_OPEN_*` `flags`.
///
/// The context is zeroed, `fd` set to -1 and `file` to a malloc'd copy of the path; the
/// file is opened with `O_DIRECT | O_LARGEFILE` plus `O_RDWR` (with `VHD_OPEN_RDWR`) or
/// `O_RDONLY`. Where the file system refuses `O_DIRECT` (tmpfs) it is opened buffered
/// instead, and the library then uses `fdatasync` where write order matters (`oflags`
/// shows which). The footer is read (falling back to the copy at offset 0 unless
/// `VHD_OPEN_STRICT`), a disabled image is refused unless `VHD_OPEN_IGNORE_DISABLED`,
/// and for dynamic and differencing disks the header is read and `spb` and `bm_secs`
/// set. `ctx->footer` and `ctx->header` are in host byte order. The BAT and batmap are
/// loaded later, by `vhd_get_bat` / `vhd_get_batmap` (or the first data I/O). A
/// read-write open also repairs what the format defines as recoverable (a damaged end
/// footer, a stale copy at offset 0, an invalid batmap).
///
/// Returns 0, or a negative errno with the context zeroed: `-ENOENT` for a missing
/// file, `-EINVAL` for a malformed or disabled image.
///
/// # Safety
/// `ctx` must be writable and `file` a string.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_open(
    ctx: *mut vhd_context_t,
    file: *const c_char,
    flags: c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        // SAFETY: caller's contract.
        let file = match unsafe { c_str(file) } {
            Ok(f) => f,
            Err(e) => {
                zero(ctx);
                return Err(e);
            }
        };
        open_context(ctx, file, flags)
    })
}

/// Closes `ctx`: syncs a writable image once, closes its descriptor (and any parents
/// the library opened for reads), frees `file`, the BAT and the batmap, and zeroes the
/// context. A zeroed context is left alone.
///
/// # Safety
/// `ctx` must be null or a context from `vhd_open` (or zeroed).
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_close(ctx: *mut vhd_context_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        if let Ok(ctx) = unsafe { context(ctx) } {
            close_context(ctx);
        }
    })
}
