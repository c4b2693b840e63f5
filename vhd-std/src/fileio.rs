//! [`FileIo`]: the core's I/O trait over a file with positioned reads and writes.
//!
//! Images are opened with `O_DIRECT`, as blktap's libvhd does, so metadata updates reach
//! the device in the order the engine issues them and the page cache does not hold a
//! second copy of guest data.
//!
//! **Fallback to buffered I/O.** Some file systems (tmpfs on older kernels, some FUSE and
//! network file systems) refuse `O_DIRECT`: `open(2)` fails with `EINVAL`. The file is
//! then opened again without it. Likewise, if a direct transfer that is correctly aligned
//! still fails with `EINVAL` (a device whose logical block is larger than 512 bytes), the
//! descriptor's `O_DIRECT` flag is cleared with `fcntl(F_SETFL)` and the transfer is
//! retried buffered. [`FileIo::is_direct`] says which mode is in force.
//!
//! **Flush.** The engine calls [`Io::flush`] between writes whose order matters. On a
//! file this crate opened (the tools' images) that is `fdatasync`, direct or not: a direct
//! write has left the page cache when `pwrite` returns, but only a sync orders it against
//! the device's volatile cache and the file system's size update, which is what makes the
//! journaled and ordered updates safe against a power cut and not only a killed process.
//! On a borrowed direct descriptor (the C library's `ctx->fd`) it does nothing, as the
//! reference libvhd never syncs and its clients flush themselves. An owned writable
//! `FileIo` also syncs once when dropped ([`FileIo::sync`]).
//!
//! **Alignment.** With `O_DIRECT`, a transfer goes straight to the file when its buffer,
//! offset and length are all on 512-byte sectors, which is what the kernel asks of
//! devices with 512-byte logical blocks and what libvhd's clients allocate. Anything
//! else (the core's small stack buffers for footers and headers, a legacy 511-byte
//! footer, a C client's odd buffer) goes through a bounce buffer allocated once at open,
//! so no I/O allocates. An unaligned *write* is done read-modify-write over the sectors
//! it touches; one that had to be padded past the end of a file is cut back, so the file
//! ends where the write did. Buffers are allocated on [`MEM_ALIGN`] (a page), which also
//! suits devices with 4 KiB logical blocks.
//!
//! **Borrowed descriptors.** [`FileIo::borrow`] works on a descriptor that stays its
//! owner's (the C library's `ctx->fd`) through a duplicate: the same open file (flags,
//! data), closed on drop without closing the owner's. No `unsafe` here: the caller
//! vouches for the descriptor when it makes the `BorrowedFd`.
//!
//! **Reads of several files at once.** A chain read's one read per level goes to the
//! device in one `io_uring` submission where the thread can make a ring
//! ([`Io::read_batch`], `fileio/together.rs`), one by one otherwise.
//!
//! **Block devices.** On a block device the size is the image's [`Extent`], not the
//! device's: the footer lives at the image's end of data and `set_size` never truncates
//! (see [`crate::blockdev`]).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use vhd_nostd::io::{BatchRead, Io};

use crate::blockdev::{self, Extent};

mod together;
mod vectored;

/// Alignment of every [`AlignedBuf`]: a page.
pub const MEM_ALIGN: usize = 4096;
/// Offset and length granularity of `O_DIRECT` transfers.
pub const SECTOR: u64 = 512;
/// Size of the bounce buffer every `O_DIRECT` [`FileIo`] allocates at open (a buffered one
/// never needs it).
pub const BOUNCE_SIZE: usize = 128 << 10;

/// An I/O failure: the positive `errno` of the system call that failed (`EIO` for a
/// short read, which the core treats as an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError(pub i32);

impl IoError {
    fn from_io(e: &std::io::Error) -> IoError {
        IoError(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for IoError {}

/// A heap buffer whose usable part starts on a [`MEM_ALIGN`] boundary, so it can be
/// passed to `O_DIRECT` transfers as is. Allocated once; never reallocated. The empty
/// buffer (`Default`) allocates nothing.
#[derive(Debug, Default)]
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` usable bytes.
    pub fn new(len: usize) -> AlignedBuf {
        AlignedBuf::with_storage(vec![0u8; len + MEM_ALIGN], len)
    }

    /// [`AlignedBuf::new`], or `ENOMEM` instead of aborting when the memory is not there
    /// (sizes a C client's image decides).
    pub fn try_new(len: usize) -> Result<AlignedBuf, IoError> {
        if len == 0 {
            return Ok(AlignedBuf::default());
        }
        let total = len.checked_add(MEM_ALIGN).ok_or(IoError(libc::ENOMEM))?;
        let mut storage = Vec::new();
        storage
            .try_reserve_exact(total)
            .map_err(|_| IoError(libc::ENOMEM))?;
        storage.resize(total, 0);
        Ok(AlignedBuf::with_storage(storage, len))
    }

    fn with_storage(storage: Vec<u8>, len: usize) -> AlignedBuf {
        let addr = storage.as_ptr() as usize;
        let start = (MEM_ALIGN - addr % MEM_ALIGN) % MEM_ALIGN;
        AlignedBuf {
            storage,
            start,
            len,
        }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// How to open an image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `O_RDONLY`.
    ReadOnly,
    /// `O_RDWR`.
    ReadWrite,
    /// `O_RDWR | O_CREAT | O_TRUNC` (mode 0644): a new image, an existing file overwritten.
    Create,
}

/// The core's [`Io`] over a file or block device; see the module documentation.
#[derive(Debug)]
pub struct FileIo {
    /// The image's file, or a duplicate of a borrowed descriptor (same open file, so
    /// the same flags and data; closing it leaves the owner's open).
    file: File,
    /// Opened by this crate (the tools' images) rather than borrowed from a C client.
    owned: bool,
    /// Opened for writing, so synced once when an owned one is dropped.
    writable: bool,
    direct: bool,
    bounce: AlignedBuf,
    /// Where the image ends, on a block device.
    block: Option<Extent>,
}

fn options(mode: OpenMode) -> OpenOptions {
    let mut o = OpenOptions::new();
    match mode {
        OpenMode::ReadOnly => {
            o.read(true);
        }
        OpenMode::ReadWrite => {
            o.read(true).write(true);
        }
        OpenMode::Create => {
            o.read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644);
        }
    }
    o
}

/// Opens `path` with `O_DIRECT` and `custom_flags`, or without `O_DIRECT` where the file
/// system refuses it (`EINVAL`): the open rule of every image. Returns the file and
/// whether it is direct. The descriptor is close-on-exec, as `std` opens files.
pub fn open_file(path: &Path, mode: OpenMode, custom_flags: i32) -> Result<(File, bool), IoError> {
    match options(mode)
        .custom_flags(custom_flags | libc::O_DIRECT)
        .open(path)
    {
        Ok(file) => Ok((file, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => options(mode)
            .custom_flags(custom_flags)
            .open(path)
            .map(|f| (f, false))
            .map_err(|e| IoError::from_io(&e)),
        Err(e) => Err(IoError::from_io(&e)),
    }
}

/// Extra `open(2)` flag for every image and parent: a FIFO (or a device waiting for a
/// peer) named where an image belongs must not block the open. Regular files and block
/// devices ignore `O_NONBLOCK` for their I/O (open(2)), so it is left set.
pub const OPEN_NONBLOCK: i32 = libc::O_NONBLOCK;

/// The one rule for what an image or a parent may be: a regular file or a block device
/// (what `vhd-util check` and `modify -p` require). A FIFO, socket or character device
/// (`/dev/zero` as a raw parent reads endless zeros) is `EINVAL`.
pub fn require_image_file(file: &File) -> Result<(), IoError> {
    use std::os::unix::fs::FileTypeExt;
    let t = file
        .metadata()
        .map_err(|e| IoError::from_io(&e))?
        .file_type();
    if t.is_file() || t.is_block_device() {
        Ok(())
    } else {
        Err(IoError(libc::EINVAL))
    }
}

impl FileIo {
    /// Opens `path` with `O_DIRECT`, or buffered if the file system refuses `O_DIRECT`.
    /// Never blocks in `open(2)`, and refuses what is not a regular file or a block
    /// device ([`require_image_file`]).
    pub fn open(path: &Path, mode: OpenMode) -> Result<FileIo, IoError> {
        let (file, direct) = open_file(path, mode, OPEN_NONBLOCK)?;
        FileIo::checked(file, direct, mode)
    }

    /// Works on `fd`, which stays its caller's (a C client's image): the I/O goes
    /// through a duplicate of it, the same open file with the same flags (direct or
    /// not as they say), which dropping closes without closing `fd`.
    pub fn borrow(fd: BorrowedFd<'_>) -> Result<FileIo, IoError> {
        let flags = rustix::fs::fcntl_getfl(fd).map_err(|e| IoError(e.raw_os_error()))?;
        let file = File::from(fd.try_clone_to_owned().map_err(|e| IoError::from_io(&e))?);
        let direct = flags.contains(rustix::fs::OFlags::DIRECT);
        let writable =
            flags.contains(rustix::fs::OFlags::WRONLY) || flags.contains(rustix::fs::OFlags::RDWR);
        FileIo::with_handle(file, false, writable, direct, OpenMode::ReadOnly)
    }

    /// Opens `path` for buffered I/O only (non-blocking and checked as [`FileIo::open`]).
    pub fn open_buffered(path: &Path, mode: OpenMode) -> Result<FileIo, IoError> {
        let file = options(mode)
            .custom_flags(OPEN_NONBLOCK)
            .open(path)
            .map_err(|e| IoError::from_io(&e))?;
        FileIo::checked(file, false, mode)
    }

    fn checked(file: File, direct: bool, mode: OpenMode) -> Result<FileIo, IoError> {
        require_image_file(&file)?;
        FileIo::with_file(file, direct, mode)
    }

    /// The file's identity (device, inode): two paths name the same file (a hard or
    /// symbolic link, `..`) exactly when their identities are equal.
    pub fn id(&self) -> Result<(u64, u64), IoError> {
        use std::os::unix::fs::MetadataExt;
        let m = self.file.metadata().map_err(|e| IoError::from_io(&e))?;
        Ok((m.dev(), m.ino()))
    }

    fn with_file(file: File, direct: bool, mode: OpenMode) -> Result<FileIo, IoError> {
        let writable = mode != OpenMode::ReadOnly;
        FileIo::with_handle(file, true, writable, direct, mode)
    }

    fn with_handle(
        file: File,
        owned: bool,
        writable: bool,
        direct: bool,
        mode: OpenMode,
    ) -> Result<FileIo, IoError> {
        // Built first, so that an owned file is closed on every error below.
        let mut io = FileIo {
            file,
            owned,
            writable,
            direct,
            bounce: AlignedBuf::new(if direct { BOUNCE_SIZE } else { 0 }),
            block: None,
        };
        if blockdev::is_block_file(&io.file) {
            let device = blockdev::device_size(&io.file).map_err(IoError)?;
            // A new image starts empty, whatever the device held.
            io.block = Some(if mode == OpenMode::Create {
                Extent::empty(device)
            } else {
                Extent::find(&mut io, device)?
            });
        }
        Ok(io)
    }

    /// Whether the file is a block device (libvhd's `is_block`).
    pub fn is_block(&self) -> bool {
        self.block.is_some()
    }

    /// The image's extent on a block device (`None` for a regular file).
    pub fn extent(&self) -> Option<Extent> {
        self.block
    }

    /// Whether transfers use `O_DIRECT`.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// `fsync`: the writes so far, the file's length and the device's cache on stable
    /// storage.
    pub fn sync(&mut self) -> Result<(), IoError> {
        self.file.sync_all().map_err(|e| IoError::from_io(&e))
    }

    /// Clears `O_DIRECT` on the descriptor after the device refused an aligned transfer.
    fn drop_direct(&mut self) -> Result<(), IoError> {
        use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
        let flags = fcntl_getfl(&self.file).map_err(|e| IoError(e.raw_os_error()))?;
        fcntl_setfl(&self.file, flags - OFlags::DIRECT).map_err(|e| IoError(e.raw_os_error()))?;
        self.direct = false;
        Ok(())
    }

    fn aligned(buf: &[u8], offset: u64) -> bool {
        (buf.as_ptr() as usize).is_multiple_of(SECTOR as usize)
            && offset.is_multiple_of(SECTOR)
            && (buf.len() as u64).is_multiple_of(SECTOR)
    }

    /// Reads as much as the file holds of `buf.len()` bytes at `offset`; returns the count.
    fn read_some(file: &File, buf: &mut [u8], offset: u64) -> Result<usize, std::io::Error> {
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn read_exact(&mut self, buf: &mut [u8], offset: u64) -> Result<(), IoError> {
        for attempt in 0..2 {
            match Self::read_some(&self.file, buf, offset) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(_) => return Err(IoError(libc::EIO)),
                Err(e) if attempt == 0 && self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.drop_direct()?;
                }
                Err(e) => return Err(IoError::from_io(&e)),
            }
        }
        Err(IoError(libc::EIO))
    }

    fn write_all(&mut self, buf: &[u8], offset: u64) -> Result<(), IoError> {
        for attempt in 0..2 {
            match self.file.write_all_at(buf, offset) {
                Ok(()) => return Ok(()),
                Err(e) if attempt == 0 && self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.drop_direct()?;
                }
                Err(e) => return Err(IoError::from_io(&e)),
            }
        }
        Err(IoError(libc::EIO))
    }

    /// The sector-aligned window covering up to `len` bytes at `offset` that fits the
    /// bounce buffer: its start, the offset of `offset` in it, and its length.
    fn window(offset: u64, len: usize) -> (u64, usize, usize) {
        let start = offset / SECTOR * SECTOR;
        let head = (offset - start) as usize;
        let take = len.min(BOUNCE_SIZE - head);
        let span = (head + take).div_ceil(SECTOR as usize) * SECTOR as usize;
        (start, head, span.min(BOUNCE_SIZE))
    }

    /// Writes to the file itself (a block device's extent already checked).
    fn write_file(&mut self, mut offset: u64, mut data: &[u8]) -> Result<(), IoError> {
        if !self.direct || Self::aligned(data, offset) {
            return self.write_all(data, offset);
        }
        while !data.is_empty() {
            let (start, head, span) = Self::window(offset, data.len());
            let take = (span - head).min(data.len());
            let end = offset + take as u64;
            // A write padded past the end of a file is cut back to where it ends.
            let old_len = if take + head != span && self.block.is_none() {
                Some(
                    self.file
                        .metadata()
                        .map_err(|e| IoError::from_io(&e))?
                        .len(),
                )
            } else {
                None
            };
            if head != 0 || take != span {
                // A partial sector at either end: keep the bytes around the write.
                let got = Self::read_some(&self.file, &mut self.bounce[..span], start)
                    .map_err(|e| IoError::from_io(&e))?;
                self.bounce[got..span].fill(0);
            }
            self.bounce[head..head + take].copy_from_slice(&data[..take]);
            let file = &self.file;
            if let Err(e) = file.write_all_at(&self.bounce[..span], start) {
                return Err(IoError::from_io(&e));
            }
            if let Some(keep) = old_len.map(|old| old.max(end)) {
                if keep < start + span as u64 {
                    self.file.set_len(keep).map_err(|e| IoError::from_io(&e))?;
                }
            }
            data = &data[take..];
            offset += take as u64;
        }
        Ok(())
    }
}

impl Io for FileIo {
    type Error = IoError;

    fn read_at(&mut self, mut offset: u64, mut buf: &mut [u8]) -> Result<(), IoError> {
        if !self.direct || Self::aligned(buf, offset) {
            return self.read_exact(buf, offset);
        }
        while !buf.is_empty() {
            let (start, head, span) = Self::window(offset, buf.len());
            let take = (span - head).min(buf.len());
            let got = Self::read_some(&self.file, &mut self.bounce[..span], start)
                .map_err(|e| IoError::from_io(&e))?;
            if got < head + take {
                return Err(IoError(libc::EIO));
            }
            let (now, rest) = buf.split_at_mut(take);
            now.copy_from_slice(&self.bounce[head..head + take]);
            buf = rest;
            offset += take as u64;
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        let Some(ext) = self.block else {
            return self.write_file(offset, data);
        };
        let grown = ext.after_write(offset, data.len()).map_err(IoError)?;
        self.write_file(offset, data)?;
        self.block = Some(grown);
        Ok(())
    }

    fn read_vectored_at(&mut self, offset: u64, bufs: &mut [&mut [u8]]) -> Result<(), IoError> {
        vectored::read(self, offset, bufs)
    }

    fn write_vectored_at(&mut self, offset: u64, bufs: &[&[u8]]) -> Result<(), IoError> {
        vectored::write(self, offset, bufs)
    }

    fn read_batch(reads: &mut [BatchRead<'_, Self>]) -> Result<(), IoError> {
        together::read(reads)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        if self.direct && !self.owned {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| IoError::from_io(&e))
    }

    fn size(&mut self) -> Result<u64, IoError> {
        if let Some(ext) = &self.block {
            return Ok(ext.len());
        }
        (&self.file)
            .seek(SeekFrom::End(0))
            .map_err(|e| IoError::from_io(&e))
    }

    fn set_size(&mut self, size: u64) -> Result<(), IoError> {
        if let Some(ext) = &mut self.block {
            return ext.set_len(size).map_err(IoError);
        }
        self.file.set_len(size).map_err(|e| IoError::from_io(&e))
    }
}

impl Drop for FileIo {
    fn drop(&mut self) {
        if self.owned && self.writable {
            // The one sync of an image written through a direct descriptor; there is
            // no caller left to report a failure to.
            let _ = self.file.sync_all();
        }
    }
}
