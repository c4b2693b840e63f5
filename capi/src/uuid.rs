//! The `vhd_uuid_*` helpers over `vhd_uuid_t` (libuuid's 16-byte `uuid_t`), with
//! libuuid's text form: 36 characters, lower-case hex, hyphenated.

use core::cmp::Ordering;
use core::ffi::{c_char, c_int, CStr};

use ::uuid::Uuid;
use libc::size_t;

use crate::ffi::boundary;
use crate::types::vhd_uuid_t;

/// Length of the text form, without the NUL.
const TEXT_LEN: usize = 36;

/// 1 if `uuid` is all zeros (the nil UUID, which marks a raw parent), else 0;
/// `-EINVAL` (non-zero) for a null pointer.
///
/// # Safety
/// `uuid` must be null or point to 16 readable bytes.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_uuid_is_nil(uuid: *mut vhd_uuid_t) -> c_int {
    boundary!(on_panic = -libc::EINVAL, {
        // SAFETY: null or 16 readable bytes (caller's contract); `as_ref` handles null.
        match unsafe { uuid.as_ref() } {
            Some(u) => c_int::from(u.iter().all(|&b| b == 0)),
            None => -libc::EINVAL,
        }
    })
}

/// Fills `uuid` with a new random (version 4) UUID. Null is ignored.
///
/// # Safety
/// `uuid` must be null or point to 16 writable bytes.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_uuid_generate(uuid: *mut vhd_uuid_t) {
    boundary!(on_panic = (), {
        if uuid.is_null() {
            return;
        }
        // The uuid crate's version 4 (the kernel's random numbers), as vhd-std's create.
        let bytes = Uuid::new_v4().into_bytes();
        // SAFETY: non-null, so 16 writable bytes (caller's contract).
        unsafe { uuid.write(bytes) };
    })
}

/// Writes the text form of `uuid` (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case)
/// and a NUL to `out`, truncated to `size - 1` characters if `size` is below 37.
/// Nothing is written if a pointer is null or `size` is 0.
///
/// # Safety
/// `uuid` must be null or point to 16 readable bytes; `out` must be null or valid for
/// writes of `size` bytes.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_uuid_to_string(uuid: *mut vhd_uuid_t, out: *mut c_char, size: size_t) {
    boundary!(on_panic = (), {
        if out.is_null() || size == 0 {
            return;
        }
        // SAFETY: null or 16 readable bytes (caller's contract); `as_ref` handles null.
        let Some(u) = (unsafe { uuid.as_ref() }) else {
            return;
        };
        let mut text = [0u8; TEXT_LEN];
        Uuid::from_bytes(*u).hyphenated().encode_lower(&mut text);
        let n = TEXT_LEN.min(size - 1);
        // SAFETY: `out` has `size` writable bytes and `n + 1 <= size`.
        unsafe {
            core::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), out, n);
            out.add(n).write(0);
        }
    })
}

/// Parses the text form at `in` (36 characters, either case, as libuuid's `uuid_parse`
/// accepts) into `uuid`. On malformed input, or a null pointer, `uuid` is left as it was.
///
/// # Safety
/// `uuid` must be null or point to 16 writable bytes; `in` must be null or a
/// NUL-terminated string.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_uuid_from_string(uuid: *mut vhd_uuid_t, r#in: *const c_char) {
    boundary!(on_panic = (), {
        if uuid.is_null() || r#in.is_null() {
            return;
        }
        // SAFETY: non-null, so NUL-terminated (caller's contract).
        let text = unsafe { CStr::from_ptr(r#in) }.to_bytes();
        if text.len() != TEXT_LEN {
            return;
        }
        if let Ok(parsed) = Uuid::try_parse_ascii(text) {
            // SAFETY: non-null, so 16 writable bytes (caller's contract).
            unsafe { uuid.write(parsed.into_bytes()) };
        }
    })
}

/// Copies `src` to `dst`. Nothing happens if either is null.
///
/// # Safety
/// Each pointer must be null or point to 16 bytes (readable for `src`, writable for
/// `dst`); they may be equal.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_uuid_copy(dst: *mut vhd_uuid_t, src: *mut vhd_uuid_t) {
    boundary!(on_panic = (), {
        if dst.is_null() || src.is_null() {
            return;
        }
        // SAFETY: both valid for 16 bytes (caller's contract); `copy` allows overlap.
        unsafe { core::ptr::copy(src, dst, 1) };
    })
}

/// Sets `uuid` to the nil UUID. Null is ignored.
///
/// # Safety
/// `uuid` must be null or point to 16 writable bytes.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_uuid_clear(uuid: *mut vhd_uuid_t) {
    boundary!(on_panic = (), {
        if !uuid.is_null() {
            // SAFETY: non-null, so 16 writable bytes (caller's contract).
            unsafe { uuid.write([0; 16]) };
        }
    })
}

/// Orders two UUIDs as libuuid's `uuid_compare` does (byte-wise, unsigned): -1, 0 or 1.
/// `-EINVAL` if either pointer is null.
///
/// # Safety
/// Each pointer must be null or point to 16 readable bytes.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_uuid_compare(a: *mut vhd_uuid_t, b: *mut vhd_uuid_t) -> c_int {
    boundary!(on_panic = -libc::EINVAL, {
        // SAFETY: null or 16 readable bytes each (caller's contract); `as_ref` handles null.
        let (Some(a), Some(b)) = (unsafe { a.as_ref() }, unsafe { b.as_ref() }) else {
            return -libc::EINVAL;
        };
        match a.cmp(b) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(u: &mut vhd_uuid_t) -> String {
        let mut out = [0 as c_char; 37];
        // SAFETY: valid UUID, 37 writable bytes.
        unsafe { vhd_uuid_to_string(u, out.as_mut_ptr(), out.len()) };
        // SAFETY: NUL-terminated above.
        unsafe { CStr::from_ptr(out.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn round_trip() {
        let mut a: vhd_uuid_t = [0; 16];
        // SAFETY: valid pointers throughout.
        unsafe {
            assert_eq!(vhd_uuid_is_nil(&mut a), 1);
            vhd_uuid_generate(&mut a);
            assert_eq!(vhd_uuid_is_nil(&mut a), 0);
            assert_eq!(a[6] >> 4, 4, "version 4");
            assert_eq!(a[8] >> 6, 2, "RFC 4122 variant");
            let s = text(&mut a);
            assert_eq!(s.len(), 36);
            assert_eq!(s, s.to_lowercase());
            let mut b: vhd_uuid_t = [0; 16];
            let c = std::ffi::CString::new(s.to_uppercase()).unwrap();
            vhd_uuid_from_string(&mut b, c.as_ptr());
            assert_eq!(a, b);
            assert_eq!(vhd_uuid_compare(&mut a, &mut b), 0);
            vhd_uuid_clear(&mut b);
            assert_eq!(vhd_uuid_compare(&mut b, &mut a), -1);
            vhd_uuid_copy(&mut b, &mut a);
            assert_eq!(a, b);
            vhd_uuid_from_string(&mut b, c"not-a-uuid".as_ptr());
            assert_eq!(a, b, "malformed input leaves the UUID alone");
            assert_eq!(
                vhd_uuid_compare(core::ptr::null_mut(), &mut a),
                -libc::EINVAL
            );
        }
    }

    #[test]
    fn to_string_truncates_to_size() {
        let mut u: vhd_uuid_t = [0xab; 16];
        let mut out = [0x55 as c_char; 8];
        // SAFETY: valid UUID, 8 writable bytes.
        unsafe { vhd_uuid_to_string(&mut u, out.as_mut_ptr(), out.len()) };
        // SAFETY: NUL-terminated above.
        let s = unsafe { CStr::from_ptr(out.as_ptr()) };
        assert_eq!(s.to_bytes(), b"abababa");
        assert_eq!(text(&mut u), "abababab-abab-abab-abab-abababababab");
    }

    #[test]
    fn generated_uuids_differ() {
        let (mut a, mut b): (vhd_uuid_t, vhd_uuid_t) = ([0; 16], [0; 16]);
        // SAFETY: 16 writable bytes each.
        unsafe { (vhd_uuid_generate(&mut a), vhd_uuid_generate(&mut b)) };
        assert_ne!(a, b);
    }
}
