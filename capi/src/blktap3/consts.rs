//! The constants blktap3's headers add or change (rendered after, and over, those of
//! [`crate::consts::DEFINES`]). Compiled in every flavour so that the header generator
//! can render both header sets.

use crate::consts::c_defines;

c_defines! {
    /// What blktap3's `libvhd.h` defines beyond (or instead of) blktap2's.
    BLKTAP3_DEFINES;

    /// `vhd_open` flag: no `O_DIRECT`; regular files only; a read-only open also opens
    /// and keeps the whole parent chain (`next`).
    VHD_OPEN_CACHED: i32 = 0x0000_0020 => Hex;
    /// `vhd_open` flag: block allocation does not zero the data area.
    VHD_OPEN_IO_WRITE_SPARSE: i32 = 0x0000_0040 => Hex;
    /// `vhd_open` flag: take the footer copy at offset 0 and ignore the one at the end.
    VHD_OPEN_USE_BKP_FOOTER: i32 = 0x0000_0080 => Hex;

    /// `vhd_create` flag: defined by blktap3, unused by its library.
    VHD_FLAG_CREAT_FILE_SIZE_FIXED: u32 = 0x0000_0001 => Hex;
    /// `vhd_snapshot` flag: the parent is a raw image, not a VHD (blktap2: 0x1).
    VHD_FLAG_CREAT_PARENT_RAW: u32 = 0x0000_0002 => Hex;

    /// The crypto library tapdisk loads for encrypted images.
    LIBBLOCKCRYPTO_NAME: &str = "libblockcrypto.so.0" => Str;
    /// Where key files are looked for by default.
    CRYPTO_DEFAULT_KEYDIR: &str = "/var/xen/blktap/keys" => Str;
}

c_defines! {
    /// What `libvhd-index.h` defines.
    INDEX_DEFINES;

    /// Longest path libvhd handles, including the terminating NUL (as in libvhd.h).
    VHD_MAX_NAME_LEN: u32 = 1024 => Dec;
}

/// The extended attribute holding the marker of an image without a batmap.
pub const MARKER_XATTR: &str = "user.com.citrix.xenclient.backend.marker";

/// The extended attribute holding the key hash of an image without a batmap.
pub const KEYHASH_XATTR: &str = "user.com.citrix.xenclient.backend.keyhash";
