//! Open images and parent chains.
//!
//! An [`Image`] owns a core [`Disk`] over a [`FileIo`] with its metadata buffers, sized by
//! [`probe`] and allocated once at open. A [`Chain`] is a differencing disk with its
//! parents, found as libvhd finds them:
//!
//! - the parent locators are tried in slot order (0 to 7); `MacX` (`file://` URL, UTF-8),
//!   `W2ku` and `W2ru` (UTF-16LE) hold paths, other codes are skipped; the first path that
//!   names an existing file wins (`vhd_parent_locator_get`). Relative paths resolve
//!   against the child's directory.
//! - a nil parent UUID means a raw parent (opened with [`Disk::open_raw`]); otherwise the
//!   parent's footer UUID must equal the child's `prt_uuid`.
//! - a chain that comes back to a file already in it is an error (`-EINVAL`), and so is
//!   one deeper than [`MAX_CHAIN_DEPTH`] images. Files are told apart by device and
//!   inode ([`FileId`]), so a hard link, a symbolic link or `./x/../img.vhd` naming the
//!   image itself is caught at the first step; [`walk_chain`] says which file it was. libvhd has no limit (it recurses until it
//!   runs out of descriptors or stack); 256 is far beyond any chain tapdisk keeps and
//!   small enough that the open files and buffers stay bounded.

use std::path::{Path, PathBuf};

use vhd_nostd::footer::DiskType;
use vhd_nostd::locator::LOCATOR_COUNT;
use vhd_nostd::{probe, read_chain, Buffers, Disk, Kind, OpenOptions};

use crate::canonpath::ParentNaming;
use crate::errno::{Errno, VhdResult};
use crate::fileio::{AlignedBuf, FileIo, OpenMode};
use crate::path::resolve_locator_as;

/// The deepest chain [`Chain::open`] and [`chain_depth`] follow, counting the top image.
pub const MAX_CHAIN_DEPTH: usize = 256;

/// A file's identity: device and inode.
pub type FileId = (u64, u64);

/// The files of a chain met so far, to notice one that comes back.
#[derive(Debug, Default)]
struct Seen(Vec<FileId>);

impl Seen {
    /// Adds `image`'s file; `false` if it was met before.
    fn first_visit(&mut self, image: &mut Image) -> VhdResult<bool> {
        let id = image.file_id()?;
        if self.0.contains(&id) {
            return Ok(false);
        }
        self.0.push(id);
        Ok(true)
    }
}

/// A core disk over a file, with page-aligned heap buffers (so the engine's BAT and bitmap
/// reads go straight to an `O_DIRECT` descriptor).
pub type VhdDisk = Disk<FileIo, AlignedBuf>;

/// At most this much staging room per open differencing disk (a request's range within
/// one block rarely exceeds it; larger ones are read run by run).
const READ_SCRATCH_MAX: usize = 1 << 20;

/// Opens the core disk on `io`: its buffers sized by [`probe`] (bounded by the file) and
/// allocated once, failing with `-ENOMEM` rather than aborting; for a writable open,
/// blocks sharing storage found (they take no writes: their data would land elsewhere);
/// for a differencing disk, room to stage reads that interleave its runs with its
/// parent's.
pub fn open_disk(mut io: FileIo, opts: OpenOptions) -> VhdResult<VhdDisk> {
    let layout = probe(&mut io)?;
    let bufs = Buffers {
        bat: AlignedBuf::try_new(layout.bat_bytes)?,
        batmap: AlignedBuf::try_new(layout.batmap_bytes)?,
        bitmap: AlignedBuf::try_new(layout.bitmap_cache_bytes(vhd_nostd::BITMAP_CACHE_SLOTS))?,
    };
    let mut disk = Disk::open(io, bufs, opts)?;
    if opts.writable {
        let mut work = vec![0u8; vhd_nostd::alias::work_size(disk.bat().entries())];
        disk.scan_overlaps(&mut work)?;
    }
    if disk.disk_type() == Some(DiskType::Differencing) {
        let len = disk.read_scratch_bytes().min(READ_SCRATCH_MAX);
        disk.set_read_scratch(AlignedBuf::try_new(len)?);
    }
    Ok(disk)
}

/// Room for a locator payload (two UTF-16 units per path byte) and a decoded path.
const LOCATOR_SCRATCH: usize = 2 * vhd_nostd::locator::PATH_MAX + 16;

/// An open image and the path it was opened by.
#[derive(Debug)]
pub struct Image {
    path: PathBuf,
    disk: VhdDisk,
}

/// Where a differencing disk's parent is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    /// The canonical path of the parent file.
    pub path: PathBuf,
    /// Whether the parent is a raw image (the child's parent UUID is nil).
    pub raw: bool,
}

fn open_mode(writable: bool) -> OpenMode {
    if writable {
        OpenMode::ReadWrite
    } else {
        OpenMode::ReadOnly
    }
}

impl Image {
    /// Opens a VHD (fixed, dynamic or differencing) with the core's options.
    pub fn open(path: impl AsRef<Path>, opts: OpenOptions) -> VhdResult<Image> {
        let path = path.as_ref();
        let io = FileIo::open(path, open_mode(opts.writable))?;
        Image::open_io(path, io, opts)
    }

    /// [`Image::open`] read-only through the page cache instead of `O_DIRECT`: for
    /// listing many images (`vhd-util scan`), where a handful of small metadata reads
    /// per image is all there is and `O_DIRECT` would make each one a device read.
    pub fn open_buffered(path: impl AsRef<Path>, opts: OpenOptions) -> VhdResult<Image> {
        let path = path.as_ref();
        let io = FileIo::open_buffered(path, OpenMode::ReadOnly)?;
        Image::open_io(
            path,
            io,
            OpenOptions {
                writable: false,
                ..opts
            },
        )
    }

    fn open_io(path: &Path, io: FileIo, opts: OpenOptions) -> VhdResult<Image> {
        Ok(Image {
            path: path.to_path_buf(),
            disk: open_disk(io, opts)?,
        })
    }

    /// An image over a core disk already open on `path`'s file.
    pub fn from_disk(path: impl AsRef<Path>, disk: VhdDisk) -> Image {
        Image {
            path: path.as_ref().to_path_buf(),
            disk,
        }
    }

    /// Opens a raw disk image (no VHD metadata), as the bottom of a chain.
    pub fn open_raw(path: impl AsRef<Path>, writable: bool) -> VhdResult<Image> {
        let path = path.as_ref();
        let io = FileIo::open(path, open_mode(writable))?;
        let disk = Disk::open_raw(io, writable)?;
        Ok(Image {
            path: path.to_path_buf(),
            disk,
        })
    }

    /// The identity of the image's file.
    pub fn file_id(&mut self) -> VhdResult<FileId> {
        Ok(self.disk.io().id()?)
    }

    /// The path the image was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The core disk.
    pub fn disk(&self) -> &VhdDisk {
        &self.disk
    }

    /// The core disk, mutably.
    pub fn disk_mut(&mut self) -> &mut VhdDisk {
        &mut self.disk
    }

    /// Closes the image, keeping the core disk.
    pub fn into_disk(self) -> VhdDisk {
        self.disk
    }

    /// Whether this is a differencing disk.
    pub fn is_differencing(&self) -> bool {
        self.disk.disk_type() == Some(DiskType::Differencing)
    }

    /// The physical size as libvhd's `vhd_get_phys_size` gives it: the file length for a
    /// fixed disk, the end of data plus the footer for a sparse one.
    pub fn physical_size(&mut self) -> VhdResult<u64> {
        match self.disk.kind() {
            Kind::Vhd(DiskType::Dynamic | DiskType::Differencing) => {
                Ok(self.disk.end_of_data() + vhd_nostd::footer::FOOTER_SIZE as u64)
            }
            _ => Ok(vhd_nostd::Io::size(self.disk.io())?),
        }
    }

    /// The decoded path stored in locator `index` (`\` turned into `/`, `file://` and a
    /// drive prefix removed), or the error decoding it.
    pub fn locator_path(&mut self, index: usize) -> VhdResult<String> {
        let mut scratch = vec![0u8; LOCATOR_SCRATCH];
        let mut out = vec![0u8; LOCATOR_SCRATCH];
        let s = self
            .disk
            .parent_locator_path(index, &mut scratch, &mut out)?;
        Ok(s.to_string())
    }

    /// Finds the parent file through the locators (see the module documentation).
    /// `-EINVAL` for a disk that is not differencing or whose locators name no existing
    /// file.
    pub fn parent(&mut self) -> VhdResult<ParentRef> {
        self.find_parent().map_err(|_| Errno::EINVAL)
    }

    /// [`Image::parent`], failing with the error of the last locator that decoded but
    /// did not resolve (typically `-ENOENT`), as blktap3's `vhd_parent_locator_get`
    /// does; `-EINVAL` when the disk is not differencing or no locator decodes.
    pub fn find_parent(&mut self) -> VhdResult<ParentRef> {
        self.find_parent_as(ParentNaming::Realpath)
    }

    /// [`Image::find_parent`] with the parent's path named by `naming` (blktap3:
    /// `canonpath`, as its `vhd_find_parent`).
    pub fn find_parent_as(&mut self, naming: ParentNaming) -> VhdResult<ParentRef> {
        if !self.is_differencing() {
            return Err(Errno::EINVAL);
        }
        let raw = self.disk.parent_is_raw();
        let mut last = Errno::EINVAL;
        for i in 0..LOCATOR_COUNT {
            let Ok(p) = self.locator_path(i) else {
                continue;
            };
            match resolve_locator_as(&self.path, &p, naming) {
                Ok(path) => return Ok(ParentRef { path, raw }),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The first locator that decodes, as stored (e.g. `./base.vhd`), without resolving
    /// it: blktap3's `vhd_parent_locator_unresolved_get`.
    pub fn unresolved_parent(&mut self) -> VhdResult<String> {
        if !self.is_differencing() {
            return Err(Errno::EINVAL);
        }
        (0..LOCATOR_COUNT)
            .find_map(|i| self.locator_path(i).ok())
            .ok_or(Errno::EINVAL)
    }

    /// Opens the parent found by [`Image::parent`] read-only, checking its UUID against
    /// the child's unless it is raw.
    pub fn open_parent(&mut self, writable: bool) -> VhdResult<Image> {
        let p = self.parent()?;
        self.open_parent_at(&p, writable)
    }

    /// Opens a parent already located, checking its UUID unless it is raw.
    pub fn open_parent_at(&self, p: &ParentRef, writable: bool) -> VhdResult<Image> {
        if p.raw {
            return Image::open_raw(&p.path, writable);
        }
        let parent = Image::open(
            &p.path,
            OpenOptions {
                writable,
                ..Default::default()
            },
        )?;
        let want = self.disk.header().map(|h| h.prt_uuid);
        if want != Some(parent.disk.footer().uuid) {
            return Err(Errno::EINVAL);
        }
        Ok(parent)
    }
}

/// A disk and its parents, top first: what [`read_chain`] reads through.
#[derive(Debug)]
pub struct Chain {
    disks: Vec<VhdDisk>,
    paths: Vec<PathBuf>,
}

/// Writes the top disk's held batmap bits (best effort: they are a hint; call
/// `top_mut().flush()` to see an error).
impl Drop for Chain {
    fn drop(&mut self) {
        if let Some(top) = self.disks.first_mut() {
            let _ = top.write_deferred_batmap();
        }
    }
}

impl Chain {
    /// Opens `path` with `opts` and its parents read-only, to the bottom of the chain.
    pub fn open(path: impl AsRef<Path>, opts: OpenOptions) -> VhdResult<Chain> {
        Chain::from_image(Image::open(path, opts)?)
    }

    /// Builds the chain below an already open image.
    pub fn from_image(mut top: Image) -> VhdResult<Chain> {
        let parents = open_parents(&mut top)?;
        let mut paths = vec![top.path];
        let mut disks = vec![top.disk];
        for p in parents {
            paths.push(p.path);
            disks.push(p.disk);
        }
        Ok(Chain { disks, paths })
    }

    /// The top disk.
    pub fn top(&self) -> &VhdDisk {
        &self.disks[0]
    }

    /// The top disk, mutably.
    pub fn top_mut(&mut self) -> &mut VhdDisk {
        &mut self.disks[0]
    }

    /// Every disk, top first, as [`read_chain`] and the core's `fill` take them.
    pub fn disks_mut(&mut self) -> &mut [VhdDisk] {
        &mut self.disks
    }

    /// The paths of the disks, top first (the top as opened, parents canonical).
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Number of images in the chain.
    pub fn len(&self) -> usize {
        self.disks.len()
    }

    /// Always false: a chain holds at least its top image.
    pub fn is_empty(&self) -> bool {
        self.disks.is_empty()
    }

    /// Reads whole sectors at `sector` through the chain.
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> VhdResult<()> {
        read_chain(&mut self.disks, sector, buf).map_err(Errno::from)
    }

    /// Writes whole sectors at `sector` into the top disk (opened writable). The data
    /// is on disk when this returns; the batmap bits of blocks it fills are written by
    /// the disk's `flush` (a hint: without it the image is consistent, its batmap older).
    pub fn write(&mut self, sector: u64, buf: &[u8]) -> VhdResult<()> {
        self.disks[0].write(sector, buf).map_err(Errno::from)
    }
}

/// The parents of `top`, nearest first, opened read-only to the bottom of the chain:
/// each found through its child's locators ([`Image::parent`]) and carrying the UUID
/// its child names (a nil UUID means a raw parent, the bottom). A chain that comes back
/// to a file already in it, or grows past [`MAX_CHAIN_DEPTH`] images, is `-EINVAL`.
pub fn open_parents(top: &mut Image) -> VhdResult<Vec<Image>> {
    let mut seen = Seen::default();
    seen.first_visit(top)?;
    let mut parents: Vec<Image> = Vec::new();
    loop {
        let cur = parents.last_mut().unwrap_or(&mut *top);
        if !cur.is_differencing() {
            return Ok(parents);
        }
        let p = cur.parent()?;
        let mut next = cur.open_parent_at(&p, false)?;
        if seen.0.len() >= MAX_CHAIN_DEPTH || !seen.first_visit(&mut next)? {
            return Err(Errno::EINVAL);
        }
        next.path = p.path;
        parents.push(next);
    }
}

/// How a walk down an image's parents ended ([`walk_chain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEnd {
    /// At an image without a parent (or a raw parent), `depth` images down, counting
    /// the top one.
    Bottom {
        /// Images in the chain.
        depth: usize,
    },
    /// At a file already met: the chain loops through `path` (a parent resolving to
    /// its own child, by a link or `..`, or a longer cycle).
    Loop {
        /// The canonical path of the file met twice.
        path: PathBuf,
    },
    /// Deeper than [`MAX_CHAIN_DEPTH`].
    TooDeep,
}

/// Follows the parents of `image` as libvhd's `vhd_chain_depth` does: one at a time,
/// read-only, disabled images allowed, UUIDs not compared. Stops at the first file met
/// twice (same device and inode), so a loop is found at once and named.
pub fn walk_chain(image: &mut Image) -> VhdResult<ChainEnd> {
    walk_chain_avoiding(image, &[])
}

/// [`walk_chain`] with `avoid` counted as met already: a chain that reaches one of
/// those files is a [`ChainEnd::Loop`] (what making `image` the parent of a file in
/// `avoid` would create).
pub fn walk_chain_avoiding(image: &mut Image, avoid: &[FileId]) -> VhdResult<ChainEnd> {
    let mut seen = Seen(avoid.to_vec());
    if !seen.first_visit(image)? {
        return Ok(ChainEnd::Loop {
            path: image.path.clone(),
        });
    }
    let mut depth = 1;
    if !image.is_differencing() {
        return Ok(ChainEnd::Bottom { depth });
    }
    let mut p = image.parent()?;
    loop {
        let mut next = if p.raw {
            Image::open_raw(&p.path, false)?
        } else {
            let opts = OpenOptions {
                ignore_disabled: true,
                ..Default::default()
            };
            Image::open(&p.path, opts)?
        };
        if seen.0.len() >= MAX_CHAIN_DEPTH {
            return Ok(ChainEnd::TooDeep);
        }
        if !seen.first_visit(&mut next)? {
            return Ok(ChainEnd::Loop { path: p.path });
        }
        depth += 1;
        if p.raw || !next.is_differencing() {
            return Ok(ChainEnd::Bottom { depth });
        }
        p = next.parent()?;
    }
}

/// The chain depth as `vhd-util query -d` counts it: 1 for a disk without a parent, one
/// more per differencing level, a raw parent counting one ([`walk_chain`]); a chain
/// that loops or is too deep is `-EINVAL`.
pub fn chain_depth(image: &mut Image) -> VhdResult<usize> {
    match walk_chain(image)? {
        ChainEnd::Bottom { depth } => Ok(depth),
        ChainEnd::Loop { .. } | ChainEnd::TooDeep => Err(Errno::EINVAL),
    }
}
