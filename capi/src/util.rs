//! The `vhd-util` subcommands the reference library contains, as `vhd_util_*`.
//!
//! The C `vhd-util` main only dispatches to these, so this `libvhd.so` makes the
//! unchanged C tool behave like ours: each entry point converts its arguments and runs
//! the same subcommand as the `vhd-util` binary (the `vhd_cli` library), with the
//! reference's signature `int vhd_util_<command>(int argc, char **argv)` (argv[0] is
//! the subcommand name, getopt-style options follow). The return value is 0, a negative
//! errno, or a positive code for some usage paths, as the reference's; the C main turns
//! it into the exit status. Failure points are armed by the same environment variables
//! the C main reads into `TEST_FAIL`.

use core::ffi::{c_char, c_int, CStr};
use std::io::Write;

use crate::ffi::boundary;

/// Runs subcommand `run` with the C arguments, flushing what it printed before control
/// returns to C (whose stdio buffers are separate). `-EINVAL` for a null `argv` or a
/// negative `argc`.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings (null entries are skipped).
pub(crate) unsafe fn dispatch(
    argc: c_int,
    argv: *mut *mut c_char,
    run: fn(&[String]) -> i32,
) -> c_int {
    let Ok(n) = usize::try_from(argc) else {
        return -libc::EINVAL;
    };
    if argv.is_null() {
        return -libc::EINVAL;
    }
    // SAFETY: `argv` holds `argc` pointers (caller's contract).
    let ptrs = unsafe { core::slice::from_raw_parts(argv, n) };
    let args: Vec<String> = ptrs
        .iter()
        .filter(|p| !p.is_null())
        // SAFETY: each non-null entry is a NUL-terminated string (caller's contract).
        .map(|&p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        .collect();
    let ret = run(&args);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    ret
}

/// `vhd-util create`: creates an image: `-n name -s size_MB [-r]`.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_create(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::create::run) }
    })
}

/// `vhd-util snapshot`: creates a differencing disk: `-n name -p parent [-l limit] [-m]`.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_snapshot(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::snapshot::run) }
    })
}

/// `vhd-util query`: prints an image's sizes, parent, hidden flag or chain depth.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_query(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::query::run) }
    })
}

/// `vhd-util read`: dumps an image's metadata, bitmaps, batmap or data.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_read(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::read::run) }
    })
}

/// `vhd-util set`: sets a footer field (`hidden`).
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_set_field(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::set::run) }
    })
}

/// `vhd-util repair`: rewrites the footer at the end of data.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_repair(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::repair::run) }
    })
}

/// `vhd-util resize`: grows an image under a journal.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_resize(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::resize::run) }
    })
}

/// `vhd-util fill`: allocates every block, reading through the parent chain.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_fill(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::fill::run) }
    })
}

/// `vhd-util coalesce`: merges a differencing disk into its parent.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_coalesce(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::coalesce::run) }
    })
}

/// `vhd-util modify`: changes the physical size or the parent of an image.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_modify(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::modify::run) }
    })
}

/// `vhd-util scan`: lists images and their parents.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_scan(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::scan::run) }
    })
}

/// `vhd-util check`: checks an image's metadata (and, with `-p`, its parents).
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_check(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::check::run) }
    })
}

/// `vhd-util revert`: replays a resize journal.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_revert(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::revert::run) }
    })
}
