//! blktap's batmap: a header sector (`tdbatmap`) after the BAT and a map with one bit
//! per block (MSB-first), set when every sector of the block is allocated so readers can
//! skip its bitmap.

use crate::endian::{array, be32, be64, put32, put64};
use crate::error::{Error, FormatError, Structure};
use crate::footer::version;
use crate::io::Io;
use crate::SECTOR_SIZE;

/// The batmap header cookie.
pub const COOKIE: [u8; 8] = *b"tdbatmap";
/// The batmap version blktap writes, 1.2.
pub const BATMAP_VERSION: u32 = version(1, 2);
/// Version 1.1 summed the map as signed chars.
pub const BATMAP_VERSION_1_1: u32 = version(1, 1);
/// Offset of the checksum in the header.
const CHECKSUM: usize = 24;
/// Bytes of the header's fields; the rest of the sector follows.
const HEAD: usize = 28;

/// Sectors of a map for `blocks` blocks (at least one).
pub const fn map_sectors(blocks: u32) -> u32 {
    let bytes = blocks.div_ceil(8);
    let s = bytes.div_ceil(SECTOR_SIZE as u32);
    if s == 0 {
        1
    } else {
        s
    }
}

/// The batmap header, as libvhd's `struct dd_batmap_hdr`, plus the rest of its sector.
#[derive(Clone, PartialEq, Eq)]
pub struct BatmapHeader {
    /// `tdbatmap`.
    pub cookie: [u8; 8],
    /// Byte offset of the map.
    pub batmap_offset: u64,
    /// Map size in sectors.
    pub batmap_size: u32,
    /// Version ([`BATMAP_VERSION`]).
    pub batmap_version: u32,
    /// Checksum of the map (not of this header).
    pub checksum: u32,
    /// The rest of the sector, kept as found (blktap3 stores a marker and key hash here).
    pub rest: [u8; SECTOR_SIZE - 28],
}

impl core::fmt::Debug for BatmapHeader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BatmapHeader")
            .field("batmap_offset", &self.batmap_offset)
            .field("batmap_size", &self.batmap_size)
            .field("batmap_version", &self.batmap_version)
            .field("checksum", &self.checksum)
            .finish_non_exhaustive()
    }
}

impl BatmapHeader {
    /// A header for a map of `blocks` blocks at `batmap_offset`, checksum of an empty map.
    pub fn new(batmap_offset: u64, blocks: u32) -> BatmapHeader {
        let size = map_sectors(blocks);
        BatmapHeader {
            cookie: COOKIE,
            batmap_offset,
            batmap_size: size,
            batmap_version: BATMAP_VERSION,
            // The sum of an all-zero map is 0.
            checksum: !0,
            rest: [0; SECTOR_SIZE - 28],
        }
    }

    /// Every field zero: a place to read a header into ([`BatmapHeader::read_into`]).
    pub const ZEROED: BatmapHeader = BatmapHeader {
        cookie: [0; 8],
        batmap_offset: 0,
        batmap_size: 0,
        batmap_version: 0,
        checksum: 0,
        rest: [0; SECTOR_SIZE - HEAD],
    };

    /// Decodes a header sector; checks the cookie only (the checksum covers the map).
    pub fn parse(buf: &[u8]) -> Result<BatmapHeader, FormatError> {
        if buf.len() < SECTOR_SIZE {
            return Err(FormatError::Truncated {
                structure: Structure::Batmap,
            });
        }
        let mut h = BatmapHeader::ZEROED;
        h.decode_head(&array(buf, 0));
        h.rest = array(buf, HEAD);
        h.accept()?;
        Ok(h)
    }

    /// Reads the header sector at `off` straight into `out` (the fields, then the rest
    /// of the sector in place) and checks it as [`BatmapHeader::parse`] does.
    pub fn read_into<I: Io>(
        io: &mut I,
        off: u64,
        out: &mut BatmapHeader,
    ) -> Result<(), Error<I::Error>> {
        let mut head = [0u8; HEAD];
        io.read_at(off, &mut head).map_err(Error::Io)?;
        out.decode_head(&head);
        io.read_at(off + HEAD as u64, &mut out.rest)
            .map_err(Error::Io)?;
        Ok(out.accept()?)
    }

    fn decode_head(&mut self, buf: &[u8; HEAD]) {
        self.cookie = array(buf, 0);
        self.batmap_offset = be64(buf, 8);
        self.batmap_size = be32(buf, 16);
        self.batmap_version = be32(buf, 20);
        self.checksum = be32(buf, CHECKSUM);
    }

    fn accept(&self) -> Result<(), FormatError> {
        if self.cookie != COOKIE {
            return Err(FormatError::BadCookie {
                structure: Structure::Batmap,
            });
        }
        Ok(())
    }

    /// Encodes into `buf[..512]`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        let buf = buf.get_mut(..SECTOR_SIZE).ok_or(FormatError::Truncated {
            structure: Structure::Batmap,
        })?;
        buf[..8].copy_from_slice(&self.cookie);
        put64(buf, 8, self.batmap_offset);
        put32(buf, 16, self.batmap_size);
        put32(buf, 20, self.batmap_version);
        put32(buf, CHECKSUM, self.checksum);
        buf[HEAD..].copy_from_slice(&self.rest);
        Ok(())
    }

    /// The encoded sector.
    pub fn to_bytes(&self) -> [u8; SECTOR_SIZE] {
        let mut b = [0u8; SECTOR_SIZE];
        let _ = self.write(&mut b);
        b
    }

    /// The encoded sector as it will be once the version and checksum are `version` and
    /// `checksum`: written before the in-memory header changes, without a copy of it.
    pub fn to_bytes_with(&self, version: u32, checksum: u32) -> [u8; SECTOR_SIZE] {
        let mut b = self.to_bytes();
        put32(&mut b, 20, version);
        put32(&mut b, CHECKSUM, checksum);
        b
    }

    /// Map length in bytes.
    pub const fn map_bytes(&self) -> u64 {
        self.batmap_size as u64 * SECTOR_SIZE as u64
    }

    /// Judges the header against the table it describes: known major version, a map
    /// big enough for `blocks` bits, sector-aligned, inside the file.
    pub fn validate(&self, blocks: u32, file_size: u64) -> Result<(), FormatError> {
        let bad = |field| FormatError::invalid(Structure::Batmap, field);
        if self.batmap_version >> 16 != 1 {
            return Err(FormatError::Unsupported {
                structure: Structure::Batmap,
                field: "batmap_version",
            });
        }
        if self.batmap_size < map_sectors(blocks) || self.batmap_size > map_sectors(blocks) + 1 {
            return Err(bad("batmap_size"));
        }
        if !self.batmap_offset.is_multiple_of(SECTOR_SIZE as u64) {
            return Err(bad("batmap_offset"));
        }
        match self.batmap_offset.checked_add(self.map_bytes()) {
            Some(end) if end <= file_size => Ok(()),
            _ => Err(bad("batmap_offset")),
        }
    }

    /// The checksum a map calls for under this header's version: the one's complement of
    /// the byte sum (1.1 summed signed chars).
    pub fn compute_checksum(&self, map: &[u8]) -> u32 {
        crate::checksum::batmap(self.batmap_version, map)
    }

    /// Adds the bytes of `part` of a map to the running sum `sum`, so that a map too
    /// large for one buffer can be checked piece by piece: the checksum is `!sum`.
    pub fn sum_part(&self, sum: u32, part: &[u8]) -> u32 {
        crate::checksum::batmap_sum(self.batmap_version, sum, part)
    }

    /// Checks `map` against the stored checksum.
    pub fn verify(&self, map: &[u8]) -> Result<(), FormatError> {
        let computed = self.compute_checksum(map);
        if computed != self.checksum {
            return Err(FormatError::BadChecksum {
                structure: Structure::Batmap,
                stored: self.checksum,
                computed,
            });
        }
        Ok(())
    }
}

/// Tests `block`'s bit in a map (MSB-first); bits beyond the map read clear.
pub fn test(map: &[u8], block: u32) -> bool {
    map.get((block >> 3) as usize)
        .is_some_and(|b| b & (0x80 >> (block & 7)) != 0)
}

/// Sets (`true`) or clears `block`'s bit; bits beyond the map are ignored.
pub fn assign(map: &mut [u8], block: u32, value: bool) {
    if let Some(b) = map.get_mut((block >> 3) as usize) {
        let m = 0x80 >> (block & 7);
        if value {
            *b |= m;
        } else {
            *b &= !m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let mut h = BatmapHeader::new(2560, 50);
        assert_eq!(h.batmap_size, 1);
        let mut map = [0u8; 512];
        h.verify(&map).unwrap();
        assign(&mut map, 0, true);
        assign(&mut map, 9, true);
        assert!(test(&map, 0) && test(&map, 9) && !test(&map, 1));
        assert_eq!(&map[..2], &[0x80, 0x40]);
        assert!(h.verify(&map).is_err());
        h.checksum = h.compute_checksum(&map);
        assert_eq!(h.checksum, !(0x80 + 0x40));
        let back = BatmapHeader::parse(&h.to_bytes()).unwrap();
        assert_eq!(back, h);
        back.verify(&map).unwrap();
        h.validate(50, 3072).unwrap();
        assert!(h.validate(50, 3000).is_err());
        assert!(
            h.validate(5000, 1 << 20).is_err(),
            "map too small for the table"
        );
    }

    #[test]
    fn version_1_1_sums_signed() {
        let mut h = BatmapHeader::new(2560, 8);
        h.batmap_version = BATMAP_VERSION_1_1;
        assert_eq!(h.compute_checksum(&[0xFF]), !(-1i32 as u32));
        h.batmap_version = BATMAP_VERSION;
        assert_eq!(h.compute_checksum(&[0xFF]), !0xFF);
    }

    #[test]
    fn rejects_bad_cookie() {
        let mut b = BatmapHeader::new(0, 1).to_bytes();
        b[0] = 0;
        assert!(matches!(
            BatmapHeader::parse(&b),
            Err(FormatError::BadCookie { .. })
        ));
        test(&[], 100); // no panic beyond the map
    }
}
