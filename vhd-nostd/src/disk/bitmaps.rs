//! Loading a block's sector bitmap through the bitmap cache.

use core::ops::Range;

use crate::error::Error;
use crate::io::Io;

use super::Disk;

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Loads `block`'s bitmap (its block starts at byte `start`) unless the cache holds
    /// it, and returns where it is in the bitmap buffer.
    pub(crate) fn load_bitmap(
        &mut self,
        block: u32,
        start: u64,
    ) -> Result<Range<usize>, Error<I::Error>> {
        let range = self.bitmaps.range(block);
        if self.bitmaps.holds(self.bitmap.as_ref(), block) {
            return Ok(range);
        }
        self.bitmaps.mark(self.bitmap.as_mut(), block, false);
        self.io
            .read_at(start, &mut self.bitmap.as_mut()[range.clone()])
            .map_err(Error::Io)?;
        self.bitmaps.mark(self.bitmap.as_mut(), block, true);
        Ok(range)
    }

    /// Whether every sector of an allocated `block` is present (bitmap all ones).
    pub(crate) fn block_full(&mut self, block: u32) -> Result<bool, Error<I::Error>> {
        let Some(start) = self.block_extent(block)? else {
            return Ok(false);
        };
        let range = self.load_bitmap(block, start)?;
        let spb = self.sectors_per_block();
        let bm = crate::bitmap::Bitmap::new(&self.bitmap.as_ref()[range], self.bitmap_order());
        Ok(bm.all_set(spb))
    }
}
