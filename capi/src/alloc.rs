//! Memory the library hands out or keeps for direct I/O.
//!
//! Two kinds: [`AlignedBuf`], owned by Rust, for the engine's metadata buffers and the
//! bounce buffer of `O_DIRECT` I/O; and memory given to C through a pointer (the BAT,
//! the batmap, bitmaps, blocks, strings), which comes from `malloc`/`posix_memalign` so
//! that the caller's `free()` is right.

use core::ffi::{c_char, c_int, c_void};
use core::ptr::NonNull;
use std::alloc::{alloc_zeroed, dealloc, Layout};

use crate::consts::VHD_SECTOR_SIZE;

/// Alignment of every buffer used for I/O: a page, which also satisfies `O_DIRECT` on
/// devices with 4 KiB logical sectors.
pub(crate) const IO_ALIGN: usize = 4096;

/// A zeroed, page-aligned heap buffer of fixed length.
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain owned memory, like a `Box<[u8]>`.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// `len` zero bytes, or `-ENOMEM`.
    pub(crate) fn zeroed(len: usize) -> Result<Self, c_int> {
        if len == 0 {
            return Ok(Self::default());
        }
        let layout = Layout::from_size_align(len, IO_ALIGN).map_err(|_| -libc::ENOMEM)?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        NonNull::new(ptr)
            .map(|ptr| AlignedBuf { ptr, len })
            .ok_or(-libc::ENOMEM)
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Default for AlignedBuf {
    /// An empty buffer (no allocation).
    fn default() -> Self {
        AlignedBuf {
            ptr: NonNull::dangling(),
            len: 0,
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: allocated in `zeroed` with exactly this layout, freed once.
        unsafe {
            dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(self.len, IO_ALIGN),
            )
        }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` holds `len` initialized bytes (dangling and 0 when empty).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_ref`, and `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

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

/// Releases memory from [`c_aligned`], [`c_string`] or a C client's `malloc`; null is
/// ignored.
pub(crate) fn c_free<T>(p: *mut T) {
    // SAFETY: every pointer passed here came from malloc/posix_memalign (ours or the
    // client's, as the reference's structs hold) and is not used afterwards.
    unsafe { libc::free(p.cast()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers() {
        let mut b = AlignedBuf::zeroed(10_000).unwrap();
        assert_eq!(b.len(), 10_000);
        assert_eq!(b.as_ref().as_ptr() as usize % IO_ALIGN, 0);
        assert!(b.as_ref().iter().all(|&x| x == 0));
        b.as_mut()[9_999] = 7;
        assert_eq!(b.as_ref()[9_999], 7);
        assert!(AlignedBuf::default().as_ref().is_empty());
        let p = c_aligned(1024).unwrap();
        assert_eq!(p as usize % 512, 0);
        c_free(p);
        let s = c_string(b"abc").unwrap();
        // SAFETY: NUL-terminated by c_string.
        assert_eq!(unsafe { core::ffi::CStr::from_ptr(s) }.to_bytes(), b"abc");
        c_free(s);
    }
}
