//! Writes vhd-util must refuse rather than lose data (issue 17): through blocks whose BAT
//! entries overlap (fill, coalesce into such a parent), and into a differencing disk
//! whose parent no longer matches (fill). Each refusal exits 22 and changes no file.

use std::path::{Path, PathBuf};
use std::process::Command;

use vhd_std::{Chain, OpenOptions};

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");

fn workdir(name: &str) -> PathBuf {
    vhd_testkit::workdir!("vhd-util-refused", name)
}

fn vhd(dir: &Path, args: &[&str]) -> i32 {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{args:?} panicked"
    );
    o.status.code().expect("exited normally")
}

/// Writes one sector of `byte` at each of `sectors` through the library.
fn write(path: &Path, sectors: &[u64], byte: u8) {
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut c = Chain::open(path, opts).unwrap();
    for &s in sectors {
        c.write(s, &[byte; 512]).unwrap();
    }
}

fn header_at(b: &[u8]) -> vhd_nostd::Header {
    vhd_nostd::Header::parse(&b[512..1536]).unwrap()
}

/// Points BAT entry `to` at `from`'s block plus `plus` sectors.
fn alias(path: &Path, from: usize, to: usize, plus: u32) {
    let mut b = std::fs::read(path).unwrap();
    let t = header_at(&b).table_offset as usize;
    let e = u32::from_be_bytes(b[t + 4 * from..t + 4 * from + 4].try_into().unwrap());
    b[t + 4 * to..t + 4 * to + 4].copy_from_slice(&(e + plus).to_be_bytes());
    std::fs::write(path, b).unwrap();
}

const SPB: u64 = 4096;

#[test]
fn fill_refuses_overlapping_blocks_and_changes_nothing() {
    // A differencing disk: its partly written blocks are what fill writes into (a
    // dynamic disk's blocks are full from allocation and fill skips them).
    let d = workdir("fill-alias");
    assert_eq!(vhd(&d, &["create", "-n", "p.vhd", "-s", "8"]), 0);
    assert_eq!(vhd(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]), 0);
    write(&d.join("c.vhd"), &[0, SPB, 2 * SPB], 0x5a);
    alias(&d.join("c.vhd"), 0, 1, 1);
    let before = std::fs::read(d.join("c.vhd")).unwrap();
    assert_eq!(vhd(&d, &["fill", "-n", "c.vhd"]), 22);
    assert!(std::fs::read(d.join("c.vhd")).unwrap() == before);
}

#[test]
fn coalesce_refuses_a_parent_with_overlapping_blocks() {
    let d = workdir("coalesce-alias");
    assert_eq!(vhd(&d, &["create", "-n", "p.vhd", "-s", "8"]), 0);
    write(&d.join("p.vhd"), &[0, SPB], 0x11);
    assert_eq!(vhd(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]), 0);
    write(&d.join("c.vhd"), &[SPB + 3], 0x22);
    // The parent's block 1 now starts one sector into block 0.
    alias(&d.join("p.vhd"), 0, 1, 1);
    let before = std::fs::read(d.join("p.vhd")).unwrap();
    assert_eq!(vhd(&d, &["coalesce", "-n", "c.vhd"]), 22);
    assert!(std::fs::read(d.join("p.vhd")).unwrap() == before);
}

#[test]
fn fill_refuses_a_differencing_disk_whose_parent_does_not_match() {
    let d = workdir("fill-mismatch");
    assert_eq!(vhd(&d, &["create", "-n", "p.vhd", "-s", "8"]), 0);
    assert_eq!(vhd(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]), 0);
    write(&d.join("c.vhd"), &[5], 0x33);
    let mut b = std::fs::read(d.join("c.vhd")).unwrap();
    let mut h = header_at(&b);
    h.prt_uuid = uuid::Uuid::from_bytes([7; 16]);
    h.seal();
    b[512..1536].copy_from_slice(&h.to_bytes());
    std::fs::write(d.join("c.vhd"), &b).unwrap();
    assert_eq!(vhd(&d, &["fill", "-n", "c.vhd"]), 22);
    assert!(std::fs::read(d.join("c.vhd")).unwrap() == b);
}
