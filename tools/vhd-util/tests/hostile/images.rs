//! The images the hostile cases start from, and the damage only these cases do. The
//! byte-level edits (footers, header, BAT, batmap, locators) are the test kit's, shared
//! with the core's suite (`vhd-nostd/tests/malformed.rs`).

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use uuid::Uuid;
use vhd_nostd::batmap::BatmapHeader;
use vhd_nostd::{DiskType, Footer};
use vhd_std::fileio::{FileIo, OpenMode};
use vhd_std::Image;
use vhd_testkit::{bat_entry, batmap_header_offset_in, be32, edit, rw, Child, MIB};

/// The directory an image is in.
pub fn dir_of(p: &Path) -> &Path {
    p.parent().unwrap()
}

/// Deterministic sector contents of generation `g`.
pub fn pattern(g: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7) ^ g.wrapping_mul(31) ^ ((i / 512) as u8))
        .collect()
}

/// Writes `(first sector, sector count, generation)` runs through the engine.
pub fn write_runs(path: &Path, runs: &[(u64, usize, u8)]) {
    let mut img = Image::open(path, rw()).unwrap();
    for &(s, n, g) in runs {
        img.disk_mut().write(s, &pattern(g, n * 512)).unwrap();
    }
}

/// An 8 MiB dynamic disk as `vhd-util create` makes it, with block 0 written whole and
/// 64 sectors of block 2.
pub fn dynamic(path: &Path) {
    vhd_std::create_file(path, DiskType::Dynamic, 8 * MIB).unwrap();
    write_runs(path, &[(0, 4096, 1), (8192 + 100, 64, 2)]);
}

/// A 2 MiB fixed disk holding a pattern.
pub fn fixed(path: &Path) {
    fixed_of(path, 2 * MIB);
}

/// A fixed disk of `size` bytes holding pattern 3.
pub fn fixed_of(path: &Path, size: u64) {
    vhd_std::create_file(path, DiskType::Fixed, size).unwrap();
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(&pattern(3, size as usize), 0)
        .unwrap();
}

/// `p.vhd` (as [`dynamic`]) beside `path`, and `path` a snapshot of it as `vhd-util
/// snapshot` makes one, with writes in blocks 1 and 2.
pub fn chain(path: &Path) {
    chain_then(path, |_| {});
}

/// [`chain`] with `damage` done before the child's data is written, so that a locator
/// payload it appends lies before the data blocks, where payloads belong (after them,
/// check would first report the blocks as clobbering metadata).
pub fn chain_then(path: &Path, damage: impl FnOnce(&Path)) {
    let p = dir_of(path).join("p.vhd");
    dynamic(&p);
    vhd_std::snapshot_file(path, &p, false).unwrap();
    damage(path);
    write_runs(path, &[(4096 + 10, 20, 4), (8192 + 100, 64, 5)]);
}

/// A differencing disk at `path` on `parent_path` (as its locators hold it, relative to
/// the image's directory) with the identities, size and block size given (for links
/// `vhd-util snapshot` would not make).
pub fn child_of(
    path: &Path,
    uuid: Uuid,
    parent_path: &str,
    parent_uuid: Uuid,
    size: u64,
    block_size: u32,
) {
    let mut io = FileIo::open(path, OpenMode::Create).unwrap();
    Child {
        size,
        block_size,
        uuid,
        timestamp: 1000,
        parent_uuid,
        parent_timestamp: 1000,
        parent_path,
    }
    .create_on(&mut io)
    .unwrap();
}

pub fn uuid_of(path: &Path) -> Uuid {
    let b = fs::read(path).unwrap();
    Footer::decode(&b[b.len() - 512..]).unwrap().uuid
}

/// The file's last sector (where the footer is) as a sector number.
pub fn footer_sector(path: &Path) -> u32 {
    ((fs::metadata(path).unwrap().len() - 512) / 512) as u32
}

/// The batmap header offset of an 8 MiB (4-entry) image: right after the 1-sector BAT.
pub const BATMAP_HDR: usize = 2048;

/// Edits the batmap header sector.
pub fn batmap_poke(path: &Path, at: usize, bytes: &[u8]) {
    edit(path, |b| {
        b[BATMAP_HDR + at..BATMAP_HDR + at + bytes.len()].copy_from_slice(bytes)
    });
}

/// Clears the bitmap bits of sectors 10..20 of block 0 and its batmap bit, resealing
/// the batmap checksum, so that the batmap does not vouch for the block.
pub fn clear_bits_in_block_0(path: &Path) {
    let bm = bat_entry(path, 0) as usize * 512;
    edit(path, |b| {
        b[bm + 1] &= 0b1100_0000;
        b[bm + 2] &= 0b0000_1111;
        let hoff = batmap_header_offset_in(b);
        let mut h = BatmapHeader::parse(&b[hoff..hoff + 512]).unwrap();
        let moff = h.batmap_offset as usize;
        b[moff] &= 0x7F;
        h.checksum = h.compute_checksum(&b[moff..moff + 512]);
        b[hoff..hoff + 512].copy_from_slice(&h.to_bytes());
    });
}

/// A master boot record: a bootable Linux partition entry and the signature.
pub fn mbr() -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[446] = 0x80;
    b[450] = 0x83;
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

/// `h.vhd` -> c1 -> ... -> c256 -> `base.vhd`: 257 differencing disks over a dynamic one.
pub fn deep_chain(path: &Path) {
    let dir = dir_of(path);
    let base = dir.join("base.vhd");
    vhd_std::create_file(&base, DiskType::Dynamic, 8 * MIB).unwrap();
    let mut below = ("./base.vhd".to_string(), uuid_of(&base));
    for i in (1..=256u32).rev() {
        let name = format!("c{i}.vhd");
        let u = Uuid::from_u128(0x1000 + u128::from(i));
        child_of(&dir.join(&name), u, &below.0, below.1, 8 * MIB, 2 << 20);
        below = (format!("./{name}"), u);
    }
    let top = Uuid::from_u128(0x1000);
    child_of(path, top, &below.0, below.1, 8 * MIB, 2 << 20);
    write_runs(path, &[(4096 + 10, 20, 4), (8192 + 100, 64, 5)]);
}

/// A 100 MiB dynamic disk whose footer sits 4096 bytes past 2^32 sectors (a sparse
/// 2 TiB file): metadata at the start, nothing allocated.
pub fn beyond_2tib(path: &Path) {
    vhd_std::create_file(path, DiskType::Dynamic, 100 * MIB).unwrap();
    let meta = fs::read(path).unwrap();
    let f = File::options().write(true).open(path).unwrap();
    let at = (1u64 << 32) * 512 + 4096;
    f.set_len(at).unwrap();
    f.write_all_at(&meta[meta.len() - 512..], at).unwrap();
}

// ---- issue 21 -------------------------------------------------------------------------
//
// Files that must not be compared or restored by the harness (a FIFO, symbolic links, a
// hard link to the image) live in `../aux`, beside the case's image directory, and the
// locators reach them from there.

/// `../aux` of the image at `path`, created.
pub fn aux(path: &Path) -> PathBuf {
    let a = dir_of(path).parent().unwrap().join("aux");
    fs::create_dir_all(&a).unwrap();
    a
}

/// A raw 8 MiB parent `../aux/p.raw` and `path` a snapshot of it with the usual writes;
/// `then` replaces the parent afterwards.
pub fn raw_chain_then(path: &Path, then: fn(&Path)) {
    let raw = aux(path).join("p.raw");
    fs::write(&raw, pattern(9, 8 * MIB as usize)).unwrap();
    vhd_std::snapshot_file(path, &raw, true).unwrap();
    write_runs(path, &[(4096 + 10, 20, 4), (8192 + 100, 64, 5)]);
    fs::remove_file(&raw).unwrap();
    then(&raw);
}

/// A resize journal `h.journal` for the dynamic image at `path` (poisoned, as after a
/// crash), whose entry `rec` is then damaged by `f` and resealed.
pub fn journal_then(path: &Path, rec: usize, f: fn(&mut Vec<u8>, usize)) {
    dynamic(path);
    let mut img = Image::open(path, rw()).unwrap();
    let j = dir_of(path).join("h.journal");
    let journal = vhd_std::journal::create(&j, &mut img).unwrap();
    drop(journal);
    edit(&j, |b| {
        f(b, rec);
        let size = be32(b, rec + 12) as usize;
        b[rec + 24..rec + 28].fill(0);
        let sum = b[rec..rec + 32 + size]
            .iter()
            .fold(0u32, |s, &x| s.wrapping_add(u32::from(x)));
        b[rec + 24..rec + 28].copy_from_slice(&(!sum).to_be_bytes());
    });
}

/// An image whose locators point at `../aux/h.vhd`, with its own UUID as the parent's.
pub fn own_parent(p: &Path) {
    let u = Uuid::from_bytes([1; 16]);
    child_of(p, u, "../aux/h.vhd", u, 8 * MIB, 2 << 20);
    write_runs(p, &[(8192 + 100, 64, 6)]);
}
