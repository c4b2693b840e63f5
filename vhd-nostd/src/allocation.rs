//! What a sparse disk holds within its virtual size, in the forms blktap3's vhd-util
//! reports it: the allocated block count (`query -a`), the BAT as a bitmap (`read -B`)
//! and the runs of sectors present (`read -e`). Only the BAT entries the virtual size
//! covers count: an image with preallocated metadata (`create -S`) has more entries.

use crate::disk::Disk;
use crate::error::Error;
use crate::io::Io;
use crate::read::Source;

/// BAT entries the virtual size covers, rounded up to whole blocks; an error if the
/// BAT is smaller (blktap3's `vhd_read_bat` fails the same way) or the disk is fixed.
pub fn covered_blocks<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
) -> Result<u32, Error<I::Error>> {
    if disk.header().is_none() {
        return Err(Error::WrongDiskType);
    }
    let spb = u64::from(disk.sectors_per_block());
    let n = u32::try_from(disk.sectors().div_ceil(spb)).map_err(|_| Error::OutOfRange)?;
    if n > disk.bat().entries() {
        return Err(Error::InvalidArgument("BAT smaller than the virtual size"));
    }
    Ok(n)
}

/// How many of the covered BAT entries are allocated.
pub fn allocated_blocks<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
) -> Result<u32, Error<I::Error>> {
    let n = covered_blocks(disk)?;
    Ok((0..n).filter(|&b| disk.bat().get(b).is_some()).count() as u32)
}

/// Bytes [`bat_bitmap`] writes: one bit per whole block of the virtual size. Fails as
/// [`covered_blocks`] does, so the length is bounded by the BAT (which the file bounds),
/// never by a footer's claim alone.
pub fn bat_bitmap_bytes<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
) -> Result<usize, Error<I::Error>> {
    covered_blocks(disk)?;
    let spb = u64::from(disk.sectors_per_block());
    Ok((disk.sectors() / spb).div_ceil(8) as usize)
}

/// Writes the BAT as a bitmap into `out[..bat_bitmap_bytes]`: bit `i` (MSB first in
/// each byte) set when block `i` is allocated, for every *whole* block of the virtual
/// size (blktap3 floors here, unlike the block count). Returns the length written.
pub fn bat_bitmap<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
    out: &mut [u8],
) -> Result<usize, Error<I::Error>> {
    let len = bat_bitmap_bytes(disk)?;
    let out = out
        .get_mut(..len)
        .ok_or(Error::BufferTooSmall { needed: len })?;
    out.fill(0);
    let blocks = disk.sectors() / u64::from(disk.sectors_per_block());
    for b in 0..blocks as u32 {
        if disk.bat().get(b).is_some() {
            crate::batmap::assign(out, b, true);
        }
    }
    Ok(len)
}

/// The first run of sectors this disk itself holds in `[from, end)`: its start and
/// length, runs that continue into the next block joined; `None` if there is none.
/// `end` must not pass the disk's end.
pub fn next_extent<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    from: u64,
    end: u64,
) -> Result<Option<(u64, u64)>, Error<I::Error>> {
    if end > disk.sectors() {
        return Err(Error::OutOfRange);
    }
    let mut start = None;
    let mut s = from;
    while s < end {
        let want = u32::try_from(end - s).unwrap_or(u32::MAX);
        let (src, n) = disk.map_sectors(s, want)?;
        match (src, start) {
            (Source::Data(_), None) => start = Some(s),
            (Source::Data(_), Some(_)) => {}
            (_, Some(st)) => return Ok(Some((st, s - st))),
            (_, None) => {}
        }
        s += u64::from(n);
    }
    Ok(start.map(|st| (st, end - st)))
}
