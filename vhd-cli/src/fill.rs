//! `vhd-util fill -n name`: allocates every block with what the chain reads there, so a
//! differencing disk no longer needs its parents.

use vhd_std::fileio::AlignedBuf;
use vhd_std::{Chain, OpenOptions};

use crate::open::open_image;
use crate::repair::name_only;

/// Runs the subcommand; `args[0]` is `fill`.
pub fn run(args: &[String]) -> i32 {
    let name = match name_only(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    if img.disk().header().is_none() {
        return -libc::EINVAL;
    }
    if let Err(e) = crate::open::refuse_chain_loop(&name, &mut img) {
        return e;
    }
    let block = img.disk().sectors_per_block() as usize * 512;
    let res = Chain::from_image(img).and_then(|mut chain| {
        let mut buf = AlignedBuf::new(block);
        let mut bar = crate::progress::Progress::new("fill");
        vhd_nostd::fill::fill_with_progress(chain.disks_mut(), &mut buf, &mut |d, t| {
            bar.update(d, t)
        })
        .map_err(Into::into)
    });
    match res {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}
