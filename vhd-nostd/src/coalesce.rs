//! Coalesce: copy every sector a differencing disk holds into its parent, so the parent
//! alone reads as the child did. The child is not changed; an interrupted coalesce can
//! be run again.

use crate::disk::Disk;
use crate::error::Error;
use crate::footer::DiskType;
use crate::io::Io;
use crate::read::Source;
use crate::SECTOR_SIZE;

/// Copies the sectors `child` holds into `parent` (its immediate parent, opened
/// writable), staging data in `buf` (at least one sector; several blocks' worth is
/// fastest: runs that span blocks reach the parent in one write).
pub fn coalesce<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    child: &mut Disk<I, B>,
    parent: &mut Disk<I, B>,
    buf: &mut [u8],
) -> Result<(), Error<I::Error>> {
    coalesce_with_progress(child, parent, buf, &mut |_, _| {})
}

/// [`coalesce`], calling `progress(blocks_done, blocks_total)` after each child block.
pub fn coalesce_with_progress<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    child: &mut Disk<I, B>,
    parent: &mut Disk<I, B>,
    buf: &mut [u8],
    progress: &mut dyn FnMut(u32, u32),
) -> Result<(), Error<I::Error>> {
    coalesce_counted(child, parent, buf, progress).map(|_| ())
}

/// [`coalesce_with_progress`], returning how many sectors went to the parent (blktap3's
/// `Coalesced N sectors`): every sector the child holds, a full block (batmap bit set)
/// counting whole. Each run [`ChildRuns`] reads is written before the next is read.
pub fn coalesce_counted<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    child: &mut Disk<I, B>,
    parent: &mut Disk<I, B>,
    buf: &mut [u8],
    progress: &mut dyn FnMut(u32, u32),
) -> Result<u64, Error<I::Error>> {
    let mut runs = ChildRuns::start(child, parent)?;
    let block = parent.sectors_per_block() as usize * SECTOR_SIZE;
    loop {
        // A block the parent holds takes its data (and its bitmap, if it gains sectors)
        // with nothing to batch across blocks, so it is read and written a block at a
        // time, reads and writes alternating as a copy's do: 64 MiB read, then 64 MiB
        // written, measured about 15% slower on the disks here. Blocks the parent lacks
        // are read together, so that their allocation is batched.
        runs.skip_unallocated(child);
        let room = if parent.holds_sector(runs.next) {
            buf.len().min(block)
        } else {
            buf.len()
        };
        let Some((sector, count)) = runs.read_next(child, &mut buf[..room], progress)? else {
            break;
        };
        parent.write(sector, &buf[..count * SECTOR_SIZE])?;
    }
    progress(runs.blocks, runs.blocks);
    parent.flush()?;
    Ok(runs.copied)
}

/// The child's side of a coalesce: the runs of sectors it holds, in order, each read
/// into the caller's buffer to be written at the same sector of the parent;
/// [`coalesce_counted`] writes each before reading the next. A caller that can overlap
/// the two (another thread, asynchronous I/O) may drive it itself; on the disks measured
/// here that gained nothing (BENCHMARKS.md, the coalesce table).
#[derive(Debug, Clone)]
pub struct ChildRuns {
    /// The first sector not looked at yet.
    next: u64,
    /// The child's BAT entries.
    blocks: u32,
    /// The next block to report to `progress`.
    reported: u32,
    /// Sectors read so far.
    copied: u64,
}

impl ChildRuns {
    /// Checks that `child` can be merged into `parent` (its immediate parent, opened
    /// writable; neither with saved state; the parent's UUID the one the child names; no
    /// data of the child past the parent's end) and starts at the child's first sector.
    pub fn start<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
        child: &mut Disk<I, B>,
        parent: &Disk<I, B>,
    ) -> Result<ChildRuns, Error<I::Error>> {
        if child.disk_type() != Some(DiskType::Differencing) {
            return Err(Error::WrongDiskType);
        }
        parent.require_writable()?;
        // A saved state belongs to the disk contents as they are: merging would invalidate it.
        if child.footer().saved != 0 || parent.footer().saved != 0 {
            return Err(Error::SavedState);
        }
        let raw = child.parent_is_raw();
        let h = child.header.as_ref().ok_or(Error::WrongDiskType)?;
        if !raw && h.prt_uuid != parent.footer().uuid {
            return Err(Error::ParentMismatch);
        }
        // A child may be larger than its parent (snapshot rounds sizes up to whole
        // blocks); that is fine as long as it holds no data beyond the parent's end,
        // checked before anything is written: finding it halfway would leave the parent
        // partly merged.
        let spb = u64::from(child.sectors_per_block());
        beyond_parent_is_empty(child, parent.sectors(), spb)?;
        Ok(ChildRuns {
            next: 0,
            blocks: child.bat.entries(),
            reported: 0,
            copied: 0,
        })
    }

    /// Reads into `buf` (at least a sector; several blocks' worth lets a run span
    /// blocks, so the parent builds the blocks it lacks together) the next run of
    /// consecutive sectors the child holds, as much of it as fits, and returns its
    /// first sector and length in sectors; `None` once every run is read. A full block
    /// is one read of its bitmap and data. `progress(block, blocks)` is called as each
    /// block is reached.
    pub fn read_next<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        child: &mut Disk<I, B>,
        buf: &mut [u8],
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<Option<(u64, usize)>, Error<I::Error>> {
        let room = buf.len() / SECTOR_SIZE;
        if room == 0 {
            return Err(Error::BufferTooSmall {
                needed: SECTOR_SIZE,
            });
        }
        let spb = u64::from(child.sectors_per_block());
        let end = child.sectors();
        let (mut first, mut len) = (None, 0usize);
        while self.next < end && len < room {
            let block = (self.next / spb) as u32;
            let block_start = u64::from(block) * spb;
            if block >= self.reported {
                progress(block, self.blocks);
                self.reported = block + 1;
            }
            let block_end = (block_start + spb).min(end);
            if child.bat.get(block).is_none() {
                if len > 0 {
                    break;
                }
                self.next = block_end;
                continue;
            }
            let lo = len * SECTOR_SIZE;
            if self.next == block_start
                && block_end - block_start == spb
                && room - len >= spb as usize
            {
                let whole = &mut buf[lo..lo + spb as usize * SECTOR_SIZE];
                if child.read_full_block(block, whole)? {
                    first.get_or_insert(block_start);
                    len += spb as usize;
                    self.copied += spb;
                    self.next = block_end;
                    continue;
                }
            }
            let want = ((block_end - self.next) as usize).min(room - len) as u32;
            let (src, n) = child.map_sectors(self.next, want)?;
            match src {
                Source::Data(off) => {
                    let part = &mut buf[lo..lo + n as usize * SECTOR_SIZE];
                    child.io.read_at(off, part).map_err(Error::Io)?;
                    first.get_or_insert(self.next);
                    len += n as usize;
                    self.copied += u64::from(n);
                }
                _ if len > 0 => break,
                _ => {}
            }
            self.next += u64::from(n);
        }
        Ok(first.map(|s| (s, len)))
    }

    /// Moves past the blocks the child does not hold, to where the next run starts.
    fn skip_unallocated<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(&mut self, child: &Disk<I, B>) {
        let spb = u64::from(child.sectors_per_block());
        while self.next < child.sectors() && spb > 0 {
            // A block number past u32 has no BAT entry to skip by: read_next handles it.
            let Ok(block) = u32::try_from(self.next / spb) else {
                break;
            };
            if child.bat.get(block).is_some() {
                break;
            }
            self.next = (u64::from(block) + 1) * spb;
        }
    }

    /// The child's BAT entries (what `progress` counts to).
    pub fn blocks(&self) -> u32 {
        self.blocks
    }

    /// Sectors read so far: once every run is read, what the parent gained.
    pub fn copied(&self) -> u64 {
        self.copied
    }
}

/// Fails with `ParentMismatch` if the child holds data at or past sector `end` (the
/// parent's size). Checked before anything is copied: finding it halfway would leave
/// the parent partly merged, which its other children would read.
fn beyond_parent_is_empty<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    child: &mut Disk<I, B>,
    end: u64,
    spb: u64,
) -> Result<(), Error<I::Error>> {
    let first = u32::try_from(end / spb).unwrap_or(u32::MAX);
    for block in first..child.bat.entries() {
        if child.bat.get(block).is_none() {
            continue;
        }
        let start = u64::from(block) * spb;
        let stop = (start + spb).min(child.sectors());
        let mut s = start.max(end);
        while s < stop {
            let want = u32::try_from(stop - s).unwrap_or(u32::MAX);
            let (src, n) = child.map_sectors(s, want)?;
            if matches!(src, Source::Data(_)) {
                return Err(Error::ParentMismatch);
            }
            s += u64::from(n);
        }
    }
    Ok(())
}
