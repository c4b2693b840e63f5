//! A metadata journal for `vhd-util resize` and `revert`, in the shape of libvhd's
//! (`libvhd-journal`): a 512-byte big-endian header (`vjournal`, the image's UUID, the
//! primary footer's offset, entry counts and offsets, the journal's end stored in host
//! byte order as the reference does), then entries, each a 32-byte record (cookie
//! `0xaaaa12344321aaaa`, type, size, offset, checksum over the record with a zero
//! checksum field and the payload) followed by its payload.
//!
//! Layout choice of this implementation: each record sits at the start of its own
//! 512-byte sector and each payload is padded to whole sectors, so every transfer is
//! sector-aligned. Only metadata is journaled (footer at the end, its copy at 0, header,
//! locator payloads, BAT, batmap header and map): the core grows images in place and
//! never moves data blocks, so there are no data entries.

use std::fs::OpenOptions as FsOpen;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use vhd_nostd::bat::bat_bytes;
use vhd_nostd::footer::FOOTER_SIZE;
use vhd_nostd::header::HEADER_SIZE;
use vhd_nostd::{Io, Kind};

use crate::errno::{Errno, VhdResult};
use crate::image::Image;

/// Journal header cookie.
pub const HEADER_COOKIE: [u8; 8] = *b"vjournal";
/// Entry record cookie.
pub const ENTRY_COOKIE: u64 = 0xaaaa_1234_4321_aaaa;
/// Entry type: the primary footer.
pub const TYPE_FOOTER_P: u32 = 1;
/// Entry type: the footer copy at offset 0.
pub const TYPE_FOOTER_C: u32 = 2;
/// Entry type: the dynamic header.
pub const TYPE_HEADER: u32 = 3;
/// Entry type: a parent locator payload.
pub const TYPE_LOCATOR: u32 = 4;
/// Entry type: the BAT.
pub const TYPE_BAT: u32 = 5;
/// Entry type: the batmap header.
pub const TYPE_BATMAP_H: u32 = 6;
/// Entry type: the batmap bits.
pub const TYPE_BATMAP_M: u32 = 7;

const SECTOR: usize = 512;

fn pad(n: usize) -> usize {
    n.div_ceil(SECTOR) * SECTOR
}

fn entry_checksum(record: &[u8; 32], payload: &[u8]) -> u32 {
    let sum = record
        .iter()
        .enumerate()
        .filter(|(i, _)| !(24..28).contains(i))
        .map(|(_, &b)| u32::from(b))
        .chain(payload.iter().map(|&b| u32::from(b)))
        .fold(0u32, u32::wrapping_add);
    !sum
}

/// What to copy into the journal: `(type, offset, length)` for every metadata region.
fn regions(img: &mut Image) -> VhdResult<Vec<(u32, u64, u64)>> {
    let disk = img.disk_mut();
    if disk.kind() != Kind::Vhd(vhd_nostd::DiskType::Dynamic)
        && disk.kind() != Kind::Vhd(vhd_nostd::DiskType::Differencing)
    {
        return Err(Errno::EINVAL);
    }
    let f = disk.footer().clone();
    let h = disk.header().cloned().ok_or(Errno::EINVAL)?;
    let mut r = vec![
        (TYPE_FOOTER_P, disk.footer_position(), FOOTER_SIZE as u64),
        (TYPE_FOOTER_C, 0, FOOTER_SIZE as u64),
        (TYPE_HEADER, f.data_offset, HEADER_SIZE as u64),
    ];
    for l in h.loc.iter().filter(|l| l.is_used()) {
        r.push((TYPE_LOCATOR, l.data_offset, l.space_bytes()));
    }
    r.push((TYPE_BAT, h.table_offset, bat_bytes(h.max_bat_size)));
    if let Some(b) = disk.batmap_header().cloned() {
        r.push((TYPE_BATMAP_H, disk.batmap_header_offset(), SECTOR as u64));
        r.push((TYPE_BATMAP_M, b.batmap_offset, b.map_bytes()));
    }
    let size = disk.io().size()?;
    if r.iter()
        .any(|&(_, off, len)| off.saturating_add(len) > size)
    {
        return Err(Errno::EINVAL);
    }
    Ok(r)
}

/// Creates the journal `jpath` (which must not exist: `-EEXIST`) holding the image's
/// metadata. Fixed disks have none to journal: `-EINVAL`, as the reference fails.
pub fn create(jpath: &Path, img: &mut Image) -> VhdResult<()> {
    let regions = regions(img)?;
    let mut file = FsOpen::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(jpath)?;
    let res = (|| -> VhdResult<()> {
        let disk = img.disk_mut();
        let mut off = SECTOR as u64;
        for &(kind, at, len) in &regions {
            let len_usize = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
            let mut payload = vec![0u8; pad(len_usize)];
            disk.io().read_at(at, &mut payload[..len_usize])?;
            let mut rec = [0u8; 32];
            rec[0..8].copy_from_slice(&ENTRY_COOKIE.to_be_bytes());
            rec[8..12].copy_from_slice(&kind.to_be_bytes());
            rec[12..16].copy_from_slice(&(len as u32).to_be_bytes());
            rec[16..24].copy_from_slice(&at.to_be_bytes());
            let sum = entry_checksum(&rec, &payload[..len_usize]);
            rec[24..28].copy_from_slice(&sum.to_be_bytes());
            let mut sec = [0u8; SECTOR];
            sec[..32].copy_from_slice(&rec);
            file.write_all_at(&sec, off)?;
            file.write_all_at(&payload, off + SECTOR as u64)?;
            off += (SECTOR + payload.len()) as u64;
        }
        let f = disk.footer();
        let mut hdr = [0u8; SECTOR];
        hdr[0..8].copy_from_slice(&HEADER_COOKIE);
        hdr[8..24].copy_from_slice(f.uuid.as_bytes());
        hdr[24..32].copy_from_slice(&disk.footer_position().to_be_bytes());
        hdr[32..36].copy_from_slice(&0u32.to_be_bytes());
        hdr[36..40].copy_from_slice(&(regions.len() as u32).to_be_bytes());
        hdr[40..48].copy_from_slice(&off.to_be_bytes());
        hdr[48..56].copy_from_slice(&(SECTOR as u64).to_be_bytes());
        hdr[56..64].copy_from_slice(&off.to_ne_bytes());
        file.write_all_at(&hdr, 0)?;
        file.flush()?;
        file.sync_data()?;
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(jpath);
    }
    res
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

/// Copies every journaled region back into the image at `image` and cuts the image to
/// the journaled footer's end. The journal is checked whole (cookies, checksums) before
/// anything is written. The journal file is left in place.
pub fn revert(jpath: &Path, image: &Path) -> VhdResult<()> {
    let journal = std::fs::read(jpath)?;
    if journal.len() < SECTOR || journal[0..8] != HEADER_COOKIE {
        return Err(Errno::EINVAL);
    }
    let footer_off = be64(&journal, 24);
    let count = be32(&journal, 36);
    let mut entries = Vec::new();
    let mut off = usize::try_from(be64(&journal, 48)).map_err(|_| Errno::EINVAL)?;
    for _ in 0..count {
        let rec = journal.get(off..off + 32).ok_or(Errno::EINVAL)?;
        let mut r = [0u8; 32];
        r.copy_from_slice(rec);
        let len = be32(&r, 12) as usize;
        let at = be64(&r, 16);
        let start = off + SECTOR;
        let payload = journal.get(start..start + len).ok_or(Errno::EINVAL)?;
        if be64(&r, 0) != ENTRY_COOKIE || be32(&r, 24) != entry_checksum(&r, payload) {
            return Err(Errno::EINVAL);
        }
        entries.push((at, payload));
        off = start + pad(len);
    }
    let file = FsOpen::new().read(true).write(true).open(image)?;
    for (at, payload) in entries {
        file.write_all_at(payload, at)?;
    }
    file.set_len(footer_off + FOOTER_SIZE as u64)?;
    file.sync_all()?;
    Ok(())
}
