//! The 1024-byte dynamic disk header (`cxsparse`) of dynamic and differencing disks.

use uuid::Uuid;

use crate::checksum::{self, HEADER_CHECKSUM_AT};
use crate::endian::{array, be32, be64, put32, put64};
use crate::error::{Error, FormatError, Structure};
use crate::io::Io;
use crate::locator::{ParentLocator, LOCATOR_COUNT, LOCATOR_SIZE};
use crate::utf::{self, Endian};

/// Size of the header on disk.
pub const HEADER_SIZE: usize = 1024;
/// The header cookie.
pub const COOKIE: [u8; 8] = *b"cxsparse";
/// Header version 1.0 (`DD_VERSION`).
pub const HDR_VERSION: u32 = 0x0001_0000;
/// blktap's default block size, 2 MiB.
pub const DEFAULT_BLOCK_SIZE: u32 = 1 << 21;
/// The largest block size this engine accepts (256 MiB, Hyper-V's maximum); bounds the
/// per-block bitmap a caller must supply.
pub const MAX_BLOCK_SIZE: u32 = 1 << 28;
/// Bytes of the fixed fields before the parent name.
const HEAD: usize = 64;
/// Offset of the parent name field.
const PRT_NAME: usize = HEAD;
/// Offset of the first locator.
const LOC: usize = 576;
/// Offset of the reserved tail.
const RES2: usize = LOC + LOCATOR_COUNT * LOCATOR_SIZE;

/// The dynamic disk header, field for field as libvhd's `struct dd_hdr` (host order).
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// `cxsparse`.
    pub cookie: [u8; 8],
    /// Unused; all ones.
    pub data_offset: u64,
    /// Byte offset of the BAT.
    pub table_offset: u64,
    /// Header version ([`HDR_VERSION`]).
    pub hdr_ver: u32,
    /// Number of BAT entries.
    pub max_bat_size: u32,
    /// Block size in bytes (a power of two, at least a sector).
    pub block_size: u32,
    /// Checksum as stored.
    pub checksum: u32,
    /// The parent's footer UUID (differencing disks; nil for a raw parent).
    pub prt_uuid: Uuid,
    /// The parent file's modification time, VHD seconds (Windows writes 0).
    pub prt_ts: u32,
    /// Reserved.
    pub res1: u32,
    /// The parent's name, UTF-16BE, NUL-padded.
    pub prt_name: [u8; 512],
    /// Parent locators.
    pub loc: [ParentLocator; LOCATOR_COUNT],
    /// Reserved.
    pub res2: [u8; 256],
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header")
            .field("table_offset", &self.table_offset)
            .field("max_bat_size", &self.max_bat_size)
            .field("block_size", &self.block_size)
            .field("prt_uuid", &self.prt_uuid)
            .finish_non_exhaustive()
    }
}

impl Header {
    /// Every field zero: a place to read a header into ([`Header::read_into`]).
    pub const ZEROED: Header = Header {
        cookie: [0; 8],
        data_offset: 0,
        table_offset: 0,
        hdr_ver: 0,
        max_bat_size: 0,
        block_size: 0,
        checksum: 0,
        prt_uuid: Uuid::nil(),
        prt_ts: 0,
        res1: 0,
        prt_name: [0; 512],
        loc: [ParentLocator {
            code: 0,
            data_space: 0,
            data_len: 0,
            res: 0,
            data_offset: 0,
        }; LOCATOR_COUNT],
        res2: [0; 256],
    };

    /// Decodes the fields without judging them.
    pub fn decode(buf: &[u8]) -> Result<Header, FormatError> {
        if buf.len() < HEADER_SIZE {
            return Err(FormatError::Truncated {
                structure: Structure::Header,
            });
        }
        let mut h = Header::ZEROED;
        h.decode_head(&array(buf, 0));
        h.prt_name = array(buf, PRT_NAME);
        h.decode_locators(&array(buf, LOC))?;
        h.res2 = array(buf, RES2);
        Ok(h)
    }

    /// Decodes the fixed fields before the parent name.
    fn decode_head(&mut self, buf: &[u8; HEAD]) {
        self.cookie = array(buf, 0);
        self.data_offset = be64(buf, 8);
        self.table_offset = be64(buf, 16);
        self.hdr_ver = be32(buf, 24);
        self.max_bat_size = be32(buf, 28);
        self.block_size = be32(buf, 32);
        self.checksum = be32(buf, HEADER_CHECKSUM_AT);
        self.prt_uuid = Uuid::from_bytes(array(buf, 40));
        self.prt_ts = be32(buf, 56);
        self.res1 = be32(buf, 60);
    }

    fn decode_locators(
        &mut self,
        buf: &[u8; LOCATOR_COUNT * LOCATOR_SIZE],
    ) -> Result<(), FormatError> {
        for (l, b) in self.loc.iter_mut().zip(buf.chunks(LOCATOR_SIZE)) {
            *l = ParentLocator::decode(b)?;
        }
        Ok(())
    }

    /// Decodes a header whose cookie and checksum are right; [`Header::validate`] judges
    /// the fields.
    pub fn parse(buf: &[u8]) -> Result<Header, FormatError> {
        let h = Header::decode(buf)?;
        h.accept()?;
        Ok(h)
    }

    /// Reads the header at `off` straight into `out`, a field group at a time, and
    /// accepts it as [`Header::parse`] does. Needs no header-sized buffer: a firmware's
    /// stack holds at most the locators' 192 bytes.
    pub fn read_into<I: Io>(io: &mut I, off: u64, out: &mut Header) -> Result<(), Error<I::Error>> {
        let mut head = [0u8; HEAD];
        io.read_at(off, &mut head).map_err(Error::Io)?;
        out.decode_head(&head);
        io.read_at(off + PRT_NAME as u64, &mut out.prt_name)
            .map_err(Error::Io)?;
        let mut loc = [0u8; LOCATOR_COUNT * LOCATOR_SIZE];
        io.read_at(off + LOC as u64, &mut loc).map_err(Error::Io)?;
        out.decode_locators(&loc)?;
        io.read_at(off + RES2 as u64, &mut out.res2)
            .map_err(Error::Io)?;
        Ok(out.accept()?)
    }

    /// Accepts a decoded header: the cookie and the checksum.
    fn accept(&self) -> Result<(), FormatError> {
        if self.cookie != COOKIE {
            return Err(FormatError::BadCookie {
                structure: Structure::Header,
            });
        }
        let computed = self.compute_checksum();
        if computed != self.checksum {
            return Err(FormatError::BadChecksum {
                structure: Structure::Header,
                stored: self.checksum,
                computed,
            });
        }
        Ok(())
    }

    /// The fixed fields before the parent name, encoded.
    fn head(&self) -> [u8; HEAD] {
        let mut buf = [0u8; HEAD];
        buf[0..8].copy_from_slice(&self.cookie);
        put64(&mut buf, 8, self.data_offset);
        put64(&mut buf, 16, self.table_offset);
        put32(&mut buf, 24, self.hdr_ver);
        put32(&mut buf, 28, self.max_bat_size);
        put32(&mut buf, 32, self.block_size);
        put32(&mut buf, HEADER_CHECKSUM_AT, self.checksum);
        buf[40..56].copy_from_slice(self.prt_uuid.as_bytes());
        put32(&mut buf, 56, self.prt_ts);
        put32(&mut buf, 60, self.res1);
        buf
    }

    /// Encodes every field as it is into `buf[..1024]`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        let buf = buf.get_mut(..HEADER_SIZE).ok_or(FormatError::Truncated {
            structure: Structure::Header,
        })?;
        buf[..HEAD].copy_from_slice(&self.head());
        buf[PRT_NAME..LOC].copy_from_slice(&self.prt_name);
        for (i, l) in self.loc.iter().enumerate() {
            l.write(&mut buf[LOC + i * LOCATOR_SIZE..])?;
        }
        buf[RES2..].copy_from_slice(&self.res2);
        Ok(())
    }

    /// The encoded header.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        // Cannot fail: the buffer is exactly the header size.
        let _ = self.write(&mut b);
        b
    }

    /// The checksum the contents call for.
    pub fn compute_checksum(&self) -> u32 {
        let mut sum = checksum::sum_skipping(0, &self.head(), HEADER_CHECKSUM_AT);
        sum = checksum::sum_skipping(sum, &self.prt_name, usize::MAX);
        for l in &self.loc {
            let mut b = [0u8; LOCATOR_SIZE];
            // Cannot fail: the buffer is exactly one locator.
            let _ = l.write(&mut b);
            sum = checksum::sum_skipping(sum, &b, usize::MAX);
        }
        !checksum::sum_skipping(sum, &self.res2, usize::MAX)
    }

    /// Stores the checksum the contents call for.
    pub fn seal(&mut self) {
        self.checksum = self.compute_checksum();
    }

    /// Judges the fields on their own as open does: every rule of [`FIELD_RULES`] that
    /// open enforces except the BAT's place in the file (open checks that against the
    /// file with [`Header::validate_for_open`]), and a known platform code in every
    /// locator slot (libvhd's `vhd_validate_header`).
    pub fn validate(&self) -> Result<(), FormatError> {
        self.validate_for_open(u64::MAX)
    }

    /// [`Header::validate`] with the BAT also required to end by `bat_limit` (the
    /// primary footer's offset).
    pub fn validate_for_open(&self, bat_limit: u64) -> Result<(), FormatError> {
        if let Some(rule) = self.broken_rule(bat_limit, true) {
            return Err(rule.error);
        }
        // Stricter than check (COMPATIBILITY.md): the bound keeps the bitmap a caller
        // supplies small; check reports what such an image does wrong besides.
        if self.block_size > MAX_BLOCK_SIZE {
            return Err(FormatError::invalid(Structure::Header, "block_size"));
        }
        if self
            .loc
            .iter()
            .any(|l| !crate::locator::is_valid_platform_code(l.code))
        {
            return Err(FormatError::invalid(Structure::ParentLocator, "code"));
        }
        Ok(())
    }

    /// The first rule of [`FIELD_RULES`] the header breaks, in `vhd-util check`'s order;
    /// with `open_only`, only the rules open enforces. `bat_limit` is where the BAT must
    /// end (the primary footer's offset).
    pub fn broken_rule(&self, bat_limit: u64, open_only: bool) -> Option<&'static FieldRule> {
        FIELD_RULES
            .iter()
            .filter(|r| r.open || !open_only)
            .find(|r| (r.broken)(self, bat_limit))
    }

    /// Sectors per block (`spb`).
    pub const fn sectors_per_block(&self) -> u32 {
        self.block_size >> 9
    }

    /// log2 of sectors per block; valid after [`Header::validate`].
    pub const fn block_shift(&self) -> u32 {
        self.sectors_per_block().trailing_zeros()
    }

    /// Sectors of the per-block bitmap (`bm_secs`): at least one.
    pub const fn bitmap_sectors(&self) -> u32 {
        crate::bitmap::bitmap_sectors(self.sectors_per_block())
    }

    /// Decodes the UTF-16BE parent name into `out`. The name must end with a NUL unit
    /// inside the field: one that fills all 512 bytes may have been cut.
    pub fn parent_name<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, FormatError> {
        if !self.prt_name.chunks(2).any(|u| u == [0, 0]) {
            return Err(FormatError::invalid(Structure::ParentName, "prt_name"));
        }
        utf::utf16_to_utf8(&self.prt_name, Endian::Big, out)
            .map_err(|_| FormatError::invalid(Structure::ParentName, "prt_name"))
    }

    /// The parent name as libvhd's `vhd_header_decode_parent` gives it: decoded like a
    /// `W2ku` location, `\` turned into `/` and a `C:` drive prefix dropped. Windows
    /// stores a full path there (`C:\dir\parent.vhd`); tapdisk a bare file name, which
    /// comes back unchanged.
    pub fn parent_location<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, FormatError> {
        let n = self.parent_name(out)?.len();
        let n = crate::locator::windows_to_posix(&mut out[..n]);
        core::str::from_utf8(&out[..n])
            .map_err(|_| FormatError::invalid(Structure::ParentName, "prt_name"))
    }

    /// Stores `name` as the UTF-16BE parent name, NUL-padded (at least one NUL unit).
    pub fn set_parent_name(&mut self, name: &str) -> Result<(), FormatError> {
        let mut field = [0u8; 512];
        utf::utf8_to_utf16(name, Endian::Big, &mut field[..510])
            .map_err(|_| FormatError::invalid(Structure::ParentName, "prt_name"))?;
        self.prt_name = field;
        Ok(())
    }
}

/// A rule a header field must follow, shared by open and `check` so that open never
/// accepts a field check rejects, except where the reference's open accepts it too
/// (`open` false, with the reason at the rule).
#[derive(Debug)]
pub struct FieldRule {
    /// What `vhd-util check` prints after `header is invalid: `.
    pub message: &'static str,
    /// The error open refuses the image with.
    pub error: FormatError,
    /// Whether open refuses a header that breaks the rule.
    pub open: bool,
    broken: fn(&Header, u64) -> bool,
}

const fn rule(
    message: &'static str,
    error: FormatError,
    open: bool,
    broken: fn(&Header, u64) -> bool,
) -> FieldRule {
    FieldRule {
        message,
        error,
        open,
        broken,
    }
}

/// The header's field rules in `vhd-util check`'s order. libvhd's open refuses a header
/// whose version is not exactly 1.0 or whose data offset is not all ones (`-EINVAL`), as
/// check does; the BAT's place and the block size bound what the engine reads.
pub const FIELD_RULES: [FieldRule; 6] = [
    rule(
        "invalid header version",
        FormatError::Unsupported {
            structure: Structure::Header,
            field: "hdr_ver",
        },
        true,
        |h, _| h.hdr_ver >> 16 != HDR_VERSION >> 16,
    ),
    rule(
        "invalid header version",
        FormatError::invalid(Structure::Header, "hdr_ver"),
        true,
        |h, _| h.hdr_ver != HDR_VERSION,
    ),
    rule(
        "invalid data offset",
        FormatError::invalid(Structure::Header, "data_offset"),
        true,
        |h, _| h.data_offset != u64::MAX,
    ),
    rule(
        "invalid table offset",
        FormatError::invalid(Structure::Header, "table_offset"),
        true,
        |h, limit| {
            let end = h
                .table_offset
                .checked_add(crate::bat::bat_bytes(h.max_bat_size));
            h.table_offset == 0
                || !h.table_offset.is_multiple_of(512)
                || end.is_none_or(|e| e > limit)
        },
    ),
    rule(
        "invalid block size",
        FormatError::invalid(Structure::Header, "block_size"),
        true,
        |h, _| !h.block_size.is_power_of_two() || h.block_size < 512,
    ),
    // The reference's open accepts reserved bits (only check looks), and nothing the
    // engine does depends on them: refusing would only lock users out of their data.
    rule(
        "invalid reserved bits",
        FormatError::invalid(Structure::Header, "reserved"),
        false,
        |h, _| h.res1 != 0 || h.res2.iter().any(|&b| b != 0),
    ),
];

/// Parameters of a new header; see [`Header::new`].
#[derive(Debug, Clone, Copy)]
pub struct HeaderParams {
    /// Byte offset of the BAT.
    pub table_offset: u64,
    /// Number of BAT entries.
    pub max_bat_size: u32,
    /// Block size in bytes.
    pub block_size: u32,
}

impl Header {
    /// A sealed header with no parent, as blktap's create writes it.
    pub fn new(p: HeaderParams) -> Header {
        let mut h = Header {
            cookie: COOKIE,
            data_offset: u64::MAX,
            table_offset: p.table_offset,
            hdr_ver: HDR_VERSION,
            max_bat_size: p.max_bat_size,
            block_size: p.block_size,
            checksum: 0,
            prt_uuid: Uuid::nil(),
            prt_ts: 0,
            res1: 0,
            prt_name: [0; 512],
            loc: [ParentLocator::default(); LOCATOR_COUNT],
            res2: [0; 256],
        };
        h.seal();
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header::new(HeaderParams {
            table_offset: 1536,
            max_bat_size: 50,
            block_size: DEFAULT_BLOCK_SIZE,
        })
    }

    #[test]
    fn round_trip() {
        let mut h = sample();
        h.prt_uuid = Uuid::from_bytes([9; 16]);
        h.set_parent_name("parent ä.vhd").unwrap();
        h.loc[0] = ParentLocator {
            code: crate::locator::PLAT_CODE_MACX,
            data_space: 512,
            data_len: 17,
            res: 0,
            data_offset: 3072,
        };
        h.seal();
        let b = h.to_bytes();
        assert_eq!(&b[..8], b"cxsparse");
        let back = Header::parse(&b).unwrap();
        assert_eq!(back, h);
        let mut name = [0u8; 64];
        assert_eq!(back.parent_name(&mut name).unwrap(), "parent ä.vhd");
        back.validate().unwrap();
        assert_eq!(back.bitmap_sectors(), 1);
        assert_eq!(back.block_shift(), 12);
    }

    #[test]
    fn rejects_bad_fields() {
        let mut b = sample().to_bytes();
        b[36] ^= 1;
        assert!(matches!(
            Header::parse(&b),
            Err(FormatError::BadChecksum { .. })
        ));
        let mut b = sample().to_bytes();
        b[0] = b'X';
        assert!(matches!(
            Header::parse(&b),
            Err(FormatError::BadCookie { .. })
        ));
        assert!(matches!(
            Header::parse(&b[..1000]),
            Err(FormatError::Truncated { .. })
        ));
        for bs in [0, 256, 3 << 20, 1 << 29] {
            let mut h = sample();
            h.block_size = bs;
            assert_eq!(
                h.validate(),
                Err(FormatError::invalid(Structure::Header, "block_size"))
            );
        }
        let mut h = sample();
        h.hdr_ver = 0x0002_0000;
        assert!(matches!(h.validate(), Err(FormatError::Unsupported { .. })));
    }
}
