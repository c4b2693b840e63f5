//! Where a sparse image keeps its parts, as the specification and blktap place them:
//! where a block and its sectors lie, where the metadata and the data end, and whether
//! a batmap follows the BAT.
//!
//! Arithmetic on field values only, so that the engine, the C library (whose clients
//! hold the fields in C structs) and the tools apply one rule. Which parts count (a
//! damaged locator, an invalid batmap) is the caller's judgement; how they add up is
//! decided here.

use crate::bat::{bat_bytes, UNUSED};
use crate::footer::version;
use crate::header::HEADER_SIZE;
use crate::SECTOR_SIZE;

/// Byte offset where a block starts in the file (its sector bitmap, then its data),
/// from its BAT entry; `None` for an unallocated entry ([`UNUSED`]).
pub const fn block_offset(entry: u32) -> Option<u64> {
    if entry == UNUSED {
        None
    } else {
        Some(entry as u64 * SECTOR_SIZE as u64)
    }
}

/// The file sector holding sector `sector_in_block` of the block whose BAT entry is
/// `entry`: past the block's `bitmap_sectors` of bitmap (libvhd's `vhd_offset`). An
/// unallocated entry stays [`UNUSED`]. Counted in 32 bits, as the BAT is.
pub const fn data_sector(entry: u32, bitmap_sectors: u32, sector_in_block: u32) -> u32 {
    if entry == UNUSED {
        UNUSED
    } else {
        entry
            .wrapping_add(bitmap_sectors)
            .wrapping_add(sector_in_block)
    }
}

/// Bytes a block takes in the file: its bitmap, then its data.
pub const fn block_span_bytes(bitmap_sectors: u32, sectors_per_block: u32) -> u64 {
    (bitmap_sectors as u64 + sectors_per_block as u64) * SECTOR_SIZE as u64
}

/// Byte offset of the batmap header sector: right after the BAT.
pub const fn batmap_header_offset(table_offset: u64, max_bat_size: u32) -> u64 {
    table_offset.saturating_add(bat_bytes(max_bat_size))
}

/// Whether the byte ranges `[a, a + alen)` and `[b, b + blen)` overlap.
pub const fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

/// The metadata of a sparse image that [`end_of_headers`] adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Byte offset of the dynamic disk header (the footer's `data_offset`).
    pub header_offset: u64,
    /// Byte offset of the BAT (the header's `table_offset`).
    pub table_offset: u64,
    /// BAT entries (the header's `max_bat_size`).
    pub max_bat_size: u32,
    /// The batmap's map as `(byte offset, bytes)`, if the image has one: its header
    /// sector right after the BAT counts with it.
    pub batmap_map: Option<(u64, u64)>,
}

/// End of the metadata in bytes (libvhd's `vhd_end_of_headers`): the furthest end of
/// the header, the BAT, the batmap (header sector and map) and the parent locators'
/// payloads, given as `(byte offset, reserved bytes)`.
pub fn end_of_headers(m: &Metadata, locators: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    let mut end = m
        .header_offset
        .saturating_add(HEADER_SIZE as u64)
        .max(m.table_offset.saturating_add(bat_bytes(m.max_bat_size)));
    if let Some((offset, bytes)) = m.batmap_map {
        let header = batmap_header_offset(m.table_offset, m.max_bat_size);
        end = end
            .max(header.saturating_add(SECTOR_SIZE as u64))
            .max(offset.saturating_add(bytes));
    }
    for (offset, bytes) in locators {
        end = end.max(offset.saturating_add(bytes));
    }
    end
}

/// End of the data in bytes (libvhd's `vhd_end_of_data`): the end of the metadata or
/// of the furthest allocated block, whichever is further. `entries` are raw BAT
/// entries ([`UNUSED`] ones are skipped); `span` is [`block_span_bytes`].
pub fn end_of_data(end_of_headers: u64, span: u64, entries: impl IntoIterator<Item = u32>) -> u64 {
    let mut end = end_of_headers;
    for e in entries {
        if let Some(start) = block_offset(e) {
            end = end.max(start.saturating_add(span));
        }
    }
    end
}

/// Whether an image has a batmap, from its footer (libvhd's `vhd_has_batmap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatmapPresence {
    /// None: not a sparse image, not made by blktap, or by tap 0.1 or earlier.
    Absent,
    /// Always: tap 1.2 and later write one with every sparse image.
    Required,
    /// If a valid batmap header follows the BAT: releases between tap 0.1 and 1.2
    /// (1.1 images converted from 0.1 lack it).
    IfValid,
}

/// Whether a batmap follows the BAT, from the footer's creator application and
/// version and whether the disk is sparse (dynamic or differencing).
pub const fn batmap_presence(crtr_app: [u8; 4], crtr_ver: u32, sparse: bool) -> BatmapPresence {
    if !sparse || !is_tap_creator(crtr_app) || crtr_ver <= version(0, 1) {
        BatmapPresence::Absent
    } else if crtr_ver >= version(1, 2) {
        BatmapPresence::Required
    } else {
        BatmapPresence::IfValid
    }
}

/// Whether the creator application is blktap (`tap`, whatever the fourth byte).
pub const fn is_tap_creator(crtr_app: [u8; 4]) -> bool {
    crtr_app[0] == b't' && crtr_app[1] == b'a' && crtr_app[2] == b'p'
}

/// Whether the hidden flag is read from the footer copy at offset 0 rather than the
/// footer in force (libvhd's `vhd_hidden`): sparse images by tap 0.1 and 1.1 set it
/// only there, leaving their end footer's flag stale.
pub const fn hidden_in_copy(crtr_app: [u8; 4], crtr_ver: u32, sparse: bool) -> bool {
    sparse && is_tap_legacy(crtr_app, crtr_ver)
}

/// tap 0.1 or 1.1: the releases with quirks (hidden flag set without a new footer
/// checksum, the flag kept in the copy only; LSB-first bitmaps for 0.1).
pub const fn is_tap_legacy(crtr_app: [u8; 4], crtr_ver: u32) -> bool {
    is_tap_creator(crtr_app) && (crtr_ver == version(0, 1) || crtr_ver == version(1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_sectors() {
        assert_eq!(block_offset(UNUSED), None);
        assert_eq!(block_offset(3), Some(1536));
        assert_eq!(data_sector(UNUSED, 1, 5), UNUSED);
        assert_eq!(data_sector(3, 1, 5), 9);
        assert_eq!(block_span_bytes(1, 4096), 4097 * 512);
        assert_eq!(batmap_header_offset(1536, 200), 1536 + 1024);
    }

    #[test]
    fn end_of_headers_covers_every_part() {
        let mut m = Metadata {
            header_offset: 512,
            table_offset: 1536,
            max_bat_size: 200,
            batmap_map: None,
        };
        assert_eq!(end_of_headers(&m, []), 2560);
        m.batmap_map = Some((3072, 512));
        assert_eq!(end_of_headers(&m, []), 3584);
        assert_eq!(end_of_headers(&m, [(3584, 1024), (0, 0)]), 4608);
        m.header_offset = 1 << 20;
        assert_eq!(end_of_headers(&m, []), (1 << 20) + 1024);
    }

    #[test]
    fn end_of_data_skips_unused() {
        assert_eq!(end_of_data(4096, 1024, [UNUSED, 2, UNUSED]), 4096);
        assert_eq!(end_of_data(4096, 1024, [UNUSED, 16]), 16 * 512 + 1024);
    }

    #[test]
    fn batmap_presence_follows_libvhd() {
        let tap = *b"tap\0";
        assert_eq!(
            batmap_presence(tap, version(0, 1), true),
            BatmapPresence::Absent
        );
        assert_eq!(
            batmap_presence(tap, version(1, 1), true),
            BatmapPresence::IfValid
        );
        assert_eq!(
            batmap_presence(tap, version(1, 2), true),
            BatmapPresence::Required
        );
        assert_eq!(
            batmap_presence(tap, version(1, 3), false),
            BatmapPresence::Absent
        );
        assert_eq!(
            batmap_presence(*b"vpc ", version(1, 3), true),
            BatmapPresence::Absent
        );
    }

    #[test]
    fn hidden_flag_source() {
        assert!(hidden_in_copy(*b"tap\0", version(1, 1), true));
        assert!(!hidden_in_copy(*b"tap\0", version(1, 1), false));
        assert!(!hidden_in_copy(*b"tap\0", version(1, 2), true));
    }
}
