//! New image files: `vhd-util create` and `vhd-util snapshot` as libvhd's `vhd_create`
//! and `vhd_snapshot` make them. The layout itself is the core's
//! ([`vhd_nostd::create::create`]); this module picks sizes, identities, times and the
//! parent link, and removes the file again if creating it fails.

use std::path::{Path, PathBuf};

use uuid::Uuid;
use vhd_nostd::create::{create_preallocated, CreateParams, Parent};
use vhd_nostd::footer::DiskType;
use vhd_nostd::header::DEFAULT_BLOCK_SIZE;
use vhd_nostd::OpenOptions;

use crate::blockdev::finish_create;
use crate::canonpath::ParentNaming;
use crate::errno::{Errno, VhdResult};
use crate::fileio::{FileIo, OpenMode};
use crate::image::{Image, MAX_CHAIN_DEPTH};
use crate::path::{basename, canonical_dir_of, relative_path};
use crate::time::{mtime_vhd, now_vhd};

/// Scratch for the core's create: BAT chunks and locator payloads.
const SCRATCH: usize = 2 * vhd_nostd::locator::PATH_MAX + 4096;

/// Rounds a size up to whole 2 MiB blocks, as `vhd_create` does.
pub fn round_to_block(bytes: u64) -> u64 {
    let bs = u64::from(DEFAULT_BLOCK_SIZE);
    bytes.div_ceil(bs).saturating_mul(bs)
}

/// Creates the image, its metadata sized for `capacity` bytes (or its size if larger).
fn write_new(path: &Path, params: &CreateParams<'_>, capacity: u64) -> VhdResult<()> {
    let mut io = FileIo::open(path, OpenMode::Create)?;
    let res = (|| {
        let mut scratch = vec![0u8; SCRATCH];
        let capacity = capacity.max(params.size);
        create_preallocated(&mut io, params, capacity, &mut scratch)?;
        if let Some(ext) = io.extent() {
            finish_create(&mut io, ext)?;
        }
        Ok(())
    })();
    // A device node is not ours to remove.
    if res.is_err() && !io.is_block() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Creates a fixed or dynamic image of `bytes` (rounded up to 2 MiB, as `vhd_create`
/// does) at `path`, overwriting an existing file; a new random UUID, timestamp now. On
/// failure the file is removed.
pub fn create_file(path: &Path, kind: DiskType, bytes: u64) -> VhdResult<()> {
    create_file_preallocated(path, kind, bytes, 0)
}

/// [`create_file`] with the metadata of a dynamic disk sized for `capacity` bytes
/// (blktap3's `vhd-util create -S`), so that it can grow to that size without a journal
/// (fast resize). A capacity below the size is the size.
pub fn create_file_preallocated(
    path: &Path,
    kind: DiskType,
    bytes: u64,
    capacity: u64,
) -> VhdResult<()> {
    if kind == DiskType::Differencing {
        return Err(Errno::EINVAL);
    }
    write_new(
        path,
        &CreateParams {
            kind,
            size: round_to_block(bytes),
            block_size: DEFAULT_BLOCK_SIZE,
            uuid: Uuid::new_v4(),
            timestamp: now_vhd(),
            parent: None,
        },
        capacity,
    )
}

/// What a new snapshot points at: the first non-empty image at or below the parent
/// given (see [`find_backing`]).
#[derive(Debug, Clone)]
pub struct Backing {
    /// The path of the backing file as the child names it (`realpath`, or blktap3's
    /// `canonpath`).
    pub path: PathBuf,
    /// Whether it is a raw image.
    pub raw: bool,
    /// Its footer UUID (nil when raw).
    pub uuid: Uuid,
    /// The virtual size the snapshot gets.
    pub size: u64,
}

/// Finds what a snapshot of `parent` should point at, as `vhd_snapshot` does:
/// `realpath(parent)`; a raw parent (`raw`) is taken as it is, with its length as the
/// size; otherwise empty differencing disks (no allocated block) are skipped down to the
/// first non-empty image (an empty disk's raw parent ends the walk in raw mode). If any
/// was skipped the size is the given parent's rounded up to 2 MiB, else the backing
/// image's exactly. A parent that is not a VHD fails with `-EINVAL`.
pub fn find_backing(parent: &Path, raw: bool) -> VhdResult<Backing> {
    find_backing_as(parent, raw, ParentNaming::Realpath)
}

/// [`find_backing`] with the given parent named by `naming` (blktap3: `canonpath`)
/// instead of `realpath`; parents reached through locators are resolved as always.
pub fn find_backing_as(parent: &Path, raw: bool, naming: ParentNaming) -> VhdResult<Backing> {
    let path = naming.name(parent)?;
    if raw {
        // The length of a file, or all of a block device.
        let size = vhd_nostd::Io::size(&mut FileIo::open(&path, OpenMode::ReadOnly)?)?;
        return Ok(Backing {
            path,
            raw: true,
            uuid: Uuid::nil(),
            size,
        });
    }
    let ro = OpenOptions::default();
    let mut img = Image::open(&path, ro)?;
    let given_size = img.disk().size();
    let mut skipped = false;
    let mut cur_path = path;
    for _ in 0..MAX_CHAIN_DEPTH {
        let empty = img.is_differencing() && img.disk().bat().allocated().next().is_none();
        if !empty {
            let size = if skipped {
                round_to_block(given_size)
            } else {
                img.disk().size()
            };
            return Ok(Backing {
                path: cur_path,
                raw: false,
                uuid: img.disk().footer().uuid,
                size,
            });
        }
        skipped = true;
        // Named as the given parent is: blktap3's search reads the locators with its
        // canonpath-ing `vhd_parent_locator_get`.
        let p = img.find_parent_as(naming).map_err(|_| Errno::EINVAL)?;
        if p.raw {
            return Ok(Backing {
                path: p.path,
                raw: true,
                uuid: Uuid::nil(),
                size: round_to_block(given_size),
            });
        }
        img = Image::open(&p.path, ro)?;
        cur_path = p.path;
    }
    Err(Errno::EINVAL)
}

/// What a snapshot of `parent` points at when it must link to that very image, even an
/// empty differencing disk (blktap3's `snapshot -e`): its canonical path, UUID and
/// exact size. A raw parent is as in [`find_backing`].
pub fn link_backing(parent: &Path, raw: bool) -> VhdResult<Backing> {
    link_backing_as(parent, raw, ParentNaming::Realpath)
}

/// [`link_backing`] with the parent named by `naming`.
pub fn link_backing_as(parent: &Path, raw: bool, naming: ParentNaming) -> VhdResult<Backing> {
    if raw {
        return find_backing_as(parent, true, naming);
    }
    let path = naming.name(parent)?;
    let img = Image::open(&path, OpenOptions::default())?;
    Ok(Backing {
        uuid: img.disk().footer().uuid,
        size: img.disk().size(),
        path,
        raw: false,
    })
}

/// Creates the differencing disk `child` on top of `backing`: parent UUID, the backing
/// file's mtime and basename, and the three locators (`MacX`, `W2ku`, `W2ru`) holding
/// its path relative to the child's directory. On failure the file is removed.
pub fn create_snapshot(child: &Path, backing: &Backing) -> VhdResult<()> {
    create_snapshot_preallocated(child, backing, 0)
}

/// [`create_snapshot`] with metadata sized for `capacity` bytes (blktap3's
/// `vhd-util snapshot -S`); 0 for none. A capacity below the parent's size is
/// `-EINVAL`, before any file is made.
pub fn create_snapshot_preallocated(
    child: &Path,
    backing: &Backing,
    capacity: u64,
) -> VhdResult<()> {
    if capacity != 0 && capacity < backing.size {
        return Err(Errno::EINVAL);
    }
    // From the resolved child's directory to the parent as named, so that each locator
    // ends in the header's parent name (`vhd-util check` compares them).
    let dir = canonical_dir_of(child)?;
    let rel = relative_path(&dir, &backing.path);
    let name = basename(&backing.path);
    let timestamp = mtime_vhd(&backing.path)?;
    write_new(
        child,
        &CreateParams {
            kind: DiskType::Differencing,
            size: backing.size,
            block_size: DEFAULT_BLOCK_SIZE,
            uuid: Uuid::new_v4(),
            timestamp: now_vhd(),
            parent: Some(Parent {
                uuid: backing.uuid,
                timestamp,
                name: &name,
                relative_path: &rel,
            }),
        },
        capacity,
    )
}

/// `vhd_snapshot`: [`find_backing`] then [`create_snapshot`].
pub fn snapshot_file(child: &Path, parent: &Path, raw: bool) -> VhdResult<()> {
    let backing = find_backing(parent, raw)?;
    create_snapshot(child, &backing)
}
