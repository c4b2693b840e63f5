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

/// What a read costs beyond the sectors it moves, counted in sectors: what the device
/// transfers in the time it takes to serve a request (256 KiB: about 100 us at 2 GB/s,
/// as measured on the virtual disks the benchmarks run on; a spinning disk's figure is
/// larger still, which only favours the large reads more). Choosing between one large
/// read and several small ones weighs this against the bytes the large one reads for
/// nothing.
const READ_COST: u32 = 512;

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

    /// Reads all of `block`'s data into `dst` (one block's bytes) if the disk holds every
    /// sector of it, and says whether it did; if not (unallocated, partly written, or
    /// not known full), `dst` holds nothing useful and [`Disk::map_sectors`] tells what
    /// is where. A block the batmap calls full has its bitmap read in the same request
    /// as its data, one device round trip instead of two; the bitmap still decides, as
    /// everywhere (a batmap bit is only a hint).
    pub fn read_full_block(&mut self, block: u32, dst: &mut [u8]) -> Result<bool, Error<I::Error>> {
        let Some(h) = &self.header else {
            return Ok(false);
        };
        let bytes = h.sectors_per_block() as usize * SECTOR_SIZE;
        let bm = u64::from(h.bitmap_sectors()) * SECTOR_SIZE as u64;
        let dst = dst
            .get_mut(..bytes)
            .ok_or(Error::BufferTooSmall { needed: bytes })?;
        let Some(start) = self.block_extent(block)? else {
            return Ok(false);
        };
        let range = self.bitmaps.range(block);
        let cached = self.bitmaps.holds(self.bitmap.as_ref(), block);
        if !cached {
            if !self
                .batmap()
                .is_some_and(|(_, map)| crate::batmap::test(map, block))
            {
                return Ok(false);
            }
            self.bitmaps.mark(self.bitmap.as_mut(), block, false);
            let map = &mut self.bitmap.as_mut()[range.clone()];
            self.io
                .read_vectored_at(start, &mut [map, &mut *dst])
                .map_err(Error::Io)?;
            self.bitmaps.mark(self.bitmap.as_mut(), block, true);
        }
        let spb = self.sectors_per_block();
        if !Bitmap::new(&self.bitmap.as_ref()[range], self.bitmap_order()).all_set(spb) {
            return Ok(false);
        }
        if cached {
            self.io.read_at(start + bm, dst).map_err(Error::Io)?;
        }
        Ok(true)
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
        let s = sector + done;
        let lo = done as usize * SECTOR_SIZE;
        if let Some(plan) = mixed_block_range(disk, s, want)? {
            let part = &mut buf[lo..lo + plan.count as usize * SECTOR_SIZE];
            read_parent_then_overlay(disk, parents, s, part, &plan)?;
            done += u64::from(plan.count);
            continue;
        }
        let (src, n) = disk.map_sectors(s, want)?;
        let part = &mut buf[lo..lo + n as usize * SECTOR_SIZE];
        match src {
            Source::Data(off) => disk.io.read_at(off, part).map_err(Error::Io)?,
            Source::Zero => part.fill(0),
            Source::Parent => read_parent(parents, s, part)?,
        }
        done += u64::from(n);
    }
    Ok(())
}

/// The runs of a differencing disk's own sectors in part of a block: how many, how many
/// sectors they hold, and their span: from the first (`first` sectors into the part,
/// at byte `at` of the file) to the end of the last; and how many runs lie between and
/// around them that the parent supplies.
#[derive(Default)]
struct OwnRuns {
    runs: u32,
    parent_runs: u32,
    sectors: u32,
    first: u32,
    span: u32,
    at: u64,
}

impl OwnRuns {
    /// What reading them costs ([`READ_COST`] units): one read each, or one read of
    /// their whole span into the scratch when `staged` allows and that is cheaper.
    fn cost(&self, staged: bool) -> u32 {
        let each = self.runs * READ_COST + self.sectors;
        if staged && self.stage_pays() {
            READ_COST + self.span
        } else {
            each
        }
    }

    /// Whether one read of the span costs less than a read a run.
    fn stage_pays(&self) -> bool {
        READ_COST + self.span < self.runs * READ_COST + self.sectors
    }
}

/// If the sectors from `sector` to the end of its block (at most `want`) interleave the
/// differencing disk's own data with its parent's, how many they are, the disk's runs
/// among them and whether to stage those in one read, when reading the parent's whole
/// range and the disk's runs over it costs less than reading each run, the disk's and
/// the parent's, where it is (the costs as [`READ_COST`] counts them; the parent's
/// sectors under the disk's runs are read for nothing, and down a chain, whatever
/// shadows them there).
fn mixed_block_range<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    sector: u64,
    want: u32,
) -> Result<Option<Layered>, Error<I::Error>> {
    if disk.kind != Kind::Vhd(DiskType::Differencing) {
        return Ok(None);
    }
    let spb = disk.sectors_per_block();
    let in_block = want.min(spb - (sector % u64::from(spb)) as u32);
    let own = own_runs(disk, sector, in_block)?;
    if own.sectors == 0 || own.sectors == in_block {
        return Ok(None);
    }
    let apart = (own.runs + own.parent_runs) * READ_COST + in_block;
    let fits = disk
        .scratch
        .as_ref()
        .is_some_and(|s| s.as_ref().len() >= own.span as usize * SECTOR_SIZE);
    let layered = READ_COST + in_block + own.cost(fits);
    let stage = fits && own.stage_pays();
    Ok((layered < apart).then_some(Layered {
        count: in_block,
        own,
        stage,
    }))
}

/// A block range read as the parent's with the disk's runs over it: `count` sectors,
/// the disk's runs among them, and whether those are staged in one read.
struct Layered {
    count: u32,
    own: OwnRuns,
    stage: bool,
}

/// The disk's own runs among `count` sectors from `sector` (within one block).
fn own_runs<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    sector: u64,
    count: u32,
) -> Result<OwnRuns, Error<I::Error>> {
    let mut own = OwnRuns::default();
    let mut t = 0;
    while t < count {
        let (src, n) = disk.map_sectors(sector + u64::from(t), count - t)?;
        if let Source::Data(off) = src {
            if own.runs == 0 {
                (own.first, own.at) = (t, off);
            }
            own.runs += 1;
            own.sectors += n;
            own.span = t + n - own.first;
        } else {
            own.parent_runs += 1;
        }
        t += n;
    }
    Ok(own)
}

/// Reads a range of one block of a differencing disk: the parent's data for all of it,
/// then the disk's own runs (as [`mixed_block_range`] found them) over it, a read each,
/// or staged through the scratch in one read of their span (a block's data area is
/// contiguous in the file).
fn read_parent_then_overlay<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    parents: &mut [Disk<I, B>],
    sector: u64,
    buf: &mut [u8],
    plan: &Layered,
) -> Result<(), Error<I::Error>> {
    read_parent(parents, sector, buf)?;
    let own = &plan.own;
    if own.runs == 0 {
        return Ok(());
    }
    let (at, first, end) = (own.at, own.first, own.first + own.span);
    let bytes = own.span as usize * SECTOR_SIZE;
    let staged = match disk.scratch.as_mut() {
        Some(s) if plan.stage && s.as_ref().len() >= bytes => {
            disk.io
                .read_at(at, &mut s.as_mut()[..bytes])
                .map_err(Error::Io)?;
            true
        }
        _ => false,
    };
    let mut t = first;
    while t < end {
        let (src, n) = disk.map_sectors(sector + u64::from(t), end - t)?;
        if let Source::Data(off) = src {
            let lo = t as usize * SECTOR_SIZE;
            let part = &mut buf[lo..lo + n as usize * SECTOR_SIZE];
            match disk.scratch.as_ref() {
                Some(s) if staged => {
                    let from = (t - first) as usize * SECTOR_SIZE;
                    part.copy_from_slice(&s.as_ref()[from..from + part.len()]);
                }
                _ => disk.io.read_at(off, part).map_err(Error::Io)?,
            }
        }
        t += n;
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
