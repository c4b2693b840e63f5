//! `vhd-util copy -n SRC -N DST` (blktap3 only): a new dynamic image DST of SRC's
//! virtual size holding, block for block, what SRC reads in each block SRC has
//! allocated. Only a dynamic SRC is copied (a fixed or differencing one:
//! `error creating DST: -22`, as blktap3).
//!
//! Not implemented (COMPATIBILITY.md): the encrypted copy (`-k KEYFILE`, `-E` key on
//! stdin), which encrypts with AES-XTS through blktap3's crypto library.

use std::path::Path;

use vhd_nostd::DiskType;
use vhd_std::fileio::AlignedBuf;
use vhd_std::{create_file, Errno, Image, OpenOptions};

use crate::getopt::{Getopt, Opt};

fn usage() -> i32 {
    println!(
        "options: -n <name> -N <new VHD name> [-k <keyfile> | -E (pass encryption key on stdin)] [-h help] "
    );
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `copy`.
pub fn run(args: &[String]) -> i32 {
    let (mut src, mut dst, mut keys) = (None, None, 0);
    let mut g = Getopt::new(args, "n:N:k:Eh");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => src = v,
            Opt::Opt('N', v) => dst = v,
            Opt::Opt('k', _) | Opt::Opt('E', _) => {
                keys += 1;
                if keys > 1 {
                    eprintln!("Only supply -E or -k once");
                    return -1;
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
    if keys > 0 {
        eprintln!("copy: encrypted copies (-k, -E) are not supported by this build");
        return -libc::ENOSYS;
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
    match copy_blocks(&mut img, &mut out) {
        Ok(()) => 0,
        Err((block, e)) => {
            println!("Failed to write block {block} : {e}");
            e.code()
        }
    }
}

/// Copies each block `src` has allocated, whole, through one block-sized buffer. The
/// last block stops at the virtual end.
fn copy_blocks(src: &mut Image, dst: &mut Image) -> Result<(), (u32, Errno)> {
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
        src.disk_mut()
            .read(first, data)
            .map_err(|e| (b, Errno::from(e)))?;
        dst.disk_mut()
            .write(first, data)
            .map_err(|e| (b, Errno::from(e)))?;
    }
    dst.disk_mut().flush().map_err(|e| (0, Errno::from(e)))
}
