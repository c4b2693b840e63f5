//! `libvhd-journal.h`: the metadata journal that makes resize and vhd-update undoable.
//!
//! The structs are laid out as the reference declares them (checked below). The
//! journal is a separate file in libvhd's format: a 512-byte header (`vjournal`, the
//! image's UUID, where its primary footer was, the counts and offsets of the metadata
//! and data entries, the journal's end), all big-endian except `journal_eof`, which the
//! reference stores in host byte order and so do we; then entries, each a 32-byte
//! record (the cookie `0xaaaa12344321aaaa`, type, payload size, the payload's offset in
//! the image, a checksum over the record and the payload) followed by the payload.
//! Creating a journal copies the image's metadata into it (footer, its copy at 0,
//! header, locators, BAT, batmap header and map) and disables the image (`v_poison`);
//! `vhd_journal_add_block` adds blocks' bitmaps or data; `revert` writes everything back
//! and cuts the image to its journaled length; `commit` empties the journal; `remove`
//! re-enables the image and deletes the journal.

use core::ffi::{c_char, c_int, CStr};
use core::mem::{align_of, offset_of, size_of};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use vhd_nostd::bat::bat_bytes;
use vhd_nostd::footer::FOOTER_SIZE;
use vhd_nostd::header::HEADER_SIZE;
use vhd_nostd::locator::PLAT_CODE_NONE;
use vhd_nostd::{Io, SECTOR_SIZE};

use crate::alloc::{c_free, c_string};
use crate::bat::{end_of_data, get_bat};
use crate::batmap::{batmap_header_offset, get_batmap, has_batmap};
use crate::consts::{c_defines, HD_COOKIE, VHD_OPEN_RDWR, VHD_OPEN_STRICT, VHD_POISON_COOKIE};
use crate::convert::engine_locator;
use crate::fdio::{last_errno, FdIo};
use crate::ffi::{c_str, call, object, Res};
use crate::meta::{is_dynamic, write_footer};
use crate::open::{close_context, is_block_device, open_context};
use crate::state::{open_file, with_io, with_io_writing};
use crate::types::{check_layout, vhd_context_t, vhd_uuid_t};

c_defines! {
    /// The constants of `libvhd-journal.h`.
    JOURNAL_DEFINES;

    /// `vhd_journal_add_block` mode: journal the block's bitmap.
    VHD_JOURNAL_METADATA: u32 = 0x01 => Hex;
    /// `vhd_journal_add_block` mode: journal the block's data.
    VHD_JOURNAL_DATA: u32 = 0x02 => Hex;
    /// Journal header cookie.
    VHD_JOURNAL_HEADER_COOKIE: &str = "vjournal" => Str;
    /// Cookie of each journal entry record.
    VHD_JOURNAL_ENTRY_COOKIE: u64 = 0xAAAA_1234_4321_AAAA => HexUll;
}

/// The journal file's first sector (big-endian on disk).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhd_journal_header {
    /// `"vjournal"`.
    pub cookie: [c_char; 8],
    /// UUID of the journaled image.
    pub uuid: vhd_uuid_t,
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
    /// Byte offset of the journal's end.
    pub journal_eof: u64,
    /// Zero.
    pub pad: [c_char; 448],
}

/// The journal header: `struct vhd_journal_header`.
pub type vhd_journal_header_t = vhd_journal_header;

/// An open journal and the image it protects.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhd_journal {
    /// The journal's file name (malloc'd).
    pub jname: *mut c_char,
    /// File descriptor of the journal.
    pub jfd: c_int,
    /// Non-zero if `jfd` is a block device.
    pub is_block: c_int,
    /// The journal header, host order.
    pub header: vhd_journal_header_t,
    /// The journaled image, open read-write.
    pub vhd: vhd_context_t,
}

/// An open journal: `struct vhd_journal`.
pub type vhd_journal_t = vhd_journal;

check_layout!(vhd_journal_header, size 512, align 8;
    cookie @ 0, uuid @ 8, vhd_footer_offset @ 24, journal_data_entries @ 32,
    journal_metadata_entries @ 36, journal_data_offset @ 40, journal_metadata_offset @ 48,
    journal_eof @ 56, pad @ 64,
);

check_layout!(vhd_journal, size 2152, align 8;
    jname @ 0, jfd @ 8, is_block @ 12, header @ 16, vhd @ 528,
);

/// Bytes of the journal header.
const JHDR: u64 = 512;
/// Bytes of an entry record.
const RECORD: usize = 32;

/// Entry types, as libvhd numbers them.
const TYPE_FOOTER_P: u32 = 1;
const TYPE_FOOTER_C: u32 = 2;
const TYPE_HEADER: u32 = 3;
const TYPE_LOCATOR: u32 = 4;
const TYPE_BAT: u32 = 5;
const TYPE_BATMAP_H: u32 = 6;
const TYPE_BATMAP_M: u32 = 7;
const TYPE_DATA: u32 = 8;

impl vhd_journal_header {
    /// A header of all zero bytes.
    const fn zeroed() -> Self {
        vhd_journal_header {
            cookie: [0; 8],
            uuid: [0; 16],
            vhd_footer_offset: 0,
            journal_data_entries: 0,
            journal_metadata_entries: 0,
            journal_data_offset: 0,
            journal_metadata_offset: 0,
            journal_eof: 0,
            pad: [0; 448],
        }
    }

    /// Its on-disk form: big-endian, but `journal_eof` in host order (the reference's
    /// mistake, kept so that journals are interchangeable with it).
    fn on_disk(&self) -> [u8; JHDR as usize] {
        let mut b = [0u8; JHDR as usize];
        b[..8].copy_from_slice(&self.cookie.map(|c| c as u8));
        b[8..24].copy_from_slice(&self.uuid);
        b[24..32].copy_from_slice(&self.vhd_footer_offset.to_be_bytes());
        b[32..36].copy_from_slice(&self.journal_data_entries.to_be_bytes());
        b[36..40].copy_from_slice(&self.journal_metadata_entries.to_be_bytes());
        b[40..48].copy_from_slice(&self.journal_data_offset.to_be_bytes());
        b[48..56].copy_from_slice(&self.journal_metadata_offset.to_be_bytes());
        b[56..64].copy_from_slice(&self.journal_eof.to_ne_bytes());
        b
    }

    fn from_disk(b: &[u8; JHDR as usize]) -> Self {
        let u64_at = |i: usize| <[u8; 8]>::try_from(&b[i..i + 8]).unwrap_or_default();
        let u32_at = |i: usize| <[u8; 4]>::try_from(&b[i..i + 4]).unwrap_or_default();
        let mut h = Self::zeroed();
        h.cookie = <[u8; 8]>::try_from(&b[..8])
            .unwrap_or_default()
            .map(|c| c as c_char);
        h.uuid.copy_from_slice(&b[8..24]);
        h.vhd_footer_offset = u64::from_be_bytes(u64_at(24));
        h.journal_data_entries = u32::from_be_bytes(u32_at(32));
        h.journal_metadata_entries = u32::from_be_bytes(u32_at(36));
        h.journal_data_offset = u64::from_be_bytes(u64_at(40));
        h.journal_metadata_offset = u64::from_be_bytes(u64_at(48));
        h.journal_eof = u64::from_ne_bytes(u64_at(56));
        h
    }
}

/// The journal's I/O (the journal is buffered).
fn jio(j: &vhd_journal_t) -> Res<FdIo> {
    FdIo::new(j.jfd, false, false)
}

/// Writes the journal header.
fn update_header(j: &vhd_journal_t) -> Res<()> {
    jio(j)?.write_at(0, &j.header.on_disk()).map_err(|e| -e)
}

/// The record of an entry, with its checksum over the record (checksum zero) and the
/// payload.
fn record(ty: u32, offset: u64, payload: &[u8]) -> Res<[u8; RECORD]> {
    let size = u32::try_from(payload.len()).map_err(|_| -libc::EINVAL)?;
    let mut r = [0u8; RECORD];
    r[..8].copy_from_slice(&VHD_JOURNAL_ENTRY_COOKIE.to_be_bytes());
    r[8..12].copy_from_slice(&ty.to_be_bytes());
    r[12..16].copy_from_slice(&size.to_be_bytes());
    r[16..24].copy_from_slice(&offset.to_be_bytes());
    let sum = r
        .iter()
        .chain(payload)
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
    r[24..28].copy_from_slice(&(!sum).to_be_bytes());
    Ok(r)
}

/// Appends an entry of type `ty` holding `payload`, which belongs at `offset` of the
/// image; the header is rewritten with the new count and end. On failure the journal
/// file is cut back to where it ended.
fn append(j: &mut vhd_journal_t, ty: u32, offset: u64, payload: &[u8]) -> Res<()> {
    let rec = record(ty, offset, payload)?;
    let at = j.header.journal_eof;
    let mut io = jio(j)?;
    let written = io
        .write_at(at, &rec)
        .and_then(|()| io.write_at(at + RECORD as u64, payload))
        .map_err(|e| -e);
    if let Err(e) = written {
        if j.is_block == 0 {
            let _ = io.set_size(at);
        }
        return Err(e);
    }
    if ty == TYPE_DATA {
        j.header.journal_data_entries += 1;
    } else {
        j.header.journal_metadata_entries += 1;
    }
    j.header.journal_eof = at + (RECORD + payload.len()) as u64;
    update_header(j)
}

/// Reads the entry at `at` of the journal: its type, target offset, payload and where
/// the next one starts. `-EINVAL` for a bad cookie, a payload beyond the journal's end
/// or a bad checksum.
fn read_entry(io: &mut FdIo, at: u64, eof: u64) -> Res<(u32, u64, Vec<u8>, u64)> {
    let mut r = [0u8; RECORD];
    io.read_at(at, &mut r).map_err(|e| -e)?;
    let word = |i: usize, n: usize| r[i..i + n].iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
    let cookie = word(0, 8);
    if cookie != VHD_JOURNAL_ENTRY_COOKIE && cookie.swap_bytes() != VHD_JOURNAL_ENTRY_COOKIE {
        return Err(-libc::EINVAL);
    }
    let (ty, size, offset, stored) = (word(8, 4) as u32, word(12, 4), word(16, 8), word(24, 4));
    let start = at + RECORD as u64;
    if start.checked_add(size).is_none_or(|end| end > eof) {
        return Err(-libc::EINVAL);
    }
    let mut payload = vec![0u8; size as usize];
    io.read_at(start, &mut payload).map_err(|e| -e)?;
    r[24..28].fill(0);
    let sum = r
        .iter()
        .chain(&payload)
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
    if u64::from(!sum) != stored {
        return Err(-libc::EINVAL);
    }
    Ok((ty, offset, payload, start + size))
}

/// Writes the `count` entries from `first` back into the image through `write`.
fn replay(
    j: &vhd_journal_t,
    first: u64,
    count: u32,
    mut write: impl FnMut(u64, &[u8]) -> Res<()>,
) -> Res<()> {
    let mut io = jio(j)?;
    let eof = io.size().map_err(|e| -e)?;
    let mut at = first;
    for _ in 0..count {
        let (_, offset, payload, next) = read_entry(&mut io, at, eof)?;
        write(offset, &payload)?;
        at = next;
    }
    Ok(())
}

/// Reads and checks the journal header: cookie, and offsets within the journal.
fn read_header(j: &mut vhd_journal_t) -> Res<()> {
    let mut io = jio(j)?;
    let mut b = [0u8; JHDR as usize];
    io.read_at(0, &mut b).map_err(|e| -e)?;
    let h = vhd_journal_header::from_disk(&b);
    let size = io.size().map_err(|e| -e)?;
    let cookie = VHD_JOURNAL_HEADER_COOKIE.as_bytes();
    if h.cookie.map(|c| c as u8)[..] != cookie[..]
        || h.journal_eof > size
        || h.journal_data_offset > h.journal_eof
        || h.journal_metadata_offset > h.journal_eof
    {
        return Err(-libc::EINVAL);
    }
    j.header = h;
    Ok(())
}

/// Copies the image's metadata into the journal.
fn add_metadata(j: &mut vhd_journal_t) -> Res<()> {
    let ctx = &j.vhd;
    let size = with_io(ctx, |io| io.size().map_err(|e| -e))?;
    let end = size.checked_sub(FOOTER_SIZE as u64).ok_or(-libc::EINVAL)?;
    let mut regions = vec![
        (TYPE_FOOTER_P, end, FOOTER_SIZE as u64),
        (TYPE_FOOTER_C, 0, FOOTER_SIZE as u64),
        (TYPE_HEADER, ctx.footer.data_offset, HEADER_SIZE as u64),
    ];
    for loc in ctx.header.loc.iter().filter(|l| l.code != PLAT_CODE_NONE) {
        regions.push((
            TYPE_LOCATOR,
            loc.data_offset,
            engine_locator(loc).space_bytes(),
        ));
    }
    regions.push((
        TYPE_BAT,
        ctx.header.table_offset,
        bat_bytes(ctx.header.max_bat_size),
    ));
    if has_batmap(ctx) {
        regions.push((TYPE_BATMAP_H, batmap_header_offset(ctx), SECTOR_SIZE as u64));
        let b = &ctx.batmap.header;
        let map = u64::from(b.batmap_size) * SECTOR_SIZE as u64;
        regions.push((TYPE_BATMAP_M, b.batmap_offset, map));
    }
    if regions
        .iter()
        .any(|&(_, off, len)| off.checked_add(len).is_none_or(|e| e > size))
    {
        return Err(-libc::EINVAL);
    }
    for (ty, off, len) in regions {
        let mut payload = vec![0u8; len as usize];
        with_io(&j.vhd, |io| io.read_at(off, &mut payload).map_err(|e| -e))?;
        append(j, ty, off, &payload)?;
    }
    Ok(())
}

/// Sets the image's footer cookie (`v_poison` to disable it, `conectix` to enable it)
/// and writes both footers, unless it already has it.
fn set_cookie(ctx: &mut vhd_context_t, cookie: &str) -> Res<()> {
    let cookie: [c_char; 8] = <[u8; 8]>::try_from(cookie.as_bytes())
        .map_err(|_| -libc::EINVAL)?
        .map(|c| c as c_char);
    if ctx.footer.cookie == cookie {
        return Ok(());
    }
    let mut footer = ctx.footer;
    footer.cookie = cookie;
    write_footer(ctx, &mut footer)?;
    ctx.footer = footer;
    Ok(())
}

/// `fdatasync` of the journal.
fn sync(j: &vhd_journal_t) -> Res<()> {
    // SAFETY: plain syscall on the journal's descriptor.
    if unsafe { libc::fdatasync(j.jfd) } != 0 {
        return Err(-last_errno());
    }
    Ok(())
}

/// Opens the journal file: an existing block device, or a new file (`-EEXIST` if a
/// file is there already).
fn create_journal_file(j: &mut vhd_journal_t, jfile: &CStr) -> Res<()> {
    j.jname = c_string(jfile.to_bytes())?;
    let exists = std::fs::metadata(OsStr::from_bytes(jfile.to_bytes())).is_ok();
    if exists {
        j.is_block = c_int::from(is_block_device(jfile)?);
        if j.is_block == 0 {
            return Err(-libc::EEXIST);
        }
    }
    let flags = libc::O_RDWR | libc::O_LARGEFILE;
    let flags = if exists {
        flags
    } else {
        flags | libc::O_CREAT | libc::O_TRUNC
    };
    // SAFETY: `jfile` is NUL-terminated.
    j.jfd = unsafe { libc::open(jfile.as_ptr(), flags, 0o644 as libc::c_uint) };
    if j.jfd < 0 {
        return Err(-last_errno());
    }
    Ok(())
}

/// Opens the image read-write and loads its tables, as both `create` and `open` do.
fn open_image(j: &mut vhd_journal_t, file: &CStr, flags: c_int) -> Res<()> {
    open_context(&mut j.vhd, file, flags)?;
    get_bat(&mut j.vhd)?;
    if has_batmap(&j.vhd) {
        get_batmap(&mut j.vhd)?;
    }
    Ok(())
}

fn create(j: &mut vhd_journal_t, file: &CStr, jfile: &CStr) -> Res<()> {
    create_journal_file(j, jfile)?;
    open_image(j, file, VHD_OPEN_RDWR | VHD_OPEN_STRICT)?;
    let size = with_io(&j.vhd, |io| io.size().map_err(|e| -e))?;
    j.header.cookie = <[u8; 8]>::try_from(VHD_JOURNAL_HEADER_COOKIE.as_bytes())
        .unwrap_or_default()
        .map(|c| c as c_char);
    j.header.uuid = j.vhd.footer.uuid;
    j.header.vhd_footer_offset = size.saturating_sub(FOOTER_SIZE as u64);
    j.header.journal_metadata_offset = JHDR;
    j.header.journal_data_offset = JHDR;
    j.header.journal_eof = JHDR;
    update_header(j)?;
    add_metadata(j)?;
    j.header.journal_data_offset = j.header.journal_eof;
    update_header(j)?;
    set_cookie(&mut j.vhd, VHD_POISON_COOKIE)?;
    sync(j)
}

/// Writes the journaled metadata back into the image at `file` (which need not open)
/// and cuts the image to its journaled length.
fn restore_metadata(j: &vhd_journal_t, file: &CStr) -> Res<()> {
    let mut image = open_file(Path::new(OsStr::from_bytes(file.to_bytes())), libc::O_RDWR)?;
    let h = &j.header;
    replay(
        j,
        h.journal_metadata_offset,
        h.journal_metadata_entries,
        |off, data| image.write_at(off, data).map_err(|e| -e),
    )?;
    if !image.is_block() {
        image
            .set_size(h.vhd_footer_offset + FOOTER_SIZE as u64)
            .map_err(|e| -e)?;
    }
    image.sync().map_err(|e| -e)
}

/// Releases what a journal holds; deletes the journal file with `unlink`.
fn destroy(j: &mut vhd_journal_t, unlink: bool) {
    if !j.jname.is_null() && j.jfd >= 0 {
        // SAFETY: the journal's descriptor, closed once.
        unsafe { libc::close(j.jfd) };
        if unlink && j.is_block == 0 {
            // SAFETY: `jname` is the NUL-terminated name we duplicated.
            unsafe { libc::unlink(j.jname) };
        }
    }
    close_context(&mut j.vhd);
    c_free(j.jname);
    j.jname = core::ptr::null_mut();
    j.jfd = -1;
}

/// Runs `f` on a freshly zeroed journal; on failure releases what it opened (deleting a
/// journal file it created when `unlink`).
fn start(
    j: *mut vhd_journal_t,
    unlink: bool,
    f: impl FnOnce(&mut vhd_journal_t) -> Res<()>,
) -> c_int {
    call(|| {
        // SAFETY: the exports' contract: `j` null or writable.
        let j = unsafe { object(j)? };
        // SAFETY: all zero bytes are a valid journal (integers and null pointers), as
        // libvhd's memset makes it.
        unsafe { core::ptr::write_bytes(core::ptr::from_mut(j), 0, 1) };
        j.jfd = -1;
        let result = f(j);
        if result.is_err() {
            destroy(j, unlink);
        }
        result
    })
}

/// Opens image `file` read-write (strictly: its primary footer must be valid) and
/// creates journal `jfile` (a new file, `-EEXIST` if one exists, or an existing block
/// device) holding its metadata: both footers, header, locators, BAT, batmap. The image
/// is then disabled (`v_poison`) until `vhd_journal_remove`. `-EINVAL` for a fixed
/// image, which has no BAT; on failure nothing is left open and a new journal file is
/// removed.
///
/// # Safety
/// `j` must be writable; `file` and `jfile` strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_create(
    j: *mut vhd_journal_t,
    file: *const c_char,
    jfile: *const c_char,
) -> c_int {
    start(j, true, |j| {
        // SAFETY: caller's contract.
        let (file, jfile) = unsafe { (c_str(file)?, c_str(jfile)?) };
        create(j, file, jfile)
    })
}

/// Opens image `file` with its existing journal `jfile`: the journaled metadata is
/// written back into the image first (which is cut to its journaled length), then the
/// image is opened read-write and disabled again. Data entries are replayed by
/// `vhd_journal_revert`.
///
/// # Safety
/// `j` must be writable; `file` and `jfile` strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_open(
    j: *mut vhd_journal_t,
    file: *const c_char,
    jfile: *const c_char,
) -> c_int {
    start(j, false, |j| {
        // SAFETY: caller's contract.
        let (file, jfile) = unsafe { (c_str(file)?, c_str(jfile)?) };
        j.jname = c_string(jfile.to_bytes())?;
        // SAFETY: `jfile` is NUL-terminated.
        j.jfd = unsafe { libc::open(jfile.as_ptr(), libc::O_RDWR | libc::O_LARGEFILE) };
        if j.jfd < 0 {
            return Err(-last_errno());
        }
        j.is_block = c_int::from(is_block_device(jfile)?);
        read_header(j)?;
        restore_metadata(j, file)?;
        open_image(j, file, VHD_OPEN_RDWR)?;
        set_cookie(&mut j.vhd, VHD_POISON_COOKIE)
    })
}

/// Journals `block`'s sector bitmap (`VHD_JOURNAL_METADATA`) and/or data
/// (`VHD_JOURNAL_DATA`) before they change. An unallocated block needs nothing;
/// `-ERANGE` beyond the BAT, `-EINVAL` for a fixed image.
///
/// # Safety
/// `j` must be a journal from `vhd_journal_create` or `vhd_journal_open`.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_add_block(
    j: *mut vhd_journal_t,
    block: u32,
    mode: c_char,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let j = unsafe { object(j)? };
        if !is_dynamic(&j.vhd) {
            return Err(-libc::EINVAL);
        }
        get_bat(&mut j.vhd)?;
        let entry = *crate::bat::entries(&j.vhd.bat)
            .get(block as usize)
            .ok_or(-libc::ERANGE)?;
        if entry == vhd_nostd::bat::UNUSED {
            return Ok(());
        }
        let bitmap = u64::from(entry) * SECTOR_SIZE as u64;
        let bm_bytes = u64::from(j.vhd.bm_secs) * SECTOR_SIZE as u64;
        let mut parts = Vec::new();
        if mode as u32 & VHD_JOURNAL_METADATA != 0 {
            parts.push((bitmap, bm_bytes));
        }
        if mode as u32 & VHD_JOURNAL_DATA != 0 {
            parts.push((bitmap + bm_bytes, u64::from(j.vhd.spb) * SECTOR_SIZE as u64));
        }
        for (off, len) in parts {
            let mut payload = vec![0u8; len as usize];
            with_io(&j.vhd, |io| io.read_at(off, &mut payload).map_err(|e| -e))?;
            append(j, TYPE_DATA, off, &payload)?;
        }
        sync(j)
    })
}

/// Makes the journaled changes permanent: the journal is emptied (header only).
///
/// # Safety
/// `j` must be a journal from `vhd_journal_create` or `vhd_journal_open`.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_commit(j: *mut vhd_journal_t) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let j = unsafe { object(j)? };
        let h = &mut j.header;
        h.journal_data_entries = 0;
        h.journal_metadata_entries = 0;
        h.journal_data_offset = 0;
        h.journal_metadata_offset = 0;
        h.journal_eof = JHDR;
        update_header(j)?;
        if j.is_block == 0 {
            jio(j)?.set_size(JHDR).map_err(|e| -e)?;
        }
        sync(j)
    })
}

/// Restores the image from the journal: the metadata, the image's length, then the
/// journaled blocks; the image is reopened (`j->vhd`). It stays as the journal left it
/// (enabled) until `vhd_journal_remove` or `vhd_journal_close`.
///
/// # Safety
/// `j` must be a journal from `vhd_journal_create` or `vhd_journal_open`.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_revert(j: *mut vhd_journal_t) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let j = unsafe { object(j)? };
        // SAFETY: `file` is null or the string vhd_open duplicated.
        let file = unsafe { c_str(j.vhd.file) }?.to_owned();
        close_context(&mut j.vhd);
        restore_metadata(j, &file)?;
        open_context(&mut j.vhd, &file, VHD_OPEN_RDWR)?;
        let h = j.header;
        let vhd = &j.vhd;
        replay(
            j,
            h.journal_data_offset,
            h.journal_data_entries,
            |off, data| with_io_writing(vhd, |io| io.write_at(off, data).map_err(|e| -e)),
        )?;
        if j.vhd.is_block == 0 {
            let end = end_of_data(&mut j.vhd)? + FOOTER_SIZE as u64;
            with_io_writing(&j.vhd, |io| io.set_size(end).map_err(|e| -e))?;
        }
        sync(j)
    })
}

/// Closes the image and the journal, keeping the journal file (and the image as it is,
/// disabled if the journal disabled it).
///
/// # Safety
/// `j` must be null or a journal from `vhd_journal_create` or `vhd_journal_open`.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_close(j: *mut vhd_journal_t) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        destroy(unsafe { object(j)? }, false);
        Ok(())
    })
}

/// Re-enables the image (cookie `conectix`), closes it and the journal, and deletes the
/// journal file (not a block device).
///
/// # Safety
/// `j` must be a journal from `vhd_journal_create` or `vhd_journal_open`.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_remove(j: *mut vhd_journal_t) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let j = unsafe { object(j)? };
        set_cookie(&mut j.vhd, HD_COOKIE)?;
        destroy(j, true);
        Ok(())
    })
}
