//! The sector bitmaps of recently used blocks, kept in the caller's bitmap buffer so
//! that I/O moving between blocks does not read again a bitmap the disk already holds.
//!
//! The buffer holds `slots` bitmaps one after another, then one 4-byte tag per slot:
//! the block number plus one, little-endian, 0 for an empty slot. The cache is
//! direct-mapped (block `b` can only live in slot `b % slots`), which needs no search
//! and no bookkeeping beyond the tags. A buffer with room for a single bitmap but not
//! its tag (exactly [`Layout::bitmap_bytes`](crate::Layout::bitmap_bytes)) caches one
//! block and keeps that tag here.

use core::ops::Range;

/// Bytes a bitmap buffer needs to cache `blocks` bitmaps of `bitmap_bytes` each.
pub(crate) const fn cache_bytes(bitmap_bytes: usize, blocks: usize) -> usize {
    blocks.saturating_mul(bitmap_bytes.saturating_add(TAG))
}

const TAG: usize = 4;

/// Where each cached bitmap sits in the buffer and which block it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct BitmapCache {
    /// Bytes of one bitmap (0 for disks without bitmaps).
    bytes: usize,
    /// Number of slots; 0 when the disk has no bitmaps.
    slots: usize,
    /// The tag of the only slot when the buffer has no room for tags.
    lone: Option<u32>,
}

impl BitmapCache {
    /// A cache of bitmaps of `bytes` each in `buf`, emptied. `buf` must hold at least
    /// one bitmap when `bytes` is not 0 (the caller checks this at open).
    pub(crate) fn new(buf: &mut [u8], bytes: usize) -> Self {
        let slots = match bytes {
            0 => 0,
            _ => (buf.len() / (bytes + TAG)).max(1),
        };
        let mut cache = BitmapCache {
            bytes,
            slots,
            lone: None,
        };
        cache.clear(buf);
        cache
    }

    /// Forgets every cached bitmap.
    pub(crate) fn clear(&mut self, buf: &mut [u8]) {
        self.lone = None;
        if let Some(tags) = self.tags_range(buf.len()) {
            buf[tags].fill(0);
        }
    }

    /// The byte range of the tags, when the buffer has room for them.
    fn tags_range(&self, len: usize) -> Option<Range<usize>> {
        let start = self.slots * self.bytes;
        let end = start + self.slots * TAG;
        (self.slots > 0 && end <= len).then_some(start..end)
    }

    fn slot(&self, block: u32) -> usize {
        block as usize % self.slots.max(1)
    }

    /// The byte range in the buffer where `block`'s bitmap is (or would be) kept.
    pub(crate) fn range(&self, block: u32) -> Range<usize> {
        let start = self.slot(block) * self.bytes;
        start..start + self.bytes
    }

    fn tag(&self, buf: &[u8], slot: usize) -> Option<u32> {
        let Some(tags) = self.tags_range(buf.len()) else {
            return self.lone;
        };
        let at = tags.start + slot * TAG;
        let mut b = [0u8; TAG];
        b.copy_from_slice(&buf[at..at + TAG]);
        u32::from_le_bytes(b).checked_sub(1)
    }

    /// Whether `block`'s bitmap is in the buffer, at [`BitmapCache::range`].
    pub(crate) fn holds(&self, buf: &[u8], block: u32) -> bool {
        self.slots > 0 && self.tag(buf, self.slot(block)) == Some(block)
    }

    /// Records that `block`'s slot holds its bitmap (`true`) or nothing valid (`false`,
    /// e.g. before the slot is overwritten, so a failure cannot leave a stale claim).
    pub(crate) fn mark(&mut self, buf: &mut [u8], block: u32, valid: bool) {
        if self.slots == 0 {
            return;
        }
        let slot = self.slot(block);
        let value = if valid { Some(block) } else { None };
        let Some(tags) = self.tags_range(buf.len()) else {
            self.lone = value;
            return;
        };
        let at = tags.start + slot * TAG;
        let raw = value.map_or(0, |b| b.wrapping_add(1));
        buf[at..at + TAG].copy_from_slice(&raw.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_without_room_for_a_tag() {
        let mut buf = [0xAAu8; 512];
        let mut c = BitmapCache::new(&mut buf, 512);
        assert!(!c.holds(&buf, 0));
        c.mark(&mut buf, 7, true);
        assert!(c.holds(&buf, 7) && !c.holds(&buf, 8));
        assert_eq!(c.range(7), 0..512);
        c.mark(&mut buf, 7, false);
        assert!(!c.holds(&buf, 7));
    }

    #[test]
    fn direct_mapped_slots_with_tags_in_the_buffer() {
        let mut buf = [0x55u8; cache_bytes(512, 3) + 100];
        let mut c = BitmapCache::new(&mut buf, 512);
        for b in 0..3 {
            assert!(
                !c.holds(&buf, b),
                "a new cache is empty whatever the buffer held"
            );
            c.mark(&mut buf, b, true);
        }
        assert!((0..3).all(|b| c.holds(&buf, b)));
        assert_eq!(c.range(4), 512..1024);
        // Block 4 shares block 1's slot: claiming it evicts block 1.
        c.mark(&mut buf, 4, true);
        assert!(c.holds(&buf, 4) && !c.holds(&buf, 1) && c.holds(&buf, 0));
        // The highest block number a BAT can index still round-trips through a tag.
        c.mark(&mut buf, u32::MAX - 1, true);
        assert!(c.holds(&buf, u32::MAX - 1));
        c.clear(&mut buf);
        assert!((0..5).all(|b| !c.holds(&buf, b)));
    }

    #[test]
    fn no_bitmaps_no_slots() {
        let mut buf = [0u8; 16];
        let mut c = BitmapCache::new(&mut buf, 0);
        c.mark(&mut buf, 0, true);
        assert!(!c.holds(&buf, 0));
    }
}
