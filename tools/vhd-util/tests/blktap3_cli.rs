//! blktap3's changes to subcommands the storage manager does not drive in these forms
//! (section 3 of `vhd-util-blktap3-cli.md`): `scan -M`, `scan -m` brace patterns and
//! `scan failed` on stderr, `set -f marker`. Run by `make blktap3-test`.
#![cfg(feature = "blktap3")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");

fn workdir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("vhd-util-blktap3")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn vhd(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// (exit status, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = vhd(dir, args);
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(dir, args);
    assert_eq!(code, 0, "vhd-util {args:?}: {out}{err}");
    out
}

const HASH: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// a.vhd (marker 7), b.vhd (a key hash), c.vhd (a child of a.vhd).
fn images(d: &Path) {
    ok(d, &["create", "-n", "a.vhd", "-s", "8"]);
    ok(d, &["create", "-n", "b.vhd", "-s", "8"]);
    ok(d, &["snapshot", "-n", "c.vhd", "-p", "a.vhd"]);
    ok(d, &["set", "-n", "a.vhd", "-f", "marker", "-v", "7"]);
    ok(d, &["key", "-s", "-n", "b.vhd", "-H", HASH]);
}

#[test]
fn scan_shows_markers_and_key_hashes() {
    let d = workdir("scan-markers");
    images(&d);
    let want = format!(
        "vhd=a.vhd capacity=8388608 size=3584 hidden=0 marker=7 keyhash= parent=none\n\
         vhd=b.vhd capacity=8388608 size=3584 hidden=0 marker=0 keyhash={HASH} parent=none\n\
         vhd=c.vhd capacity=8388608 size=5120 hidden=0 marker=0 keyhash= parent=a.vhd\n"
    );
    assert_eq!(ok(&d, &["scan", "-M", "-m", "*.vhd"]), want);
    // The fast scan reads the same tags (in the order glob finds the files).
    let mut fast: Vec<String> = ok(&d, &["scan", "-f", "-M", "-m", "*.vhd"])
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    fast.sort();
    assert_eq!(fast.concat(), want);
    // Without -M the lines are blktap2's.
    assert_eq!(
        ok(&d, &["scan", "-m", "c.vhd"]),
        "vhd=c.vhd capacity=8388608 size=5120 hidden=0 parent=a.vhd\n"
    );
    // Pretty print: the tree, each line with its tags.
    assert_eq!(
        ok(&d, &["scan", "-p", "-M", "-m", "[ac].vhd"]),
        "vhd=a.vhd capacity=8388608 size=3584 hidden=0 marker=7 keyhash= parent=none\n   \
         vhd=c.vhd capacity=8388608 size=5120 hidden=0 marker=0 keyhash= parent=a.vhd\n"
    );
    assert!(ok(&d, &["scan", "-h"]).ends_with("[-v verbose] [-h help] [-M show markers]\n"));
}

#[test]
fn scan_patterns_expand_braces() {
    let d = workdir("scan-braces");
    images(&d);
    assert_eq!(
        ok(&d, &["scan", "-m", "{a,c}.vhd"]),
        "vhd=a.vhd capacity=8388608 size=3584 hidden=0 parent=none\n\
         vhd=c.vhd capacity=8388608 size=5120 hidden=0 parent=a.vhd\n"
    );
}

#[test]
fn scan_failure_goes_to_stderr() {
    let d = workdir("scan-failed");
    images(&d);
    assert_eq!(
        run(&d, &["scan", "-m", "a.vhd", "missing.vhd"]),
        (
            2,
            "vhd=a.vhd capacity=8388608 size=3584 hidden=0 parent=none\n\
             vhd=missing.vhd scan-error=-2 error-message='failure scanning target'\n"
                .to_string(),
            "scan failed: -2. Check syslog for details\n".to_string()
        )
    );
    // -c: the failure is reported, the exit status is 0.
    let (code, out, err) = run(&d, &["scan", "-c", "missing.vhd"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.starts_with("vhd=missing.vhd scan-error=-2"), "{out}");
}

#[test]
fn set_marker() {
    let d = workdir("set-marker");
    images(&d);
    assert_eq!(ok(&d, &["query", "-m", "-n", "a.vhd"]), "marker: 7\n");
    ok(&d, &["set", "-n", "a.vhd", "-f", "marker", "-v", "255"]);
    // query prints it as a signed char, scan unsigned.
    assert_eq!(ok(&d, &["query", "-m", "-n", "a.vhd"]), "marker: -1\n");
    assert!(ok(&d, &["scan", "-M", "-m", "a.vhd"]).contains(" marker=255 "));
    // The marker is one byte; other fields are refused as before.
    let usage = "options: <-n name> <-f field> <-v value> [-h help]\n";
    assert_eq!(
        run(&d, &["set", "-n", "a.vhd", "-f", "marker", "-v", "256"]),
        (22, format!("invalid value 256\n{usage}"), String::new())
    );
    assert_eq!(
        run(&d, &["set", "-n", "a.vhd", "-f", "size", "-v", "1"]),
        (22, format!("invalid field size\n{usage}"), String::new())
    );
    // The hidden flag and the data are untouched.
    assert_eq!(ok(&d, &["query", "-f", "-n", "a.vhd"]), "hidden: 0\n");
    assert!(ok(&d, &["check", "-n", "a.vhd"]).contains("is valid"));
}

/// `key` with key files: the hash is SHA-256 of the nonce then the key (a known
/// vector), set into an empty image and checked against the key.
#[test]
fn key_files() {
    let d = workdir("key-files");
    ok(&d, &["create", "-n", "k.vhd", "-s", "8"]);
    let k512 = "k,aes-xts-plain,512.key";
    let key: Vec<u8> = (0..64u8).collect();
    std::fs::write(d.join(k512), &key).unwrap();
    // SHA-256 of 32 zero bytes then the bytes 0..=63 (Python's hashlib).
    let calc = "dc7a48014fc1fac8b52af39bc7ea5cafafabf8bb81fb8f880fdf3b4a4566795c";
    assert_eq!(
        run(&d, &["key", "-C", "-k", k512]),
        (
            0,
            format!("{calc}\n"),
            format!("vhd_util_read_key: using keyfile {k512}, Size (bytes) 64\n")
        )
    );
    // Another nonce, another hash.
    let nonce = "11".repeat(32);
    let other = ok(&d, &["key", "-C", "-k", k512, "-N", &nonce]);
    assert_ne!(other.trim(), calc);
    assert_eq!(other.trim().len(), 64);
    // -s -k: stored with a zero nonce; -c -k: the same key checks, another does not.
    ok(&d, &["key", "-s", "-n", "k.vhd", "-k", k512]);
    assert_eq!(
        ok(&d, &["key", "-p", "-n", "k.vhd"]),
        format!("{} {calc}\n", "0".repeat(64))
    );
    ok(&d, &["key", "-c", "-n", "k.vhd", "-k", k512]);
    let k256 = "k,aes-xts-plain,256.key";
    std::fs::write(d.join(k256), [7u8; 32]).unwrap();
    let (code, _, err) = run(&d, &["key", "-c", "-n", "k.vhd", "-k", k256]);
    assert_eq!(code, 22);
    assert!(
        err.ends_with("vhd hash doesn't match key hash\nkey check failed: -22\n"),
        "{err}"
    );
    // Key files are named after the image, and a 512-bit one holds 64 bytes.
    std::fs::write(d.join("other.key"), &key).unwrap();
    assert_eq!(
        run(&d, &["key", "-s", "-n", "k.vhd", "-k", "other.key"]),
        (1, String::new(), "Invalid key name other.key\n".to_string())
    );
    std::fs::write(d.join(k512), &key[..32]).unwrap();
    let (code, _, _) = run(&d, &["key", "-c", "-n", "k.vhd", "-k", k512]);
    assert_eq!(code, 22);
    // An image without a key hash says so.
    ok(&d, &["create", "-n", "n.vhd", "-s", "8"]);
    std::fs::write(d.join("n,aes-xts-plain,256.key"), [7u8; 32]).unwrap();
    let (code, _, err) = run(
        &d,
        &["key", "-c", "-n", "n.vhd", "-k", "n,aes-xts-plain,256.key"],
    );
    assert_eq!(code, 22);
    assert!(
        err.ends_with("this vhd has no keyhash\nkey check failed: -22\n"),
        "{err}"
    );
}

/// `check -b`: data in a sector whose bitmap bit is clear is an error (`-B` precludes
/// it); without `-b` the image is valid.
#[test]
fn check_bitmaps_against_data() {
    use std::os::unix::fs::FileExt;
    use vhd_std::{Image, OpenOptions};

    let d = workdir("check-bitmaps");
    ok(&d, &["create", "-n", "p.vhd", "-s", "8"]);
    ok(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]);
    let c = d.join("c.vhd");
    let rw = OpenOptions {
        writable: true,
        ..Default::default()
    };
    // Sector 0 of block 1 written: its bit set, the block's other sectors zero.
    let (at, bitmap) = {
        let mut img = Image::open(&c, rw).unwrap();
        img.disk_mut().write(4096, &[0x5a; 512]).unwrap();
        let disk = img.disk();
        let at = u64::from(disk.bat().get(1).unwrap()) * 512;
        (at, u64::from(disk.bitmap_sectors()) * 512)
    };
    assert_eq!(ok(&d, &["check", "-b", "-n", "c.vhd"]), "c.vhd is valid\n");
    assert_eq!(
        ok(&d, &["check", "-b", "-p", "-n", "c.vhd"]),
        format!(
            "c.vhd is valid\n{} is valid\n",
            d.canonicalize().unwrap().join("p.vhd").display()
        )
    );
    // Bytes in sector 5 of that block, whose bit is clear.
    let f = std::fs::OpenOptions::new().write(true).open(&c).unwrap();
    f.write_all_at(&[1], at + bitmap + 5 * 512 + 100).unwrap();
    drop(f);
    let (code, out, _) = run(&d, &["check", "-b", "-n", "c.vhd"]);
    assert_eq!(code, 22);
    assert!(
        out.starts_with(
            "sector 0x5 of block 0x1 has data where bitmap is clear\n\
             c.vhd appears invalid; dumping metadata\n"
        ),
        "{out}"
    );
    assert_eq!(ok(&d, &["check", "-n", "c.vhd"]), "c.vhd is valid\n");
    let (code, out, _) = run(&d, &["check", "-b", "-B", "-n", "c.vhd"]);
    assert_eq!(code, 22);
    assert!(out.starts_with("options: -n <file>"), "{out}");
}

/// `repair` writes the footer as blktap3's `vhd_write_footer`: at the end of data with
/// the file cut after it, the copy at 0 too; a nil UUID becomes a random one; `-b`
/// takes the copy at 0 as the footer (a fixed disk has none).
#[test]
fn repair_cuts_and_takes_the_backup() {
    use vhd_nostd::Footer;

    let d = workdir("repair");
    ok(&d, &["create", "-n", "r.vhd", "-s", "8"]);
    let r = d.join("r.vhd");
    let clean = std::fs::read(&r).unwrap();
    // Junk after the data is cut off, the image unchanged.
    let mut junk = clean.clone();
    junk.extend(std::iter::repeat_n(0x33, 6416));
    std::fs::write(&r, &junk).unwrap();
    ok(&d, &["repair", "-n", "r.vhd"]);
    assert_eq!(std::fs::read(&r).unwrap(), clean);
    // A nil UUID in both footers is replaced, in both.
    let mut b = clean.clone();
    let n = b.len();
    let mut f = Footer::parse(&b[n - 512..]).unwrap();
    f.uuid = uuid::Uuid::nil();
    f.seal();
    b[n - 512..].copy_from_slice(&f.to_bytes());
    b[..512].copy_from_slice(&f.to_bytes());
    std::fs::write(&r, &b).unwrap();
    ok(&d, &["repair", "-n", "r.vhd"]);
    let b = std::fs::read(&r).unwrap();
    let end = Footer::parse(&b[b.len() - 512..]).unwrap();
    assert!(!end.uuid.is_nil());
    assert_eq!(&b[..512], &b[b.len() - 512..]);
    // -b: the end footer (hidden 1) gives way to the copy at 0 (hidden 0).
    ok(&d, &["set", "-n", "r.vhd", "-f", "hidden", "-v", "1"]);
    let mut b = std::fs::read(&r).unwrap();
    let mut copy = Footer::parse(&b[..512]).unwrap();
    copy.hidden = 0;
    copy.seal();
    b[..512].copy_from_slice(&copy.to_bytes());
    std::fs::write(&r, &b).unwrap();
    assert_eq!(ok(&d, &["query", "-f", "-n", "r.vhd"]), "hidden: 1\n");
    ok(&d, &["repair", "-b", "-n", "r.vhd"]);
    assert_eq!(ok(&d, &["query", "-f", "-n", "r.vhd"]), "hidden: 0\n");
    assert!(ok(&d, &["check", "-n", "r.vhd"]).contains("is valid"));
    ok(&d, &["create", "-n", "f.vhd", "-s", "1", "-r"]);
    assert_eq!(
        run(&d, &["repair", "-b", "-n", "f.vhd"]),
        (22, "error opening f.vhd: -22\n".to_string(), String::new())
    );
    assert_eq!(
        run(&d, &["repair", "-n", "r.vhd", "-x"]).1,
        "options: <-n name> <-b use the back-up footer> [-h help]\n"
    );
}

/// `copy`: a new dynamic image with SRC's size and the blocks SRC allocated, reading
/// as SRC does; refused for an existing DST, a differencing or fixed SRC. The encrypted
/// copy (`-k`, `-E`) is `blktap3_copy_encrypted.rs`'s.
#[test]
fn copy_dynamic_images() {
    use vhd_std::{Image, OpenOptions};

    let d = workdir("copy");
    ok(&d, &["create", "-n", "s.vhd", "-s", "9"]);
    let rw = OpenOptions {
        writable: true,
        ..Default::default()
    };
    {
        let mut img = Image::open(d.join("s.vhd"), rw).unwrap();
        let data: Vec<u8> = (0..3 * 512).map(|i| (i % 251) as u8).collect();
        img.disk_mut().write(4096 + 7, &data).unwrap();
        img.disk_mut().write(16384, &[9; 512]).unwrap();
    }
    assert_eq!(
        run(&d, &["copy", "-n", "s.vhd", "-N", "t.vhd"]),
        (0, String::new(), String::new())
    );
    let read_all = |name: &str| {
        let mut img = Image::open(d.join(name), OpenOptions::default()).unwrap();
        let mut b = vec![0u8; img.disk().size() as usize];
        img.disk_mut().read(0, &mut b).unwrap();
        (b, img.disk().bat().allocated().count())
    };
    let (src, src_blocks) = read_all("s.vhd");
    let (dst, dst_blocks) = read_all("t.vhd");
    assert!(src == dst, "the copy reads as the source");
    assert_eq!((src_blocks, dst_blocks), (2, 2));
    assert!(ok(&d, &["check", "-n", "t.vhd"]).contains("is valid"));
    assert_eq!(
        run(&d, &["copy", "-n", "s.vhd", "-N", "t.vhd"]),
        (
            22,
            "VHD file t.vhd already exists, chose a different name\n".to_string(),
            String::new()
        )
    );
    ok(&d, &["snapshot", "-n", "c.vhd", "-p", "s.vhd"]);
    assert_eq!(
        run(&d, &["copy", "-n", "c.vhd", "-N", "u.vhd"]),
        (22, "error creating u.vhd: -22\n".to_string(), String::new())
    );
    assert!(!d.join("u.vhd").exists());
    let usage = "options: -n <name> -N <new VHD name> [-k <keyfile> | -E (pass encryption key on stdin)] [-h help] \n";
    assert_eq!(
        run(&d, &["copy", "-n", "s.vhd"]),
        (
            22,
            usage.to_string(),
            "Must supply both existing and new VHD names\n".to_string()
        )
    );
    assert!(ok(&d, &[]).ends_with("| revert | key | copy }\n"));
}

/// `fill -b`: the blocks of a sector range allocated without data, the footer moved
/// to the new end (the image checks), blocks already there untouched; the option
/// rules of blktap3; a differencing disk refused (full bitmaps would hide its parent).
#[test]
fn fill_bitmaps_only() {
    use vhd_std::{Image, OpenOptions};

    let d = workdir("fill-b");
    ok(&d, &["create", "-n", "f.vhd", "-s", "20"]);
    let rw = OpenOptions {
        writable: true,
        ..Default::default()
    };
    {
        let mut img = Image::open(d.join("f.vhd"), rw).unwrap();
        img.disk_mut().write(8192, &[0x77; 1024]).unwrap();
    }
    // Sectors 4096..=12000: blocks 1 and 2; block 2 already holds data.
    ok(
        &d,
        &["fill", "-b", "-f", "4096", "-t", "12000", "-n", "f.vhd"],
    );
    assert_eq!(ok(&d, &["query", "-a", "-n", "f.vhd"]), "2\n");
    assert_eq!(ok(&d, &["check", "-n", "f.vhd"]), "f.vhd is valid\n");
    ok(&d, &["fill", "-b", "-n", "f.vhd"]);
    assert_eq!(ok(&d, &["query", "-a", "-n", "f.vhd"]), "10\n");
    assert_eq!(ok(&d, &["check", "-n", "f.vhd"]), "f.vhd is valid\n");
    let mut img = Image::open(d.join("f.vhd"), OpenOptions::default()).unwrap();
    let mut all = vec![0u8; 20 << 20];
    img.disk_mut().read(0, &mut all).unwrap();
    let mut want = vec![0u8; 20 << 20];
    want[8192 * 512..][..1024].fill(0x77);
    assert!(all == want, "the content is unchanged");
    let usage = "options: <-n name> [-h help] [-b initialise the BAT and bitmaps, don't write to the data blocks (much faster)] [-f start intialisation from this sector, only usable with -b] [-t intialise up to this sector (inclusive), only usable with -b] [-B ignore the 2 TB limit, only usable with -b]\n";
    assert_eq!(
        run(&d, &["fill", "-t", "5", "-n", "f.vhd"]),
        (
            22,
            format!("-f/-t can only be used with -b\n{usage}"),
            String::new()
        )
    );
    assert_eq!(
        run(&d, &["fill", "-B", "-n", "f.vhd"]),
        (
            22,
            format!("-B can only be used with -b\n{usage}"),
            String::new()
        )
    );
    assert_eq!(
        run(&d, &["fill", "-b", "-f", "9", "-t", "3", "-n", "f.vhd"]),
        (
            22,
            format!("invalid sector range 9-3\n{usage}"),
            String::new()
        )
    );
    ok(&d, &["snapshot", "-n", "c.vhd", "-p", "f.vhd"]);
    assert_eq!(
        run(&d, &["fill", "-b", "-n", "c.vhd"]),
        (
            22,
            "failed to initialise bitmaps: Invalid argument\n".to_string(),
            String::new()
        )
    );
}

/// `set -f hidden` writes the footer as blktap3's `vhd_write_footer`: junk after the
/// end of data is cut off.
#[test]
fn set_hidden_cuts_the_file() {
    let d = workdir("set-hidden");
    ok(&d, &["create", "-n", "h.vhd", "-s", "8"]);
    let h = d.join("h.vhd");
    let len = std::fs::metadata(&h).unwrap().len();
    let mut b = std::fs::read(&h).unwrap();
    b.extend(std::iter::repeat_n(0x44, 4096));
    std::fs::write(&h, &b).unwrap();
    ok(&d, &["set", "-n", "h.vhd", "-f", "hidden", "-v", "1"]);
    assert_eq!(std::fs::metadata(&h).unwrap().len(), len);
    assert_eq!(ok(&d, &["query", "-f", "-n", "h.vhd"]), "hidden: 1\n");
    assert_eq!(ok(&d, &["check", "-n", "h.vhd"]), "h.vhd is valid\n");
}

/// Writes sectors of 0x5a to the image `name` in `d`: each `(sector, count)`.
fn write_sectors(d: &Path, name: &str, runs: &[(u64, usize)]) {
    use vhd_std::{Image, OpenOptions};
    let rw = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = Image::open(d.join(name), rw).unwrap();
    for &(sector, count) in runs {
        img.disk_mut()
            .write(sector, &vec![0x5a; count * 512])
            .unwrap();
    }
}

/// Leaves only sectors `first..first + count` set in `block`'s bitmap of the dynamic
/// image `name` (a dynamic disk's new block is written whole here, as by libvhd; other
/// writers mark only what they wrote), then rewrites the first of them through the
/// core, which brings the batmap bit in line with the bitmap.
fn keep_bits(d: &Path, name: &str, block: u32, first: u32, count: u32) {
    use std::os::unix::fs::FileExt;
    use vhd_nostd::bitmap::Bitmap;
    use vhd_std::{Image, OpenOptions};
    let (at, mut bits, order, spb) = {
        let img = Image::open(d.join(name), OpenOptions::default()).unwrap();
        let disk = img.disk();
        let at = u64::from(disk.bat().get(block).unwrap()) * 512;
        let bytes = disk.bitmap_sectors() as usize * 512;
        (
            at,
            vec![0u8; bytes],
            disk.bitmap_order(),
            disk.sectors_per_block(),
        )
    };
    Bitmap::new(&mut bits[..], order).set_range(first, count);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join(name))
        .unwrap();
    f.write_all_at(&bits, at).unwrap();
    drop(f);
    write_sectors(d, name, &[(u64::from(block * spb + first), 1)]);
}

/// `check -s`: counts worked out by hand on 8 MiB images (four 2 MiB blocks of 0x1000
/// sectors), the deepest ancestor first with `-p`; no `is valid` lines.
#[test]
fn check_stats_counts() {
    let d = workdir("check-stats");
    // p: block 0 sectors 0..8, block 2 sectors 0x2064..0x2074: 2 blocks, 24 sectors.
    ok(&d, &["create", "-n", "p.vhd", "-s", "8"]);
    write_sectors(&d, "p.vhd", &[(0, 8), (0x2064, 16)]);
    keep_bits(&d, "p.vhd", 0, 0, 8);
    keep_bits(&d, "p.vhd", 2, 0x64, 16);
    assert_eq!(ok(&d, &["check", "-b", "-n", "p.vhd"]), "p.vhd is valid\n");
    let p = "p.vhd: secs allocated: 0x2000 secs written: 0x18 (0.29%)\n";
    assert_eq!(ok(&d, &["check", "-s", "-n", "p.vhd"]), p);
    assert_eq!(ok(&d, &["check", "-s", "-p", "-n", "p.vhd"]), p);
    // c1: sectors 4..12 (4..8 are p's too) and 32 in block 3: 40 written, 36 new.
    ok(&d, &["snapshot", "-n", "c1.vhd", "-p", "p.vhd"]);
    write_sectors(&d, "c1.vhd", &[(4, 8), (0x3000, 32)]);
    let c1 = "c1.vhd: secs allocated: 0x2000 secs written: 0x28 (0.49%) \
              secs not in parent: 0x24 (90.00%) secs not in ancestors: 0x24 (90.00%)\n";
    assert_eq!(
        ok(&d, &["check", "-s", "-p", "-n", "c1.vhd"]),
        format!("{p}{c1}")
    );
    // c2: sectors 0..16 (c1 has 4..12, p 0..8: 8 not in c1, only 12..16 in neither),
    // 8 of p's in block 2 (not in c1), one new in block 1: 3 blocks, 25 written.
    ok(&d, &["snapshot", "-n", "c2.vhd", "-p", "c1.vhd"]);
    write_sectors(&d, "c2.vhd", &[(0, 16), (0x2064, 8), (0x1000, 1)]);
    let c2 = "c2.vhd: secs allocated: 0x3000 secs written: 0x19 (0.20%) \
              secs not in parent: 0x11 (68.00%) secs not in ancestors: 0x5 (20.00%)\n";
    assert_eq!(
        ok(&d, &["check", "-s", "-p", "-n", "c2.vhd"]),
        format!("{p}{c1}{c2}")
    );
    // Without -p only the image, without the chain's counts.
    assert_eq!(
        ok(&d, &["check", "-s", "-n", "c2.vhd"]),
        "c2.vhd: secs allocated: 0x3000 secs written: 0x19 (0.20%)\n"
    );
    // An ancestor failing its check: the error, then the lines of the images checked
    // (c1 failed at its locators, after its BAT: counted, now the deepest).
    std::fs::rename(d.join("p.vhd"), d.join("p.away")).unwrap();
    let (code, out, _) = run(&d, &["check", "-s", "-p", "-n", "c2.vhd"]);
    std::fs::rename(d.join("p.away"), d.join("p.vhd")).unwrap();
    assert_eq!(code, 2);
    assert!(
        out.ends_with(
            "error checking parents: -2\n\
             c1.vhd: secs allocated: 0x2000 secs written: 0x28 (0.49%)\n\
             c2.vhd: secs allocated: 0x3000 secs written: 0x19 (0.20%) \
             secs not in parent: 0x11 (68.00%) secs not in ancestors: 0x11 (68.00%)\n"
        ),
        "{out}"
    );
    // Nothing allocated: zeros and 0.00% (no division by zero).
    ok(&d, &["create", "-n", "e.vhd", "-s", "8"]);
    assert_eq!(
        ok(&d, &["check", "-s", "-n", "e.vhd"]),
        "e.vhd: secs allocated: 0x0 secs written: 0x0 (0.00%)\n"
    );
    ok(&d, &["snapshot", "-n", "ec.vhd", "-p", "p.vhd"]);
    assert_eq!(
        ok(&d, &["check", "-s", "-p", "-n", "ec.vhd"]),
        format!(
            "{p}ec.vhd: secs allocated: 0x0 secs written: 0x0 (0.00%) \
             secs not in parent: 0x0 (0.00%) secs not in ancestors: 0x0 (0.00%)\n"
        )
    );
    // A fixed image has no BAT to count: nothing printed.
    ok(&d, &["create", "-n", "f.vhd", "-s", "8", "-r"]);
    assert_eq!(ok(&d, &["check", "-s", "-n", "f.vhd"]), "");
    // The last block cut short by the size (3 MiB): its sectors count.
    ok(&d, &["create", "-n", "t.vhd", "-s", "3"]);
    write_sectors(&d, "t.vhd", &[(0x17ff, 1)]);
    keep_bits(&d, "t.vhd", 1, 0x7ff, 1);
    assert_eq!(
        ok(&d, &["check", "-s", "-n", "t.vhd"]),
        "t.vhd: secs allocated: 0x1000 secs written: 0x1 (0.02%)\n"
    );
    // -B precludes -s: the usage, 22.
    let (code, out, _) = run(&d, &["check", "-s", "-B", "-n", "p.vhd"]);
    assert_eq!(code, 22);
    assert!(out.starts_with("options: -n <file>"), "{out}");
}
