//! Small file helpers blktap3's library exports: extended attributes (where an image
//! without a batmap keeps its marker and key hash), `open` with an `O_DIRECT` fallback,
//! and `isPowerOf2`.

use core::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::ffi::{boundary, c_str, Res};
use crate::types::vhd_context_t;

/// The negative `errno` of the last failed call.
fn last() -> c_int {
    -std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The path `ctx` was opened with.
pub(crate) fn c_path_of(ctx: &vhd_context_t) -> Res<&Path> {
    if ctx.file.is_null() {
        return Err(-libc::EINVAL);
    }
    // SAFETY: `file` is the string vhd_open copied.
    let file = unsafe { CStr::from_ptr(ctx.file) };
    Ok(Path::new(OsStr::from_bytes(file.to_bytes())))
}

/// Reads attribute `name` of `fd` into `buf`: zeros where the attribute is shorter,
/// missing, or not supported by the file system.
pub(crate) fn get_attr(fd: c_int, name: &str, buf: &mut [u8]) -> Res<()> {
    let name = std::ffi::CString::new(name).map_err(|_| -libc::EINVAL)?;
    buf.fill(0);
    // SAFETY: a string and a live buffer of the length passed.
    let n = unsafe { libc::fgetxattr(fd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n >= 0 {
        return Ok(());
    }
    match last() {
        e if e == -libc::ENODATA || e == -libc::ENOTSUP => Ok(()),
        e => Err(e),
    }
}

/// Sets attribute `name` of `fd` to `value`.
pub(crate) fn set_attr(fd: c_int, name: &str, value: &[u8]) -> Res<()> {
    let name = std::ffi::CString::new(name).map_err(|_| -libc::EINVAL)?;
    // SAFETY: a string and a live buffer of the length passed.
    let n = unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if n < 0 {
        return Err(last());
    }
    Ok(())
}

/// The `size` bytes at `val` (none for a null pointer and size 0).
///
/// # Safety
/// `val` must be null or hold `size` bytes.
unsafe fn bytes<'a>(val: *const c_void, size: usize) -> Res<&'a [u8]> {
    if val.is_null() {
        return if size == 0 {
            Ok(&[])
        } else {
            Err(-libc::EINVAL)
        };
    }
    // SAFETY: caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(val.cast(), size) })
}

/// Reads extended attribute `name` of `fd` into `val` (`size` bytes): 0, with `val`
/// zeroed where the attribute is missing or unsupported; else the negative `errno`.
///
/// # Safety
/// `name` must be a string and `val` hold `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn xattr_get(
    fd: c_int,
    name: *const c_char,
    val: *mut c_void,
    size: usize,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let name = unsafe { c_str(name)? }
            .to_str()
            .map_err(|_| -libc::EINVAL)?;
        // SAFETY: caller's contract.
        let len = unsafe { bytes(val, size)? }.len();
        if len == 0 {
            return Ok(());
        }
        // SAFETY: `val` holds `size` writable bytes (caller's contract).
        let buf = unsafe { core::slice::from_raw_parts_mut(val.cast::<u8>(), size) };
        get_attr(fd, name, buf)
    })
}

/// Sets extended attribute `name` of `fd` to the `size` bytes at `val`: 0 or the
/// negative `errno`.
///
/// # Safety
/// `name` must be a string and `val` hold `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn xattr_set(
    fd: c_int,
    name: *const c_char,
    val: *const c_void,
    size: usize,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let name = unsafe { c_str(name)? }
            .to_str()
            .map_err(|_| -libc::EINVAL)?;
        // SAFETY: caller's contract.
        set_attr(fd, name, unsafe { bytes(val, size)? })
    })
}

/// Whether `x` is a power of two (0 is not).
#[no_mangle]
pub extern "C" fn isPowerOf2(x: u32) -> bool {
    boundary!(on_panic = false, { x.is_power_of_two() })
}

/// `open(path, flags, mode)`; if that fails with `EINVAL` and `O_DIRECT` was asked (a
/// file system without direct I/O, such as tmpfs), opened again without `O_DIRECT` and
/// with `O_DSYNC`, so that writes still reach the disk before returning. `mode` is read
/// only with `O_CREAT`. Returns the descriptor, or -1 with `errno` set.
///
/// C declares it variadic (`int open_optional_odirect(const char *, int, ...)`); on
/// x86_64 a third integer argument is passed in the same register either way, and it
/// is only read when the caller passed one (`O_CREAT`).
///
/// # Safety
/// `path` must be a string.
#[no_mangle]
pub unsafe extern "C" fn open_optional_odirect(
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    boundary!(on_panic = -1, {
        if path.is_null() {
            // SAFETY: errno is thread-local.
            unsafe { *libc::__errno_location() = libc::EINVAL };
            return -1;
        }
        let mode = if flags & libc::O_CREAT != 0 { mode } else { 0 };
        // SAFETY: a string (caller's contract).
        let fd = unsafe { libc::open(path, flags, mode) };
        if fd >= 0 || flags & libc::O_DIRECT == 0 || last() != -libc::EINVAL {
            return fd;
        }
        let flags = (flags & !libc::O_DIRECT) | libc::O_DSYNC;
        // SAFETY: as above.
        unsafe { libc::open(path, flags, mode) }
    })
}
