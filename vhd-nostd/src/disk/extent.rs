//! Where an open image's metadata and blocks end, and where a block lies, by the
//! rules of [`crate::layout`] applied to what open trusted.

use crate::error::{Error, Structure};
use crate::footer::DiskType;
use crate::io::Io;
use crate::layout::{self, Metadata};

use super::{invalid, Disk};

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Byte offset of the first allocated block (`u64::MAX` if none).
    pub(super) fn first_block_start(&self) -> u64 {
        self.bat
            .allocated()
            .filter_map(|(_, s)| layout::block_offset(s))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// End of the metadata open found: header, BAT, a batmap it read, and the parent
    /// locator payloads of a differencing disk that lie inside the file and before the
    /// first data block (one reaching into the blocks is damaged, not metadata).
    pub(super) fn compute_end_of_headers(&self, file_size: u64) -> u64 {
        let Some(h) = &self.header else { return 0 };
        let tables = Metadata {
            header_offset: self.footer.data_offset,
            table_offset: h.table_offset,
            max_bat_size: h.max_bat_size,
            batmap_map: self
                .batmap_hdr
                .as_ref()
                .map(|b| (b.batmap_offset, b.map_bytes())),
        };
        let differencing = self.disk_type() == Some(DiskType::Differencing);
        let first = self.first_block_start();
        let locators = h
            .loc
            .iter()
            .filter(|l| differencing && l.is_used())
            .map(|l| (l.data_offset, l.space_bytes()))
            .filter(|&(off, len)| {
                off.checked_add(len)
                    .is_some_and(|end| end <= file_size && end <= first)
            });
        layout::end_of_headers(&tables, locators)
    }

    /// End of data from the metadata and the BAT, in bytes (libvhd's `vhd_end_of_data`).
    pub(crate) fn compute_end_of_data(&self) -> u64 {
        let entries = self.bat.allocated().map(|(_, s)| s);
        layout::end_of_data(self.end_of_headers, self.block_span_bytes(), entries)
    }

    /// Bytes of a block on disk: bitmap plus data.
    pub(crate) fn block_span_bytes(&self) -> u64 {
        match &self.header {
            Some(h) => layout::block_span_bytes(h.bitmap_sectors(), h.sectors_per_block()),
            None => 0,
        }
    }

    /// Byte offset of the batmap header sector: right after the BAT.
    pub fn batmap_header_offset(&self) -> u64 {
        match &self.header {
            Some(h) => layout::batmap_header_offset(h.table_offset, h.max_bat_size),
            None => 0,
        }
    }

    /// Where an allocated block starts (its bitmap), checked to lie with its data
    /// between the metadata and the primary footer.
    pub(crate) fn block_extent(&self, block: u32) -> Result<Option<u64>, Error<I::Error>> {
        let Some(start) = self.bat.get(block).and_then(layout::block_offset) else {
            return Ok(None);
        };
        if start < self.end_of_headers || start + self.block_span_bytes() > self.footer_pos {
            return Err(invalid(Structure::Bat, "entry"));
        }
        Ok(Some(start))
    }
}
