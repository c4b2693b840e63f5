//! Aliased blocks: BAT entries whose blocks overlap each other or the metadata. Reads
//! through them return whatever the shared sectors hold, but a write through one would
//! change another block's data (or the metadata), so writes to such blocks are refused.
//!
//! [`Disk::scan_overlaps`] finds them once, with a caller-supplied buffer, by sorting
//! the allocated entries by offset (heap sort, as `check` does: no allocation, no
//! recursion) and comparing neighbours. A clean image then writes as before; only on an
//! image where the scan found overlaps does each write into an allocated block compare
//! that block with every other entry and the metadata, a cost damaged images alone pay.

use core::ops::RangeInclusive;

use crate::disk::Disk;
use crate::error::{Error, FormatError};
use crate::footer::DiskType;
use crate::io::Io;
use crate::layout::overlaps;
use crate::locator::LOCATOR_COUNT;
use crate::SECTOR_SIZE;

/// Bytes of work space [`Disk::scan_overlaps`] needs for `entries` BAT entries: an
/// 8-byte record per entry.
pub const fn work_size(entries: u32) -> usize {
    entries as usize * 8
}

/// What is known about overlapping blocks of an open disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlaps {
    /// Not scanned: writes trust the BAT (a caller that writes should scan first).
    Unchecked,
    /// Scanned; no block overlaps another or the metadata.
    None,
    /// Scanned; this many blocks overlap another block or the metadata. Writes to them
    /// are refused with [`FormatError::Overlapping`].
    Found(u32),
}

/// Metadata regions a block must not overlap beyond the span `[0, end_of_headers)`
/// that open already keeps blocks out of: the batmap header sector and map, and the
/// parent locator payloads (those reaching into the blocks are left out of the end of
/// headers; a write over one would change where the parent is found).
const EXTRA_REGIONS: usize = 2 + LOCATOR_COUNT;

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// What the last [`Disk::scan_overlaps`] found.
    pub fn overlap_scan(&self) -> Overlaps {
        self.overlap_scan
    }

    /// Finds the blocks that overlap another block or the metadata, using `work` of at
    /// least [`work_size`]`(entries)` bytes, and from then on refuses writes to them.
    /// Returns how many blocks overlap (0 for a sound image and for fixed disks).
    pub fn scan_overlaps(&mut self, work: &mut [u8]) -> Result<u32, Error<I::Error>> {
        let span_secs = self.block_span_bytes() / SECTOR_SIZE as u64;
        let needed = work_size(self.bat.entries());
        let work = work
            .get_mut(..needed)
            .ok_or(Error::BufferTooSmall { needed })?;
        let mut n = 0usize;
        for (b, s) in self.bat.allocated() {
            work[n * 8..n * 8 + 4].copy_from_slice(&s.to_be_bytes());
            work[n * 8 + 4..n * 8 + 8].copy_from_slice(&b.to_be_bytes());
            n += 1;
        }
        let recs = &mut work[..n * 8];
        crate::check::heap_sort(recs);
        let start = |i: usize| {
            u64::from(u32::from_be_bytes([
                recs[i * 8],
                recs[i * 8 + 1],
                recs[i * 8 + 2],
                recs[i * 8 + 3],
            ]))
        };
        let mut found = 0u32;
        for i in 0..n {
            // Equal spans: a block overlaps some other block exactly when it overlaps
            // a neighbour in offset order.
            let s = start(i);
            let with_prev = i > 0 && start(i - 1) + span_secs > s;
            let with_next = i + 1 < n && s + span_secs > start(i + 1);
            if with_prev || with_next || self.hits_metadata(s * SECTOR_SIZE as u64) {
                found += 1;
            }
        }
        self.overlap_scan = if found == 0 {
            Overlaps::None
        } else {
            Overlaps::Found(found)
        };
        Ok(found)
    }

    /// Refuses a write into `blocks` when the scan found overlaps and one of them is
    /// allocated and overlaps another block or the metadata.
    pub(crate) fn refuse_overlapping(
        &self,
        blocks: RangeInclusive<u32>,
    ) -> Result<(), Error<I::Error>> {
        if !matches!(self.overlap_scan, Overlaps::Found(_)) {
            return Ok(());
        }
        let span = self.block_span_bytes();
        for block in blocks {
            let Some(s) = self.bat.get(block) else {
                continue;
            };
            let start = u64::from(s) * SECTOR_SIZE as u64;
            let shared = self.bat.allocated().any(|(b, o)| {
                b != block && overlaps(start, span, u64::from(o) * SECTOR_SIZE as u64, span)
            });
            if shared || self.hits_metadata(start) {
                return Err(FormatError::Overlapping { block }.into());
            }
        }
        Ok(())
    }

    /// Whether a block starting at byte `start` overlaps the metadata or the footer.
    /// Not inlined: its table of regions stays off the stack of every write.
    #[inline(never)]
    fn hits_metadata(&self, start: u64) -> bool {
        let span = self.block_span_bytes();
        start < self.end_of_headers
            || start.saturating_add(span) > self.footer_pos
            || self
                .extra_regions()
                .iter()
                .flatten()
                .any(|&(off, len)| overlaps(start, span, off, len))
    }

    fn extra_regions(&self) -> [Option<(u64, u64)>; EXTRA_REGIONS] {
        let mut r = [None; EXTRA_REGIONS];
        // Only a batmap that parsed is metadata: a tap 1.1 image may have none, and its
        // first block may then start where the batmap header would be.
        if let Some(h) = &self.batmap_hdr {
            r[0] = Some((self.batmap_header_offset(), SECTOR_SIZE as u64));
            r[1] = Some((h.batmap_offset, h.map_bytes()));
        }
        if let (Some(h), Some(DiskType::Differencing)) = (&self.header, self.disk_type()) {
            for (slot, l) in r[2..].iter_mut().zip(h.loc.iter()) {
                // The payload, not the space reserved for it: a locator claiming a
                // huge space still reads only `data_len` bytes.
                if l.is_used() {
                    let len = u64::from(l.data_len).div_ceil(SECTOR_SIZE as u64);
                    *slot = Some((l.data_offset, len * SECTOR_SIZE as u64));
                }
            }
        }
        r
    }
}
