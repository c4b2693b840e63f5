//! libvhd's metadata journal (`libvhd-journal`): a separate file holding copies of an
//! image's metadata (and, for the C API, of whole blocks) taken before a risky change,
//! so that the change can be undone.
//!
//! The file, in the reference's byte layout:
//! - a 512-byte [`JournalHeader`]: cookie `vjournal`, the image's UUID, where its
//!   primary footer was, the counts and offsets of the data and of the metadata entries,
//!   and the journal's end. Big-endian, except `journal_eof`, which libvhd stores in host
//!   byte order (kept, so journals stay interchangeable);
//! - entries, packed: a 32-byte [`Entry`] record (cookie `0xaaaa12344321aaaa`, type,
//!   payload size, the payload's offset in the image, checksum, 4 pad bytes) followed
//!   at once by its payload, and the next record right after. The metadata entries form
//!   one run and the data entries another, after it.
//!
//! The protocol, which makes every step restartable after a power cut:
//! 1. [`create`] copies the metadata ([`disk_regions`]) into the journal, makes it
//!    durable, then poisons the image ([`Disk::poison`]): from then on a normal open
//!    refuses the image until the journal is reverted or committed.
//! 2. The change is made on the poisoned image (opened with `ignore_disabled`).
//! 3. Either [`revert`]: check the whole journal, copy everything back, footers last,
//!    cut the file to its old length; or [`commit`]: empty the journal, then the caller
//!    un-poisons the image ([`Disk::unpoison`]) and deletes the journal.
//!
//! Recovery after a crash anywhere in this is always the same: if the journal exists
//! and [`verify`] accepts it, [`revert`] it and un-poison the image if it is still
//! poisoned (an emptied journal restores nothing); then delete the journal.
//!
//! No allocation: payloads go through a caller scratch buffer in whole sectors, so image
//! transfers stay sector-aligned (images may be opened `O_DIRECT`). The journal and the
//! image share one I/O error type.

use uuid::Uuid;

use crate::bat::bat_bytes;
use crate::disk::Disk;
use crate::endian::{array, be32, be64, put32, put64};
use crate::error::{Error, FormatError, Structure};
use crate::footer::{Footer, FOOTER_SIZE};
use crate::header::{Header, HEADER_SIZE};
use crate::io::Io;
use crate::locator::{ParentLocator, LOCATOR_COUNT};
use crate::SECTOR_SIZE;

/// Bytes of the journal header.
pub const JOURNAL_HEADER_SIZE: usize = 512;
/// Bytes of an entry record (the payload follows it).
pub const RECORD_SIZE: usize = 32;
/// Cookie of the journal header.
pub const HEADER_COOKIE: [u8; 8] = *b"vjournal";
/// Cookie of every entry record.
pub const ENTRY_COOKIE: u64 = 0xAAAA_1234_4321_AAAA;

/// Entry type: the primary footer (at the end of the image).
pub const TYPE_FOOTER_P: u32 = 1;
/// Entry type: the footer copy at offset 0.
pub const TYPE_FOOTER_C: u32 = 2;
/// Entry type: the dynamic header.
pub const TYPE_HEADER: u32 = 3;
/// Entry type: a parent locator's reserved space.
pub const TYPE_LOCATOR: u32 = 4;
/// Entry type: the BAT.
pub const TYPE_BAT: u32 = 5;
/// Entry type: the batmap header sector.
pub const TYPE_BATMAP_H: u32 = 6;
/// Entry type: the batmap's map.
pub const TYPE_BATMAP_M: u32 = 7;
/// Entry type: a block's bitmap or data (`vhd_journal_add_block`).
pub const TYPE_DATA: u32 = 8;

const SECTOR: u64 = SECTOR_SIZE as u64;
const JHDR: u64 = JOURNAL_HEADER_SIZE as u64;
const RECORD: u64 = RECORD_SIZE as u64;

/// The journal header, field for field as libvhd's `vhd_journal_header_t` (host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalHeader {
    /// The journaled image's UUID.
    pub uuid: Uuid,
    /// Byte offset of the image's primary footer when the journal was created.
    pub vhd_footer_offset: u64,
    /// Number of data entries.
    pub journal_data_entries: u32,
    /// Number of metadata entries.
    pub journal_metadata_entries: u32,
    /// Byte offset of the first data entry.
    pub journal_data_offset: u64,
    /// Byte offset of the first metadata entry.
    pub journal_metadata_offset: u64,
    /// Byte offset of the journal's end (stored in host byte order).
    pub journal_eof: u64,
}

impl JournalHeader {
    /// The header of an empty journal for an image whose primary footer is at
    /// `vhd_footer_offset`.
    pub const fn new(uuid: Uuid, vhd_footer_offset: u64) -> JournalHeader {
        JournalHeader {
            uuid,
            vhd_footer_offset,
            journal_data_entries: 0,
            journal_metadata_entries: 0,
            journal_data_offset: JHDR,
            journal_metadata_offset: JHDR,
            journal_eof: JHDR,
        }
    }

    /// Decodes a header and checks its cookie.
    pub fn parse(buf: &[u8]) -> Result<JournalHeader, FormatError> {
        let b = buf
            .get(..JOURNAL_HEADER_SIZE)
            .ok_or(FormatError::Truncated {
                structure: Structure::Journal,
            })?;
        if b[..8] != HEADER_COOKIE {
            return Err(FormatError::BadCookie {
                structure: Structure::Journal,
            });
        }
        Ok(JournalHeader {
            uuid: Uuid::from_bytes(array(b, 8)),
            vhd_footer_offset: be64(b, 24),
            journal_data_entries: be32(b, 32),
            journal_metadata_entries: be32(b, 36),
            journal_data_offset: be64(b, 40),
            journal_metadata_offset: be64(b, 48),
            journal_eof: u64::from_ne_bytes(array(b, 56)),
        })
    }

    /// The 512 on-disk bytes: big-endian, `journal_eof` in host order, padding zero.
    pub fn to_bytes(&self) -> [u8; JOURNAL_HEADER_SIZE] {
        let mut b = [0u8; JOURNAL_HEADER_SIZE];
        b[..8].copy_from_slice(&HEADER_COOKIE);
        b[8..24].copy_from_slice(self.uuid.as_bytes());
        put64(&mut b, 24, self.vhd_footer_offset);
        put32(&mut b, 32, self.journal_data_entries);
        put32(&mut b, 36, self.journal_metadata_entries);
        put64(&mut b, 40, self.journal_data_offset);
        put64(&mut b, 48, self.journal_metadata_offset);
        b[56..64].copy_from_slice(&self.journal_eof.to_ne_bytes());
        b
    }

    /// No entries: a committed journal (or one that never got any).
    pub const fn is_empty(&self) -> bool {
        self.journal_data_entries == 0 && self.journal_metadata_entries == 0
    }

    /// `journal_eof` as it fits a journal file of `size` bytes: in host order as libvhd
    /// writes it, else byte-swapped (a writer of the other byte order); `None` if
    /// neither lies inside the file.
    pub fn eof_within(&self, size: u64) -> Option<u64> {
        [self.journal_eof, self.journal_eof.swap_bytes()]
            .into_iter()
            .find(|&e| (JHDR..=size).contains(&e))
    }
}

/// An entry record as libvhd's `vhd_journal_entry_t` (host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What the payload is (`TYPE_*`).
    pub entry_type: u32,
    /// Payload bytes.
    pub size: u32,
    /// Byte offset of the payload in the image.
    pub offset: u64,
    /// One's complement of the byte sum of the record (this field zero) and the payload.
    pub checksum: u32,
    /// The 4 bytes after the checksum: struct padding in libvhd, zero when we write. The
    /// checksum covers them as stored.
    pub pad: [u8; 4],
}

/// Wrapping byte sum, the checksum's accumulator.
fn byte_sum(acc: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(acc, |s, &b| s.wrapping_add(u32::from(b)))
}

impl Entry {
    /// A record for `size` bytes from `offset` of the image; checksum still zero.
    pub const fn new(entry_type: u32, offset: u64, size: u32) -> Entry {
        Entry {
            entry_type,
            size,
            offset,
            checksum: 0,
            pad: [0; 4],
        }
    }

    /// Decodes a record and checks its cookie. The cookie is accepted in either byte
    /// order, as our C API always has (the byte sum, and so the checksum, is the same).
    pub fn parse(buf: &[u8]) -> Result<Entry, FormatError> {
        let r = buf.get(..RECORD_SIZE).ok_or(FormatError::Truncated {
            structure: Structure::JournalEntry,
        })?;
        let cookie = be64(r, 0);
        if cookie != ENTRY_COOKIE && cookie.swap_bytes() != ENTRY_COOKIE {
            return Err(FormatError::BadCookie {
                structure: Structure::JournalEntry,
            });
        }
        Ok(Entry {
            entry_type: be32(r, 8),
            size: be32(r, 12),
            offset: be64(r, 16),
            checksum: be32(r, 24),
            pad: array(r, 28),
        })
    }

    /// The 32 on-disk bytes, big-endian.
    pub fn to_bytes(&self) -> [u8; RECORD_SIZE] {
        let mut r = [0u8; RECORD_SIZE];
        put64(&mut r, 0, ENTRY_COOKIE);
        put32(&mut r, 8, self.entry_type);
        put32(&mut r, 12, self.size);
        put64(&mut r, 16, self.offset);
        put32(&mut r, 24, self.checksum);
        r[28..].copy_from_slice(&self.pad);
        r
    }

    /// The checksum for a payload whose byte sum is `payload_sum` (wrapping).
    fn checksum_for(&self, payload_sum: u32) -> u32 {
        let mut r = self.to_bytes();
        r[24..28].fill(0);
        !byte_sum(payload_sum, &r)
    }

    /// The checksum this record calls for with `payload` (libvhd's
    /// `vhd_journal_checksum_entry`).
    pub fn compute_checksum(&self, payload: &[u8]) -> u32 {
        self.checksum_for(byte_sum(0, payload))
    }
}

/// A byte range of the image to journal, and the entry type it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// Entry type (`TYPE_*`).
    pub entry_type: u32,
    /// Byte offset in the image.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Most metadata regions an image has: two footers, header, BAT, batmap header and map,
/// and every locator slot.
pub const MAX_REGIONS: usize = 6 + LOCATOR_COUNT;

/// The metadata regions of an image, in the order libvhd journals them.
#[derive(Debug, Clone, Copy)]
pub struct Regions {
    list: [Region; MAX_REGIONS],
    len: usize,
}

impl Regions {
    fn push(&mut self, r: Region) {
        // At most MAX_REGIONS pushes by construction; a further one would be dropped.
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = r;
            self.len += 1;
        }
    }

    /// The regions.
    pub fn as_slice(&self) -> &[Region] {
        self.list.get(..self.len).unwrap_or(&[])
    }
}

/// Where the batmap is: its header sector and its map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatmapPlace {
    /// Byte offset of the batmap header sector.
    pub header_offset: u64,
    /// Byte offset of the map.
    pub map_offset: u64,
    /// Bytes of the map.
    pub map_bytes: u64,
}

/// Where an image keeps its metadata, from whatever holds it (an open [`Disk`], or the
/// C API's structs).
#[derive(Debug, Clone, Copy)]
pub struct MetadataLayout {
    /// Byte offset of the primary footer.
    pub footer_offset: u64,
    /// Byte offset of the dynamic header (the footer's `data_offset`).
    pub header_offset: u64,
    /// The header's parent locators; those in use are journaled.
    pub locators: [ParentLocator; LOCATOR_COUNT],
    /// Byte offset of the BAT.
    pub bat_offset: u64,
    /// BAT entries (`max_bat_size`).
    pub bat_entries: u32,
    /// The batmap, if the image has one.
    pub batmap: Option<BatmapPlace>,
}

fn region_structure(entry_type: u32) -> Structure {
    match entry_type {
        TYPE_FOOTER_P | TYPE_FOOTER_C => Structure::Footer,
        TYPE_HEADER => Structure::Header,
        TYPE_LOCATOR => Structure::ParentLocator,
        TYPE_BAT => Structure::Bat,
        TYPE_BATMAP_H | TYPE_BATMAP_M => Structure::Batmap,
        _ => Structure::Block,
    }
}

/// The metadata regions of `m` (primary footer, copy at 0, header, each used locator's
/// reserved space, BAT, batmap header and map), each checked to lie inside an image of
/// `image_size` bytes.
pub fn metadata_regions<E>(m: &MetadataLayout, image_size: u64) -> Result<Regions, Error<E>> {
    let mut r = Regions {
        list: [Region::default(); MAX_REGIONS],
        len: 0,
    };
    let mut add = |entry_type, offset, len| {
        r.push(Region {
            entry_type,
            offset,
            len,
        })
    };
    add(TYPE_FOOTER_P, m.footer_offset, FOOTER_SIZE as u64);
    add(TYPE_FOOTER_C, 0, FOOTER_SIZE as u64);
    add(TYPE_HEADER, m.header_offset, HEADER_SIZE as u64);
    for l in m.locators.iter().filter(|l| l.is_used()) {
        add(TYPE_LOCATOR, l.data_offset, l.space_bytes());
    }
    add(TYPE_BAT, m.bat_offset, bat_bytes(m.bat_entries));
    if let Some(b) = m.batmap {
        add(TYPE_BATMAP_H, b.header_offset, SECTOR);
        add(TYPE_BATMAP_M, b.map_offset, b.map_bytes);
    }
    for x in r.as_slice() {
        if x.offset.checked_add(x.len).is_none_or(|e| e > image_size) {
            return Err(Error::Format(FormatError::invalid(
                region_structure(x.entry_type),
                "offset",
            )));
        }
    }
    Ok(r)
}

/// The metadata regions of an open sparse disk ([`Error::WrongDiskType`] for fixed and
/// raw disks, which have no BAT to journal, as libvhd refuses them).
pub fn disk_regions<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
) -> Result<Regions, Error<I::Error>> {
    let h = disk.header().ok_or(Error::WrongDiskType)?;
    let (locators, bat_offset, bat_entries) = (h.loc, h.table_offset, h.max_bat_size);
    let batmap = disk.batmap_header().map(|b| BatmapPlace {
        header_offset: disk.batmap_header_offset(),
        map_offset: b.batmap_offset,
        map_bytes: b.map_bytes(),
    });
    let m = MetadataLayout {
        footer_offset: disk.footer_position(),
        header_offset: disk.footer().data_offset,
        locators,
        bat_offset,
        bat_entries,
        batmap,
    };
    let size = disk.io().size().map_err(Error::Io)?;
    metadata_regions(&m, size)
}

/// The whole sectors of `scratch` (at least one).
fn sectors_of<E>(scratch: &mut [u8]) -> Result<&mut [u8], Error<E>> {
    let n = scratch.len() / SECTOR_SIZE * SECTOR_SIZE;
    match scratch.get_mut(..n) {
        Some(s) if n > 0 => Ok(s),
        _ => Err(Error::BufferTooSmall {
            needed: SECTOR_SIZE,
        }),
    }
}

/// Writes `header` at the start of the journal (the first write of a new journal).
pub fn write_header<J: Io>(journal: &mut J, header: &JournalHeader) -> Result<(), Error<J::Error>> {
    journal.write_at(0, &header.to_bytes()).map_err(Error::Io)
}

/// Reads the journal header and checks its cookie.
pub fn read_header<J: Io>(journal: &mut J) -> Result<JournalHeader, Error<J::Error>> {
    let size = journal.size().map_err(Error::Io)?;
    if size < JHDR {
        return Err(Error::Format(FormatError::Truncated {
            structure: Structure::Journal,
        }));
    }
    let mut b = [0u8; JOURNAL_HEADER_SIZE];
    journal.read_at(0, &mut b).map_err(Error::Io)?;
    Ok(JournalHeader::parse(&b)?)
}

/// Appends an entry holding the image's bytes in `region` (whole sectors at a sector
/// offset) and updates `header`. The payload is copied through `scratch` while its sum is
/// taken, then the record is written, flushed, and only then the header with the new
/// count and end: the header is what makes the entry part of the journal, so a crash
/// anywhere leaves the journal as it was or with the entry. Metadata entries must all
/// come before the first data entry (each kind is one run).
pub fn append<J, I>(
    journal: &mut J,
    header: &mut JournalHeader,
    image: &mut I,
    region: Region,
    scratch: &mut [u8],
) -> Result<(), Error<J::Error>>
where
    J: Io,
    I: Io<Error = J::Error>,
{
    let chunk = sectors_of(scratch)?;
    if !region.offset.is_multiple_of(SECTOR) || !region.len.is_multiple_of(SECTOR) {
        return Err(Error::Unaligned);
    }
    if !(TYPE_FOOTER_P..=TYPE_DATA).contains(&region.entry_type) {
        return Err(Error::InvalidArgument("journal entry type"));
    }
    let size =
        u32::try_from(region.len).map_err(|_| Error::InvalidArgument("journal entry size"))?;
    let at = header.journal_eof;
    let end = at
        .checked_add(RECORD + region.len)
        .filter(|_| region.offset.checked_add(region.len).is_some())
        .ok_or(Error::InvalidArgument("journal entry size"))?;
    let mut next = *header;
    if region.entry_type == TYPE_DATA {
        if next.journal_data_entries == 0 {
            next.journal_data_offset = at;
        }
        next.journal_data_entries = next
            .journal_data_entries
            .checked_add(1)
            .ok_or(Error::InvalidArgument("journal entries"))?;
    } else {
        if next.journal_data_entries != 0 {
            return Err(Error::InvalidArgument("metadata entry after data entries"));
        }
        if next.journal_metadata_entries == 0 {
            next.journal_metadata_offset = at;
        }
        next.journal_metadata_entries = next
            .journal_metadata_entries
            .checked_add(1)
            .ok_or(Error::InvalidArgument("journal entries"))?;
        // Data entries will start after the metadata, as libvhd's header says once
        // its metadata is in.
        next.journal_data_offset = end;
    }
    next.journal_eof = end;

    let mut sum = 0u32;
    let mut done = 0u64;
    while done < region.len {
        let n = (region.len - done).min(chunk.len() as u64) as usize;
        let buf = &mut chunk[..n];
        image
            .read_at(region.offset + done, buf)
            .map_err(Error::Io)?;
        sum = byte_sum(sum, buf);
        journal
            .write_at(at + RECORD + done, buf)
            .map_err(Error::Io)?;
        done += n as u64;
    }
    let mut e = Entry::new(region.entry_type, region.offset, size);
    e.checksum = e.checksum_for(sum);
    journal.write_at(at, &e.to_bytes()).map_err(Error::Io)?;
    journal.flush().map_err(Error::Io)?;
    write_header(journal, &next)?;
    *header = next;
    Ok(())
}

/// Starts a journal for `disk` (open read-write, not poisoned): writes the header and
/// one entry per metadata region ([`disk_regions`]), makes the journal durable, then
/// poisons the image ([`Disk::poison`]). Returns the journal's header.
///
/// A failure before the poisoning leaves the image untouched (the journal may be
/// discarded); a failure in it leaves a complete journal to [`revert`].
pub fn create<J, I, B>(
    journal: &mut J,
    disk: &mut Disk<I, B>,
    scratch: &mut [u8],
) -> Result<JournalHeader, Error<J::Error>>
where
    J: Io,
    I: Io<Error = J::Error>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    writable_and_enabled(disk)?;
    let regions = disk_regions(disk)?;
    create_with(journal, disk, &regions, scratch)
}

/// [`create`] for a fixed disk, whose only metadata is its footer: the journal holds
/// the primary footer, so that a resize (which moves it) can be reverted. libvhd has no
/// such journal (its `vhd_journal_create` refuses fixed disks, as [`create`] does); the
/// file layout is the same.
pub fn create_fixed<J, I, B>(
    journal: &mut J,
    disk: &mut Disk<I, B>,
    scratch: &mut [u8],
) -> Result<JournalHeader, Error<J::Error>>
where
    J: Io,
    I: Io<Error = J::Error>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    writable_and_enabled(disk)?;
    if disk.disk_type() != Some(crate::DiskType::Fixed) {
        return Err(Error::WrongDiskType);
    }
    let mut regions = Regions {
        list: [Region::default(); MAX_REGIONS],
        len: 0,
    };
    let footer = disk.footer_position();
    // A legacy 511-byte footer is not a whole sector to journal.
    if disk.io().size().map_err(Error::Io)? != footer + FOOTER_SIZE as u64 {
        return Err(Error::Format(FormatError::invalid(
            Structure::Footer,
            "offset",
        )));
    }
    regions.push(Region {
        entry_type: TYPE_FOOTER_P,
        offset: footer,
        len: FOOTER_SIZE as u64,
    });
    create_with(journal, disk, &regions, scratch)
}

fn writable_and_enabled<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &Disk<I, B>,
) -> Result<(), Error<I::Error>> {
    if !disk.is_writable() {
        return Err(Error::ReadOnly);
    }
    if disk.is_poisoned() {
        // Its journaled footers would be poisoned: reverting could not enable it.
        return Err(Error::Disabled);
    }
    Ok(())
}

/// Journals `regions` of `disk` into a new journal, makes it durable, then poisons the
/// image.
fn create_with<J, I, B>(
    journal: &mut J,
    disk: &mut Disk<I, B>,
    regions: &Regions,
    scratch: &mut [u8],
) -> Result<JournalHeader, Error<J::Error>>
where
    J: Io,
    I: Io<Error = J::Error>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let mut header = JournalHeader::new(disk.footer().uuid, disk.footer_position());
    write_header(journal, &header)?;
    for r in regions.as_slice() {
        append(journal, &mut header, disk.io(), *r, scratch)?;
    }
    journal.flush().map_err(Error::Io)?;
    disk.poison()?;
    Ok(header)
}

/// Empties the journal, making the journaled change permanent: the header (no entries,
/// offsets 0 as libvhd writes them, end 512), a flush, then, with `truncate` (a file,
/// not a block device), the file cut to the header and flushed again. The header is
/// durable before the cut, so a crash never leaves a header naming entries that are
/// gone.
pub fn commit<J: Io>(
    journal: &mut J,
    header: &mut JournalHeader,
    truncate: bool,
) -> Result<(), Error<J::Error>> {
    let next = JournalHeader {
        journal_data_entries: 0,
        journal_metadata_entries: 0,
        journal_data_offset: 0,
        journal_metadata_offset: 0,
        journal_eof: JHDR,
        ..*header
    };
    write_header(journal, &next)?;
    journal.flush().map_err(Error::Io)?;
    *header = next;
    if truncate {
        journal.set_size(JHDR).map_err(Error::Io)?;
        journal.flush().map_err(Error::Io)?;
    }
    Ok(())
}

/// A journal [`verify`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Its header, `journal_eof` as it fits the file.
    pub header: JournalHeader,
    /// The image length to cut back to (`vhd_footer_offset + 512`) when the journal
    /// restores the primary footer there; `None` for an emptied journal, which must not
    /// cut anything (the image's footer is no longer at the old offset).
    pub image_len: Option<u64>,
    /// For a fixed disk's journal, the length its journaled footer gives (the one case
    /// where the image may have become shorter: a shrink cuts it).
    pub fixed_len: Option<u64>,
}

/// The entries of one run: metadata or data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Metadata,
    Data,
}

fn run_of(h: &JournalHeader, run: Run) -> (u64, u32) {
    match run {
        Run::Metadata => (h.journal_metadata_offset, h.journal_metadata_entries),
        Run::Data => (h.journal_data_offset, h.journal_data_entries),
    }
}

fn bad_entry<E>(field: &'static str) -> Error<E> {
    Error::Format(FormatError::invalid(Structure::JournalEntry, field))
}

/// Calls `f` with each record of `run` and where its payload starts, checking that
/// record and payload lie before `limit`. Each step advances at least a record, so the
/// walk is bounded by the journal's size whatever the count says.
fn walk<J: Io>(
    journal: &mut J,
    h: &JournalHeader,
    run: Run,
    limit: u64,
    mut f: impl FnMut(&mut J, Entry, u64) -> Result<(), Error<J::Error>>,
) -> Result<(), Error<J::Error>> {
    let (mut at, count) = run_of(h, run);
    let truncated = FormatError::Truncated {
        structure: Structure::JournalEntry,
    };
    for _ in 0..count {
        let payload = at
            .checked_add(RECORD)
            .filter(|&p| p <= limit)
            .ok_or(truncated)?;
        let mut r = [0u8; RECORD_SIZE];
        journal.read_at(at, &mut r).map_err(Error::Io)?;
        let e = Entry::parse(&r)?;
        let next = payload
            .checked_add(u64::from(e.size))
            .filter(|&n| n <= limit)
            .ok_or(truncated)?;
        f(journal, e, payload)?;
        at = next;
    }
    Ok(())
}

/// Checks the whole journal before anything is written from it: header cookie, an end
/// inside the file, and for every entry its cookie, a type that belongs to its run,
/// whole sectors at a sector offset, metadata inside the journaled image, payload inside
/// the journal, and its checksum (summed through `scratch`).
pub fn verify<J: Io>(journal: &mut J, scratch: &mut [u8]) -> Result<Verified, Error<J::Error>> {
    let chunk = sectors_of(scratch)?;
    let size = journal.size().map_err(Error::Io)?;
    let mut h = read_header(journal)?;
    let journal_field = |field| Error::Format(FormatError::invalid(Structure::Journal, field));
    match h.eof_within(size) {
        Some(eof) => h.journal_eof = eof,
        // libvhd's commit leaves the old end in a truncated file; with no entries
        // nothing is read past the header.
        None if h.is_empty() => {}
        None => return Err(journal_field("journal_eof")),
    }
    let limit = h.journal_eof.min(size);
    if !h.vhd_footer_offset.is_multiple_of(SECTOR) {
        return Err(journal_field("vhd_footer_offset"));
    }
    let image_end = h
        .vhd_footer_offset
        .checked_add(FOOTER_SIZE as u64)
        .ok_or(journal_field("vhd_footer_offset"))?;
    for (run, field) in [
        (Run::Metadata, "journal_metadata_offset"),
        (Run::Data, "journal_data_offset"),
    ] {
        let (first, count) = run_of(&h, run);
        if count != 0 && first < JHDR {
            return Err(journal_field(field));
        }
    }
    let mut restores_footer = false;
    let mut contents = Contents::default();
    for run in [Run::Metadata, Run::Data] {
        walk(journal, &h, run, limit, |j, e, payload| {
            let type_ok = match run {
                Run::Metadata => (TYPE_FOOTER_P..TYPE_DATA).contains(&e.entry_type),
                Run::Data => e.entry_type == TYPE_DATA,
            };
            if !type_ok {
                return Err(bad_entry("type"));
            }
            let len = u64::from(e.size);
            if !len.is_multiple_of(SECTOR) {
                return Err(bad_entry("size"));
            }
            let target_end = e.offset.checked_add(len);
            // Metadata was copied from the image as it was, which ended at image_end.
            let inside = match run {
                Run::Metadata => target_end.is_some_and(|t| t <= image_end),
                Run::Data => target_end.is_some(),
            };
            if !e.offset.is_multiple_of(SECTOR) || !inside {
                return Err(bad_entry("offset"));
            }
            let mut sum = 0u32;
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(chunk.len() as u64) as usize;
                let buf = &mut chunk[..n];
                j.read_at(payload + done, buf).map_err(Error::Io)?;
                sum = byte_sum(sum, buf);
                done += n as u64;
            }
            let computed = e.checksum_for(sum);
            if computed != e.checksum {
                return Err(Error::Format(FormatError::BadChecksum {
                    structure: Structure::JournalEntry,
                    stored: e.checksum,
                    computed,
                }));
            }
            if e.entry_type == TYPE_FOOTER_P
                && e.offset == h.vhd_footer_offset
                && len == FOOTER_SIZE as u64
            {
                restores_footer = true;
            }
            if run == Run::Metadata {
                contents.note(j, &e, payload)?;
            }
            Ok(())
        })?;
    }
    contents.agree(&h)?;
    Ok(Verified {
        header: h,
        image_len: restores_footer.then_some(image_end),
        fixed_len: contents.fixed_len,
    })
}

/// What the journaled footer, header and BAT say, gathered by [`verify`] so that a
/// journal whose entries are well formed but whose *contents* are garbage (or disagree
/// with each other) is refused before anything is written: writing it back would
/// destroy the image instead of restoring it.
#[derive(Default)]
struct Contents {
    /// The primary footer's data offset (where the header must be).
    header_at: Option<u64>,
    /// The journaled header's offset, BAT offset and BAT bytes.
    header: Option<(u64, u64, u64)>,
    /// The journaled BAT's offset and bytes.
    bat: Option<(u64, u64)>,
    /// A fixed disk's length as its journaled footer gives it.
    fixed_len: Option<u64>,
}

impl Contents {
    /// Parses a footer or header entry's payload; notes where things are.
    fn note<J: Io>(&mut self, j: &mut J, e: &Entry, payload: u64) -> Result<(), Error<J::Error>> {
        let len = u64::from(e.size);
        match e.entry_type {
            TYPE_FOOTER_P | TYPE_FOOTER_C => {
                if len != FOOTER_SIZE as u64 {
                    return Err(bad_entry("size"));
                }
                let mut b = [0u8; FOOTER_SIZE];
                j.read_at(payload, &mut b).map_err(Error::Io)?;
                let f = Footer::parse(&b)?;
                let sparse = f.validate()?.is_sparse();
                if e.entry_type == TYPE_FOOTER_P {
                    if sparse {
                        self.header_at = Some(f.data_offset);
                    } else {
                        // A fixed disk's resize journals its footer alone; its data ends
                        // where that footer starts.
                        if f.curr_size != e.offset || f.curr_size > crate::create::MAX_SIZE {
                            return Err(FormatError::invalid(Structure::Footer, "curr_size").into());
                        }
                        self.fixed_len = Some(e.offset + FOOTER_SIZE as u64);
                    }
                }
            }
            TYPE_HEADER => {
                if len != HEADER_SIZE as u64 {
                    return Err(bad_entry("size"));
                }
                let mut b = [0u8; HEADER_SIZE];
                j.read_at(payload, &mut b).map_err(Error::Io)?;
                let h = Header::parse(&b)?;
                h.validate()?;
                let bat = bat_bytes(h.max_bat_size);
                self.header = Some((e.offset, h.table_offset, bat));
            }
            TYPE_BAT => self.bat = Some((e.offset, len)),
            _ => {}
        }
        Ok(())
    }

    /// The journaled footer points at the journaled header, the header at the BAT, and
    /// all of it lies before the journaled primary footer.
    fn agree<E>(&self, h: &JournalHeader) -> Result<(), Error<E>> {
        let mismatch = |structure| Error::Format(FormatError::invalid(structure, "offset"));
        if let (Some(at), Some((off, _, _))) = (self.header_at, self.header) {
            if at != off {
                return Err(mismatch(Structure::Header));
            }
        }
        if let Some((_, table, bytes)) = self.header {
            if self.bat.is_some_and(|b| b != (table, bytes)) {
                return Err(mismatch(Structure::Bat));
            }
            if table
                .checked_add(bytes)
                .is_none_or(|end| end > h.vhd_footer_offset)
            {
                return Err(mismatch(Structure::Bat));
            }
        }
        Ok(())
    }
}

/// Writes the entries of a verified journal back into the image.
struct CopyBack<'a, J, I> {
    journal: &'a mut J,
    image: &'a mut I,
    header: JournalHeader,
    /// Nothing is written at or past this offset (bytes the cut that follows removes).
    below: Option<u64>,
    chunk: &'a mut [u8],
}

impl<J, I> CopyBack<'_, J, I>
where
    J: Io,
    I: Io<Error = J::Error>,
{
    /// Copies the payloads of the entries of `run` whose type `pick` accepts.
    fn entries(&mut self, run: Run, pick: impl Fn(u32) -> bool) -> Result<(), Error<J::Error>> {
        let (image, chunk, below) = (&mut *self.image, &mut *self.chunk, self.below);
        let limit = self.header.journal_eof;
        walk(self.journal, &self.header, run, limit, |j, e, payload| {
            if !pick(e.entry_type) {
                return Ok(());
            }
            let full = e.offset.saturating_add(u64::from(e.size));
            let end = below.map_or(full, |b| full.min(b));
            let mut pos = e.offset;
            while pos < end {
                let n = (end - pos).min(chunk.len() as u64) as usize;
                let buf = &mut chunk[..n];
                j.read_at(payload + (pos - e.offset), buf)
                    .map_err(Error::Io)?;
                image.write_at(pos, buf).map_err(Error::Io)?;
                pos += n as u64;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> Result<(), Error<J::Error>> {
        self.image.flush().map_err(Error::Io)
    }
}

fn is_footer(entry_type: u32) -> bool {
    entry_type == TYPE_FOOTER_P || entry_type == TYPE_FOOTER_C
}

/// What [`replay`] writes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayOptions {
    /// The data entries too (libvhd's `vhd_journal_revert`; its `vhd_journal_open`
    /// restores the metadata only).
    pub data: bool,
    /// Cut the image back to its journaled length (a file; a block device keeps its
    /// size).
    pub truncate: bool,
}

/// Writes the journal back into the image in an order that survives a power cut at any
/// point (running it again finishes the job): the whole journal is [`verify`]-ed first;
/// then every entry but the footers → flush → the footer copy at 0 and the primary
/// footer, which the journal holds un-poisoned → flush → the cut to the journaled length
/// → flush. Until the footers land the image keeps its poisoned footer at the end, so it
/// is never enabled half-restored. An emptied journal restores and cuts nothing.
/// Returns what [`verify`] found.
pub fn replay<J, I>(
    journal: &mut J,
    image: &mut I,
    opts: ReplayOptions,
    scratch: &mut [u8],
) -> Result<Verified, Error<J::Error>>
where
    J: Io,
    I: Io<Error = J::Error>,
{
    let v = verify(journal, scratch)?;
    let cut = v.image_len.filter(|_| opts.truncate);
    // The change being undone grows the image (resize), or shrinks a fixed disk: a
    // journaled length past the image's end (near 2^63, say) would otherwise leave a
    // file of the wrong length, and is refused before anything is written.
    if let Some(len) = v.image_len {
        // Only a fixed disk's shrink makes the image shorter than the journaled length,
        // and then that length is what the journaled footer says.
        if len > image.size().map_err(Error::Io)? && v.fixed_len != Some(len) {
            return Err(Error::Format(FormatError::invalid(
                Structure::Journal,
                "vhd_footer_offset",
            )));
        }
    }
    let mut out = CopyBack {
        journal,
        image,
        header: v.header,
        below: cut,
        chunk: sectors_of(scratch)?,
    };
    out.entries(Run::Metadata, |t| !is_footer(t))?;
    if opts.data {
        out.entries(Run::Data, |_| true)?;
    }
    out.flush()?;
    // The primary footer last: until it lands the image keeps its poisoned one.
    out.entries(Run::Metadata, |t| t == TYPE_FOOTER_C)?;
    out.entries(Run::Metadata, |t| t == TYPE_FOOTER_P)?;
    out.flush()?;
    if let Some(len) = cut {
        out.image.set_size(len).map_err(Error::Io)?;
        out.flush()?;
    }
    Ok(v)
}

/// [`replay`] of everything, with the cut: what `vhd-util revert` does to the image.
pub fn revert<J, I>(
    journal: &mut J,
    image: &mut I,
    scratch: &mut [u8],
) -> Result<Verified, Error<J::Error>>
where
    J: Io,
    I: Io<Error = J::Error>,
{
    let opts = ReplayOptions {
        data: true,
        truncate: true,
    };
    replay(journal, image, opts, scratch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_eof_order() {
        let mut h = JournalHeader::new(Uuid::from_bytes([3; 16]), 0x1234_5600);
        h.journal_metadata_entries = 2;
        h.journal_eof = 2048;
        let b = h.to_bytes();
        assert_eq!(&b[..8], b"vjournal");
        assert_eq!(&b[24..32], &0x1234_5600u64.to_be_bytes());
        assert_eq!(&b[56..64], &2048u64.to_ne_bytes());
        assert!(b[64..].iter().all(|&x| x == 0));
        let g = JournalHeader::parse(&b).unwrap();
        assert_eq!(g, h);
        assert_eq!(g.eof_within(4096), Some(2048));
        assert_eq!(g.eof_within(1024), None);
        let mut swapped = b;
        swapped[56..64].copy_from_slice(&2048u64.swap_bytes().to_ne_bytes());
        let s = JournalHeader::parse(&swapped).unwrap();
        assert_eq!(s.eof_within(4096), Some(2048));
        let mut bad = b;
        bad[0] = b'x';
        assert!(JournalHeader::parse(&bad).is_err());
        assert!(JournalHeader::parse(&b[..511]).is_err());
    }

    #[test]
    fn entry_checksum_is_the_byte_sum_complement() {
        let payload = [0x5au8; 512];
        let mut e = Entry::new(TYPE_HEADER, 512, 512);
        e.checksum = e.compute_checksum(&payload);
        let r = e.to_bytes();
        let mut zeroed = r;
        zeroed[24..28].fill(0);
        let sum = zeroed
            .iter()
            .chain(&payload)
            .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
        assert_eq!(e.checksum, !sum);
        assert_eq!(Entry::parse(&r).unwrap(), e);
        // A cookie in the other byte order is accepted; a wrong one is not.
        let mut le = r;
        le[..8].copy_from_slice(&ENTRY_COOKIE.to_le_bytes());
        assert_eq!(Entry::parse(&le).unwrap(), e);
        le[0] ^= 1;
        assert!(Entry::parse(&le).is_err());
    }
}
