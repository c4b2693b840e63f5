//! `vhd_create` and `vhd_snapshot` with blktap3's extra `mbytes` argument: the BAT and
//! batmap sized for that virtual size ("metadata preallocation"), so that the image can
//! later grow to it in place (`vhd_set_virt_size`, `vhd-util resize -f`).

use core::ffi::{c_char, c_int, CStr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vhd_cli::flavour::PARENT_NAMING;
use vhd_nostd::footer::DiskType;
use vhd_std::create::{
    create_file_preallocated, create_snapshot_preallocated, link_backing_as, round_to_block,
};

use super::consts::VHD_FLAG_CREAT_PARENT_RAW;
use super::status;
use crate::consts::{HD_TYPE_DYNAMIC, HD_TYPE_FIXED};
use crate::ffi::{boundary, c_str};
use crate::types::vhd_flag_creat_t;

/// blktap2's create flags for blktap3's (only the raw-parent bit differs in value).
fn blktap2_flags(flags: vhd_flag_creat_t) -> vhd_flag_creat_t {
    if flags & VHD_FLAG_CREAT_PARENT_RAW != 0 {
        crate::consts::VHD_FLAG_CREAT_PARENT_RAW
    } else {
        0
    }
}

/// `mbytes` must cover `bytes` when both are given (`-EINVAL` otherwise).
fn check_capacity(bytes: u64, mbytes: u64) -> Result<(), c_int> {
    if bytes != 0 && mbytes != 0 && mbytes < bytes {
        return Err(-libc::EINVAL);
    }
    Ok(())
}

/// The path of a C string.
fn path(s: &CStr) -> &Path {
    Path::new(OsStr::from_bytes(s.to_bytes()))
}

/// Creates image `name` of `bytes` (rounded up to 2 MiB) of `type` (`HD_TYPE_FIXED` or
/// `HD_TYPE_DYNAMIC`), as blktap2's `vhd_create`; a non-zero `mbytes` sizes a dynamic
/// disk's BAT and batmap for that virtual size instead (`max_bat_size` =
/// ceil(mbytes / 2 MiB), the extra entries unused). `-EINVAL` if `mbytes` is below
/// `bytes`.
///
/// # Safety
/// `name` must be a string.
#[no_mangle]
pub unsafe extern "C" fn vhd_create(
    name: *const c_char,
    bytes: u64,
    r#type: c_int,
    mbytes: u64,
    flags: vhd_flag_creat_t,
) -> c_int {
    boundary!({
        if mbytes == 0 {
            // SAFETY: caller's contract.
            return status(unsafe {
                crate::create::vhd_create(name, bytes, r#type, blktap2_flags(flags))
            });
        }
        check_capacity(bytes, mbytes)?;
        // SAFETY: caller's contract.
        let name = unsafe { c_str(name)? };
        let kind = match u32::try_from(r#type) {
            Ok(HD_TYPE_FIXED) => DiskType::Fixed,
            Ok(HD_TYPE_DYNAMIC) => DiskType::Dynamic,
            _ => return Err(-libc::EINVAL),
        };
        create_file_preallocated(path(name), kind, bytes, round_to_block(mbytes))
            .map_err(|e| e.code())
    })
}

/// Creates differencing disk `snapshot` over `parent`, as blktap2's `vhd_snapshot`
/// (`VHD_FLAG_CREAT_PARENT_RAW`, 0x2 here, for a raw parent); a non-zero `mbytes` sizes
/// the BAT and batmap for that virtual size. `-EINVAL` if `mbytes` is below the size.
///
/// # Safety
/// `snapshot` and `parent` must be strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_snapshot(
    snapshot: *const c_char,
    bytes: u64,
    parent: *const c_char,
    mbytes: u64,
    flags: vhd_flag_creat_t,
) -> c_int {
    boundary!({
        if mbytes == 0 {
            // SAFETY: caller's contract.
            return status(unsafe {
                crate::create::vhd_snapshot(snapshot, bytes, parent, blktap2_flags(flags))
            });
        }
        check_capacity(bytes, mbytes)?;
        // SAFETY: caller's contract.
        let (name, parent) = unsafe { (c_str(snapshot)?, c_str(parent)?) };
        let raw = flags & VHD_FLAG_CREAT_PARENT_RAW != 0;
        let mut backing =
            link_backing_as(path(parent), raw, PARENT_NAMING).map_err(|e| e.code())?;
        if bytes != 0 {
            let size = round_to_block(bytes);
            if size < backing.size {
                return Err(-libc::EINVAL);
            }
            backing.size = size;
        }
        create_snapshot_preallocated(path(name), &backing, round_to_block(mbytes))
            .map_err(|e| e.code())
    })
}
