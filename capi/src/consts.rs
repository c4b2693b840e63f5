//! The constants `libvhd.h` `#define`s, with the reference's names and values.
//!
//! Each one is a Rust constant and also an entry of [`DEFINES`], which the header
//! generator renders as `#define NAME value` in the spelling given here (hex for bit
//! fields and magic numbers, decimal for counts, string literals for cookies). One list,
//! so the Rust and C values cannot drift apart. Constants with arguments (`GEOM_ENCODE`,
//! `VHD_VERSION`, ...) are C macros written in the generator's prelude. The values of
//! the format's constants come from the core, where they are defined once.

use vhd_nostd::footer::{self, DiskType};
use vhd_nostd::{bat, batmap, header, locator};

/// How the header generator spells a constant's value in C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CValue {
    /// Decimal: `512`.
    Dec(u64),
    /// Decimal with the `ULL` suffix: `2097152ULL`.
    DecUll(u64),
    /// Hexadecimal, at least 8 digits: `0x00010000`.
    Hex(u64),
    /// Hexadecimal with the `ULL` suffix: `0xAAAA12344321AAAAULL`.
    HexUll(u64),
    /// A string literal: `"conectix"`.
    Str(&'static str),
}

/// One `#define` of a generated header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CDefine {
    /// The macro's name.
    pub name: &'static str,
    /// Its documentation, one line per `///` line (leading spaces kept).
    pub doc: &'static str,
    /// Its value and how to spell it.
    pub value: CValue,
}

/// Declares constants and the table of [`CDefine`]s that describes them, in one list.
/// Each entry: doc comments, `NAME: type = value => Spelling;` where `Spelling` is a
/// [`CValue`] variant.
macro_rules! c_defines {
    (
        $(#[doc = $tdoc:literal])*
        $table:ident;
        $( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $val:expr => $kind:ident; )*
    ) => {
        $( $(#[doc = $doc])* pub const $name: $ty = $val; )*

        $(#[doc = $tdoc])*
        pub const $table: &[$crate::consts::CDefine] = &[
            $( $crate::consts::CDefine {
                name: stringify!($name),
                doc: concat!($($doc, "\n",)*),
                value: $crate::consts::c_value!($kind, $name),
            }, )*
        ];
    };
}
pub(crate) use c_defines;

/// Builds the [`CValue`] of one constant: strings as they are, integers widened to `u64`.
macro_rules! c_value {
    (Str, $name:ident) => {
        $crate::consts::CValue::Str($name)
    };
    ($kind:ident, $name:ident) => {
        $crate::consts::CValue::$kind($name as u64)
    };
}
pub(crate) use c_value;

/// A cookie as the C string literal it is spelled as.
const fn cookie(bytes: &'static [u8; 8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("cookies are ASCII"),
    }
}

c_defines! {
    /// Every constant of `libvhd.h`, in the order the header lists them.
    DEFINES;

    /// Bytes in a sector; every on-disk structure and data block is sector-aligned.
    VHD_SECTOR_SIZE: u32 = vhd_nostd::SECTOR_SIZE as u32 => Dec;
    /// log2 of [`VHD_SECTOR_SIZE`].
    VHD_SECTOR_SHIFT: u32 = vhd_nostd::SECTOR_SHIFT => Dec;
    /// Longest path libvhd handles, including the terminating NUL.
    VHD_MAX_NAME_LEN: u32 = 1024 => Dec;
    /// log2 of the default block size.
    VHD_BLOCK_SHIFT: u32 = header::DEFAULT_BLOCK_SIZE.trailing_zeros() => Dec;
    /// The default block size of dynamic and differencing disks (2 MiB).
    VHD_BLOCK_SIZE: u64 = 1 << VHD_BLOCK_SHIFT => DecUll;

    /// Footer cookie of a valid image.
    HD_COOKIE: &str = cookie(&footer::COOKIE) => Str;
    /// Footer cookie of an image disabled (poisoned) during a resize or journal replay.
    VHD_POISON_COOKIE: &str = cookie(&footer::POISON_COOKIE) => Str;
    /// Footer `features`: none.
    HD_NO_FEATURES: u32 = 0x0000_0000 => Hex;
    /// Footer `features`: the disk may be deleted on shutdown.
    HD_TEMPORARY: u32 = footer::FEATURE_TEMPORARY => Hex;
    /// Footer `features`: reserved bit, always set.
    HD_RESERVED: u32 = footer::FEATURE_RESERVED => Hex;
    /// Footer `ff_version`: format version 1.0.
    HD_FF_VERSION: u32 = footer::FF_VERSION => Hex;
    /// Footer `crtr_os`: "Wi2k".
    HD_CR_OS_WINDOWS: u32 = footer::CREATOR_OS_WINDOWS => Hex;
    /// Footer `crtr_os`: "Mac ".
    HD_CR_OS_MACINTOSH: u32 = footer::CREATOR_OS_MACINTOSH => Hex;
    /// Footer `crtr_ver` written by this library: `VHD_VERSION(1, 3)`.
    VHD_CURRENT_VERSION: u32 = footer::CREATOR_VERSION => Hex;

    /// Footer `type`: none.
    HD_TYPE_NONE: u32 = 0 => Dec;
    /// Footer `type`: fixed (preallocated) disk.
    HD_TYPE_FIXED: u32 = DiskType::Fixed as u32 => Dec;
    /// Footer `type`: dynamic (sparse) disk.
    HD_TYPE_DYNAMIC: u32 = DiskType::Dynamic as u32 => Dec;
    /// Footer `type`: differencing disk (dynamic, with a parent).
    HD_TYPE_DIFF: u32 = DiskType::Differencing as u32 => Dec;
    /// Largest `type` value with a name in `HD_TYPE_STR`.
    HD_TYPE_MAX: u32 = 6 => Dec;

    /// Dynamic disk header cookie.
    DD_COOKIE: &str = cookie(&header::COOKIE) => Str;
    /// Dynamic disk header `hdr_ver`: 1.0.
    DD_VERSION: u32 = header::HDR_VERSION => Hex;
    /// Default `block_size` (2 MiB).
    DD_BLOCKSIZE_DEFAULT: u32 = header::DEFAULT_BLOCK_SIZE => Hex;
    /// BAT entry of a block that is not allocated.
    DD_BLK_UNUSED: u32 = bat::UNUSED => Hex;

    /// Parent locator platform code: unused slot.
    PLAT_CODE_NONE: u32 = locator::PLAT_CODE_NONE => Hex;
    /// Parent locator platform code: Windows relative path (deprecated).
    PLAT_CODE_WI2R: u32 = locator::PLAT_CODE_WI2R => Hex;
    /// Parent locator platform code: Windows absolute path (deprecated).
    PLAT_CODE_WI2K: u32 = locator::PLAT_CODE_WI2K => Hex;
    /// Parent locator platform code: Windows relative path, UTF-16LE.
    PLAT_CODE_W2RU: u32 = locator::PLAT_CODE_W2RU => Hex;
    /// Parent locator platform code: Windows absolute path, UTF-16LE.
    PLAT_CODE_W2KU: u32 = locator::PLAT_CODE_W2KU => Hex;
    /// Parent locator platform code: Mac OS alias.
    PLAT_CODE_MAC: u32 = locator::PLAT_CODE_MAC => Hex;
    /// Parent locator platform code: file URL, UTF-8.
    PLAT_CODE_MACX: u32 = locator::PLAT_CODE_MACX => Hex;

    /// Batmap header cookie.
    VHD_BATMAP_COOKIE: &str = cookie(&batmap::COOKIE) => Str;
    /// Batmap version this library writes: `VHD_BATMAP_VERSION(1, 2)`.
    VHD_BATMAP_CURRENT_VERSION: u32 = batmap::BATMAP_VERSION => Hex;

    /// iconv name of UTF-16 with a byte-order mark.
    UTF_16: &str = "UTF-16" => Str;
    /// iconv name of little-endian UTF-16.
    UTF_16LE: &str = "UTF-16LE" => Str;
    /// iconv name of big-endian UTF-16.
    UTF_16BE: &str = "UTF-16BE" => Str;

    /// `vhd_open` flag: read-only.
    VHD_OPEN_RDONLY: i32 = 0x0000_0001 => Hex;
    /// `vhd_open` flag: read-write.
    VHD_OPEN_RDWR: i32 = 0x0000_0002 => Hex;
    /// `vhd_open` flag: do not load the BAT or batmap.
    VHD_OPEN_FAST: i32 = 0x0000_0004 => Hex;
    /// `vhd_open` flag: no fallback to the backup footer (clears FAST).
    VHD_OPEN_STRICT: i32 = 0x0000_0008 => Hex;
    /// `vhd_open` flag: open a disabled (poisoned) image too.
    VHD_OPEN_IGNORE_DISABLED: i32 = 0x0000_0010 => Hex;

    /// `vhd_snapshot` flag: the parent is a raw image, not a VHD.
    VHD_FLAG_CREAT_PARENT_RAW: u32 = 0x0000_0001 => Hex;

    /// Failure point: start of a reparent.
    FAIL_REPARENT_BEGIN: usize = 0 => Dec;
    /// Failure point: reparent, locators written, header not.
    FAIL_REPARENT_LOCATOR: usize = 1 => Dec;
    /// Failure point: end of a reparent.
    FAIL_REPARENT_END: usize = 2 => Dec;
    /// Failure point: resize, after the journal was created.
    FAIL_RESIZE_BEGIN: usize = 3 => Dec;
    /// Failure point: resize, data blocks moved.
    FAIL_RESIZE_DATA_MOVED: usize = 4 => Dec;
    /// Failure point: resize, metadata moved.
    FAIL_RESIZE_METADATA_MOVED: usize = 5 => Dec;
    /// Failure point: end of a resize.
    FAIL_RESIZE_END: usize = 6 => Dec;
    /// Number of failure points: the length of `TEST_FAIL` and `ENV_VAR_FAIL`.
    NUM_FAIL_TESTS: usize = 7 => Dec;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_each_constant_once_with_its_value() {
        let mut names: Vec<&str> = DEFINES.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DEFINES.len());
        let find = |n: &str| DEFINES.iter().find(|d| d.name == n).unwrap().value;
        assert_eq!(find("VHD_BLOCK_SIZE"), CValue::DecUll(2 * 1024 * 1024));
        assert_eq!(find("HD_COOKIE"), CValue::Str("conectix"));
        assert_eq!(find("DD_BLK_UNUSED"), CValue::Hex(0xFFFF_FFFF));
        assert!(DEFINES[0].doc.contains("Bytes in a sector"));
    }
}
