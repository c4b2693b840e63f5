//! Where an open image's metadata and blocks end, and where a block lies.

use crate::bat;
use crate::error::{Error, Structure};
use crate::footer::DiskType;
use crate::io::Io;
use crate::SECTOR_SIZE;

use super::{invalid, Disk};

/// Whether `[a, a+alen)` and `[b, b+blen)` overlap.
pub(crate) const fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Byte offset of the first allocated block (`u64::MAX` if none).
    pub(super) fn first_block_start(&self) -> u64 {
        self.bat
            .allocated()
            .map(|(_, s)| u64::from(s) * SECTOR_SIZE as u64)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// End of the parent locator payloads that lie inside the file and before the
    /// first data block (one reaching into the blocks is damaged, not metadata).
    pub(super) fn locators_end(&self, file_size: u64) -> u64 {
        let Some(h) = &self.header else { return 0 };
        if self.disk_type() != Some(DiskType::Differencing) {
            return 0;
        }
        let first = self.first_block_start();
        h.loc
            .iter()
            .filter(|l| l.is_used())
            .filter_map(|l| {
                let end = l.data_offset.checked_add(l.space_bytes())?;
                (end <= file_size && end <= first).then_some(end)
            })
            .max()
            .unwrap_or(0)
    }

    /// End of data from the metadata and the BAT, in bytes (libvhd's `vhd_end_of_data`).
    pub(crate) fn compute_end_of_data(&self) -> u64 {
        let block_bytes = self.block_span_bytes();
        let mut end = self.end_of_headers;
        for (_, s) in self.bat.allocated() {
            end = end.max(u64::from(s) * SECTOR_SIZE as u64 + block_bytes);
        }
        end
    }

    /// Bytes of a block on disk: bitmap plus data.
    pub(crate) fn block_span_bytes(&self) -> u64 {
        match &self.header {
            Some(h) => {
                (u64::from(h.bitmap_sectors()) + u64::from(h.sectors_per_block()))
                    * SECTOR_SIZE as u64
            }
            None => 0,
        }
    }

    /// Byte offset of the batmap header sector: right after the BAT.
    pub fn batmap_header_offset(&self) -> u64 {
        match &self.header {
            Some(h) => h.table_offset + bat::bat_bytes(h.max_bat_size),
            None => 0,
        }
    }

    /// The byte range `[start, end)` of an allocated block (bitmap then data), checked to
    /// lie between the metadata and the primary footer.
    pub(crate) fn block_extent(&self, block: u32) -> Result<Option<u64>, Error<I::Error>> {
        let Some(s) = self.bat.get(block) else {
            return Ok(None);
        };
        let start = u64::from(s) * SECTOR_SIZE as u64;
        if start < self.end_of_headers || start + self.block_span_bytes() > self.footer_pos {
            return Err(invalid(Structure::Bat, "entry"));
        }
        Ok(Some(start))
    }
}
