//! `vhd-util query -n name [-v] [-s] [-p] [-f] [-d]`: virtual size (MiB), physical size
//! (bytes), parent, the hidden field and the chain depth, always in that order.
//!
//! blktap3 adds `-m` (marker), `-a` (allocated blocks), `-S` (the size fast resize can
//! reach, MiB) and `-u` (the parent as stored); its fixed order is v, s, p, f, m, d, a,
//! S, which XenServer's storage manager relies on when it parses `query -vsafp`.

use vhd_nostd::allocation::allocated_blocks;
use vhd_std::{chain_depth, Errno, Image, OpenOptions};

use crate::flavour::{self, pick};
use crate::getopt::{Getopt, Opt};
use crate::open::open_image;

fn usage() {
    println!(
        "{}",
        pick(
            "options: <-n name> [-v print virtual size (in MB)] [-s print physical utilization (bytes)] [-p print parent] [-f print fields] [-d print chain depth] [-h help]",
            "options: <-n name> [-v print virtual size (in MB)] [-s print physical utilization (bytes)] [-p print parent] [-f print fields] [-m print marker] [-d print chain depth] [-S print max virtual size (MB) for fast resize] [-a print allocated block count] [-u don't resolve parent path] [-h help]",
        )
    );
}

/// Which facts to print.
#[derive(Default)]
struct Want {
    size: bool,
    phys: bool,
    parent: bool,
    fields: bool,
    marker: bool,
    depth: bool,
    allocated: bool,
    max_size: bool,
    unresolved: bool,
}

/// Runs the subcommand; `args[0]` is `query`.
pub fn run(args: &[String]) -> i32 {
    let mut name = None;
    let mut w = Want::default();
    let mut g = Getopt::new(args, pick("n:vspfdh", "n:vspfdSmauh"));
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('v', _) => w.size = true,
            Opt::Opt('s', _) => w.phys = true,
            Opt::Opt('p', _) => w.parent = true,
            Opt::Opt('f', _) => w.fields = true,
            Opt::Opt('d', _) => w.depth = true,
            Opt::Opt('m', _) => w.marker = true,
            Opt::Opt('a', _) => w.allocated = true,
            Opt::Opt('S', _) => w.max_size = true,
            Opt::Opt('u', _) => w.unresolved = true,
            other => {
                usage();
                return other.usage_status();
            }
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        usage();
        return -libc::EINVAL;
    };
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut err = 0;
    let mut note = |e: i32| {
        if err == 0 {
            err = e;
        }
    };
    if w.size {
        println!("{}", img.disk().size() >> 20);
    }
    if w.phys {
        match img.physical_size() {
            Ok(n) => println!("{n}"),
            Err(e) => {
                println!("failed to get physical size: {e}");
                note(e.code());
            }
        }
    }
    if w.parent {
        if !img.is_differencing() {
            println!("{name} has no parent");
        } else {
            match parent(&mut img, w.unresolved) {
                Ok(p) => println!("{p}"),
                Err(e) => {
                    println!("query failed");
                    note(e);
                }
            }
        }
    }
    if w.fields {
        match crate::scan::hidden(&mut img) {
            Ok(h) => println!("hidden: {}", h as i8),
            Err(e) => {
                println!("error checking 'hidden' field: {e}");
                note(e.code());
            }
        }
    }
    if w.marker {
        match vhd_std::tags::marker(&mut img) {
            Ok(m) => println!("marker: {}", m as i8),
            Err(e) => {
                println!("error checking 'marker' field: {e}");
                note(e.code());
            }
        }
    }
    if w.depth {
        if let Err(e) = crate::open::refuse_chain_loop(&name, &mut img) {
            note(e);
        } else {
            match chain_depth(&mut img) {
                Ok(d) => println!("chain depth: {d}"),
                Err(e) => {
                    println!("error checking chain depth: {e}");
                    note(e.code());
                }
            }
        }
    }
    if w.allocated {
        match allocated_blocks(img.disk()) {
            Ok(n) => println!("{n}"),
            Err(e) => {
                let e = Errno::from(e);
                println!("error reading bat: {e}");
                note(e.code());
            }
        }
    }
    if w.max_size {
        // MiB of 2 MiB blocks the BAT has room for (0 for a fixed disk), as blktap3
        // reckons it whatever the block size.
        let entries = img.disk().header().map_or(0, |h| h.max_bat_size);
        println!("{}", u64::from(entries) * 2);
    }
    err
}

/// The parent's path: resolved (the default), or as stored with `-u`, which needs no
/// parent file.
fn parent(img: &mut Image, unresolved: bool) -> Result<String, i32> {
    if unresolved {
        return img.unresolved_parent().map_err(Errno::code);
    }
    match img.find_parent_as(flavour::PARENT_NAMING) {
        Ok(p) => Ok(p.path.display().to_string()),
        Err(e) => Err(flavour::parent_not_found(e.code())),
    }
}
