//! `lvm_scan_vg` and `lvm_free_vg`, blktap3's LVM scanner (its `lvm-util.h`, not
//! installed; `vhd-util scan -l` uses it inside the reference).
//!
//! NOT IMPLEMENTED: the layout of `struct vg` is not part of the ABI facts this library
//! is built from, so `lvm_scan_vg` fills nothing and returns `-ENOSYS`, and
//! `lvm_free_vg` does nothing. The `vhd-util` of this project scans volume groups itself
//! (`tools/vhd-util/src/lvm.rs`). See COMPATIBILITY.md.

use core::ffi::{c_char, c_int, c_void};

use crate::ffi::boundary;

/// Not implemented: `-ENOSYS`, `vg` untouched.
///
/// # Safety
/// Neither argument is read.
#[no_mangle]
pub unsafe extern "C" fn lvm_scan_vg(vg_name: *const c_char, vg: *mut c_void) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (vg_name, vg);
        -libc::ENOSYS
    })
}

/// Not implemented: nothing to free, as `lvm_scan_vg` fills nothing.
///
/// # Safety
/// `vg` is not read.
#[no_mangle]
pub unsafe extern "C" fn lvm_free_vg(vg: *mut c_void) {
    boundary!(on_panic = (), {
        let _ = vg;
    })
}
