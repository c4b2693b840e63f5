//! `vhd-util create -n name -s MB [-r]`: a new dynamic (default) or fixed (`-r`) image.
//! The size is rounded up to 2 MiB; an existing file is overwritten. Prints nothing;
//! the exit status is the errno.

use std::path::Path;

use vhd_nostd::footer::DiskType;

use crate::getopt::{Getopt, Opt};
use crate::out::strtoull;

fn usage() -> i32 {
    println!("options: <-n name> <-s size (MB)> [-r reserve] [-h help]");
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `create`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut size, mut fixed) = (None, None, false);
    let mut g = Getopt::new(args, "n:s:rh");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('s', Some(v)) => size = Some(strtoull(&v).0),
            Opt::Opt('r', _) => fixed = true,
            _ => return usage(),
        }
    }
    let (Some(name), Some(mb)) = (name, size) else {
        return usage();
    };
    if !g.operands().is_empty() {
        return usage();
    }
    if name.len() >= 1023 {
        return -libc::ENAMETOOLONG;
    }
    let kind = if fixed {
        DiskType::Fixed
    } else {
        DiskType::Dynamic
    };
    match vhd_std::create_file(Path::new(&name), kind, mb.wrapping_shl(20)) {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}
