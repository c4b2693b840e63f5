//! Allocating a dynamic disk's blocks without writing their data (blktap3's
//! `vhd-util fill -b`): each unallocated block of a range is built at the end of data
//! with a full bitmap, as a write would build it, but no data is written. Its sectors
//! lie past the old end of the image, so they read as zeros, the content is unchanged,
//! and later writes land in place.
//!
//! Unlike blktap3, blocks already allocated are left alone (blktap3 points their
//! entries at new, empty blocks, losing their data) and the footer is moved to the new
//! end (blktap3 writes none, leaving a file `check` rejects). The order is the write
//! path's: new end footer → flush → bitmaps → flush → BAT → flush → batmap bits.

use crate::bat::UNUSED;
use crate::disk::Disk;
use crate::error::Error;
use crate::footer::DiskType;
use crate::io::Io;

/// At most this many blocks are built per footer move and BAT write, so that a crash
/// loses at most this much unreferenced space.
const RUN: u32 = 64;

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Allocates, without writing data, every unallocated block of `first..=last` (the
    /// range cut to the blocks the virtual size covers); returns how many. A dynamic
    /// disk only: a differencing disk's full bitmap would hide its parent's data
    /// ([`Error::WrongDiskType`]). [`Error::NoSpace`] once a block would start past
    /// 2^32 sectors; the blocks built before stay.
    pub fn preallocate(&mut self, first: u32, last: u32) -> Result<u32, Error<I::Error>> {
        self.require_writable()?;
        if self.disk_type() != Some(DiskType::Dynamic) {
            return Err(Error::WrongDiskType);
        }
        let covered = crate::allocation::covered_blocks(self)?;
        let last = last.min(covered.saturating_sub(1));
        if covered == 0 || first > last {
            return Ok(0);
        }
        let mut built = 0;
        let mut b = first;
        while b <= last {
            if self.bat.raw(b) != Some(UNUSED) {
                b += 1;
                continue;
            }
            let mut n = 1;
            while n < RUN && b + n <= last && self.bat.raw(b + n) == Some(UNUSED) {
                n += 1;
            }
            self.allocate(b, n, 0, &[])?;
            built += n;
            b += n;
        }
        Ok(built)
    }
}
