//! Memory handed to C through a pointer (the BAT, the batmap, bitmaps, blocks, strings):
//! it comes from `malloc`/`posix_memalign`, so that the caller's `free()` is right.
//! (Buffers the library keeps for itself are vhd-std's `AlignedBuf`.)

use core::ffi::{c_char, c_int, c_void};

use crate::consts::VHD_SECTOR_SIZE;

/// `len` zeroed bytes (at least one) of sector-aligned memory from `posix_memalign`; the
/// caller releases them with `free()`.
pub(crate) fn c_aligned(len: usize) -> Result<*mut u8, c_int> {
    let mut p: *mut c_void = core::ptr::null_mut();
    // SAFETY: `p` is a valid out-pointer; the alignment is a power of two and a multiple
    // of the pointer size.
    let err = unsafe { libc::posix_memalign(&mut p, VHD_SECTOR_SIZE as usize, len.max(1)) };
    if err != 0 || p.is_null() {
        return Err(-libc::ENOMEM);
    }
    // SAFETY: `p` has `len.max(1)` writable bytes.
    unsafe { core::ptr::write_bytes(p.cast::<u8>(), 0, len.max(1)) };
    Ok(p.cast())
}

/// `bytes` and a terminating NUL in memory from `malloc` (released with `free()`).
pub(crate) fn c_string(bytes: &[u8]) -> Result<*mut c_char, c_int> {
    // SAFETY: plain allocation of a positive size.
    let p = unsafe { libc::malloc(bytes.len() + 1) }.cast::<u8>();
    if p.is_null() {
        return Err(-libc::ENOMEM);
    }
    // SAFETY: `p` has `len + 1` writable bytes, disjoint from `bytes`.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        p.add(bytes.len()).write(0);
    }
    Ok(p.cast())
}

/// `n` zeroed `T`s (room for at least one) from `calloc`, released with `free()`: arrays
/// a C caller owns, such as `struct vg`'s volumes.
#[cfg(feature = "blktap3")]
pub(crate) fn c_array<T>(n: usize) -> Result<*mut T, c_int> {
    // SAFETY: calloc checks `n * size` for overflow and returns null on failure.
    let p = unsafe { libc::calloc(n.max(1), core::mem::size_of::<T>()) };
    if p.is_null() {
        return Err(-libc::ENOMEM);
    }
    Ok(p.cast())
}

/// Releases memory from [`c_aligned`], [`c_string`], `c_array` or a C client's
/// `malloc`; null is ignored.
pub(crate) fn c_free<T>(p: *mut T) {
    // SAFETY: every pointer passed here came from malloc/posix_memalign (ours or the
    // client's, as the reference's structs hold) and is not used afterwards.
    unsafe { libc::free(p.cast()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_memory() {
        let p = c_aligned(1024).unwrap();
        assert_eq!(p as usize % 512, 0);
        c_free(p);
        let s = c_string(b"abc").unwrap();
        // SAFETY: NUL-terminated by c_string.
        assert_eq!(unsafe { core::ffi::CStr::from_ptr(s) }.to_bytes(), b"abc");
        c_free(s);
    }

    #[cfg(feature = "blktap3")]
    #[test]
    fn c_arrays() {
        let a = c_array::<u64>(3).unwrap();
        // SAFETY: three zeroed u64 from calloc.
        assert_eq!(unsafe { core::slice::from_raw_parts(a, 3) }, [0, 0, 0]);
        c_free(a);
        assert_eq!(c_array::<u64>(usize::MAX).err(), Some(-libc::ENOMEM));
    }
}
