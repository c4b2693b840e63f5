//! vhd-index (`libvhd-index.h`): the block-index files of tapdisk's `vindex` driver.
//!
//! The structs are laid out as blktap3 declares them. The index file formats are not
//! part of the ABI facts this library is built from, so only the functions that need no
//! file format are implemented (`vhdi_entry_in`, `vhdi_close`, `vhdi_file_table_free`);
//! every function that reads or writes an index file returns `-ENOSYS` without touching
//! anything. See COMPATIBILITY.md.

use core::ffi::{c_char, c_int};
use core::mem::{align_of, offset_of, size_of};

use crate::ffi::boundary;
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

/// Not implemented (the index format is not known here): `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_create(name: *const c_char, vhd_block_size: u32) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (name, vhd_block_size);
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`, `ctx` untouched.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_open(
    ctx: *mut vhdi_context_t,
    file: *const c_char,
    flags: c_int,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (ctx, file, flags);
        -libc::ENOSYS
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

/// Not implemented: `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_read_block(
    ctx: *mut vhdi_context_t,
    block: *mut vhdi_block_t,
    sector: u32,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (ctx, block, sector);
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_write_block(
    ctx: *mut vhdi_context_t,
    block: *mut vhdi_block_t,
    sector: u32,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (ctx, block, sector);
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_append_block(
    ctx: *mut vhdi_context_t,
    block: *mut vhdi_block_t,
    sector: *mut u32,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (ctx, block, sector);
        -libc::ENOSYS
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

/// Not implemented: `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_bat_create(
    name: *const c_char,
    vhd: *const c_char,
    index: *const c_char,
    file_table: *const c_char,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (name, vhd, index, file_table);
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`, `bat` untouched.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_bat_load(name: *const c_char, bat: *mut vhdi_bat_t) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (name, bat);
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_bat_write(name: *const c_char, bat: *mut vhdi_bat_t) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (name, bat);
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_file_table_create(file: *const c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = file;
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`, `table` untouched.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_file_table_load(
    name: *const c_char,
    table: *mut vhdi_file_table_t,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (name, table);
        -libc::ENOSYS
    })
}

/// Not implemented: `-ENOSYS`.
///
/// # Safety
/// Nothing is read.
#[no_mangle]
pub unsafe extern "C" fn vhdi_file_table_add(
    name: *const c_char,
    file: *const c_char,
    id: *mut vhdi_file_id_t,
) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        let _ = (name, file, id);
        -libc::ENOSYS
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
