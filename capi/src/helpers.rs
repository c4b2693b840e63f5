//! Exported functions that need no open image: time stamps, geometry, checksums,
//! byte-order conversion of the on-disk structs, platform codes and the log level.

use core::ffi::{c_char, c_int};
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicI32, Ordering};

use libc::{size_t, time_t};
use vhd_nostd::checksum;

use crate::consts::{
    PLAT_CODE_MAC, PLAT_CODE_MACX, PLAT_CODE_NONE, PLAT_CODE_W2KU, PLAT_CODE_W2RU, PLAT_CODE_WI2K,
    PLAT_CODE_WI2R, VHD_SECTOR_SIZE,
};
use crate::ffi::boundary;
use crate::types::{dd_hdr, hd_ftr, vhd_bat_t, vhd_batmap_t, vhd_footer_t, vhd_header_t};

static LOG_LEVEL: AtomicI32 = AtomicI32::new(0);

/// Sets the library's log level; non-zero enables debug logging (to syslog, as the
/// reference does, once the engine logs).
#[no_mangle]
pub extern "C" fn libvhd_set_log_level(level: c_int) {
    boundary!(on_panic = (), {
        LOG_LEVEL.store(level, Ordering::Relaxed);
    })
}

/// The level last given to [`libvhd_set_log_level`] (0 at start).
pub fn log_level() -> c_int {
    LOG_LEVEL.load(Ordering::Relaxed)
}

/// Converts Unix time to a VHD timestamp (seconds since 2000-01-01 00:00:00 UTC).
///
/// Times before 2000 give 0 and times past the 32-bit range give 0xFFFFFFFF (the
/// reference wraps; see COMPATIBILITY.md).
#[no_mangle]
pub extern "C" fn vhd_time(time: time_t) -> u32 {
    boundary!(on_panic = 0, {
        // `time_t` is 32 bits on some targets.
        #[allow(clippy::useless_conversion)]
        vhd_nostd::time::from_unix(i64::from(time))
    })
}

/// Formats `timestamp` (VHD epoch) as `ctime_r` does in local time, without the newline:
/// `Sat Jan  1 00:00:00 2000`. Writes the string and its NUL to `target`, which must
/// hold at least 26 bytes, and returns its length (0, with an empty string, if the time
/// cannot be converted; 0 and nothing written if `target` is null).
///
/// # Safety
/// `target` must be null or valid for writes of 26 bytes.
#[no_mangle]
pub unsafe extern "C" fn vhd_time_to_string(timestamp: u32, target: *mut c_char) -> size_t {
    boundary!(on_panic = 0, {
        if target.is_null() {
            return 0;
        }
        let text = ctime_text(vhd_nostd::time::to_unix(timestamp)).unwrap_or_default();
        let bytes = text.as_bytes();
        // SAFETY: the caller provides 26 writable bytes; `ctime_text` returns at most 24
        // ASCII bytes (years stay below 10000 for 32-bit VHD times), plus the NUL.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), target, bytes.len());
            target.add(bytes.len()).write(0);
        }
        bytes.len()
    })
}

/// `ctime` of a Unix time in the local time zone, without the trailing newline.
fn ctime_text(unix: i64) -> Option<String> {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = time_t::try_from(unix).ok()?;
    // SAFETY: `tm` is plain old data, so all zeroes is a valid value to be overwritten.
    let mut tm: libc::tm = unsafe { core::mem::zeroed() };
    // SAFETY: both pointers are to live locals; localtime_r only writes `tm`.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return None;
    }
    let day = DAYS.get(usize::try_from(tm.tm_wday).ok()?)?;
    let month = MONTHS.get(usize::try_from(tm.tm_mon).ok()?)?;
    Some(format!(
        "{day} {month} {:>2} {:02}:{:02}:{:02} {}",
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    ))
}

/// The CHS geometry of a disk of `size` bytes, encoded as `GEOM_ENCODE(c, h, s)`, by the
/// VHD specification's algorithm (sectors rounded up, at least 1, capped at
/// 65535 × 16 × 255).
#[no_mangle]
pub extern "C" fn vhd_chs(size: u64) -> u32 {
    boundary!(on_panic = 0, { vhd_nostd::geometry::chs(size).encode() })
}

// The core's checksum rules skip the field where the C structs keep it.
const _: () = assert!(
    offset_of!(hd_ftr, checksum) == checksum::FOOTER_CHECKSUM_AT
        && offset_of!(dd_hdr, checksum) == checksum::HEADER_CHECKSUM_AT
);

/// The bytes of a C struct without padding.
///
/// # Safety
/// `p` must point to a valid `T` whose bytes are all initialized (no padding).
unsafe fn raw_bytes<'a, T>(p: *const T) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(p.cast::<u8>(), size_of::<T>()) }
}

/// The checksum `footer` should carry: the one's complement of the byte sum of its 512
/// bytes with the checksum field taken as zero (the sum is the same in either byte
/// order). Returns 0 for a null pointer.
///
/// # Safety
/// `footer` must be null or point to a valid footer.
#[no_mangle]
pub unsafe extern "C" fn vhd_checksum_footer(footer: *mut vhd_footer_t) -> u32 {
    boundary!(on_panic = 0, {
        if footer.is_null() {
            return 0;
        }
        // SAFETY: a non-null footer is 512 initialized bytes without padding.
        checksum::footer(unsafe { raw_bytes(footer) })
    })
}

/// The checksum `header` should carry, computed as for the footer over its 1024 bytes.
/// Returns 0 for a null pointer.
///
/// # Safety
/// `header` must be null or point to a valid header.
#[no_mangle]
pub unsafe extern "C" fn vhd_checksum_header(header: *mut vhd_header_t) -> u32 {
    boundary!(on_panic = 0, {
        if header.is_null() {
            return 0;
        }
        // SAFETY: a non-null header is 1024 initialized bytes without padding.
        checksum::header(unsafe { raw_bytes(header) })
    })
}

/// The checksum of a batmap's map: the one's complement of the byte sum of its
/// `header.batmap_size` sectors. Version 1.1 maps are summed as signed chars, as the
/// blktap release that wrote them did. Returns 0 if `batmap` or its map is null.
///
/// # Safety
/// `batmap` must be null or point to a batmap whose `map` is null or holds
/// `header.batmap_size` sectors.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_checksum_batmap(batmap: *mut vhd_batmap_t) -> u32 {
    boundary!(on_panic = 0, {
        if batmap.is_null() {
            return 0;
        }
        // SAFETY: non-null, so it points to a valid batmap (caller's contract).
        let batmap = unsafe { &*batmap };
        if batmap.map.is_null() {
            return 0;
        }
        let len = u64::from(batmap.header.batmap_size) * u64::from(VHD_SECTOR_SIZE);
        let Ok(len) = usize::try_from(len) else {
            return 0;
        };
        // SAFETY: the caller guarantees `map` holds `batmap_size` sectors.
        let map = unsafe { core::slice::from_raw_parts(batmap.map.cast::<u8>(), len) };
        checksum::batmap(batmap.header.batmap_version, map)
    })
}

/// Swaps the multi-byte fields of a footer between big-endian (on disk) and host order.
/// The same operation serves both directions.
pub(crate) fn swap_footer(f: &mut hd_ftr) {
    f.features = u32::from_be(f.features);
    f.ff_version = u32::from_be(f.ff_version);
    f.data_offset = u64::from_be(f.data_offset);
    f.timestamp = u32::from_be(f.timestamp);
    f.crtr_ver = u32::from_be(f.crtr_ver);
    f.crtr_os = u32::from_be(f.crtr_os);
    f.orig_size = u64::from_be(f.orig_size);
    f.curr_size = u64::from_be(f.curr_size);
    f.geometry = u32::from_be(f.geometry);
    f.r#type = u32::from_be(f.r#type);
    f.checksum = u32::from_be(f.checksum);
}

/// Swaps the multi-byte fields of a dynamic disk header and its locators (the reserved
/// fields are zero and left alone, as the reference does).
pub(crate) fn swap_header(h: &mut dd_hdr) {
    h.data_offset = u64::from_be(h.data_offset);
    h.table_offset = u64::from_be(h.table_offset);
    h.hdr_ver = u32::from_be(h.hdr_ver);
    h.max_bat_size = u32::from_be(h.max_bat_size);
    h.block_size = u32::from_be(h.block_size);
    h.checksum = u32::from_be(h.checksum);
    h.prt_ts = u32::from_be(h.prt_ts);
    for loc in &mut h.loc {
        loc.code = u32::from_be(loc.code);
        loc.data_space = u32::from_be(loc.data_space);
        loc.data_len = u32::from_be(loc.data_len);
        loc.data_offset = u64::from_be(loc.data_offset);
    }
}

/// Swaps every entry of a loaded BAT.
///
/// # Safety
/// `bat` must be null or point to a BAT whose `bat` is null or holds `entries` entries.
unsafe fn swap_bat(bat: *mut vhd_bat_t) {
    if bat.is_null() {
        return;
    }
    // SAFETY: non-null, so valid (caller's contract).
    let bat = unsafe { &mut *bat };
    if bat.bat.is_null() {
        return;
    }
    // SAFETY: the caller guarantees `entries` entries at `bat.bat`.
    let entries = unsafe { core::slice::from_raw_parts_mut(bat.bat, bat.entries as usize) };
    for e in entries {
        *e = u32::from_be(*e);
    }
}

/// Swaps the fields of a batmap's header.
pub(crate) fn swap_batmap_header(b: &mut vhd_batmap_t) {
    let h = &mut b.header;
    h.batmap_offset = u64::from_be(h.batmap_offset);
    h.batmap_size = u32::from_be(h.batmap_size);
    h.batmap_version = u32::from_be(h.batmap_version);
    h.checksum = u32::from_be(h.checksum);
}

/// Converts a footer read from disk to host byte order, in place. Null is ignored.
///
/// # Safety
/// `footer` must be null or point to a valid, writable footer.
#[no_mangle]
pub unsafe extern "C" fn vhd_footer_in(footer: *mut vhd_footer_t) {
    boundary!(on_panic = (), {
        // SAFETY: null or a valid footer (caller's contract); `as_mut` handles null.
        if let Some(f) = unsafe { footer.as_mut() } {
            swap_footer(f);
        }
    })
}

/// Converts a footer to on-disk (big-endian) byte order, in place. Null is ignored.
///
/// # Safety
/// `footer` must be null or point to a valid, writable footer.
#[no_mangle]
pub unsafe extern "C" fn vhd_footer_out(footer: *mut vhd_footer_t) {
    boundary!(on_panic = (), {
        // SAFETY: null or a valid footer (caller's contract); `as_mut` handles null.
        if let Some(f) = unsafe { footer.as_mut() } {
            swap_footer(f);
        }
    })
}

/// Converts a dynamic disk header read from disk to host byte order, in place. Null is
/// ignored.
///
/// # Safety
/// `header` must be null or point to a valid, writable header.
#[no_mangle]
pub unsafe extern "C" fn vhd_header_in(header: *mut vhd_header_t) {
    boundary!(on_panic = (), {
        // SAFETY: null or a valid header (caller's contract); `as_mut` handles null.
        if let Some(h) = unsafe { header.as_mut() } {
            swap_header(h);
        }
    })
}

/// Converts a dynamic disk header to on-disk byte order, in place. Null is ignored.
///
/// # Safety
/// `header` must be null or point to a valid, writable header.
#[no_mangle]
pub unsafe extern "C" fn vhd_header_out(header: *mut vhd_header_t) {
    boundary!(on_panic = (), {
        // SAFETY: null or a valid header (caller's contract); `as_mut` handles null.
        if let Some(h) = unsafe { header.as_mut() } {
            swap_header(h);
        }
    })
}

/// Converts the `entries` BAT entries at `bat->bat` to host byte order, in place. A null
/// BAT or entry array is ignored.
///
/// # Safety
/// `bat` must be null or point to a BAT whose `bat` is null or holds `entries` writable
/// entries.
#[no_mangle]
pub unsafe extern "C" fn vhd_bat_in(bat: *mut vhd_bat_t) {
    boundary!(on_panic = (), {
        // SAFETY: the same contract as ours.
        unsafe { swap_bat(bat) }
    })
}

/// Converts the BAT entries to on-disk byte order, in place. A null BAT or entry array
/// is ignored.
///
/// # Safety
/// As for `vhd_bat_in`.
#[no_mangle]
pub unsafe extern "C" fn vhd_bat_out(bat: *mut vhd_bat_t) {
    boundary!(on_panic = (), {
        // SAFETY: the same contract as ours.
        unsafe { swap_bat(bat) }
    })
}

/// Converts `batmap->header` read from disk to host byte order, in place (the map is a
/// byte array and needs no conversion). Null is ignored.
///
/// # Safety
/// `batmap` must be null or point to a valid, writable batmap.
#[no_mangle]
pub unsafe extern "C" fn vhd_batmap_header_in(batmap: *mut vhd_batmap_t) {
    boundary!(on_panic = (), {
        // SAFETY: null or a valid batmap (caller's contract); `as_mut` handles null.
        if let Some(b) = unsafe { batmap.as_mut() } {
            swap_batmap_header(b);
        }
    })
}

/// Converts `batmap->header` to on-disk byte order, in place. Null is ignored.
///
/// # Safety
/// `batmap` must be null or point to a valid, writable batmap.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_batmap_header_out(batmap: *mut vhd_batmap_t) {
    boundary!(on_panic = (), {
        // SAFETY: null or a valid batmap (caller's contract); `as_mut` handles null.
        if let Some(b) = unsafe { batmap.as_mut() } {
            swap_batmap_header(b);
        }
    })
}

/// 0 if `code` is a known parent locator platform code (`PLAT_CODE_*`, including NONE),
/// else `-EINVAL`.
#[no_mangle]
pub extern "C" fn vhd_validate_platform_code(code: u32) -> c_int {
    boundary!(on_panic = -libc::EINVAL, {
        match code {
            PLAT_CODE_NONE | PLAT_CODE_WI2R | PLAT_CODE_WI2K | PLAT_CODE_W2RU | PLAT_CODE_W2KU
            | PLAT_CODE_MAC | PLAT_CODE_MACX => 0,
            _ => -libc::EINVAL,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{vhd_bat, vhd_batmap};

    fn geom(c: u32, h: u32, s: u32) -> u32 {
        (c << 16) | (h << 8) | s
    }

    #[test]
    fn chs_matches_known_geometries() {
        // create -s 12: 12 MiB -> 361/4/17 (vhd-util-cli.md §5).
        assert_eq!(vhd_chs(12 << 20), geom(361, 4, 17));
        assert_eq!(vhd_chs(0), geom(0, 4, 17));
        // 1 GiB: 2097152 sectors; 17 spt needs 121 heads, 31 spt 67650 >= 16384
        // cylinder-heads, so 63 spt: 33288 / 16 = 2080 cylinders.
        assert_eq!(vhd_chs(1 << 30), geom(2080, 16, 63));
        // 100 MiB: 204800 / 17 = 12047 -> 12 heads, 1003 cylinders.
        assert_eq!(vhd_chs(100 << 20), geom(1003, 12, 17));
        // 127 GiB: past 65535 * 16 * 63 sectors, so 255 sectors per track.
        let s = (127u64 << 30) / 512;
        assert_eq!(vhd_chs(127 << 30), geom((s / 255 / 16) as u32, 16, 255));
        // Beyond the CHS maximum: capped.
        assert_eq!(vhd_chs(u64::MAX), geom(65535, 16, 255));
        assert_eq!(vhd_chs(2040 << 30), geom(65535, 16, 255));
    }

    #[test]
    fn time_clamps_and_formats() {
        assert_eq!(vhd_time(vhd_nostd::time::VHD_EPOCH_UNIX as time_t), 0);
        assert_eq!(vhd_time(0), 0);
        assert_eq!(
            vhd_time((vhd_nostd::time::VHD_EPOCH_UNIX + 86_400) as time_t),
            86_400
        );
        assert_eq!(vhd_time(time_t::MAX), u32::MAX);
        let mut buf = [0 as c_char; 32];
        // SAFETY: 32 writable bytes.
        let n = unsafe { vhd_time_to_string(86_400 * 31 + 3_661, buf.as_mut_ptr()) };
        // SAFETY: NUL-terminated by vhd_time_to_string.
        let s = unsafe { core::ffi::CStr::from_ptr(buf.as_ptr()) };
        let s = s.to_str().unwrap();
        assert_eq!(n, s.len());
        assert_eq!(s.len(), 24);
        // Local time zone unknown here; the shape is fixed.
        assert!(s.ends_with(" 2000") || s.ends_with(" 1999"), "{s}");
        // SAFETY: a null target is answered without a write.
        assert_eq!(unsafe { vhd_time_to_string(0, core::ptr::null_mut()) }, 0);
    }

    #[test]
    fn footer_checksum_and_byte_order() {
        let mut f = hd_ftr::zeroed();
        f.features = 2;
        f.curr_size = 12 << 20;
        f.checksum = 0xdead_beef;
        // SAFETY: a valid footer.
        let host = unsafe { vhd_checksum_footer(&mut f) };
        // Byte sum is 2 + 0xC0 (12 MiB = 0x00C00000); the checksum field is skipped.
        assert_eq!(host, !(2 + 0xC0));
        // SAFETY: a valid footer.
        unsafe { vhd_footer_out(&mut f) };
        assert_eq!(f.features, 2u32.to_be());
        // SAFETY: a valid footer.
        assert_eq!(unsafe { vhd_checksum_footer(&mut f) }, host);
        // SAFETY: a valid footer.
        unsafe { vhd_footer_in(&mut f) };
        assert_eq!(f.curr_size, 12 << 20);
        assert_eq!(f.checksum, 0xdead_beef);
        // SAFETY: null is allowed.
        assert_eq!(unsafe { vhd_checksum_footer(core::ptr::null_mut()) }, 0);
    }

    #[test]
    fn header_round_trip() {
        let mut h = dd_hdr::zeroed();
        h.table_offset = 1536;
        h.loc[7].data_offset = 0x1122_3344_5566_7788;
        h.res1 = 5;
        // SAFETY: a valid header.
        unsafe { vhd_header_out(&mut h) };
        assert_eq!(h.table_offset, 1536u64.to_be());
        assert_eq!(h.loc[7].data_offset, 0x1122_3344_5566_7788u64.to_be());
        assert_eq!(h.res1, 5);
        // SAFETY: a valid header.
        unsafe { vhd_header_in(&mut h) };
        assert_eq!(h.table_offset, 1536);
        // SAFETY: a valid header.
        let sum = unsafe { vhd_checksum_header(&mut h) };
        assert_eq!(
            sum,
            !(6 + 5 + 0x88 + 0x77 + 0x66 + 0x55 + 0x44 + 0x33 + 0x22 + 0x11)
        );
    }

    #[test]
    fn bat_and_batmap() {
        let mut entries = [1u32, 0xFFFF_FFFF, 0x0102_0304];
        let mut bat = vhd_bat {
            spb: 4096,
            entries: 3,
            bat: entries.as_mut_ptr(),
        };
        // SAFETY: three valid entries.
        unsafe { vhd_bat_out(&mut bat) };
        assert_eq!(entries, [1u32.to_be(), 0xFFFF_FFFF, 0x0102_0304u32.to_be()]);
        let mut map = [0u8; 1024];
        map[0] = 0x80;
        map[1023] = 0xff;
        let mut bm = vhd_batmap::zeroed();
        bm.header.batmap_size = 2;
        bm.header.batmap_version = 0x0001_0002;
        bm.map = map.as_mut_ptr().cast();
        // SAFETY: the map holds two sectors.
        assert_eq!(unsafe { vhd_checksum_batmap(&mut bm) }, !(0x80 + 0xff));
        bm.header.batmap_version = vhd_nostd::batmap::BATMAP_VERSION_1_1;
        // SAFETY: as above.
        let signed = unsafe { vhd_checksum_batmap(&mut bm) };
        assert_eq!(signed, !((-0x80i32 - 1) as u32));
        // SAFETY: a valid batmap.
        unsafe { vhd_batmap_header_out(&mut bm) };
        assert_eq!(bm.header.batmap_size, 2u32.to_be());
    }

    #[test]
    fn platform_codes() {
        assert_eq!(vhd_validate_platform_code(PLAT_CODE_MACX), 0);
        assert_eq!(vhd_validate_platform_code(0), 0);
        assert_eq!(vhd_validate_platform_code(0x1234), -libc::EINVAL);
    }

    #[test]
    fn log_level_is_kept() {
        libvhd_set_log_level(1);
        assert_eq!(log_level(), 1);
        libvhd_set_log_level(0);
    }
}
