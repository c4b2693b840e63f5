//! The boundary rules shared by every exported function: no panic crosses into C, and
//! every failure is a negative `errno`.

use core::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use vhd_nostd::Error;

use crate::types::vhd_context_t;

/// A result whose error is a negative `errno`, as libvhd returns them.
pub(crate) type Res<T> = Result<T, c_int>;

/// Runs `body`, returning `on_panic` instead if it panics, so that no unwind ever crosses
/// into C. The release profile aborts on panic anyway; this keeps debug and test builds
/// (which unwind) just as safe.
pub(crate) fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Runs `body` under [`guard`] and returns 0 or its negative `errno` (`-EIO` if it
/// panicked, which would be a bug).
pub(crate) fn call(body: impl FnOnce() -> Res<()>) -> c_int {
    guard(-libc::EIO, || body().err().unwrap_or(0))
}

/// The negative `errno` of an engine error: the I/O error as it came from the file,
/// `-EINVAL` for a malformed image or a bad argument, `-ERANGE` for sectors beyond the
/// disk, `-EBADF` for a write to an image opened read-only (what `pwrite` on the
/// reference's read-only descriptor gives), `-ENOSPC` when the BAT's 32-bit sector
/// offsets run out.
pub(crate) fn errno(e: Error<c_int>) -> c_int {
    match e {
        Error::Io(e) => -e.abs(),
        Error::OutOfRange => -libc::ERANGE,
        Error::ReadOnly => -libc::EBADF,
        Error::NoSpace => -libc::ENOSPC,
        Error::Format(_)
        | Error::BufferTooSmall { .. }
        | Error::Unaligned
        | Error::WrongDiskType
        | Error::MissingParent
        | Error::ParentMismatch
        | Error::Disabled
        | Error::SavedState
        | Error::InvalidArgument(_) => -libc::EINVAL,
    }
}

/// The context behind a C pointer; `-EINVAL` for null.
///
/// # Safety
/// `ctx` must be null or point to a context that stays valid, and is not otherwise
/// accessed, for `'a`.
pub(crate) unsafe fn context<'a>(ctx: *mut vhd_context_t) -> Res<&'a mut vhd_context_t> {
    // SAFETY: null or valid and exclusive (caller's contract).
    unsafe { ctx.as_mut() }.ok_or(-libc::EINVAL)
}

/// The object behind a C out- or in-out pointer; `-EINVAL` for null.
///
/// # Safety
/// `p` must be null or point to a valid, writable `T` not otherwise accessed for `'a`.
pub(crate) unsafe fn object<'a, T>(p: *mut T) -> Res<&'a mut T> {
    // SAFETY: null or valid and exclusive (caller's contract).
    unsafe { p.as_mut() }.ok_or(-libc::EINVAL)
}

/// A C string argument; `-EINVAL` for null.
///
/// # Safety
/// `s` must be null or a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn c_str<'a>(s: *const c_char) -> Res<&'a CStr> {
    if s.is_null() {
        return Err(-libc::EINVAL);
    }
    // SAFETY: non-null, so NUL-terminated (caller's contract).
    Ok(unsafe { CStr::from_ptr(s) })
}

/// The negative `errno` of a failed `std` file operation.
pub(crate) fn io_errno(e: &std::io::Error) -> c_int {
    -e.raw_os_error().unwrap_or(libc::EIO)
}

/// A shared view of the object behind a C pointer; `-EINVAL` for null.
///
/// # Safety
/// `p` must be null or point to a valid `T` not written for `'a`.
pub(crate) unsafe fn shared<'a, T>(p: *const T) -> Res<&'a T> {
    // SAFETY: null or valid (caller's contract).
    unsafe { p.as_ref() }.ok_or(-libc::EINVAL)
}

/// Runs `f` on a copy of `*p` and stores the copy back, whatever `f` returns. For
/// in-out arguments that may point into a context `f` also uses (`&ctx->footer`): no
/// reference to `*p` is alive while `f` runs.
///
/// # Safety
/// `p` must be null or point to a valid, writable `T`, and `f` must not keep a
/// reference to the memory of `*p` past its return.
pub(crate) unsafe fn with_copy<T: Copy>(p: *mut T, f: impl FnOnce(&mut T) -> Res<()>) -> Res<()> {
    if p.is_null() {
        return Err(-libc::EINVAL);
    }
    // SAFETY: non-null, so valid (caller's contract).
    let mut value = unsafe { p.read() };
    let result = f(&mut value);
    // SAFETY: as above; nothing else refers to `*p` now.
    unsafe { p.write(value) };
    result
}
