//! `vhd-util query -n name [-v] [-s] [-p] [-f] [-d]`: virtual size (MiB), physical size
//! (bytes), parent, the hidden field and the chain depth, always in that order.

use vhd_std::{chain_depth, OpenOptions};

use crate::getopt::{Getopt, Opt};
use crate::open::open_image;

fn usage() {
    println!(
        "options: <-n name> [-v print virtual size (in MB)] [-s print physical utilization (bytes)] [-p print parent] [-f print fields] [-d print chain depth] [-h help]"
    );
}

/// Which facts to print.
#[derive(Default)]
struct Want {
    size: bool,
    phys: bool,
    parent: bool,
    fields: bool,
    depth: bool,
}

/// Runs the subcommand; `args[0]` is `query`.
pub fn run(args: &[String]) -> i32 {
    let mut name = None;
    let mut w = Want::default();
    let mut g = Getopt::new(args, "n:vspfdh");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('v', _) => w.size = true,
            Opt::Opt('s', _) => w.phys = true,
            Opt::Opt('p', _) => w.parent = true,
            Opt::Opt('f', _) => w.fields = true,
            Opt::Opt('d', _) => w.depth = true,
            Opt::Opt('h', _) => {
                usage();
                return 0;
            }
            _ => {
                usage();
                return -libc::EINVAL;
            }
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        usage();
        return -libc::EINVAL;
    };
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut err = 0;
    let mut note = |e: i32| {
        if err == 0 {
            err = e;
        }
    };
    if w.size {
        println!("{}", img.disk().size() >> 20);
    }
    if w.phys {
        match img.physical_size() {
            Ok(n) => println!("{n}"),
            Err(e) => {
                println!("failed to get physical size: {e}");
                note(e.code());
            }
        }
    }
    if w.parent {
        if !img.is_differencing() {
            println!("{name} has no parent");
        } else {
            match img.parent() {
                Ok(p) => println!("{}", p.path.display()),
                Err(e) => {
                    println!("query failed");
                    note(e.code());
                }
            }
        }
    }
    if w.fields {
        match crate::scan::hidden(&mut img) {
            Ok(h) => println!("hidden: {}", h as i8),
            Err(e) => {
                println!("error checking 'hidden' field: {e}");
                note(e.code());
            }
        }
    }
    if w.depth {
        if let Err(e) = crate::open::refuse_chain_loop(&name, &mut img) {
            note(e);
        } else {
            match chain_depth(&mut img) {
                Ok(d) => println!("chain depth: {d}"),
                Err(e) => {
                    println!("error checking chain depth: {e}");
                    note(e.code());
                }
            }
        }
    }
    err
}
