//! The consistency checks `vhd-util check` performs, in its order and with its messages:
//! primary footer, backup footer, header, differencing fields, BAT layout, batmap and
//! parent locator structure. Resolving locator paths to files is left to the caller
//! (it needs a file system). The first problem found is returned. Where blktap2's and
//! blktap3's vhd-util differ, the caller's [`Dialect`] decides.

// Problems carry their message inline: there is no heap to box it into.
#![allow(clippy::result_large_err)]

use core::fmt::Write;

use heapless::String;

use crate::bat::{self, UNUSED};
use crate::batmap::{self, BatmapHeader};
use crate::bitmap::{BitOrder, Bitmap};
use crate::footer::{self, DiskType, Footer, FOOTER_SIZE};
use crate::header::{Header, HEADER_SIZE};
use crate::io::Io;
use crate::layout::BatmapPresence;
use crate::locator::{self, PLAT_CODE_NONE};
use crate::{geometry, SECTOR_SIZE};

/// Check settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Accept a primary footer of all `0xc7` bytes (tapdisk's "killed" footer) and use
    /// the copy at offset 0 instead (`-i`).
    pub ignore_primary: bool,
    /// The current time, VHD seconds (creation times more than 30 minutes later are
    /// "in the future").
    pub now: u32,
}

/// Whose `vhd-util check` to follow where Xen blktap2's and xapi-project/blktap's
/// ("blktap3") differ. Every other test is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// blktap2's: `-i` skips only tapdisk's "killed" primary footer; every BAT entry is
    /// checked.
    #[default]
    Blktap2,
    /// blktap3's: `-i` skips any invalid primary footer (and a block may then end where
    /// the footer belongs); a nil footer UUID is invalid; only the BAT entries the
    /// virtual size covers are checked, after testing that the BAT has them; the
    /// batmap's size is compared with the BAT before its offset, and one reaching into
    /// the footer is `invalid batmap size`.
    Blktap3,
}

/// Why a message carries a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail<E> {
    /// The message stands alone.
    None,
    /// The I/O callback failed; the caller prints its errno after the message.
    Io(E),
    /// A libvhd-style negative errno to print after the message.
    Errno(i32),
}

/// The first problem found, with vhd-util's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem<E> {
    /// The message, e.g. `primary footer invalid: invalid checksum`.
    pub message: String<200>,
    /// A code the caller prints after the message (`: <err>`), if any.
    pub detail: Detail<E>,
}

impl<E> Problem<E> {
    fn new(args: core::fmt::Arguments<'_>) -> Self {
        let mut message = String::new();
        // Messages are short; one that does not fit is cut, never lost entirely.
        let _ = message.write_fmt(args);
        Problem {
            message,
            detail: Detail::None,
        }
    }

    fn io(msg: &str, e: E) -> Self {
        let mut p = Problem::new(format_args!("{msg}"));
        p.detail = Detail::Io(e);
        p
    }
}

/// What a passing check found, for the caller's further (file system) checks.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The disk type.
    pub kind: DiskType,
    /// The footer in force.
    pub footer: Footer,
    /// The header, for sparse disks.
    pub header: Option<Header>,
}

const EINVAL: i32 = -22;

/// Work space [`check`] needs for an image: the BAT, the batmap and an 8-byte record per
/// block for the overlap sort. Bounded by the file: a BAT larger than the file is
/// rejected before this is used.
pub fn work_size(max_bat_size: u32) -> usize {
    bat::bat_bytes(max_bat_size) as usize
        + batmap::map_sectors(max_bat_size) as usize * SECTOR_SIZE
        + max_bat_size as usize * 8
}

/// [`footer_problem`], with `dialect`'s tests: blktap3 adds a last one, a nil UUID.
pub fn dialect_footer_problem(f: &Footer, now: u32, dialect: Dialect) -> Option<&'static str> {
    footer_problem(f, now).or_else(|| {
        (dialect == Dialect::Blktap3 && f.uuid.is_nil()).then_some("invalid (NULL) uuid")
    })
}

/// The BAT entries a footer's virtual size needs: its blocks, the last one possibly
/// covered only in part.
pub fn covered_blocks(f: &Footer, h: &Header) -> u64 {
    f.curr_size.div_ceil(u64::from(h.block_size.max(1)))
}

/// Judges a footer's fields in vhd-util's order; `None` if valid.
pub fn footer_problem(f: &Footer, now: u32) -> Option<&'static str> {
    if f.cookie != footer::COOKIE {
        return Some("invalid cookie");
    }
    if f.verify_checksum().is_err() {
        return Some("invalid checksum");
    }
    if f.features & footer::FEATURE_RESERVED == 0 {
        return Some("invalid 'reserved' feature");
    }
    if f.features & !(footer::FEATURE_RESERVED | footer::FEATURE_TEMPORARY) != 0 {
        return Some("invalid extra features");
    }
    if f.ff_version != footer::FF_VERSION {
        return Some("invalid file format version");
    }
    if f.disk_type == DiskType::Fixed as u32 && f.data_offset != footer::NO_DATA_OFFSET {
        return Some("invalid data offset");
    }
    if u64::from(f.timestamp) > u64::from(now) + 1800 {
        return Some("creation time in future");
    }
    if f.is_tapdisk_creator() && f.crtr_ver > footer::CREATOR_VERSION {
        return Some("unsupported tap creator version");
    }
    if f.geometry > geometry::chs(f.curr_size).encode() {
        return Some("geometry too large");
    }
    if f.kind().is_none() {
        return Some("invalid type");
    }
    if f.saved > 1 {
        return Some("invalid 'saved' state");
    }
    if f.hidden > 1 {
        return Some("invalid 'hidden' state");
    }
    if f.reserved.iter().any(|&b| b != 0) {
        return Some("invalid 'reserved' bits");
    }
    None
}

/// Judges a header in vhd-util's order; `None` if valid.
pub fn header_problem(h: &Header, file_size: u64) -> Option<&'static str> {
    if h.cookie != crate::header::COOKIE {
        return Some("invalid cookie");
    }
    if h.compute_checksum() != h.checksum {
        return Some("invalid checksum");
    }
    let limit = file_size.saturating_sub(FOOTER_SIZE as u64);
    if let Some(rule) = h.broken_rule(limit, false) {
        return Some(rule.message);
    }
    None
}

fn read<I: Io>(io: &mut I, off: u64, buf: &mut [u8], what: &str) -> Result<(), Problem<I::Error>> {
    io.read_at(off, buf).map_err(|e| Problem::io(what, e))
}

/// Runs the structural checks on the image in `io`, with `work` of at least
/// [`work_size`] bytes for sparse disks.
pub fn check<I: Io>(
    io: &mut I,
    opts: &CheckOptions,
    work: &mut [u8],
) -> Result<Checked, Problem<I::Error>> {
    check_blocks(io, opts, Dialect::Blktap2, true, work)
}

/// [`check`] as `dialect`'s vhd-util checks, with the test that no two blocks overlap (a
/// sort of the BAT) only when `overlap` is set: blktap3's fast `check -B`, which
/// XenServer's storage manager runs on large LVM images.
pub fn check_blocks<I: Io>(
    io: &mut I,
    opts: &CheckOptions,
    dialect: Dialect,
    overlap: bool,
    work: &mut [u8],
) -> Result<Checked, Problem<I::Error>> {
    let eof = io
        .size()
        .map_err(|e| Problem::io("error calculating end of file", e))?;
    if eof < FOOTER_SIZE as u64 {
        let mut p = Problem::new(format_args!("error reading primary footer"));
        p.detail = Detail::Errno(EINVAL);
        return Err(p);
    }
    // 1. Primary footer: the last 512 bytes, or 511 when the length is not whole sectors.
    let mut fb = [0u8; FOOTER_SIZE];
    let short = eof % SECTOR_SIZE as u64 == (SECTOR_SIZE - 1) as u64;
    let (pos, len) = if short {
        (eof - 511, 511)
    } else {
        (eof - FOOTER_SIZE as u64, FOOTER_SIZE)
    };
    read(io, pos, &mut fb[..len], "error reading primary footer")?;
    // 2. The copy at offset 0 (a fixed disk has none).
    let (primary, missing) = match dialect {
        Dialect::Blktap2 => (footers_blktap2(io, opts, &fb, len)?, false),
        Dialect::Blktap3 => footers_blktap3(io, opts, &fb)?,
    };
    let kind = primary.kind().unwrap_or(DiskType::Fixed);
    if kind == DiskType::Fixed {
        return Ok(Checked {
            kind,
            footer: primary,
            header: None,
        });
    }
    // 3. Header.
    let mut hb = [0u8; HEADER_SIZE];
    // The reference seeks there first: an offset past i64::MAX is negative to lseek.
    if primary.data_offset > i64::MAX as u64 {
        let mut p = Problem::new(format_args!("error seeking to header"));
        p.detail = Detail::Errno(EINVAL);
        return Err(p);
    }
    if primary
        .data_offset
        .checked_add(HEADER_SIZE as u64)
        .is_none_or(|e| e > eof)
    {
        let mut p = Problem::new(format_args!("error reading header"));
        p.detail = Detail::Errno(EINVAL);
        return Err(p);
    }
    read(io, primary.data_offset, &mut hb, "error reading header")?;
    let h = Header::decode(&hb).map_err(|_| Problem::new(format_args!("error reading header")))?;
    if let Some(m) = header_problem(&h, eof) {
        return Err(Problem::new(format_args!("header is invalid: {m}")));
    }
    // 4. Differencing fields.
    diff_fields(&h, kind, opts.now)?;
    // 5. BAT.
    if eof % SECTOR_SIZE as u64 != 0 && !short {
        return Err(Problem::new(format_args!("invalid file size: 0x{eof:x}")));
    }
    let entries = h.max_bat_size;
    if work.len() < work_size(entries) {
        let mut p = Problem::new(format_args!("error reading bat"));
        p.detail = Detail::Errno(-12);
        return Err(p);
    }
    let bat_len = bat::bat_bytes(entries) as usize;
    let (bat_buf, rest) = work.split_at_mut(bat_len);
    let map_len = batmap::map_sectors(entries) as usize * SECTOR_SIZE;
    let (map_buf, sort_buf) = rest.split_at_mut(map_len);
    read(io, h.table_offset, bat_buf, "error reading bat")?;
    let table =
        bat::Bat::new(&*bat_buf, entries).ok_or(Problem::new(format_args!("error reading bat")))?;
    let batmap_hdr = read_batmap_header(io, &primary, &h)?;
    let end_meta = end_of_metadata(&h, batmap_hdr.as_ref(), kind, eof);
    // The entries checked: blktap2 all, blktap3 those the virtual size covers.
    let covered = match dialect {
        Dialect::Blktap2 => entries,
        Dialect::Blktap3 => {
            let n = covered_blocks(&primary, &h);
            if n > u64::from(entries) {
                return Err(Problem::new(format_args!(
                    "VHD size ({n} blocks) exceeds BAT size ({entries})"
                )));
            }
            n as u32
        }
    };
    let span = (u64::from(h.bitmap_sectors()) + u64::from(h.sectors_per_block())) as u32;
    let footer_sec = (pos / SECTOR_SIZE as u64) as u32;
    let meta_sec = end_meta.div_ceil(SECTOR_SIZE as u64);
    // Sorted (offset, block) records find each block's neighbours in O(log n); the
    // verdict is the reference's, which walks the BAT in block order and, for each
    // block, checks the headers, the footer, then every other block, reporting the
    // first block (and the first other block) at fault.
    let mut n = 0usize;
    for (b, s) in table.allocated().filter(|&(b, _)| overlap && b < covered) {
        sort_buf[n * 8..n * 8 + 4].copy_from_slice(&s.to_be_bytes());
        sort_buf[n * 8 + 4..n * 8 + 8].copy_from_slice(&b.to_be_bytes());
        n += 1;
    }
    heap_sort(&mut sort_buf[..n * 8]);
    let recs = &sort_buf[..n * 8];
    for (b, s) in table.allocated().filter(|&(b, _)| b < covered) {
        if u64::from(s) < meta_sec {
            return Err(Problem::new(format_args!(
                "block {b} (offset 0x{s:x}) clobbers headers"
            )));
        }
        let end = u64::from(s) + u64::from(span);
        // blktap3 -i: the primary footer was skipped, so the last block may end where
        // the footer belongs (a block appended before the footer was).
        if end > u64::from(footer_sec) && !(missing && end == u64::from(footer_sec) + 1) {
            return Err(Problem::new(format_args!(
                "block {b} (offset 0x{s:x}) clobbers footer"
            )));
        }
        if !overlap {
            continue;
        }
        if let Some((o, other)) = first_overlap(recs, b, s, span) {
            return Err(Problem::new(format_args!(
                "block {b} (offset 0x{s:x}) clobbers block {other} (offset 0x{o:x})"
            )));
        }
    }
    // 6. Batmap.
    if let Some(bm) = batmap_hdr {
        let m = batmap_problem(&bm, entries, pos, dialect);
        if let Some(m) = m {
            return Err(Problem::new(format_args!("batmap is invalid: {m}")));
        }
        // The map may be larger than the BAT needs (valid, if odd): the buffer holds the
        // part with the BAT's bits and the rest only passes through the checksum.
        let len = map_len.min(bm.map_bytes() as usize);
        read(
            io,
            bm.batmap_offset,
            &mut map_buf[..len],
            "error reading batmap",
        )?;
        let mut sum = bm.sum_part(0, &map_buf[..len]);
        let mut sec = [0u8; SECTOR_SIZE];
        let mut off = bm.batmap_offset + len as u64;
        while off < bm.batmap_offset + bm.map_bytes() {
            read(io, off, &mut sec, "error reading batmap")?;
            sum = bm.sum_part(sum, &sec);
            off += SECTOR_SIZE as u64;
        }
        if !sum != bm.checksum {
            let mut p = Problem::new(format_args!("error reading batmap"));
            p.detail = Detail::Errno(EINVAL);
            return Err(p);
        }
        for b in 0..covered {
            if batmap::test(&map_buf[..len], b) && table.raw(b) == Some(UNUSED) {
                return Err(Problem::new(format_args!(
                    "batmap shows unallocated block {b} full"
                )));
            }
        }
        batmap_agrees_with_bitmaps(io, &table, covered, &map_buf[..len], &h)?;
    }
    // 7. Parent locators (structure).
    if kind == DiskType::Differencing {
        locator_fields(&h, pos)?;
    }
    Ok(Checked {
        kind,
        footer: primary,
        header: Some(h),
    })
}

/// Steps 1 and 2 as blktap2: with `-i`, a primary footer of tapdisk's "killed" fill is
/// replaced by the copy at 0; both must then be valid and equal. `fb` holds the
/// primary's `len` bytes.
fn footers_blktap2<I: Io>(
    io: &mut I,
    opts: &CheckOptions,
    fb: &[u8; FOOTER_SIZE],
    len: usize,
) -> Result<Footer, Problem<I::Error>> {
    let killed = fb[..len].iter().all(|&b| b == 0xc7);
    let mut primary = Footer::decode(fb)
        .map_err(|_| Problem::new(format_args!("error reading primary footer")))?;
    if killed && opts.ignore_primary {
        let mut cb = [0u8; FOOTER_SIZE];
        read(io, 0, &mut cb, "error reading backup footer")?;
        primary = Footer::decode(&cb)
            .map_err(|_| Problem::new(format_args!("error reading backup footer")))?;
    }
    if let Some(m) = footer_problem(&primary, opts.now) {
        return Err(Problem::new(format_args!("primary footer invalid: {m}")));
    }
    if primary.kind().unwrap_or(DiskType::Fixed) == DiskType::Fixed {
        return Ok(primary);
    }
    let backup = read_backup(io, opts, Dialect::Blktap2)?;
    if backup != primary {
        return Err(Problem::new(format_args!(
            "primary and backup footers do not match"
        )));
    }
    Ok(primary)
}

/// Steps 1 and 2 as blktap3: with `-i`, any invalid primary footer is passed over and
/// the copy at 0 is the footer, as it is wherever the two differ. Returns the footer
/// and whether the primary was invalid.
fn footers_blktap3<I: Io>(
    io: &mut I,
    opts: &CheckOptions,
    fb: &[u8; FOOTER_SIZE],
) -> Result<(Footer, bool), Problem<I::Error>> {
    let primary = Footer::decode(fb)
        .map_err(|_| Problem::new(format_args!("error reading primary footer")))?;
    let problem = dialect_footer_problem(&primary, opts.now, Dialect::Blktap3);
    match problem {
        Some(m) if !opts.ignore_primary => {
            return Err(Problem::new(format_args!("primary footer invalid: {m}")))
        }
        None if primary.kind() == Some(DiskType::Fixed) => return Ok((primary, false)),
        _ => {}
    }
    let backup = read_backup(io, opts, Dialect::Blktap3)?;
    if backup != primary && !opts.ignore_primary {
        return Err(Problem::new(format_args!(
            "primary and backup footers do not match"
        )));
    }
    Ok((backup, problem.is_some()))
}

/// The footer copy at offset 0, which must be valid.
fn read_backup<I: Io>(
    io: &mut I,
    opts: &CheckOptions,
    dialect: Dialect,
) -> Result<Footer, Problem<I::Error>> {
    let mut bb = [0u8; FOOTER_SIZE];
    read(io, 0, &mut bb, "error reading backup footer")?;
    let backup = Footer::decode(&bb)
        .map_err(|_| Problem::new(format_args!("error reading backup footer")))?;
    if let Some(m) = dialect_footer_problem(&backup, opts.now, dialect) {
        return Err(Problem::new(format_args!("backup footer invalid: {m}")));
    }
    Ok(backup)
}

fn diff_fields<E>(h: &Header, kind: DiskType, now: u32) -> Result<(), Problem<E>> {
    let m = if kind == DiskType::Differencing {
        let mut name = [0u8; 1024];
        if u64::from(h.prt_ts) > u64::from(now) + 1800 {
            Some("parent creation time in future")
        } else if h.parent_name(&mut name).is_err() {
            Some("invalid parent name")
        } else {
            None
        }
    } else if h.prt_name.iter().any(|&b| b != 0) {
        Some("invalid non-null parent name")
    } else if h
        .loc
        .iter()
        .any(|l| *l != locator::ParentLocator::default())
    {
        Some("invalid non-null parent locators")
    } else if !h.prt_uuid.is_nil() {
        Some("invalid non-null parent uuid")
    } else if h.prt_ts != 0 {
        Some("invalid non-zero parent timestamp")
    } else {
        None
    };
    match m {
        Some(m) => Err(Problem::new(format_args!(
            "differencing header is invalid: {m}"
        ))),
        None => Ok(()),
    }
}

fn read_batmap_header<I: Io>(
    io: &mut I,
    f: &Footer,
    h: &Header,
) -> Result<Option<BatmapHeader>, Problem<I::Error>> {
    let presence = f.batmap_presence();
    if presence == BatmapPresence::Absent {
        return Ok(None);
    }
    let off = h.table_offset + bat::bat_bytes(h.max_bat_size);
    let mut b = [0u8; SECTOR_SIZE];
    read(io, off, &mut b, "error reading batmap")?;
    match BatmapHeader::parse(&b) {
        Ok(bm) => Ok(Some(bm)),
        // Version 1.1 images may have none.
        Err(_) if presence == BatmapPresence::IfValid => Ok(None),
        Err(_) => {
            let mut p = Problem::new(format_args!("error reading batmap"));
            p.detail = Detail::Errno(EINVAL);
            Err(p)
        }
    }
}

/// Every allocated block the batmap calls full must have a full bitmap: reads follow
/// the bitmap (as libvhd's do), so a batmap bit without one hides which sectors are
/// really present. The reference's check does not look; a hostile image passes it.
fn batmap_agrees_with_bitmaps<I: Io>(
    io: &mut I,
    table: &bat::Bat<&[u8]>,
    covered: u32,
    map: &[u8],
    h: &Header,
) -> Result<(), Problem<I::Error>> {
    let spb = h.sectors_per_block();
    let mut sec = [0u8; SECTOR_SIZE];
    for (b, s) in table.allocated().filter(|&(b, _)| b < covered) {
        if !batmap::test(map, b) {
            continue;
        }
        let mut left = spb;
        let mut off = u64::from(s) * SECTOR_SIZE as u64;
        while left > 0 {
            read(io, off, &mut sec, "error reading bitmap")?;
            let bits = left.min(SECTOR_SIZE as u32 * 8);
            if !Bitmap::new(&sec[..], BitOrder::MsbFirst).all_set(bits) {
                return Err(Problem::new(format_args!(
                    "batmap shows block {b} full but its bitmap is not"
                )));
            }
            left -= bits;
            off += SECTOR_SIZE as u64;
        }
    }
    Ok(())
}

fn batmap_problem(
    bm: &BatmapHeader,
    entries: u32,
    footer_pos: u64,
    dialect: Dialect,
) -> Option<&'static str> {
    let too_small = bm.batmap_size < batmap::map_sectors(entries);
    if bm.batmap_version >> 16 != 1 {
        return Some("unsupported batmap version");
    }
    if bm.batmap_size == 0 {
        return Some("invalid size zero");
    }
    if dialect == Dialect::Blktap3 && too_small {
        return Some("batmap-BAT size mismatch");
    }
    if !bm.batmap_offset.is_multiple_of(SECTOR_SIZE as u64) {
        return Some("invalid batmap offset");
    }
    if bm
        .batmap_offset
        .checked_add(bm.map_bytes())
        .is_none_or(|e| e > footer_pos)
    {
        return Some(match dialect {
            Dialect::Blktap2 => "invalid batmap offset",
            Dialect::Blktap3 => "invalid batmap size",
        });
    }
    if too_small {
        return Some("invalid batmap size");
    }
    None
}

/// End of metadata in bytes: header, BAT, batmap and locator payloads.
fn end_of_metadata(h: &Header, bm: Option<&BatmapHeader>, kind: DiskType, eof: u64) -> u64 {
    let mut end = h.table_offset + bat::bat_bytes(h.max_bat_size);
    end = end.max(FOOTER_SIZE as u64 + HEADER_SIZE as u64);
    if let Some(bm) = bm {
        end = end
            .max(h.table_offset + bat::bat_bytes(h.max_bat_size) + SECTOR_SIZE as u64)
            .max(bm.batmap_offset.saturating_add(bm.map_bytes()));
    }
    if kind == DiskType::Differencing {
        for l in h.loc.iter().filter(|l| l.is_used()) {
            if let Some(e) = l.data_offset.checked_add(l.space_bytes()) {
                if e <= eof {
                    end = end.max(e);
                }
            }
        }
    }
    end
}

fn locator_fields<E>(h: &Header, footer_pos: u64) -> Result<(), Problem<E>> {
    for (i, l) in h.loc.iter().enumerate() {
        let m = if l.code == PLAT_CODE_NONE {
            (*l != locator::ParentLocator::default()).then_some("non-zero locator")
        } else if !locator::is_valid_platform_code(l.code) {
            Some("invalid platform code")
        } else if l.data_offset == 0 || l.data_offset % SECTOR_SIZE as u64 != 0 {
            Some("invalid data offset")
        } else if l.space_bytes() == 0 {
            Some("invalid data space")
        } else if l.data_len == 0 || u64::from(l.data_len) > l.space_bytes() {
            Some("invalid data length")
        } else if l.data_offset.wrapping_add(l.space_bytes()) > footer_pos {
            // The reference's sum wraps: an offset that overflows passes here and fails
            // when the payload is read ("error reading parent locator").
            Some("invalid size")
        } else if l.res != 0 {
            Some("invalid reserved bits")
        } else {
            None
        };
        if let Some(m) = m {
            return Err(Problem::new(format_args!(
                "invalid parent locator {i}: {m}"
            )));
        }
        if l.code != PLAT_CODE_NONE && h.loc[..i].iter().any(|o| o.code == l.code) {
            return Err(Problem::new(format_args!(
                "duplicate platform code in locator {i}: 0x{:x}",
                l.code
            )));
        }
    }
    Ok(())
}

/// The (offset, block) record `i` of the sorted records.
fn record(recs: &[u8], i: usize) -> (u32, u32) {
    let r = &recs[i * 8..i * 8 + 8];
    (
        u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
        u32::from_be_bytes([r[4], r[5], r[6], r[7]]),
    )
}

/// The lowest-numbered block other than `block` whose `span` sectors overlap the ones
/// at `off`, with its offset, from records sorted by offset.
fn first_overlap(recs: &[u8], block: u32, off: u32, span: u32) -> Option<(u32, u32)> {
    let n = recs.len() / 8;
    let lo = i64::from(off) - i64::from(span);
    // First record whose offset is above `lo` (blocks starting a whole span below
    // end exactly where this one starts: no overlap).
    let (mut a, mut z) = (0usize, n);
    while a < z {
        let m = (a + z) / 2;
        if i64::from(record(recs, m).0) <= lo {
            a = m + 1;
        } else {
            z = m;
        }
    }
    let hi = u64::from(off) + u64::from(span);
    let mut best: Option<(u32, u32)> = None;
    for i in a..n {
        let (o, b) = record(recs, i);
        if u64::from(o) >= hi {
            break;
        }
        if b != block && best.is_none_or(|(_, bb)| b < bb) {
            best = Some((o, b));
        }
    }
    best
}

/// Sorts 8-byte big-endian records in place (heap sort: no allocation, no recursion).
pub(crate) fn heap_sort(recs: &mut [u8]) {
    let n = recs.len() / 8;
    let key = |r: &[u8], i: usize| -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&r[i * 8..i * 8 + 8]);
        u64::from_be_bytes(a)
    };
    let swap = |r: &mut [u8], i: usize, j: usize| {
        for k in 0..8 {
            r.swap(i * 8 + k, j * 8 + k);
        }
    };
    let sift = |r: &mut [u8], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && key(r, child + 1) > key(r, child) {
            child += 1;
        }
        if key(r, root) >= key(r, child) {
            break;
        }
        swap(r, root, child);
        root = child;
    };
    for i in (0..n / 2).rev() {
        sift(recs, i, n);
    }
    for end in (1..n).rev() {
        swap(recs, 0, end);
        sift(recs, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_sort_orders_records() {
        let keys = [9u64, 3, 7, 1, 1, 8, 0, u64::MAX, 5];
        let mut b = [0u8; 72];
        for (i, k) in keys.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&k.to_be_bytes());
        }
        heap_sort(&mut b);
        let mut prev = 0;
        for i in 0..keys.len() {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            let k = u64::from_be_bytes(a);
            assert!(k >= prev);
            prev = k;
        }
    }
}
