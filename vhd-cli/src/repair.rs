//! `vhd-util repair -n name`: rewrites the footer at the end of data from the footer in
//! force (the copy at offset 0 when the one at the end is damaged).

use vhd_std::OpenOptions;

use crate::getopt::{Getopt, Opt};
use crate::open::open_image;

fn usage() -> i32 {
    println!("options: <-n name> [-h help]");
    -libc::EINVAL
}

/// Parses the `-n name [-h]` options shared by repair, fill and coalesce.
pub fn name_only(args: &[String]) -> Result<String, i32> {
    let mut name = None;
    let mut g = Getopt::new(args, "n:h");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            _ => return Err(usage()),
        }
    }
    g.with_no_operands(name).ok_or_else(usage)
}

/// Runs the subcommand; `args[0]` is `repair`.
pub fn run(args: &[String]) -> i32 {
    let name = match name_only(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    // A read-write open already rewrites a damaged end footer from the copy at 0.
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    match crate::set::write_footer_at_end_of_data(&mut img) {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}
