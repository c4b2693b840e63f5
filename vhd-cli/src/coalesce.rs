//! `vhd-util coalesce -n name`: merges a differencing disk into its immediate parent;
//! the child is not changed.
//!
//! blktap3 adds `-p` (percentages on stdout), `-s` (sparse parent writes) and a result
//! line, `Coalesced <N> sectors` without a newline, which XenServer's storage manager
//! parses; every failure then also prints `error coalescing: <err>`.

use std::io::Write;

use vhd_std::fileio::AlignedBuf;
use vhd_std::{Errno, OpenOptions};

use crate::flavour::BLKTAP3;
use crate::getopt::{Getopt, Opt};
use crate::repair::name_only;

/// How much the copy buffer holds (rounded down to whole blocks, at least one). Reading
/// the child into a second buffer while this one is written was tried: no faster on a
/// disk whose bandwidth reads and writes share (BENCHMARKS.md), so one buffer it is.
const COPY_BYTES: usize = 64 << 20;

/// What was asked.
struct Request {
    name: String,
    /// blktap3 `-p`: percentages on stdout.
    percent: bool,
}

fn usage3() -> i32 {
    println!("options: <-n name> [-s sparse] [-p progress] [-h help]");
    -libc::EINVAL
}

/// blktap3's options: `-o`, `-a` and `-x` are in its option string but lead to the
/// usage, as there.
fn parse3(args: &[String]) -> Result<Request, i32> {
    let (mut name, mut percent) = (None, false);
    let mut g = Getopt::new(args, "n:o:a:x:sph");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('p', _) => percent = true,
            // blktap3 then skips zero-filling the data areas of the blocks the parent
            // gains; they are zero-filled here all the same (COMPATIBILITY.md).
            Opt::Opt('s', _) => println!("opening for sparse writes"),
            _ => return Err(usage3()),
        }
    }
    let name = g.with_no_operands(name).ok_or_else(usage3)?;
    Ok(Request { name, percent })
}

/// Runs the subcommand; `args[0]` is `coalesce`.
pub fn run(args: &[String]) -> i32 {
    let req = if BLKTAP3 {
        parse3(args)
    } else {
        name_only(args).map(|name| Request {
            name,
            percent: false,
        })
    };
    let req = match req {
        Ok(r) => r,
        Err(e) => return e,
    };
    match coalesce(&req) {
        Ok(sectors) => {
            if BLKTAP3 {
                print!("Coalesced {sectors} sectors");
                let _ = std::io::stdout().flush();
            }
            0
        }
        Err(code) => {
            if BLKTAP3 {
                println!("error coalescing: {code}");
            }
            code
        }
    }
}

/// Copies the child's sectors into its parent; returns how many were copied, or the
/// negative errno after printing why.
fn coalesce(req: &Request) -> Result<u64, i32> {
    let name = &req.name;
    let mut child = crate::open::open_image(name, OpenOptions::default())?;
    // Merging an image into itself (a parent locator resolving to the image) would
    // report success and change nothing meaningful; refuse any loop up front.
    crate::open::refuse_chain_loop(name, &mut child)?;
    if BLKTAP3 && !child.is_differencing() {
        println!("coalescing of non-differencing disks is not supported");
        return Err(-libc::EINVAL);
    }
    let parent = child.parent().map_err(|e| {
        println!("error finding {name} parent: {e}");
        e.code()
    })?;
    let mut parent_img = child.open_parent_at(&parent, true).map_err(|e| {
        let p = parent.path.display();
        if parent.raw {
            println!("failed to open parent {p}: {e}");
        } else {
            println!("error opening {p}: {e}");
        }
        e.code()
    })?;
    // Several blocks at a time: the parent then builds the blocks it lacks in groups
    // (one footer move, one BAT write, three flushes a group) instead of one by one.
    let block = child.disk().sectors_per_block() as usize * 512;
    let bytes = block * (COPY_BYTES / block).max(1);
    let mut bar = crate::progress::Progress::new("coalesce");
    let percent = req.percent;
    let mut progress = |d: u32, t: u32| {
        if percent {
            percent_line(d, t);
        }
        bar.update(u64::from(d), u64::from(t));
    };
    let mut buf = AlignedBuf::try_new(bytes).map_err(|_| -libc::ENOMEM)?;
    vhd_nostd::coalesce::coalesce_counted(
        child.disk_mut(),
        parent_img.disk_mut(),
        &mut buf,
        &mut progress,
    )
    .map_err(|e| Errno::from(e).code())
}

/// blktap3's `-p` output: `\r  5.00%` before each block, `\r100.00%` and a newline at
/// the end.
fn percent_line(done: u32, total: u32) {
    if done >= total {
        println!("\r100.00%");
    } else {
        print!("\r{:6.2}%", f64::from(done) * 100.0 / f64::from(total));
    }
}
