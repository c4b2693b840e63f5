//! Changing a sparse disk's virtual size.
//!
//! Growth needs more BAT entries. When they fit in the sectors the BAT and the batmap
//! already have, the disk grows in place ([`grow`]): new entries, header, footers, and
//! nothing moves. Otherwise the metadata is laid out again from the BAT's offset on —
//! the larger BAT, then the batmap header and map, then the parent locator payloads —
//! and whatever data blocks lie in that space are copied to the end of the data area
//! first ([`grow_journaled`]).
//!
//! Relocation overwrites bytes (the heads of the moved blocks, the old batmap and
//! locators) that only a journal can give back, so it runs only under one
//! ([`crate::journal`]): the journal already holds the metadata; the bytes the new
//! metadata will cover are added to it as data entries and made durable before the
//! image is touched. Every later write then lands in a journaled range or past the old
//! end of the file, which the revert cuts off: a crash anywhere is undone byte for byte
//! by [`crate::journal::revert`].
//!
//! Shrinking ([`shrink`]) only lowers the size the footers announce, and only when no
//! allocated block lies beyond the new size; the BAT keeps its entries.

use crate::bat::{self, UNUSED};
use crate::batmap;
use crate::disk::Disk;
use crate::error::Error;
use crate::geometry;
use crate::io::Io;
use crate::journal::{self, JournalHeader, Region, TYPE_DATA};
use crate::locator::LOCATOR_COUNT;
use crate::write::write_zeros;
use crate::SECTOR_SIZE;

const SECTOR: u64 = SECTOR_SIZE as u64;
/// A block's data area starts on this boundary, as blktap places new blocks.
const DATA_ALIGN: u64 = 4096;
/// Most bytes of locator payloads a growth moves (they pass through the copy buffer
/// at once); blktap writes at most a few KiB.
const MAX_LOCATOR_BYTES: u64 = 16 << 20;

/// How many BAT entries `disk` can hold without moving anything.
pub fn bat_capacity<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(disk: &Disk<I, B>) -> u32 {
    match disk.header() {
        Some(h) => {
            let sectors = bat::bat_sectors(h.max_bat_size);
            let by_buffer = disk.bat.as_bytes().len() as u64 / 4;
            (sectors * (SECTOR_SIZE as u64 / 4))
                .min(by_buffer)
                .min(u64::from(u32::MAX)) as u32
        }
        None => 0,
    }
}

/// Where a growth puts things, found by [`plan`] from the open disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrowPlan {
    /// The new virtual size in bytes.
    pub new_size: u64,
    /// BAT entries afterwards (`max_bat_size`).
    pub entries: u32,
    /// Whether metadata and blocks move (else the growth is in place).
    pub relocates: bool,
    /// Blocks that move to the end of the data area.
    pub blocks_moved: u32,
    /// End of the metadata afterwards (BAT, batmap, locators), bytes.
    pub meta_end: u64,
    /// Byte offset of the primary footer afterwards.
    pub footer_pos: u64,
    /// Bytes of the BAT buffer the growth needs.
    pub bat_bytes: usize,
    /// Bytes of the batmap buffer the growth needs (0 without a batmap).
    pub batmap_bytes: usize,
    /// Bytes of the copy buffer [`grow_journaled`] needs: one block with its bitmap
    /// (2 MiB + 512 for the usual 2 MiB blocks), or the locator payloads, which pass
    /// through it at once, if they are larger.
    pub copy_bytes: usize,
    old_bat_end: u64,
    old_end: u64,
    bat_end: u64,
    map_sectors: u32,
    locators: [Option<u64>; LOCATOR_COUNT],
    locator_bytes: u64,
}

impl GrowPlan {
    /// The image bytes the relocation overwrites that the metadata entries of a journal
    /// do not hold: from the old BAT's end to the new metadata's end, inside the old
    /// file. `None` for a growth in place.
    pub fn overwritten(&self) -> Option<Region> {
        let end = self.meta_end.min(self.old_end);
        (self.relocates && end > self.old_bat_end).then_some(Region {
            entry_type: TYPE_DATA,
            offset: self.old_bat_end,
            len: end - self.old_bat_end,
        })
    }
}

/// Where a block moved to the end of the data area starts, for the end `at`: its data
/// 4 KiB-aligned, as [`Disk::write`] places new blocks.
fn block_dest(at: u64, bitmap_bytes: u64) -> u64 {
    (at.div_ceil(SECTOR) * SECTOR + bitmap_bytes).div_ceil(DATA_ALIGN) * DATA_ALIGN - bitmap_bytes
}

/// What every size change asks of the disk and the size: writable, no saved state, a
/// whole number of sectors up to the format's maximum.
fn ready<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
    new_size: u64,
) -> Result<(), Error<I::Error>> {
    disk.require_writable()?;
    if disk.footer.saved != 0 {
        return Err(Error::SavedState);
    }
    if !new_size.is_multiple_of(SECTOR) || new_size > crate::create::MAX_SIZE {
        return Err(Error::InvalidArgument("size"));
    }
    Ok(())
}

/// A buffer length that a 32-bit host can address (else the growth is too large for it).
fn buffer_len<E>(bytes: u64) -> Result<usize, Error<E>> {
    usize::try_from(bytes).map_err(|_| Error::InvalidArgument("size"))
}

/// Whether a growth of the sparse `disk` to `new_size` has nothing to do.
fn same_size<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
    new_size: u64,
) -> Result<bool, Error<I::Error>> {
    ready(disk, new_size)?;
    Ok(disk.header.is_some() && new_size == disk.size())
}

/// Lays out a growth of `disk` (open read-write, dynamic or differencing) to
/// `new_size` bytes, larger than now: the entries it needs, whether anything must move,
/// and the buffers it needs ([`GrowPlan::bat_bytes`], [`GrowPlan::batmap_bytes`],
/// [`GrowPlan::copy_bytes`]).
pub fn plan<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
    new_size: u64,
) -> Result<GrowPlan, Error<I::Error>> {
    plan_with(disk, new_size, true)
}

/// [`plan`]; without `relocation`, a growth that needs it is [`Error::NoSpace`].
fn plan_with<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
    new_size: u64,
    relocation: bool,
) -> Result<GrowPlan, Error<I::Error>> {
    ready(disk, new_size)?;
    let h = disk.header.as_ref().ok_or(Error::WrongDiskType)?;
    if new_size <= disk.size() {
        return Err(Error::InvalidArgument("size"));
    }
    let old = h.max_bat_size;
    let needed = u32::try_from(new_size.div_ceil(u64::from(h.block_size)))
        .map_err(|_| Error::InvalidArgument("size"))?;
    let entries = needed.max(old);
    let span = disk.block_span_bytes();
    let bm = u64::from(h.bitmap_sectors()) * SECTOR;
    let old_bat_end = h.table_offset + bat::bat_bytes(old);
    let bat_end = h.table_offset + bat::bat_bytes(entries);
    let map_sectors = disk
        .batmap_hdr
        .as_ref()
        .map_or(0, |b| batmap::map_sectors(entries).max(b.batmap_size));
    let relocates = bat_end != old_bat_end
        || disk
            .batmap_hdr
            .as_ref()
            .is_some_and(|b| map_sectors > b.batmap_size);
    let mut p = GrowPlan {
        new_size,
        entries,
        relocates,
        blocks_moved: 0,
        meta_end: disk.end_of_headers,
        footer_pos: disk.footer_pos,
        bat_bytes: buffer_len(bat::bat_bytes(entries))?,
        batmap_bytes: buffer_len(u64::from(map_sectors) * SECTOR)?,
        copy_bytes: span as usize,
        old_bat_end,
        old_end: disk.footer_pos + SECTOR,
        bat_end,
        map_sectors,
        locators: [None; LOCATOR_COUNT],
        locator_bytes: 0,
    };
    if !relocates {
        return Ok(p);
    }
    if !relocation {
        return Err(Error::NoSpace);
    }
    // The new metadata: BAT, batmap header and map, locator payloads, packed.
    let mut end = bat_end;
    if disk.batmap_hdr.is_some() {
        end += SECTOR + u64::from(map_sectors) * SECTOR;
    }
    for (slot, l) in p.locators.iter_mut().zip(h.loc.iter()) {
        if l.is_used() && l.space_bytes() > 0 {
            *slot = Some(end);
            end += l.space_bytes();
            p.locator_bytes += l.space_bytes();
        }
    }
    if p.locator_bytes > MAX_LOCATOR_BYTES {
        return Err(Error::InvalidArgument("parent locators too large to move"));
    }
    p.copy_bytes = p.copy_bytes.max(p.locator_bytes as usize);
    let hdr_off = disk.footer.data_offset;
    if crate::layout::overlaps(
        hdr_off,
        crate::header::HEADER_SIZE as u64,
        h.table_offset,
        end - h.table_offset,
    ) {
        // The header sits where the BAT would grow; no tool lays images out so.
        return Err(Error::InvalidArgument("header after the BAT"));
    }
    p.meta_end = end.max(disk.end_of_headers);
    // Blocks in the way go, in BAT order, after everything that stays.
    let mut at = disk.footer_pos.max(p.meta_end);
    let mut moved = 0u32;
    for (_, s) in disk.bat.allocated() {
        let start = u64::from(s) * SECTOR;
        if start < p.meta_end {
            let to = block_dest(at, bm);
            // A BAT entry holds the sector number in 32 bits.
            if to / SECTOR >= u64::from(UNUSED) {
                return Err(Error::NoSpace);
            }
            at = to + span;
            moved += 1;
        }
    }
    p.blocks_moved = moved;
    p.footer_pos = at.div_ceil(SECTOR) * SECTOR;
    Ok(p)
}

/// Hands `disk` the larger BAT and batmap buffers a growth needs ([`GrowPlan::bat_bytes`],
/// [`GrowPlan::batmap_bytes`]): the table and map in use are copied over, the rest
/// zeroed, and the old buffers are returned. Buffers too small for the table and map in
/// use are refused.
pub fn reserve<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    mut bat: B,
    mut batmap: B,
) -> Result<(B, B), Error<I::Error>> {
    let old_bat = bat::bat_bytes(disk.bat.entries()) as usize;
    let old_map = disk
        .batmap_hdr
        .as_ref()
        .map_or(0, |h| h.map_bytes() as usize);
    if bat.as_ref().len() < old_bat {
        return Err(Error::BufferTooSmall { needed: old_bat });
    }
    if batmap.as_ref().len() < old_map {
        return Err(Error::BufferTooSmall { needed: old_map });
    }
    let (b, m) = (bat.as_mut(), batmap.as_mut());
    b[..old_bat].copy_from_slice(&disk.bat.as_bytes()[..old_bat]);
    b[old_bat..].fill(0);
    m[..old_map].copy_from_slice(&disk.batmap.as_ref()[..old_map]);
    m[old_map..].fill(0);
    disk.bat.swap_bytes(&mut bat);
    core::mem::swap(&mut disk.batmap, &mut batmap);
    Ok((bat, batmap))
}

/// The phases a growth goes through, for callers that mark them (vhd-util's failure
/// points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The blocks in the way are at the end of the data area (and durable).
    DataMoved,
    /// The batmap and the locators are at their new places (and durable).
    MetadataMoved,
}

fn check_buffers<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
    p: &GrowPlan,
    copy_len: usize,
) -> Result<(), Error<I::Error>> {
    if disk.bat.as_bytes().len() < p.bat_bytes {
        return Err(Error::BufferTooSmall {
            needed: p.bat_bytes,
        });
    }
    if disk.batmap.as_ref().len() < p.batmap_bytes {
        return Err(Error::BufferTooSmall {
            needed: p.batmap_bytes,
        });
    }
    if p.relocates && copy_len < p.copy_bytes {
        return Err(Error::BufferTooSmall {
            needed: p.copy_bytes,
        });
    }
    Ok(())
}

/// Grows `disk` to `new_size` bytes in place. Fails with [`Error::NoSpace`] when the
/// BAT or the batmap would need more sectors (use [`grow_journaled`]), or with
/// [`Error::BufferTooSmall`] when the BAT buffer cannot hold the new entries. Order:
/// new entries, then header, then footers; a crash between them leaves the old size.
pub fn grow<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    new_size: u64,
) -> Result<(), Error<I::Error>> {
    if same_size(disk, new_size)? {
        return Ok(());
    }
    // The batmap on disk is what a relocation copies and a crash leaves.
    disk.write_deferred_batmap()?;
    let p = plan_with(disk, new_size, false)?;
    if p.entries > bat_capacity(disk) {
        return Err(Error::BufferTooSmall {
            needed: p.bat_bytes,
        });
    }
    finish(disk, &p)
}

/// Grows `disk` (poisoned under the journal `journal`, whose header is `jheader`) to
/// `new_size` bytes, moving what lies in the way of the larger metadata. `disk` must
/// have the buffers [`plan`] asks for ([`reserve`]); `copy` holds at least
/// [`GrowPlan::copy_bytes`] (whole sectors, aligned as the image's I/O needs). `at` is
/// called after each [`Phase`]. Without relocation this is [`grow`].
///
/// Order: the bytes the new metadata covers are journaled (journal flushed); the old
/// primary footer is cleared and each block in the way copied to the end (image
/// flushed, [`Phase::DataMoved`]); the locator payloads and the batmap written at their
/// new places (flushed, [`Phase::MetadataMoved`]); then the BAT, header and footers.
pub fn grow_journaled<J, I, B>(
    disk: &mut Disk<I, B>,
    new_size: u64,
    journal: &mut J,
    jheader: &mut JournalHeader,
    copy: &mut [u8],
    mut at: impl FnMut(Phase),
) -> Result<(), Error<I::Error>>
where
    J: Io<Error = I::Error>,
    I: Io,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    if same_size(disk, new_size)? {
        return Ok(());
    }
    disk.write_deferred_batmap()?;
    let p = plan(disk, new_size)?;
    check_buffers(disk, &p, copy.len())?;
    if p.relocates {
        if jheader.uuid != disk.footer.uuid || jheader.vhd_footer_offset != disk.footer_pos {
            return Err(Error::InvalidArgument("journal of another image"));
        }
        if !disk.is_poisoned() {
            // Half-moved, an enabled image would be read through its old layout.
            return Err(Error::InvalidArgument("image not poisoned by its journal"));
        }
        if let Some(r) = p.overwritten() {
            journal_region(journal, jheader, disk.io(), r, copy)?;
        }
        journal.flush().map_err(Error::Io)?;
        move_data(disk, &p, copy)?;
    }
    at(Phase::DataMoved);
    if p.relocates {
        move_metadata(disk, &p, copy)?;
    }
    at(Phase::MetadataMoved);
    finish(disk, &p)
}

/// Journals `r` as data entries of at most `u32::MAX & !511` bytes each.
fn journal_region<J, I>(
    journal: &mut J,
    jheader: &mut JournalHeader,
    image: &mut I,
    r: Region,
    copy: &mut [u8],
) -> Result<(), Error<I::Error>>
where
    J: Io<Error = I::Error>,
    I: Io,
{
    const MAX_ENTRY: u64 = (u32::MAX as u64) & !(SECTOR - 1);
    let mut done = 0;
    while done < r.len {
        let len = (r.len - done).min(MAX_ENTRY);
        let part = Region {
            offset: r.offset + done,
            len,
            ..r
        };
        journal::append(journal, jheader, image, part, copy)?;
        done += len;
    }
    Ok(())
}

/// Clears the old primary footer, then copies each block in the way to the end of the
/// data area and points its BAT entry (in memory) there.
fn move_data<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    p: &GrowPlan,
    copy: &mut [u8],
) -> Result<(), Error<I::Error>> {
    if p.footer_pos != disk.footer_pos {
        write_zeros(&mut disk.io, disk.footer_pos, SECTOR)?;
    }
    let span = disk.block_span_bytes();
    let bm = u64::from(disk.bitmap_sectors()) * SECTOR;
    let buf = &mut copy[..span as usize];
    let mut at = disk.footer_pos.max(p.meta_end);
    for block in 0..disk.bat.entries() {
        let Some(s) = disk.bat.get(block) else {
            continue;
        };
        let from = u64::from(s) * SECTOR;
        if from >= p.meta_end {
            continue;
        }
        let to = block_dest(at, bm);
        disk.io.read_at(from, buf).map_err(Error::Io)?;
        disk.io.write_at(to, buf).map_err(Error::Io)?;
        // Below 2^32 sectors: plan checked the end of the last block.
        disk.bat.set(block, (to / SECTOR) as u32);
        at = to + span;
    }
    disk.io.flush().map_err(Error::Io)
}

/// Writes the locator payloads and the batmap at their new places.
fn move_metadata<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    p: &GrowPlan,
    copy: &mut [u8],
) -> Result<(), Error<I::Error>> {
    let Some(h) = disk.header.clone() else {
        return Err(Error::WrongDiskType);
    };
    // All payloads are read before any is written: new places may overlap old ones.
    let mut pos = 0usize;
    for (l, new) in h.loc.iter().zip(p.locators) {
        if new.is_some() {
            let n = l.space_bytes() as usize;
            disk.io
                .read_at(l.data_offset, &mut copy[pos..pos + n])
                .map_err(Error::Io)?;
            pos += n;
        }
    }
    let mut pos = 0usize;
    for (l, new) in h.loc.iter().zip(p.locators) {
        if let Some(off) = new {
            let n = l.space_bytes() as usize;
            disk.io
                .write_at(off, &copy[pos..pos + n])
                .map_err(Error::Io)?;
            pos += n;
        }
    }
    if let Some(mut bm) = disk.batmap_hdr.clone() {
        let old = bm.map_bytes() as usize;
        let new = p.map_sectors as usize * SECTOR_SIZE;
        let map = &mut disk.batmap.as_mut()[..new];
        map[old.min(new)..].fill(0);
        bm.batmap_offset = p.bat_end + SECTOR;
        bm.batmap_size = p.map_sectors;
        bm.checksum = bm.compute_checksum(map);
        disk.io.write_at(bm.batmap_offset, map).map_err(Error::Io)?;
        disk.io
            .write_at(p.bat_end, &bm.to_bytes())
            .map_err(Error::Io)?;
        disk.batmap_hdr = Some(bm);
        disk.batmap_deferred = None;
    }
    disk.io.flush().map_err(Error::Io)
}

/// The new BAT entries (the whole BAT after a relocation), the header, then the
/// footers at their (new) place: primary, then the copy.
fn finish<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    p: &GrowPlan,
) -> Result<(), Error<I::Error>> {
    let mut h = disk.header.clone().ok_or(Error::WrongDiskType)?;
    let old = h.max_bat_size;
    if p.entries > old || p.relocates {
        if !disk.bat.set_entries(p.entries) {
            return Err(Error::BufferTooSmall {
                needed: p.bat_bytes,
            });
        }
        for b in old..p.entries {
            disk.bat.set(b, UNUSED);
        }
        disk.bat.zero_padding();
        if p.relocates {
            let bytes = &disk.bat.as_bytes()[..p.bat_bytes];
            disk.io.write_at(h.table_offset, bytes).map_err(Error::Io)?;
        } else {
            let first = old / bat::ENTRIES_PER_SECTOR;
            let last = (p.entries - 1) / bat::ENTRIES_PER_SECTOR;
            for s in first..=last {
                disk.write_bat_entry(s * bat::ENTRIES_PER_SECTOR)?;
            }
        }
        disk.io.flush().map_err(Error::Io)?;
        h.max_bat_size = p.entries;
        for (l, new) in h.loc.iter_mut().zip(p.locators) {
            if let Some(off) = new {
                l.data_offset = off;
            }
        }
        h.seal();
        disk.header = Some(h);
        disk.write_header()?;
        disk.io.flush().map_err(Error::Io)?;
    }
    disk.footer_pos = p.footer_pos;
    disk.end_of_headers = disk.end_of_headers.max(p.meta_end);
    disk.end_of_data = disk.compute_end_of_data();
    set_size(disk, p.new_size)
}

/// Announces `size` in both footers (primary, then the copy, which a writable open
/// rewrites from the primary if a crash leaves them different).
fn set_size<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    size: u64,
) -> Result<(), Error<I::Error>> {
    disk.footer.curr_size = size;
    disk.footer.geometry = geometry::chs(size).encode();
    disk.footer.seal();
    disk.write_primary_footer()?;
    disk.io.flush().map_err(Error::Io)?;
    disk.write_backup_footer()?;
    disk.io.flush().map_err(Error::Io)?;
    disk.sectors = size / SECTOR;
    Ok(())
}

/// Shrinks a dynamic or differencing `disk` to `new_size` bytes (smaller than now):
/// refused with [`Error::InvalidArgument`]`("allocated block beyond the new size")`,
/// nothing written, when a block at or past the new end is allocated. Only the footers
/// change (primary, then the copy): the BAT keeps its entries, all unused past the new
/// size, so a later growth needs no relocation up to the old size.
pub fn shrink<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    new_size: u64,
) -> Result<(), Error<I::Error>> {
    ready(disk, new_size)?;
    let h = disk.header.as_ref().ok_or(Error::WrongDiskType)?;
    if new_size >= disk.size() {
        return Err(Error::InvalidArgument("size"));
    }
    // A block the new end cuts through counts: its sectors past the end would come
    // back, not as zeros, if the disk grew again.
    let first_gone = new_size / u64::from(h.block_size);
    if disk
        .bat
        .allocated()
        .any(|(b, _)| u64::from(b) >= first_gone)
    {
        return Err(Error::InvalidArgument(
            "allocated block beyond the new size",
        ));
    }
    set_size(disk, new_size)
}

/// Sets the size of a fixed `disk` (poisoned under `journal`, whose header is
/// `jheader`, made by [`journal::create_fixed`]) to `new_size` bytes, a whole number of
/// sectors. Growing: the footer (still poisoned) is written at the new end, then the
/// old one zeroed; the new sectors of the file read as zeros. Shrinking: the sector the
/// new footer will cover is journaled, the footer written there, then the file cut
/// after it. Either way the file always ends in a poisoned footer until the commit. A
/// crash before the cut is undone byte for byte by the journal's revert; after it, the
/// revert gives back the old size with the sectors past the new end (the data the
/// shrink discards) reading as zeros. `scratch`: at least a sector.
pub fn resize_fixed<J, I, B>(
    disk: &mut Disk<I, B>,
    new_size: u64,
    journal: &mut J,
    jheader: &mut JournalHeader,
    scratch: &mut [u8],
) -> Result<(), Error<I::Error>>
where
    J: Io<Error = I::Error>,
    I: Io,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    ready(disk, new_size)?;
    if disk.kind != crate::Kind::Vhd(crate::DiskType::Fixed) {
        return Err(Error::WrongDiskType);
    }
    let old_pos = disk.footer_pos;
    if disk.size() != old_pos {
        // Bytes between the data and the footer would surface as sectors of the disk.
        return Err(Error::InvalidArgument(
            "bytes between the data and the footer",
        ));
    }
    if new_size == old_pos {
        return Ok(());
    }
    if jheader.uuid != disk.footer.uuid || jheader.vhd_footer_offset != old_pos {
        return Err(Error::InvalidArgument("journal of another image"));
    }
    if !disk.is_poisoned() {
        return Err(Error::InvalidArgument("image not poisoned by its journal"));
    }
    let grows = new_size > old_pos;
    if !grows {
        let r = Region {
            entry_type: TYPE_DATA,
            offset: new_size,
            len: SECTOR,
        };
        journal::append(journal, jheader, &mut disk.io, r, scratch)?;
        journal.flush().map_err(Error::Io)?;
    }
    disk.footer_pos = new_size;
    disk.end_of_data = new_size;
    disk.footer.curr_size = new_size;
    disk.footer.geometry = geometry::chs(new_size).encode();
    disk.footer.seal();
    disk.write_primary_footer()?;
    disk.io.flush().map_err(Error::Io)?;
    if grows {
        // The file grew past the old footer: the new sectors read as zeros, the old
        // footer's too once cleared.
        write_zeros(&mut disk.io, old_pos, SECTOR)?;
    } else {
        disk.io.set_size(new_size + SECTOR).map_err(Error::Io)?;
    }
    disk.io.flush().map_err(Error::Io)?;
    disk.sectors = new_size / SECTOR;
    Ok(())
}
