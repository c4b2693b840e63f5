//! `vhd-util create -n name -s MB [-r]`: a new dynamic (default) or fixed (`-r`) image.
//! The size is rounded up to 2 MiB; an existing file is overwritten. Prints nothing;
//! the exit status is the errno.
//!
//! blktap3 adds `-S MB`: the BAT and batmap are sized for that virtual size (metadata
//! preallocation), so `resize -f` can later grow the disk to it online.

use std::path::Path;

use vhd_nostd::footer::DiskType;

use crate::flavour::pick;
use crate::getopt::{Getopt, Opt};
use crate::out::strtoull;

fn usage() -> i32 {
    println!(
        "{}",
        pick(
            "options: <-n name> <-s size (MB)> [-r reserve] [-h help]",
            "options: <-n name> <-s size (MB)> [-r reserve] [-h help] [<-S size (MB) for metadata preallocation (see vhd-util resize)>]",
        )
    );
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `create`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut size, mut msize, mut fixed) = (None, None, None, false);
    let mut g = Getopt::new(args, pick("n:s:rh", "n:s:S:rh"));
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('s', Some(v)) => size = Some(strtoull(&v).0),
            Opt::Opt('S', Some(v)) => msize = Some(strtoull(&v).0),
            Opt::Opt('r', _) => fixed = true,
            _ => return usage(),
        }
    }
    // blktap3: `-S` alone gives a disk of size 0 with room to grow.
    let Some(name) = name.filter(|_| size.is_some() || msize.is_some()) else {
        return usage();
    };
    if !g.operands().is_empty() {
        return usage();
    }
    let (mb, msize) = (size.unwrap_or(0), msize.unwrap_or(0));
    if mb != 0 && msize != 0 && msize < mb {
        println!("Error: <-S size> must be greater than <-s size>");
        return -libc::EINVAL;
    }
    if name.len() >= 1023 {
        return -libc::ENAMETOOLONG;
    }
    let kind = if fixed {
        DiskType::Fixed
    } else {
        DiskType::Dynamic
    };
    let made = vhd_std::create::create_file_preallocated(
        Path::new(&name),
        kind,
        mb.wrapping_shl(20),
        msize.wrapping_shl(20),
    );
    match made {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}
