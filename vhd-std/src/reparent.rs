//! Pointing a differencing disk at a new parent: `vhd-util modify -p` and libvhd's
//! `vhd_change_parent` both run this.
//!
//! The parent link lives in two places that no single write covers: the header (parent
//! UUID, name, timestamp, locator lengths) and the locator payloads (the paths), which
//! are rewritten in place because the reference's layout has no spare room for them and
//! `check` wants them before the first block. A process killed between the two would
//! leave locators naming one parent and a header naming another. So the change runs
//! under the metadata journal `vhd-util resize` uses ([`crate::journal`]): the header,
//! locators and footers are copied into a journal file beside the image, the image is
//! poisoned (refused by normal opens), rewritten, and then the journal is emptied, the
//! image enabled and the journal deleted. After a crash, [`recover`] (which `modify -p`
//! runs first) reverts a journal left behind to the old link, or just enables the image
//! if the journal was already emptied: readers see the old link or the new one, never a
//! mix.

use std::path::{Path, PathBuf};

use uuid::Uuid;
use vhd_nostd::footer::DiskType;
use vhd_nostd::locator::{self, PATH_MAX};
use vhd_nostd::parent::NewParent;

use crate::canonpath::ParentNaming;
use crate::errno::{Errno, VhdResult};
use crate::fileio::{AlignedBuf, FileIo, OpenMode};
use crate::image::Image;
use crate::journal;
use crate::path::{basename, canonical_dir_of, relative_path};
use crate::time::mtime_vhd;
use crate::OpenOptions;

/// Scratch for one locator payload (UTF-16 of a `PATH_MAX` path), in whole sectors.
const SCRATCH: usize = 2 * PATH_MAX + 4096;

/// A new parent as the child will record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The parent's path as the child names it (`realpath`, or blktap3's `canonpath`).
    pub path: PathBuf,
    /// Its footer UUID, nil for a raw parent.
    pub uuid: Uuid,
    /// Its modification time, VHD seconds.
    pub timestamp: u32,
    /// Its file name.
    pub name: String,
    /// Its path relative to the child's directory, for the locators.
    pub relative_path: String,
}

impl Link {
    /// The link from the image at `child` to `parent` (resolved; a regular file or a
    /// block device, opened without blocking); with `raw` the parent is not read and
    /// the UUID is nil, else it must open as an image.
    pub fn new(child: &Path, parent: &Path, raw: bool) -> VhdResult<Link> {
        Link::new_as(child, parent, raw, ParentNaming::Realpath)
    }

    /// [`Link::new`] with the parent named by `naming` (blktap3: `canonpath`), in the
    /// header and at the end of each locator.
    pub fn new_as(child: &Path, parent: &Path, raw: bool, naming: ParentNaming) -> VhdResult<Link> {
        let path = naming.name(parent)?;
        FileIo::open(&path, OpenMode::ReadOnly)?;
        let uuid = if raw {
            Uuid::nil()
        } else {
            Image::open(&path, OpenOptions::default())?
                .disk()
                .footer()
                .uuid
        };
        Ok(Link {
            relative_path: relative_path(&canonical_dir_of(child)?, &path),
            name: basename(&path),
            timestamp: mtime_vhd(&path)?,
            uuid,
            path,
        })
    }

    fn as_new_parent(&self) -> NewParent<'_> {
        NewParent {
            uuid: self.uuid,
            timestamp: self.timestamp,
            name: &self.name,
            relative_path: &self.relative_path,
        }
    }
}

/// The journal a reparent of the image at `image` keeps while it runs.
pub fn journal_path(image: &Path) -> PathBuf {
    let mut p = image.as_os_str().to_owned();
    p.push(".reparent-journal");
    PathBuf::from(p)
}

/// Finishes what a reparent of the image at `image` that was killed left: reverts its
/// journal (the old link; an emptied journal only enables the image) and deletes it; a
/// journal cut before it was whole is deleted if the image is still enabled (else
/// `-EINVAL`: a disabled image with a damaged journal is left to the operator). Whether
/// there was one.
pub fn recover(image: &Path) -> VhdResult<bool> {
    let jpath = journal_path(image);
    if std::fs::symlink_metadata(&jpath).is_err() {
        return Ok(false);
    }
    if journal::check(&jpath).is_err() {
        // Cut while it was being written: the image is disabled only once its journal
        // is whole, so an image still enabled was never touched for it.
        let opts = OpenOptions {
            ignore_disabled: true,
            ..Default::default()
        };
        if Image::open(image, opts)?.disk().is_poisoned() {
            return Err(Errno::EINVAL);
        }
    } else {
        journal::revert(&jpath, image)?;
    }
    journal::remove(&jpath)?;
    Ok(true)
}

/// Points `img` (a differencing disk open read-write) at `link`, crash-safe under a
/// journal (see the module). The new path must fit every `MacX`/`W2ku`/`W2ru` slot
/// (`-ENAMETOOLONG`, as libvhd, before anything is written). On a failure after the
/// image was poisoned the journal is reverted at once; `img` must not be used again
/// after an error.
pub fn reparent(img: &mut Image, link: &Link) -> VhdResult<()> {
    if img.disk().disk_type() != Some(DiskType::Differencing) {
        return Err(Errno::EINVAL);
    }
    let mut scratch = AlignedBuf::new(SCRATCH);
    if !fits(img, &link.relative_path, &mut scratch)? {
        return Err(Errno(-libc::ENAMETOOLONG));
    }
    let jpath = journal_path(img.path());
    let j = journal::create(&jpath, img)?;
    match img
        .disk_mut()
        .set_parent(&link.as_new_parent(), &mut scratch)
    {
        Ok(()) => j.commit(img),
        Err(e) => {
            drop(j);
            recover(img.path())?;
            Err(e.into())
        }
    }
}

/// Whether `rel` encoded for each path locator fits its slot.
fn fits(img: &Image, rel: &str, scratch: &mut [u8]) -> VhdResult<bool> {
    let Some(h) = img.disk().header() else {
        return Err(Errno::EINVAL);
    };
    for loc in &h.loc {
        let len = match loc.code {
            locator::PLAT_CODE_MACX => locator::encode_macx(rel, scratch),
            locator::PLAT_CODE_W2KU | locator::PLAT_CODE_W2RU => {
                locator::encode_windows_path(rel, scratch)
            }
            _ => continue,
        };
        match len {
            // A space no size rule reads (the core refuses it too): -EINVAL.
            Ok(_) if loc.space_bytes() == 0 => return Err(Errno::EINVAL),
            Ok(n) if n as u64 <= loc.space_bytes() => {}
            Ok(_) => return Ok(false),
            // Longer than any path the scratch holds: the core's refusal, -EINVAL.
            Err(_) => return Err(Errno::EINVAL),
        }
    }
    Ok(true)
}
