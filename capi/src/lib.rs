//! `libvhd`: the C ABI of Xen blktap2's libvhd, for existing C clients (tapdisk's VHD
//! driver, `vhd-util`, `vhd-update`) to link against unchanged.
//!
//! The layout of everything a C client can see is fixed by the reference library on
//! x86_64 Linux: the `#[repr(C)]` structs in [`types`] and [`journal`] carry compile-time
//! checks of every field offset and size, and `include/*.h` are generated from these
//! sources by `tools/gen-headers` (`make headers`).
//!
//! Modules:
//! - [`types`]: the on-disk and in-memory structs (`vhd_footer_t`, `vhd_context_t`, ...).
//! - [`consts`]: the `#define`d constants, as Rust constants plus a table the header
//!   generator renders.
//! - [`testfail`]: the failure-injection data `TEST_FAIL` and `ENV_VAR_FAIL`.
//! - [`helpers`]: exported functions that need no image: time, geometry, checksums,
//!   byte-order conversion, platform codes, log level.
//! - [`uuid`]: the `vhd_uuid_*` helpers.
//! - [`path`]: `atomicio` and `relative_path_to`.
//! - [`open`], [`create`], [`meta`] (footer and header), [`bat`], [`batmap`], [`bitmap`]
//!   (sector bitmaps and blocks), [`parent`], [`io`] (sector and raw file I/O) and
//!   [`journal`]: the functions that work on images, backed by the `vhd-nostd` engine.
//! - [`util`]: the `vhd-util` subcommands, run by the `vhd_cli` library (vhd-cli/).
//! - [`blktap3`]: with the `blktap3` feature, blktap3's ABI (`libvhd.so.0`) instead of
//!   blktap2's: its struct layouts, changed and new exports.
//!
//! Internals: `state` (what the library keeps per open context, beside the C struct),
//! `cmem` (memory handed to C), `convert` (C structs <-> core types and on-disk bytes),
//! `ffi` (boundary rules). Everything host-side (file and block-device I/O over the
//! context's descriptor, aligned buffers, parent chains, paths, creating images, the
//! error-to-errno mapping) is vhd-std's; the format is the core's.
//!
//! Conventions of every exported function: `extern "C"`, a null pointer where the C API
//! needs an object is answered with `-EINVAL` (or the neutral value documented on the
//! function when the C return type cannot carry an errno).
//!
//! Panic policy: the library unwinds, and every export's body is one `ffi::boundary!`,
//! which runs it under `catch_unwind` and turns a panic (a bug in the library, never an
//! answer to input) into the function's error value: `-EIO` where it returns an errno,
//! NULL or the documented neutral value otherwise. No unwind reaches C and the host
//! process (tapdisk) is not aborted. A test reads these sources and fails for an export
//! whose body is anything else, another provokes a panic through exports and checks the
//! value; building with `panic = "abort"`, under which nothing would be caught, is a
//! compile error below.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
// The C names are part of the ABI.
#![allow(non_camel_case_types, non_upper_case_globals)]

#[cfg(not(panic = "unwind"))]
compile_error!("libvhd catches panics at its boundary: build it with panic = \"unwind\"");

#[cfg(test)]
mod alloc_count;
pub mod bat;
pub mod batmap;
pub mod bitmap;
pub mod blktap3;
mod cmem;
pub mod consts;
mod convert;
pub mod create;
pub mod extent;
mod ffi;
pub mod helpers;
pub mod io;
pub mod journal;
pub mod meta;
pub mod open;
pub mod parent;
pub mod path;
mod state;
pub mod testfail;
pub mod types;
pub mod util;
pub mod uuid;
