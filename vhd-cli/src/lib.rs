//! The subcommands of `vhd-util` and `vhd-update`, command-line compatible with Xen
//! blktap2's tools (the reference CLI specification, `abi/vhd-util-cli.md` of the
//! project's reference material): the same subcommands, options, output text and exit
//! codes, over the vhd-rs engine. A library because two programs run them: the
//! `vhd-util`/`vhd-update` binaries (`tools/vhd-util`, each a [`process_main`]) and
//! `libvhd.so`, which exports them as the reference library's `vhd_util_*`.
//!
//! Each subcommand is a module with a `run(args) -> i32` taking the arguments after the
//! command name (with `args[0]` the command name, as the reference passes it) and returning
//! what the reference's `vhd_util_*` function returns: 0, a negative errno, or a positive
//! value for the few usage paths that return one.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod check;
pub mod check_stats;
pub mod cipher;
pub mod coalesce;
pub mod copy;
pub mod create;
pub mod dump;
pub mod fill;
pub mod flavour;
pub mod getopt;
pub mod key;
pub mod lvm;
pub mod modify;
pub mod open;
pub mod out;
pub mod progress;
pub mod query;
pub mod read;
pub mod repair;
pub mod resize;
pub mod revert;
pub mod scan;
pub mod scan_volume;
pub mod set;
pub mod snapshot;
pub mod testfail;
pub mod update;

/// A subcommand entry point.
pub type Command = fn(&[String]) -> i32;

/// The subcommands, in the order the usage lists them; blktap3 adds [`BLKTAP3_COMMANDS`].
const COMMANDS: [(&str, Command); 13] = [
    ("create", create::run),
    ("snapshot", snapshot::run),
    ("query", query::run),
    ("read", read::run),
    ("set", set::run),
    ("repair", repair::run),
    ("resize", resize::run),
    ("fill", fill::run),
    ("coalesce", coalesce::run),
    ("modify", modify::run),
    ("scan", scan::run),
    ("check", check::run),
    ("revert", revert::run),
];

/// The subcommands only blktap3's dialect has.
const BLKTAP3_COMMANDS: [(&str, Command); 2] = [("key", key::run), ("copy", copy::run)];

/// The subcommands this build's dialect has.
fn commands() -> impl Iterator<Item = &'static (&'static str, Command)> {
    let extra: &[(&str, Command)] = if flavour::BLKTAP3 {
        &BLKTAP3_COMMANDS
    } else {
        &[]
    };
    COMMANDS.iter().chain(extra)
}

fn usage() {
    let names: Vec<&str> = commands().map(|(n, _)| *n).collect();
    println!("usage: vhd-util COMMAND [OPTIONS]");
    println!("COMMAND := {{ {} }}", names.join(" | "));
}

/// A program's `main`: runs `run` with the process's arguments (`args[0]` the program
/// name) and exits with the status it returns.
pub fn process_main(run: Command) -> ! {
    vhd_sys::default_sigpipe();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(run(&args))
}

/// Converts a subcommand's return value into an exit status: itself if not negative,
/// else its negation.
pub fn exit_status(ret: i32) -> i32 {
    if ret >= 0 {
        ret
    } else {
        ret.saturating_neg()
    }
}

/// `vhd-util COMMAND [OPTIONS]` with `args[0]` the program name; returns the exit status.
///
/// No command prints the usage (exit 0); an unknown one says so on stderr, then prints
/// the usage (exit 0). Every `--debug` after the command is removed: the reference then
/// logs library calls to syslog only, which this implementation does not do.
pub fn main_with_args(args: &[String]) -> i32 {
    let Some(cmd) = args.get(1) else {
        usage();
        return 0;
    };
    let Some((_, f)) = commands().find(|(n, _)| n == cmd) else {
        eprintln!("invalid COMMAND {cmd}");
        usage();
        return 0;
    };
    let sub: Vec<String> = args[1..]
        .iter()
        .enumerate()
        .filter(|(i, a)| *i == 0 || a.as_str() != "--debug")
        .map(|(_, a)| a.clone())
        .collect();
    exit_status(f(&sub))
}
