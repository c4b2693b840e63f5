//! `vhd-util resize -n name -j journal -s MB`: grows a dynamic or differencing disk by
//! whole 2 MiB blocks, under a metadata journal that is replayed if the resize fails.
//!
//! As the reference: the journal (libvhd's layout, see `vhd_std::journal`) is made
//! first and the image poisoned (`v_poison`) until the end; on success the journal is
//! committed, the image enabled and the journal deleted. An injected failure point
//! leaves the image poisoned and the journal in place for `vhd-util revert`.
//!
//! The core grows in place (new BAT entries come from the padding of the BAT's last
//! sector), so no data block moves; a growth that would need the BAT to move fails with
//! `-ENOSPC` where the reference moves blocks (see COMPATIBILITY.md).

use std::path::Path;

use vhd_std::{journal, Errno, Image, OpenOptions};

use crate::getopt::{Getopt, Opt};
use crate::open::open_image;
use crate::out::strtoull;
use crate::testfail::{self, Point};

fn usage() -> i32 {
    println!("options: <-n name> <-j journal> <-s size (in MB)> [-h help]");
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `resize`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut jname, mut size) = (None, None, None);
    let mut g = Getopt::new(args, "n:j:s:h");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('j', v) => jname = v,
            Opt::Opt('s', Some(v)) => size = Some(strtoull(&v).0),
            _ => return usage(),
        }
    }
    let (Some(name), Some(jname), Some(mb)) = (name, jname, size) else {
        return usage();
    };
    if !g.operands().is_empty() {
        return usage();
    }
    let opts = OpenOptions {
        writable: true,
        strict: true,
        ..Default::default()
    };
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    if !img.disk().footer().is_tapdisk_creator() {
        println!("{name} not created by xen; resize not supported");
        return -libc::EINVAL;
    }
    let jnl = match journal::create(Path::new(&jname), &mut img) {
        Ok(j) => j,
        Err(e) => {
            println!("creating journal failed: {e}");
            return e.code();
        }
    };
    testfail::at(Point::ResizeBegin);
    let res = grow(&mut img, mb.wrapping_shl(20));
    testfail::at(Point::ResizeEnd);
    match res {
        Err(e) => {
            println!("resize failed: {e}");
            if let Err(je) = jnl.revert(img) {
                println!("closing journal failed: {je}");
            }
            e.code()
        }
        Ok(()) => match jnl.commit(&mut img) {
            Ok(()) => 0,
            Err(e) => {
                println!("closing journal failed: {e}");
                e.code()
            }
        },
    }
}

/// Grows to `bytes` as the reference rounds it: one more 2 MiB BAT entry per started
/// 4096 new sectors; the same sector count is no change, a smaller one is refused.
fn grow(img: &mut Image, bytes: u64) -> Result<(), Errno> {
    let disk = img.disk_mut();
    let old = disk.sectors();
    let new = bytes / 512;
    if new == old {
        return Ok(());
    }
    if new < old {
        println!("dynamic shrink not fully implemented");
        return Err(Errno(-libc::ENOSYS));
    }
    let h = disk.header().cloned().ok_or(Errno::EINVAL)?;
    let spb = u64::from(h.sectors_per_block());
    let entries = u64::from(h.max_bat_size) + (new - old).div_ceil(spb);
    testfail::at(Point::ResizeDataMoved);
    testfail::at(Point::ResizeMetadataMoved);
    let size = entries
        .checked_mul(u64::from(h.block_size))
        .ok_or(Errno::EINVAL)?;
    vhd_nostd::resize::grow(disk, size)?;
    Ok(())
}
