//! End-to-end engine behaviour on in-memory images: create, write, read back, reopen,
//! snapshot and read through the chain.

mod common;
use common::*;
use vhd_nostd::footer::DiskType;
use vhd_nostd::read_chain;

#[test]
fn new_dynamic_image_layout_matches_blktap() {
    // ../shared/format-notes.md: a new 100 MB image is 3584 bytes.
    let io = new_image(DiskType::Dynamic, 100 << 20, 2 << 20);
    assert_eq!(io.data.len(), 3584);
    assert_eq!(&io.data[0..8], b"conectix");
    assert_eq!(&io.data[512..520], b"cxsparse");
    assert_eq!(&io.data[2048..2056], b"tdbatmap");
    assert_eq!(io.data[..512], io.data[3072..]);
    let d = open(io, false).unwrap();
    assert_eq!(d.size(), 100 << 20);
    assert_eq!(d.end_of_data(), 3072);
    assert!(d.recovered().is_empty());
}

#[test]
fn dynamic_write_read_reopen() {
    let io = new_image(DiskType::Dynamic, 11 << 20, 2 << 20);
    let mut d = open(io, true).unwrap();
    let mut model = vec![0u8; 11 << 20];
    for (sector, n) in [
        (0u64, 1usize),
        (4095, 2),
        (5000, 300),
        (22527, 1),
        (8192, 4096),
    ] {
        let mut buf = vec![0u8; n * 512];
        pattern(sector, 1, &mut buf);
        d.write(sector, &buf).unwrap();
        model[sector as usize * 512..][..buf.len()].copy_from_slice(&buf);
    }
    let mut all = vec![0u8; 11 << 20];
    d.read(0, &mut all).unwrap();
    assert!(all == model);
    // First block: bitmap at 3584, data 4 KiB aligned at 4096.
    assert_eq!(d.bat().get(0), Some(7));
    let io = d.into_io();
    let mut d = open(io, false).unwrap();
    let mut all = vec![0u8; 11 << 20];
    d.read(0, &mut all).unwrap();
    assert!(all == model);
    assert!(d.write(0, &[0; 512]).is_err(), "read-only");
    assert!(d.read(22528, &mut [0; 512]).is_err(), "beyond the end");
    assert!(d.read(0, &mut [0; 100]).is_err(), "not whole sectors");
}

#[test]
fn fixed_write_read() {
    let io = new_image(DiskType::Fixed, 3 << 20, 0);
    assert_eq!(io.data.len(), (3 << 20) + 512);
    let mut d = open(io, true).unwrap();
    let mut buf = vec![0u8; 4096];
    pattern(7, 3, &mut buf);
    d.write(100, &buf).unwrap();
    let io = d.into_io();
    assert_eq!(io.data[100 * 512..100 * 512 + 4096], buf[..]);
    let mut d = open(io, false).unwrap();
    let mut back = vec![0u8; 4096];
    d.read(100, &mut back).unwrap();
    assert_eq!(back, buf);
}

#[test]
fn snapshot_reads_through_parent() {
    let io = new_image(DiskType::Dynamic, 8 << 20, 2 << 20);
    let mut parent = open(io, true).unwrap();
    let mut a = vec![0u8; 8 << 20];
    pattern(0, 1, &mut a);
    parent.write(0, &a).unwrap();
    let snap = new_snapshot(&mut parent, "base.vhd");
    // ../shared/format-notes.md: a fresh snapshot of a 100 MB image is 5120 bytes; this
    // 8 MiB one has the same layout.
    assert_eq!(snap.data.len(), 5120);
    let parent = open(parent.into_io(), false).unwrap();
    let mut child = open(snap, true).unwrap();
    let mut b = vec![0u8; 1024];
    pattern(77, 2, &mut b);
    child.write(4097, &b).unwrap();
    let mut chain = vec![child, parent];
    let mut all = vec![0u8; 8 << 20];
    read_chain(&mut chain, 0, &mut all).unwrap();
    let mut expect = a.clone();
    expect[4097 * 512..4099 * 512].copy_from_slice(&b);
    assert!(all == expect);
    // Alone, the child cannot answer for the parent's sectors.
    assert!(chain[0].read(0, &mut [0; 512]).is_err());
    let mut name = [0u8; 64];
    assert_eq!(
        chain[0].header().unwrap().parent_name(&mut name).unwrap(),
        "base.vhd"
    );
}
