//! The metadata journal of `vhd-util resize` and `revert`: the core's
//! [`vhd_nostd::journal`] (libvhd's file layout and the crash-safe protocol) over files.
//! The journal file is buffered, so its transfers need no alignment; the image goes
//! through [`FileIo`] (`O_DIRECT` where possible) with a sector-aligned scratch buffer.
//!
//! [`create`] journals the image's metadata and poisons the image; then either
//! [`Journal::commit`] keeps the change (journal emptied, image enabled, file deleted)
//! or [`Journal::revert`] undoes it. After a crash, [`revert`] of the journal file left
//! behind restores the image (or, for an emptied journal, just enables it).

use std::fs::{File, OpenOptions as FsOpen};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use vhd_nostd::io::Io;
use vhd_nostd::journal::{self as core, JournalHeader};
use vhd_nostd::OpenOptions;

use crate::errno::VhdResult;
use crate::fileio::{AlignedBuf, FileIo, IoError, OpenMode};
use crate::image::Image;

/// Scratch for copying payloads: whole sectors, aligned for `O_DIRECT`.
const SCRATCH: usize = 128 << 10;

/// A journal file, buffered.
#[derive(Debug)]
struct JournalFile(File);

fn io_error(e: &std::io::Error) -> IoError {
    IoError(e.raw_os_error().unwrap_or(libc::EIO))
}

impl Io for JournalFile {
    type Error = IoError;

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read_exact_at(buf, offset).map_err(|e| io_error(&e))
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        self.0.write_all_at(buf, offset).map_err(|e| io_error(&e))
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.0.sync_data().map_err(|e| io_error(&e))
    }

    fn size(&mut self) -> Result<u64, IoError> {
        (&self.0).seek(SeekFrom::End(0)).map_err(|e| io_error(&e))
    }

    fn set_size(&mut self, size: u64) -> Result<(), IoError> {
        self.0.set_len(size).map_err(|e| io_error(&e))
    }
}

fn open_journal(jpath: &Path) -> VhdResult<JournalFile> {
    let file = FsOpen::new().read(true).write(true).open(jpath)?;
    Ok(JournalFile(file))
}

/// A journal [`create`] made; the image stays poisoned until it is committed or
/// reverted.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: JournalFile,
    header: JournalHeader,
}

/// Creates the journal `jpath` (a new file: `-EEXIST` if anything is there) holding
/// the metadata of `img` (open read-write), then poisons the image. Fixed disks have no
/// metadata to journal: `-EINVAL`, as the reference fails. On failure the image is left
/// as it was and the journal file is removed, unless undoing failed too (then the
/// journal is kept for [`revert`]).
pub fn create(jpath: &Path, img: &mut Image) -> VhdResult<Journal> {
    create_with(jpath, img, core::create)
}

/// [`create`] for a fixed disk: the journal holds its footer
/// ([`core::create_fixed`]), for a resize that moves it.
pub fn create_fixed(jpath: &Path, img: &mut Image) -> VhdResult<Journal> {
    create_with(jpath, img, core::create_fixed)
}

type CoreCreate = fn(
    &mut JournalFile,
    &mut crate::VhdDisk,
    &mut [u8],
) -> Result<JournalHeader, vhd_nostd::Error<IoError>>;

fn create_with(jpath: &Path, img: &mut Image, make: CoreCreate) -> VhdResult<Journal> {
    let file = FsOpen::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(jpath)?;
    let mut file = JournalFile(file);
    let mut scratch = AlignedBuf::new(SCRATCH);
    match make(&mut file, img.disk_mut(), &mut scratch) {
        Ok(header) => Ok(Journal {
            path: jpath.to_path_buf(),
            file,
            header,
        }),
        Err(e) => {
            drop(file);
            // A failure while poisoning leaves a complete journal: undo with it. An
            // incomplete one never got as far as touching the image.
            let undone = match check(jpath) {
                Ok(()) => revert(jpath, img.path()),
                Err(_) => Ok(()),
            };
            if undone.is_ok() {
                let _ = std::fs::remove_file(jpath);
            }
            Err(e.into())
        }
    }
}

impl Journal {
    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal file and its header, for operations that add entries as they go
    /// (a growth that moves blocks).
    pub(crate) fn parts(&mut self) -> (&mut impl Io<Error = IoError>, &mut JournalHeader) {
        (&mut self.file, &mut self.header)
    }

    /// Keeps the change: empties the journal, enables `img` (the journaled image), and
    /// deletes the journal file. A failure leaves a journal that [`revert`] handles
    /// (an emptied one just enables the image).
    pub fn commit(mut self, img: &mut Image) -> VhdResult<()> {
        core::commit(&mut self.file, &mut self.header, true)?;
        img.disk_mut().unpoison()?;
        drop(self.file);
        std::fs::remove_file(&self.path)?;
        Ok(())
    }

    /// Undoes the change: `img` is closed (its view is stale afterwards), the journal
    /// written back and the image enabled; the journal file is deleted. On failure it
    /// is kept.
    pub fn revert(self, img: Image) -> VhdResult<()> {
        let image = img.path().to_path_buf();
        drop(img);
        drop(self.file);
        revert(&self.path, &image)?;
        std::fs::remove_file(&self.path)?;
        Ok(())
    }
}

/// Reads the journal `jpath` whole and checks it (cookies, bounds, checksums), as a
/// revert does before it writes anything.
pub fn check(jpath: &Path) -> VhdResult<()> {
    let mut file = open_journal(jpath)?;
    let mut scratch = AlignedBuf::new(SCRATCH);
    core::verify(&mut file, &mut scratch)?;
    Ok(())
}

/// Writes the journal `jpath` back into the image at `image` (the journal is checked
/// whole first; the image need not open), cuts the image to its journaled length, and
/// enables it if it is still poisoned (always the case after an emptied journal). The
/// journal file is left in place. Running it again after a crash finishes the job.
pub fn revert(jpath: &Path, image: &Path) -> VhdResult<()> {
    let mut file = open_journal(jpath)?;
    let mut scratch = AlignedBuf::new(SCRATCH);
    let mut io = FileIo::open(image, OpenMode::ReadWrite)?;
    core::revert(&mut file, &mut io, &mut scratch)?;
    drop(io);
    let opts = OpenOptions {
        writable: true,
        ignore_disabled: true,
        ..Default::default()
    };
    let mut img = Image::open(image, opts)?;
    if img.disk().is_poisoned() {
        img.disk_mut().unpoison()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vhd-std-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rw() -> OpenOptions {
        OpenOptions {
            writable: true,
            ..Default::default()
        }
    }

    #[test]
    fn create_poisons_commit_enables_revert_restores() {
        let d = tmpdir("cycle");
        let (img, jnl) = (d.join("a.vhd"), d.join("a.journal"));
        crate::create_file(&img, vhd_nostd::DiskType::Dynamic, 8 << 20).unwrap();
        let before = std::fs::read(&img).unwrap();

        let mut i = Image::open(&img, rw()).unwrap();
        let j = create(&jnl, &mut i).unwrap();
        assert_eq!(
            Image::open(&img, OpenOptions::default()).unwrap_err(),
            Errno::EINVAL,
            "poisoned"
        );
        assert_eq!(
            create(&d.join("other.journal"), &mut i).unwrap_err(),
            Errno::EINVAL,
            "a poisoned image is not journaled again"
        );
        assert!(!d.join("other.journal").exists());
        vhd_nostd::resize::grow(i.disk_mut(), 16 << 20).unwrap();
        j.revert(i).unwrap();
        assert!(!jnl.exists());
        assert!(std::fs::read(&img).unwrap() == before, "byte for byte");

        let mut i = Image::open(&img, rw()).unwrap();
        let j = create(&jnl, &mut i).unwrap();
        vhd_nostd::resize::grow(i.disk_mut(), 16 << 20).unwrap();
        j.commit(&mut i).unwrap();
        drop(i);
        assert!(!jnl.exists());
        let i = Image::open(&img, OpenOptions::default()).unwrap();
        assert_eq!(i.disk().size(), 16 << 20);

        // An existing file is not overwritten.
        std::fs::write(&jnl, b"x").unwrap();
        let mut i = Image::open(&img, rw()).unwrap();
        assert_eq!(create(&jnl, &mut i).unwrap_err(), Errno(-libc::EEXIST));
        assert_eq!(std::fs::read(&jnl).unwrap(), b"x");
        assert_eq!(check(&jnl).unwrap_err(), Errno::EINVAL);
        let _ = std::fs::remove_dir_all(&d);
    }
}
