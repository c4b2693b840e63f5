//! Structure-aware mutation fuzzing (issue 21): field-level edits of footers, header,
//! locators, BAT, batmap and bitmaps, with every checksum resealed so the edit reaches
//! the code behind the checksum tests, on dynamic and differencing images. Each mutant is
//! judged against a model of what every sector must read, computed here independently
//! of the engine from the mutant's bytes the way libvhd's read path does (BAT, then the
//! sector bitmap, which is authoritative; absent sectors are zeros or the parent's):
//!
//! - no panic anywhere (open, read, write, check);
//! - a sector the engine reads successfully holds what the model says;
//! - an image `check` calls valid that opens reads whole, matching the model;
//! - after a successful write of a few sectors, the written sectors read back and every
//!   other sector the engine reads still matches the model (nothing lost), unless
//!   check found overlapping blocks (writes through aliases are issue 17's);
//! - a refused open writes nothing.
//!
//! The seed and the iteration count are fixed (deterministic); `VHD_MUTATE_ITERS` and
//! `VHD_MUTATE_SEED` run longer or other campaigns (RELIABILITY.md records one).

use vhd_nostd::batmap::BatmapHeader;
use vhd_nostd::bitmap::{BitOrder, Bitmap};
use vhd_nostd::{read_chain, DiskType, Footer, Header};
use vhd_testkit::*;

/// Mutants per kind of image in `make check`: a few seconds in a debug build.
const DEFAULT_ITERS: u64 = 400;
const SIZE: u64 = 4 << 20;
const BLOCK: u32 = 512 << 10;
const SECTORS: u64 = SIZE / 512;

/// A value for a field that was `old` in a file of `len` bytes: the boundaries the
/// engine's checks turn on, or anything.
fn pick(rng: &mut Rng, old: u64, len: u64) -> u64 {
    match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => 511,
        3 => 512,
        4 => 1536,
        5 => old.wrapping_add(1),
        6 => old.wrapping_sub(1),
        7 => old.wrapping_add(512),
        8 => old.wrapping_sub(512),
        9 => len,
        10 => len.wrapping_sub(512),
        11 => u64::from(u32::MAX),
        12 => u64::MAX,
        _ => rng.next(),
    }
}

/// A dynamic image with blocks 0 (whole), 2 (partly written, so its bitmap is full as
/// dynamic blocks are) and 5 written, and its content.
fn dynamic_image() -> (VecIo, Vec<u8>) {
    let io = new_image(DiskType::Dynamic, SIZE, BLOCK);
    let mut d = open(io, true).unwrap();
    let mut model = vec![0u8; SIZE as usize];
    for (s, n, g) in [
        (0u64, 1024usize, 1u8),
        (2048 + 7, 30, 2),
        (5 * 1024 + 1000, 24, 3),
    ] {
        let mut b = vec![0u8; n * 512];
        pattern(s, g, &mut b);
        d.write(s, &b).unwrap();
        model[s as usize * 512..][..b.len()].copy_from_slice(&b);
    }
    (d.into_io(), model)
}

/// A parent (whole) and a differencing child with partial blocks 1 and 3 and a whole
/// block 6, the parent's content and the chain's.
fn differencing_image() -> (VecIo, VecIo, Vec<u8>, Vec<u8>) {
    let io = new_image(DiskType::Dynamic, SIZE, BLOCK);
    let mut p = open(io, true).unwrap();
    let mut pmodel = vec![0u8; SIZE as usize];
    pattern(77, 7, &mut pmodel);
    p.write(0, &pmodel).unwrap();
    let cio = new_snapshot_with(&mut p, "p.vhd", BLOCK);
    let mut c = open(cio, true).unwrap();
    let mut model = pmodel.clone();
    for (s, n, g) in [
        (1024 + 3, 9usize, 4u8),
        (3 * 1024 + 500, 40, 5),
        (6 * 1024, 1024, 6),
    ] {
        let mut b = vec![0u8; n * 512];
        pattern(s, g, &mut b);
        c.write(s, &b).unwrap();
        model[s as usize * 512..][..b.len()].copy_from_slice(&b);
    }
    (p.into_io(), c.into_io(), pmodel, model)
}

/// What a sector must read, from the image's bytes (the model): `None` where the
/// metadata sends the read outside the file, which the engine must refuse. Bitmaps are
/// MSB-first except in images by tap 0.1 (`order`).
fn model_sector(
    data: &[u8],
    order: BitOrder,
    h: &Header,
    parent: Option<&[u8]>,
    s: u64,
) -> Option<Vec<u8>> {
    let spb = u64::from(h.block_size / 512);
    let block = s / spb;
    let off = s % spb;
    let bm_bytes = (spb / 8).div_ceil(512).max(1) * 512;
    let absent = || match parent {
        Some(p) if (s as usize + 1) * 512 <= p.len() => Some(p[s as usize * 512..][..512].to_vec()),
        _ => Some(vec![0u8; 512]),
    };
    let entry_at = h.table_offset.checked_add(block * 4)? as usize;
    let e = u32::from_be_bytes(data.get(entry_at..entry_at + 4)?.try_into().ok()?);
    if e == u32::MAX {
        return absent();
    }
    let start = u64::from(e) * 512;
    let bitmap = data.get(start as usize..(start + bm_bytes) as usize)?;
    if !Bitmap::new(bitmap, order).test(off as u32) {
        return absent();
    }
    let at = (start + bm_bytes + off * 512) as usize;
    data.get(at..at + 512).map(<[u8]>::to_vec)
}

/// The bit order of the sector bitmaps: LSB-first in images by tap 0.1 (blktap's).
fn bit_order(f: &Footer) -> BitOrder {
    if f.crtr_app[..3] == *b"tap" && f.crtr_ver == 0x0000_0001 {
        BitOrder::LsbFirst
    } else {
        BitOrder::MsbFirst
    }
}

/// Whether two allocated BAT entries share sectors (bitmap plus data span).
fn overlapping_blocks(data: &[u8], h: &Header) -> bool {
    let spb = u64::from(h.block_size / 512);
    let span = spb + (spb / 8).div_ceil(512).max(1);
    let mut starts: Vec<u64> = (0..u64::from(h.max_bat_size))
        .filter_map(|b| {
            let at = usize::try_from(h.table_offset.checked_add(b * 4)?).ok()?;
            let e = u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?);
            (e != u32::MAX).then_some(u64::from(e))
        })
        .collect();
    starts.sort_unstable();
    starts.windows(2).any(|w| w[1] < w[0] + span)
}

/// Edits one field of one structure and reseals what covers it.
fn mutate(rng: &mut Rng, io: &mut VecIo) -> String {
    let len = io.data.len() as u64;
    // An earlier edit may have sent the header anywhere: then only the footers are
    // edited, and offsets read from the header are used only where they fit the file.
    let h = match header_of_opt(io) {
        Some(h) => h,
        None => Header::decode(&[0u8; 1024]).unwrap(),
    };
    let be32_at = |d: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            d.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let table = usize::try_from(h.table_offset).unwrap_or(usize::MAX);
    let bm_hdr = table.saturating_add((h.max_bat_size as usize * 4).div_ceil(512) * 512);
    let kind = if header_of_opt(io).is_some() {
        rng.below(8)
    } else {
        0
    };
    match kind {
        0 | 1 => {
            let copy = rng.below(4) != 0;
            let which = rng.below(9);
            let mut what = String::new();
            reseal_footers(io, copy, |f| {
                what = match which {
                    0 => {
                        f.data_offset = pick(rng, f.data_offset, len);
                        "footer data_offset"
                    }
                    1 => {
                        f.curr_size = pick(rng, f.curr_size, len);
                        "footer curr_size"
                    }
                    2 => {
                        f.disk_type = pick(rng, u64::from(f.disk_type), len) as u32;
                        "footer disk_type"
                    }
                    3 => {
                        f.ff_version = pick(rng, u64::from(f.ff_version), len) as u32;
                        "footer ff_version"
                    }
                    4 => {
                        f.features = rng.below(8) as u32;
                        "footer features"
                    }
                    5 => {
                        f.crtr_ver = pick(rng, u64::from(f.crtr_ver), len) as u32;
                        "footer crtr_ver"
                    }
                    6 => {
                        f.uuid = uuid(rng.below(4) as u8);
                        "footer uuid"
                    }
                    7 => {
                        f.hidden = rng.below(3) as u8;
                        "footer hidden"
                    }
                    _ => {
                        f.saved = rng.below(3) as u8;
                        "footer saved"
                    }
                }
                .into();
            });
            format!("{what} (copy at 0: {copy})")
        }
        2 | 3 => {
            let which = rng.below(9);
            let slot = rng.below(8) as usize;
            let mut what = "";
            reseal_header(io, |h| {
                what = match which {
                    0 => {
                        h.table_offset = pick(rng, h.table_offset, len);
                        "header table_offset"
                    }
                    1 => {
                        h.max_bat_size = pick(rng, u64::from(h.max_bat_size), len) as u32;
                        "header max_bat_size"
                    }
                    2 => {
                        h.block_size = pick(rng, u64::from(h.block_size), len) as u32;
                        "header block_size"
                    }
                    3 => {
                        h.hdr_ver = pick(rng, u64::from(h.hdr_ver), len) as u32;
                        "header hdr_ver"
                    }
                    4 => {
                        h.data_offset = pick(rng, h.data_offset, len);
                        "header data_offset"
                    }
                    5 => {
                        h.loc[slot].data_offset = pick(rng, h.loc[slot].data_offset, len);
                        "locator data_offset"
                    }
                    6 => {
                        h.loc[slot].data_len =
                            pick(rng, u64::from(h.loc[slot].data_len), len) as u32;
                        "locator data_len"
                    }
                    7 => {
                        h.loc[slot].code = pick(rng, u64::from(h.loc[slot].code), len) as u32;
                        "locator code"
                    }
                    _ => {
                        h.prt_uuid = uuid(rng.below(4) as u8);
                        "header prt_uuid"
                    }
                };
            });
            what.into()
        }
        4 | 5 => {
            // A BAT entry: aliased to another, freed, or moved.
            let n = u64::from(h.max_bat_size.min(64));
            let b = rng.below(n) as usize;
            let at = table.saturating_add(b * 4);
            let Some(old) = be32_at(&io.data, at) else {
                return "BAT outside the file".into();
            };
            let other = table.saturating_add(rng.below(n) as usize * 4);
            let new = match rng.below(4) {
                0 => be32_at(&io.data, other).unwrap_or(u32::MAX),
                1 => u32::MAX,
                _ => pick(rng, u64::from(old), len / 512) as u32,
            };
            io.data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            format!("BAT entry {b}: {old:#x} -> {new:#x}")
        }
        6 => {
            // The batmap: a map bit flipped or a header field, checksum resealed.
            let sector = io.data.get(bm_hdr..bm_hdr.saturating_add(512));
            let Some(Ok(mut bh)) = sector.map(BatmapHeader::parse) else {
                return "no batmap".into();
            };
            let moff = usize::try_from(bh.batmap_offset).unwrap_or(usize::MAX);
            let what = if rng.below(2) == 0 {
                let bit = rng.below(u64::from(h.max_bat_size.clamp(1, 4096))) as usize;
                match io.data.get_mut(moff.saturating_add(bit / 8)) {
                    Some(x) => *x ^= 0x80 >> (bit % 8),
                    None => return "batmap map outside the file".into(),
                }
                format!("batmap bit {bit}")
            } else {
                match rng.below(3) {
                    0 => bh.batmap_offset = pick(rng, bh.batmap_offset, len),
                    1 => bh.batmap_size = pick(rng, u64::from(bh.batmap_size), len) as u32,
                    _ => bh.batmap_version = pick(rng, u64::from(bh.batmap_version), len) as u32,
                }
                "batmap header".into()
            };
            if let Some(map) = io.data.get(moff..moff.saturating_add(512)) {
                bh.checksum = bh.compute_checksum(map);
            }
            io.data[bm_hdr..bm_hdr + 512].copy_from_slice(&bh.to_bytes());
            what
        }
        _ => {
            // A bitmap byte of an allocated block (no checksum covers bitmaps).
            let n = u64::from(h.max_bat_size.min(64));
            let b = rng.below(n) as usize;
            let e = be32_at(&io.data, table.saturating_add(b * 4)).unwrap_or(u32::MAX);
            if e == u32::MAX {
                return "unallocated bitmap".into();
            }
            let byte = e as usize * 512 + rng.below(128) as usize;
            if let Some(x) = io.data.get_mut(byte) {
                *x = match rng.below(3) {
                    0 => 0,
                    1 => 0xFF,
                    _ => *x ^ (1 << rng.below(8)),
                };
            }
            format!("bitmap byte of block {b}")
        }
    }
}

/// Judges one mutant (see the module documentation); returns problems found.
fn judge(io: &VecIo, parent: Option<&VecIo>, pmodel: Option<&[u8]>) -> Vec<String> {
    let mut bad = Vec::new();
    let verdict = check_msg(&mut io.clone());
    // The structural check passing and open refusing is the CLI's order (it opens after
    // the structural checks and reports a failed open): only a passing check *and* a
    // successful open promise whole reads.
    let valid = verdict.is_ok();
    let mut c = io.clone();
    let d = match open(&mut c, false) {
        Ok(d) => d,
        Err(_) => {
            let mut w = io.clone();
            if open(&mut w, true).is_err() && w.data != io.data {
                bad.push("a refused read-write open wrote".into());
            }
            return bad;
        }
    };
    let f = d.footer().clone();
    let Some(h) = d.header().cloned() else {
        return bad;
    };
    let sectors = d.sectors();
    drop(d);
    let differencing = f.kind() == Some(DiskType::Differencing);
    let order = bit_order(&f);
    let parent_data = if differencing { pmodel } else { None };
    let model: Vec<Option<Vec<u8>>> = (0..sectors)
        .map(|s| model_sector(&io.data, order, &h, parent_data, s))
        .collect();
    // Reads, sector by sector.
    let mut reader = vec![open(io.clone(), false).unwrap()];
    if differencing {
        match parent.map(|p| open(p.clone(), false)) {
            Some(Ok(p)) => reader.push(p),
            _ => return bad,
        }
    }
    let mut got = vec![0u8; 512];
    for s in 0..sectors {
        match read_chain(&mut reader, s, &mut got) {
            Ok(()) => {
                if model[s as usize].as_deref() != Some(&got[..]) {
                    bad.push(format!("sector {s} reads other data than the model"));
                    break;
                }
            }
            Err(e) if valid => {
                bad.push(format!("check says valid, sector {s} fails: {e:?}"));
                break;
            }
            Err(_) => {}
        }
    }
    drop(reader);
    // A write of a few sectors: they read back, and nothing else changes. Blocks that
    // overlap make a write through one change the other: refusing such writes is issue
    // 17's, so the rule is not applied to them.
    if overlapping_blocks(&io.data, &h) {
        return bad;
    }
    let mut w = io.clone();
    let Ok(mut d) = open(&mut w, true) else {
        return bad;
    };
    let at = (sectors / 3).min(SECTORS - 1) & !7;
    let n = 5.min(sectors.saturating_sub(at)) as usize;
    if n == 0 {
        return bad;
    }
    let mut data = vec![0u8; n * 512];
    pattern(at, 99, &mut data);
    if d.write(at, &data).is_err() {
        return bad;
    }
    drop(d);
    let mut reader = vec![open(w.clone(), false).unwrap()];
    if differencing {
        reader.push(open(parent.unwrap().clone(), false).unwrap());
    }
    for s in 0..sectors {
        let want = if (at..at + n as u64).contains(&s) {
            Some(data[(s - at) as usize * 512..][..512].to_vec())
        } else {
            model[s as usize].clone()
        };
        if read_chain(&mut reader, s, &mut got).is_ok() && want.as_deref() != Some(&got[..]) {
            bad.push(format!(
                "after a write at {at}, sector {s} reads other data"
            ));
            break;
        }
    }
    bad
}

fn campaign(kind: &str, iters: u64, seed: u64) {
    let (base, parent, pmodel, _) = match kind {
        "dynamic" => {
            let (io, _) = dynamic_image();
            (io, None, None, ())
        }
        _ => {
            let (p, c, pm, _) = differencing_image();
            (c, Some(p), Some(pm), ())
        }
    };
    let mut rng = Rng(seed | 1);
    let mut failures = Vec::new();
    let mut opened = 0u64;
    for i in 0..iters {
        let mut io = base.clone();
        let edits = 1 + rng.below(2);
        let mut what = Vec::new();
        for _ in 0..edits {
            what.push(mutate(&mut rng, &mut io));
        }
        if open(io.clone(), false).is_ok() {
            opened += 1;
        }
        for p in judge(&io, parent.as_ref(), pmodel.as_deref()) {
            failures.push(format!("{kind} mutant {i} ({}): {p}", what.join("; ")));
        }
    }
    eprintln!("mutate {kind}: {iters} mutants, seed {seed:#x}, {opened} opened");
    assert!(
        failures.is_empty(),
        "{} of {iters} mutants failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn mutants_of_a_dynamic_image_read_as_the_model_says() {
    let iters = env_u64("VHD_MUTATE_ITERS", DEFAULT_ITERS);
    campaign("dynamic", iters, env_u64("VHD_MUTATE_SEED", 0x21_0001));
}

#[test]
fn mutants_of_a_differencing_image_read_as_the_model_says() {
    let iters = env_u64("VHD_MUTATE_ITERS", DEFAULT_ITERS);
    campaign("differencing", iters, env_u64("VHD_MUTATE_SEED", 0x21_0002));
}

#[test]
fn the_model_matches_the_engine_on_clean_images() {
    // The oracle itself: on unmutated images it says what the engine reads.
    let (io, model) = dynamic_image();
    assert!(judge(&io, None, None).is_empty());
    let d = open(io.clone(), false).unwrap();
    let h = d.header().cloned().unwrap();
    for s in 0..SECTORS {
        let m = model_sector(&io.data, BitOrder::MsbFirst, &h, None, s).unwrap();
        assert!(m[..] == model[s as usize * 512..][..512], "sector {s}");
    }
    let (p, c, pm, model) = differencing_image();
    assert!(judge(&c, Some(&p), Some(&pm)).is_empty());
    let d = open(c.clone(), false).unwrap();
    let h = d.header().cloned().unwrap();
    for s in 0..SECTORS {
        let m = model_sector(&c.data, BitOrder::MsbFirst, &h, Some(&pm), s).unwrap();
        assert!(m[..] == model[s as usize * 512..][..512], "sector {s}");
    }
}
