//! Arbitrary bytes as an image file: probe, open with bounded buffers, read a few
//! sectors (through a raw parent for a differencing disk), decode the parent links,
//! run check, then write one sector into a writable copy and read it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vhd_nostd::check::{check, work_size, CheckOptions};
use vhd_nostd::{read_chain, Disk, DiskType, Kind};

#[path = "harness.rs"]
mod harness;
use harness::{mem, open, Mem};

/// Reads through a chain whose bottom is a small raw disk of 0x5A bytes.
fn read(d: Disk<Mem, Vec<u8>>, sector: u64, buf: &mut [u8]) -> (Disk<Mem, Vec<u8>>, bool) {
    let parent: Disk<Mem, Vec<u8>> = Disk::open_raw(mem(&[0x5A; 8192]), false).unwrap();
    let mut chain = [d, parent];
    let ok = read_chain(&mut chain, sector, buf).is_ok();
    let [d, _] = chain;
    (d, ok)
}

fuzz_target!(|data: &[u8]| {
    let mut work = vec![0u8; work_size(1 << 16)];
    let _ = check(
        &mut mem(data),
        &CheckOptions {
            ignore_primary: data.first() == Some(&1),
            now: u32::MAX,
        },
        &mut work,
    );
    let Some(mut d) = open(data, false) else {
        return;
    };
    let sectors = d.sectors();
    let seed = data
        .iter()
        .fold(0u64, |h, &b| h.wrapping_mul(31) ^ u64::from(b));
    let mut buf = vec![0u8; 64 * 512];
    if sectors > 0 {
        for s in [0, sectors - 1, sectors / 2, seed % sectors] {
            let n = (sectors - s).min(64) as usize;
            let (back, _) = read(d, s, &mut buf[..n * 512]);
            d = back;
            let _ = d.map_sectors(s, u32::MAX);
        }
    }
    if d.kind() == Kind::Vhd(DiskType::Differencing) {
        let mut scratch = vec![0u8; 16 << 10];
        let mut out = vec![0u8; 16 << 10];
        for i in 0..8 {
            let _ = d.parent_locator_path(i, &mut scratch, &mut out);
        }
        let mut name = [0u8; 1024];
        let _ = d.header().map(|h| h.parent_name(&mut name));
    }
    drop(d);

    // A writable copy: one sector written must read back.
    let Some(w) = open(data, true) else {
        return;
    };
    if sectors == 0 {
        return;
    }
    let s = seed.rotate_left(17) % sectors;
    let sector = [0xC3u8; 512];
    let mut w = w;
    if w.write(s, &sector).is_ok() {
        let mut back = [0u8; 512];
        let (w2, ok) = read(w, s, &mut back);
        w = w2;
        assert!(ok, "a written sector must read");
        assert_eq!(back, sector, "a written sector reads back");
    }
    // Reopen what the engine left: it must still open (or fail cleanly).
    let after = w.into_io().data;
    if let Some(mut r) = open(&after, false) {
        if r.sectors() > 0 {
            let (_, _) = read(r, 0, &mut buf[..512]);
        } else {
            let _ = r.read(0, &mut []);
        }
    }
});
