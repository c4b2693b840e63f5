//! Model test of growth that moves blocks: random writes into a dynamic disk (always
//! some into its first blocks, which the larger BAT displaces), a journaled growth to
//! a random larger size, random writes past the old end; then every sector must read
//! what a model of the disk says, the image must pass `check`, and `qemu-img compare`
//! must find it equal to a raw file that took the same writes. Sizes and writes come
//! from a fixed-seed generator, so a failure names a case that reruns the same.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use vhd_nostd::check::{check, work_size, CheckOptions};
use vhd_nostd::DiskType;
use vhd_std::fileio::AlignedBuf;
use vhd_std::{journal, Image, OpenOptions};
use vhd_testkit::{rw, workdir, Rng};

/// The writes made, in order: `(sector, sectors, generation)`.
#[derive(Default)]
struct Model(Vec<(u64, u64, u8)>);

fn fill(sector: u64, g: u8, buf: &mut [u8]) {
    for (i, c) in buf.chunks_mut(512).enumerate() {
        let s = sector + i as u64;
        for (j, b) in c.iter_mut().enumerate() {
            *b = (s as u8) ^ (j as u8).wrapping_mul(7) ^ g;
        }
        c[..8].copy_from_slice(&s.to_le_bytes());
        c[8] = g;
    }
}

impl Model {
    /// What `buf` at `sector` must hold.
    fn expect(&self, sector: u64, buf: &mut [u8]) {
        buf.fill(0);
        let n = buf.len() as u64 / 512;
        for &(s, len, g) in &self.0 {
            let (lo, hi) = (s.max(sector), (s + len).min(sector + n));
            if lo < hi {
                let out = &mut buf[((lo - sector) * 512) as usize..((hi - sector) * 512) as usize];
                fill(lo, g, out);
            }
        }
    }
}

/// `count` writes of up to 64 sectors somewhere in `[lo, hi)` sectors, into the image
/// and the raw file, recorded in the model.
#[allow(clippy::too_many_arguments)]
fn writes(
    img: &mut Image,
    raw: &std::fs::File,
    model: &mut Model,
    rng: &mut Rng,
    lo: u64,
    hi: u64,
    count: usize,
    g: u8,
) {
    let mut buf = AlignedBuf::new(64 * 512);
    for _ in 0..count {
        let len = 1 + rng.below(64.min(hi - lo));
        let s = lo + rng.below(hi - lo - len + 1);
        let b = &mut buf[..(len * 512) as usize];
        fill(s, g, b);
        img.disk_mut().write(s, b).unwrap();
        raw.write_all_at(b, s * 512).unwrap();
        model.0.push((s, len, g));
    }
}

fn check_image(path: &Path, case: &str) {
    let mut img = Image::open(path, OpenOptions::default()).unwrap();
    let entries = img.disk().header().unwrap().max_bat_size;
    let mut work = vec![0u8; work_size(entries)];
    let opts = CheckOptions {
        ignore_primary: false,
        now: u32::MAX,
    };
    if let Err(p) = check(img.disk_mut().io(), &opts, &mut work) {
        panic!("{case}: check: {}", p.message);
    }
}

/// Runs one case; returns how many blocks the growth moved.
fn one_case(seed: u64) -> u32 {
    let case = format!("seed {seed}");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let d = workdir!("grow-model", seed.to_string());
    let (vhd, jpath, rawp) = (d.join("m.vhd"), d.join("m.journal"), d.join("m.raw"));
    // 8 to 120 MiB, then 300 MiB to 2 GiB: 129 to 1024 BAT entries, 2 to 8 sectors.
    let old_mb = 8 + 2 * rng.below(57);
    let new_mb = 300 + rng.below(1749);
    vhd_std::create_file(&vhd, DiskType::Dynamic, old_mb << 20).unwrap();
    let raw = std::fs::File::create(&rawp).unwrap();
    raw.set_len(old_mb << 20).unwrap();
    let mut model = Model::default();
    let mut img = Image::open(&vhd, rw()).unwrap();
    let old_sectors = img.disk().sectors();
    // The first blocks, then anywhere.
    writes(&mut img, &raw, &mut model, &mut rng, 0, 3 * 4096, 6, 1);
    writes(&mut img, &raw, &mut model, &mut rng, 0, old_sectors, 20, 2);
    drop(img);

    let mut img = Image::open(&vhd, rw()).unwrap();
    let mut jnl = journal::create(&jpath, &mut img).unwrap();
    let new_size = new_mb << 20;
    let plan = vhd_nostd::resize::plan(img.disk(), new_size).unwrap();
    assert!(plan.relocates, "{case}: the BAT grows");
    vhd_std::resize::grow(&mut img, &mut jnl, new_size, |_| {}).unwrap();
    jnl.commit(&mut img).unwrap();
    assert!(!jpath.exists(), "{case}: journal removed");
    raw.set_len(new_size).unwrap();
    // Writes past the old end, and across the whole disk, into the open image.
    let new_sectors = img.disk().sectors();
    assert_eq!(new_sectors * 512, new_size, "{case}");
    writes(
        &mut img,
        &raw,
        &mut model,
        &mut rng,
        old_sectors,
        new_sectors,
        15,
        3,
    );
    writes(&mut img, &raw, &mut model, &mut rng, 0, new_sectors, 15, 4);
    drop(img);

    check_image(&vhd, &case);
    let mut img = Image::open(&vhd, OpenOptions::default()).unwrap();
    let chunk = 4 << 20;
    let (mut got, mut want) = (AlignedBuf::new(chunk), vec![0u8; chunk]);
    let mut s = 0;
    while s < new_sectors {
        let n = ((new_sectors - s) * 512).min(chunk as u64) as usize;
        img.disk_mut().read(s, &mut got[..n]).unwrap();
        model.expect(s, &mut want[..n]);
        if got[..n] != want[..n] {
            let bad = (0..n / 512).find(|&i| got[i * 512..][..512] != want[i * 512..][..512]);
            panic!("{case}: sector {} differs", s + bad.unwrap() as u64);
        }
        s += (n / 512) as u64;
    }
    drop(img);
    let out = Command::new("qemu-img")
        .args(["compare", "-f", "vpc", "-F", "raw"])
        .arg(&vhd)
        .arg(&rawp)
        .output()
        .expect("qemu-img (install qemu-utils)");
    assert!(
        out.status.success(),
        "{case}: qemu-img compare: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&d);
    plan.blocks_moved
}

#[test]
fn random_writes_grow_that_moves_blocks_random_writes() {
    // Up to 512 MiB the larger BAT and batmap still end before the first block
    // (only the batmap moves); beyond, the first blocks move too.
    let moved: Vec<u32> = (1..=6).map(one_case).collect();
    assert!(moved.iter().filter(|&&m| m > 0).count() >= 3, "{moved:?}");
}
