//! Per-block sector bitmaps: bit set = the sector is stored in this block; clear = it
//! reads as zeros (dynamic) or from the parent (differencing).

use crate::SECTOR_SIZE;

/// Bit order within each byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOrder {
    /// Bit 7 of byte 0 is sector 0: the specification's order.
    MsbFirst,
    /// Bit 0 of byte 0 is sector 0: images created by tap version 0.1.
    LsbFirst,
}

impl BitOrder {
    /// The order of an image's sector bitmaps, from its footer's creator application
    /// and version: LSB-first only for images by tap 0.1.
    pub const fn of_creator(crtr_app: [u8; 4], crtr_ver: u32) -> BitOrder {
        if crate::layout::is_tap_creator(crtr_app) && crtr_ver == crate::footer::version(0, 1) {
            BitOrder::LsbFirst
        } else {
            BitOrder::MsbFirst
        }
    }
}

/// Sectors of a bitmap covering `spb` sectors (`max(1, ceil(spb / 8 / 512))`).
pub const fn bitmap_sectors(spb: u32) -> u32 {
    let bytes = spb.div_ceil(8);
    let s = bytes.div_ceil(SECTOR_SIZE as u32);
    if s == 0 {
        1
    } else {
        s
    }
}

/// A sector bitmap over caller bytes.
#[derive(Debug)]
pub struct Bitmap<B> {
    bits: B,
    order: BitOrder,
}

impl<B> Bitmap<B> {
    /// Wraps `bits` in the given bit order.
    pub const fn new(bits: B, order: BitOrder) -> Self {
        Bitmap { bits, order }
    }

    fn mask(&self, bit: u32) -> u8 {
        match self.order {
            BitOrder::MsbFirst => 0x80 >> (bit & 7),
            BitOrder::LsbFirst => 1 << (bit & 7),
        }
    }
}

impl<B: AsRef<[u8]>> Bitmap<B> {
    /// Number of bits the bytes hold.
    pub fn len(&self) -> u32 {
        (self.bits.as_ref().len() as u64 * 8).min(u64::from(u32::MAX)) as u32
    }

    /// True if there are no bits.
    pub fn is_empty(&self) -> bool {
        self.bits.as_ref().is_empty()
    }

    /// Whether `bit` is set; bits beyond the bytes read as clear.
    pub fn test(&self, bit: u32) -> bool {
        match self.bits.as_ref().get((bit >> 3) as usize) {
            Some(&b) => b & self.mask(bit) != 0,
            None => false,
        }
    }

    /// The length of the run of equal bits starting at `start`, looking at no more than
    /// `max` bits, and the run's value. Whole bytes are skipped at once.
    pub fn run(&self, start: u32, max: u32) -> (bool, u32) {
        let value = self.test(start);
        let fill = if value { 0xFF } else { 0 };
        let bytes = self.bits.as_ref();
        let mut n = 0;
        while n < max {
            let bit = start + n;
            if bit & 7 == 0 && max - n >= 8 && bytes.get((bit >> 3) as usize) == Some(&fill) {
                n += 8;
                continue;
            }
            if self.test(bit) != value {
                break;
            }
            n += 1;
        }
        (value, n)
    }

    /// Whether the first `count` bits are all set.
    pub fn all_set(&self, count: u32) -> bool {
        count == 0 || self.run(0, count) == (true, count)
    }

    /// Whether the first `count` bits are all clear.
    pub fn all_clear(&self, count: u32) -> bool {
        count == 0 || self.run(0, count) == (false, count)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bits.as_ref()
    }
}

impl<B: AsMut<[u8]>> Bitmap<B> {
    /// Sets `bit`; bits beyond the bytes are ignored.
    pub fn set(&mut self, bit: u32) {
        let m = self.mask(bit);
        if let Some(b) = self.bits.as_mut().get_mut((bit >> 3) as usize) {
            *b |= m;
        }
    }

    /// Clears `bit`; bits beyond the bytes are ignored.
    pub fn clear(&mut self, bit: u32) {
        let m = self.mask(bit);
        if let Some(b) = self.bits.as_mut().get_mut((bit >> 3) as usize) {
            *b &= !m;
        }
    }

    /// Sets `count` bits from `start`, whole bytes at a time where possible.
    pub fn set_range(&mut self, start: u32, count: u32) {
        self.fill_range(start, count, true);
    }

    /// Clears `count` bits from `start`.
    pub fn clear_range(&mut self, start: u32, count: u32) {
        self.fill_range(start, count, false);
    }

    fn fill_range(&mut self, start: u32, count: u32, value: bool) {
        let end = start.saturating_add(count);
        let mut bit = start;
        while bit < end {
            if bit & 7 == 0 && end - bit >= 8 {
                if let Some(b) = self.bits.as_mut().get_mut((bit >> 3) as usize) {
                    *b = if value { 0xFF } else { 0 };
                }
                bit += 8;
                continue;
            }
            if value {
                self.set(bit);
            } else {
                self.clear(bit);
            }
            bit += 1;
        }
    }

    /// Rewrites the bytes in the other bit order (vhd-update's bitmap conversion).
    pub fn convert_to(&mut self, order: BitOrder) {
        if order != self.order {
            for b in self.bits.as_mut() {
                *b = b.reverse_bits();
            }
            self.order = order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bitmap_sectors(4096), 1);
        assert_eq!(bitmap_sectors(1), 1);
        assert_eq!(bitmap_sectors(8192), 2);
        assert_eq!(bitmap_sectors(1 << 19), 128);
    }

    #[test]
    fn bit_orders() {
        let mut b = [0u8; 4];
        let mut m = Bitmap::new(&mut b[..], BitOrder::MsbFirst);
        m.set(0);
        m.set(9);
        assert!(m.test(0) && m.test(9) && !m.test(1));
        assert_eq!(m.as_bytes(), &[0x80, 0x40, 0, 0]);
        m.convert_to(BitOrder::LsbFirst);
        assert_eq!(m.as_bytes(), &[0x01, 0x02, 0, 0]);
        assert!(m.test(0) && m.test(9));
        m.clear(9);
        assert!(!m.test(9));
        assert!(!m.test(1000), "beyond the bytes reads clear");
        m.set(1000); // ignored, no panic
    }

    #[test]
    fn ranges_and_runs_match_bit_by_bit() {
        for order in [BitOrder::MsbFirst, BitOrder::LsbFirst] {
            for (start, count) in [(0, 0), (0, 64), (3, 5), (3, 40), (7, 1), (8, 16), (13, 37)] {
                let mut b = [0u8; 8];
                let mut m = Bitmap::new(&mut b[..], order);
                m.set_range(start, count);
                for i in 0..64 {
                    assert_eq!(
                        m.test(i),
                        i >= start && i < start + count,
                        "{order:?} {start} {count} {i}"
                    );
                }
                let (v, n) = m.run(start, 64 - start);
                if count > 0 {
                    assert_eq!((v, n), (true, count));
                }
                m.clear_range(start, count);
                assert!(m.all_clear(64));
            }
        }
        let b = [0xFFu8; 8];
        let m = Bitmap::new(&b[..], BitOrder::MsbFirst);
        assert!(m.all_set(64));
        assert_eq!(m.run(5, 10), (true, 10), "run stops at max");
    }
}
