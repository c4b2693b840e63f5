//! The engine's [`Io`] over a file descriptor: `pread`/`pwrite` loops, with a bounce
//! buffer for what `O_DIRECT` refuses.
//!
//! With `O_DIRECT` every transfer must start and end on a sector and use a sector-aligned
//! buffer. Aligned requests (tapdisk's, and the engine's own metadata buffers) go
//! straight to the kernel; anything else is staged through one page-aligned bounce
//! buffer allocated when the descriptor is wrapped, in pieces of at most its size, so no
//! I/O allocates. A partial sector at either end is read, patched and written back; a
//! write that had to be padded past the end of the file is trimmed back with `ftruncate`.
//!
//! On a block device the size is the image's extent (`vhd_std::blockdev`): the footer
//! sits at the end of data and nothing is ever truncated.
//!
//! `flush` is `fdatasync` for buffered descriptors. With `O_DIRECT` it does nothing:
//! each write has reached the device when `pwrite` returns, and writes complete in the
//! order they were issued, which is all the reference libvhd relies on (it never syncs).
//! The owner syncs once when it closes a writable image (see COMPATIBILITY.md).

use core::ffi::c_int;

use vhd_nostd::Io;
use vhd_std::blockdev::{self, Extent};

use crate::alloc::AlignedBuf;

/// Sector size as the kernel sees it for `O_DIRECT` alignment.
const SECTOR: u64 = 512;
/// Size of the bounce buffer of a direct descriptor.
pub(crate) const BOUNCE_BYTES: usize = 64 * 1024;

/// `errno` of the last failed call.
pub(crate) fn last_errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Positioned I/O on one descriptor. Errors are positive `errno` values.
pub(crate) struct FdIo {
    fd: c_int,
    /// Close `fd` on drop (parents opened by the library); the image's own descriptor
    /// belongs to its context.
    owned: bool,
    direct: bool,
    /// Where the image ends, on a block device.
    block: Option<Extent>,
    /// Staging area for unaligned transfers on a direct descriptor (empty otherwise).
    bounce: AlignedBuf,
}

impl FdIo {
    /// Wraps `fd`. `direct` says whether it was opened with `O_DIRECT`.
    pub(crate) fn new(fd: c_int, owned: bool, direct: bool) -> Result<Self, c_int> {
        // Built first so that an owned descriptor is closed on every error below.
        let mut io = FdIo {
            fd,
            owned,
            direct,
            block: None,
            bounce: AlignedBuf::default(),
        };
        if direct {
            io.bounce = AlignedBuf::zeroed(BOUNCE_BYTES)?;
        }
        if blockdev::is_block_fd(fd).map_err(|e| -e)? {
            let device = blockdev::device_size(fd).map_err(|e| -e)?;
            io.block = Some(Extent::find(&mut io, device).map_err(|e| -e)?);
        }
        Ok(io)
    }

    /// vhd-std's rule for what an image or a parent may be (a regular file or a block
    /// device), applied to this descriptor; `-EINVAL` otherwise.
    pub(crate) fn require_image_file(&self) -> Result<(), c_int> {
        use std::os::fd::FromRawFd;
        // SAFETY: `self.fd` is open for as long as `self` lives; ManuallyDrop keeps the
        // borrowed File from closing it.
        let file = core::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.fd) });
        vhd_std::fileio::require_image_file(&file).map_err(|e| -e.0)
    }

    /// Wraps a descriptor the caller keeps owning, finding out from its flags whether it
    /// is direct (for contexts the library did not open itself).
    pub(crate) fn borrowed(fd: c_int) -> Result<Self, c_int> {
        // SAFETY: F_GETFL only reads the descriptor's flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(-last_errno());
        }
        FdIo::new(fd, false, flags & libc::O_DIRECT != 0)
    }

    /// Whether the descriptor is a block device.
    pub(crate) fn is_block(&self) -> bool {
        self.block.is_some()
    }

    /// The image's extent on a block device (`None` for a regular file).
    pub(crate) fn extent(&self) -> Option<Extent> {
        self.block
    }

    /// The device and inode of the open file, to recognize it under another name.
    pub(crate) fn id(&self) -> Result<(u64, u64), c_int> {
        // SAFETY: `stat` is plain old data; fstat fills it or fails.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `st` is a valid out-pointer.
        if unsafe { libc::fstat(self.fd, &mut st) } != 0 {
            return Err(-last_errno());
        }
        Ok((st.st_dev, st.st_ino))
    }

    /// `fsync`, for the end of a writable image's life.
    pub(crate) fn sync(&mut self) -> Result<(), c_int> {
        // SAFETY: plain syscall on our descriptor.
        if unsafe { libc::fsync(self.fd) } != 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn fits_direct(&self, offset: u64, ptr: *const u8, len: usize) -> bool {
        !self.direct
            || (offset.is_multiple_of(SECTOR)
                && (len as u64).is_multiple_of(SECTOR)
                && (ptr as usize).is_multiple_of(SECTOR as usize))
    }

    /// The sector-aligned window of one bounced piece at `pos`: where it starts, how
    /// many caller bytes it carries (at most `left`) and its length.
    fn window(&self, pos: u64, left: usize) -> (u64, usize, usize) {
        let head = (pos % SECTOR) as usize;
        let n = left.min(self.bounce.len() - head);
        let span = (head + n).div_ceil(SECTOR as usize) * SECTOR as usize;
        (pos - head as u64, n, span)
    }

    fn read_bounced(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), c_int> {
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let (start, n, span) = self.window(pos, buf.len() - done);
            let head = (pos - start) as usize;
            let win = &mut self.bounce.as_mut()[..span];
            if pread_upto(self.fd, start, win)? < head + n {
                return Err(libc::EIO);
            }
            buf[done..done + n].copy_from_slice(&win[head..head + n]);
            done += n;
        }
        Ok(())
    }

    fn write_bounced(&mut self, offset: u64, data: &[u8]) -> Result<(), c_int> {
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let (start, n, span) = self.window(pos, data.len() - done);
            let head = (pos - start) as usize;
            let end = pos + n as u64;
            let padded = start + span as u64 > end;
            // A padded write may reach past the end of file; remember where it was.
            let old_size = if padded && self.block.is_none() {
                Some(self.size()?)
            } else {
                None
            };
            let win = &mut self.bounce.as_mut()[..span];
            if head != 0 || padded {
                let got = pread_upto(self.fd, start, win)?;
                win[got..].fill(0);
            }
            win[head..head + n].copy_from_slice(&data[done..done + n]);
            pwrite_all(self.fd, start, win)?;
            if let Some(old) = old_size {
                let keep = old.max(end);
                if keep < start + span as u64 {
                    self.set_size(keep)?;
                }
            }
            done += n;
        }
        Ok(())
    }
}

/// Reads into `buf` at `offset` until it is full or the file ends; returns the bytes
/// read.
pub(crate) fn pread_upto(fd: c_int, offset: u64, buf: &mut [u8]) -> Result<usize, c_int> {
    let mut done = 0;
    while done < buf.len() {
        let at = libc::off_t::try_from(offset + done as u64).map_err(|_| libc::EINVAL)?;
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a live, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), at) };
        match n {
            0 => break,
            n if n < 0 => {
                let e = last_errno();
                if e != libc::EINTR {
                    return Err(e);
                }
            }
            n => done += n as usize,
        }
    }
    Ok(done)
}

/// Writes all of `buf` at `offset`.
pub(crate) fn pwrite_all(fd: c_int, offset: u64, buf: &[u8]) -> Result<(), c_int> {
    let mut done = 0;
    while done < buf.len() {
        let at = libc::off_t::try_from(offset + done as u64).map_err(|_| libc::EINVAL)?;
        let rest = &buf[done..];
        // SAFETY: `rest` is a live buffer of `rest.len()` bytes.
        let n = unsafe { libc::pwrite(fd, rest.as_ptr().cast(), rest.len(), at) };
        match n {
            0 => return Err(libc::EIO),
            n if n < 0 => {
                let e = last_errno();
                if e != libc::EINTR {
                    return Err(e);
                }
            }
            n => done += n as usize,
        }
    }
    Ok(())
}

impl Drop for FdIo {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: we own the descriptor and drop it once.
            unsafe { libc::close(self.fd) };
        }
    }
}

impl Io for FdIo {
    type Error = c_int;

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), c_int> {
        if self.fits_direct(offset, buf.as_ptr(), buf.len()) {
            return match pread_upto(self.fd, offset, buf)? {
                n if n == buf.len() => Ok(()),
                _ => Err(libc::EIO),
            };
        }
        self.read_bounced(offset, buf)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), c_int> {
        let grown = match self.block {
            Some(ext) => Some(ext.after_write(offset, buf.len())?),
            None => None,
        };
        if self.fits_direct(offset, buf.as_ptr(), buf.len()) {
            pwrite_all(self.fd, offset, buf)?;
        } else {
            self.write_bounced(offset, buf)?;
        }
        if grown.is_some() {
            self.block = grown;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), c_int> {
        if self.direct {
            return Ok(());
        }
        // SAFETY: plain syscall on our descriptor.
        if unsafe { libc::fdatasync(self.fd) } != 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn size(&mut self) -> Result<u64, c_int> {
        if let Some(ext) = &self.block {
            return Ok(ext.len());
        }
        // SAFETY: `stat` is plain old data; fstat fills it or fails.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `st` is a valid out-pointer.
        if unsafe { libc::fstat(self.fd, &mut st) } != 0 {
            return Err(last_errno());
        }
        Ok(st.st_size as u64)
    }

    fn set_size(&mut self, size: u64) -> Result<(), c_int> {
        if let Some(ext) = &mut self.block {
            return ext.set_len(size);
        }
        let len = libc::off_t::try_from(size).map_err(|_| libc::EFBIG)?;
        // SAFETY: plain syscall on our descriptor.
        if unsafe { libc::ftruncate(self.fd, len) } != 0 {
            return Err(last_errno());
        }
        Ok(())
    }
}

/// Opens `path` with `flags | O_DIRECT | O_LARGEFILE`, falling back to buffered I/O
/// where the file system refuses `O_DIRECT` (tmpfs answers `EINVAL`). Returns the
/// descriptor and whether it is direct.
pub(crate) fn open_direct(
    path: &core::ffi::CStr,
    flags: c_int,
    mode: libc::mode_t,
) -> Result<(c_int, bool), c_int> {
    let base = flags | libc::O_LARGEFILE;
    for (extra, direct) in [(libc::O_DIRECT, true), (0, false)] {
        // SAFETY: `path` is NUL-terminated; the mode is read only with O_CREAT.
        let fd = unsafe { libc::open(path.as_ptr(), base | extra, libc::c_uint::from(mode)) };
        if fd >= 0 {
            return Ok((fd, direct));
        }
        let e = last_errno();
        if !(direct && e == libc::EINVAL) {
            return Err(-e);
        }
    }
    Err(-libc::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn temp(name: &str) -> std::ffi::CString {
        let p = std::env::temp_dir().join(format!("vhd-capi-fdio-{}-{name}", std::process::id()));
        std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
    }

    #[test]
    fn unaligned_transfers_on_a_direct_descriptor() {
        let path = temp("a");
        let (fd, direct) = open_direct(&path, libc::O_RDWR | libc::O_CREAT, 0o644).unwrap();
        let mut io = FdIo::new(fd, true, direct).unwrap();
        io.set_size(0).unwrap();
        // An unaligned write that ends inside a sector beyond EOF leaves the file exactly
        // that long.
        io.write_at(100, b"hello").unwrap();
        assert_eq!(io.size().unwrap(), 105);
        let mut b = [0u8; 6];
        io.read_at(99, &mut b).unwrap();
        assert_eq!(&b, b"\0hello");
        // Larger than the bounce buffer, odd offset and length.
        let big: Vec<u8> = (0..BOUNCE_BYTES * 2 + 333).map(|i| i as u8).collect();
        io.write_at(511, &big).unwrap();
        let mut back = vec![0u8; big.len()];
        io.read_at(511, &mut back).unwrap();
        assert_eq!(back, big);
        let mut head = [0u8; 5];
        io.read_at(100, &mut head).unwrap();
        assert_eq!(&head, b"hello");
        // Reading past the end is an error, not zeros.
        let end = io.size().unwrap();
        assert_eq!(io.read_at(end - 2, &mut head), Err(libc::EIO));
        io.flush().unwrap();
        drop(io);
        // SAFETY: NUL-terminated path.
        unsafe { libc::unlink(path.as_ptr()) };
    }
}
