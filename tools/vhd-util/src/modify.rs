//! `vhd-util modify -n name [-s bytes] [-p parent [-m]]`: moves the footer to make the
//! file `bytes` long, and points a differencing disk at a new parent.

use std::path::Path;

use uuid::Uuid;
use vhd_nostd::parent::NewParent;
use vhd_nostd::Io;
use vhd_std::fileio::{FileIo, OpenMode};
use vhd_std::path::{basename, canonical_dir_of, realpath, relative_path};
use vhd_std::time::mtime_vhd;
use vhd_std::{walk_chain_avoiding, ChainEnd, Errno, Image, OpenOptions};

use crate::getopt::{Getopt, Opt};
use crate::open::open_image;
use crate::out::strtoull;
use crate::testfail::{self, Point};

fn usage() -> i32 {
    println!("*** Dangerous operations, use with care ***");
    println!(
        "options: <-n name> [-p NEW_PARENT set parent [-m raw]] [-s NEW_SIZE set size] [-h help]"
    );
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `modify`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut size, mut parent, mut raw) = (None, None, None, false);
    let mut g = Getopt::new(args, "n:s:p:mh");
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
            _ => return usage(),
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        return usage();
    };
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut err = 0;
    if let Some(bytes) = size {
        if let Err(e) = set_physical_size(&mut img, bytes) {
            println!("failed to set physical size to {bytes}: {e}");
            err = e.code();
        }
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
/// existing locators rewritten with the path relative to the child.
fn set_parent(img: &mut Image, parent: &Path, raw: bool) -> Result<(), Errno> {
    let path = realpath(parent)?;
    // vhd-std's rule (a regular file or a block device, opened without blocking), and
    // never the image itself or a parent whose own chain leads back to it: either
    // would make a chain that loops.
    let own = img.file_id()?;
    let parent_id = FileIo::open(&path, OpenMode::ReadOnly)?.id()?;
    if parent_id == own {
        return Err(Errno::EINVAL);
    }
    let uuid = if raw {
        Uuid::nil()
    } else {
        let mut p = Image::open(&path, OpenOptions::default())?;
        if matches!(
            walk_chain_avoiding(&mut p, &[own]),
            Ok(ChainEnd::Loop { .. })
        ) {
            return Err(Errno::EINVAL);
        }
        p.disk().footer().uuid
    };
    let rel = relative_path(&canonical_dir_of(img.path())?, &path);
    let name = basename(&path);
    let timestamp = mtime_vhd(&path)?;
    testfail::at(Point::ReparentBegin);
    let mut scratch = vec![0u8; 2 * vhd_nostd::locator::PATH_MAX + 4096];
    img.disk_mut().set_parent(
        &NewParent {
            uuid,
            timestamp,
            name: &name,
            relative_path: &rel,
        },
        &mut scratch,
    )?;
    testfail::at(Point::ReparentEnd);
    Ok(())
}
