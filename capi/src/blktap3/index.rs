//! vhd-index (`libvhd-index.h`): the block-index files of tapdisk's `vindex` driver.
//!
//! The structs are laid out as blktap3 declares them; the file formats live in
//! `index_files`. Memory handed to the caller (block tables, the BAT's table, file
//! table entries and their paths) comes from `malloc`, so that its `free()` is right.
//! See COMPATIBILITY.md for where these differ from blktap3's.

use core::ffi::{c_char, c_int};
use core::mem::{align_of, offset_of, size_of};

use std::os::unix::fs::FileExt;

use vhd_std::fileio::AlignedBuf;

use super::index_files::{self as files, ENTRY_LEN, SECTOR};
use crate::cmem::{c_aligned, c_free, c_string};
use crate::ffi::{boundary, c_str, errno, last_errno, object, Res};
use crate::types::{check_layout, uuid_t};

/// Identifies a file of an index's file table.
pub type vhdi_file_id_t = u32;

/// An open index file.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhdi_context {
    /// Its descriptor.
    pub fd: c_int,
    /// Sectors per block.
    pub spb: c_int,
    /// Its path (malloc'd).
    pub name: *mut c_char,
    /// Block size of the VHD it indexes, in bytes.
    pub vhd_block_size: u32,
}

/// An open index file: `struct vhdi_context`.
pub type vhdi_context_t = vhdi_context;

/// The block table of an index.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhdi_bat {
    /// Block offsets.
    pub table: *mut u32,
    /// Blocks of the VHD.
    pub vhd_blocks: u64,
    /// Block size of the VHD, in bytes.
    pub vhd_block_size: u32,
    /// The VHD's path.
    pub vhd_path: [c_char; 1024],
    /// The index file's path.
    pub index_path: [c_char; 1024],
    /// The file table's path.
    pub file_table_path: [c_char; 1024],
}

/// The block table of an index: `struct vhdi_bat`.
pub type vhdi_bat_t = vhdi_bat;

/// Where one sector of a block lives.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhdi_entry {
    /// The file holding it.
    pub file_id: vhdi_file_id_t,
    /// Its sector in that file.
    pub offset: u32,
}

/// Where one sector of a block lives: `struct vhdi_entry`.
pub type vhdi_entry_t = vhdi_entry;

/// One block of an index: an entry per sector.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhdi_block {
    /// Number of entries.
    pub entries: c_int,
    /// The entries.
    pub table: *mut vhdi_entry_t,
}

/// One block of an index: `struct vhdi_block`.
pub type vhdi_block_t = vhdi_block;

/// A file an index refers to.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhdi_file_ref {
    /// Its identifier.
    pub file_id: vhdi_file_id_t,
    /// Its path (malloc'd).
    pub path: *mut c_char,
    /// The UUID of the VHD it is.
    pub vhd_uuid: uuid_t,
    /// The VHD's timestamp.
    pub vhd_timestamp: u32,
}

/// A file an index refers to: `struct vhdi_file_ref`.
pub type vhdi_file_ref_t = vhdi_file_ref;

/// The files an index refers to.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhdi_file_table {
    /// Number of entries.
    pub entries: c_int,
    /// The entries (malloc'd).
    pub table: *mut vhdi_file_ref_t,
}

/// The files an index refers to: `struct vhdi_file_table`.
pub type vhdi_file_table_t = vhdi_file_table;

check_layout!(vhdi_context, size 24, align 8; fd @ 0, spb @ 4, name @ 8, vhd_block_size @ 16);
check_layout!(vhdi_bat, size 3096, align 8;
    table @ 0, vhd_blocks @ 8, vhd_block_size @ 16, vhd_path @ 20, index_path @ 1044,
    file_table_path @ 2068,
);
check_layout!(vhdi_entry, size 8, align 4; file_id @ 0, offset @ 4);
check_layout!(vhdi_block, size 16, align 8; entries @ 0, table @ 8);
check_layout!(vhdi_file_ref, size 40, align 8;
    file_id @ 0, path @ 8, vhd_uuid @ 16, vhd_timestamp @ 32,
);
check_layout!(vhdi_file_table, size 16, align 8; entries @ 0, table @ 8);

/// The context's descriptor as a file (a duplicate, vhd-std's own).
fn borrowed(fd: c_int) -> Res<vhd_std::FileIo> {
    crate::state::borrow(fd)
}

/// Bytes of a block's entries for `spb` sectors, padded to whole sectors.
fn block_bytes(spb: c_int) -> Res<usize> {
    let spb = usize::try_from(spb).map_err(|_| -libc::EINVAL)?;
    Ok(files::padded((spb * ENTRY_LEN) as u64) as usize)
}

/// Creates the index file `name` (mode 0600; `-EEXIST` if it exists) for VHD blocks of
/// `vhd_block_size` bytes, a power of two (else `-EINVAL`): one sector holding the
/// header (cookie `vhdindex`, block size and table offset 512, big-endian).
///
/// # Safety
/// `name` must be null or a string.
#[no_mangle]
pub unsafe extern "C" fn vhdi_create(name: *const c_char, vhd_block_size: u32) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let name = unsafe { c_str(name) }?;
        files::create_index(name, vhd_block_size)
    })
}

/// Opens the index `file` with `open(2)` `flags` and fills `ctx` (its descriptor, a
/// copy of the path, the block size and sectors per block); `ctx` is zeroed first and
/// stays so on failure: `-EINVAL` for a file that is not an index.
///
/// # Safety
/// `ctx` must be null or writable; `file` null or a string.
#[no_mangle]
pub unsafe extern "C" fn vhdi_open(
    ctx: *mut vhdi_context_t,
    file: *const c_char,
    flags: c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { object(ctx) }?;
        *ctx = vhdi_context {
            fd: 0,
            spb: 0,
            name: core::ptr::null_mut(),
            vhd_block_size: 0,
        };
        // SAFETY: caller's contract.
        let file = unsafe { c_str(file) }?;
        let name = c_string(file.to_bytes())?;
        // SAFETY: a string; the mode is read only with O_CREAT.
        let fd = unsafe { libc::open(file.as_ptr(), flags | libc::O_LARGEFILE, 0o600) };
        if fd < 0 {
            let e = last_errno();
            c_free(name);
            return Err(e);
        }
        let header = (|| {
            let mut buf = AlignedBuf::try_new(SECTOR as usize).map_err(errno)?;
            let io = borrowed(fd)?;
            io.file().read_exact_at(&mut buf, 0).map_err(errno)?;
            files::parse_index_header(&buf)
        })();
        match header {
            Ok(size) => {
                ctx.fd = fd;
                ctx.name = name;
                ctx.spb = (size >> 9) as c_int;
                ctx.vhd_block_size = size;
                Ok(())
            }
            Err(e) => {
                // SAFETY: ours, closed once.
                unsafe { libc::close(fd) };
                c_free(name);
                Err(e)
            }
        }
    })
}

/// Closes an index context: its descriptor (if any) and its name.
///
/// # Safety
/// `ctx` must be null or a context whose `name` is null or malloc'd.
#[no_mangle]
pub unsafe extern "C" fn vhdi_close(ctx: *mut vhdi_context_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        let Some(c) = (unsafe { ctx.as_mut() }) else {
            return;
        };
        if c.fd >= 0 && !c.name.is_null() {
            // SAFETY: the context's own descriptor, closed once.
            unsafe { libc::close(c.fd) };
        }
        // SAFETY: malloc'd or null (caller's contract).
        unsafe { libc::free(c.name.cast()) };
        c.name = core::ptr::null_mut();
        c.fd = -1;
    })
}

/// Reads the block at `sector` of the index: `block->entries` is set to the sectors
/// per block and `block->table` to a new array (release it with `free()`) of the
/// entries, in host order. On failure `block->table` is null.
///
/// # Safety
/// `ctx` must be null or an open context; `block` null or writable.
#[no_mangle]
pub unsafe extern "C" fn vhdi_read_block(
    ctx: *mut vhdi_context_t,
    block: *mut vhdi_block_t,
    sector: u32,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, block) = unsafe { (object(ctx)?, object(block)?) };
        let len = block_bytes(ctx.spb)?;
        block.entries = ctx.spb;
        block.table = core::ptr::null_mut();
        let table = c_aligned(len)?;
        // SAFETY: `c_aligned` gave `len` bytes (at least one), owned here until handed over.
        let bytes = unsafe { core::slice::from_raw_parts_mut(table, len.max(1)) };
        let read = (|| {
            let io = borrowed(ctx.fd)?;
            let off = u64::from(sector) * SECTOR;
            io.file()
                .read_exact_at(&mut bytes[..len], off)
                .map_err(errno)
        })();
        if let Err(e) = read {
            c_free(table);
            return Err(e);
        }
        // `vhdi_entry` is two `u32`s at 0 and 4, so converting the bytes in place gives
        // the structs.
        files::entries_to_host(&mut bytes[..ctx.spb as usize * ENTRY_LEN]);
        block.table = table.cast();
        Ok(())
    })
}

/// The entries of `block` (at most `n`; `-EINVAL` for more or a null table) as pairs.
///
/// # Safety
/// `block.table` must hold `block.entries` entries.
unsafe fn block_entries(block: &vhdi_block_t, max: usize) -> Res<Vec<(u32, u32)>> {
    let n = usize::try_from(block.entries).map_err(|_| -libc::EINVAL)?;
    if n > max || (n > 0 && block.table.is_null()) {
        return Err(-libc::EINVAL);
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: caller's contract.
    let entries = unsafe { core::slice::from_raw_parts(block.table, n) };
    Ok(entries.iter().map(|e| (e.file_id, e.offset)).collect())
}

/// Writes `block`'s entries (big-endian, zero-padded to a whole block of the index's
/// sectors per block, rounded up to a sector) at `sector` of the index. `-EINVAL` if
/// the block has more entries than a block holds.
///
/// # Safety
/// `ctx` must be null or an open context; `block` null or a block whose table holds
/// `entries` entries.
#[no_mangle]
pub unsafe extern "C" fn vhdi_write_block(
    ctx: *mut vhdi_context_t,
    block: *mut vhdi_block_t,
    sector: u32,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, block) = unsafe { (object(ctx)?, object(block)?) };
        let len = block_bytes(ctx.spb)?;
        // SAFETY: caller's contract.
        let entries = unsafe { block_entries(block, len / ENTRY_LEN) }?;
        let mut buf = AlignedBuf::try_new(len).map_err(errno)?;
        files::put_entries(&mut buf, &entries);
        let io = borrowed(ctx.fd)?;
        io.file()
            .write_all_at(&buf, u64::from(sector) * SECTOR)
            .map_err(errno)
    })
}

/// Appends `block`'s entries (big-endian) at the first sector boundary at or after the
/// index's end and sets `*sector` to that sector; on failure the index is cut back.
///
/// # Safety
/// `ctx` must be null or an open context; `block` null or a block whose table holds
/// `entries` entries; `sector` null or writable.
#[no_mangle]
pub unsafe extern "C" fn vhdi_append_block(
    ctx: *mut vhdi_context_t,
    block: *mut vhdi_block_t,
    sector: *mut u32,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, block, sector) = unsafe { (object(ctx)?, object(block)?, object(sector)?) };
        // SAFETY: caller's contract.
        let entries = unsafe { block_entries(block, usize::MAX / ENTRY_LEN) }?;
        let io = borrowed(ctx.fd)?;
        let end = io.file().metadata().map_err(errno)?.len();
        let off = files::padded(end);
        let at = u32::try_from(off / SECTOR).map_err(|_| -libc::EFBIG)?;
        let len = entries.len() * ENTRY_LEN;
        let mut buf = AlignedBuf::try_new(files::padded(len as u64) as usize).map_err(errno)?;
        files::put_entries(&mut buf, &entries);
        if let Err(e) = io.file().write_all_at(&buf[..len], off) {
            let _ = io.file().set_len(off);
            return Err(errno(e));
        }
        *sector = at;
        Ok(())
    })
}

/// Converts an entry read from an index file (big-endian fields) to host order, in
/// place. Null is ignored.
///
/// # Safety
/// `entry` must be null or a valid, writable entry.
#[no_mangle]
pub unsafe extern "C" fn vhdi_entry_in(entry: *mut vhdi_entry_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        if let Some(e) = unsafe { entry.as_mut() } {
            e.file_id = u32::from_be(e.file_id);
            e.offset = u32::from_be(e.offset);
        }
    })
}

/// Creates the BAT file `name` (mode 0600; `-EEXIST` if it exists) for the VHD `vhd`
/// (its `max_bat_size` and block size; `-EINVAL` without a dynamic header), recording
/// `vhd`, `index` and `file_table`, which must exist, relative to `name`'s directory.
/// Only the header is written: the table follows from the first `vhdi_bat_write`.
///
/// # Safety
/// Each argument must be null or a string.
#[no_mangle]
pub unsafe extern "C" fn vhdi_bat_create(
    name: *const c_char,
    vhd: *const c_char,
    index: *const c_char,
    file_table: *const c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (name, vhd, index, table) =
            unsafe { (c_str(name)?, c_str(vhd)?, c_str(index)?, c_str(file_table)?) };
        files::create_bat(name, vhd, index, table)
    })
}

/// Copies `src` (shorter than `dest`) into the fixed-size C string `dest`.
fn copy_path(dest: &mut [c_char; 1024], src: &[u8]) {
    dest.fill(0);
    for (d, &s) in dest.iter_mut().zip(src.iter().take(1023)) {
        *d = s as c_char;
    }
}

/// Loads the BAT file `name` into `bat`: its block count and size, a new table of
/// `vhd_blocks` host-order entries (release it with `free()`), and the absolute paths
/// of the VHD, index and file table, each of which must exist. On failure `bat` is
/// zeroed.
///
/// # Safety
/// `name` must be null or a string; `bat` null or writable.
#[no_mangle]
pub unsafe extern "C" fn vhdi_bat_load(name: *const c_char, bat: *mut vhdi_bat_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let bat = unsafe { object(bat) }?;
        let loaded = (|| -> Res<_> {
            // SAFETY: caller's contract.
            let name = unsafe { c_str(name) }?;
            let loaded = files::load_bat(name)?;
            let table = c_aligned(loaded.table.len())?;
            // SAFETY: `table` holds `len` fresh bytes, disjoint from the source.
            unsafe {
                core::ptr::copy_nonoverlapping(loaded.table.as_ptr(), table, loaded.table.len())
            };
            Ok((loaded, table))
        })();
        // SAFETY: all zero bytes is a valid `vhdi_bat` (null table, empty paths).
        *bat = unsafe { core::mem::zeroed() };
        let (loaded, table) = loaded?;
        bat.table = table.cast();
        bat.vhd_blocks = loaded.header.blocks;
        bat.vhd_block_size = loaded.header.block_size;
        let [vhd, index, file_table] = &loaded.paths;
        copy_path(&mut bat.vhd_path, vhd);
        copy_path(&mut bat.index_path, index);
        copy_path(&mut bat.file_table_path, file_table);
        Ok(())
    })
}

/// Writes `bat`'s table (its `vhd_blocks` entries, host order) into the BAT file
/// `name`, whose header must have the same block count and size (else `-EINVAL`).
///
/// # Safety
/// `name` must be null or a string; `bat` null or a BAT whose table holds
/// `vhd_blocks` entries.
#[no_mangle]
pub unsafe extern "C" fn vhdi_bat_write(name: *const c_char, bat: *mut vhdi_bat_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (name, bat) = unsafe { (c_str(name)?, object(bat)?) };
        let len = bat
            .vhd_blocks
            .checked_mul(4)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(-libc::EINVAL)?;
        if len > 0 && bat.table.is_null() {
            return Err(-libc::EINVAL);
        }
        let table: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: `vhd_blocks` entries (caller's contract).
            unsafe { core::slice::from_raw_parts(bat.table.cast::<u8>(), len) }
        };
        files::write_bat(name, bat.vhd_blocks, bat.vhd_block_size, table)
    })
}

/// Creates the empty file table `file` (mode 0600; `-EEXIST` if it exists): its
/// 24-byte header (cookie `vhdifile`, no files, records from offset 512, big-endian).
///
/// # Safety
/// `file` must be null or a string.
#[no_mangle]
pub unsafe extern "C" fn vhdi_file_table_create(file: *const c_char) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let file = unsafe { c_str(file) }?;
        files::create_file_table(file)
    })
}

/// Loads the file table `name` into `table`: an array (release it with
/// `vhdi_file_table_free`) of its files with their ids, absolute paths, UUIDs and
/// timestamps. Each file must still be the VHD recorded (its modification time and
/// UUID), else `-EINVAL`. An empty table gives no array. On failure `table` is zeroed.
///
/// # Safety
/// `name` must be null or a string; `table` null or writable.
#[no_mangle]
pub unsafe extern "C" fn vhdi_file_table_load(
    name: *const c_char,
    table: *mut vhdi_file_table_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let table = unsafe { object(table) }?;
        table.entries = 0;
        table.table = core::ptr::null_mut();
        // SAFETY: caller's contract.
        let name = unsafe { c_str(name) }?;
        let refs = files::load_file_table(name)?;
        if refs.is_empty() {
            return Ok(());
        }
        let entries = c_int::try_from(refs.len()).map_err(|_| -libc::EINVAL)?;
        let array = c_aligned(refs.len() * size_of::<vhdi_file_ref_t>())?.cast::<vhdi_file_ref_t>();
        for (i, r) in refs.iter().enumerate() {
            let path = match c_string(&r.path) {
                Ok(p) => p,
                Err(e) => {
                    let mut partial = vhdi_file_table {
                        entries: i as c_int,
                        table: array,
                    };
                    // SAFETY: `i` filled references with malloc'd paths in a malloc'd array.
                    unsafe { vhdi_file_table_free(&mut partial) };
                    return Err(e);
                }
            };
            let entry = vhdi_file_ref {
                file_id: r.file_id,
                path,
                vhd_uuid: r.uuid,
                vhd_timestamp: r.timestamp,
            };
            // SAFETY: the array holds `refs.len()` references, suitably aligned.
            unsafe { array.add(i).write(entry) };
        }
        table.entries = entries;
        table.table = array;
        Ok(())
    })
}

/// Adds the VHD `file` to the file table `name` and sets `*id` to its new id (one more
/// than the largest so far; 0 on failure): `-EEXIST` if the table holds it already,
/// `-ENAMETOOLONG` for a path of 1,023 bytes or more. The record holds the path
/// relative to the table's directory, the VHD's UUID and its modification time (VHD
/// seconds); the table's file count is updated after it.
///
/// # Safety
/// `name` and `file` must be null or strings; `id` null or writable.
#[no_mangle]
pub unsafe extern "C" fn vhdi_file_table_add(
    name: *const c_char,
    file: *const c_char,
    id: *mut vhdi_file_id_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let id = unsafe { object(id) }?;
        *id = 0;
        // SAFETY: caller's contract.
        let (name, file) = unsafe { (c_str(name)?, c_str(file)?) };
        *id = files::add_file(name, file)?;
        Ok(())
    })
}

/// Frees a file table's entries (their paths, then the array) and zeroes it.
///
/// # Safety
/// `table` must be null or a table whose `table` is null or a malloc'd array of
/// `entries` references with null or malloc'd paths.
#[no_mangle]
pub unsafe extern "C" fn vhdi_file_table_free(table: *mut vhdi_file_table_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        let Some(t) = (unsafe { table.as_mut() }) else {
            return;
        };
        if !t.table.is_null() {
            for i in 0..usize::try_from(t.entries).unwrap_or(0) {
                // SAFETY: `entries` references (caller's contract).
                unsafe { libc::free((*t.table.add(i)).path.cast()) };
            }
            // SAFETY: malloc'd (caller's contract).
            unsafe { libc::free(t.table.cast()) };
        }
        t.table = core::ptr::null_mut();
        t.entries = 0;
    })
}
