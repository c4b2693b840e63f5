//! The block allocation table: one big-endian u32 per block holding the sector of the
//! block's bitmap, or [`UNUSED`]. Kept in on-disk byte order in a caller buffer so a
//! changed entry is written back as the 512-byte sector that holds it.

use crate::endian::{be32, put32};
use crate::SECTOR_SIZE;

/// An unallocated entry (`DD_BLK_UNUSED`).
pub const UNUSED: u32 = 0xFFFF_FFFF;
/// Entries per 512-byte BAT sector.
pub const ENTRIES_PER_SECTOR: u32 = (SECTOR_SIZE / 4) as u32;

/// Bytes of a BAT of `entries` entries, padded to whole sectors (at least one).
pub const fn bat_bytes(entries: u32) -> u64 {
    bat_sectors(entries) * SECTOR_SIZE as u64
}

/// Sectors of a BAT of `entries` entries (`secs_round_up_no_zero(entries * 4)`).
pub const fn bat_sectors(entries: u32) -> u64 {
    crate::secs_round_up_no_zero(entries as u64 * 4)
}

/// A view of the BAT over its on-disk bytes.
#[derive(Debug)]
pub struct Bat<B> {
    bytes: B,
    entries: u32,
}

impl<B: AsRef<[u8]>> Bat<B> {
    /// Wraps `bytes` holding at least `entries` entries; `None` if it is too short.
    pub fn new(bytes: B, entries: u32) -> Option<Self> {
        if (bytes.as_ref().len() as u64) < u64::from(entries) * 4 {
            return None;
        }
        Some(Bat { bytes, entries })
    }

    /// Number of entries.
    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// The raw entry for `block` ([`UNUSED`] if unallocated); `None` beyond the table.
    pub fn raw(&self, block: u32) -> Option<u32> {
        (block < self.entries).then(|| be32(self.bytes.as_ref(), block as usize * 4))
    }

    /// The bitmap sector of an allocated `block`; `None` if unallocated or beyond the table.
    pub fn get(&self, block: u32) -> Option<u32> {
        self.raw(block).filter(|&v| v != UNUSED)
    }

    /// The 512 bytes holding `block`'s entry and their index within the table, for
    /// writing one entry back. Callers keep the buffer a whole number of sectors long.
    pub fn sector_of(&self, block: u32) -> (u32, &[u8]) {
        self.sectors_of(block, block)
    }

    /// The whole sectors holding the entries of blocks `first..=last` and the index of
    /// the first, for writing a run of entries back at once.
    pub fn sectors_of(&self, first: u32, last: u32) -> (u32, &[u8]) {
        let s = first / ENTRIES_PER_SECTOR;
        let e = last.max(first) / ENTRIES_PER_SECTOR + 1;
        let b = self.bytes.as_ref();
        let start = (s as usize * SECTOR_SIZE).min(b.len());
        let end = (e as usize * SECTOR_SIZE).min(b.len());
        (s, &b[start..end])
    }

    /// The whole table's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// Iterates `(block, bitmap sector)` over allocated entries.
    pub fn allocated(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..self.entries).filter_map(|b| self.get(b).map(|s| (b, s)))
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Bat<B> {
    /// Sets `block`'s entry ([`UNUSED`] to free it). Out-of-range blocks are ignored and
    /// reported as `false`.
    pub fn set(&mut self, block: u32, sector: u32) -> bool {
        if block >= self.entries {
            return false;
        }
        put32(self.bytes.as_mut(), block as usize * 4, sector);
        true
    }

    /// Changes the number of entries (a resize); `false` if the buffer cannot hold them.
    pub fn set_entries(&mut self, entries: u32) -> bool {
        if (self.bytes.as_ref().len() as u64) < u64::from(entries) * 4 {
            return false;
        }
        self.entries = entries;
        true
    }

    /// Zeroes the bytes after the last entry up to the end of its sector, as blktap
    /// writes the padding.
    pub fn zero_padding(&mut self) {
        let n = self.entries as usize * 4;
        let end = (bat_bytes(self.entries) as usize).min(self.bytes.as_ref().len());
        if let Some(pad) = self.bytes.as_mut().get_mut(n..end) {
            pad.fill(0);
        }
    }

    /// The whole buffer, writable: open reads the table into it.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes.as_mut()
    }

    /// Exchanges the table's buffer with `other` (of at least the same length, holding
    /// the same entries): a resize moving the table into a larger buffer.
    pub(crate) fn swap_bytes(&mut self, other: &mut B) {
        core::mem::swap(&mut self.bytes, other);
    }

    /// Fills a fresh table: every entry [`UNUSED`], the sector padding zero (as blktap
    /// writes it).
    pub fn clear_all(&mut self) {
        let n = self.entries as usize * 4;
        let b = self.bytes.as_mut();
        let (used, pad) = b.split_at_mut(n);
        used.fill(0xFF);
        pad.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bat_sectors(0), 1);
        assert_eq!(bat_sectors(128), 1);
        assert_eq!(bat_sectors(129), 2);
        assert_eq!(bat_bytes(50), 512);
        assert_eq!(
            bat_bytes(u32::MAX),
            (u32::MAX as u64 * 4).div_ceil(512) * 512
        );
    }

    #[test]
    fn entries_are_big_endian() {
        let mut buf = [0u8; 1024];
        let mut bat = Bat::new(&mut buf[..], 200).unwrap();
        bat.clear_all();
        assert_eq!(bat.get(5), None);
        assert!(bat.set(5, 0x0102_0304));
        assert!(!bat.set(200, 1));
        assert_eq!(bat.get(5), Some(0x0102_0304));
        assert_eq!(bat.raw(199), Some(UNUSED));
        assert_eq!(bat.raw(200), None);
        assert_eq!(&bat.as_bytes()[20..24], &[1, 2, 3, 4]);
        assert_eq!(bat.as_bytes()[800], 0, "padding is zero");
        let (s, bytes) = bat.sector_of(150);
        assert_eq!((s, bytes.len()), (1, 512));
        assert_eq!(
            bat.allocated().collect::<heapless::Vec<_, 4>>(),
            [(5, 0x0102_0304)]
        );
        assert!(Bat::new(&buf[..], 257).is_none());
    }
}
