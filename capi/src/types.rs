//! The structs C clients read directly, laid out exactly as the reference `libvhd.h` and
//! `vhd.h` declare them on x86_64 Linux (LP64).
//!
//! The on-disk structs hold host byte order once a `vhd_*_in` converter has run over
//! them. Struct tags and typedef names are the reference's (`struct hd_ftr` is
//! `vhd_footer_t`); every field offset, size and alignment is checked at compile time
//! below, and again by the C compiler in `c-tests/layout.c`.

#[cfg(not(feature = "blktap3"))]
use core::ffi::c_int;
use core::ffi::{c_char, c_uchar};
use core::mem::{align_of, offset_of, size_of};

/// libuuid's `uuid_t` (`unsigned char[16]`). The header takes it from `<uuid/uuid.h>`.
pub type uuid_t = [c_uchar; 16];

/// A UUID as the structs store it: the 16 bytes in RFC 4122 order.
///
/// The last reference wraps `uuid_t` in a one-member struct; no client outside libvhd
/// touches that member, so the plain array type lets clients of both generations compile
/// (`&ctx->header.prt_uuid` has the same meaning for either).
pub type vhd_uuid_t = uuid_t;

/// Flags of `vhd_create` and `vhd_snapshot` (`VHD_FLAG_CREAT_*`).
pub type vhd_flag_creat_t = u32;

/// The VHD footer (`vhd_footer_t`), the last sector of every image and, for dynamic and
/// differencing disks, also its first.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct hd_ftr {
    /// `"conectix"`; `"v_poison"` while the image is disabled.
    pub cookie: [c_char; 8],
    /// `HD_TEMPORARY` and `HD_RESERVED` bits.
    pub features: u32,
    /// File format version, `HD_FF_VERSION`.
    pub ff_version: u32,
    /// Offset of the dynamic disk header; all ones for fixed disks.
    pub data_offset: u64,
    /// Creation time, seconds since 2000-01-01 00:00:00 UTC.
    pub timestamp: u32,
    /// Creator application, `"tap\0"` for images tapdisk created.
    pub crtr_app: [c_char; 4],
    /// Creator version, `VHD_VERSION(major, minor)`.
    pub crtr_ver: u32,
    /// Creator host OS (`HD_CR_OS_*`).
    pub crtr_os: u32,
    /// Size at creation, in bytes.
    pub orig_size: u64,
    /// Current virtual size, in bytes.
    pub curr_size: u64,
    /// CHS geometry, `GEOM_ENCODE(c, h, s)`.
    pub geometry: u32,
    /// Disk type (`HD_TYPE_*`).
    pub r#type: u32,
    /// One's complement of the byte sum of the footer with this field zero.
    pub checksum: u32,
    /// The image's UUID.
    pub uuid: vhd_uuid_t,
    /// Saved state flag.
    pub saved: c_char,
    /// tapdisk's hidden flag (the first reserved byte of the specification).
    pub hidden: c_char,
    /// Zero.
    pub reserved: [c_char; 426],
}

/// The footer: `struct hd_ftr`.
pub type vhd_footer_t = hd_ftr;

/// A parent locator entry of the dynamic disk header (`vhd_parent_locator_t`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct prt_loc {
    /// Platform code (`PLAT_CODE_*`).
    pub code: u32,
    /// Space reserved for the locator, in sectors (some writers store bytes).
    pub data_space: u32,
    /// Length of the locator data, in bytes.
    pub data_len: u32,
    /// Zero.
    pub res: u32,
    /// File offset of the locator data, in bytes.
    pub data_offset: u64,
}

/// A parent locator: `struct prt_loc`.
pub type vhd_parent_locator_t = prt_loc;

/// The dynamic disk header (`vhd_header_t`) of dynamic and differencing disks.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct dd_hdr {
    /// `"cxsparse"`.
    pub cookie: [c_char; 8],
    /// Unused, all ones.
    pub data_offset: u64,
    /// File offset of the BAT, in bytes.
    pub table_offset: u64,
    /// Header version, `DD_VERSION`.
    pub hdr_ver: u32,
    /// Number of BAT entries.
    pub max_bat_size: u32,
    /// Block size in bytes, a power of two.
    pub block_size: u32,
    /// One's complement of the byte sum of the header with this field zero.
    pub checksum: u32,
    /// The parent's UUID (differencing disks), nil for a raw parent.
    pub prt_uuid: vhd_uuid_t,
    /// The parent's modification time, VHD epoch.
    pub prt_ts: u32,
    /// Zero.
    pub res1: u32,
    /// The parent's file name, UTF-16BE.
    pub prt_name: [c_char; 512],
    /// Parent locators.
    pub loc: [prt_loc; 8],
    /// Zero.
    pub res2: [c_char; 256],
}

/// The dynamic disk header: `struct dd_hdr`.
pub type vhd_header_t = dd_hdr;

#[cfg(not(feature = "blktap3"))]
/// The header of blktap's batmap, a bitmap of the blocks that are fully allocated.
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
}

#[cfg(not(feature = "blktap3"))]
/// The batmap header: `struct dd_batmap_hdr`.
pub type vhd_batmap_header_t = dd_batmap_hdr;

// blktap3's libvhd.so.0 lays these out differently (see `crate::blktap3::types`).
#[cfg(feature = "blktap3")]
pub use crate::blktap3::types::{
    dd_batmap_hdr, vhd_batmap, vhd_batmap_header_t, vhd_batmap_t, vhd_context, vhd_context_t,
};

/// The block allocation table as loaded in memory.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhd_bat {
    /// Sectors per block.
    pub spb: u32,
    /// Number of entries in `bat`.
    pub entries: u32,
    /// The entries (sector offsets of blocks, `DD_BLK_UNUSED` if unallocated).
    pub bat: *mut u32,
}

/// The in-memory BAT: `struct vhd_bat`.
pub type vhd_bat_t = vhd_bat;

#[cfg(not(feature = "blktap3"))]
/// The batmap as loaded in memory.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vhd_batmap {
    /// Its header.
    pub header: vhd_batmap_header_t,
    /// The map, `header.batmap_size` sectors, MSB-first bit per block.
    pub map: *mut c_char,
}

#[cfg(not(feature = "blktap3"))]
/// The in-memory batmap: `struct vhd_batmap`.
pub type vhd_batmap_t = vhd_batmap;

#[cfg(not(feature = "blktap3"))]
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
    /// Sectors per block.
    pub spb: u32,
    /// Sectors of each block's bitmap.
    pub bm_secs: u32,
    /// The dynamic disk header (dynamic and differencing disks).
    pub header: vhd_header_t,
    /// The footer.
    pub footer: vhd_footer_t,
    /// The BAT, once `vhd_get_bat` loaded it.
    pub bat: vhd_bat_t,
    /// The batmap, once `vhd_get_batmap` loaded it.
    pub batmap: vhd_batmap_t,
}

#[cfg(not(feature = "blktap3"))]
/// An open image: `struct vhd_context`.
pub type vhd_context_t = vhd_context;

impl hd_ftr {
    /// A footer of all zero bytes.
    pub const fn zeroed() -> Self {
        hd_ftr {
            cookie: [0; 8],
            features: 0,
            ff_version: 0,
            data_offset: 0,
            timestamp: 0,
            crtr_app: [0; 4],
            crtr_ver: 0,
            crtr_os: 0,
            orig_size: 0,
            curr_size: 0,
            geometry: 0,
            r#type: 0,
            checksum: 0,
            uuid: [0; 16],
            saved: 0,
            hidden: 0,
            reserved: [0; 426],
        }
    }
}

impl prt_loc {
    /// An empty locator.
    pub const fn zeroed() -> Self {
        prt_loc {
            code: 0,
            data_space: 0,
            data_len: 0,
            res: 0,
            data_offset: 0,
        }
    }
}

impl dd_hdr {
    /// A header of all zero bytes.
    pub const fn zeroed() -> Self {
        dd_hdr {
            cookie: [0; 8],
            data_offset: 0,
            table_offset: 0,
            hdr_ver: 0,
            max_bat_size: 0,
            block_size: 0,
            checksum: 0,
            prt_uuid: [0; 16],
            prt_ts: 0,
            res1: 0,
            prt_name: [0; 512],
            loc: [prt_loc::zeroed(); 8],
            res2: [0; 256],
        }
    }
}

#[cfg(not(feature = "blktap3"))]
impl dd_batmap_hdr {
    /// A batmap header of all zero bytes.
    pub const fn zeroed() -> Self {
        dd_batmap_hdr {
            cookie: [0; 8],
            batmap_offset: 0,
            batmap_size: 0,
            batmap_version: 0,
            checksum: 0,
        }
    }
}

impl vhd_bat {
    /// No BAT loaded.
    pub const fn zeroed() -> Self {
        vhd_bat {
            spb: 0,
            entries: 0,
            bat: core::ptr::null_mut(),
        }
    }
}

#[cfg(not(feature = "blktap3"))]
impl vhd_batmap {
    /// No batmap loaded.
    pub const fn zeroed() -> Self {
        vhd_batmap {
            header: dd_batmap_hdr::zeroed(),
            map: core::ptr::null_mut(),
        }
    }
}

#[cfg(not(feature = "blktap3"))]
impl vhd_context {
    /// A context of all zero bytes, as `vhd_open` starts from (it then sets `fd = -1`).
    pub const fn zeroed() -> Self {
        vhd_context {
            fd: 0,
            file: core::ptr::null_mut(),
            oflags: 0,
            is_block: 0,
            spb: 0,
            bm_secs: 0,
            header: dd_hdr::zeroed(),
            footer: hd_ftr::zeroed(),
            bat: vhd_bat::zeroed(),
            batmap: vhd_batmap::zeroed(),
        }
    }
}

/// Checks a struct's size and alignment and each listed field's offset at compile time.
macro_rules! check_layout {
    ($ty:ty, size $size:expr, align $align:expr; $($field:ident @ $off:expr),* $(,)?) => {
        const _: () = assert!(size_of::<$ty>() == $size);
        const _: () = assert!(align_of::<$ty>() == $align);
        $( const _: () = assert!(offset_of!($ty, $field) == $off); )*
    };
}
pub(crate) use check_layout;

check_layout!(vhd_uuid_t, size 16, align 1;);

check_layout!(hd_ftr, size 512, align 8;
    cookie @ 0, features @ 8, ff_version @ 12, data_offset @ 16, timestamp @ 24,
    crtr_app @ 28, crtr_ver @ 32, crtr_os @ 36, orig_size @ 40, curr_size @ 48,
    geometry @ 56, r#type @ 60, checksum @ 64, uuid @ 68, saved @ 84, hidden @ 85,
    reserved @ 86,
);

check_layout!(prt_loc, size 24, align 8;
    code @ 0, data_space @ 4, data_len @ 8, res @ 12, data_offset @ 16,
);

check_layout!(dd_hdr, size 1024, align 8;
    cookie @ 0, data_offset @ 8, table_offset @ 16, hdr_ver @ 24, max_bat_size @ 28,
    block_size @ 32, checksum @ 36, prt_uuid @ 40, prt_ts @ 56, res1 @ 60,
    prt_name @ 64, loc @ 576, res2 @ 768,
);

#[cfg(not(feature = "blktap3"))]
check_layout!(dd_batmap_hdr, size 32, align 8;
    cookie @ 0, batmap_offset @ 8, batmap_size @ 16, batmap_version @ 20, checksum @ 24,
);

check_layout!(vhd_bat, size 16, align 8; spb @ 0, entries @ 4, bat @ 8);

#[cfg(not(feature = "blktap3"))]
check_layout!(vhd_batmap, size 40, align 8; header @ 0, map @ 32);

#[cfg(not(feature = "blktap3"))]
check_layout!(vhd_context, size 1624, align 8;
    fd @ 0, file @ 8, oflags @ 16, is_block @ 20, spb @ 24, bm_secs @ 28,
    header @ 32, footer @ 1056, bat @ 1568, batmap @ 1584,
);
