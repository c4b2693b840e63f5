//! `vhd-util revert -n name -j journal`: undoes an interrupted `resize` from its journal
//! (checked whole, then metadata copied back footers last, the file cut to the
//! journaled footer, the image enabled) and deletes the journal. An emptied (committed)
//! journal restores and cuts nothing: the image, already resized, is just enabled.

use std::path::Path;

use vhd_std::{journal, Errno};

use crate::getopt::{Getopt, Opt};

fn usage() -> i32 {
    println!("options: <-n name> <-j journal> [-h help]");
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `revert`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut jname) = (None, None);
    let mut g = Getopt::new(args, "n:j:h");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('j', v) => jname = v,
            _ => return usage(),
        }
    }
    let (Some(name), Some(jname)) = (name, jname) else {
        return usage();
    };
    if !g.operands().is_empty() {
        return usage();
    }
    for p in [&jname, &name] {
        if let Err(e) = std::fs::metadata(p) {
            let e = Errno::from(e);
            println!("opening journal failed: {e}");
            return e.code();
        }
    }
    if let Err(e) = journal::check(Path::new(&jname)) {
        println!("opening journal failed: {e}");
        return e.code();
    }
    if let Err(e) = journal::revert(Path::new(&jname), Path::new(&name)) {
        println!("reverting journal failed: {e}");
        return e.code();
    }
    if let Err(e) = journal::remove(Path::new(&jname)) {
        println!("removing journal failed: {e}");
        return e.code();
    }
    0
}
