//! `vhd-util snapshot -n name -p parent [-l limit] [-m]`: a differencing disk on top of
//! `parent` (or of the first non-empty image below it), or of a raw image with `-m`.
//!
//! blktap3 adds `-e` (link to the parent given even if it is an empty differencing
//! disk) and `-S MB` (metadata preallocated for that size, which must be at least the
//! parent's).

use std::path::Path;

use vhd_std::create::{find_backing_as, link_backing_as};
use vhd_std::{chain_depth, Errno, Image, OpenOptions};

use crate::flavour::{pick, BLKTAP3, PARENT_NAMING};
use crate::getopt::{Getopt, Opt};
use crate::out::strtoull;

fn usage() {
    println!(
        "{}",
        pick(
            "options: <-n name> <-p parent name> [-l snapshot depth limit] [-m parent_is_raw] [-h help]",
            "options: <-n name> <-p parent name> [-l snapshot depth limit] [-m parent_is_raw] [-S size (MB) for metadata preallocation (see vhd-util resize)] [-e link to supplied parent name even if it's empty] [-h help]",
        )
    );
}

/// Runs the subcommand; `args[0]` is `snapshot`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut parent, mut limit, mut raw) = (None, None, 0u64, false);
    let (mut msize, mut exact) = (0u64, false);
    let mut g = Getopt::new(args, pick("n:p:l:mh", "n:p:S:l:meh"));
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('p', v) => parent = v,
            Opt::Opt('l', Some(v)) => limit = strtoull(&v).0,
            Opt::Opt('m', _) => raw = true,
            Opt::Opt('S', Some(v)) => msize = strtoull(&v).0,
            Opt::Opt('e', _) => exact = true,
            other => {
                usage();
                return other.usage_status();
            }
        }
    }
    let (Some(name), Some(parent)) = (name, parent) else {
        usage();
        return -libc::EINVAL;
    };
    if !g.operands().is_empty() {
        usage();
        return -libc::EINVAL;
    }
    if !raw {
        if let Ok(mut p) = Image::open(&parent, OpenOptions::default()) {
            if let Err(e) = crate::open::refuse_chain_loop(&parent, &mut p) {
                return e;
            }
        }
    }
    let backing = if exact {
        link_backing_as(Path::new(&parent), raw, PARENT_NAMING)
    } else {
        find_backing_as(Path::new(&parent), raw, PARENT_NAMING)
    };
    let backing = match backing {
        Ok(b) => b,
        Err(e) => return e.code(),
    };
    if limit > 0 && !backing.raw {
        let depth = Image::open(
            &backing.path,
            OpenOptions {
                ignore_disabled: true,
                ..Default::default()
            },
        )
        .and_then(|mut img| chain_depth(&mut img));
        match depth {
            Ok(d) if d as u64 + 1 > limit => {
                println!("snapshot depth exceeded: current depth: {d}, limit: {limit}");
                return -libc::ENOSPC;
            }
            Ok(_) => {}
            Err(e) => {
                println!("error checking snapshot depth: {e}");
                return e.code();
            }
        }
    }
    let capacity = msize.wrapping_shl(20);
    let made = vhd_std::create::create_snapshot_preallocated(Path::new(&name), &backing, capacity);
    let made = made.and_then(|()| {
        if BLKTAP3 && !backing.raw {
            inherit_keyhash(&backing.path, Path::new(&name))
        } else {
            Ok(())
        }
    });
    match made {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

/// blktap3: the new child carries its backing image's key hash, so that the same key
/// still opens the chain.
fn inherit_keyhash(backing: &Path, child: &Path) -> Result<(), Errno> {
    let mut b = Image::open(backing, OpenOptions::default())?;
    let Some(kh) = vhd_std::tags::keyhash(&mut b)? else {
        return Ok(());
    };
    let writable = OpenOptions {
        writable: true,
        ..Default::default()
    };
    Ok(Image::open(child, writable)?.disk_mut().set_keyhash(&kh)?)
}
