//! `vhd-util copy -n SRC -N DST [-k KEYFILE | -E]` (blktap3 only): a new dynamic image
//! DST of SRC's size (its metadata sized for that size), holding SRC's content: each
//! block allocated in SRC's own BAT is read whole through SRC's chain and written to DST.
//! DST must not exist. Only a dynamic SRC can be copied (blktap3 creates DST with SRC's
//! type, which fails for the others).
//!
//! Not implemented (COMPATIBILITY.md): encryption on the way (`-k`, `-E`).

use std::path::Path;

use vhd_nostd::footer::DiskType;
use vhd_std::{Chain, Image, OpenOptions};

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
            Opt::Opt('k', _) | Opt::Opt('E', _) => keys += 1,
            _ => return usage(),
        }
    }
    if keys > 1 {
        eprintln!("Only supply -E or -k once");
        return 1;
    }
    let (Some(src), Some(dst)) = (src, dst) else {
        eprintln!("Must supply both existing and new VHD names");
        return usage();
    };
    if !g.operands().is_empty() {
        return usage();
    }
    if keys > 0 {
        eprintln!("vhd-util copy: encryption (-k, -E) is not supported by this build");
        return -libc::ENOSYS;
    }
    if Path::new(&dst).exists() {
        eprintln!("VHD file {dst} already exists, chose a different name");
        return -libc::EINVAL;
    }
    match copy(&src, &dst) {
        Ok(()) => 0,
        Err(e) => e,
    }
}

/// Copies `src` into the new image `dst`, reporting failures as blktap3 does.
fn copy(src: &str, dst: &str) -> Result<(), i32> {
    let mut from = Chain::open(src, OpenOptions::default()).map_err(|e| {
        eprintln!("error opening {src}: {}", e.code());
        e.code()
    })?;
    let size = from.top().size();
    if from.top().disk_type() != Some(DiskType::Dynamic) {
        eprintln!("error creating {dst}: {}", -libc::EINVAL);
        return Err(-libc::EINVAL);
    }
    vhd_std::create::create_file_preallocated(Path::new(dst), DiskType::Dynamic, size, size)
        .map_err(|e| {
            eprintln!("error creating {dst}: {}", e.code());
            e.code()
        })?;
    let writable = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut to = Image::open(dst, writable).map_err(|e| {
        eprintln!("error opening {dst}: {}", e.code());
        e.code()
    })?;
    let block_size = from
        .top()
        .header()
        .map_or(1 << 21, |h| h.block_size as usize);
    let spb = (block_size / 512) as u64;
    let blocks: Vec<u32> = from.top().bat().allocated().map(|(b, _)| b).collect();
    let mut buf = vec![0u8; block_size];
    for b in blocks {
        let sector = u64::from(b) * spb;
        // The last block of a size that is not a whole number of blocks is shorter.
        let len = ((size - sector * 512).min(block_size as u64)) as usize;
        let data = &mut buf[..len];
        from.read(sector, data).map_err(|e| {
            eprintln!("error reading block {b}: {}", e.code());
            e.code()
        })?;
        to.disk_mut().write(sector, data).map_err(|e| {
            let e = vhd_std::Errno::from(e).code();
            eprintln!("Failed to write block {b} : {e}");
            e
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn copies_allocated_blocks_through_the_chain() {
        let dir = std::env::temp_dir().join(format!("vhd-copy-test.{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (base, snap, dst) = (
            dir.join("base.vhd"),
            dir.join("snap.vhd"),
            dir.join("copy.vhd"),
        );
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        vhd_std::create::create_file(&base, DiskType::Dynamic, 6 << 20).unwrap();
        let rw = OpenOptions {
            writable: true,
            ..Default::default()
        };
        let mut img = Image::open(&base, rw).unwrap();
        img.disk_mut().write(8, &[0x5a; 1024]).unwrap();
        img.disk_mut().write(2 * 4096 + 1, &[0xa5; 512]).unwrap();
        drop(img);

        assert_eq!(run(&args(&["copy", "-n", &s(&base), "-N", &s(&dst)])), 0);
        let mut a = Chain::open(&base, OpenOptions::default()).unwrap();
        let mut b = Chain::open(&dst, OpenOptions::default()).unwrap();
        assert_eq!(b.top().size(), 6 << 20);
        let blocks = |c: &Chain| {
            c.top()
                .bat()
                .allocated()
                .map(|(b, _)| b)
                .collect::<Vec<_>>()
        };
        assert_eq!(blocks(&b), [0, 2]);
        let (mut x, mut y) = (vec![0u8; 6 << 20], vec![1u8; 6 << 20]);
        a.read(0, &mut x).unwrap();
        b.read(0, &mut y).unwrap();
        assert!(x == y);

        // DST must not exist; a differencing SRC is refused; -k and -E at most once.
        assert_eq!(
            run(&args(&["copy", "-n", &s(&base), "-N", &s(&dst)])),
            -libc::EINVAL
        );
        vhd_std::snapshot_file(&snap, &base, false).unwrap();
        let other = dir.join("other.vhd");
        assert_eq!(
            run(&args(&["copy", "-n", &s(&snap), "-N", &s(&other)])),
            -libc::EINVAL
        );
        assert!(!other.exists());
        assert_eq!(
            run(&args(&["copy", "-n", "a", "-N", "b", "-k", "k", "-E"])),
            1
        );
        assert_eq!(run(&args(&["copy", "-n", "a"])), -libc::EINVAL);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
