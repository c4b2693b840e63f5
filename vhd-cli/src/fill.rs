//! `vhd-util fill -n name`: allocates every block with what the chain reads there, so a
//! differencing disk no longer needs its parents.
//!
//! blktap3 adds `-b [-f SECTOR] [-t SECTOR] [-B]`: the blocks of a sector range are
//! allocated without writing data (the core's `Disk::preallocate`).

use vhd_std::fileio::AlignedBuf;
use vhd_std::Chain;

use crate::flavour::BLKTAP3;
use crate::getopt::{Getopt, Opt};
use crate::open::open_image_rw;
use crate::out::{strerror, strtoull};
use crate::repair::name_only;

fn usage() -> i32 {
    println!("options: <-n name> [-h help] [-b initialise the BAT and bitmaps, don't write to the data blocks (much faster)] [-f start intialisation from this sector, only usable with -b] [-t intialise up to this sector (inclusive), only usable with -b] [-B ignore the 2 TB limit, only usable with -b]");
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `fill`.
pub fn run(args: &[String]) -> i32 {
    if BLKTAP3 {
        return run_blktap3(args);
    }
    let name = match name_only(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    fill(&name)
}

/// blktap3's `fill -n name [-b [-f SECTOR] [-t SECTOR] [-B]]`.
fn run_blktap3(args: &[String]) -> i32 {
    let (mut name, mut from, mut to, mut bitmaps, mut big) = (None, None, None, false, false);
    let mut g = Getopt::new(args, "n:f:t:bBh");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('f', Some(v)) => from = Some(strtoull(&v).0),
            Opt::Opt('t', Some(v)) => to = Some(strtoull(&v).0),
            Opt::Opt('b', _) => bitmaps = true,
            Opt::Opt('B', _) => big = true,
            _ => return usage(),
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        return usage();
    };
    if !bitmaps {
        if from.is_some() || to.is_some() {
            println!("-f/-t can only be used with -b");
            return usage();
        }
        if big {
            println!("-B can only be used with -b");
            return usage();
        }
        return fill(&name);
    }
    let from = from.unwrap_or(0);
    if to.is_some_and(|t| t < from) {
        println!("invalid sector range {from}-{}", to.unwrap_or(0));
        return usage();
    }
    // -B: blktap3 then writes BAT entries past 2^32 sectors, which a 32-bit entry
    // cannot hold; here the limit stays (COMPATIBILITY.md).
    let _ = big;
    preallocate(&name, from, to)
}

/// `-b`: the blocks of sectors `from..=to` (to the end without `-t`) allocated without
/// data.
fn preallocate(name: &str, from: u64, to: Option<u64>) -> i32 {
    let mut img = match open_image_rw(name) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let spb = u64::from(img.disk().sectors_per_block().max(1));
    let block = |s: u64| u32::try_from(s / spb).unwrap_or(u32::MAX);
    let (first, last) = (block(from), to.map_or(u32::MAX, block));
    let disk = img.disk_mut();
    match disk.preallocate(first, last) {
        Ok(_) => 0,
        Err(vhd_nostd::Error::NoSpace) => {
            let at = (first..=last)
                .find(|&b| disk.bat().raw(b) == Some(vhd_nostd::bat::UNUSED))
                .unwrap_or(first);
            println!("sector offset for extent {at} exceeds the 2 TB limit");
            -libc::EOVERFLOW
        }
        Err(e) => {
            let e = vhd_std::Errno::from(e);
            println!("failed to initialise bitmaps: {}", strerror(-e.code()));
            e.code()
        }
    }
}

/// Fills every block from the chain.
fn fill(name: &str) -> i32 {
    let mut img = match open_image_rw(name) {
        Ok(i) => i,
        Err(code) => return code,
    };
    if img.disk().header().is_none() {
        return -libc::EINVAL;
    }
    if let Err(e) = crate::open::refuse_chain_loop(name, &mut img) {
        return e;
    }
    let block = img.disk().sectors_per_block() as usize * 512;
    let res = Chain::from_image(img).and_then(|mut chain| {
        let mut buf = AlignedBuf::new(block);
        let mut bar = crate::progress::Progress::new("fill");
        vhd_nostd::fill::fill_with_progress(chain.disks_mut(), &mut buf, &mut |d, t| {
            bar.update(d, t)
        })
        .map_err(Into::into)
    });
    match res {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}
