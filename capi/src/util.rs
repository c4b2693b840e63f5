//! Placeholders for the `vhd-util` subcommands the reference library contains.
//!
//! The C `vhd-util` main only dispatches to these, so an engine-backed `libvhd.so` makes
//! the unchanged C tool behave like ours. Each has the reference's signature
//! `int vhd_util_<command>(int argc, char **argv)` (argv[0] is the subcommand name,
//! getopt-style options follow; the return value is 0 or a negative errno, or a positive
//! code for usage). They are to be replaced by implementations backed by the engine;
//! until then each returns `-ENOSYS`. Nothing here dereferences its arguments.
#![allow(unused_variables)]

use core::ffi::{c_char, c_int};

/// `vhd-util create`: creates an image: `-n name -s size_MB [-r]`.
#[no_mangle]
pub extern "C" fn vhd_util_create(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util snapshot`: creates a differencing disk: `-n name -p parent [-l limit] [-m]`.
#[no_mangle]
pub extern "C" fn vhd_util_snapshot(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util query`: prints an image's sizes, parent, hidden flag or chain depth.
#[no_mangle]
pub extern "C" fn vhd_util_query(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util read`: dumps an image's metadata, bitmaps, batmap or data.
#[no_mangle]
pub extern "C" fn vhd_util_read(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util set`: sets a footer field (`hidden`).
#[no_mangle]
pub extern "C" fn vhd_util_set_field(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util repair`: rewrites the footer at the end of data.
#[no_mangle]
pub extern "C" fn vhd_util_repair(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util resize`: grows an image under a journal.
#[no_mangle]
pub extern "C" fn vhd_util_resize(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util fill`: allocates every block, reading through the parent chain.
#[no_mangle]
pub extern "C" fn vhd_util_fill(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util coalesce`: merges a differencing disk into its parent.
#[no_mangle]
pub extern "C" fn vhd_util_coalesce(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util modify`: changes the physical size or the parent of an image.
#[no_mangle]
pub extern "C" fn vhd_util_modify(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util scan`: lists images and their parents.
#[no_mangle]
pub extern "C" fn vhd_util_scan(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util check`: checks an image's metadata (and, with `-p`, its parents).
#[no_mangle]
pub extern "C" fn vhd_util_check(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}

/// `vhd-util revert`: replays a resize journal.
#[no_mangle]
pub extern "C" fn vhd_util_revert(argc: c_int, argv: *mut *mut c_char) -> c_int {
    -libc::ENOSYS
}
