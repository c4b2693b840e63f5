//! `vhd-util set -n name -f hidden -v value`: sets the footer's hidden flag; blktap3
//! also sets its marker (`-f marker`, the batmap header byte or an attribute).

use vhd_nostd::Io;
use vhd_std::{Errno, Image, OpenOptions};

use crate::flavour::BLKTAP3;
use crate::getopt::{Getopt, Opt};
use crate::open::open_image;
use crate::out::strtol;

fn usage() -> i32 {
    println!("options: <-n name> <-f field> <-v value> [-h help]");
    -libc::EINVAL
}

/// Runs the subcommand; `args[0]` is `set`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut field, mut value) = (None, None, None);
    let mut g = Getopt::new(args, "n:f:v:h");
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('f', v) => field = v,
            Opt::Opt('v', v) => value = v,
            _ => return usage(),
        }
    }
    let (Some(name), Some(field), Some(value)) = (name, field, value) else {
        return usage();
    };
    if !g.operands().is_empty() {
        return usage();
    }
    if field.len() >= 25 {
        println!("invalid field");
        return usage();
    }
    let marker = BLKTAP3 && field == "marker";
    if field != "hidden" && !marker {
        println!("invalid field {field}");
        return usage();
    }
    let v = strtol(&value);
    // The value of either field: one byte.
    let Ok(hidden) = u8::try_from(v) else {
        println!("invalid value {value}");
        return usage();
    };
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = match open_image(&name, opts) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let set = if marker {
        vhd_std::tags::set_marker(&mut img, hidden)
    } else {
        set_hidden(&mut img, hidden)
    };
    match set {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

/// Sets the flag through the core (primary footer, then the copy at 0), and writes the
/// footer at the end of data too when that is not where the primary footer is, as
/// libvhd's `vhd_write_footer` places it.
fn set_hidden(img: &mut Image, hidden: u8) -> Result<(), Errno> {
    let disk = img.disk_mut();
    disk.set_hidden(hidden)?;
    if BLKTAP3 {
        // blktap3's vhd_write_footer: at the end of data, the file cut after it.
        let d = img.disk_mut();
        let place = crate::repair::place_of(d.end_of_data(), d.footer_position(), d);
        let (footer, sparse) = (d.footer().clone(), d.header().is_some());
        let moved = crate::repair::write_footer(d.io(), &footer, place, sparse);
        if moved == Err(Errno::ENOSPC) && sparse && hidden != 0 {
            // blktap3: no room for the footer at the end of data (a last block cut
            // short puts it past the end of the file); the copy at 0 still shows the
            // flag, so that the storage manager can go on to delete the image. The
            // footer in place already carries it (the core wrote it above).
            let io = d.io();
            io.write_at(0, &footer.to_bytes())?;
            return io.flush().map_err(Errno::from);
        }
        return moved;
    }
    write_footer_at_end_of_data(img)
}

/// Writes the in-memory footer at the end of data if the primary footer lies elsewhere
/// (stale data after the end of data is left alone, as the reference does).
///
/// An end of data more than one block past the primary footer comes from a BAT entry
/// pointing beyond the file, not from a last block cut short: writing there would let
/// one hostile entry grow a small image to 2 TiB, so the footer stays where it is (the
/// core refuses to allocate on such a layout too).
pub fn write_footer_at_end_of_data(img: &mut Image) -> Result<(), Errno> {
    let disk = img.disk_mut();
    let eod = disk.end_of_data();
    let span = u64::from(disk.bitmap_sectors() + disk.sectors_per_block()) * 512;
    let pos = disk.footer_position();
    if eod != pos && eod <= pos.saturating_add(span) {
        let b = disk.footer().to_bytes();
        disk.io().write_at(eod, &b)?;
        disk.io().flush()?;
    }
    Ok(())
}
