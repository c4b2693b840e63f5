//! `vhd-util check -n name [-i] [-p]`: the core's structural checks
//! ([`vhd_nostd::check`]), then what needs a file system: a normal open and the parent
//! locators resolved to files. `-p` checks every VHD ancestor the same way.
//!
//! blktap3 adds `-B` (skip the block-overlap test, the slow part on a large BAT), `-I`
//! (skip the parent UUID comparison), `-t` (skip the "time in future" tests), `-b`
//! (no sector whose bitmap bit is clear holds data) and `-s` (statistics instead of the
//! `is valid` lines: [`crate::check_stats`]).

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use vhd_nostd::bitmap::Bitmap;
use vhd_nostd::check::{check_blocks, work_size, CheckOptions, Detail, Dialect};
use vhd_nostd::footer::{DiskType, Footer, FOOTER_SIZE};
use vhd_nostd::header::{Header, HEADER_SIZE};
use vhd_nostd::locator::{PLAT_CODE_MACX, PLAT_CODE_W2KU, PLAT_CODE_W2RU};
use vhd_nostd::{Io, SECTOR_SIZE};
use vhd_std::fileio::{AlignedBuf, FileIo, OpenMode};
use vhd_std::path::basename;
use vhd_std::time::now_vhd;
use vhd_std::{Errno, Image, OpenOptions, MAX_CHAIN_DEPTH};

use crate::flavour::{pick, BLKTAP3};
use crate::getopt::{Getopt, Opt};
use crate::open::{loop_message, refuse_chain_loop};

fn usage() {
    println!(
        "{}",
        pick(
            "options: -n <file> [-i ignore missing primary footers] [-p check parents] [-h help]",
            "options: -n <file> [-i ignore missing primary footers] [-I ignore parent uuids] [-t ignore timestamps] [-B do not check BAT for overlapping (precludes -s, -b)] [-p check parents] [-b check bitmaps] [-s stats] [-h help]",
        )
    );
}

/// What to check, beyond the defaults.
#[derive(Clone, Copy)]
struct Flags {
    /// `-i`: take the footer copy at 0 when the primary is tapdisk's "killed" footer.
    ignore_primary: bool,
    /// blktap3 `-I`: do not compare the parent's UUID.
    ignore_uuids: bool,
    /// blktap3 `-t`: no "time in future" tests.
    ignore_times: bool,
    /// Test that no two blocks overlap (blktap3 `-B` turns it off).
    overlap: bool,
    /// blktap3 `-b`: read every block and test its data against its bitmap.
    bitmaps: bool,
    /// blktap3 `-s`: count sectors instead of printing `is valid`.
    stats: bool,
}

/// Runs the subcommand; `args[0]` is `check`.
pub fn run(args: &[String]) -> i32 {
    let (mut name, mut parents) = (None, false);
    let mut flags = Flags {
        ignore_primary: false,
        ignore_uuids: false,
        ignore_times: false,
        overlap: true,
        bitmaps: false,
        stats: false,
    };
    let mut g = Getopt::new(args, pick("n:iph", "n:iItpbBsh"));
    for o in g.by_ref() {
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('i', _) => flags.ignore_primary = true,
            Opt::Opt('I', _) => flags.ignore_uuids = true,
            Opt::Opt('t', _) => flags.ignore_times = true,
            Opt::Opt('B', _) => flags.overlap = false,
            Opt::Opt('b', _) => flags.bitmaps = true,
            Opt::Opt('s', _) => flags.stats = true,
            Opt::Opt('p', _) => parents = true,
            other => {
                usage();
                return other.usage_status();
            }
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        usage();
        return -libc::EINVAL;
    };
    if (flags.bitmaps || flags.stats) && !flags.overlap {
        // -B precludes -b and -s.
        usage();
        return -libc::EINVAL;
    }
    // The dynamic and differencing images checked, for -s.
    let mut counted = Vec::new();
    if let Err(e) = check_image(&name, &flags, &mut counted) {
        return e;
    }
    let mut status = 0;
    if parents {
        if let Err(e) = check_parents(&name, &flags, &mut counted) {
            println!("error checking parents: {e}");
            status = e;
        }
    }
    // As blktap3: a parent failing its check still leaves the lines of those checked.
    if flags.stats {
        if let Err(e) = crate::check_stats::print(&counted) {
            return if status == 0 { e } else { status };
        }
    }
    status
}

/// Checks each VHD ancestor of `name` under its resolved path; stops at a raw parent.
/// A chain that comes back to a file is refused at once, naming it.
fn check_parents(name: &str, flags: &Flags, counted: &mut Vec<PathBuf>) -> Result<(), i32> {
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let mut top = Image::open(name, opts).map_err(|e| e.code())?;
    refuse_chain_loop(name, &mut top)?;
    let mut cur = PathBuf::from(name);
    for _ in 0..MAX_CHAIN_DEPTH {
        let opts = OpenOptions {
            ignore_disabled: true,
            ..Default::default()
        };
        let mut img = Image::open(&cur, opts).map_err(|e| e.code())?;
        if !img.is_differencing() {
            return Ok(());
        }
        let p = match img.parent() {
            Ok(p) => p,
            Err(e) => {
                println!("error getting parent: {e}");
                return Err(e.code());
            }
        };
        if p.raw {
            return Ok(());
        }
        check_image(&p.path.to_string_lossy(), flags, counted)?;
        cur = p.path;
    }
    Err(-libc::EINVAL)
}

/// Prints the failure banner and the `read -p` dump; returns `err`.
fn invalid(name: &str, err: i32) -> i32 {
    println!("{name} appears invalid; dumping metadata");
    let args: Vec<String> = ["read", "-p", "-n", name]
        .iter()
        .map(|s| s.to_string())
        .collect();
    crate::read::run(&args);
    err
}

/// How many times `check` reads an image again that grew while it was being checked.
const GROWN_RETRIES: u32 = 3;

/// Checks one image; prints `<name> is valid` (nothing for a valid fixed image, nor
/// with `-s`) or the first problem and the dump, returning its negative errno. A
/// dynamic or differencing image whose structure passed goes on `counted`.
fn check_image(name: &str, flags: &Flags, counted: &mut Vec<PathBuf>) -> Result<(), i32> {
    let meta = match std::fs::metadata(name) {
        Ok(m) => m,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            println!("cannot stat {name}: {errno}");
            return Err(-errno);
        }
    };
    if !meta.is_file() && !meta.file_type().is_block_device() {
        println!("{name} is not a regular file or block device");
        return Err(-libc::EINVAL);
    }
    let mut io = match FileIo::open(Path::new(name), OpenMode::ReadOnly) {
        Ok(io) => io,
        Err(e) => {
            println!("error opening {name}");
            return Err(-e.0);
        }
    };
    let mut work = vec![0u8; work_size(bat_entries(&mut io))];
    let opts = CheckOptions {
        ignore_primary: flags.ignore_primary,
        // Nothing is in the future of the last representable time.
        now: if flags.ignore_times {
            u32::MAX
        } else {
            now_vhd()
        },
    };
    let dialect = pick(Dialect::Blktap2, Dialect::Blktap3);
    // A writer allocating blocks meanwhile (tapdisk; the reference has no locking) can
    // tear the view: the file size read before its footer moved, the footer's old place
    // read after it was zeroed. An image whose size changed while it was checked is
    // checked again; one that stays put keeps its first verdict.
    let mut tries = 0;
    let result = loop {
        let before = io.size().ok();
        let r = check_blocks(&mut io, &opts, dialect, flags.overlap, &mut work);
        if r.is_err() && tries < GROWN_RETRIES && io.size().ok() != before {
            tries += 1;
            continue;
        }
        break r;
    };
    let checked = match result {
        Ok(c) => c,
        Err(p) => {
            let err = match p.detail {
                Detail::None => -libc::EINVAL,
                Detail::Io(e) => -e.0,
                Detail::Errno(e) => e,
            };
            if matches!(p.detail, Detail::None) {
                println!("{}", p.message);
            } else {
                println!("{}: {err}", p.message);
            }
            return Err(invalid(name, err));
        }
    };
    drop(work);
    if checked.kind == DiskType::Fixed {
        return Ok(());
    }
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let mut img = match Image::open(name, opts) {
        Ok(i) => i,
        Err(e) => return Err(invalid(name, e.code())),
    };
    // blktap3 counts an image once its BAT is walked, before its locators are checked.
    counted.push(PathBuf::from(name));
    if checked.kind == DiskType::Differencing {
        if let Err((msg, e)) = check_locators(&mut img, flags.ignore_uuids) {
            println!("{msg}");
            return Err(invalid(name, e.code()));
        }
    }
    if flags.bitmaps {
        if let Err((msg, e)) = check_bitmaps(&mut img) {
            println!("{msg}");
            return Err(invalid(name, e.code()));
        }
    }
    if !flags.stats {
        println!("{name} is valid");
    }
    Ok(())
}

/// blktap3 `-b`: in every allocated block the virtual size covers, a sector whose bit
/// is clear must read as zeros (data there would appear if the bit were ever set).
fn check_bitmaps(img: &mut Image) -> Result<(), (String, Errno)> {
    let disk = img.disk();
    let spb = disk.sectors_per_block();
    let bitmap_bytes = disk.bitmap_sectors() as usize * SECTOR_SIZE;
    let order = disk.bitmap_order();
    let blocks = disk
        .size()
        .div_ceil(u64::from(spb.max(1)) * SECTOR_SIZE as u64);
    let allocated: Vec<(u32, u32)> = disk
        .bat()
        .allocated()
        .filter(|&(b, _)| u64::from(b) < blocks)
        .collect();
    let mut bits = AlignedBuf::new(bitmap_bytes);
    let mut data = AlignedBuf::new(spb as usize * SECTOR_SIZE);
    for (b, s) in allocated {
        let at = u64::from(s) * SECTOR_SIZE as u64;
        let io = img.disk_mut().io();
        io.read_at(at, &mut bits)
            .map_err(|e| (format!("error reading bitmap 0x{b:x}"), e.into()))?;
        io.read_at(at + bitmap_bytes as u64, &mut data)
            .map_err(|e| (format!("error reading data block 0x{b:x}"), e.into()))?;
        let map = Bitmap::new(&bits[..], order);
        let stray = data
            .chunks(SECTOR_SIZE)
            .enumerate()
            .find(|&(i, sector)| !map.test(i as u32) && sector.iter().any(|&x| x != 0));
        if let Some((i, _)) = stray {
            return Err((
                format!("sector 0x{i:x} of block 0x{b:x} has data where bitmap is clear"),
                Errno::EINVAL,
            ));
        }
    }
    Ok(())
}

/// The BAT size the check's work space needs, bounded by the file (a BAT larger than
/// the file fails the header check before the work space is used).
fn bat_entries(io: &mut FileIo) -> u32 {
    let Ok(size) = io.size() else { return 0 };
    let mut fb = [0u8; FOOTER_SIZE];
    let at_end = size >= FOOTER_SIZE as u64
        && io.read_at(size - FOOTER_SIZE as u64, &mut fb).is_ok()
        && Footer::parse(&fb).is_ok();
    if !at_end && io.read_at(0, &mut fb).is_err() {
        return 0;
    }
    let Ok(f) = Footer::decode(&fb) else { return 0 };
    let mut hb = [0u8; HEADER_SIZE];
    let fits = f
        .data_offset
        .checked_add(HEADER_SIZE as u64)
        .is_some_and(|e| e <= size);
    if !fits || io.read_at(f.data_offset, &mut hb).is_err() {
        return 0;
    }
    let Ok(h) = Header::decode(&hb) else { return 0 };
    h.max_bat_size
        .min(u32::try_from(size / 4).unwrap_or(u32::MAX))
}

/// Every `MacX`/`W2ku`/`W2ru` locator must decode, match the header's parent name, name
/// an existing file and (unless the parent is raw) open as the parent. blktap3's
/// `-I` (`ignore_uuid`) leaves the parent unopened, as blktap3 does.
fn check_locators(img: &mut Image, ignore_uuid: bool) -> Result<(), (String, Errno)> {
    let h = img
        .disk()
        .header()
        .cloned()
        .ok_or((String::new(), Errno::EINVAL))?;
    let mut buf = [0u8; 1024];
    let header_name = h.parent_location(&mut buf).unwrap_or("").to_string();
    let raw = img.disk().parent_is_raw();
    let self_id = img.file_id().ok();
    let child = vhd_std::path::realpath(img.path()).map_err(|e| (String::new(), e))?;
    let dir = child.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut found = false;
    for (i, l) in h.loc.iter().enumerate() {
        if !matches!(l.code, PLAT_CODE_MACX | PLAT_CODE_W2KU | PLAT_CODE_W2RU) {
            continue;
        }
        let path = img
            .locator_path(i)
            .map_err(|e| (format!("error reading parent locator {i}: {e}"), e))?;
        let base = basename(Path::new(&path));
        if base != header_name {
            return Err((
                format!(
                    "parent locator {i} name ({base}) does not match header name ({header_name})"
                ),
                Errno::EINVAL,
            ));
        }
        let joined = dir.join(&path);
        let resolving = |e: Errno| (format!("error resolving {path}: {e}"), e);
        // Only a file that is not there is "missing"; a symbolic link loop (-40) or a
        // directory that cannot be searched (-13) is an error resolving it.
        let loc = match vhd_std::path::realpath(&joined) {
            Ok(loc) => loc,
            // blktap3 calls a file missing under a MacX locator; under the others, and
            // in blktap2 under all (its vhd_find_parent tests access() first), the
            // resolution fails first.
            Err(e) if e == Errno::ENOENT && BLKTAP3 && l.code == PLAT_CODE_MACX => {
                return Err((
                    format!(
                        "parent locator {i} points to missing file {path} (resolved to {})",
                        joined.display()
                    ),
                    e,
                ))
            }
            Err(e) => return Err(resolving(e)),
        };
        // What reads will open must be readable (-13), and a regular file or a block
        // device: a FIFO would block them, a character device never ends (-22). Its
        // identity tells a parent the image reaches again (a link, `..`): a loop.
        let id = FileIo::open(&loc, OpenMode::ReadOnly)
            .and_then(|io| io.id())
            .map_err(|e| resolving(e.into()))?;
        if Some(id) == self_id {
            let name = img.path().display().to_string();
            return Err((loop_message(&name, &loc), Errno::EINVAL));
        }
        if !raw && !ignore_uuid {
            let p = Image::open(&loc, OpenOptions::default()).map_err(|e| {
                (
                    format!("invalid parent {}: error opening parent", loc.display()),
                    e,
                )
            })?;
            if p.disk().footer().uuid != h.prt_uuid {
                return Err((
                    format!("invalid parent {}: invalid parent uuid", loc.display()),
                    Errno::EINVAL,
                ));
            }
        }
        found = true;
    }
    if !found {
        return Err((
            format!("could not find parent {header_name}"),
            Errno::EINVAL,
        ));
    }
    Ok(())
}
