//! blktap3's sector encryption ("aes-xts-plain", what its `libblockcrypto` and tapdisk
//! use): AES-XTS over each 512-byte sector on its own, a 32-byte key selecting AES-128
//! and a 64-byte key AES-256 (the two halves are XTS's data and tweak keys). The tweak
//! is the sector's number on the virtual disk, cut to its low 32 bits, little-endian,
//! in a 16-byte block otherwise zero (the "plain" IV, not "plain64": sectors 2^32 apart
//! share a tweak; a VHD of at most 2040 GiB has fewer sectors than that anyway).
//!
//! Also the key itself: read from a file or a pipe, 32 or 64 bytes.

use std::io::Read;

use aes::cipher::KeyInit;
use aes::{Aes128, Aes256};
use vhd_std::Errno;
use xts_mode::Xts128;

/// Bytes of a sector, the unit each tweak covers.
pub const SECTOR: usize = 512;

/// Why a key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Reading it failed.
    Io(Errno),
    /// Not 32 or 64 bytes (more than 64 is reported as 65).
    Size(usize),
    /// Its two halves are equal: XTS then degenerates (IEEE 1619 forbids it, and
    /// OpenSSL, which blktap3 encrypts with, refuses such a key).
    EqualHalves,
}

/// An AES-XTS key as read: 32 or 64 bytes.
pub struct Key {
    bytes: [u8; 64],
    len: usize,
}

impl Key {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.fill(0);
    }
}

/// Reads a key from `r` to its end: it must hold exactly 32 or 64 bytes. Reading stops
/// after 65 bytes, so a large file or an endless pipe costs nothing.
pub fn read_key(r: &mut impl Read) -> Result<Key, KeyError> {
    let mut buf = [0u8; 65];
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(KeyError::Io(Errno::from(e))),
        }
    }
    let mut key = Key {
        bytes: [0; 64],
        len: n,
    };
    let kept = if n == 32 || n == 64 { n } else { 0 };
    key.bytes[..kept].copy_from_slice(&buf[..kept]);
    buf.fill(0);
    if kept == 0 {
        return Err(KeyError::Size(n));
    }
    Ok(key)
}

/// The cipher of one key.
pub struct SectorCipher(Xts);

/// By key size; boxed, as the expanded AES keys take 1.4 and 1.9 KiB.
enum Xts {
    /// A 32-byte key.
    Aes128(Box<Xts128<Aes128>>),
    /// A 64-byte key.
    Aes256(Box<Xts128<Aes256>>),
}

impl SectorCipher {
    /// The cipher for `key`: 32 or 64 bytes with two different halves.
    pub fn new(key: &[u8]) -> Result<SectorCipher, KeyError> {
        if key.len() != 32 && key.len() != 64 {
            return Err(KeyError::Size(key.len()));
        }
        let half = key.len() / 2;
        let (k1, k2) = key.split_at(half);
        if k1 == k2 {
            return Err(KeyError::EqualHalves);
        }
        // Lengths are checked above, so the slices always fit.
        let bad = |_| KeyError::Size(key.len());
        Ok(SectorCipher(if half == 16 {
            let c = |k| Aes128::new_from_slice(k).map_err(bad);
            Xts::Aes128(Box::new(Xts128::new(c(k1)?, c(k2)?)))
        } else {
            let c = |k| Aes256::new_from_slice(k).map_err(bad);
            Xts::Aes256(Box::new(Xts128::new(c(k1)?, c(k2)?)))
        }))
    }

    /// The key's size in bits (256: AES-128, 512: AES-256).
    pub fn key_bits(&self) -> u32 {
        match self.0 {
            Xts::Aes128(_) => 256,
            Xts::Aes256(_) => 512,
        }
    }

    /// Encrypts, in place, the sectors in `data` (whole sectors; a shorter tail is left
    /// as is), the first being virtual sector `first`.
    pub fn encrypt(&self, first: u64, data: &mut [u8]) {
        for (i, s) in data.chunks_exact_mut(SECTOR).enumerate() {
            let tweak = tweak(first.wrapping_add(i as u64));
            match &self.0 {
                Xts::Aes128(x) => x.encrypt_sector(s, tweak),
                Xts::Aes256(x) => x.encrypt_sector(s, tweak),
            }
        }
    }
}

/// The tweak of virtual sector `sector`: its low 32 bits little-endian, then zeros.
pub fn tweak(sector: u64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..4].copy_from_slice(&(sector as u32).to_le_bytes());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The plaintext of IEEE 1619-2007 vectors 4 to 14: bytes 0..=255, twice.
    fn ieee_plaintext() -> Vec<u8> {
        (0..512).map(|i| i as u8).collect()
    }

    const KEY_E: &str = "27182818284590452353602874713526";
    const KEY_PI: &str = "31415926535897932384626433832795";
    const KEY_E_256: &str = "2718281828459045235360287471352662497757247093699959574966967627";
    const KEY_PI_256: &str = "3141592653589793238462643383279502884197169399375105820974944592";

    /// IEEE 1619-2007 vector 4: XTS-AES-128, data unit 0, 512 bytes.
    const VECTOR_4: &str = "
        27a7479befa1d476489f308cd4cfa6e2 a96e4bbe3208ff25287dd3819616e89c
        c78cf7f5e543445f8333d8fa7f560000 05279fa5d8b5e4ad40e736ddb4d35412
        328063fd2aab53e5ea1e0a9f332500a5 df9487d07a5c92cc512c8866c7e860ce
        93fdf166a24912b422976146ae20ce84 6bb7dc9ba94a767aaef20c0d61ad0265
        5ea92dc4c4e41a8952c651d33174be51 a10c421110e6d81588ede82103a252d8
        a750e8768defffed9122810aaeb99f91 72af82b604dc4b8e51bcb08235a6f434
        1332e4ca60482a4ba1a03b3e65008fc5 da76b70bf1690db4eae29c5f1badd03c
        5ccf2a55d705ddcd86d449511ceb7ec3 0bf12b1fa35b913f9f747a8afd1b130e
        94bff94effd01a91735ca1726acd0b19 7c4e5b03393697e126826fb6bbde8ecc
        1e08298516e2c9ed03ff3c1b7860f6de 76d4cecd94c8119855ef5297ca67e9f3
        e7ff72b1e99785ca0a7e7720c5b36dc6 d72cac9574c8cbbc2f801e23e56fd344
        b07f22154beba0f08ce8891e643ed995 c94d9a69c9f1b5f499027a78572aeebd
        74d20cc39881c213ee770b1010e4bea7 18846977ae119f7a023ab58cca0ad752
        afe656bb3c17256a9f6e9bf19fdd5a38 fc82bbe872c5539edb609ef4f79c203e
        bb140f2e583cb2ad15b4aa5b655016a8 449277dbd477ef2c8d6c017db738b18d
        eb4a427d1923ce3ff262735779a418f2 0a282df920147beabe421ee5319d0568";

    /// IEEE 1619-2007 vector 13: XTS-AES-256, data unit 0xffffffff, 512 bytes.
    const VECTOR_13: &str = "
        bf53d2dade78e822a4d949a9bc6766b0 1b06a8ef70d26748c6a7fc36d80ae4c5
        520f7c4ab0ac8544424fa405162fef5a 6b7f229498063618d39f0003cb5fb8d1
        c86b643497da1ff945c8d3bedeca4f47 9702a7a735f043ddb1d6aaade3c4a0ac
        7ca7f3fa5279bef56f82cd7a2f38672e 824814e10700300a055e1630b8f1cb0e
        919f5e942010a416e2bf48cb46993d3c b6a51c19bacf864785a00bc2ecff15d3
        50875b246ed53e68be6f55bd7e05cfc2 b2ed6432198a6444b6d8c247fab941f5
        69768b5c429366f1d3f00f0345b96123 d56204c01c63b22ce78baf116e525ed9
        0fdea39fa469494d3866c31e05f295ff 21fea8d4e6e13d67e47ce722e9698a1c
        1048d68ebcde76b86fcf976eab8aa979 0268b7068e017a8b9b749409514f1053
        027fd16c3786ea1bac5f15cb79711ee2 abe82f5cf8b13ae73030ef5b9e4457e7
        5d1304f988d62dd6fc4b94ed38ba831d a4b7634971b6cd8ec325d9c61c00f1df
        73627ed3745a5e8489f3a95c69639c32 cd6e1d537a85f75cc844726e8a72fc00
        77ad22000f1d5078f6b866318c668f1a d03d5a5fced5219f2eabbd0aa5c0f460
        d183f04404a0d6f469558e81fab24a16 7905ab4c7878502ad3e38fdbe62a4155
        6cec37325759533ce8f25f367c87bb55 78d667ae93f9e2fd99bcbc5f2fbba88c
        f6516139420fcff3b7361d86322c4bd8 4c82f335abb152c4a93411373aaa8220";

    #[test]
    fn ieee_1619_vector_4_aes128_sector_0() {
        let c = SectorCipher::new(&unhex(&format!("{KEY_E}{KEY_PI}"))).unwrap();
        assert_eq!(c.key_bits(), 256);
        let mut data = ieee_plaintext();
        c.encrypt(0, &mut data);
        assert_eq!(data, unhex(VECTOR_4));
    }

    #[test]
    fn ieee_1619_vector_13_aes256_sector_ffffffff() {
        let c = SectorCipher::new(&unhex(&format!("{KEY_E_256}{KEY_PI_256}"))).unwrap();
        assert_eq!(c.key_bits(), 512);
        let mut data = ieee_plaintext();
        c.encrypt(0xffff_ffff, &mut data);
        assert_eq!(data, unhex(VECTOR_13));
        // "plain": only the low 32 bits of the sector number count.
        let mut high = ieee_plaintext();
        c.encrypt(0x7_ffff_ffff, &mut high);
        assert_eq!(high, unhex(VECTOR_13));
    }

    #[test]
    fn each_sector_has_its_own_tweak() {
        let c = SectorCipher::new(&unhex(&format!("{KEY_E}{KEY_PI}"))).unwrap();
        // Sector 0 of a two-sector run encrypts as vector 4; sector 1 differently.
        let mut two: Vec<u8> = ieee_plaintext().repeat(2);
        c.encrypt(0, &mut two);
        assert_eq!(two[..512], unhex(VECTOR_4)[..]);
        assert_ne!(two[512..], two[..512]);
        let mut one = ieee_plaintext();
        c.encrypt(1, &mut one);
        assert_eq!(two[512..], one[..]);
        assert_eq!(tweak(0x1234_5678_9abc), {
            let mut t = [0u8; 16];
            t[..4].copy_from_slice(&[0xbc, 0x9a, 0x78, 0x56]);
            t
        });
    }

    #[test]
    fn key_sizes_and_halves() {
        assert!(matches!(
            SectorCipher::new(&[1; 48]),
            Err(KeyError::Size(48))
        ));
        assert!(matches!(
            SectorCipher::new(&[7; 32]),
            Err(KeyError::EqualHalves)
        ));
        let ok = |n: usize| read_key(&mut &(0..n).map(|i| i as u8).collect::<Vec<_>>()[..]);
        assert_eq!(ok(32).unwrap().as_bytes().len(), 32);
        assert_eq!(ok(64).unwrap().as_bytes()[63], 63);
        assert_eq!(ok(31).err(), Some(KeyError::Size(31)));
        assert_eq!(ok(0).err(), Some(KeyError::Size(0)));
        assert_eq!(ok(1000).err(), Some(KeyError::Size(65)));
    }
}
