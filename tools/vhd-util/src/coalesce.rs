//! `vhd-util coalesce -n name`: merges a differencing disk into its immediate parent;
//! the child is not changed.

use vhd_std::fileio::AlignedBuf;
use vhd_std::OpenOptions;

use crate::repair::name_only;

/// How much the copy buffer holds (rounded down to whole blocks, at least one).
const COPY_BYTES: usize = 64 << 20;

/// Runs the subcommand; `args[0]` is `coalesce`.
pub fn run(args: &[String]) -> i32 {
    let name = match name_only(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let mut child = match crate::open::open_image(&name, OpenOptions::default()) {
        Ok(i) => i,
        Err(code) => return code,
    };
    // Merging an image into itself (a parent locator resolving to the image) would
    // report success and change nothing meaningful; refuse any loop up front.
    if let Err(e) = crate::open::refuse_chain_loop(&name, &mut child) {
        return e;
    }
    let parent = match child.parent() {
        Ok(p) => p,
        Err(e) => {
            println!("error finding {name} parent: {e}");
            return e.code();
        }
    };
    let mut parent_img = match child.open_parent_at(&parent, true) {
        Ok(p) => p,
        Err(e) => {
            let p = parent.path.display();
            if parent.raw {
                println!("failed to open parent {p}: {e}");
            } else {
                println!("error opening {p}: {e}");
            }
            return e.code();
        }
    };
    // Several blocks at a time: the parent then builds the blocks it lacks in groups
    // (one footer move, one BAT write, three flushes a group) instead of one by one.
    let block = child.disk().sectors_per_block() as usize * 512;
    let mut buf = AlignedBuf::new(block * (COPY_BYTES / block).max(1));
    let mut bar = crate::progress::Progress::new("coalesce");
    let mut progress = |d: u32, t: u32| bar.update(u64::from(d), u64::from(t));
    match vhd_nostd::coalesce::coalesce_with_progress(
        child.disk_mut(),
        parent_img.disk_mut(),
        &mut buf,
        &mut progress,
    ) {
        Ok(()) => 0,
        Err(e) => vhd_std::Errno::from(e).code(),
    }
}
