//! `check` where blktap2's and blktap3's vhd-util differ (section 3.12 of
//! `vhd-util-blktap3-cli.md`): each image is built here with one fault, and its exact
//! output and exit status are asserted in the flavour this build speaks. `make test`
//! runs it in blktap2's (whose output must not change), `make blktap3-test` in blktap3's;
//! blktap3's own options (`-I`, `-t`, `-B`) are tested in its build only.

use std::path::{Path, PathBuf};
use std::process::Command;

use vhd_nostd::geometry::chs;
use vhd_std::{Image, OpenOptions};
use vhd_testkit::{
    edit, reseal_batmap_header, reseal_footers, reseal_header, set_bat, set_batmap_bit, workdir,
    MIB,
};

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");
const BLKTAP3: bool = cfg!(feature = "blktap3");
const UNUSED: u32 = u32::MAX;

fn dir(name: &str) -> PathBuf {
    workdir!("vhd-util-check-dialects", name)
}

/// (exit status, stdout).
fn run(d: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(d)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
    )
}

fn ok(d: &Path, args: &[&str]) -> String {
    let (code, out) = run(d, args);
    assert_eq!(code, 0, "vhd-util {args:?}: {out}");
    out
}

/// What `check` prints when `name` fails with `first`: the message, the banner and the
/// metadata dump (`read -p`).
fn failure(d: &Path, name: &str, first: &str) -> String {
    let dump = run(d, &["read", "-p", "-n", name]).1;
    format!("{first}\n{name} appears invalid; dumping metadata\n{dump}")
}

fn valid(name: &str) -> String {
    format!("{name} is valid\n")
}

/// Asserts `check` with `opts` on `name`: (status, stdout) as blktap2's, or as blktap3's.
fn expect(d: &Path, name: &str, opts: &[&str], blktap2: (i32, String), blktap3: (i32, String)) {
    let mut args = vec!["check"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["-n", name]);
    let want = if BLKTAP3 { blktap3 } else { blktap2 };
    assert_eq!(run(d, &args), want, "check {opts:?} {name}");
}

/// An 8 MiB dynamic image (4 blocks, a 4-entry BAT).
fn image(d: &Path, name: &str) -> PathBuf {
    ok(d, &["create", "-n", name, "-s", "8"]);
    d.join(name)
}

/// Writes one sector of 0x5a at `sector` through the engine.
fn write_sector(path: &Path, sector: u64) {
    let rw = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = Image::open(path, rw).unwrap();
    img.disk_mut().write(sector, &[0x5a; 512]).unwrap();
}

/// blktap3: a nil footer UUID is invalid (the last footer test); blktap2 does not look.
#[test]
fn nil_footer_uuid() {
    let d = dir("nil-uuid");
    let p = image(&d, "n.vhd");
    reseal_footers(&p, true, |f| f.uuid = uuid::Uuid::nil());
    let bad = failure(&d, "n.vhd", "primary footer invalid: invalid (NULL) uuid");
    expect(&d, "n.vhd", &[], (0, valid("n.vhd")), (22, bad));
}

/// `-i`: blktap3 passes over any invalid primary footer (here zeros) and takes the copy
/// at 0; blktap2 only over tapdisk's 0xc7 fill.
#[test]
fn ignore_any_invalid_primary_footer() {
    let d = dir("ignore-primary");
    let p = image(&d, "z.vhd");
    edit(&p, |b| {
        let n = b.len();
        b[n - 512..].fill(0);
    });
    let bad = failure(&d, "z.vhd", "primary footer invalid: invalid cookie");
    expect(&d, "z.vhd", &[], (22, bad.clone()), (22, bad.clone()));
    expect(&d, "z.vhd", &["-i"], (22, bad), (0, valid("z.vhd")));
    // The killed footer: both pass it over.
    edit(&p, |b| {
        let n = b.len();
        b[n - 512..].fill(0xc7);
    });
    expect(
        &d,
        "z.vhd",
        &["-i"],
        (0, valid("z.vhd")),
        (0, valid("z.vhd")),
    );
}

/// blktap3 `-i`: the last block may end where the primary footer belongs (a block
/// appended before its footer was), which it then is not.
#[test]
fn ignore_primary_footer_under_last_block() {
    let d = dir("block-at-end");
    let p = image(&d, "e.vhd");
    // The last sector of block 0, then the footer after the block cut off.
    write_sector(&p, 4095);
    edit(&p, |b| b.truncate(b.len() - 512));
    let bad = failure(&d, "e.vhd", "primary footer invalid: invalid cookie");
    expect(&d, "e.vhd", &[], (22, bad.clone()), (22, bad.clone()));
    expect(&d, "e.vhd", &["-i"], (22, bad), (0, valid("e.vhd")));
}

/// blktap3 first tests that the BAT has an entry for every block of the virtual size;
/// blktap2's check passes the structure and its open then refuses the image.
#[test]
fn size_beyond_the_bat() {
    let d = dir("size-beyond-bat");
    let p = image(&d, "s.vhd");
    reseal_footers(&p, true, |f| f.curr_size = 10 * MIB);
    let blktap2 = failure(&d, "s.vhd", "").replacen('\n', "", 1);
    let blktap3 = failure(&d, "s.vhd", "VHD size (5 blocks) exceeds BAT size (4)");
    expect(&d, "s.vhd", &[], (22, blktap2), (22, blktap3));
}

/// blktap3 checks only the BAT entries the virtual size covers, the last block's even
/// when the size covers it in part; blktap2 every entry.
#[test]
fn only_the_entries_the_size_covers() {
    let d = dir("covered-entries");
    let p = image(&d, "c.vhd");
    // A BAT of 8 entries for 4 blocks: entry 6, past the size, points into the headers.
    reseal_header(&p, |h| h.max_bat_size = 8);
    for b in [4, 5, 7] {
        set_bat(&p, b, UNUSED);
    }
    set_bat(&p, 6, 2);
    let bad = failure(&d, "c.vhd", "block 6 (offset 0x2) clobbers headers");
    expect(&d, "c.vhd", &[], (22, bad), (0, valid("c.vhd")));

    // The batmap calling unallocated block 5 full: past the size, blktap3 does not look.
    set_bat(&p, 6, UNUSED);
    set_batmap_bit(&p, 5, true);
    let bad = failure(&d, "c.vhd", "batmap shows unallocated block 5 full");
    expect(&d, "c.vhd", &[], (22, bad), (0, valid("c.vhd")));

    // 7 MiB covers block 3 in part: it is checked (blktap3 rounds the count up).
    set_batmap_bit(&p, 5, false);
    reseal_footers(&p, true, |f| {
        f.curr_size = 7 * MIB;
        f.geometry = chs(7 * MIB).encode();
    });
    set_bat(&p, 3, 2);
    let bad = failure(&d, "c.vhd", "block 3 (offset 0x2) clobbers headers");
    expect(&d, "c.vhd", &[], (22, bad.clone()), (22, bad));
}

/// blktap3 compares the batmap's size with the BAT right after `invalid size zero`.
#[test]
fn batmap_smaller_than_the_bat() {
    let d = dir("batmap-size");
    // 4100 blocks: a batmap of two sectors, here said to be one.
    ok(&d, &["create", "-n", "m.vhd", "-s", "8200"]);
    let p = d.join("m.vhd");
    reseal_batmap_header(&p, |h| h.batmap_size = 1);
    let blktap2 = failure(&d, "m.vhd", "batmap is invalid: invalid batmap size");
    let blktap3 = failure(&d, "m.vhd", "batmap is invalid: batmap-BAT size mismatch");
    expect(&d, "m.vhd", &[], (22, blktap2), (22, blktap3));
    // Zero comes first in both.
    reseal_batmap_header(&p, |h| h.batmap_size = 0);
    let bad = failure(&d, "m.vhd", "batmap is invalid: invalid size zero");
    expect(&d, "m.vhd", &[], (22, bad.clone()), (22, bad));
}

/// A batmap reaching into the primary footer: blktap3 calls its size invalid, as its own
/// check does on its `create -s 8194` images.
#[test]
fn batmap_into_the_footer() {
    let d = dir("batmap-footer");
    let p = image(&d, "f.vhd");
    let footer = std::fs::metadata(&p).unwrap().len() - 512;
    reseal_batmap_header(&p, |h| h.batmap_offset = footer);
    let blktap2 = failure(&d, "f.vhd", "batmap is invalid: invalid batmap offset");
    let blktap3 = failure(&d, "f.vhd", "batmap is invalid: invalid batmap size");
    expect(&d, "f.vhd", &[], (22, blktap2), (22, blktap3));
}

/// A missing parent: `points to missing file` under a MacX locator in both; blktap3
/// says so only for MacX, its resolution of a W2ku path fails first.
#[test]
fn missing_parent_by_locator_code() {
    let d = dir("missing-parent");
    image(&d, "p.vhd");
    ok(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]);
    std::fs::rename(d.join("p.vhd"), d.join("moved.vhd")).unwrap();
    let real = d.canonicalize().unwrap();
    let missing = |i: usize| {
        failure(
            &d,
            "c.vhd",
            &format!(
                "parent locator {i} points to missing file ./p.vhd (resolved to {}/./p.vhd)",
                real.display()
            ),
        )
    };
    expect(&d, "c.vhd", &[], (2, missing(0)), (2, missing(0)));
    // Without the MacX locator, the W2ku one is checked first.
    reseal_header(&d.join("c.vhd"), |h| h.loc[0] = Default::default());
    let unresolved = failure(&d, "c.vhd", "error resolving ./p.vhd: -2");
    expect(&d, "c.vhd", &[], (2, missing(1)), (2, unresolved));
}

/// `check -I`: the parent's UUID is not compared, and the parent is not even opened
/// (blktap3 returns before its open); it must still be found.
#[test]
#[cfg(feature = "blktap3")]
fn check_ignoring_parent_uuids() {
    let d = dir("uuids");
    ok(&d, &["create", "-n", "p.vhd", "-s", "8"]);
    ok(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]);
    let p = d.join("p.vhd");
    let parent = d.canonicalize().unwrap().join("p.vhd");
    reseal_footers(&p, true, |f| f.uuid = uuid::Uuid::from_bytes([9; 16]));
    let bad = format!("invalid parent {}: invalid parent uuid", parent.display());
    assert_eq!(
        run(&d, &["check", "-n", "c.vhd"]),
        (22, failure(&d, "c.vhd", &bad))
    );
    assert_eq!(ok(&d, &["check", "-I", "-n", "c.vhd"]), "c.vhd is valid\n");
    // A parent that is no VHD at all.
    std::fs::write(&p, [0u8; 4096]).unwrap();
    let bad = format!("invalid parent {}: error opening parent", parent.display());
    assert_eq!(
        run(&d, &["check", "-n", "c.vhd"]),
        (22, failure(&d, "c.vhd", &bad))
    );
    assert_eq!(ok(&d, &["check", "-I", "-n", "c.vhd"]), "c.vhd is valid\n");
    // Still found: a missing parent fails with -I too.
    std::fs::remove_file(&p).unwrap();
    let (code, out) = run(&d, &["check", "-I", "-n", "c.vhd"]);
    assert_eq!(code, 2);
    assert!(
        out.starts_with("parent locator 0 points to missing file ./p.vhd"),
        "{out}"
    );
}

/// `check -t`: neither the footer's nor the parent's creation time is tested against
/// the clock.
#[test]
#[cfg(feature = "blktap3")]
fn check_ignoring_timestamps() {
    let d = dir("times");
    ok(&d, &["create", "-n", "p.vhd", "-s", "8"]);
    ok(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]);
    // An hour after now, in VHD seconds (since 2000-01-01).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let later = (now - 946_684_800 + 3600) as u32;
    let c = d.join("c.vhd");
    reseal_header(&c, |h| h.prt_ts = later);
    let bad = "differencing header is invalid: parent creation time in future";
    assert_eq!(
        run(&d, &["check", "-n", "c.vhd"]),
        (22, failure(&d, "c.vhd", bad))
    );
    assert_eq!(ok(&d, &["check", "-t", "-n", "c.vhd"]), "c.vhd is valid\n");
    reseal_footers(&c, true, |f| f.timestamp = later);
    let bad = "primary footer invalid: creation time in future";
    assert_eq!(
        run(&d, &["check", "-n", "c.vhd"]),
        (22, failure(&d, "c.vhd", bad))
    );
    assert_eq!(ok(&d, &["check", "-t", "-n", "c.vhd"]), "c.vhd is valid\n");
}

/// `check -B`: two blocks at overlapping offsets pass, the other BAT tests still run.
#[test]
#[cfg(feature = "blktap3")]
fn check_without_the_overlap_test() {
    let d = dir("overlap");
    // A child: its one-sector writes leave the blocks' batmap bits clear, so the test
    // that full blocks have full bitmaps does not read the misplaced block's bitmap.
    ok(&d, &["create", "-n", "p.vhd", "-s", "8"]);
    ok(&d, &["snapshot", "-n", "o.vhd", "-p", "p.vhd"]);
    let o = d.join("o.vhd");
    write_sector(&o, 0);
    write_sector(&o, 4096);
    let first = vhd_testkit::bat_entry(&o, 0);
    // Block 1 starts one sector into block 0.
    set_bat(&o, 1, first + 1);
    let bad = format!(
        "block 0 (offset 0x{first:x}) clobbers block 1 (offset 0x{:x})",
        first + 1
    );
    assert_eq!(
        run(&d, &["check", "-n", "o.vhd"]),
        (22, failure(&d, "o.vhd", &bad))
    );
    assert_eq!(ok(&d, &["check", "-B", "-n", "o.vhd"]), "o.vhd is valid\n");
    // Into the headers: -B does not skip that test.
    set_bat(&o, 1, 2);
    let bad = "block 1 (offset 0x2) clobbers headers";
    assert_eq!(
        run(&d, &["check", "-B", "-n", "o.vhd"]),
        (22, failure(&d, "o.vhd", bad))
    );
}
