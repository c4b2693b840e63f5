//! Reading sectors: a fixed disk maps straight to the file; a sparse disk through the
//! BAT and the sector bitmap; a differencing disk falls through to the next disk of the
//! chain for sectors it does not hold. The bitmap is authoritative, as on libvhd's read
//! path: a batmap bit that disagrees with it (hostile or damaged) never makes stale
//! bytes readable; the bitmap cache keeps full blocks cheap without the batmap.

use crate::bitmap::Bitmap;
use crate::disk::{Disk, Kind};
use crate::error::Error;
use crate::footer::DiskType;
use crate::io::{BatchRead, Io};
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
    let count = (buf.len() / SECTOR_SIZE) as u64;
    let mut done = 0u64;
    while done < count {
        let want = u32::try_from(count - done).unwrap_or(u32::MAX);
        let s = sector + done;
        let lo = done as usize * SECTOR_SIZE;
        let Some((disk, parents)) = chain.split_first_mut() else {
            return Err(Error::MissingParent);
        };
        if let Some(plan) = mixed_block_range(disk, s, want)? {
            let part = &mut buf[lo..lo + plan.count as usize * SECTOR_SIZE];
            if !(plan.batchable() && read_levels_together(chain, s, part, plan.own)?) {
                let Some((disk, parents)) = chain.split_first_mut() else {
                    return Err(Error::MissingParent);
                };
                read_parent_then_overlay(disk, parents, s, part, &plan)?;
            }
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

/// Most reads one [`Io::read_batch`] call takes: a chain read with more levels issues
/// several batches. Kept small, since the batch lives on the stack of every read that
/// goes through a chain (a bare-metal caller's budget is about 1 KiB).
const BATCH: usize = 8;

/// Where a chain read that stages every level ends: the bottom level, and its data's
/// byte offset or `None` where it reads as zeros.
type Bottom = (usize, Option<u64>);

/// Reads a block range that `chain[0]` stages (its runs `top`) in batches when every
/// level below it does the same or has the range whole: each staged level's span into
/// its scratch and the bottom's range (data, or zeros) into `buf`, with as few
/// [`Io::read_batch`] calls as [`BATCH`] allows, since none of these reads waits on
/// another; then each level's runs are copied over, the deepest first, so the nearest
/// level's data wins as it does level by level. Returns `false`, having read nothing,
/// for any other shape (a level whose runs are better read one by one, a block boundary
/// or a parent's end inside the range); the caller then reads level by level.
// Not inlined: its batch would otherwise sit in the frame of every chain read, batched
// or not, and the reads recurse down the chain.
#[inline(never)]
fn read_levels_together<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    chain: &mut [Disk<I, B>],
    sector: u64,
    buf: &mut [u8],
    top: OwnRuns,
) -> Result<bool, Error<I::Error>> {
    let count = (buf.len() / SECTOR_SIZE) as u32;
    let Some(bottom) = stacked_bottom(chain, sector, count)? else {
        return Ok(false);
    };
    let (last, at) = bottom;
    if at.is_none() {
        buf.fill(0);
    }
    let mut reads = heapless::Vec::<BatchRead<'_, I>, BATCH>::new();
    let mut into = Some(&mut *buf);
    for (i, disk) in chain[..=last].iter_mut().enumerate() {
        let (offset, buf) = match (i == last, at) {
            (true, None) => break,
            (true, Some(at)) => match into.take() {
                Some(b) => (at, b),
                None => break,
            },
            (false, _) => {
                let own = if i == 0 {
                    Some(top)
                } else {
                    staged_runs(disk, sector, count)?
                };
                let Some(own) = own else { continue };
                let bytes = own.span as usize * SECTOR_SIZE;
                let span = disk
                    .scratch
                    .as_mut()
                    .and_then(|s| s.as_mut().get_mut(..bytes))
                    .ok_or(Error::BufferTooSmall { needed: bytes })?;
                (own.at, span)
            }
        };
        if reads.is_full() {
            I::read_batch(&mut reads).map_err(Error::Io)?;
            reads.clear();
        }
        // Room made just above.
        let _ = reads.push(BatchRead {
            io: &mut disk.io,
            offset,
            buf,
        });
    }
    I::read_batch(&mut reads).map_err(Error::Io)?;
    drop(reads);
    for level in (0..last).rev() {
        let disk = &mut chain[level];
        let own = if level == 0 {
            Some(top)
        } else {
            staged_runs(disk, sector, count)?
        };
        if let Some(own) = own {
            copy_staged(disk, sector, buf, &own)?;
        }
    }
    Ok(true)
}

/// The runs a level below the top stages over `count` sectors from `sector`, if it
/// stages them; `None` for a level that holds none of them.
fn staged_runs<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    sector: u64,
    count: u32,
) -> Result<Option<OwnRuns>, Error<I::Error>> {
    Ok(mixed_block_range(disk, sector, count)?
        .filter(|plan| plan.batchable() && plan.count == count)
        .map(|plan| plan.own))
}

/// Whether every level below the top either stages its runs over the range or holds
/// none of them, down to one that has the whole range (or reads it as zeros); and if
/// so, that bottom ([`Bottom`]).
fn stacked_bottom<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    chain: &mut [Disk<I, B>],
    sector: u64,
    count: u32,
) -> Result<Option<Bottom>, Error<I::Error>> {
    for (level, disk) in chain.iter_mut().enumerate().skip(1) {
        if disk.sectors < sector + u64::from(count) {
            return Ok(None);
        }
        if let Some(plan) = mixed_block_range(disk, sector, count)? {
            if !plan.batchable() || plan.count != count {
                return Ok(None);
            }
            continue;
        }
        match disk.map_sectors(sector, count)? {
            (_, n) if n != count => return Ok(None),
            (Source::Parent, _) => {}
            (Source::Zero, _) => return Ok(Some((level, None))),
            (Source::Data(at), _) => return Ok(Some((level, Some(at)))),
        }
    }
    Ok(None)
}

/// The runs of a differencing disk's own sectors in part of a block: how many, how many
/// sectors they hold, and their span: from the first (`first` sectors into the part,
/// at byte `at` of the file) to the end of the last; and how many runs lie between and
/// around them that the parent supplies.
#[derive(Default, Clone, Copy)]
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
        fits,
    }))
}

/// A block range read as the parent's with the disk's runs over it: `count` sectors,
/// the disk's runs among them, whether those are staged in one read, and whether their
/// span fits the scratch.
struct Layered {
    count: u32,
    own: OwnRuns,
    stage: bool,
    fits: bool,
}

impl Layered {
    /// Whether its runs can go in a batch ([`read_levels_together`]), which reads every
    /// level's span into its scratch: where staging pays, or where there is one run,
    /// whose span is the run itself.
    fn batchable(&self) -> bool {
        self.stage || (self.fits && self.own.runs == 1)
    }
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
    let bytes = own.span as usize * SECTOR_SIZE;
    match disk.scratch.as_mut() {
        Some(s) if plan.stage && s.as_ref().len() >= bytes => {
            disk.io
                .read_at(own.at, &mut s.as_mut()[..bytes])
                .map_err(Error::Io)?;
            copy_staged(disk, sector, buf, own)
        }
        _ => {
            let (first, end) = (own.first, own.first + own.span);
            let mut t = first;
            while t < end {
                let (src, n) = disk.map_sectors(sector + u64::from(t), end - t)?;
                if let Source::Data(off) = src {
                    let lo = t as usize * SECTOR_SIZE;
                    let part = &mut buf[lo..lo + n as usize * SECTOR_SIZE];
                    disk.io.read_at(off, part).map_err(Error::Io)?;
                }
                t += n;
            }
            Ok(())
        }
    }
}

/// Copies a disk's own runs from its scratch, which holds their span as one read of it
/// put there, over the range from `sector` in `buf`.
fn copy_staged<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    sector: u64,
    buf: &mut [u8],
    own: &OwnRuns,
) -> Result<(), Error<I::Error>> {
    let (first, end) = (own.first, own.first + own.span);
    let mut t = first;
    while t < end {
        let (src, n) = disk.map_sectors(sector + u64::from(t), end - t)?;
        if let Source::Data(_) = src {
            let lo = t as usize * SECTOR_SIZE;
            let from = (t - first) as usize * SECTOR_SIZE;
            let len = n as usize * SECTOR_SIZE;
            let staged = disk
                .scratch
                .as_ref()
                .and_then(|s| s.as_ref().get(from..from + len))
                .ok_or(Error::BufferTooSmall { needed: from + len })?;
            buf[lo..lo + len].copy_from_slice(staged);
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
