//! Reading sectors: a fixed disk maps straight to the file; a sparse disk through the
//! BAT and the sector bitmap; a differencing disk falls through to the next disk of the
//! chain for sectors it does not hold. The bitmap is authoritative, as on libvhd's read
//! path: a batmap bit that disagrees with it (hostile or damaged) never makes stale
//! bytes readable; the bitmap cache keeps full blocks cheap without the batmap.

use crate::bitmap::Bitmap;
use crate::disk::{Disk, Kind};
use crate::error::Error;
use crate::footer::DiskType;
use crate::io::Io;
use crate::SECTOR_SIZE;

/// Where a run of sectors reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Stored in this image at the given byte offset.
    Data(u64),
    /// Not stored; reads as zeros.
    Zero,
    /// Not stored; reads from the parent.
    Parent,
}

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Maps up to `max` sectors from `sector` (which must be inside the disk) to where they
    /// are stored, returning the source and how many consecutive sectors share it (at
    /// least one, never crossing a block).
    pub fn map_sectors(&mut self, sector: u64, max: u32) -> Result<(Source, u32), Error<I::Error>> {
        if sector >= self.sectors || max == 0 {
            return Err(Error::OutOfRange);
        }
        let left = u32::try_from(self.sectors - sector).unwrap_or(u32::MAX);
        let max = max.min(left);
        let Some(h) = &self.header else {
            return Ok((Source::Data(sector * SECTOR_SIZE as u64), max));
        };
        let shift = h.block_shift();
        let spb = h.sectors_per_block();
        let bm_bytes = u64::from(h.bitmap_sectors()) * SECTOR_SIZE as u64;
        let block = u32::try_from(sector >> shift).map_err(|_| Error::OutOfRange)?;
        let off = (sector & u64::from(spb - 1)) as u32;
        let n = max.min(spb - off);
        let absent = if self.kind == Kind::Vhd(DiskType::Differencing) {
            Source::Parent
        } else {
            Source::Zero
        };
        let Some(start) = self.block_extent(block)? else {
            return Ok((absent, n));
        };
        let data = start + bm_bytes + u64::from(off) * SECTOR_SIZE as u64;
        let range = self.load_bitmap(block, start)?;
        let (present, run) =
            Bitmap::new(&self.bitmap.as_ref()[range], self.bitmap_order()).run(off, n);
        Ok((
            if present { Source::Data(data) } else { absent },
            run.max(1),
        ))
    }

    /// Reads whole sectors from `sector` into `buf` from this disk alone; a differencing
    /// disk needs its parents ([`read_chain`]).
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Error<I::Error>> {
        read_chain(core::slice::from_mut(self), sector, buf)
    }
}

fn check_range(sectors: u64, sector: u64, len: usize) -> Result<u64, ()> {
    if !len.is_multiple_of(SECTOR_SIZE) {
        return Err(());
    }
    let count = (len / SECTOR_SIZE) as u64;
    match sector.checked_add(count) {
        Some(end) if end <= sectors => Ok(count),
        _ => Err(()),
    }
}

/// Reads whole sectors through a chain: `chain[0]` is the disk read, each differencing
/// disk's parent is the next element, and the last may be a raw image. Sectors beyond
/// a (smaller) parent's end read as zeros.
pub fn read_chain<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    chain: &mut [Disk<I, B>],
    sector: u64,
    buf: &mut [u8],
) -> Result<(), Error<I::Error>> {
    let Some(top) = chain.first() else {
        return Err(Error::MissingParent);
    };
    if !buf.len().is_multiple_of(SECTOR_SIZE) {
        return Err(Error::Unaligned);
    }
    check_range(top.sectors, sector, buf.len()).map_err(|_| Error::OutOfRange)?;
    read_within(chain, sector, buf)
}

/// [`read_chain`] for a range already checked against `chain[0]`.
fn read_within<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    chain: &mut [Disk<I, B>],
    sector: u64,
    buf: &mut [u8],
) -> Result<(), Error<I::Error>> {
    let Some((disk, parents)) = chain.split_first_mut() else {
        return Err(Error::MissingParent);
    };
    let count = (buf.len() / SECTOR_SIZE) as u64;
    let mut done = 0u64;
    while done < count {
        let want = u32::try_from(count - done).unwrap_or(u32::MAX);
        let (src, n) = disk.map_sectors(sector + done, want)?;
        let lo = done as usize * SECTOR_SIZE;
        let part = &mut buf[lo..lo + n as usize * SECTOR_SIZE];
        match src {
            Source::Data(off) => disk.io.read_at(off, part).map_err(Error::Io)?,
            Source::Zero => part.fill(0),
            Source::Parent => read_parent(parents, sector + done, part)?,
        }
        done += u64::from(n);
    }
    Ok(())
}

/// Reads from the parent, zero-filling whatever lies beyond its end.
fn read_parent<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    chain: &mut [Disk<I, B>],
    sector: u64,
    buf: &mut [u8],
) -> Result<(), Error<I::Error>> {
    let Some(parent) = chain.first() else {
        return Err(Error::MissingParent);
    };
    let have = parent.sectors.saturating_sub(sector);
    let inside = ((buf.len() / SECTOR_SIZE) as u64).min(have) as usize * SECTOR_SIZE;
    let (head, tail) = buf.split_at_mut(inside);
    tail.fill(0);
    if head.is_empty() {
        return Ok(());
    }
    read_within(chain, sector, head)
}
