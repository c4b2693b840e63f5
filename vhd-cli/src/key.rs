//! `vhd-util key` (blktap3 only): the key hash stored with an image. `-p -n name`
//! prints it (`none`, or the nonce and the hash in hex); `-s -n name -H HASH [-N NONCE]`
//! stores one in an empty sparse image; with `-k KEYFILE` instead of `-H` the hash is
//! SHA-256 of the nonce and the key. `-c -n name -k KEYFILE` checks the stored hash
//! against the key, `-C -k KEYFILE [-N NONCE]` prints the hash of a key. Usage and
//! diagnostics go to stderr.

use std::path::Path;

use sha2::{Digest, Sha256};
use vhd_nostd::keyhash::KeyHash;
use vhd_std::path::basename;
use vhd_std::{Errno, Image, OpenOptions};

use crate::getopt::{Getopt, Opt};

fn usage(code: i32) -> i32 {
    for l in [
        "usage:",
        "-C -k KEYPATH [-N NONCE]: calculate keyhash for KEYPATH",
        "-s -n NAME <-k KEYPATH> | -H HASH> [-N NONCE]: set keyhash for NAME",
        "-c -n NAME <-k KEYPATH>: check keyhash for NAME",
        "-p -n NAME: print keyhash for NAME",
        "-h help",
    ] {
        eprintln!("{l}");
    }
    code
}

/// The options given.
#[derive(Default)]
struct Args {
    name: Option<String>,
    key: Option<String>,
    nonce: Option<String>,
    hash: Option<String>,
    set: bool,
    check: bool,
    calc: bool,
    print: bool,
}

impl Args {
    /// Exactly one mode, each with the options it takes: `-C -k [-N]`; `-s -n` with
    /// one of `-k`/`-H` and optionally `-N`; `-c -n -k`; `-p -n` alone or with `-s`/`-c`.
    fn valid(&self) -> bool {
        let (n, k, h) = (self.name.is_some(), self.key.is_some(), self.hash.is_some());
        let nonce = self.nonce.is_some();
        if self.calc {
            return k && !n && !h && !self.set && !self.check && !self.print;
        }
        if self.set {
            return n && (k != h) && !self.check;
        }
        if self.check {
            return n && k && !h && !nonce;
        }
        self.print && n && !k && !h && !nonce
    }
}

/// Runs the subcommand; `args[0]` is `key`.
pub fn run(args: &[String]) -> i32 {
    let mut a = Args::default();
    let mut g = Getopt::new(args, "n:k:N:H:scCph");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => a.name = v,
            Opt::Opt('k', v) => a.key = v,
            Opt::Opt('N', v) => a.nonce = v,
            Opt::Opt('H', v) => a.hash = v,
            Opt::Opt('s', _) => a.set = true,
            Opt::Opt('c', _) => a.check = true,
            Opt::Opt('C', _) => a.calc = true,
            Opt::Opt('p', _) => a.print = true,
            Opt::Opt('h', _) => return usage(0),
            _ => return usage(-libc::EINVAL),
        }
    }
    if !a.valid() || !g.operands().is_empty() {
        return usage(-libc::EINVAL);
    }
    let nonce = match a.nonce.as_deref().map(parse_hex) {
        None => [0; 32],
        Some(Ok(n)) => n,
        Some(Err(())) => return -libc::EINVAL,
    };
    if a.calc {
        return match a.key.as_deref().map(|k| read_key(k, None)) {
            Some(Ok(key)) => {
                println!("{}", hex(&key_hash(&nonce, &key)));
                0
            }
            Some(Err(e)) => e,
            None => usage(-libc::EINVAL),
        };
    }
    let Some(name) = a.name.clone() else {
        return usage(-libc::EINVAL);
    };
    let mut img = match Image::open(
        &name,
        OpenOptions {
            writable: a.set,
            ..Default::default()
        },
    ) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("failed to open {name}: {e}");
            return e.code();
        }
    };
    if a.set {
        // -s has one of -k and -H (checked by `valid`).
        let hash = match (&a.key, a.hash.as_deref().map(parse_hex)) {
            (Some(k), _) => match read_key(k, Some(&name)) {
                Ok(key) => key_hash(&nonce, &key),
                Err(e) => return e,
            },
            (None, Some(Ok(h))) => h,
            (None, _) => return -libc::EINVAL,
        };
        let kh = KeyHash { nonce, hash };
        if let Err(e) = set_key(&mut img, &kh) {
            eprintln!("setting key failed: {e}");
            return e.code();
        }
    }
    if a.check {
        if let Some(k) = &a.key {
            if let Err(e) = check_key(&mut img, k, &name) {
                eprintln!("key check failed: {e}");
                return e;
            }
        }
    }
    if a.print {
        match vhd_std::tags::keyhash(&mut img) {
            Ok(None) => println!("none"),
            Ok(Some(k)) => println!("{} {}", hex(&k.nonce), hex(&k.hash)),
            Err(e) => {
                eprintln!("error reading keyhash: {e}");
                return e.code();
            }
        }
    }
    0
}

/// Stores the key hash of an empty sparse image, with blktap3's refusals.
pub(crate) fn set_key(img: &mut Image, kh: &KeyHash) -> Result<(), Errno> {
    if img.disk().header().is_none() {
        eprintln!("vhd_util_set_key: can't save key hashes for fixed vhds");
        return Err(Errno::EINVAL);
    }
    if img.disk().bat().allocated().next().is_some() {
        eprintln!("vhd_util_set_key: can't save key hashes for non-empty vhds");
        return Err(Errno::EINVAL);
    }
    Ok(img.disk_mut().set_keyhash(kh)?)
}

/// SHA-256 of the nonce, then the key.
pub(crate) fn key_hash(nonce: &[u8; 32], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(key);
    h.finalize().into()
}

/// The key in file `path`. For image `image` (`-s`, `-c`) the file's name must start
/// with `<image name without .vhd>,aes-xts-plain,512.key` (a 64-byte key) or `...,256.key`
/// (32 bytes), as blktap3 names key files; `-C` takes any file. Errors are exit codes
/// with their diagnostic printed.
fn read_key(path: &str, image: Option<&str>) -> Result<Vec<u8>, i32> {
    let want = match image {
        None => None,
        Some(image) => {
            let vhd = basename(Path::new(image));
            let stem = vhd.strip_suffix(".vhd").unwrap_or(&vhd);
            let name = basename(Path::new(path));
            let size = [("512", 64), ("256", 32)]
                .into_iter()
                .find(|(bits, _)| name.starts_with(&format!("{stem},aes-xts-plain,{bits}.key")));
            match size {
                Some((_, bytes)) => Some(bytes),
                None => {
                    eprintln!("Invalid key name {path}");
                    return Err(-1);
                }
            }
        }
    };
    let key = std::fs::read(path).map_err(|e| {
        let e = Errno::from(e);
        eprintln!("vhd_util_read_key: failed to read keyfile {path}: {e}");
        e.code()
    })?;
    eprintln!(
        "vhd_util_read_key: using keyfile {path}, Size (bytes) {}",
        key.len()
    );
    if want.is_some_and(|n| n != key.len()) {
        eprintln!(
            "vhd_util_read_key: keyfile {path} is not {} bytes",
            want.unwrap_or(0)
        );
        return Err(-libc::EINVAL);
    }
    Ok(key)
}

/// `-c`: the key hashed with the stored nonce must be the stored hash.
fn check_key(img: &mut Image, key: &str, name: &str) -> Result<(), i32> {
    let key = read_key(key, Some(name))?;
    let Some(stored) = vhd_std::tags::keyhash(img).map_err(|e| e.code())? else {
        eprintln!("this vhd has no keyhash");
        return Err(-libc::EINVAL);
    };
    if key_hash(&stored.nonce, &key) != stored.hash {
        eprintln!("vhd hash doesn't match key hash");
        return Err(-libc::EINVAL);
    }
    Ok(())
}

/// 64 hex digits (either case) as 32 bytes, else blktap3's diagnostic.
fn parse_hex(s: &str) -> Result<[u8; 32], ()> {
    if s.len() != 64 {
        eprintln!("vhd_util_set_hex: invalid size for hex string");
        return Err(());
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        let (Some(h), Some(l)) = (digit(pair[0]), digit(pair[1])) else {
            eprintln!("vhd_util_set_hex: invalid hex digit");
            return Err(());
        };
        out[i] = (h * 16 + l) as u8;
    }
    Ok(out)
}

/// Lower-case hex of `b`, as blktap3 prints nonces and hashes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_both_ways() {
        let s = "00ff10Ab".repeat(8);
        let b = parse_hex(&s).unwrap();
        assert_eq!(&b[..4], &[0, 0xff, 0x10, 0xab]);
        assert_eq!(hex(&b), s.to_lowercase());
        assert!(parse_hex("00").is_err());
        assert!(parse_hex(&"zz".repeat(32)).is_err());
    }
}
