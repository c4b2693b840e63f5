//! `libvhd`: the C ABI of Xen blktap2's libvhd, for existing C clients (tapdisk's VHD
//! driver, `vhd-util`, `vhd-update`) to link against unchanged.
//!
//! The layout of everything a C client can see is fixed by the reference library on
//! x86_64 Linux: the `#[repr(C)]` structs in [`types`] carry compile-time checks of every
//! field offset and size.
//!
//! Modules:
//! - [`types`]: the on-disk and in-memory structs (`vhd_footer_t`, `vhd_context_t`, ...).
//! - [`consts`]: the `#define`d constants, as Rust constants plus a table a header
//!   generator can render.
//! - [`testfail`]: the failure-injection data `TEST_FAIL` and `ENV_VAR_FAIL`.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
// The C names are part of the ABI.
#![allow(non_camel_case_types, non_upper_case_globals)]

pub mod consts;
pub mod testfail;
pub mod types;
