//! The hard disk footer: 512 bytes at the end of every image (and, for dynamic and
//! differencing disks, a copy at offset 0).

use crate::checksum::{self, FOOTER_CHECKSUM_AT};
use crate::endian::{array, be32, be64, put32, put64};
use crate::error::{Error, FormatError, Structure};
use crate::io::Io;
use uuid::Uuid;

/// Size of the footer on disk.
pub const FOOTER_SIZE: usize = 512;
/// Bytes of the footer before its reserved tail: every field.
const HEAD: usize = 86;
/// Bytes of the reserved tail.
const RESERVED: usize = FOOTER_SIZE - HEAD;
/// Cookie of a valid footer.
pub const COOKIE: [u8; 8] = *b"conectix";
/// Cookie blktap writes while an operation that may leave the image inconsistent runs.
pub const POISON_COOKIE: [u8; 8] = *b"v_poison";
/// Feature bit: temporary disk.
pub const FEATURE_TEMPORARY: u32 = 1;
/// Feature bit the specification requires always set.
pub const FEATURE_RESERVED: u32 = 2;
/// File format version 1.0.
pub const FF_VERSION: u32 = 0x0001_0000;
/// Data offset of a fixed disk: none.
pub const NO_DATA_OFFSET: u64 = u64::MAX;
/// Creator OS code "Wi2k".
pub const CREATOR_OS_WINDOWS: u32 = 0x5769_326B;
/// Creator OS code "Mac ".
pub const CREATOR_OS_MACINTOSH: u32 = 0x4D61_6320;
/// Creator application blktap writes.
pub const CREATOR_TAP: [u8; 4] = *b"tap\0";
/// Creator version blktap writes, 1.3.
pub const CREATOR_VERSION: u32 = version(1, 3);

/// `VHD_VERSION(major, minor)`: major in the high 16 bits.
pub const fn version(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// The disk types the footer's `type` field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DiskType {
    /// Preallocated: the virtual disk is the file's first `curr_size` bytes.
    Fixed = 2,
    /// Sparse: blocks allocated on first write through the BAT.
    Dynamic = 3,
    /// Sparse, with unwritten sectors read from a parent image.
    Differencing = 4,
}

impl DiskType {
    /// The type for a raw `type` field value, if it is one the format defines.
    pub const fn from_raw(v: u32) -> Option<DiskType> {
        match v {
            2 => Some(DiskType::Fixed),
            3 => Some(DiskType::Dynamic),
            4 => Some(DiskType::Differencing),
            _ => None,
        }
    }

    /// Dynamic and differencing disks share the sparse layout (header, BAT, blocks).
    pub const fn is_sparse(self) -> bool {
        !matches!(self, DiskType::Fixed)
    }
}

/// The footer, field for field as libvhd's `struct hd_ftr` (values in host order).
#[derive(Clone, PartialEq, Eq)]
pub struct Footer {
    /// `conectix`, or `v_poison` on a disabled image.
    pub cookie: [u8; 8],
    /// Feature bits ([`FEATURE_RESERVED`] is always set).
    pub features: u32,
    /// File format version ([`FF_VERSION`]).
    pub ff_version: u32,
    /// Byte offset of the dynamic header, or [`NO_DATA_OFFSET`] for fixed disks.
    pub data_offset: u64,
    /// Creation time in seconds since 2000-01-01 00:00:00 UTC.
    pub timestamp: u32,
    /// Creator application, e.g. `tap\0`, `vpc `, `win `, `qemu`.
    pub crtr_app: [u8; 4],
    /// Creator version, `major << 16 | minor`.
    pub crtr_ver: u32,
    /// Creator host OS.
    pub crtr_os: u32,
    /// Size at creation, in bytes.
    pub orig_size: u64,
    /// Current virtual size, in bytes.
    pub curr_size: u64,
    /// CHS geometry, `cylinders << 16 | heads << 8 | sectors`.
    pub geometry: u32,
    /// Disk type, raw (see [`DiskType`]).
    pub disk_type: u32,
    /// Checksum as stored.
    pub checksum: u32,
    /// The disk's identity.
    pub uuid: Uuid,
    /// Non-zero when the disk holds a saved state.
    pub saved: u8,
    /// blktap's hidden flag (the first reserved byte of the specification).
    pub hidden: u8,
    /// The remaining reserved bytes.
    pub reserved: [u8; 426],
}

impl core::fmt::Debug for Footer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Footer")
            .field("cookie", &self.cookie)
            .field("disk_type", &self.disk_type)
            .field("curr_size", &self.curr_size)
            .field("data_offset", &self.data_offset)
            .field("uuid", &self.uuid)
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl Footer {
    /// Every field zero: a place to read a footer into ([`Footer::read_into`]).
    pub const ZEROED: Footer = Footer {
        cookie: [0; 8],
        features: 0,
        ff_version: 0,
        data_offset: 0,
        timestamp: 0,
        crtr_app: [0; 4],
        crtr_ver: 0,
        crtr_os: 0,
        orig_size: 0,
        curr_size: 0,
        geometry: 0,
        disk_type: 0,
        checksum: 0,
        uuid: Uuid::nil(),
        saved: 0,
        hidden: 0,
        reserved: [0; RESERVED],
    };

    /// Decodes the fields of a 512-byte footer without judging them.
    pub fn decode(buf: &[u8]) -> Result<Footer, FormatError> {
        if buf.len() < FOOTER_SIZE {
            return Err(FormatError::Truncated {
                structure: Structure::Footer,
            });
        }
        let mut f = Footer::ZEROED;
        f.decode_head(&array(buf, 0));
        f.reserved = array(buf, HEAD);
        Ok(f)
    }

    /// Decodes the fields before the reserved tail.
    fn decode_head(&mut self, buf: &[u8; HEAD]) {
        self.cookie = array(buf, 0);
        self.features = be32(buf, 8);
        self.ff_version = be32(buf, 12);
        self.data_offset = be64(buf, 16);
        self.timestamp = be32(buf, 24);
        self.crtr_app = array(buf, 28);
        self.crtr_ver = be32(buf, 32);
        self.crtr_os = be32(buf, 36);
        self.orig_size = be64(buf, 40);
        self.curr_size = be64(buf, 48);
        self.geometry = be32(buf, 56);
        self.disk_type = be32(buf, 60);
        self.checksum = be32(buf, FOOTER_CHECKSUM_AT);
        self.uuid = Uuid::from_bytes(array(buf, 68));
        self.saved = buf[84];
        self.hidden = buf[85];
    }

    /// Decodes a footer and accepts it if its cookie and checksum are right, as libvhd's
    /// `vhd_validate_footer` does; [`Footer::validate`] judges the fields.
    pub fn parse(buf: &[u8]) -> Result<Footer, FormatError> {
        let f = Footer::decode(buf)?;
        f.accept()?;
        Ok(f)
    }

    /// Reads the footer of `len` bytes at `pos` (512, or 511 for a legacy short footer,
    /// whose last reserved byte reads as zero) straight into `out` and accepts it as
    /// [`Footer::parse`] does. Needs no footer-sized buffer: a firmware's stack holds
    /// only the fields' bytes.
    pub fn read_into<I: Io>(
        io: &mut I,
        pos: u64,
        len: usize,
        out: &mut Footer,
    ) -> Result<(), Error<I::Error>> {
        let mut head = [0u8; HEAD];
        io.read_at(pos, &mut head).map_err(Error::Io)?;
        out.decode_head(&head);
        let tail = len.clamp(HEAD, FOOTER_SIZE) - HEAD;
        out.reserved[tail..].fill(0);
        io.read_at(pos + HEAD as u64, &mut out.reserved[..tail])
            .map_err(Error::Io)?;
        Ok(out.accept()?)
    }

    /// Accepts a decoded footer: a valid cookie (`conectix` or `v_poison`) and checksum.
    fn accept(&self) -> Result<(), FormatError> {
        if self.cookie != COOKIE && self.cookie != POISON_COOKIE {
            return Err(FormatError::BadCookie {
                structure: Structure::Footer,
            });
        }
        self.verify_checksum()
    }

    /// The fields before the reserved tail, encoded.
    fn head(&self) -> [u8; HEAD] {
        let mut buf = [0u8; HEAD];
        buf[0..8].copy_from_slice(&self.cookie);
        put32(&mut buf, 8, self.features);
        put32(&mut buf, 12, self.ff_version);
        put64(&mut buf, 16, self.data_offset);
        put32(&mut buf, 24, self.timestamp);
        buf[28..32].copy_from_slice(&self.crtr_app);
        put32(&mut buf, 32, self.crtr_ver);
        put32(&mut buf, 36, self.crtr_os);
        put64(&mut buf, 40, self.orig_size);
        put64(&mut buf, 48, self.curr_size);
        put32(&mut buf, 56, self.geometry);
        put32(&mut buf, 60, self.disk_type);
        put32(&mut buf, FOOTER_CHECKSUM_AT, self.checksum);
        buf[68..84].copy_from_slice(self.uuid.as_bytes());
        buf[84] = self.saved;
        buf[85] = self.hidden;
        buf
    }

    /// Encodes every field as it is (checksum included) into `buf[..512]`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        let buf = buf.get_mut(..FOOTER_SIZE).ok_or(FormatError::Truncated {
            structure: Structure::Footer,
        })?;
        buf[..HEAD].copy_from_slice(&self.head());
        buf[HEAD..].copy_from_slice(&self.reserved);
        Ok(())
    }

    /// Whether `bytes` (a footer's on-disk bytes, read in pieces from `at`) match this
    /// footer encoded: compares without encoding the whole footer at once.
    pub fn matches_part(&self, at: usize, bytes: &[u8]) -> bool {
        let head = self.head();
        bytes.iter().enumerate().all(|(i, b)| {
            let pos = at + i;
            match pos {
                p if p < HEAD => head[p] == *b,
                p => self.reserved.get(p - HEAD) == Some(b),
            }
        })
    }

    /// The footer as 512 on-disk bytes, checksum as stored.
    pub fn to_bytes(&self) -> [u8; FOOTER_SIZE] {
        let mut b = [0u8; FOOTER_SIZE];
        // Cannot fail: the array is exactly FOOTER_SIZE.
        let _ = self.write(&mut b);
        b
    }

    /// The checksum the contents call for (libvhd's `vhd_checksum_footer`).
    pub fn compute_checksum(&self) -> u32 {
        let sum = checksum::sum_skipping(0, &self.head(), FOOTER_CHECKSUM_AT);
        !checksum::sum_skipping(sum, &self.reserved, usize::MAX)
    }

    /// Stores the checksum the contents call for; call after changing any field.
    pub fn seal(&mut self) {
        self.checksum = self.compute_checksum();
    }

    /// Checks the stored checksum. Early blktap marked disks hidden without updating the
    /// checksum; for those creators (tap 0.1 and 1.1) a checksum that matches with
    /// `hidden` taken as zero is accepted, as libvhd does.
    pub fn verify_checksum(&self) -> Result<(), FormatError> {
        let computed = self.compute_checksum();
        if computed == self.checksum {
            return Ok(());
        }
        // The checksum with `hidden` taken as zero: the byte sum less the flag.
        let unhidden = !(!computed).wrapping_sub(u32::from(self.hidden));
        if self.hidden != 0 && self.is_tap_legacy() && unhidden == self.checksum {
            return Ok(());
        }
        Err(FormatError::BadChecksum {
            structure: Structure::Footer,
            stored: self.checksum,
            computed,
        })
    }

    /// Creator is blktap (`tap`).
    pub fn is_tapdisk_creator(&self) -> bool {
        crate::layout::is_tap_creator(self.crtr_app)
    }

    /// blktap 0.1 or 1.1: the versions with quirks (hidden checksum, LSB-first bitmaps for 0.1).
    pub fn is_tap_legacy(&self) -> bool {
        crate::layout::is_tap_legacy(self.crtr_app, self.crtr_ver)
    }

    /// Whether a batmap follows the BAT ([`crate::layout::batmap_presence`]).
    pub fn batmap_presence(&self) -> crate::layout::BatmapPresence {
        let sparse = self.kind().is_some_and(DiskType::is_sparse);
        crate::layout::batmap_presence(self.crtr_app, self.crtr_ver, sparse)
    }

    /// Whether the hidden flag lives in the footer copy at offset 0
    /// ([`crate::layout::hidden_in_copy`]).
    pub fn hidden_in_copy(&self) -> bool {
        let sparse = self.kind().is_some_and(DiskType::is_sparse);
        crate::layout::hidden_in_copy(self.crtr_app, self.crtr_ver, sparse)
    }

    /// The disk is disabled (`v_poison`) by an interrupted resize or update.
    pub fn is_disabled(&self) -> bool {
        self.cookie == POISON_COOKIE
    }

    /// The disk type, if the raw field names one.
    pub fn kind(&self) -> Option<DiskType> {
        DiskType::from_raw(self.disk_type)
    }

    /// Judges the fields an engine depends on (everything but the checksum, which
    /// [`Footer::parse`] checks): a known type and major version, a data offset that fits
    /// the type, and a whole number of sectors.
    pub fn validate(&self) -> Result<DiskType, FormatError> {
        let kind = self
            .kind()
            .ok_or(FormatError::invalid(Structure::Footer, "type"))?;
        if self.ff_version >> 16 != FF_VERSION >> 16 {
            return Err(FormatError::Unsupported {
                structure: Structure::Footer,
                field: "ff_version",
            });
        }
        let off_ok = match kind {
            DiskType::Fixed => self.data_offset == NO_DATA_OFFSET,
            _ => self.data_offset >= FOOTER_SIZE as u64 && self.data_offset.is_multiple_of(512),
        };
        if !off_ok {
            return Err(FormatError::invalid(Structure::Footer, "data_offset"));
        }
        if !self.curr_size.is_multiple_of(512) {
            return Err(FormatError::invalid(Structure::Footer, "curr_size"));
        }
        Ok(kind)
    }
}

/// Parameters of a new footer; see [`Footer::new`].
#[derive(Debug, Clone, Copy)]
pub struct FooterParams {
    /// Disk type.
    pub kind: DiskType,
    /// Virtual size in bytes (a whole number of sectors).
    pub size: u64,
    /// Creation time, VHD seconds.
    pub timestamp: u32,
    /// The disk's UUID.
    pub uuid: Uuid,
}

impl Footer {
    /// A sealed footer as blktap's create writes it: creator `tap` 1.3, OS 0, features 2,
    /// geometry from the size, data offset 512 for sparse disks.
    pub fn new(p: FooterParams) -> Footer {
        let mut f = Footer {
            cookie: COOKIE,
            features: FEATURE_RESERVED,
            ff_version: FF_VERSION,
            data_offset: if p.kind.is_sparse() {
                FOOTER_SIZE as u64
            } else {
                NO_DATA_OFFSET
            },
            timestamp: p.timestamp,
            crtr_app: CREATOR_TAP,
            crtr_ver: CREATOR_VERSION,
            crtr_os: 0,
            orig_size: p.size,
            curr_size: p.size,
            geometry: crate::geometry::chs(p.size).encode(),
            disk_type: p.kind as u32,
            checksum: 0,
            uuid: p.uuid,
            saved: 0,
            hidden: 0,
            reserved: [0; 426],
        };
        f.seal();
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Footer {
        Footer::new(FooterParams {
            kind: DiskType::Dynamic,
            size: 12 << 20,
            timestamp: 0x1234_5678,
            uuid: Uuid::from_bytes([7; 16]),
        })
    }

    #[test]
    fn round_trip() {
        let f = sample();
        let b = f.to_bytes();
        let g = Footer::parse(&b).unwrap();
        assert_eq!(f, g);
        assert_eq!(g.to_bytes(), b);
        assert_eq!(&b[0..8], b"conectix");
        assert_eq!(g.validate(), Ok(DiskType::Dynamic));
    }

    #[test]
    fn checksum_covers_every_byte() {
        let b = sample().to_bytes();
        for i in (0..512).filter(|i| !(64..68).contains(i)) {
            let mut c = b;
            c[i] ^= 0x01;
            let r = Footer::parse(&c);
            assert!(
                matches!(
                    r,
                    Err(FormatError::BadChecksum { .. }) | Err(FormatError::BadCookie { .. })
                ),
                "byte {i} flip accepted"
            );
        }
    }

    #[test]
    fn short_buffer_is_truncated() {
        assert_eq!(
            Footer::decode(&[0u8; 511]),
            Err(FormatError::Truncated {
                structure: Structure::Footer
            })
        );
    }

    #[test]
    fn legacy_tap_hidden_without_checksum_update() {
        let mut f = sample();
        f.crtr_ver = version(1, 1);
        f.seal();
        f.hidden = 1;
        assert!(Footer::parse(&f.to_bytes()).is_ok());
        f.crtr_ver = version(1, 3);
        f.hidden = 0;
        f.seal();
        f.hidden = 1;
        assert!(Footer::parse(&f.to_bytes()).is_err());
    }

    #[test]
    fn validate_rejects_bad_fields() {
        let mut f = sample();
        for t in [0u32, 1, 5, 6, u32::MAX] {
            f.disk_type = t;
            assert!(f.validate().is_err(), "type {t}");
        }
        let mut f = sample();
        f.ff_version = version(2, 0);
        assert!(f.validate().is_err());
        let mut f = sample();
        f.data_offset = NO_DATA_OFFSET;
        assert!(f.validate().is_err());
        let mut f = sample();
        f.data_offset = 100;
        assert!(f.validate().is_err());
        let mut f = sample();
        f.curr_size = 513;
        assert!(f.validate().is_err());
        let mut f = sample();
        f.disk_type = DiskType::Fixed as u32;
        assert!(f.validate().is_err(), "fixed with a data offset");
    }
}
