//! Placeholders for the libvhd functions that work on images.
//!
//! Each has the exact C signature of the reference `libvhd.h` (the generated header
//! declares them from here), so C clients compile and link against `libvhd.so` today.
//! They are to be replaced by implementations backed by the `vhd-nostd` engine; until
//! then every `int`- or `off_t`-returning one returns `-ENOSYS` and every `void` one does
//! nothing. Nothing here dereferences its arguments.
//!
//! The documentation of each states the contract the engine-backed version must keep.
#![allow(unused_variables)]

use core::ffi::{c_char, c_int, c_void};

use libc::{off_t, size_t};

use crate::types::{
    vhd_bat_t, vhd_batmap_t, vhd_context_t, vhd_flag_creat_t, vhd_footer_t, vhd_header_t,
    vhd_parent_locator_t,
};

/// What every placeholder returns.
const NOT_YET: c_int = -libc::ENOSYS;

/// Sets `*is_fixed` to 1 if `file` is a fixed-size VHD, else 0.
#[no_mangle]
pub extern "C" fn vhd_test_file_fixed(file: *const c_char, is_fixed: *mut c_int) -> c_int {
    NOT_YET
}

/// 0 if `footer` (host order) is a valid footer, else `-EINVAL`.
#[no_mangle]
pub extern "C" fn vhd_validate_footer(footer: *mut vhd_footer_t) -> c_int {
    NOT_YET
}

/// 0 if `header` (host order) is a valid dynamic disk header, else `-EINVAL`.
#[no_mangle]
pub extern "C" fn vhd_validate_header(header: *mut vhd_header_t) -> c_int {
    NOT_YET
}

/// 0 if `batmap->header` is a valid batmap header, else `-EINVAL`.
#[no_mangle]
pub extern "C" fn vhd_validate_batmap_header(batmap: *mut vhd_batmap_t) -> c_int {
    NOT_YET
}

/// 0 if `batmap->map` matches the header's checksum, else `-EINVAL`.
#[no_mangle]
pub extern "C" fn vhd_validate_batmap(batmap: *mut vhd_batmap_t) -> c_int {
    NOT_YET
}

/// Opens `file` into `ctx` with `VHD_OPEN_*` `flags`: zeroes the context, opens the
/// file, reads the footer (and the header of dynamic and differencing disks). The BAT
/// and batmap are loaded later by `vhd_get_bat` / `vhd_get_batmap`. On failure the
/// context is zeroed and a negative errno returned.
#[no_mangle]
pub extern "C" fn vhd_open(ctx: *mut vhd_context_t, file: *const c_char, flags: c_int) -> c_int {
    NOT_YET
}

/// Closes the file and frees what `vhd_open`, `vhd_get_bat` and `vhd_get_batmap`
/// allocated.
#[no_mangle]
pub extern "C" fn vhd_close(ctx: *mut vhd_context_t) {}

/// Creates image `name` of `bytes` bytes and `HD_TYPE_*` `type`.
#[no_mangle]
pub extern "C" fn vhd_create(
    name: *const c_char,
    bytes: u64,
    r#type: c_int,
    flags: vhd_flag_creat_t,
) -> c_int {
    NOT_YET
}

/// Creates differencing disk `snapshot` over `parent`; `bytes` 0 means the size of the
/// (first non-empty) parent.
#[no_mangle]
pub extern "C" fn vhd_snapshot(
    snapshot: *const c_char,
    bytes: u64,
    parent: *const c_char,
    flags: vhd_flag_creat_t,
) -> c_int {
    NOT_YET
}

/// Sets `*hidden` to the footer's hidden flag.
#[no_mangle]
pub extern "C" fn vhd_hidden(ctx: *mut vhd_context_t, hidden: *mut c_int) -> c_int {
    NOT_YET
}

/// Sets `*depth` to the length of the chain from `ctx` to its root (1 without parent).
#[no_mangle]
pub extern "C" fn vhd_chain_depth(ctx: *mut vhd_context_t, depth: *mut c_int) -> c_int {
    NOT_YET
}

/// The current file position of `ctx->fd`, or a negative errno.
#[no_mangle]
pub extern "C" fn vhd_position(ctx: *mut vhd_context_t) -> off_t {
    off_t::from(NOT_YET)
}

/// Moves the file position (`lseek` semantics for `whence`).
#[no_mangle]
pub extern "C" fn vhd_seek(ctx: *mut vhd_context_t, offset: off_t, whence: c_int) -> c_int {
    NOT_YET
}

/// Reads exactly `size` bytes at the file position into `buf`.
#[no_mangle]
pub extern "C" fn vhd_read(ctx: *mut vhd_context_t, buf: *mut c_void, size: size_t) -> c_int {
    NOT_YET
}

/// Writes exactly `size` bytes from `buf` at the file position.
#[no_mangle]
pub extern "C" fn vhd_write(ctx: *mut vhd_context_t, buf: *mut c_void, size: size_t) -> c_int {
    NOT_YET
}

/// Sets `*offset` to the file sector holding virtual `sector` (through the BAT), or
/// `DD_BLK_UNUSED` if its block is not allocated.
#[no_mangle]
pub extern "C" fn vhd_offset(ctx: *mut vhd_context_t, sector: u32, offset: *mut u32) -> c_int {
    NOT_YET
}

/// Sets `*off` to the byte offset just past the metadata (headers, BAT, batmap,
/// locators).
#[no_mangle]
pub extern "C" fn vhd_end_of_headers(ctx: *mut vhd_context_t, off: *mut off_t) -> c_int {
    NOT_YET
}

/// Sets `*off` to the byte offset just past the last metadata or data block.
#[no_mangle]
pub extern "C" fn vhd_end_of_data(ctx: *mut vhd_context_t, off: *mut off_t) -> c_int {
    NOT_YET
}

/// Sets `*off` to the byte offset of the batmap header.
#[no_mangle]
pub extern "C" fn vhd_batmap_header_offset(ctx: *mut vhd_context_t, off: *mut off_t) -> c_int {
    NOT_YET
}

/// Loads `ctx->header` from disk if it is not loaded.
#[no_mangle]
pub extern "C" fn vhd_get_header(ctx: *mut vhd_context_t) -> c_int {
    NOT_YET
}

/// Loads `ctx->footer` from disk if it is not loaded.
#[no_mangle]
pub extern "C" fn vhd_get_footer(ctx: *mut vhd_context_t) -> c_int {
    NOT_YET
}

/// Loads `ctx->bat` from disk if it is not loaded.
#[no_mangle]
pub extern "C" fn vhd_get_bat(ctx: *mut vhd_context_t) -> c_int {
    NOT_YET
}

/// Loads `ctx->batmap` from disk if it is not loaded.
#[no_mangle]
pub extern "C" fn vhd_get_batmap(ctx: *mut vhd_context_t) -> c_int {
    NOT_YET
}

/// Forgets the cached header.
#[no_mangle]
pub extern "C" fn vhd_put_header(ctx: *mut vhd_context_t) {}

/// Forgets the cached footer.
#[no_mangle]
pub extern "C" fn vhd_put_footer(ctx: *mut vhd_context_t) {}

/// Frees the cached BAT.
#[no_mangle]
pub extern "C" fn vhd_put_bat(ctx: *mut vhd_context_t) {}

/// Frees the cached batmap.
#[no_mangle]
pub extern "C" fn vhd_put_batmap(ctx: *mut vhd_context_t) {}

/// 1 if the image has a valid batmap (tapdisk-created, creator version 1.1 or later).
#[no_mangle]
pub extern "C" fn vhd_has_batmap(ctx: *mut vhd_context_t) -> c_int {
    NOT_YET
}

/// 1 if `block`'s bit is set in `batmap` (the block is fully allocated), else 0.
#[no_mangle]
pub extern "C" fn vhd_batmap_test(
    ctx: *mut vhd_context_t,
    batmap: *mut vhd_batmap_t,
    block: u32,
) -> c_int {
    NOT_YET
}

/// Sets `block`'s bit in `batmap`.
#[no_mangle]
pub extern "C" fn vhd_batmap_set(ctx: *mut vhd_context_t, batmap: *mut vhd_batmap_t, block: u32) {}

/// Clears `block`'s bit in `batmap`.
#[no_mangle]
pub extern "C" fn vhd_batmap_clear(ctx: *mut vhd_context_t, batmap: *mut vhd_batmap_t, block: u32) {
}

/// Sets `*size` to the physical size of the image (fixed: file length; dynamic: end of
/// data plus the footer).
#[no_mangle]
pub extern "C" fn vhd_get_phys_size(ctx: *mut vhd_context_t, size: *mut off_t) -> c_int {
    NOT_YET
}

/// Moves the primary footer so the image ends at `size` bytes (at least the current
/// physical size).
#[no_mangle]
pub extern "C" fn vhd_set_phys_size(ctx: *mut vhd_context_t, size: off_t) -> c_int {
    NOT_YET
}

/// 1 if bit `sector` is set in the sector bitmap `map`, else 0 (big-endian bit order;
/// little-endian for tap 0.1 images).
#[no_mangle]
pub extern "C" fn vhd_bitmap_test(ctx: *mut vhd_context_t, map: *mut c_char, sector: u32) -> c_int {
    NOT_YET
}

/// Sets bit `sector` in the sector bitmap `map`.
#[no_mangle]
pub extern "C" fn vhd_bitmap_set(ctx: *mut vhd_context_t, map: *mut c_char, sector: u32) {}

/// Clears bit `sector` in the sector bitmap `map`.
#[no_mangle]
pub extern "C" fn vhd_bitmap_clear(ctx: *mut vhd_context_t, map: *mut c_char, sector: u32) {}

/// The number of non-empty parent locators.
#[no_mangle]
pub extern "C" fn vhd_parent_locator_count(ctx: *mut vhd_context_t) -> c_int {
    NOT_YET
}

/// Sets `*parent` to the resolved path of the parent (malloc'd).
#[no_mangle]
pub extern "C" fn vhd_parent_locator_get(
    ctx: *mut vhd_context_t,
    parent: *mut *mut c_char,
) -> c_int {
    NOT_YET
}

/// Sets `*parent` to the decoded path stored in locator `loc` (malloc'd).
#[no_mangle]
pub extern "C" fn vhd_parent_locator_read(
    ctx: *mut vhd_context_t,
    loc: *mut vhd_parent_locator_t,
    parent: *mut *mut c_char,
) -> c_int {
    NOT_YET
}

/// Resolves `parent` (a locator path) relative to the image into `*location` (malloc'd).
#[no_mangle]
pub extern "C" fn vhd_find_parent(
    ctx: *mut vhd_context_t,
    parent: *const c_char,
    location: *mut *mut c_char,
) -> c_int {
    NOT_YET
}

/// Writes a locator of platform `code` for `parent` at byte offset `off`, in at most
/// `max_bytes` bytes, and describes it in `*loc`.
#[no_mangle]
pub extern "C" fn vhd_parent_locator_write_at(
    ctx: *mut vhd_context_t,
    parent: *const c_char,
    off: off_t,
    code: u32,
    max_bytes: size_t,
    loc: *mut vhd_parent_locator_t,
) -> c_int {
    NOT_YET
}

/// Sets `*name` to `header->prt_name` decoded from UTF-16BE (malloc'd).
#[no_mangle]
pub extern "C" fn vhd_header_decode_parent(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
    name: *mut *mut c_char,
) -> c_int {
    NOT_YET
}

/// Points the image at a new parent: UUID (nil if `raw`), name, time stamp and locators.
#[no_mangle]
pub extern "C" fn vhd_change_parent(
    ctx: *mut vhd_context_t,
    parent_path: *mut c_char,
    raw: c_int,
) -> c_int {
    NOT_YET
}

/// Reads and validates the primary footer, falling back to the copy at offset 0.
#[no_mangle]
pub extern "C" fn vhd_read_footer(ctx: *mut vhd_context_t, footer: *mut vhd_footer_t) -> c_int {
    NOT_YET
}

/// Reads and validates a footer at byte offset `off`.
#[no_mangle]
pub extern "C" fn vhd_read_footer_at(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
    off: off_t,
) -> c_int {
    NOT_YET
}

/// Reads and validates the primary footer only (no fallback).
#[no_mangle]
pub extern "C" fn vhd_read_footer_strict(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
) -> c_int {
    NOT_YET
}

/// Reads and validates the dynamic disk header at the footer's `data_offset`.
#[no_mangle]
pub extern "C" fn vhd_read_header(ctx: *mut vhd_context_t, header: *mut vhd_header_t) -> c_int {
    NOT_YET
}

/// Reads and validates a dynamic disk header at byte offset `off`.
#[no_mangle]
pub extern "C" fn vhd_read_header_at(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
    off: off_t,
) -> c_int {
    NOT_YET
}

/// Reads the BAT into `bat` (entries allocated with `posix_memalign`).
#[no_mangle]
pub extern "C" fn vhd_read_bat(ctx: *mut vhd_context_t, bat: *mut vhd_bat_t) -> c_int {
    NOT_YET
}

/// Reads the batmap into `batmap` (map allocated with `posix_memalign`).
#[no_mangle]
pub extern "C" fn vhd_read_batmap(ctx: *mut vhd_context_t, batmap: *mut vhd_batmap_t) -> c_int {
    NOT_YET
}

/// Reads `block`'s sector bitmap into a new sector-aligned buffer `*bufp` (free with
/// `free`).
#[no_mangle]
pub extern "C" fn vhd_read_bitmap(
    ctx: *mut vhd_context_t,
    block: u32,
    bufp: *mut *mut c_char,
) -> c_int {
    NOT_YET
}

/// Reads `block`'s data into a new sector-aligned buffer `*bufp` (free with `free`).
#[no_mangle]
pub extern "C" fn vhd_read_block(
    ctx: *mut vhd_context_t,
    block: u32,
    bufp: *mut *mut c_char,
) -> c_int {
    NOT_YET
}

/// Writes `footer` as the primary footer (and the copy at 0 for dynamic disks).
#[no_mangle]
pub extern "C" fn vhd_write_footer(ctx: *mut vhd_context_t, footer: *mut vhd_footer_t) -> c_int {
    NOT_YET
}

/// Writes `footer` at byte offset `off`.
#[no_mangle]
pub extern "C" fn vhd_write_footer_at(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
    off: off_t,
) -> c_int {
    NOT_YET
}

/// Writes `header` at the footer's `data_offset`.
#[no_mangle]
pub extern "C" fn vhd_write_header(ctx: *mut vhd_context_t, header: *mut vhd_header_t) -> c_int {
    NOT_YET
}

/// Writes `header` at byte offset `off`.
#[no_mangle]
pub extern "C" fn vhd_write_header_at(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
    off: off_t,
) -> c_int {
    NOT_YET
}

/// Writes `bat` at the header's `table_offset`.
#[no_mangle]
pub extern "C" fn vhd_write_bat(ctx: *mut vhd_context_t, bat: *mut vhd_bat_t) -> c_int {
    NOT_YET
}

/// Writes `batmap` (header and map) with a fresh checksum.
#[no_mangle]
pub extern "C" fn vhd_write_batmap(ctx: *mut vhd_context_t, batmap: *mut vhd_batmap_t) -> c_int {
    NOT_YET
}

/// Writes `block`'s sector bitmap from `bitmap` (sector-aligned).
#[no_mangle]
pub extern "C" fn vhd_write_bitmap(
    ctx: *mut vhd_context_t,
    block: u32,
    bitmap: *mut c_char,
) -> c_int {
    NOT_YET
}

/// Writes `block`'s data from `data` (sector-aligned).
#[no_mangle]
pub extern "C" fn vhd_write_block(ctx: *mut vhd_context_t, block: u32, data: *mut c_char) -> c_int {
    NOT_YET
}

/// Reads `secs` sectors from virtual sector `sec` into `buf`, through the parent chain.
#[no_mangle]
pub extern "C" fn vhd_io_read(
    ctx: *mut vhd_context_t,
    buf: *mut c_char,
    sec: u64,
    secs: u32,
) -> c_int {
    NOT_YET
}

/// Writes `secs` sectors from `buf` at virtual sector `sec`, allocating blocks as needed.
#[no_mangle]
pub extern "C" fn vhd_io_write(
    ctx: *mut vhd_context_t,
    buf: *mut c_char,
    sec: u64,
    secs: u32,
) -> c_int {
    NOT_YET
}
