//! VHDs on block devices (LVM logical volumes, loop devices), libvhd's `is_block`.
//!
//! A device has a fixed size and cannot be truncated, so an image on it ends where its
//! metadata says, not at the device's end. The [`Extent`] of an image is the length a
//! file holding it would have; the I/O layers ([`crate::FileIo`] and the C library's
//! descriptor I/O) report it as their size, so the core finds and writes the footer at
//! the end of data exactly as it does in a file:
//!
//! - a **sparse** image (dynamic, differencing) is found through the footer copy at
//!   offset 0: its header and BAT give the end of data, and the primary footer sits
//!   there (libvhd's `vhd_end_of_data`);
//! - a **fixed** image keeps its footer in the device's last sector, where libvhd's end
//!   of data for a fixed disk is (the device size minus the footer);
//! - anything else (a raw volume, damaged metadata) spans the whole device, so the core
//!   reports it as it would a file of that length.
//!
//! Setting the size never truncates: growing is allowed up to the device's size
//! (`ENOSPC` beyond), shrinking only moves the logical end. The device's size comes from
//! `BLKGETSIZE64`.

use std::fs::File;
use std::io::{Seek, SeekFrom};

use vhd_nostd::disk::{find_footer, FoundFooter};
use vhd_nostd::footer::{DiskType, Footer, FOOTER_SIZE};
use vhd_nostd::{probe_found, Buffers, Disk, Error, Io, OpenOptions, Recovered};

/// The size in bytes of the block device open as `file` (where a seek to its end
/// lands; the descriptor's offset is put back, as a C client may share it); the
/// positive `errno` on failure.
pub fn device_size(file: &File) -> Result<u64, i32> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let mut f = file;
    let here = f.stream_position().map_err(errno)?;
    let end = f.seek(SeekFrom::End(0)).map_err(errno)?;
    f.seek(SeekFrom::Start(here)).map_err(errno)?;
    Ok(end)
}

/// Whether the open file is a block device.
pub fn is_block_file(file: &File) -> bool {
    use std::os::unix::fs::FileTypeExt;
    file.metadata()
        .is_ok_and(|m| m.file_type().is_block_device())
}

/// Where an image on a block device ends, within the device; see the module
/// documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    device: u64,
    len: u64,
}

/// The device seen whole: what the core reads while the extent is being found.
struct Whole<'a, I: Io> {
    io: &'a mut I,
    device: u64,
}

impl<I: Io> Io for Whole<'_, I> {
    type Error = I::Error;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), I::Error> {
        self.io.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), I::Error> {
        self.io.write_at(offset, buf)
    }
    fn flush(&mut self) -> Result<(), I::Error> {
        self.io.flush()
    }
    fn size(&mut self) -> Result<u64, I::Error> {
        Ok(self.device)
    }
    fn set_size(&mut self, _: u64) -> Result<(), I::Error> {
        Ok(())
    }
}

fn footer_at<I: Io>(io: &mut I, pos: u64) -> Result<Option<Footer>, I::Error> {
    let mut b = [0u8; FOOTER_SIZE];
    io.read_at(pos, &mut b)?;
    Ok(Footer::parse(&b).ok())
}

/// Opens, read-only, the sparse image whose footer copy at offset 0 is `copy`, on a
/// device (or part of one) that `io` reads whole: the way to an image whose primary
/// footer is not at the end of what holds it. A disabled image opens too.
pub fn open_from_copy<I: Io>(mut io: I, copy: Footer) -> Result<Disk<I, Vec<u8>>, Error<I::Error>> {
    let size = io.size().map_err(Error::Io)?;
    let found = FoundFooter {
        footer: copy,
        pos: size.saturating_sub(FOOTER_SIZE as u64),
        recovered: Recovered::BACKUP_FOOTER,
    };
    let layout = probe_found(&mut io, &found)?;
    let bufs = Buffers {
        bat: vec![0u8; layout.bat_bytes],
        batmap: vec![0u8; layout.batmap_bytes],
        bitmap: vec![0u8; layout.bitmap_bytes],
    };
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    Disk::open_found(io, bufs, opts, found)
}

/// The end of data of the sparse image whose footer copy at offset 0 is `copy`, or
/// `None` if its metadata does not hold together.
fn sparse_end<I: Io>(whole: &mut Whole<'_, I>, copy: Footer) -> Result<Option<u64>, I::Error> {
    match open_from_copy(whole, copy) {
        Ok(disk) => Ok(Some(disk.end_of_data())),
        Err(Error::Io(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

impl Extent {
    /// An empty image on a device of `device` bytes (one about to be created).
    pub fn empty(device: u64) -> Extent {
        Extent { device, len: 0 }
    }

    /// Finds the image on a device of `device` bytes read through `io` (whose own size
    /// is not consulted); see the module documentation for the rule. Only I/O errors
    /// fail it.
    pub fn find<I: Io>(io: &mut I, device: u64) -> Result<Extent, I::Error> {
        let whole_device = Extent {
            device,
            len: device,
        };
        if device < 2 * FOOTER_SIZE as u64 {
            return Ok(whole_device);
        }
        let mut whole = Whole { io, device };
        let last = device - FOOTER_SIZE as u64;
        if footer_at(whole.io, last)?.is_some_and(|f| f.kind() == Some(DiskType::Fixed)) {
            return Ok(whole_device);
        }
        let Some(copy) = footer_at(whole.io, 0)? else {
            return Ok(whole_device);
        };
        if !copy.kind().is_some_and(DiskType::is_sparse) {
            return Ok(whole_device);
        }
        let len = sparse_end(&mut whole, copy)?
            .and_then(|end| end.checked_add(FOOTER_SIZE as u64))
            .filter(|&len| len <= device)
            .unwrap_or(device);
        Ok(Extent { device, len })
    }

    /// The device's size in bytes.
    pub fn device(&self) -> u64 {
        self.device
    }

    /// The image's length: what a file holding it would measure.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the image is empty (a device about to receive a new one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves the end of the image; never truncates the device. `ENOSPC` beyond it.
    pub fn set_len(&mut self, len: u64) -> Result<(), i32> {
        if len > self.device {
            return Err(libc::ENOSPC);
        }
        self.len = len;
        Ok(())
    }

    /// The extent after a write of `len` bytes at `offset`, which must fit the device
    /// (`ENOSPC`, as a full file system answers, rather than a short write): a write past
    /// the image's end extends it, as it extends a file.
    pub fn after_write(&self, offset: u64, len: usize) -> Result<Extent, i32> {
        let end = offset.checked_add(len as u64).ok_or(libc::EFBIG)?;
        if end > self.device {
            return Err(libc::ENOSPC);
        }
        Ok(Extent {
            device: self.device,
            len: self.len.max(end),
        })
    }
}

/// Finishes an image the core has just created on a block device (laid out as in a
/// file), so that [`Extent::find`] finds it and nothing of an earlier image is taken for
/// it: a fixed image gets its data zeroed, as a new file reads, and its footer in the
/// device's last sector; a sparse image clears a footer left in that sector, which
/// would otherwise pass for a fixed image filling the device.
pub fn finish_create<I: Io>(io: &mut I, extent: Extent) -> Result<(), Error<I::Error>> {
    let found = find_footer(io, true)?;
    let last = extent.device.saturating_sub(FOOTER_SIZE as u64);
    if found.pos >= last {
        return Ok(());
    }
    if found.footer.kind() != Some(DiskType::Fixed) {
        if footer_at(io, last).map_err(Error::Io)?.is_some() {
            io.write_at(last, &[0u8; FOOTER_SIZE]).map_err(Error::Io)?;
        }
        return io.flush().map_err(Error::Io);
    }
    let zeros = crate::fileio::AlignedBuf::new(1 << 20);
    let mut at = 0;
    while at < found.pos {
        let n = (found.pos - at).min(zeros.len() as u64) as usize;
        io.write_at(at, &zeros[..n]).map_err(Error::Io)?;
        at += n as u64;
    }
    io.write_at(last, &found.footer.to_bytes())
        .map_err(Error::Io)?;
    io.flush().map_err(Error::Io)
}

/// Part of a device read as if it were a file of its own: an LVM logical volume read
/// straight from its physical volume (`vhd-util scan -l`), `start` bytes in, `len`
/// long. Read-only: writes fail with `EROFS`.
#[derive(Debug)]
pub struct Window<I: Io> {
    io: I,
    start: u64,
    len: u64,
}

impl<I: Io> Window<I> {
    /// The `len` bytes of `io` from byte `start`.
    pub fn new(io: I, start: u64, len: u64) -> Window<I> {
        Window { io, start, len }
    }
}

impl<I: Io<Error = crate::IoError>> Io for Window<I> {
    type Error = crate::IoError;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), crate::IoError> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(crate::IoError(libc::EIO));
        }
        self.io.read_at(self.start + offset, buf)
    }
    fn write_at(&mut self, _: u64, _: &[u8]) -> Result<(), crate::IoError> {
        Err(crate::IoError(libc::EROFS))
    }
    fn flush(&mut self) -> Result<(), crate::IoError> {
        Ok(())
    }
    fn size(&mut self) -> Result<u64, crate::IoError> {
        Ok(self.len)
    }
    fn set_size(&mut self, _: u64) -> Result<(), crate::IoError> {
        Err(crate::IoError(libc::EROFS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vhd_nostd::create::{create, CreateParams};
    use vhd_nostd::io::MemIo;

    const DEVICE: usize = 8 << 20;

    fn params(kind: DiskType, size: u64) -> CreateParams<'static> {
        CreateParams {
            kind,
            size,
            block_size: 1 << 20,
            uuid: uuid::Uuid::from_bytes([7; 16]),
            timestamp: 0,
            parent: None,
        }
    }

    /// A device whose first bytes hold an image created as in a file, the rest `fill`.
    fn device_with(kind: DiskType, size: u64, fill: u8) -> (Vec<u8>, u64) {
        let mut file = vec![0u8; DEVICE];
        let mut io = MemIo::new(&mut file);
        create(&mut io, &params(kind, size), &mut [0u8; 4096]).unwrap();
        let len = io.contents().len();
        let mut dev = vec![fill; DEVICE];
        dev[..len].copy_from_slice(&file[..len]);
        (dev, len as u64)
    }

    /// A device as `FileIo` presents one: readable throughout, sized by its extent.
    struct Device<'a> {
        mem: MemIo<'a>,
        ext: Extent,
    }

    impl Io for Device<'_> {
        type Error = i32;
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
            self.mem.read_at(offset, buf).map_err(|_| libc::EIO)
        }
        fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), i32> {
            self.ext = self.ext.after_write(offset, buf.len())?;
            self.mem.write_at(offset, buf).map_err(|_| libc::EIO)
        }
        fn flush(&mut self) -> Result<(), i32> {
            Ok(())
        }
        fn size(&mut self) -> Result<u64, i32> {
            Ok(self.ext.len())
        }
        fn set_size(&mut self, size: u64) -> Result<(), i32> {
            self.ext.set_len(size)
        }
    }

    /// `dev` as just created on: its extent ends at `len`.
    fn created(dev: &mut [u8], len: u64) -> Device<'_> {
        let mut ext = Extent::empty(DEVICE as u64);
        ext.set_len(len).unwrap();
        Device {
            mem: MemIo::with_len(dev, DEVICE),
            ext,
        }
    }

    fn find(dev: &mut [u8]) -> Extent {
        let mut io = MemIo::with_len(dev, DEVICE);
        Extent::find(&mut io, DEVICE as u64).unwrap()
    }

    #[test]
    fn a_sparse_image_ends_at_its_end_of_data() {
        let (mut dev, len) = device_with(DiskType::Dynamic, 4 << 20, 0xee);
        assert_eq!(find(&mut dev).len(), len);
    }

    #[test]
    fn a_fixed_image_or_anything_else_spans_the_device() {
        // finish_create puts a fixed image's footer in the last sector and zeroes the
        // data the device held.
        let (mut dev, len) = device_with(DiskType::Fixed, 4 << 20, 0x55);
        let mut io = created(&mut dev, len);
        let ext = io.ext;
        finish_create(&mut io, ext).unwrap();
        assert_eq!(io.ext.len(), DEVICE as u64);
        let last = DEVICE - FOOTER_SIZE;
        assert_eq!(Footer::parse(&dev[last..]).unwrap().curr_size, 4 << 20);
        assert!(dev[..4 << 20].iter().all(|&b| b == 0));
        assert_eq!(find(&mut dev).len(), DEVICE as u64);
        let mut raw = vec![0x42u8; DEVICE];
        assert_eq!(find(&mut raw).len(), DEVICE as u64);
    }

    #[test]
    fn a_new_sparse_image_clears_a_stale_fixed_footer() {
        let (mut dev, len) = device_with(DiskType::Dynamic, 4 << 20, 0);
        let stale = Footer::new(vhd_nostd::footer::FooterParams {
            kind: DiskType::Fixed,
            size: 1 << 20,
            timestamp: 0,
            uuid: uuid::Uuid::nil(),
        });
        dev[DEVICE - FOOTER_SIZE..].copy_from_slice(&stale.to_bytes());
        assert_eq!(
            find(&mut dev).len(),
            DEVICE as u64,
            "taken for a fixed disk"
        );
        let mut io = created(&mut dev, len);
        let ext = io.ext;
        finish_create(&mut io, ext).unwrap();
        assert_eq!(find(&mut dev).len(), len);
    }

    #[test]
    fn the_extent_grows_with_writes_and_never_past_the_device() {
        let mut e = Extent::empty(4096);
        assert!(e.is_empty());
        e = e.after_write(1024, 512).unwrap();
        assert_eq!(e.len(), 1536);
        assert_eq!(e.after_write(4000, 512), Err(libc::ENOSPC));
        assert_eq!(e.after_write(u64::MAX, 2), Err(libc::EFBIG));
        e.set_len(512).unwrap();
        assert_eq!((e.len(), e.device()), (512, 4096));
        assert_eq!(e.set_len(4097), Err(libc::ENOSPC));
    }
}
