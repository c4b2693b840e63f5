//! blktap3's encrypted `copy -k KEYFILE | -E`, checked independently of vhd-rs: the
//! `xts_verify.py` beside this file parses SRC and DST itself and decrypts DST's
//! sectors with Python's `cryptography` (OpenSSL's AES-XTS; Debian's
//! `python3-cryptography`), with blktap3's tweak.
//! Run by `make blktap3-test`.
#![cfg(feature = "blktap3")]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vhd_nostd::{layout, DiskType};
use vhd_std::{Image, OpenOptions};

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");

fn workdir(name: &str) -> PathBuf {
    vhd_testkit::workdir!("vhd-util-blktap3-crypt", name)
}

/// (exit status, stdout, stderr) of `vhd-util args` with `stdin` as its input.
fn run_in(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refusal may come before the input is read: a closed pipe is no failure here.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_in(dir, args, b"")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(dir, args);
    assert_eq!(code, 0, "vhd-util {args:?}: {out}{err}");
    out
}

/// A key of `n` bytes whose halves differ.
fn key(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
        .collect()
}

/// A dynamic image `name` of `bytes` bytes whose data are the runs `(sector, count)`
/// of a pattern, and whose bitmaps mark exactly those sectors: the engine marks a whole
/// new block of a dynamic disk (its other sectors are zeros), tapdisk only what it
/// writes, and the copy must encrypt what the bitmap marks and nothing else.
fn source(dir: &Path, name: &str, bytes: u64, runs: &[(u64, usize)]) {
    let path = dir.join(name);
    vhd_std::create_file(&path, DiskType::Dynamic, bytes).unwrap();
    let rw = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = Image::open(&path, rw).unwrap();
    for (i, &(sector, count)) in runs.iter().enumerate() {
        let data: Vec<u8> = (0..count * 512)
            .map(|j| (j % 251) as u8 ^ (i as u8 + 1))
            .collect();
        img.disk_mut().write(sector, &data).unwrap();
    }
    let spb = u64::from(img.disk().sectors_per_block());
    let mut bitmaps: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for &(sector, count) in runs {
        for s in sector..sector + count as u64 {
            let bm = bitmaps
                .entry(s / spb)
                .or_insert_with(|| vec![0; img.disk().bitmap_sectors() as usize * 512]);
            let i = (s % spb) as usize;
            bm[i / 8] |= 0x80 >> (i % 8);
        }
    }
    let at: Vec<(u64, Vec<u8>)> = bitmaps
        .into_iter()
        .map(|(b, bm)| {
            let e = img.disk().bat().get(b as u32).unwrap();
            (layout::block_offset(e).unwrap(), bm)
        })
        .collect();
    drop(img);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for (offset, bm) in at {
        f.write_all_at(&bm, offset).unwrap();
    }
}

/// Checks DST, the copy of `s.vhd` with the key in `key_file`: `xts_verify.py`
/// (independent of vhd-rs) must pass and report the key hash `key -p` prints, after a
/// zero nonce; `key -c` must accept the key and `check` the image. Returns the
/// verifier's counts (`blocks=.. encrypted=.. plain=..`).
fn checked_copy(dir: &Path, dst: &str, key_file: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xts_verify.py");
    // Debian's interpreter, whose `cryptography` is the package mk/deps.sh installs.
    let o = Command::new("/usr/bin/python3")
        .arg(script)
        .args(["s.vhd", dst, key_file])
        .current_dir(dir)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "xts_verify.py {dst}: {out}{err}");
    let (counts, hash) = out.trim_end().split_once(" keyhash=").unwrap();
    let printed = ok(dir, &["key", "-p", "-n", dst]);
    assert_eq!(printed, format!("{} {hash}\n", "0".repeat(64)));
    ok(dir, &["key", "-c", "-n", dst, "-k", key_file]);
    assert!(ok(dir, &["check", "-n", dst]).contains("is valid"));
    counts.to_string()
}

/// A 256-bit key from a file: a 2040 GiB source (sector numbers up to 2^32, so every
/// tweak byte is used) with a partly written block, a full block and a run crossing
/// from one block into the next near the end; DST's sectors decrypt to SRC's, the
/// unwritten ones stay zeros in the clear, and `key -c` accepts the key afterwards.
#[test]
fn copy_with_a_256_bit_key_file() {
    let d = workdir("k256");
    let runs = [(7, 3), (3 * 4096, 4096), (0xefff_fff0, 40)];
    source(&d, "s.vhd", 2040 << 30, &runs);
    let k = key(32, 5);
    std::fs::write(d.join("t256,aes-xts-plain,256.key"), &k).unwrap();
    let (code, out, err) = run(
        &d,
        &[
            "copy",
            "-n",
            "s.vhd",
            "-N",
            "t256.vhd",
            "-k",
            "t256,aes-xts-plain,256.key",
        ],
    );
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    // 3 + 4096 + 40 sectors written, in 4 blocks of 4096 sectors.
    assert_eq!(
        checked_copy(&d, "t256.vhd", "t256,aes-xts-plain,256.key"),
        format!("blocks=4 encrypted=4139 plain={}", 4 * 4096 - 4139)
    );
    // Another key of the same size is rejected.
    std::fs::write(d.join("other,aes-xts-plain,256.key"), key(32, 6)).unwrap();
    std::fs::copy(d.join("t256.vhd"), d.join("other.vhd")).unwrap();
    let (code, _, err) = run(
        &d,
        &[
            "key",
            "-c",
            "-n",
            "other.vhd",
            "-k",
            "other,aes-xts-plain,256.key",
        ],
    );
    assert_eq!(code, 22);
    assert!(err.contains("vhd hash doesn't match key hash"), "{err}");
}

/// A 512-bit key on standard input (`-E`); the last block is copied.
#[test]
fn copy_with_a_512_bit_key_on_stdin() {
    let d = workdir("e512");
    source(
        &d,
        "s.vhd",
        10 << 20,
        &[(4096 + 100, 1), (4 * 4096 + 1000, 1048)],
    );
    let k = key(64, 9);
    let (code, out, err) = run_in(&d, &["copy", "-n", "s.vhd", "-N", "t512.vhd", "-E"], &k);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    std::fs::write(d.join("t512,aes-xts-plain,512.key"), &k).unwrap();
    // Blocks 1 and 4 (the last), 4096 sectors each.
    assert_eq!(
        checked_copy(&d, "t512.vhd", "t512,aes-xts-plain,512.key"),
        format!("blocks=2 encrypted=1049 plain={}", 2 * 4096 - 1049)
    );
}

/// Keys refused, each before DST is made: a size other than 32 or 64 bytes (from a
/// file or stdin), two keys, a key file that does not open, equal halves.
#[test]
fn copy_key_refusals() {
    let d = workdir("refusals");
    ok(&d, &["create", "-n", "s.vhd", "-s", "4"]);
    let size = "Unsupported keysize, use either 256 bit or 512 bit key\n";
    for n in [0, 16, 31, 33, 48, 63, 65, 1000] {
        std::fs::write(d.join("k"), key(n, 1)).unwrap();
        let got = run(&d, &["copy", "-n", "s.vhd", "-N", "t.vhd", "-k", "k"]);
        assert_eq!(
            got,
            (1, String::new(), size.to_string()),
            "{n}-byte key file"
        );
        let got = run_in(
            &d,
            &["copy", "-n", "s.vhd", "-N", "t.vhd", "-E"],
            &key(n, 1),
        );
        assert_eq!(
            got,
            (1, String::new(), size.to_string()),
            "{n}-byte key on stdin"
        );
    }
    std::fs::write(d.join("k"), key(32, 1)).unwrap();
    let twice = (1, String::new(), "Only supply -E or -k once\n".to_string());
    assert_eq!(
        run_in(
            &d,
            &["copy", "-n", "s.vhd", "-N", "t.vhd", "-k", "k", "-E"],
            &key(64, 2)
        ),
        twice
    );
    assert_eq!(
        run_in(
            &d,
            &["copy", "-n", "s.vhd", "-N", "t.vhd", "-E", "-k", "k"],
            &key(64, 2)
        ),
        twice
    );
    assert_eq!(
        run(
            &d,
            &["copy", "-n", "s.vhd", "-N", "t.vhd", "-k", "k", "-k", "k"]
        ),
        twice
    );
    assert_eq!(
        run(&d, &["copy", "-n", "s.vhd", "-N", "t.vhd", "-k", "missing"]),
        (
            2,
            "Failed to open key file missing: 2\n".to_string(),
            String::new()
        )
    );
    std::fs::write(d.join("k"), [0x42; 64]).unwrap();
    assert_eq!(
        run(&d, &["copy", "-n", "s.vhd", "-N", "t.vhd", "-k", "k"]),
        (
            1,
            String::new(),
            "Unsupported key: its two halves are equal, which AES-XTS forbids\n".to_string()
        )
    );
    assert!(!d.join("t.vhd").exists());
}

/// A block that cannot be written (the file size limit, with SIGXFSZ ignored, makes the
/// data write fail with EFBIG) prints blktap3's two lines and exits with the error.
#[test]
fn copy_block_failure_messages() {
    let d = workdir("efbig");
    source(&d, "s.vhd", 10 << 20, &[(4096 + 3, 5)]);
    std::fs::write(d.join("k"), key(32, 3)).unwrap();
    let script = format!("ulimit -f 1024; trap '' XFSZ; exec {BIN} copy -n s.vhd -N t.vhd -k k");
    let o = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(27));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Failed to write block 1 : -27\nFailed to encrypt block 1: -27\n"
    );
}
