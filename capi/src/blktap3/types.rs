//! The structs whose layout differs in blktap3's `libvhd.so.0`, laid out as its
//! `libvhd.h` declares them on x86_64 Linux; the on-disk footer, header and locators
//! are the same as blktap2's and come from [`crate::types`].
//!
//! blktap3 inserts `offset` after `is_block` in the context (every later field moves by
//! 8), fills the whole batmap-header sector (marker, key hash, reserved bytes) and
//! appends the crypto handle, the cached-chain list and the custom parent.

use core::ffi::{c_char, c_int};
use core::mem::{align_of, offset_of, size_of};

use super::list::list_head;
use crate::types::{check_layout, dd_hdr, hd_ftr, vhd_bat, vhd_footer_t, vhd_header_t};

/// A key hash kept with an image (`struct vhd_keyhash`): SHA-256 of the nonce followed
/// by the raw key, so that tapdisk can tell whether a key file belongs to the image.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhd_keyhash {
    /// 1 when a key hash is present.
    pub cookie: u8,
    /// Random nonce.
    pub nonce: [u8; 32],
    /// SHA-256 of the nonce followed by the key bytes.
    pub hash: [u8; 32],
}

/// The header of blktap's batmap: the whole sector, with blktap3's marker and key hash.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct dd_batmap_hdr {
    /// `"tdbatmap"`.
    pub cookie: [c_char; 8],
    /// File offset of the map, in bytes.
    pub batmap_offset: u64,
    /// Size of the map, in sectors.
    pub batmap_size: u32,
    /// `VHD_BATMAP_VERSION(major, minor)`.
    pub batmap_version: u32,
    /// One's complement of the byte sum of the map.
    pub checksum: u32,
    /// A one-byte marker of the storage manager's (`vhd-util set -f marker`).
    pub marker: c_char,
    /// The image's key hash, if any.
    pub keyhash: vhd_keyhash,
    /// Zero.
    pub res: [c_char; 418],
}

/// The batmap header: `struct dd_batmap_hdr`.
pub type vhd_batmap_header_t = dd_batmap_hdr;

/// The batmap as loaded in memory.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhd_batmap {
    /// Its header.
    pub header: vhd_batmap_header_t,
    /// The map, MSB-first bit per block.
    pub map: *mut c_char,
}

/// The in-memory batmap: `struct vhd_batmap`.
pub type vhd_batmap_t = vhd_batmap;

/// The block cipher handle of tapdisk's crypto library; libvhd never looks inside.
#[repr(C)]
pub struct crypto_blkcipher {
    _private: [u8; 0],
}

/// An open image.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhd_context {
    /// File descriptor of the image (clients issue their own I/O on it).
    pub fd: c_int,
    /// The path the image was opened with (malloc'd).
    pub file: *mut c_char,
    /// The `open(2)` flags used.
    pub oflags: c_int,
    /// Non-zero if the image is a block device.
    pub is_block: c_int,
    /// File position of `vhd_read`, `vhd_write`, `vhd_seek` and `vhd_position`.
    pub offset: i64,
    /// Sectors per block.
    pub spb: u32,
    /// Sectors of each block's bitmap.
    pub bm_secs: u32,
    /// The dynamic disk header (dynamic and differencing disks).
    pub header: vhd_header_t,
    /// The footer.
    pub footer: vhd_footer_t,
    /// The BAT, once `vhd_get_bat` loaded it.
    pub bat: vhd_bat,
    /// The batmap, once `vhd_get_batmap` loaded it.
    pub batmap: vhd_batmap_t,
    /// The crypto library's cipher handle (owned by tapdisk; libvhd only zeroes it).
    pub xts_tfm: *mut crypto_blkcipher,
    /// With `VHD_OPEN_CACHED`, the parent chain opened with the image.
    pub next: list_head,
    /// The parent path `vhd_custom_parent_set` chose (malloc'd), or null.
    pub custom_parent: *mut c_char,
}

/// An open image: `struct vhd_context`.
pub type vhd_context_t = vhd_context;

impl dd_batmap_hdr {
    /// A batmap header of all zero bytes.
    pub const fn zeroed() -> Self {
        dd_batmap_hdr {
            cookie: [0; 8],
            batmap_offset: 0,
            batmap_size: 0,
            batmap_version: 0,
            checksum: 0,
            marker: 0,
            keyhash: vhd_keyhash::zeroed(),
            res: [0; 418],
        }
    }
}

impl vhd_keyhash {
    /// No key hash.
    pub const fn zeroed() -> Self {
        vhd_keyhash {
            cookie: 0,
            nonce: [0; 32],
            hash: [0; 32],
        }
    }

    /// The 65 bytes as stored (batmap header bytes 29..94, or the keyhash xattr).
    pub fn to_bytes(&self) -> [u8; KEYHASH_SIZE] {
        let mut out = [0u8; KEYHASH_SIZE];
        out[0] = self.cookie;
        out[1..33].copy_from_slice(&self.nonce);
        out[33..].copy_from_slice(&self.hash);
        out
    }

    /// The key hash of 65 stored bytes.
    pub fn from_bytes(b: &[u8; KEYHASH_SIZE]) -> Self {
        let mut k = vhd_keyhash::zeroed();
        k.cookie = b[0];
        k.nonce.copy_from_slice(&b[1..33]);
        k.hash.copy_from_slice(&b[33..]);
        k
    }
}

/// Bytes of a stored key hash.
pub const KEYHASH_SIZE: usize = size_of::<vhd_keyhash>();

/// Where the marker sits in the batmap-header sector.
pub const MARKER_OFFSET: usize = offset_of!(dd_batmap_hdr, marker);

/// Where the key hash sits in the batmap-header sector.
pub const KEYHASH_OFFSET: usize = offset_of!(dd_batmap_hdr, keyhash);

impl vhd_batmap {
    /// No batmap loaded.
    pub const fn zeroed() -> Self {
        vhd_batmap {
            header: dd_batmap_hdr::zeroed(),
            map: core::ptr::null_mut(),
        }
    }
}

impl vhd_context {
    /// A context of all zero bytes.
    pub const fn zeroed() -> Self {
        vhd_context {
            fd: 0,
            file: core::ptr::null_mut(),
            oflags: 0,
            is_block: 0,
            offset: 0,
            spb: 0,
            bm_secs: 0,
            header: dd_hdr::zeroed(),
            footer: hd_ftr::zeroed(),
            bat: vhd_bat::zeroed(),
            batmap: vhd_batmap::zeroed(),
            xts_tfm: core::ptr::null_mut(),
            next: list_head {
                prev: core::ptr::null_mut(),
                next: core::ptr::null_mut(),
            },
            custom_parent: core::ptr::null_mut(),
        }
    }
}

/// Writes the marker and key hash of `h` into an on-disk batmap-header sector (single
/// bytes: no byte-order change).
pub(crate) fn put_marker_keyhash(h: &dd_batmap_hdr, sector: &mut [u8]) {
    sector[MARKER_OFFSET] = h.marker as u8;
    sector[KEYHASH_OFFSET..KEYHASH_OFFSET + KEYHASH_SIZE].copy_from_slice(&h.keyhash.to_bytes());
}

check_layout!(vhd_keyhash, size 65, align 1; cookie @ 0, nonce @ 1, hash @ 33);

check_layout!(dd_batmap_hdr, size 512, align 8;
    cookie @ 0, batmap_offset @ 8, batmap_size @ 16, batmap_version @ 20, checksum @ 24,
    marker @ 28, keyhash @ 29, res @ 94,
);

check_layout!(vhd_batmap, size 520, align 8; header @ 0, map @ 512);

check_layout!(vhd_context, size 2144, align 8;
    fd @ 0, file @ 8, oflags @ 16, is_block @ 20, offset @ 24, spb @ 32, bm_secs @ 36,
    header @ 40, footer @ 1064, bat @ 1576, batmap @ 1592, xts_tfm @ 2112, next @ 2120,
    custom_parent @ 2136,
);

// The journal embeds the context, so it grows with it (`crate::journal` checks its
// blktap2 size).
check_layout!(crate::journal::vhd_journal, size 2672, align 8;
    jname @ 0, jfd @ 8, is_block @ 12, header @ 16, vhd @ 528,
);
