//! The VHD engine core: no `std`, no `alloc`.
#![no_std]
