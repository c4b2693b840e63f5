//! Parent locators: the eight 24-byte entries of the dynamic header that say where a
//! differencing disk's parent lives, and the path payloads they point at.

use crate::endian::{be32, be64, put32, put64};
use crate::error::{Error, FormatError, Structure};
use crate::io::Io;
use crate::utf::{self, Endian};

/// Size of one locator entry in the header.
pub const LOCATOR_SIZE: usize = 24;
/// Number of locator entries in the header.
pub const LOCATOR_COUNT: usize = 8;

/// Platform code: none (an empty entry).
pub const PLAT_CODE_NONE: u32 = 0;
/// Platform code: Windows relative path, deprecated (`Wi2r`).
pub const PLAT_CODE_WI2R: u32 = 0x5769_3272;
/// Platform code: Windows absolute path, deprecated (`Wi2k`).
pub const PLAT_CODE_WI2K: u32 = 0x5769_326B;
/// Platform code: Windows relative path, UTF-16LE (`W2ru`).
pub const PLAT_CODE_W2RU: u32 = 0x5732_7275;
/// Platform code: Windows absolute path, UTF-16LE (`W2ku`).
pub const PLAT_CODE_W2KU: u32 = 0x5732_6B75;
/// Platform code: Mac OS alias blob (`Mac `).
pub const PLAT_CODE_MAC: u32 = 0x4D61_6320;
/// Platform code: a `file://` URL in UTF-8 (`MacX`).
pub const PLAT_CODE_MACX: u32 = 0x4D61_6358;

/// The longest path a locator may hold, in bytes (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Whether `code` is a platform code the specification defines (`vhd_validate_platform_code`).
pub const fn is_valid_platform_code(code: u32) -> bool {
    matches!(
        code,
        PLAT_CODE_NONE
            | PLAT_CODE_WI2R
            | PLAT_CODE_WI2K
            | PLAT_CODE_W2RU
            | PLAT_CODE_W2KU
            | PLAT_CODE_MAC
            | PLAT_CODE_MACX
    )
}

/// One parent locator entry, as libvhd's `struct prt_loc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParentLocator {
    /// Platform code (`PLAT_CODE_*`).
    pub code: u32,
    /// Space reserved for the payload: sectors per the specification, bytes as Windows
    /// and blktap write it (see [`ParentLocator::space_bytes`]).
    pub data_space: u32,
    /// Payload length in bytes.
    pub data_len: u32,
    /// Reserved.
    pub res: u32,
    /// Byte offset of the payload in the file.
    pub data_offset: u64,
}

impl ParentLocator {
    /// Decodes a 24-byte entry.
    pub fn decode(b: &[u8]) -> Result<ParentLocator, FormatError> {
        if b.len() < LOCATOR_SIZE {
            return Err(FormatError::Truncated {
                structure: Structure::ParentLocator,
            });
        }
        Ok(ParentLocator {
            code: be32(b, 0),
            data_space: be32(b, 4),
            data_len: be32(b, 8),
            res: be32(b, 12),
            data_offset: be64(b, 16),
        })
    }

    /// Encodes into `b[..24]`.
    pub fn write(&self, b: &mut [u8]) -> Result<(), FormatError> {
        let b = b.get_mut(..LOCATOR_SIZE).ok_or(FormatError::Truncated {
            structure: Structure::ParentLocator,
        })?;
        put32(b, 0, self.code);
        put32(b, 4, self.data_space);
        put32(b, 8, self.data_len);
        put32(b, 12, self.res);
        put64(b, 16, self.data_offset);
        Ok(())
    }

    /// Reserved payload space in bytes, as libvhd's `vhd_parent_locator_size`: below 512 it
    /// counts sectors; a multiple of 512 is already bytes; anything else is invalid (0).
    pub const fn space_bytes(&self) -> u64 {
        if self.data_space < 512 {
            self.data_space as u64 * 512
        } else if self.data_space.is_multiple_of(512) {
            self.data_space as u64
        } else {
            0
        }
    }

    /// Whether the entry is in use.
    pub const fn is_used(&self) -> bool {
        self.code != PLAT_CODE_NONE
    }

    /// The payload's byte range `(offset, len)`, checked against the file: the length fits
    /// the space, the path limit, and the file.
    pub fn payload_range(&self, file_size: u64) -> Result<(u64, usize), FormatError> {
        let bad = |field| FormatError::invalid(Structure::ParentLocator, field);
        if !is_valid_platform_code(self.code) {
            return Err(bad("code"));
        }
        let len = u64::from(self.data_len);
        if len == 0 || len > self.space_bytes() {
            return Err(bad("data_len"));
        }
        if len as usize > 2 * PATH_MAX {
            return Err(bad("data_len"));
        }
        if !self.data_offset.is_multiple_of(512) {
            return Err(bad("data_offset"));
        }
        match self.data_offset.checked_add(len) {
            Some(end) if end <= file_size => Ok((self.data_offset, len as usize)),
            _ => Err(bad("data_offset")),
        }
    }

    /// Decodes a payload read from [`ParentLocator::payload_range`] into a UTF-8 path in `out`.
    /// `MacX` must be a `file://` URL (the prefix is removed); `W2ku`/`W2ru` are UTF-16LE.
    /// Trailing NULs are padding; a NUL inside the path is an error.
    pub fn decode_path<'o>(
        &self,
        payload: &[u8],
        out: &'o mut [u8],
    ) -> Result<&'o str, FormatError> {
        let bad = FormatError::invalid(Structure::ParentLocator, "data");
        let path: &str = match self.code {
            PLAT_CODE_MACX => {
                let s = core::str::from_utf8(trim_nuls(payload, 1)).map_err(|_| bad)?;
                let p = s.strip_prefix("file://").ok_or(bad)?;
                let dst = out.get_mut(..p.len()).ok_or(bad)?;
                dst.copy_from_slice(p.as_bytes());
                core::str::from_utf8(dst).map_err(|_| bad)?
            }
            PLAT_CODE_W2KU | PLAT_CODE_W2RU => {
                let units = trim_nuls(payload, 2);
                // The decoder stops at a NUL unit: one inside the path would cut it short.
                if units.chunks(2).any(|u| u == [0, 0]) {
                    return Err(bad);
                }
                utf::utf16_to_utf8(units, Endian::Little, out).map_err(|_| bad)?
            }
            _ => {
                return Err(FormatError::Unsupported {
                    structure: Structure::ParentLocator,
                    field: "code",
                })
            }
        };
        if path.is_empty() || path.len() > PATH_MAX || path.as_bytes().contains(&0) {
            return Err(bad);
        }
        Ok(path)
    }

    /// Reads the payload through `io` (staged in `scratch`) and decodes its path into
    /// `out` as a POSIX path: `\` becomes `/`, a `C:` drive prefix and `file://` are
    /// removed. Only `MacX`, `W2ku` and `W2ru` hold paths.
    pub fn read_path<'o, I: Io>(
        &self,
        io: &mut I,
        scratch: &mut [u8],
        out: &'o mut [u8],
    ) -> Result<&'o str, Error<I::Error>> {
        let file_size = io.size().map_err(Error::Io)?;
        let (off, len) = self.payload_range(file_size)?;
        let buf = scratch
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { needed: len })?;
        io.read_at(off, buf).map_err(Error::Io)?;
        let n = self.decode_path(buf, out)?.len();
        let n = if self.code == PLAT_CODE_MACX {
            n
        } else {
            windows_to_posix(&mut out[..n])
        };
        core::str::from_utf8(&out[..n])
            .map_err(|_| FormatError::invalid(Structure::ParentLocator, "data").into())
    }
}

/// Strips trailing NUL units of `unit` bytes.
fn trim_nuls(mut b: &[u8], unit: usize) -> &[u8] {
    while b.len() >= unit && b[b.len() - unit..].iter().all(|&x| x == 0) {
        b = &b[..b.len() - unit];
    }
    b
}

/// Encodes a path as a `MacX` locator payload: `file://` then the UTF-8 path. Returns the
/// bytes written.
pub fn encode_macx(path: &str, out: &mut [u8]) -> Result<usize, FormatError> {
    let prefix = b"file://";
    let n = prefix.len() + path.len();
    let dst = out
        .get_mut(..n)
        .ok_or(FormatError::invalid(Structure::ParentLocator, "data_len"))?;
    dst[..prefix.len()].copy_from_slice(prefix);
    dst[prefix.len()..].copy_from_slice(path.as_bytes());
    Ok(n)
}

/// Encodes a relative POSIX path as blktap writes it into `W2ku`/`W2ru` locators:
/// `/` becomes `\`, a `.\` prefix is added unless the path already starts with `.`,
/// UTF-16LE. Returns the bytes written.
pub fn encode_windows_path(rel: &str, out: &mut [u8]) -> Result<usize, FormatError> {
    let no_room = FormatError::invalid(Structure::ParentLocator, "data_len");
    let mut n = 0;
    let mut put = |u: u16, n: &mut usize| -> Result<(), FormatError> {
        out.get_mut(*n..*n + 2)
            .ok_or(no_room)?
            .copy_from_slice(&u.to_le_bytes());
        *n += 2;
        Ok(())
    };
    if !rel.starts_with('.') {
        put(u16::from(b'.'), &mut n)?;
        put(u16::from(b'\\'), &mut n)?;
    }
    for u in rel.encode_utf16() {
        put(
            if u == u16::from(b'/') {
                u16::from(b'\\')
            } else {
                u
            },
            &mut n,
        )?;
    }
    Ok(n)
}

/// Turns a decoded locator path into a POSIX path: `\` becomes `/`, and a drive prefix
/// `C:`/`c:` and a leading `.\` are dropped (as vhd-util's decoder does). Works in place
/// on the UTF-8 bytes; returns the new length.
pub fn windows_to_posix(path: &mut [u8]) -> usize {
    for b in path.iter_mut() {
        if *b == b'\\' {
            *b = b'/';
        }
    }
    let skip = if path.len() >= 2 && (path[..2] == *b"C:" || path[..2] == *b"c:") {
        2
    } else {
        0
    };
    path.copy_within(skip.., 0);
    path.len() - skip
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let l = ParentLocator {
            code: PLAT_CODE_W2RU,
            data_space: 512,
            data_len: 20,
            res: 0,
            data_offset: 3072,
        };
        let mut b = [0u8; 24];
        l.write(&mut b).unwrap();
        assert_eq!(&b[..4], b"W2ru");
        assert_eq!(ParentLocator::decode(&b).unwrap(), l);
    }

    #[test]
    fn space_units() {
        let mut l = ParentLocator {
            data_space: 1,
            ..Default::default()
        };
        assert_eq!(l.space_bytes(), 512);
        l.data_space = 4096;
        assert_eq!(l.space_bytes(), 4096);
        l.data_space = 1000;
        assert_eq!(l.space_bytes(), 0);
    }

    #[test]
    fn payload_bounds() {
        let l = ParentLocator {
            code: PLAT_CODE_MACX,
            data_space: 1,
            data_len: 600,
            res: 0,
            data_offset: 512,
        };
        assert!(l.payload_range(1 << 20).is_err(), "length beyond space");
        let l = ParentLocator { data_len: 100, ..l };
        assert_eq!(l.payload_range(1024).unwrap(), (512, 100));
        assert!(l.payload_range(600).is_err(), "beyond EOF");
        let l = ParentLocator {
            data_offset: u64::MAX - 10,
            ..l
        };
        assert!(l.payload_range(u64::MAX).is_err(), "overflow");
        let l = ParentLocator {
            code: 0x1234,
            data_offset: 512,
            ..l
        };
        assert!(l.payload_range(1 << 20).is_err(), "unknown code");
    }

    #[test]
    fn paths() {
        let mut out = [0u8; 64];
        let mac = ParentLocator {
            code: PLAT_CODE_MACX,
            ..Default::default()
        };
        assert_eq!(
            mac.decode_path(b"file://./p.vhd\0\0\0", &mut out).unwrap(),
            "./p.vhd"
        );
        assert!(mac.decode_path(b"./p.vhd", &mut out).is_err());
        assert!(mac.decode_path(b"file://a\0b", &mut out).is_err());
        let w = ParentLocator {
            code: PLAT_CODE_W2RU,
            ..Default::default()
        };
        let mut wide = [0u8; 32];
        let n = utf::utf8_to_utf16(".\\p.vhd", Endian::Little, &mut wide).unwrap();
        assert_eq!(w.decode_path(&wide[..n + 4], &mut out).unwrap(), ".\\p.vhd");
        assert!(w.decode_path(&wide[..n - 1], &mut out).is_err());
    }
}
