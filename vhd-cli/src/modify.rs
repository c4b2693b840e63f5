//! `vhd-util modify -n name [-s bytes] [-p parent [-m]]`: moves the footer to make the
//! file `bytes` long, and points a differencing disk at a new parent.
//!
//! blktap3 adds `-z` (kill data: every block freed, the file cut back), run before
//! the others; the exit status is that of the last one run.

use std::path::Path;

use vhd_nostd::Io;
use vhd_std::fileio::{FileIo, OpenMode};
use vhd_std::reparent::{self, reparent, Link};
use vhd_std::{walk_chain_avoiding, ChainEnd, Errno, Image, OpenOptions};

use crate::flavour::{pick, PARENT_NAMING};
use crate::getopt::{Getopt, Opt};
use crate::open::open_image;
use crate::out::strtoull;
use crate::testfail::{self, Point};

fn usage() -> i32 {
    println!("*** Dangerous operations, use with care ***");
    println!(
        "{}",
        pick(
            "options: <-n name> [-p NEW_PARENT set parent [-m raw]] [-s NEW_SIZE set size] [-h help]",
            "options: <-n name> [-p NEW_PARENT set parent [-m raw]] [-s NEW_SIZE set size] [-z zero (kill data)] [-h help]",
        )
    );
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `modify`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut size, mut parent, mut raw, mut zero) = (None, None, None, false, false);
    let mut g = Getopt::new(args, pick("n:s:p:mh", "n:s:p:mzh"));
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('s', Some(v)) => {
                let (n, overflow) = strtoull(&v);
                if overflow {
                    eprintln!("Invalid size '{v}'");
                    return usage();
                }
                size = Some(n);
            }
            Opt::Opt('p', v) => parent = v,
            Opt::Opt('m', _) => raw = true,
            Opt::Opt('z', _) => zero = true,
            _ => return usage(),
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        return usage();
    };
    if let Some(p) = &parent {
        // A reparent killed before it finished left its journal and the image disabled:
        // back to the old link first, so that running the command again completes it.
        if let Err(e) = reparent::recover(Path::new(&name)) {
            println!("failed to set parent to '{p}': {e}");
            return e.code();
        }
    }
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut err = 0;
    if zero {
        if let Err(e) = kill_data(&mut img) {
            println!("failed to zero VHD: {e}");
            err = e.code();
        }
    }
    if let Some(bytes) = size {
        // Each step's status replaces the one before, as in the reference.
        err = match set_physical_size(&mut img, bytes) {
            Ok(()) => 0,
            Err(e) => {
                println!("failed to set physical size to {bytes}: {e}");
                e.code()
            }
        };
    }
    if let Some(p) = parent {
        err = match set_parent(&mut img, Path::new(&p), raw) {
            Ok(()) => 0,
            Err(e) => {
                println!("failed to set parent to '{p}': {e}");
                e.code()
            }
        };
    }
    err
}

/// `-z`: frees every block of a sparse disk; a fixed one has none to free (`-ENOSYS`).
fn kill_data(img: &mut Image) -> Result<(), Errno> {
    if img.disk().header().is_none() {
        return Err(Errno(-libc::ENOSYS));
    }
    Ok(img.disk_mut().kill_data()?)
}

/// Writes the footer at `bytes - 512` (the file is not truncated or extended otherwise).
/// The size must not cut into the data, and must be whole sectors as `O_DIRECT` needs.
fn set_physical_size(img: &mut Image, bytes: u64) -> Result<(), Errno> {
    let phys = img.physical_size()?;
    if bytes < phys || !bytes.is_multiple_of(512) {
        return Err(Errno::EINVAL);
    }
    let disk = img.disk_mut();
    let b = disk.footer().to_bytes();
    disk.io().write_at(bytes - 512, &b)?;
    disk.io().flush()?;
    Ok(())
}

/// Points the image at a new parent: its UUID (nil with `-m`), name, timestamp, and the
/// existing locators rewritten with the path relative to the child, crash-safe
/// (`vhd_std::reparent`).
fn set_parent(img: &mut Image, parent: &Path, raw: bool) -> Result<(), Errno> {
    let link = Link::new_as(img.path(), parent, raw, PARENT_NAMING)?;
    // Never the image itself or a parent whose own chain leads back to it: either
    // would make a chain that loops (the C library, as libvhd, does not check).
    let own = img.file_id()?;
    if FileIo::open(&link.path, OpenMode::ReadOnly)?.id()? == own {
        return Err(Errno::EINVAL);
    }
    if !raw {
        let mut p = Image::open(&link.path, OpenOptions::default())?;
        if matches!(
            walk_chain_avoiding(&mut p, &[own]),
            Ok(ChainEnd::Loop { .. })
        ) {
            return Err(Errno::EINVAL);
        }
    }
    testfail::at(Point::ReparentBegin);
    reparent(img, &link)?;
    testfail::at(Point::ReparentEnd);
    Ok(())
}
