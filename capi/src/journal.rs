//! `libvhd-journal.h`: the metadata journal that makes resize and vhd-update undoable.
//!
//! The structs are laid out as the reference declares them (checked below); the
//! functions are placeholders with the reference's signatures, to be replaced by
//! engine-backed implementations. Until then each returns `-ENOSYS`; none dereferences
//! its arguments.
// The placeholders take arguments they do not use yet.
#![allow(unused_variables)]

use core::ffi::{c_char, c_int};
use core::mem::{align_of, offset_of, size_of};

use crate::consts::c_defines;
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

/// Opens image `file` and creates journal `jfile` holding its metadata (footers, header,
/// locators, BAT, batmap).
#[no_mangle]
pub extern "C" fn vhd_journal_create(
    j: *mut vhd_journal_t,
    file: *const c_char,
    jfile: *const c_char,
) -> c_int {
    -libc::ENOSYS
}

/// Opens image `file` and existing journal `jfile`, restoring the journaled metadata.
#[no_mangle]
pub extern "C" fn vhd_journal_open(
    j: *mut vhd_journal_t,
    file: *const c_char,
    jfile: *const c_char,
) -> c_int {
    -libc::ENOSYS
}

/// Journals `block`'s bitmap and/or data (`VHD_JOURNAL_METADATA` | `VHD_JOURNAL_DATA`).
#[no_mangle]
pub extern "C" fn vhd_journal_add_block(j: *mut vhd_journal_t, block: u32, mode: c_char) -> c_int {
    -libc::ENOSYS
}

/// Makes the journaled changes permanent.
#[no_mangle]
pub extern "C" fn vhd_journal_commit(j: *mut vhd_journal_t) -> c_int {
    -libc::ENOSYS
}

/// Restores the image from the journal.
#[no_mangle]
pub extern "C" fn vhd_journal_revert(j: *mut vhd_journal_t) -> c_int {
    -libc::ENOSYS
}

/// Closes the image and the journal, keeping the journal file.
#[no_mangle]
pub extern "C" fn vhd_journal_close(j: *mut vhd_journal_t) -> c_int {
    -libc::ENOSYS
}

/// Closes the image and the journal and deletes the journal file.
#[no_mangle]
pub extern "C" fn vhd_journal_remove(j: *mut vhd_journal_t) -> c_int {
    -libc::ENOSYS
}
