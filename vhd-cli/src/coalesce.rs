//! `vhd-util coalesce -n name`: merges a differencing disk into its immediate parent;
//! the child is not changed.
//!
//! blktap3 adds `-p` (percentages on stdout), `-s` (sparse parent writes) and a result
//! line, `Coalesced <N> sectors` without a newline, which XenServer's storage manager
//! parses; every failure then also prints `error coalescing: <err>`.

use std::io::Write;
use std::sync::mpsc::sync_channel;

use vhd_nostd::coalesce::ChildRuns;
use vhd_std::fileio::AlignedBuf;
use vhd_std::image::VhdDisk;
use vhd_std::{Errno, OpenOptions};

use crate::flavour::BLKTAP3;
use crate::getopt::{Getopt, Opt};
use crate::repair::name_only;

/// How much each of the two copy buffers holds (rounded down to whole blocks, at least
/// one): the child is read into one while the other is written to the parent.
const COPY_BYTES: usize = 32 << 20;

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
    merge(
        child.disk_mut(),
        parent_img.disk_mut(),
        bytes,
        &mut progress,
    )
    .map_err(|e| e.code())
}

/// Copies the child's runs into the parent, reading the next run while the last is
/// written: a thread reads the child into one buffer while this one writes the other
/// to the parent, so the device always has work. The parent's writes keep the core's
/// order (each run is a `Disk::write`, the flush at the end), so an interrupted merge is
/// as safe as the one-after-the-other [`vhd_nostd::coalesce::coalesce_counted`].
fn merge(
    child: &mut VhdDisk,
    parent: &mut VhdDisk,
    bytes: usize,
    progress: &mut (dyn FnMut(u32, u32) + Send),
) -> Result<u64, Errno> {
    let mut runs = ChildRuns::start(child, parent)?;
    let (full_tx, full_rx) = sync_channel::<(AlignedBuf, u64, usize)>(1);
    let (free_tx, free_rx) = sync_channel::<AlignedBuf>(2);
    for _ in 0..2 {
        let _ = free_tx.send(AlignedBuf::try_new(bytes).map_err(|_| Errno(-libc::ENOMEM))?);
    }
    let report = &mut *progress;
    let (read, written) = std::thread::scope(|s| {
        let reader = s.spawn(move || -> Result<ChildRuns, Errno> {
            // Ends when the runs do, or when the writer has stopped taking them.
            while let Ok(mut buf) = free_rx.recv() {
                let Some((sector, count)) = runs.read_next(child, &mut buf, report)? else {
                    break;
                };
                if full_tx.send((buf, sector, count)).is_err() {
                    break;
                }
            }
            Ok(runs)
        });
        let mut written = Ok(());
        for (buf, sector, count) in full_rx {
            if let Err(e) = parent.write(sector, &buf[..count * 512]) {
                written = Err(Errno::from(e));
                break;
            }
            let _ = free_tx.send(buf);
        }
        drop(free_tx);
        let read = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (read, written)
    });
    written?;
    let runs = read?;
    progress(runs.blocks(), runs.blocks());
    parent.flush()?;
    Ok(runs.copied())
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
