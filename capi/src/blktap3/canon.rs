//! blktap3's path canonicalisation for parent paths (`canonpath`, its `canonpath.h` is
//! not installed) and the lexical `normalize_path`.
//!
//! The rule itself is vhd-std's (`vhd_std::canonpath`), which `vhd-util snapshot` and
//! `modify -p` of the blktap3 flavour use too.

use core::ffi::{c_char, CStr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vhd_std::canonpath::{canonpath as canonical, lexical};

use crate::ffi::boundary;

/// Sets `errno` for a C caller.
fn set_errno(e: i32) {
    // SAFETY: errno is thread-local.
    unsafe { *libc::__errno_location() = e };
}

/// Canonicalises `path` into `out` (`size` bytes, NUL included) and returns `out`, or
/// NULL with `errno` set (that of the lookup, `ERANGE` if it does not fit, `EINVAL` for
/// null arguments).
///
/// # Safety
/// `path` must be a string and `out` hold `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn canonpath(
    path: *const c_char,
    out: *mut c_char,
    size: usize,
) -> *mut c_char {
    boundary!(on_panic = core::ptr::null_mut(), {
        if path.is_null() || out.is_null() {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        // SAFETY: a string (caller's contract).
        let path = Path::new(OsStr::from_bytes(
            unsafe { CStr::from_ptr(path) }.to_bytes(),
        ));
        match canonical(path) {
            Ok(p) => {
                let b = p.as_os_str().as_bytes();
                if b.len() >= size {
                    set_errno(libc::ERANGE);
                    return core::ptr::null_mut();
                }
                // SAFETY: `out` holds `size` > `b.len()` bytes (caller's contract).
                unsafe {
                    core::ptr::copy_nonoverlapping(b.as_ptr(), out.cast::<u8>(), b.len());
                    *out.add(b.len()) = 0;
                }
                out
            }
            Err(e) => {
                set_errno(e.raw_os_error().unwrap_or(libc::EIO));
                core::ptr::null_mut()
            }
        }
    })
}

/// `path` (its first `len` bytes) made absolute and lexically normalised (`.`, `..`,
/// `//` removed), malloc'd; NULL with `errno` set on failure.
///
/// # Safety
/// `path` must hold `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn normalize_path(path: *const c_char, len: usize) -> *mut c_char {
    boundary!(on_panic = core::ptr::null_mut(), {
        if path.is_null() {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        // SAFETY: `path` holds `len` bytes (caller's contract).
        let raw = unsafe { core::slice::from_raw_parts(path.cast::<u8>(), len) };
        let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
        let norm = match lexical(Path::new(OsStr::from_bytes(raw))) {
            Ok(p) => p,
            Err(e) => {
                set_errno(e.raw_os_error().unwrap_or(libc::EIO));
                return core::ptr::null_mut();
            }
        };
        crate::cmem::c_string(norm.as_os_str().as_bytes()).unwrap_or_else(|_| {
            set_errno(libc::ENOMEM);
            core::ptr::null_mut()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_answer_in_c_terms() {
        let dir = std::env::temp_dir();
        let canon = std::fs::canonicalize(&dir).unwrap();
        let want = canon.as_os_str().as_bytes();
        let c = std::ffi::CString::new(dir.join(".").as_os_str().as_bytes()).unwrap();
        let mut out = vec![0 as c_char; want.len() + 1];
        // SAFETY: a string and a buffer of the given size.
        unsafe {
            assert!(!canonpath(c.as_ptr(), out.as_mut_ptr(), out.len()).is_null());
            assert_eq!(CStr::from_ptr(out.as_ptr()).to_bytes(), want);
            assert!(canonpath(c.as_ptr(), out.as_mut_ptr(), want.len()).is_null());
            let n = normalize_path(c"/a/./b//../c".as_ptr(), 12);
            assert_eq!(CStr::from_ptr(n).to_bytes(), b"/a/c");
            crate::cmem::c_free(n);
        }
    }
}
