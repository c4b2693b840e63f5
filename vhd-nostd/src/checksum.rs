//! The checksums of the on-disk structures, computed over their raw bytes: the one's
//! complement of the byte sum, with the structure's own checksum field taken as zero.
//! Byte sums do not depend on byte order, so the same functions serve a C client's
//! structs in host order.

use crate::batmap::BATMAP_VERSION_1_1;
use crate::footer::FOOTER_SIZE;
use crate::header::HEADER_SIZE;

/// Offset of the checksum field in the footer.
pub const FOOTER_CHECKSUM_AT: usize = 64;
/// Offset of the checksum field in the dynamic disk header.
pub const HEADER_CHECKSUM_AT: usize = 36;

/// Adds the bytes of `bytes` to `sum`, skipping the 4-byte field at `field` (pass
/// `usize::MAX` to skip nothing).
pub fn sum_skipping(sum: u32, bytes: &[u8], field: usize) -> u32 {
    bytes.iter().enumerate().fold(sum, |s, (i, &b)| {
        if i >= field && i < field.saturating_add(4) {
            s
        } else {
            s.wrapping_add(u32::from(b))
        }
    })
}

/// The checksum of a footer's 512 bytes (libvhd's `vhd_checksum_footer`); shorter
/// input is summed as it is.
pub fn footer(raw: &[u8]) -> u32 {
    !sum_skipping(0, &raw[..raw.len().min(FOOTER_SIZE)], FOOTER_CHECKSUM_AT)
}

/// The checksum of a dynamic disk header's 1024 bytes (libvhd's
/// `vhd_checksum_header`).
pub fn header(raw: &[u8]) -> u32 {
    !sum_skipping(0, &raw[..raw.len().min(HEADER_SIZE)], HEADER_CHECKSUM_AT)
}

/// Adds the bytes of `part` of a batmap's map to `sum` under the batmap's version:
/// version 1.1 summed them as signed chars, as the blktap release that wrote it did.
/// The checksum of a map summed piece by piece is `!sum`.
pub fn batmap_sum(batmap_version: u32, sum: u32, part: &[u8]) -> u32 {
    let signed = batmap_version == BATMAP_VERSION_1_1;
    part.iter().fold(sum, |s, &b| {
        let v = if signed {
            b as i8 as i32 as u32
        } else {
            u32::from(b)
        };
        s.wrapping_add(v)
    })
}

/// The checksum of a batmap's whole map (libvhd's `vhd_checksum_batmap`).
pub fn batmap(batmap_version: u32, map: &[u8]) -> u32 {
    !batmap_sum(batmap_version, 0, map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batmap::BATMAP_VERSION;

    #[test]
    fn field_is_skipped() {
        let mut f = [1u8; FOOTER_SIZE];
        f[FOOTER_CHECKSUM_AT..FOOTER_CHECKSUM_AT + 4].fill(0xAB);
        assert_eq!(footer(&f), !(FOOTER_SIZE as u32 - 4));
        let h = [2u8; HEADER_SIZE];
        assert_eq!(header(&h), !((HEADER_SIZE as u32 - 4) * 2));
        assert_eq!(sum_skipping(5, &[1, 2], usize::MAX), 8);
    }

    #[test]
    fn batmap_1_1_sums_signed_chars() {
        assert_eq!(batmap(BATMAP_VERSION_1_1, &[0xFF, 1]), !0u32);
        assert_eq!(batmap(BATMAP_VERSION, &[0xFF, 1]), !0x100);
    }
}
