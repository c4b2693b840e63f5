//! Failure injection, as the reference exports it to `vhd-util`.
//!
//! `vhd-util`'s main arms a failure point by setting `TEST_FAIL[point]` when the
//! environment variable named by `ENV_VAR_FAIL[point]` is set (even empty); the library
//! then stops at that point with `TEST_FAIL_AT(point)`: it prints `Failing at <VARNAME>`
//! and exits with `EINVAL`, leaving the image as it is (for testing crash recovery).

use core::ffi::{c_char, c_int};

use crate::consts::NUM_FAIL_TESTS;

/// Armed failure points, indexed by `FAIL_*`; non-zero means armed. vhd-util's main
/// sets them from the environment variables named in `ENV_VAR_FAIL`.
// C writes the array directly, hence a `static mut`; Rust code reads it through `armed`.
#[no_mangle]
pub static mut TEST_FAIL: [c_int; NUM_FAIL_TESTS] = [0; NUM_FAIL_TESTS];

/// The environment variable that arms each failure point, indexed by `FAIL_*`.
// C sees a writable array of pointers to constant strings. An array of raw pointers is
// not `Sync`, which a `static mut` does not require.
#[no_mangle]
pub static mut ENV_VAR_FAIL: [*const c_char; NUM_FAIL_TESTS] = [
    c"VHD_UTIL_TEST_FAIL_REPARENT_BEGIN".as_ptr(),
    c"VHD_UTIL_TEST_FAIL_REPARENT_LOCATOR".as_ptr(),
    c"VHD_UTIL_TEST_FAIL_REPARENT_END".as_ptr(),
    c"VHD_UTIL_TEST_FAIL_RESIZE_BEGIN".as_ptr(),
    c"VHD_UTIL_TEST_FAIL_RESIZE_DATA_MOVED".as_ptr(),
    c"VHD_UTIL_TEST_FAIL_RESIZE_METADATA_MOVED".as_ptr(),
    c"VHD_UTIL_TEST_FAIL_RESIZE_END".as_ptr(),
];

/// Whether failure point `point` (a `FAIL_*` value) is armed; out-of-range points never
/// are.
pub fn armed(point: usize) -> bool {
    if point >= NUM_FAIL_TESTS {
        return false;
    }
    // SAFETY: reads one `c_int` of a static that lives for the whole program, through a
    // raw pointer (no reference to the `static mut` is formed); `point` is in bounds.
    // C writes the array only from vhd-util's single-threaded start-up, before any
    // library call.
    unsafe { core::ptr::addr_of!(TEST_FAIL[point]).read() != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::CStr;

    #[test]
    fn names_and_points_line_up() {
        // SAFETY: reads the pointers through a raw pointer; nothing writes them in tests.
        let names = unsafe { core::ptr::addr_of!(ENV_VAR_FAIL).read() };
        let name = |i: usize| {
            // SAFETY: every entry points at a NUL-terminated string literal.
            unsafe { CStr::from_ptr(names[i]) }.to_str().unwrap()
        };
        assert_eq!(
            name(crate::consts::FAIL_REPARENT_LOCATOR),
            "VHD_UTIL_TEST_FAIL_REPARENT_LOCATOR"
        );
        assert_eq!(
            name(crate::consts::FAIL_RESIZE_METADATA_MOVED),
            "VHD_UTIL_TEST_FAIL_RESIZE_METADATA_MOVED"
        );
        assert!(!armed(crate::consts::FAIL_RESIZE_END));
        assert!(!armed(NUM_FAIL_TESTS));
    }
}
