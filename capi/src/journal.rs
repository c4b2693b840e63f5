//! `libvhd-journal.h`: the metadata journal that makes resize and vhd-update undoable.
//!
//! The structs are laid out as the reference declares them (checked below). The file
//! format, checksums, the regions journaled, verification and the crash-safe replay are
//! the core's ([`vhd_nostd::journal`], shared with `vhd-util resize`/`revert`): a
//! 512-byte header (`vjournal`, the image's UUID, where its primary footer was, the
//! counts and offsets of the metadata and data entries, the journal's end, the last in
//! host byte order as the reference stores it), then packed entries, each a 32-byte
//! record followed by its payload. This module holds the C structs and the descriptors.
//! Creating a journal copies the image's metadata into it (footer, its copy at 0,
//! header, locators, BAT, batmap header and map) and disables the image (`v_poison`);
//! `vhd_journal_add_block` adds blocks' bitmaps or data; `revert` checks the whole
//! journal, writes everything back (footers last) and cuts the image to its journaled
//! length; `commit` empties the journal; `remove` re-enables the image and deletes the
//! journal. An emptied journal restores and cuts nothing.

use core::ffi::{c_char, c_int, CStr};
use core::mem::{align_of, offset_of, size_of};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use uuid::Uuid;
use vhd_nostd::footer::FOOTER_SIZE;
use vhd_nostd::journal::{
    self as core_journal, BatmapPlace, JournalHeader, MetadataLayout, Region, ReplayOptions,
};
use vhd_nostd::{Io, SECTOR_SIZE};

use vhd_std::fileio::AlignedBuf;
use vhd_std::{FileIo, OpenMode};

use crate::bat::get_bat;
use crate::batmap::{batmap_header_offset, get_batmap, has_batmap};
use crate::cmem::{c_free, c_string};
use crate::consts::{
    c_defines, HD_COOKIE, VHD_OPEN_IGNORE_DISABLED, VHD_OPEN_RDWR, VHD_OPEN_STRICT,
    VHD_POISON_COOKIE,
};
use crate::convert::engine_locator;
use crate::convert::is_dynamic;
use crate::extent::{end_of_data, write_footer};
use crate::ffi::{boundary, c_str, errno, last_errno, object, Res};
use crate::open::{close_context, is_block_device, open_context};
use crate::state::{borrow, open_file, with_io, with_io_writing};
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

#[cfg(not(feature = "blktap3"))]
check_layout!(vhd_journal, size 2152, align 8;
    jname @ 0, jfd @ 8, is_block @ 12, header @ 16, vhd @ 528,
);

/// Scratch for copying payloads: whole sectors, aligned for an `O_DIRECT` image.
const SCRATCH: usize = 64 * 1024;

impl vhd_journal_header {
    /// The C view of the core's header (cookie set, padding zero).
    fn from_core(h: &JournalHeader) -> Self {
        vhd_journal_header {
            cookie: core_journal::HEADER_COOKIE.map(|c| c as c_char),
            uuid: *h.uuid.as_bytes(),
            vhd_footer_offset: h.vhd_footer_offset,
            journal_data_entries: h.journal_data_entries,
            journal_metadata_entries: h.journal_metadata_entries,
            journal_data_offset: h.journal_data_offset,
            journal_metadata_offset: h.journal_metadata_offset,
            journal_eof: h.journal_eof,
            pad: [0; 448],
        }
    }

    /// The core's view of the C header.
    fn to_core(self) -> JournalHeader {
        JournalHeader {
            uuid: Uuid::from_bytes(self.uuid),
            vhd_footer_offset: self.vhd_footer_offset,
            journal_data_entries: self.journal_data_entries,
            journal_metadata_entries: self.journal_metadata_entries,
            journal_data_offset: self.journal_data_offset,
            journal_metadata_offset: self.journal_metadata_offset,
            journal_eof: self.journal_eof,
        }
    }
}

/// The journal's I/O (the journal is buffered).
fn jio(j: &vhd_journal_t) -> Res<FileIo> {
    borrow(j.jfd)
}

fn scratch() -> Res<AlignedBuf> {
    AlignedBuf::try_new(SCRATCH).map_err(errno)
}

/// Appends an entry for each of `regions` of the image, copied from the image; the
/// journal header (`j->header` too) then counts it.
fn append(j: &mut vhd_journal_t, regions: &[Region]) -> Res<()> {
    let mut jf = jio(j)?;
    let mut buf = scratch()?;
    let mut h = j.header.to_core();
    let result = with_io(&j.vhd, |io| {
        for r in regions {
            core_journal::append(&mut jf, &mut h, io, *r, buf.as_mut()).map_err(errno)?;
        }
        Ok(())
    });
    j.header = vhd_journal_header::from_core(&h);
    result
}

/// Copies the image's metadata into the journal: the regions libvhd journals, from the
/// context's structs.
fn add_metadata(j: &mut vhd_journal_t) -> Res<()> {
    let ctx = &j.vhd;
    let size = with_io(ctx, |io| io.size().map_err(errno))?;
    let batmap = has_batmap(ctx).then(|| BatmapPlace {
        header_offset: batmap_header_offset(ctx),
        map_offset: ctx.batmap.header.batmap_offset,
        map_bytes: u64::from(ctx.batmap.header.batmap_size) * SECTOR_SIZE as u64,
    });
    let layout = MetadataLayout {
        footer_offset: size.checked_sub(FOOTER_SIZE as u64).ok_or(-libc::EINVAL)?,
        header_offset: ctx.footer.data_offset,
        locators: ctx.header.loc.map(|l| engine_locator(&l)),
        bat_offset: ctx.header.table_offset,
        bat_entries: ctx.header.max_bat_size,
        batmap,
    };
    let regions = core_journal::metadata_regions(&layout, size).map_err(errno)?;
    append(j, regions.as_slice())
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

/// Makes the journal durable (`fdatasync`: it is opened buffered).
fn sync(j: &vhd_journal_t) -> Res<()> {
    jio(j)?.flush().map_err(errno)
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
        return Err(last_errno());
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
    let size = with_io(&j.vhd, |io| io.size().map_err(errno))?;
    let h = JournalHeader::new(
        Uuid::from_bytes(j.vhd.footer.uuid),
        size.saturating_sub(FOOTER_SIZE as u64),
    );
    core_journal::write_header(&mut jio(j)?, &h).map_err(errno)?;
    j.header = vhd_journal_header::from_core(&h);
    add_metadata(j)?;
    // The journal is durable before the image is disabled.
    sync(j)?;
    set_cookie(&mut j.vhd, VHD_POISON_COOKIE)
}

/// Writes the journal back into the image at `file` (which need not open) in the
/// core's crash-safe order, after checking the journal whole: the metadata, with
/// `data` the data entries too, and the cut to the journaled length (not for a block
/// device; never for an emptied journal). `j->header` becomes the header as read.
fn restore(j: &mut vhd_journal_t, file: &CStr, data: bool) -> Res<()> {
    let mut image = open_file(
        Path::new(OsStr::from_bytes(file.to_bytes())),
        OpenMode::ReadWrite,
    )?;
    let opts = ReplayOptions {
        data,
        truncate: !image.is_block(),
    };
    let mut buf = scratch()?;
    let v = core_journal::replay(&mut jio(j)?, &mut image, opts, buf.as_mut()).map_err(errno)?;
    j.header = vhd_journal_header::from_core(&v.header);
    image.sync().map_err(errno)
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
) -> Res<()> {
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
    boundary!({
        start(j, true, |j| {
            // SAFETY: caller's contract.
            let (file, jfile) = unsafe { (c_str(file)?, c_str(jfile)?) };
            create(j, file, jfile)
        })
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
    boundary!({
        start(j, false, |j| {
            // SAFETY: caller's contract.
            let (file, jfile) = unsafe { (c_str(file)?, c_str(jfile)?) };
            j.jname = c_string(jfile.to_bytes())?;
            // SAFETY: `jfile` is NUL-terminated.
            j.jfd = unsafe { libc::open(jfile.as_ptr(), libc::O_RDWR | libc::O_LARGEFILE) };
            if j.jfd < 0 {
                return Err(last_errno());
            }
            j.is_block = c_int::from(is_block_device(jfile)?);
            restore(j, file, false)?;
            // Disabled still if the journal was emptied (it restores no footer).
            open_image(j, file, VHD_OPEN_RDWR | VHD_OPEN_IGNORE_DISABLED)?;
            set_cookie(&mut j.vhd, VHD_POISON_COOKIE)
        })
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
    boundary!({
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
        let data = |offset, len| Region {
            entry_type: core_journal::TYPE_DATA,
            offset,
            len,
        };
        let mut parts = Vec::new();
        if mode as u32 & VHD_JOURNAL_METADATA != 0 {
            parts.push(data(bitmap, bm_bytes));
        }
        if mode as u32 & VHD_JOURNAL_DATA != 0 {
            let block = u64::from(j.vhd.spb) * SECTOR_SIZE as u64;
            parts.push(data(bitmap + bm_bytes, block));
        }
        append(j, &parts)?;
        sync(j)
    })
}

/// Makes the journaled changes permanent: the journal is emptied (header only).
///
/// # Safety
/// `j` must be a journal from `vhd_journal_create` or `vhd_journal_open`.
#[no_mangle]
pub unsafe extern "C" fn vhd_journal_commit(j: *mut vhd_journal_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let j = unsafe { object(j)? };
        let mut h = j.header.to_core();
        let truncate = j.is_block == 0;
        let result = core_journal::commit(&mut jio(j)?, &mut h, truncate).map_err(errno);
        j.header = vhd_journal_header::from_core(&h);
        result?;
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
    boundary!({
        // SAFETY: caller's contract.
        let j = unsafe { object(j)? };
        // SAFETY: `file` is null or the string vhd_open duplicated.
        let file = unsafe { c_str(j.vhd.file) }?.to_owned();
        close_context(&mut j.vhd);
        restore(j, &file, true)?;
        open_context(&mut j.vhd, &file, VHD_OPEN_RDWR | VHD_OPEN_IGNORE_DISABLED)?;
        if j.vhd.is_block == 0 {
            let end = end_of_data(&mut j.vhd)? + FOOTER_SIZE as u64;
            with_io_writing(&j.vhd, |io| io.set_size(end).map_err(errno))?;
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
    boundary!({
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
    boundary!({
        // SAFETY: caller's contract.
        let j = unsafe { object(j)? };
        set_cookie(&mut j.vhd, HD_COOKIE)?;
        destroy(j, true);
        Ok(())
    })
}
