//! Creating images: `vhd_create` (fixed and dynamic) and `vhd_snapshot` (a
//! differencing disk over a VHD or raw parent), made by vhd-std's create as blktap lays
//! them out.

use core::ffi::{c_char, c_int, CStr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vhd_cli::flavour::PARENT_NAMING;
use vhd_nostd::footer::DiskType;
use vhd_std::create::{create_file, create_snapshot, link_backing_as, round_to_block};

use crate::consts::{HD_TYPE_DYNAMIC, HD_TYPE_FIXED, VHD_FLAG_CREAT_PARENT_RAW, VHD_MAX_NAME_LEN};
use crate::ffi::{boundary, c_str, errno, Res};
use crate::types::vhd_flag_creat_t;

/// The path of a new image; `-ENAMETOOLONG` for a name of `VHD_MAX_NAME_LEN - 1` bytes
/// or more, as libvhd refuses it.
fn new_image_path(name: &CStr) -> Res<&Path> {
    if name.to_bytes().len() >= VHD_MAX_NAME_LEN as usize - 1 {
        return Err(-libc::ENAMETOOLONG);
    }
    Ok(Path::new(OsStr::from_bytes(name.to_bytes())))
}

/// Creates image `name` of `bytes` bytes (rounded up to whole 2 MiB blocks, as libvhd
/// does) and `type` `HD_TYPE_FIXED` or `HD_TYPE_DYNAMIC`, laid out as blktap does: a
/// fixed image is the zeroed data then the footer; a dynamic one the footer copy, the
/// header, the BAT (1536), the batmap, then the footer. An existing file is
/// overwritten; on failure the file is removed (not a block device). `-EINVAL` for
/// another type or a size beyond 2040 GiB, `-ENAMETOOLONG` for a name of 1023 bytes
/// or more.
///
/// # Safety
/// `name` must be a string.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_create(
    name: *const c_char,
    bytes: u64,
    r#type: c_int,
    flags: vhd_flag_creat_t,
) -> c_int {
    boundary!({
        let _ = flags;
        // SAFETY: caller's contract.
        let name = unsafe { c_str(name)? };
        let kind = match u32::try_from(r#type) {
            Ok(HD_TYPE_FIXED) => DiskType::Fixed,
            Ok(HD_TYPE_DYNAMIC) => DiskType::Dynamic,
            _ => return Err(-libc::EINVAL),
        };
        create_file(new_image_path(name)?, kind, bytes).map_err(errno)
    })
}

/// Creates differencing disk `snapshot` over `parent`. With `VHD_FLAG_CREAT_PARENT_RAW`
/// the parent is a raw image (nil parent UUID); otherwise a VHD, whose UUID the child
/// records. `bytes` 0 takes the parent's size exactly (a raw parent's length); other
/// sizes are rounded up to whole 2 MiB blocks and may not be below the parent's
/// (`-EINVAL`). The header names the parent's file name (`prt_name`) and modification
/// time (`prt_ts`); three locators (MacX, W2ku, W2ru) hold its path relative to the
/// snapshot (`./base.vhd`). Errors: the parent's (`-ENOENT` if missing, `-EINVAL` if not
/// a VHD), and those of `vhd_create`.
///
/// # Safety
/// `snapshot` and `parent` must be strings.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_snapshot(
    snapshot: *const c_char,
    bytes: u64,
    parent: *const c_char,
    flags: vhd_flag_creat_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (name, parent) = unsafe { (c_str(snapshot)?, c_str(parent)?) };
        let raw = flags & VHD_FLAG_CREAT_PARENT_RAW != 0;
        let parent = Path::new(OsStr::from_bytes(parent.to_bytes()));
        let mut backing = link_backing_as(parent, raw, PARENT_NAMING).map_err(errno)?;
        let size = match bytes {
            0 => backing.size,
            b => round_to_block(b),
        };
        if size < backing.size {
            return Err(-libc::EINVAL);
        }
        backing.size = size;
        create_snapshot(new_image_path(name)?, &backing).map_err(errno)
    })
}
