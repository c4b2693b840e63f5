//! UTF-16 (as parent names and Windows locators store paths) to and from UTF-8, into
//! caller buffers.

/// Byte order of a UTF-16 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Big-endian: the header's parent name.
    Big,
    /// Little-endian: the `W2ku`/`W2ru` locators.
    Little,
}

/// Why a conversion failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UtfError {
    /// An odd number of bytes for UTF-16.
    OddLength,
    /// A lone or misordered surrogate.
    BadSurrogate,
    /// Input is not valid UTF-8.
    BadUtf8,
    /// The output buffer is too small.
    NoRoom,
}

fn unit(b: &[u8], i: usize, e: Endian) -> u16 {
    let pair = [b[2 * i], b[2 * i + 1]];
    match e {
        Endian::Big => u16::from_be_bytes(pair),
        Endian::Little => u16::from_le_bytes(pair),
    }
}

/// Decodes UTF-16 `src` into UTF-8 in `out`, stopping at the first NUL unit or the end of
/// `src`; returns the decoded string, which borrows `out`.
pub fn utf16_to_utf8<'o>(src: &[u8], e: Endian, out: &'o mut [u8]) -> Result<&'o str, UtfError> {
    if !src.len().is_multiple_of(2) {
        return Err(UtfError::OddLength);
    }
    let units = src.len() / 2;
    let mut i = 0;
    let mut n = 0;
    while i < units {
        let u = unit(src, i, e);
        i += 1;
        if u == 0 {
            break;
        }
        let c = match u {
            0xD800..=0xDBFF => {
                if i >= units {
                    return Err(UtfError::BadSurrogate);
                }
                let l = unit(src, i, e);
                if !(0xDC00..=0xDFFF).contains(&l) {
                    return Err(UtfError::BadSurrogate);
                }
                i += 1;
                0x10000 + ((u32::from(u) - 0xD800) << 10) + (u32::from(l) - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(UtfError::BadSurrogate),
            _ => u32::from(u),
        };
        let ch = char::from_u32(c).ok_or(UtfError::BadSurrogate)?;
        let len = ch.len_utf8();
        let dst = out.get_mut(n..n + len).ok_or(UtfError::NoRoom)?;
        ch.encode_utf8(dst);
        n += len;
    }
    core::str::from_utf8(&out[..n]).map_err(|_| UtfError::BadUtf8)
}

/// Encodes `s` as UTF-16 into `out` (no terminator); returns the number of bytes written.
pub fn utf8_to_utf16(s: &str, e: Endian, out: &mut [u8]) -> Result<usize, UtfError> {
    let mut n = 0;
    for u in s.encode_utf16() {
        let b = match e {
            Endian::Big => u.to_be_bytes(),
            Endian::Little => u.to_le_bytes(),
        };
        out.get_mut(n..n + 2)
            .ok_or(UtfError::NoRoom)?
            .copy_from_slice(&b);
        n += 2;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_orders() {
        for e in [Endian::Big, Endian::Little] {
            let mut wide = [0u8; 64];
            let n = utf8_to_utf16("dir\\ä𝄞.vhd", e, &mut wide).unwrap();
            let mut out = [0u8; 64];
            assert_eq!(
                utf16_to_utf8(&wide[..n], e, &mut out).unwrap(),
                "dir\\ä𝄞.vhd"
            );
            // A NUL terminates; trailing bytes are ignored.
            assert_eq!(utf16_to_utf8(&wide, e, &mut out).unwrap(), "dir\\ä𝄞.vhd");
        }
    }

    #[test]
    fn rejects_malformed() {
        let mut out = [0u8; 16];
        assert_eq!(
            utf16_to_utf8(&[0, 0x41, 0], Endian::Big, &mut out),
            Err(UtfError::OddLength)
        );
        assert_eq!(
            utf16_to_utf8(&[0xD8, 0, 0, 0x41], Endian::Big, &mut out),
            Err(UtfError::BadSurrogate)
        );
        assert_eq!(
            utf16_to_utf8(&[0xDC, 0], Endian::Big, &mut out),
            Err(UtfError::BadSurrogate)
        );
        assert_eq!(
            utf16_to_utf8(&[0xD8, 0], Endian::Big, &mut out),
            Err(UtfError::BadSurrogate)
        );
        let mut tiny = [0u8; 2];
        assert_eq!(
            utf16_to_utf8(&[0, 0x41, 0, 0x42, 0, 0x43], Endian::Big, &mut tiny),
            Err(UtfError::NoRoom)
        );
        assert_eq!(
            utf8_to_utf16("abc", Endian::Big, &mut tiny),
            Err(UtfError::NoRoom)
        );
    }
}
