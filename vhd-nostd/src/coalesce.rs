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
/// counting whole.
pub fn coalesce_counted<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    child: &mut Disk<I, B>,
    parent: &mut Disk<I, B>,
    buf: &mut [u8],
    progress: &mut dyn FnMut(u32, u32),
) -> Result<u64, Error<I::Error>> {
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
    // A child may be larger than its parent (snapshot rounds sizes up to whole blocks);
    // that is fine as long as it holds no data beyond the parent's end, which
    // `beyond_parent_is_empty` makes sure of before anything is written.
    let chunk = buf.len() / SECTOR_SIZE;
    if chunk == 0 {
        return Err(Error::BufferTooSmall {
            needed: SECTOR_SIZE,
        });
    }
    let spb = u64::from(child.sectors_per_block());
    let total = child.bat.entries();
    beyond_parent_is_empty(child, parent.sectors(), spb)?;
    // Consecutive sectors the child holds gather in `buf` and go to the parent in one
    // write, so that the parent builds the blocks it lacks together.
    let mut pending = Pending {
        start: 0,
        len: 0,
        cap: chunk,
    };
    let mut copied = 0u64;
    for block in 0..total {
        progress(block, total);
        if child.bat.get(block).is_none() {
            continue;
        }
        let first = u64::from(block) * spb;
        let end = (first + spb).min(child.sectors());
        // A full block is one read of bitmap and data straight into place.
        if end - first == spb && chunk >= spb as usize {
            if !(pending.extends(first) && pending.cap - pending.len >= spb as usize) {
                pending.write_to(parent, buf)?;
                pending.start = first;
            }
            let lo = pending.len * SECTOR_SIZE;
            let whole = &mut buf[lo..lo + spb as usize * SECTOR_SIZE];
            if child.read_full_block(block, whole)? {
                pending.len += spb as usize;
                copied += spb;
                continue;
            }
        }
        let mut s = first;
        while s < end {
            if !pending.extends(s) {
                pending.write_to(parent, buf)?;
                pending.start = s;
            }
            let want = ((end - s) as usize).min(chunk - pending.len) as u32;
            let (src, n) = child.map_sectors(s, want)?;
            if let Source::Data(off) = src {
                let lo = pending.len * SECTOR_SIZE;
                let part = &mut buf[lo..lo + n as usize * SECTOR_SIZE];
                child.io.read_at(off, part).map_err(Error::Io)?;
                pending.len += n as usize;
                copied += u64::from(n);
            }
            s += u64::from(n);
        }
    }
    pending.write_to(parent, buf)?;
    progress(total, total);
    parent.flush()?;
    Ok(copied)
}

/// The run of sectors gathered in the copy buffer: `len` sectors from `start`.
struct Pending {
    start: u64,
    len: usize,
    cap: usize,
}

impl Pending {
    /// Whether sector `s` can be appended: it follows the run and the buffer has room.
    fn extends(&self, s: u64) -> bool {
        self.len < self.cap && self.start + self.len as u64 == s
    }

    /// Writes the run to `parent` and empties it.
    fn write_to<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        parent: &mut Disk<I, B>,
        buf: &[u8],
    ) -> Result<(), Error<I::Error>> {
        if self.len > 0 {
            parent.write(self.start, &buf[..self.len * SECTOR_SIZE])?;
        }
        self.len = 0;
        Ok(())
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
