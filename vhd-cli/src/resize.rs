//! `vhd-util resize -n name -j journal -s MB`: grows a dynamic or differencing disk by
//! whole blocks, under a metadata journal that is replayed if the resize fails.
//!
//! As the reference: the journal (libvhd's layout, see `vhd_std::journal`) is made
//! first and the image poisoned (`v_poison`) until the end; on success the journal is
//! committed, the image enabled and the journal deleted. An injected failure point
//! leaves the image poisoned and the journal in place for `vhd-util revert`.
//!
//! When the larger BAT needs more room than lies before the first data block, the
//! blocks in its way move to the end of the file (journaled first; see
//! `vhd_nostd::resize`). Beyond the reference (COMPATIBILITY.md): a dynamic disk
//! shrinks when no allocated block lies past the new size, and a fixed disk grows or
//! shrinks to exactly the size given, under a journal of its footer.
//!
//! blktap3 adds `-f` (fast, instead of `-j`): growth into the BAT the image already has
//! room for (see `create -S`), which moves nothing and so needs no journal and is safe
//! while the disk is in use; only the footers change.

use std::path::Path;

use vhd_nostd::resize::Phase;
use vhd_nostd::DiskType;
use vhd_std::journal::{self, Journal};
use vhd_std::{Errno, Image, OpenOptions};

use crate::flavour::{pick, BLKTAP3};
use crate::getopt::{Getopt, Opt};
use crate::open::open_image;
use crate::out::strtoull;
use crate::testfail::{self, Point};

fn usage() -> i32 {
    if BLKTAP3 {
        println!("options: <-n name> <-s size (in MB)> (<-j journal>|<-f fast>) [-h help]");
        println!();
        println!("The resize operation can only be performed offline and must be journaled because resizing the metadata might require moving data blocks. However, if a VHD was created with -S <msize> option (during vhd-util create/snapshot), which preallocates the metadata for growing the VHD up to size <msize>, then resizing such a VHD up to <msize> can be performed online without journaling (-f option).");
    } else {
        println!("options: <-n name> <-j journal> <-s size (in MB)> [-h help]");
    }
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `resize`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut jname, mut size, mut fast) = (None, None, None, false);
    let mut g = Getopt::new(args, pick("n:j:s:h", "n:s:j:fh"));
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('j', v) => jname = v,
            Opt::Opt('s', Some(v)) => size = Some(strtoull(&v).0),
            Opt::Opt('f', _) => fast = true,
            _ => return usage(),
        }
    }
    // Exactly one of -j and -f (blktap2 has no -f).
    if jname.is_some() == fast {
        return usage();
    }
    let (Some(name), Some(mb)) = (name, size) else {
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
    let bytes = mb.wrapping_shl(20);
    let Some(jname) = jname else {
        return fast_resize(&name, &mut img, bytes);
    };
    let fixed = img.disk().disk_type() == Some(DiskType::Fixed);
    let made = if fixed {
        journal::create_fixed(Path::new(&jname), &mut img)
    } else {
        journal::create(Path::new(&jname), &mut img)
    };
    let mut jnl = match made {
        Ok(j) => j,
        Err(e) => {
            println!("creating journal failed: {e}");
            return e.code();
        }
    };
    testfail::at(Point::ResizeBegin);
    let res = if fixed {
        vhd_std::resize::resize_fixed(&mut img, &mut jnl, bytes)
    } else {
        resize_sparse(&mut img, &mut jnl, bytes)
    };
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

/// `-f`: grows to `bytes` rounded up to 2 MiB within the BAT the image has, footers
/// only. Smaller than now is refused with a message; a fixed disk, or a size the BAT
/// cannot cover, silently (blktap3 logs those to syslog only).
fn fast_resize(name: &str, img: &mut Image, bytes: u64) -> i32 {
    let disk = img.disk_mut();
    let Some(h) = disk.header() else {
        return -libc::EINVAL;
    };
    // Only what the BAT covers: the core could also take the spare entries of the
    // BAT's last sector, but that changes the header under a running tapdisk.
    let capacity = u64::from(h.max_bat_size) * u64::from(h.block_size);
    let new = vhd_std::create::round_to_block(bytes);
    if new > capacity {
        return -libc::EINVAL;
    }
    let cur = disk.size();
    if new < cur {
        println!("{name}: size ({new}) < curr size ({cur})");
        return -libc::EINVAL;
    }
    match vhd_nostd::resize::grow(disk, new) {
        Ok(()) => 0,
        // Growth past the BAT would move metadata: that is for -j.
        Err(vhd_nostd::Error::NoSpace | vhd_nostd::Error::BufferTooSmall { .. }) => -libc::EINVAL,
        Err(e) => Errno::from(e).code(),
    }
}

/// Grows to `bytes` as the reference rounds it: one more block per started block of
/// new sectors over the blocks the old size covers; the same sector count is no change.
/// A smaller size shrinks (to `bytes` exactly) if no allocated block lies past it.
fn resize_sparse(img: &mut Image, jnl: &mut Journal, bytes: u64) -> Result<(), Errno> {
    let disk = img.disk_mut();
    let old = disk.sectors();
    let new = bytes / 512;
    if new == old {
        return Ok(());
    }
    if new < old {
        return match vhd_nostd::resize::shrink(disk, bytes) {
            Err(vhd_nostd::Error::InvalidArgument(why)) => {
                println!("cannot shrink to {} MB: {why}", bytes >> 20);
                Err(Errno::EINVAL)
            }
            r => Ok(r?),
        };
    }
    let h = disk.header().cloned().ok_or(Errno::EINVAL)?;
    let spb = u64::from(h.sectors_per_block());
    let entries = old.div_ceil(spb) + (new - old).div_ceil(spb);
    let size = entries
        .checked_mul(u64::from(h.block_size))
        .ok_or(Errno::EINVAL)?;
    vhd_std::resize::grow(img, jnl, size, |phase| match phase {
        Phase::DataMoved => testfail::at(Point::ResizeDataMoved),
        Phase::MetadataMoved => testfail::at(Point::ResizeMetadataMoved),
    })
}
