//! blktap3's key hash: the SHA-256 of a nonce followed by an encryption key, kept in
//! the batmap header sector (bytes 29..94: a cookie byte, 1 when present, the nonce,
//! the hash) so that a disk's key can be checked before it is used. The map's checksum
//! does not cover it, and blktap2 readers ignore it.

use crate::disk::Disk;
use crate::error::Error;
use crate::io::Io;

/// Offset of the key hash in the batmap header's `rest` (byte 29 of the sector).
const AT: usize = 1;
/// Encoded length: cookie, nonce, hash.
pub const KEYHASH_BYTES: usize = 65;

/// A stored key hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash {
    /// The nonce hashed before the key.
    pub nonce: [u8; 32],
    /// SHA-256 of nonce then key.
    pub hash: [u8; 32],
}

impl KeyHash {
    /// Decodes the 65 stored bytes: `None` unless the cookie byte is 1.
    pub fn decode(b: &[u8; KEYHASH_BYTES]) -> Option<KeyHash> {
        if b[0] != 1 {
            return None;
        }
        let mut k = KeyHash {
            nonce: [0; 32],
            hash: [0; 32],
        };
        k.nonce.copy_from_slice(&b[1..33]);
        k.hash.copy_from_slice(&b[33..65]);
        Some(k)
    }

    /// The 65 stored bytes, cookie 1.
    pub fn encode(&self) -> [u8; KEYHASH_BYTES] {
        let mut b = [0u8; KEYHASH_BYTES];
        b[0] = 1;
        b[1..33].copy_from_slice(&self.nonce);
        b[33..65].copy_from_slice(&self.hash);
        b
    }
}

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// The key hash bytes of the batmap header, if the image has a batmap header.
    pub fn keyhash_bytes(&self) -> Option<[u8; KEYHASH_BYTES]> {
        let h = self.batmap_hdr.as_ref()?;
        let mut b = [0u8; KEYHASH_BYTES];
        b.copy_from_slice(&h.rest[AT..AT + KEYHASH_BYTES]);
        Some(b)
    }

    /// Stores `keyhash` in the batmap header: one sector write, old or new after a
    /// crash; the marker and the rest of the sector are kept.
    pub fn set_keyhash(&mut self, keyhash: &KeyHash) -> Result<(), Error<I::Error>> {
        self.set_batmap_rest(AT, &keyhash.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_absent() {
        let k = KeyHash {
            nonce: [3; 32],
            hash: [0xab; 32],
        };
        let b = k.encode();
        assert_eq!(KeyHash::decode(&b), Some(k));
        let mut none = b;
        none[0] = 0;
        assert_eq!(KeyHash::decode(&none), None);
    }
}
