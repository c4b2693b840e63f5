//! `vhd-util copy -n SRC -N DST [-k KEYFILE | -E]` (blktap3 only): a new dynamic image
//! DST of SRC's virtual size holding, block for block, what SRC reads in each block SRC
//! has allocated. Only a dynamic SRC is copied (a fixed or differencing one:
//! `error creating DST: -22`, as blktap3).
//!
//! With a key (`-k` a file, `-E` standard input; 32 or 64 bytes) DST is encrypted as
//! tapdisk reads it ([`crate::cipher`]): DST's key hash is set (SHA-256 of a zero nonce
//! and the key, as `key -s -k` computes it) and, in each copied block, the sectors SRC's
//! bitmap marks are encrypted with their virtual sector number as tweak. The block is
//! written whole, so its other sectors (zeros) are stored in the clear, as blktap3 does.

use std::os::fd::AsFd;
use std::path::Path;

use vhd_nostd::keyhash::KeyHash;
use vhd_nostd::read::Source;
use vhd_nostd::DiskType;
use vhd_std::fileio::AlignedBuf;
use vhd_std::{create_file, Errno, Image, OpenOptions};

use crate::cipher::{self, Key, KeyError, SectorCipher};
use crate::getopt::{Getopt, Opt};

fn usage() -> i32 {
    println!(
        "options: -n <name> -N <new VHD name> [-k <keyfile> | -E (pass encryption key on stdin)] [-h help] "
    );
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `copy`.
pub fn run(args: &[String]) -> i32 {
    let (mut src, mut dst, mut key) = (None, None, None);
    let mut g = Getopt::new(args, "n:N:k:Eh");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => src = v,
            Opt::Opt('N', v) => dst = v,
            // Each key is read where it is given, as blktap3 does.
            Opt::Opt(c @ ('k' | 'E'), v) => {
                if key.is_some() {
                    eprintln!("Only supply -E or -k once");
                    return -1;
                }
                match key_option(if c == 'k' { v.as_deref() } else { None }) {
                    Ok(k) => key = Some(k),
                    Err(code) => return code,
                }
            }
            _ => return usage(),
        }
    }
    let (Some(src), Some(dst)) = (src, dst) else {
        eprintln!("Must supply both existing and new VHD names");
        return usage();
    };
    if !g.operands().is_empty() {
        return usage();
    }
    if std::fs::symlink_metadata(&dst).is_ok() {
        println!("VHD file {dst} already exists, chose a different name");
        return -libc::EINVAL;
    }
    let mut img = match Image::open(&src, OpenOptions::default()) {
        Ok(i) => i,
        Err(e) => {
            println!("error opening {src}: {e}");
            return e.code();
        }
    };
    if img.disk().disk_type() != Some(DiskType::Dynamic) {
        println!("error creating {dst}: {}", Errno::EINVAL);
        return Errno::EINVAL.code();
    }
    if let Err(e) = create_file(Path::new(&dst), DiskType::Dynamic, img.disk().size()) {
        println!("error creating {dst}: {e}");
        return e.code();
    }
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut out = match Image::open(&dst, opts) {
        Ok(i) => i,
        Err(e) => {
            println!("error opening {dst}: {e}");
            return e.code();
        }
    };
    if let Some((key, _)) = &key {
        let nonce = [0u8; 32];
        let kh = KeyHash {
            nonce,
            hash: crate::key::key_hash(&nonce, key.as_bytes()),
        };
        if let Err(e) = crate::key::set_key(&mut out, &kh) {
            println!("failed to set keyhash {e}");
            return e.code();
        }
    }
    match copy_blocks(&mut img, &mut out, key.as_ref().map(|(_, c)| c)) {
        Ok(()) => 0,
        Err(f) => {
            if let Failure::Write(b, e) = f {
                println!("Failed to write block {b} : {e}");
            }
            let (Failure::Read(b, e) | Failure::Write(b, e)) = f;
            println!("Failed to encrypt block {b}: {e}");
            e.code()
        }
    }
}

/// The key of `-k path` (`Some`) or `-E` (`None`: standard input), with its cipher;
/// else the return value, its diagnostic printed as blktap3 prints it.
fn key_option(path: Option<&str>) -> Result<(Key, SectorCipher), i32> {
    let read = match path {
        Some(p) => match std::fs::File::open(p) {
            Ok(mut f) => cipher::read_key(&mut f),
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                println!("Failed to open key file {p}: {errno}");
                return Err(-errno);
            }
        },
        // Unbuffered, through a duplicate of descriptor 0: std's buffered stdin would
        // take more than the key from a caller of libvhd's vhd_util_copy.
        None => match std::io::stdin().as_fd().try_clone_to_owned() {
            Ok(fd) => cipher::read_key(&mut std::fs::File::from(fd)),
            Err(e) => Err(KeyError::Io(Errno::from(e))),
        },
    };
    // blktap3 reports a failed read as a wrong size too (its read returned -1).
    let Ok(key) = read else {
        eprintln!("Unsupported keysize, use either 256 bit or 512 bit key");
        return Err(1);
    };
    match SectorCipher::new(key.as_bytes()) {
        Ok(c) => Ok((key, c)),
        Err(KeyError::EqualHalves) => {
            eprintln!("Unsupported key: its two halves are equal, which AES-XTS forbids");
            Err(1)
        }
        Err(_) => {
            eprintln!("Unsupported keysize, use either 256 bit or 512 bit key");
            Err(1)
        }
    }
}

/// Where a block's copy failed.
#[derive(Clone, Copy)]
enum Failure {
    /// Reading SRC (its data or bitmap).
    Read(u32, Errno),
    /// Writing DST.
    Write(u32, Errno),
}

/// Copies each block `src` has allocated, whole, through one block-sized buffer,
/// encrypting with `cipher` the sectors `src` itself holds. The last block stops at the
/// virtual end.
fn copy_blocks(
    src: &mut Image,
    dst: &mut Image,
    cipher: Option<&SectorCipher>,
) -> Result<(), Failure> {
    let spb = u64::from(src.disk().sectors_per_block());
    let sectors = src.disk().sectors();
    let blocks: Vec<u32> = src.disk().bat().allocated().map(|(b, _)| b).collect();
    let mut buf = AlignedBuf::new(spb as usize * 512);
    for b in blocks {
        let first = u64::from(b) * spb;
        if first >= sectors {
            continue;
        }
        let n = spb.min(sectors - first) as usize;
        let data = &mut buf[..n * 512];
        let read = |e| Failure::Read(b, e);
        src.disk_mut()
            .read(first, data)
            .map_err(|e| read(Errno::from(e)))?;
        if let Some(c) = cipher {
            encrypt_present(src, c, first, data).map_err(read)?;
        }
        dst.disk_mut()
            .write(first, data)
            .map_err(|e| Failure::Write(b, Errno::from(e)))?;
    }
    dst.disk_mut()
        .flush()
        .map_err(|e| Failure::Write(0, Errno::from(e)))
}

/// Encrypts the sectors of `data` (virtual sectors from `first`, within one block) that
/// `src`'s bitmap marks, run by run.
fn encrypt_present(
    src: &mut Image,
    cipher: &SectorCipher,
    first: u64,
    data: &mut [u8],
) -> Result<(), Errno> {
    let end = first + (data.len() / cipher::SECTOR) as u64;
    let mut s = first;
    while s < end {
        let (source, n) = src.disk_mut().map_sectors(s, (end - s) as u32)?;
        if let Source::Data(_) = source {
            let at = (s - first) as usize * cipher::SECTOR;
            cipher.encrypt(s, &mut data[at..at + n as usize * cipher::SECTOR]);
        }
        s += u64::from(n);
    }
    Ok(())
}
