//! Aliased BAT entries (issue 17, finding a): blocks that overlap each other or the
//! metadata are found by `Disk::scan_overlaps` with a caller buffer, and writes to them
//! are refused with `FormatError::Overlapping` while reads keep working.

use vhd_nostd::alias::{work_size, Overlaps};
use vhd_nostd::{DiskType, Error, FormatError, Io};
use vhd_testkit::*;

const BLOCK: usize = 4096;

/// A 64 KiB dynamic disk with 4 KiB blocks, blocks 0..4 written with a pattern, and the
/// byte offset of the BAT.
fn written() -> (VecIo, Vec<u8>, usize) {
    let mut d = open(new_image(DiskType::Dynamic, 64 << 10, BLOCK as u32), true).unwrap();
    let mut model = vec![0u8; 64 << 10];
    pattern(0, 3, &mut model[..4 * BLOCK]);
    d.write(0, &model[..4 * BLOCK]).unwrap();
    let bat = d.header().unwrap().table_offset as usize;
    (d.into_io(), model, bat)
}

fn entry(io: &VecIo, bat: usize, b: usize) -> u32 {
    u32::from_be_bytes(io.data[bat + 4 * b..bat + 4 * b + 4].try_into().unwrap())
}

fn set_entry(io: &mut VecIo, bat: usize, b: usize, s: u32) {
    io.data[bat + 4 * b..bat + 4 * b + 4].copy_from_slice(&s.to_be_bytes());
}

fn scanned(io: VecIo) -> VDisk<VecIo> {
    let mut d = open(io, true).unwrap();
    let mut work = vec![0u8; work_size(d.bat().entries())];
    d.scan_overlaps(&mut work).unwrap();
    d
}

fn refused(block: u32) -> Result<(), Error<<VecIo as Io>::Error>> {
    Err(Error::Format(FormatError::Overlapping { block }))
}

#[test]
fn overlapping_blocks_refuse_writes_and_still_read() {
    let (mut io, model, bat) = written();
    // Blocks 2 and 3 one sector apart, as in the hostile images of the issue.
    let e2 = entry(&io, bat, 2);
    set_entry(&mut io, bat, 3, e2 + 1);
    let msg = check_msg(&mut io).unwrap_err();
    // Named as the reference names it: the first block in BAT order, then the other.
    assert!(
        msg.starts_with("block 2 ") && msg.contains("clobbers block 3"),
        "{msg}"
    );
    let mut d = scanned(io);
    assert_eq!(d.overlap_scan(), Overlaps::Found(2));
    let before = d.io().data.clone();
    let spb = (BLOCK / 512) as u64;
    assert_eq!(d.write(3 * spb, &[0xEE; 512]), refused(3));
    assert_eq!(d.write(2 * spb + 5, &[0xEE; 512]), refused(2));
    // A write spanning a sound block and an aliased one changes nothing at all.
    assert_eq!(d.write(2 * spb - 1, &[0xEE; 1024]), refused(2));
    assert!(d.io().data == before, "a refused write changed the file");
    // Reads of every block still work; the sound blocks read their data.
    let mut buf = vec![0u8; 64 << 10];
    d.read(0, &mut buf).unwrap();
    assert!(buf[..2 * BLOCK] == model[..2 * BLOCK]);
    assert!(buf[2 * BLOCK..3 * BLOCK] == model[2 * BLOCK..3 * BLOCK]);
    // Sound blocks and new allocations still take writes.
    d.write(0, &[0x11; 512]).unwrap();
    d.write(10 * spb, &[0x22; 512]).unwrap();
    let mut s = [0u8; 512];
    d.read(10 * spb, &mut s).unwrap();
    assert_eq!(s, [0x22; 512]);
    d.read(2 * spb, &mut buf[..BLOCK]).unwrap();
    assert!(
        buf[..BLOCK] == model[2 * BLOCK..3 * BLOCK],
        "block 2 changed"
    );
}

/// What the scan prevents: without it the engine trusts the BAT, and a write through
/// block 3 lands in block 2.
#[test]
fn unscanned_write_through_an_alias_changes_the_other_block() {
    let (mut io, _, bat) = written();
    let e2 = entry(&io, bat, 2);
    set_entry(&mut io, bat, 3, e2 + 1);
    let mut d = open(io, true).unwrap();
    assert_eq!(d.overlap_scan(), Overlaps::Unchecked);
    let spb = (BLOCK / 512) as u64;
    d.write(3 * spb, &[0xEE; 512]).unwrap();
    let mut s = [0u8; 512];
    d.read(2 * spb + 1, &mut s).unwrap();
    assert_eq!(s, [0xEE; 512], "the alias is what the scan must catch");
}

#[test]
fn block_entry_inside_another_blocks_data_is_refused() {
    let (mut io, _, bat) = written();
    // Block 3 starts in the middle of block 0's data.
    let e0 = entry(&io, bat, 0);
    set_entry(&mut io, bat, 3, e0 + 4);
    let mut d = scanned(io);
    assert_eq!(d.overlap_scan(), Overlaps::Found(2));
    let spb = (BLOCK / 512) as u64;
    assert_eq!(d.write(3 * spb + 7, &[1; 512]), refused(3));
    assert_eq!(d.write(0, &[1; 512]), refused(0));
    d.write(spb, &[1; 512]).unwrap();
}

#[test]
fn two_entries_naming_the_same_block_are_refused() {
    let (mut io, _, bat) = written();
    let e0 = entry(&io, bat, 0);
    set_entry(&mut io, bat, 1, e0);
    let mut d = scanned(io);
    assert_eq!(d.overlap_scan(), Overlaps::Found(2));
    assert_eq!(d.write(8, &[1; 512]), refused(1));
}

#[test]
fn block_over_a_parent_locator_is_refused() {
    // A differencing disk whose locator payload is moved into block 0: the payload is
    // no longer counted as metadata, but set_parent would still write it.
    let mut p = open(new_image(DiskType::Dynamic, 64 << 10, BLOCK as u32), true).unwrap();
    let mut c = open(new_snapshot(&mut p, "p.vhd"), true).unwrap();
    c.write(0, &[0x33; 512]).unwrap();
    let e0 = c.bat().raw(0).unwrap();
    let mut io = c.into_io();
    reseal_header(&mut io, |h| {
        h.loc[0].data_offset = u64::from(e0) * 512 + 1024
    });
    let mut d = scanned(io);
    assert_eq!(d.overlap_scan(), Overlaps::Found(1));
    assert_eq!(d.write(1, &[1; 512]), refused(0));
}

#[test]
fn sound_images_scan_clean_and_keep_writing() {
    // Blocks that touch but do not overlap, in any BAT order.
    let (mut io, _, bat) = written();
    let (e0, e3) = (entry(&io, bat, 0), entry(&io, bat, 3));
    set_entry(&mut io, bat, 0, e3);
    set_entry(&mut io, bat, 3, e0);
    let mut d = scanned(io);
    assert_eq!(d.overlap_scan(), Overlaps::None);
    d.write(0, &[5; 512]).unwrap();
    // Fresh images of every kind, and the sample images.
    for kind in [DiskType::Fixed, DiskType::Dynamic] {
        let d = scanned(new_image(kind, 1 << 20, 1 << 20));
        assert_eq!(d.overlap_scan(), Overlaps::None);
    }
    for name in [
        "ext2.vhd",
        "fat-differential.vhd",
        "hyperv2012r2-dynamic.vhd",
        "virtualpc-dynamic.vhd",
        "ntfs-fixed.vhd",
    ] {
        let mut d = open(read_image(name), false).unwrap();
        let mut work = vec![0u8; work_size(d.bat().entries())];
        assert_eq!(d.scan_overlaps(&mut work), Ok(0), "{name}");
    }
}

#[test]
fn scan_wants_a_large_enough_buffer() {
    let (io, _, _) = written();
    let mut d = open(io, true).unwrap();
    let n = work_size(d.bat().entries());
    assert_eq!(
        d.scan_overlaps(&mut vec![0u8; n - 1]),
        Err(Error::BufferTooSmall { needed: n })
    );
}
