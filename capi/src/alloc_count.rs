//! Test-only global allocator that counts the allocations of the current thread, to
//! show that the data path allocates nothing once warmed up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialized
// thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread so far.
pub(crate) fn allocations() -> u64 {
    COUNT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::allocations;
    use crate::consts::{HD_TYPE_DYNAMIC, VHD_OPEN_RDONLY, VHD_OPEN_RDWR};
    use crate::create::{vhd_create, vhd_snapshot};
    use crate::io::{vhd_io_read, vhd_io_write};
    use crate::open::{vhd_close, vhd_open};
    use crate::types::vhd_context_t;
    use core::ffi::c_char;
    use std::ffi::CString;

    fn path(dir: &std::path::Path, name: &str) -> CString {
        CString::new(dir.join(name).to_str().unwrap()).unwrap()
    }

    #[test]
    fn data_io_does_not_allocate_once_warm() {
        let dir = std::env::temp_dir().join(format!("vhd-capi-alloc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (base, snap) = (path(&dir, "base.vhd"), path(&dir, "snap.vhd"));
        let mut buf = vec![0x5au8; 128 * 512 + 4096];
        let mut ctx = vhd_context_t::zeroed();
        // SAFETY: valid strings, context and buffers throughout.
        unsafe {
            assert_eq!(
                vhd_create(base.as_ptr(), 64 << 20, HD_TYPE_DYNAMIC as i32, 0),
                0
            );
            let p = buf.as_mut_ptr().cast::<c_char>();
            // A page-aligned buffer: O_DIRECT reads go straight into it, and several at once.
            let a = p.add(4096 - buf.as_ptr() as usize % 4096);
            // The parent holds data where the reads below mix its sectors with the
            // child's, so that those reads go to both files in one batch.
            assert_eq!(vhd_open(&mut ctx, base.as_ptr(), VHD_OPEN_RDWR), 0);
            for i in 0..21u64 {
                assert_eq!(vhd_io_write(&mut ctx, p, i * 4096, 64), 0);
                assert_eq!(vhd_io_write(&mut ctx, p, i * 4096 + 64, 64), 0);
            }
            vhd_close(&mut ctx);
            assert_eq!(vhd_snapshot(snap.as_ptr(), 0, base.as_ptr(), 0), 0);
            assert_eq!(vhd_open(&mut ctx, snap.as_ptr(), VHD_OPEN_RDWR), 0);
            // Warm up: the BAT, batmap and parents are loaded by the first I/O, the
            // thread's io_uring by the first read of two files at once.
            assert_eq!(vhd_io_write(&mut ctx, p, 0, 8), 0);
            assert_eq!(vhd_io_write(&mut ctx, p, 20, 8), 0);
            assert_eq!(vhd_io_read(&mut ctx, p, 4096, 8), 0);
            let batches = vhd_sys::uring::batches();
            assert_eq!(vhd_io_read(&mut ctx, a, 0, 100), 0);
            assert_eq!(
                vhd_sys::uring::batches() > batches,
                vhd_sys::uring::available()
            );
            let before = allocations();
            for i in 0..20u64 {
                // New blocks, allocated blocks, aligned and unaligned buffers, reads
                // through the parent.
                let sec = i * 4096 + 3;
                assert_eq!(vhd_io_write(&mut ctx, p, sec, 64), 0);
                assert_eq!(vhd_io_write(&mut ctx, p.add(1), sec + 70, 8), 0);
                assert_eq!(vhd_io_read(&mut ctx, p, sec, 64), 0);
                assert_eq!(vhd_io_read(&mut ctx, p.add(1), sec + 100, 16), 0);
                assert_eq!(vhd_io_read(&mut ctx, a, sec - 3, 100), 0);
            }
            assert_eq!(allocations() - before, 0, "the data path allocated");
            vhd_close(&mut ctx);
            // The counter does see this thread's allocations: an open makes some.
            let before = allocations();
            assert_eq!(vhd_open(&mut ctx, base.as_ptr(), VHD_OPEN_RDONLY), 0);
            assert!(allocations() > before);
            vhd_close(&mut ctx);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
