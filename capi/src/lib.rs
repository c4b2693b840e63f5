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
//! `fdio` (the engine's I/O over a descriptor, `O_DIRECT`-aware), `alloc` (aligned
//! buffers and memory handed to C), `convert` (C structs <-> on-disk bytes), `ffi`
//! (boundary rules).
//!
//! Conventions of every exported function: `extern "C"`, a null pointer where the C API
//! needs an object is answered with `-EINVAL` (or the neutral value documented on the
//! function when the C return type cannot carry an errno), and no Rust panic ever unwinds
//! into C (every body that can panic runs inside `ffi::guard`, which turns a panic into
//! the error value).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
// The C names are part of the ABI.
#![allow(non_camel_case_types, non_upper_case_globals)]

mod alloc;
#[cfg(test)]
mod alloc_count;
pub mod bat;
pub mod batmap;
pub mod bitmap;
pub mod blktap3;
pub mod consts;
mod convert;
pub mod create;
mod fdio;
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
