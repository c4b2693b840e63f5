//! `lvm_scan_vg` and `lvm_free_vg`, blktap3's volume-group scanner (its `lvm/lvm-util.h`,
//! which blktap3 does not install: `struct vg` is laid out here and layout-checked, but
//! no generated header declares it).
//!
//! The scan is vhd-util's (`vhd_cli::lvm`: `vgs` and `lvs` in bytes); this module only
//! copies its result into a `struct vg` whose two arrays come from `calloc`, so that
//! `lvm_free_vg` (or a client's `free`) releases them. Sizes and offsets are in bytes: a
//! volume's `pe_start` is its first extent times the extent size plus its PV's `start`.

use core::ffi::{c_char, c_int};
use core::mem::{align_of, offset_of, size_of};

use vhd_cli::lvm::{PhysicalVolume, Volume, VolumeGroup};

use crate::cmem::{c_array, c_free};
use crate::ffi::{boundary, c_str, Res};
use crate::types::check_layout;

/// Bytes of each name field, NUL included (`MAX_NAME_SIZE`).
pub const MAX_NAME_SIZE: usize = 256;
/// `lv_segment.type` of a linear segment.
pub const LVM_SEG_TYPE_LINEAR: u8 = 1;
/// `lv_segment.type` of any other segment.
pub const LVM_SEG_TYPE_UNKNOWN: u8 = 2;

/// A logical volume's first segment.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lv_segment {
    /// [`LVM_SEG_TYPE_LINEAR`] or [`LVM_SEG_TYPE_UNKNOWN`].
    pub r#type: u8,
    /// The physical volume it lies on (empty for a segment without one).
    pub device: [c_char; MAX_NAME_SIZE],
    /// Byte offset of the segment on `device`.
    pub pe_start: u64,
    /// Size of the segment in bytes.
    pub pe_size: u64,
}

/// A logical volume.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lv {
    /// Its name.
    pub name: [c_char; MAX_NAME_SIZE],
    /// Its size in bytes.
    pub size: u64,
    /// How many segments it has.
    pub segments: u32,
    /// Where its data starts.
    pub first_segment: lv_segment,
}

/// A physical volume.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pv {
    /// Its device.
    pub name: [c_char; MAX_NAME_SIZE],
    /// Byte offset of its first extent.
    pub start: u64,
}

/// A scanned volume group; `lvm_free_vg` releases its arrays.
#[repr(C)]
pub struct vg {
    /// Its name.
    pub name: [c_char; MAX_NAME_SIZE],
    /// Bytes per extent.
    pub extent_size: u64,
    /// Entries in `pvs`.
    pub pv_cnt: c_int,
    /// The physical volumes (calloc'd).
    pub pvs: *mut pv,
    /// Entries in `lvs`.
    pub lv_cnt: c_int,
    /// The logical volumes (calloc'd).
    pub lvs: *mut lv,
}

check_layout!(lv_segment, size 280, align 8; r#type @ 0, device @ 1, pe_start @ 264, pe_size @ 272);
check_layout!(lv, size 552, align 8; name @ 0, size @ 256, segments @ 264, first_segment @ 272);
check_layout!(pv, size 264, align 8; name @ 0, start @ 256);
check_layout!(vg, size 296, align 8;
    name @ 0, extent_size @ 256, pv_cnt @ 264, pvs @ 272, lv_cnt @ 280, lvs @ 288,
);

/// `s` as a NUL-terminated name field; `-ENAMETOOLONG` if it does not fit.
fn name_field(s: &str) -> Res<[c_char; MAX_NAME_SIZE]> {
    let mut out = [0 as c_char; MAX_NAME_SIZE];
    if s.len() >= MAX_NAME_SIZE {
        return Err(-libc::ENAMETOOLONG);
    }
    for (o, &b) in out.iter_mut().zip(s.as_bytes()) {
        *o = b as c_char;
    }
    Ok(out)
}

fn count(n: usize) -> Res<c_int> {
    c_int::try_from(n).map_err(|_| -libc::EINVAL)
}

fn fill_pv(p: &PhysicalVolume, out: &mut pv) -> Res<()> {
    out.name = name_field(&p.name)?;
    out.start = p.pe_start;
    Ok(())
}

fn fill_lv(v: &Volume, out: &mut lv) -> Res<()> {
    out.name = name_field(&v.name)?;
    out.size = v.size;
    out.segments = v.segments;
    let seg = &mut out.first_segment;
    seg.r#type = if v.linear {
        LVM_SEG_TYPE_LINEAR
    } else {
        LVM_SEG_TYPE_UNKNOWN
    };
    seg.device = name_field(&v.device)?;
    seg.pe_start = v.start;
    seg.pe_size = v.seg_size;
    Ok(())
}

/// `items` converted into a new `calloc`'d array. Fields are assigned one by one, so
/// the padding keeps calloc's zeros, as blktap's arrays do.
fn c_copy<S, T>(items: &[S], fill: impl Fn(&S, &mut T) -> Res<()>) -> Res<*mut T> {
    let p = c_array::<T>(items.len())?;
    // SAFETY: `p` holds `items.len()` zeroed `T`s, and all-zero bytes are a valid `T`
    // for the plain-data structs used here; nothing else refers to the array yet.
    let out = unsafe { core::slice::from_raw_parts_mut(p, items.len()) };
    for (item, o) in items.iter().zip(out) {
        if let Err(e) = fill(item, o) {
            c_free(p);
            return Err(e);
        }
    }
    Ok(p)
}

/// Fills the zeroed `*out` with `group`; its arrays are the caller's to free.
fn fill_vg(group: &VolumeGroup, out: &mut vg) -> Res<()> {
    let (pv_cnt, lv_cnt) = (count(group.pvs.len())?, count(group.volumes.len())?);
    let name = name_field(&group.name)?;
    let pvs = c_copy(&group.pvs, fill_pv)?;
    let lvs = c_copy(&group.volumes, fill_lv).inspect_err(|_| c_free(pvs))?;
    out.name = name;
    out.extent_size = group.extent_size;
    out.pv_cnt = pv_cnt;
    out.pvs = pvs;
    out.lv_cnt = lv_cnt;
    out.lvs = lvs;
    Ok(())
}

/// Sets every byte of `*vg` to zero, padding included, as blktap does before a scan,
/// after a failure and when freeing.
///
/// # Safety
/// `vg` must point to a writable `struct vg` that owns nothing.
unsafe fn zero(vg: *mut vg) {
    // SAFETY: writable (caller's contract); all-zero bytes are a valid `struct vg`.
    unsafe { core::ptr::write_bytes(vg, 0, 1) };
}

/// Scans volume group `vg_name` into `*vg`: its extent size, its physical volumes and
/// the first segment of each logical volume. 0, or a negative errno with `*vg` zeroed:
/// `-EINVAL` for a group LVM does not list (or a name too long to be one, or null
/// arguments), `-EEXIST` for a PV listed twice, `-ENAMETOOLONG` for a PV or LV name that
/// does not fit, `-ENOMEM`. Release the result with `lvm_free_vg`.
///
/// # Safety
/// `vg_name` must be null or a string, `vg` null or a writable `struct vg`.
#[no_mangle]
pub unsafe extern "C" fn lvm_scan_vg(vg_name: *const c_char, vg: *mut vg) -> c_int {
    boundary!({
        if vg.is_null() {
            return Err(-libc::EINVAL);
        }
        // SAFETY: non-null and writable (caller's contract); what it held is not ours.
        unsafe { zero(vg) };
        // SAFETY: null or a string (caller's contract).
        let name = unsafe { c_str(vg_name) }?;
        // blktap compares the name with what `vgs` prints into a 256-byte field: a
        // longer name (or one that is not text) never matches.
        let name = name.to_str().map_err(|_| -libc::EINVAL)?;
        if name.len() >= MAX_NAME_SIZE {
            return Err(-libc::EINVAL);
        }
        let group = VolumeGroup::scan(name)?;
        // SAFETY: as above, and now zeroed.
        fill_vg(&group, unsafe { &mut *vg })
    })
}

/// Releases what `lvm_scan_vg` allocated and zeroes `*vg`; null is ignored.
///
/// # Safety
/// `vg` must be null or a `struct vg` that `lvm_scan_vg` filled (or zeroed) and that
/// was not freed since.
#[no_mangle]
pub unsafe extern "C" fn lvm_free_vg(vg: *mut vg) {
    boundary!(on_panic = (), {
        // SAFETY: null or a valid, writable `struct vg` (caller's contract).
        if let Some(v) = unsafe { vg.as_mut() } {
            c_free(v.lvs);
            c_free(v.pvs);
            // SAFETY: the arrays it owned are released.
            unsafe { zero(v) };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed() -> vg {
        // SAFETY: all-zero bytes are a valid `struct vg` (no arrays).
        unsafe { core::mem::zeroed() }
    }

    fn text(f: &[c_char]) -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_group_becomes_c_arrays_that_free_releases() {
        let group = VolumeGroup {
            name: "vg0".into(),
            extent_size: 4 << 20,
            pvs: vec![PhysicalVolume {
                name: "/dev/loop1".into(),
                pe_start: 1 << 20,
            }],
            volumes: vec![
                Volume {
                    name: "a".into(),
                    size: 12 << 20,
                    segments: 2,
                    linear: true,
                    device: "/dev/loop1".into(),
                    start: (1 << 20) + 3 * (4 << 20),
                    seg_size: 8 << 20,
                },
                Volume {
                    name: "z".into(),
                    size: 4 << 20,
                    segments: 1,
                    linear: false,
                    device: String::new(),
                    start: 0,
                    seg_size: 4 << 20,
                },
            ],
        };
        let mut v = zeroed();
        fill_vg(&group, &mut v).unwrap();
        assert_eq!((text(&v.name), v.extent_size), ("vg0".into(), 4 << 20));
        assert_eq!((v.pv_cnt, v.lv_cnt), (1, 2));
        // SAFETY: the arrays fill_vg made, of pv_cnt and lv_cnt entries.
        let (pvs, lvs) = unsafe {
            (
                core::slice::from_raw_parts(v.pvs, 1),
                core::slice::from_raw_parts(v.lvs, 2),
            )
        };
        assert_eq!(
            (text(&pvs[0].name), pvs[0].start),
            ("/dev/loop1".into(), 1 << 20)
        );
        let s = &lvs[0].first_segment;
        assert_eq!(
            (text(&lvs[0].name), lvs[0].size, lvs[0].segments),
            ("a".into(), 12 << 20, 2)
        );
        assert_eq!(
            (s.r#type, text(&s.device)),
            (LVM_SEG_TYPE_LINEAR, "/dev/loop1".into())
        );
        assert_eq!((s.pe_start, s.pe_size), (13 << 20, 8 << 20));
        let z = &lvs[1].first_segment;
        assert_eq!(
            (z.r#type, text(&z.device), z.pe_start),
            (LVM_SEG_TYPE_UNKNOWN, String::new(), 0)
        );
        // SAFETY: filled by fill_vg, freed once.
        unsafe { lvm_free_vg(&mut v) };
        assert!(v.pvs.is_null() && v.lvs.is_null() && v.pv_cnt == 0 && v.name[0] == 0);
        // SAFETY: null is ignored.
        unsafe { lvm_free_vg(core::ptr::null_mut()) };
    }

    #[test]
    fn names_that_do_not_fit_are_enametoolong() {
        assert!(name_field(&"n".repeat(MAX_NAME_SIZE - 1)).is_ok());
        assert_eq!(
            name_field(&"n".repeat(MAX_NAME_SIZE)).err(),
            Some(-libc::ENAMETOOLONG)
        );
    }

    #[test]
    fn bad_arguments_are_einval_and_leave_the_group_zeroed() {
        let mut v = zeroed();
        v.extent_size = 7;
        // SAFETY: a writable struct vg; the names are strings.
        unsafe {
            assert_eq!(lvm_scan_vg(core::ptr::null(), &mut v), -libc::EINVAL);
            assert_eq!(v.extent_size, 0);
            assert_eq!(
                lvm_scan_vg(c"vg0".as_ptr(), core::ptr::null_mut()),
                -libc::EINVAL
            );
            let long = std::ffi::CString::new("v".repeat(MAX_NAME_SIZE)).unwrap();
            assert_eq!(lvm_scan_vg(long.as_ptr(), &mut v), -libc::EINVAL);
        }
    }
}
