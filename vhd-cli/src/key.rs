//! `vhd-util key` (blktap3 only): the key hash stored with an image. `-p -n name`
//! prints it (`none`, or the nonce and the hash in hex); `-s -n name -H HASH [-N NONCE]`
//! stores one in an empty sparse image. Usage and diagnostics go to stderr.
//!
//! Not implemented yet (COMPATIBILITY.md): the key-file modes `-C -k`, `-s -k` and
//! `-c -k`, which hash a key file with SHA-256.

use vhd_nostd::keyhash::KeyHash;
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
    if a.key.is_some() {
        eprintln!("vhd-util key: key files (-k) are not supported by this build");
        return -libc::ENOSYS;
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
        // -s without -k has -H (checked by `valid`).
        let Some(Ok(hash)) = a.hash.as_deref().map(parse_hex) else {
            return -libc::EINVAL;
        };
        let nonce = match a.nonce.as_deref().map(parse_hex) {
            None => [0; 32],
            Some(Ok(n)) => n,
            Some(Err(())) => return -libc::EINVAL,
        };
        let kh = KeyHash { nonce, hash };
        if let Err(e) = set_key(&mut img, &kh) {
            eprintln!("setting key failed: {e}");
            return e.code();
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
fn set_key(img: &mut Image, kh: &KeyHash) -> Result<(), Errno> {
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
