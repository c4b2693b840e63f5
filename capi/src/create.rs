//! Creating images: `vhd_create` (fixed and dynamic) and `vhd_snapshot` (a
//! differencing disk over a VHD or raw parent), laid out by the engine as blktap does.

use core::ffi::{c_char, c_int, CStr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use uuid::Uuid;
use vhd_nostd::create::{create, CreateParams, Parent};
use vhd_nostd::footer::DiskType;
use vhd_nostd::header::DEFAULT_BLOCK_SIZE;
use vhd_nostd::Io;
use vhd_std::blockdev::finish_create;

use crate::alloc::AlignedBuf;
use crate::consts::{
    HD_TYPE_DYNAMIC, HD_TYPE_FIXED, VHD_BLOCK_SIZE, VHD_FLAG_CREAT_PARENT_RAW, VHD_MAX_NAME_LEN,
};
use crate::fdio::{open_direct, FdIo};
use crate::ffi::{c_str, call, errno, io_errno, Res};
use crate::helpers::vhd_time;
use crate::parent::c_path;
use crate::path::relative_path;
use crate::state::open_image_path;
use crate::types::vhd_flag_creat_t;
use crate::uuid::vhd_uuid_generate;

/// Size of the scratch buffer the engine stages the BAT and locator payloads in.
const SCRATCH_BYTES: usize = 64 * 1024;

/// `bytes` rounded up to whole 2 MiB blocks, as libvhd sizes new images.
fn round_to_blocks(bytes: u64) -> Res<u64> {
    bytes
        .div_ceil(VHD_BLOCK_SIZE)
        .checked_mul(VHD_BLOCK_SIZE)
        .ok_or(-libc::EINVAL)
}

/// A new random UUID.
fn new_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    // SAFETY: 16 writable bytes.
    unsafe { vhd_uuid_generate(&mut bytes) };
    Uuid::from_bytes(bytes)
}

/// The current time in VHD seconds.
fn now() -> u32 {
    // SAFETY: time(NULL) only returns the time.
    vhd_time(unsafe { libc::time(core::ptr::null_mut()) })
}

/// What a snapshot needs to know of its parent.
struct ParentInfo {
    uuid: Uuid,
    timestamp: u32,
    name: String,
    /// Its virtual size (a raw parent's length).
    size: u64,
}

/// Looks at the parent of a snapshot: a VHD (opened read-only), or with `raw` any
/// readable file whose length is the size.
fn parent_info(parent: &Path, raw: bool) -> Res<ParentInfo> {
    let meta = std::fs::metadata(parent).map_err(|e| io_errno(&e))?;
    let name = parent
        .file_name()
        .and_then(OsStr::to_str)
        .ok_or(-libc::EINVAL)?
        .to_owned();
    let (uuid, size) = if raw {
        let mut io = crate::state::open_file(parent, libc::O_RDONLY)?;
        (Uuid::nil(), io.size().map_err(|e| -e)?)
    } else {
        let image = open_image_path(parent)?;
        (image.footer().uuid, image.size())
    };
    Ok(ParentInfo {
        uuid,
        timestamp: vhd_time(meta.mtime() as libc::time_t),
        name,
        size,
    })
}

/// Creates `name` (truncating an existing file) and lays the image out in it; on
/// failure a regular file is removed again.
fn create_file(
    name: &CStr,
    kind: DiskType,
    size: u64,
    parent: Option<(&Path, &ParentInfo)>,
) -> Res<()> {
    if name.to_bytes().len() >= VHD_MAX_NAME_LEN as usize - 1 {
        return Err(-libc::ENAMETOOLONG);
    }
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
    let (fd, direct) = open_direct(name, flags, 0o644)?;
    let mut io = FdIo::new(fd, true, direct)?;
    let block = io.is_block();
    let result = lay_out(&mut io, name, kind, size, parent);
    drop(io);
    if result.is_err() && !block {
        // SAFETY: `name` is NUL-terminated.
        unsafe { libc::unlink(name.as_ptr()) };
    }
    result
}

fn lay_out(
    io: &mut FdIo,
    name: &CStr,
    kind: DiskType,
    size: u64,
    parent: Option<(&Path, &ParentInfo)>,
) -> Res<()> {
    // The relative path needs the new file to exist, which it now does.
    let relative = match parent {
        Some((path, _)) => {
            let rel = relative_path(name, &c_path(path)?)?;
            Some(String::from_utf8(rel).map_err(|_| -libc::EINVAL)?)
        }
        None => None,
    };
    let params = CreateParams {
        kind,
        size,
        block_size: DEFAULT_BLOCK_SIZE,
        uuid: new_uuid(),
        timestamp: now(),
        parent: parent.zip(relative.as_deref()).map(|((_, p), rel)| Parent {
            uuid: p.uuid,
            timestamp: p.timestamp,
            name: &p.name,
            relative_path: rel,
        }),
    };
    let mut scratch = AlignedBuf::zeroed(SCRATCH_BYTES)?;
    create(io, &params, scratch.as_mut()).map_err(errno)?;
    if let Some(ext) = io.extent() {
        finish_create(io, ext).map_err(errno)?;
    }
    io.sync().map_err(|e| -e)
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
    let _ = flags;
    call(|| {
        // SAFETY: caller's contract.
        let name = unsafe { c_str(name)? };
        let kind = match u32::try_from(r#type) {
            Ok(HD_TYPE_FIXED) => DiskType::Fixed,
            Ok(HD_TYPE_DYNAMIC) => DiskType::Dynamic,
            _ => return Err(-libc::EINVAL),
        };
        create_file(name, kind, round_to_blocks(bytes)?, None)
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
    call(|| {
        // SAFETY: caller's contract.
        let (name, parent) = unsafe { (c_str(snapshot)?, c_str(parent)?) };
        let parent = std::fs::canonicalize(OsStr::from_bytes(parent.to_bytes()))
            .map_err(|e| io_errno(&e))?;
        let info = parent_info(&parent, flags & VHD_FLAG_CREAT_PARENT_RAW != 0)?;
        let size = match bytes {
            0 => info.size,
            b => round_to_blocks(b)?,
        };
        if size < info.size {
            return Err(-libc::EINVAL);
        }
        create_file(name, DiskType::Differencing, size, Some((&parent, &info)))
    })
}
