//! `vhd-util repair -n name`: rewrites the footer at the end of data from the footer in
//! force (the copy at offset 0 when the one at the end is damaged).
//!
//! blktap3 (`-b`: the footer is the copy at 0) writes it as its `vhd_write_footer`
//! does: at the end of data, the file cut right after it, then the copy at 0; a nil
//! footer UUID becomes a random one.

use std::path::Path;

use uuid::Uuid;
use vhd_nostd::footer::{Footer, FOOTER_SIZE};
use vhd_nostd::{Disk, Io};
use vhd_std::blockdev::open_from_copy;
use vhd_std::fileio::{FileIo, OpenMode};
use vhd_std::Errno;

use crate::flavour::{pick, BLKTAP3};
use crate::getopt::{Getopt, Opt};
use crate::open::open_image_rw;

fn usage() -> i32 {
    println!("options: <-n name> [-h help]");
    -libc::EINVAL
}

fn repair_usage() -> i32 {
    println!(
        "{}",
        pick(
            "options: <-n name> [-h help]",
            "options: <-n name> <-b use the back-up footer> [-h help]"
        )
    );
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
    if BLKTAP3 {
        return run_blktap3(args);
    }
    let name = match name_only(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    // A read-write open already rewrites a damaged end footer from the copy at 0.
    let mut img = match open_image_rw(&name) {
        Ok(i) => i,
        Err(code) => return code,
    };
    match crate::set::write_footer_at_end_of_data(&mut img) {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

/// blktap3's `repair -n name [-b]`.
fn run_blktap3(args: &[String]) -> i32 {
    let (mut name, mut backup) = (None, false);
    let mut g = Getopt::new(args, "n:bh");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('b', _) => backup = true,
            _ => return repair_usage(),
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        return repair_usage();
    };
    let opened = if backup {
        open_from_backup(Path::new(&name))
    } else {
        // A read-write open rewrites a damaged end footer from the copy at 0 first.
        match open_image_rw(&name) {
            Ok(img) => {
                let d = img.disk();
                let place = place_of(d.end_of_data(), d.footer_position(), d);
                Ok((
                    d.footer().clone(),
                    place,
                    d.header().is_some(),
                    img.into_disk().into_io(),
                ))
            }
            Err(code) => return code,
        }
    };
    let (footer, place, sparse, mut io) = match opened {
        Ok(o) => o,
        Err(e) => {
            println!("error opening {name}: {e}");
            return e.code();
        }
    };
    let mut footer = footer;
    if footer.uuid.is_nil() {
        footer.uuid = Uuid::new_v4();
        footer.seal();
    }
    match write_footer(&mut io, &footer, place, sparse) {
        Ok(()) => 0,
        Err(e) => {
            println!("error writing footer: {e}");
            e.code()
        }
    }
}

/// Where the footer goes: the end of data, unless that lies more than a block past
/// the footer (a BAT entry beyond the file: see `set::write_footer_at_end_of_data`).
pub(crate) fn place_of<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    eod: u64,
    pos: u64,
    d: &Disk<I, B>,
) -> u64 {
    let span = u64::from(d.bitmap_sectors() + d.sectors_per_block()) * 512;
    if eod <= pos.saturating_add(span) {
        eod
    } else {
        pos
    }
}

/// `-b`: the image opened with the footer copy at offset 0 in force (a fixed disk has
/// none: -22); nothing is written by the open.
fn open_from_backup(path: &Path) -> Result<(Footer, u64, bool, FileIo), Errno> {
    let mut io = FileIo::open(path, OpenMode::ReadWrite)?;
    let mut b = [0u8; FOOTER_SIZE];
    io.read_at(0, &mut b)?;
    let footer = Footer::parse(&b).map_err(|_| Errno::EINVAL)?;
    if !footer.kind().is_some_and(|k| k.is_sparse()) {
        return Err(Errno::EINVAL);
    }
    let d = open_from_copy(io, footer)?;
    let place = place_of(d.end_of_data(), d.footer_position(), &d);
    Ok((d.footer().clone(), place, true, d.into_io()))
}

/// blktap3's `vhd_write_footer`: writes `footer` at `place`, cuts the file right after
/// it (a device keeps its length), then writes the copy at 0 of a sparse disk. Each
/// step is flushed before the next: until the cut, the old end footer is still the
/// file's last sector.
pub(crate) fn write_footer(
    io: &mut FileIo,
    footer: &Footer,
    place: u64,
    sparse: bool,
) -> Result<(), Errno> {
    let b = footer.to_bytes();
    io.write_at(place, &b)?;
    io.flush()?;
    io.set_size(place + FOOTER_SIZE as u64)?;
    io.flush()?;
    if sparse {
        io.write_at(0, &b)?;
        io.flush()?;
    }
    Ok(())
}
