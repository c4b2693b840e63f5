//! `vhd-update -n name [-j journal] [-r]`: the converter for images made by tap 0.1
//! (LSB-first bitmaps). Like the reference, it returns negative errnos as the exit
//! status (so the shell sees 256 - errno).
//!
//! Images not made by tap 0.1 need nothing: exit 0. For a tap 0.1 image the reference
//! first creates a journal at `-j`, which must already exist (it is checked for
//! readability) yet must not exist as a regular file to be created, so it fails with
//! `-EEXIST` unless the journal is a block device. This implementation does the same
//! checks; the conversion behind a block-device journal is not implemented and fails
//! with `-ENOSYS` (see COMPATIBILITY.md). Without `-j` the reference crashes; this one
//! fails with `-EINVAL`.

use std::os::unix::fs::FileTypeExt;

use vhd_nostd::footer::version;
use vhd_std::OpenOptions;

use crate::getopt::{Getopt, Opt};
use crate::open::open_image;

/// The usage text; its exit status is 22 (the one positive return).
fn usage() -> i32 {
    println!("usage: vhd-update <-n name> [-j existing journal] [-h]");
    libc::EINVAL
}

/// Runs `vhd-update`; `args[0]` is the program name. Returns the raw exit value.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut jname, mut rollback) = (None, None, false);
    let mut g = Getopt::new(args, "n:j:rh");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('j', v) => jname = v,
            Opt::Opt('r', _) => rollback = true,
            _ => return usage(),
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        return usage();
    };
    if rollback && jname.is_none() {
        println!("rollback requires a journal argument");
        return usage();
    }
    if let Some(j) = &jname {
        if std::fs::File::open(j).is_err() {
            println!("invalid journal arg {j}");
            return -libc::EINVAL;
        }
    }
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let f = img.disk().footer();
    if !f.is_tapdisk_creator() || f.crtr_ver != version(0, 1) {
        return 0;
    }
    let Some(j) = jname else {
        println!("error creating journal for {name}: {}", -libc::EINVAL);
        return -libc::EINVAL;
    };
    let is_block = std::fs::metadata(&j)
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false);
    if !is_block || img.disk().header().is_none() {
        let err = if is_block {
            -libc::EINVAL
        } else {
            -libc::EEXIST
        };
        println!("error creating journal for {name}: {err}");
        return err;
    }
    println!("update failed: {}; saving journal", -libc::ENOSYS);
    -libc::ENOSYS
}
