//! Raw and virtual I/O in blktap3's way: `vhd_read`/`vhd_write` work at the context's
//! own file position (`ctx->offset`, which `vhd_seek` sets and `vhd_position` returns
//! without a system call); byte-granular virtual reads and writes; a block's data at a
//! sector; full bitmaps for allocated blocks; and allocation of blocks without data
//! (`vhd-util fill -b`). All go through the blktap2 functions of the same engine.

use core::ffi::{c_char, c_int, c_void};

use libc::{off_t, size_t};
use vhd_nostd::bat::UNUSED;
use vhd_nostd::SECTOR_SIZE;

use super::status;
use crate::ffi::{boundary, context, Res};
use crate::types::vhd_context_t;

const SECTOR: u64 = SECTOR_SIZE as u64;

/// The file position of `ctx` (`ctx->offset`); -1 for a null context.
///
/// # Safety
/// `ctx` must be null or an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_position(ctx: *mut vhd_context_t) -> off_t {
    boundary!(on_panic = -1, {
        // SAFETY: caller's contract.
        match unsafe { context(ctx) } {
            Ok(ctx) => ctx.offset,
            Err(_) => -1,
        }
    })
}

/// Moves the file position of `ctx` as `lseek(ctx->fd, offset, whence)` and records the
/// result in `ctx->offset`; the negative `errno` on failure.
///
/// # Safety
/// `ctx` must be an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_seek(ctx: *mut vhd_context_t, offset: off_t, whence: c_int) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        status(unsafe { crate::io::vhd_seek(ctx, offset, whence) })?;
        // SAFETY: caller's contract (the seek succeeded, so `ctx` is non-null).
        let c = unsafe { context(ctx)? };
        // SAFETY: plain syscall.
        c.offset = unsafe { libc::lseek(c.fd, 0, libc::SEEK_CUR) };
        Ok(())
    })
}

/// Runs blktap2's `vhd_read`/`vhd_write` at `ctx->offset` and advances it by `size`.
///
/// # Safety
/// `ctx` must be an open context and `buf` hold `size` bytes.
unsafe fn at_offset(
    ctx: *mut vhd_context_t,
    buf: *mut c_void,
    size: size_t,
    f: unsafe extern "C" fn(*mut vhd_context_t, *mut c_void, size_t) -> c_int,
) -> Res<()> {
    // SAFETY: caller's contract.
    let c = unsafe { context(ctx)? };
    // SAFETY: plain syscall; blktap2's functions work at the descriptor's position.
    if unsafe { libc::lseek(c.fd, c.offset, libc::SEEK_SET) } < 0 {
        return Err(crate::ffi::last_errno());
    }
    // SAFETY: caller's contract.
    status(unsafe { f(ctx, buf, size) })?;
    c.offset = c
        .offset
        .checked_add(off_t::try_from(size).map_err(|_| -libc::EINVAL)?)
        .ok_or(-libc::EINVAL)?;
    Ok(())
}

/// Reads exactly `size` bytes at `ctx->offset` into `buf` and advances the offset;
/// `-EIO` for a short read. Any buffer alignment works.
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn vhd_read(
    ctx: *mut vhd_context_t,
    buf: *mut c_void,
    size: size_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        unsafe { at_offset(ctx, buf, size, crate::io::vhd_read) }
    })
}

/// Writes exactly `size` bytes from `buf` at `ctx->offset` and advances the offset.
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn vhd_write(
    ctx: *mut vhd_context_t,
    buf: *mut c_void,
    size: size_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        unsafe { at_offset(ctx, buf, size, crate::io::vhd_write) }
    })
}

/// Loads the BAT of `ctx` and returns entry `block`: `-ERANGE` past the BAT.
fn bat_entry(ctx: *mut vhd_context_t, block: u64) -> Res<u32> {
    // SAFETY: an open context (the callers' contract).
    status(unsafe { crate::bat::vhd_get_bat(ctx) })?;
    // SAFETY: as above; the BAT is loaded.
    let c = unsafe { &*ctx };
    if block >= u64::from(c.bat.entries) {
        return Err(-libc::ERANGE);
    }
    // SAFETY: `bat` holds `entries` entries and `block` is below that.
    Ok(unsafe { *c.bat.bat.add(block as usize) })
}

/// Reads `size` bytes of block `block`'s data, starting at its sector `from_sec`, into
/// `buf`. `-ERANGE` past the BAT or past the block, `-EINVAL` if the block is not
/// allocated.
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_at(
    ctx: *mut vhd_context_t,
    block: u64,
    from_sec: u32,
    size: size_t,
    buf: *mut c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let c = unsafe { context(ctx)? };
        let entry = bat_entry(ctx, block)?;
        if entry == UNUSED {
            return Err(-libc::EINVAL);
        }
        let end = (u64::from(from_sec) * SECTOR).checked_add(size as u64);
        if end.is_none_or(|e| e > u64::from(c.spb) * SECTOR) {
            return Err(-libc::ERANGE);
        }
        let off = (u64::from(entry) + u64::from(c.bm_secs) + u64::from(from_sec)) * SECTOR;
        let off = off_t::try_from(off).map_err(|_| -libc::ERANGE)?;
        // SAFETY: an open context.
        status(unsafe { vhd_seek(ctx, off, libc::SEEK_SET) })?;
        // SAFETY: `buf` holds `size` bytes (caller's contract).
        status(unsafe { vhd_read(ctx, buf.cast(), size) })
    })
}

/// One piece of a byte range: `len` bytes at byte `skip` of virtual sector `sector`
/// (and the sectors after it), at byte `at` of the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    sector: u64,
    skip: usize,
    len: usize,
    at: usize,
}

impl Piece {
    /// The number of sectors when the piece is whole sectors, else `None` (a partial
    /// sector, staged through a sector on the stack).
    fn whole_sectors(&self) -> Option<u32> {
        (self.skip == 0 && self.len.is_multiple_of(SECTOR_SIZE))
            .then_some((self.len / SECTOR_SIZE) as u32)
    }
}

/// Splits the byte range `off..off + size` into a partial first sector, whole sectors
/// and a partial last sector, in order.
fn pieces(off: u64, size: u64) -> impl Iterator<Item = Piece> {
    let end = off + size;
    let head = (size > 0 && (!off.is_multiple_of(SECTOR) || size < SECTOR)).then(|| Piece {
        sector: off / SECTOR,
        skip: (off % SECTOR) as usize,
        len: (SECTOR - off % SECTOR).min(size) as usize,
        at: 0,
    });
    let head_len = head.map_or(0, |p| p.len);
    let body_start = off + head_len as u64;
    let body_secs = (end - body_start.min(end)) / SECTOR;
    let body = (body_secs > 0).then_some(Piece {
        sector: body_start / SECTOR,
        skip: 0,
        len: (body_secs * SECTOR) as usize,
        at: head_len,
    });
    let tail_start = body_start + body_secs * SECTOR;
    let tail = (tail_start < end).then_some(Piece {
        sector: tail_start / SECTOR,
        skip: 0,
        len: (end - tail_start) as usize,
        at: (tail_start - off) as usize,
    });
    head.into_iter().chain(body).chain(tail)
}

/// Checks a byte range against the virtual size of `ctx`.
fn byte_range(ctx: *mut vhd_context_t, buf: *const c_void, size: size_t, off: u64) -> Res<()> {
    // SAFETY: an open context (the callers' contract).
    let c = unsafe { context(ctx)? };
    let end = off.checked_add(size as u64).ok_or(-libc::ERANGE)?;
    if end > c.footer.curr_size {
        return Err(-libc::ERANGE);
    }
    if buf.is_null() && size > 0 {
        return Err(-libc::EINVAL);
    }
    Ok(())
}

/// Reads `size` bytes at virtual byte offset `off` into `buf`, through the parent
/// chain as `vhd_io_read` does. `-ERANGE` past the virtual size. Partial sectors go
/// through a sector on the stack; nothing is allocated.
///
/// # Safety
/// `ctx` must be an open context; `buf` must hold `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn vhd_io_read_bytes(
    ctx: *mut vhd_context_t,
    buf: *mut c_void,
    size: size_t,
    off: u64,
) -> c_int {
    boundary!({
        byte_range(ctx, buf, size, off)?;
        let out = buf.cast::<u8>();
        for p in pieces(off, size as u64) {
            // SAFETY: `p.len` bytes of `buf` from `p.at` on (caller's contract).
            let dst = unsafe { out.add(p.at) };
            if let Some(secs) = p.whole_sectors() {
                // SAFETY: an open context; `dst` holds `secs` sectors.
                status(unsafe { crate::io::vhd_io_read(ctx, dst.cast(), p.sector, secs) })?;
            } else {
                let mut sector = [0u8; SECTOR_SIZE];
                // SAFETY: an open context and one local sector.
                status(unsafe {
                    crate::io::vhd_io_read(ctx, sector.as_mut_ptr().cast(), p.sector, 1)
                })?;
                // SAFETY: `dst` holds `p.len` bytes.
                unsafe { core::ptr::copy_nonoverlapping(sector[p.skip..].as_ptr(), dst, p.len) };
            }
        }
        Ok(())
    })
}

/// Writes `size` bytes from `buf` at virtual byte offset `off`, allocating blocks as
/// `vhd_io_write` does; partial sectors are read, modified and written back (through a
/// sector on the stack). `-ERANGE` past the virtual size.
///
/// # Safety
/// `ctx` must be an open context (read-write); `buf` must hold `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn vhd_io_write_bytes(
    ctx: *mut vhd_context_t,
    buf: *mut c_void,
    size: size_t,
    off: u64,
) -> c_int {
    boundary!({
        byte_range(ctx, buf, size, off)?;
        let src = buf.cast::<u8>();
        for p in pieces(off, size as u64) {
            // SAFETY: `p.len` bytes of `buf` from `p.at` on (caller's contract).
            let from = unsafe { src.add(p.at) };
            if let Some(secs) = p.whole_sectors() {
                // SAFETY: an open context; `from` holds `secs` sectors, only read.
                status(unsafe { crate::io::vhd_io_write(ctx, from.cast(), p.sector, secs) })?;
            } else {
                let mut sector = [0u8; SECTOR_SIZE];
                let at = sector.as_mut_ptr().cast();
                // SAFETY: an open context and one local sector.
                status(unsafe { crate::io::vhd_io_read(ctx, at, p.sector, 1) })?;
                // SAFETY: `from` holds `p.len` bytes; the sector has room past `skip`.
                unsafe {
                    core::ptr::copy_nonoverlapping(from, sector[p.skip..].as_mut_ptr(), p.len)
                };
                // SAFETY: an open context and one local sector.
                status(unsafe { crate::io::vhd_io_write(ctx, at, p.sector, 1) })?;
            }
        }
        Ok(())
    })
}

/// A bitmap of `bm_secs` sectors with every bit set.
fn full_bitmap(c: &vhd_context_t) -> Vec<u8> {
    vec![0xFF; c.bm_secs as usize * SECTOR_SIZE]
}

/// Sets every bit of allocated block `block`'s sector bitmap (all its sectors present).
/// `-ERANGE` past the BAT, `-EINVAL` if the block is not allocated.
///
/// # Safety
/// `ctx` must be an open context (read-write).
#[no_mangle]
pub unsafe extern "C" fn vhd_init_bitmap(ctx: *mut vhd_context_t, block: u32) -> c_int {
    boundary!({
        if bat_entry(ctx, u64::from(block))? == UNUSED {
            return Err(-libc::EINVAL);
        }
        // SAFETY: an open context (caller's contract).
        let mut map = full_bitmap(unsafe { &*ctx });
        // SAFETY: an open context; `map` holds `bm_secs` sectors.
        status(unsafe { crate::bitmap::vhd_write_bitmap(ctx, block, map.as_mut_ptr().cast()) })
    })
}

/// [`vhd_init_bitmap`] for every allocated block from `from` to `to` (inclusive);
/// unallocated blocks are skipped.
///
/// # Safety
/// `ctx` must be an open context (read-write).
#[no_mangle]
pub unsafe extern "C" fn vhd_init_bitmaps(ctx: *mut vhd_context_t, from: u32, to: u32) -> c_int {
    boundary!({
        for block in from..=to {
            if bat_entry(ctx, u64::from(block))? != UNUSED {
                // SAFETY: caller's contract.
                status(unsafe { vhd_init_bitmap(ctx, block) })?;
            }
        }
        Ok(())
    })
}

/// Allocates blocks `from` to `to` (inclusive) that are not allocated yet, at the end of
/// data as `vhd_io_write` places blocks (data areas 4 KiB aligned), with full bitmaps
/// and no data: the bitmaps are written first, then the BAT. No footer is written (the
/// file ends at the last bitmap until something rewrites it, as blktap3's `fill -b`).
/// `-EOVERFLOW` if a block would end past sector 2^32 unless `ignore_2tb`; `-ERANGE`
/// past the BAT.
///
/// # Safety
/// `ctx` must be an open context (read-write).
#[no_mangle]
pub unsafe extern "C" fn vhd_io_allocate_blocks_fast(
    ctx: *mut vhd_context_t,
    from: u32,
    to: u32,
    ignore_2tb: bool,
) -> c_int {
    boundary!({
        if from > to {
            return Ok(());
        }
        bat_entry(ctx, u64::from(to))?;
        let mut eod: off_t = 0;
        // SAFETY: an open context and a local out-value.
        status(unsafe { crate::extent::vhd_end_of_data(ctx, &mut eod) })?;
        // SAFETY: an open context whose BAT is loaded (bat_entry).
        let c = unsafe { &mut *ctx };
        let (spb, bm_secs) = (u64::from(c.spb), u64::from(c.bm_secs));
        let mut next = (eod as u64).div_ceil(SECTOR);
        let mut map = full_bitmap(c);
        let mut placed = Vec::new();
        for block in from..=to {
            // SAFETY: `block <= to < entries`.
            if unsafe { *c.bat.bat.add(block as usize) } != UNUSED {
                continue;
            }
            // The data area starts on a 4 KiB (8-sector) boundary.
            let sector = (next + bm_secs).next_multiple_of(8) - bm_secs;
            let end = sector + bm_secs + spb;
            if end > u64::from(u32::MAX) && !ignore_2tb {
                return Err(-libc::EOVERFLOW);
            }
            let entry = u32::try_from(sector).map_err(|_| -libc::EOVERFLOW)?;
            let at = off_t::try_from(sector * SECTOR).map_err(|_| -libc::EOVERFLOW)?;
            // SAFETY: an open context; `map` holds `bm_secs` sectors.
            status(unsafe { vhd_seek(ctx, at, libc::SEEK_SET) })?;
            // SAFETY: as above.
            status(unsafe { vhd_write(ctx, map.as_mut_ptr().cast(), map.len()) })?;
            placed.push((block, entry));
            next = end;
        }
        for (block, entry) in placed {
            // SAFETY: `block < entries`.
            unsafe { *c.bat.bat.add(block as usize) = entry };
        }
        let bat: *mut crate::types::vhd_bat_t = &mut c.bat;
        // SAFETY: an open context and its own loaded BAT.
        status(unsafe { crate::bat::vhd_write_bat(ctx, bat) })
    })
}

#[cfg(test)]
mod tests {
    use super::pieces;

    #[test]
    fn byte_ranges_split_into_partial_and_whole_sectors() {
        let all = |off, size| {
            pieces(off, size)
                .map(|p| (p.sector, p.skip, p.len, p.at))
                .collect::<Vec<_>>()
        };
        assert_eq!(all(0, 0), []);
        assert_eq!(all(0, 1024), [(0, 0, 1024, 0)]);
        assert_eq!(all(10, 5), [(0, 10, 5, 0)]);
        assert_eq!(all(0, 100), [(0, 0, 100, 0)]);
        assert_eq!(
            all(500, 1100),
            [(0, 500, 12, 0), (1, 0, 1024, 12), (3, 0, 64, 1036)]
        );
        assert_eq!(all(512, 600), [(1, 0, 512, 0), (2, 0, 88, 512)]);
        let total: usize = pieces(1000, 3000).map(|p| p.len).sum();
        assert_eq!(total, 3000);
    }
}
