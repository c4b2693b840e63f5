//! Writing sectors. A write into an allocated block stores the data, then sets the
//! bitmap bits, then brings the batmap bit in line with the bitmap (set when the block
//! becomes full, cleared where a damaged batmap claimed a block full that is not). A write into an
//! unallocated block first builds the block where nothing refers to it — new footer at
//! the new end, data, bitmap — and only then points the BAT at it, so a crash at any
//! write leaves either the old image or the new one.

use core::ops::Range;

use crate::bat::UNUSED;
use crate::batmap;
use crate::bitmap::Bitmap;
use crate::disk::{Disk, Kind};
use crate::error::{Error, FormatError, Structure};
use crate::footer::DiskType;
use crate::gather::{self, Gather};
use crate::io::Io;
use crate::SECTOR_SIZE;

/// A block's data area starts on this boundary, as blktap places it.
const DATA_ALIGN: u64 = 4096;

/// Writes `len` zero bytes at `off` from a static buffer.
pub(crate) fn write_zeros<I: Io>(
    io: &mut I,
    mut off: u64,
    mut len: u64,
) -> Result<(), Error<I::Error>> {
    while len > 0 {
        let n = len.min(gather::ZEROS.len() as u64);
        io.write_at(off, &gather::ZEROS[..n as usize])
            .map_err(Error::Io)?;
        off += n;
        len -= n;
    }
    Ok(())
}

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Writes whole sectors from `buf` at `sector`, allocating blocks as needed.
    pub fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), Error<I::Error>> {
        self.require_writable()?;
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(Error::Unaligned);
        }
        let count = (buf.len() / SECTOR_SIZE) as u64;
        if sector
            .checked_add(count)
            .is_none_or(|end| end > self.sectors)
        {
            return Err(Error::OutOfRange);
        }
        if self.header.is_none() {
            return self
                .io
                .write_at(sector * SECTOR_SIZE as u64, buf)
                .map_err(Error::Io);
        }
        let spb = u64::from(self.sectors_per_block());
        // Nothing is written when any block of the range shares its storage.
        self.refuse_overlapping(
            (sector / spb) as u32..=((sector + count.max(1) - 1) / spb) as u32,
        )?;
        let mut done = 0u64;
        while done < count {
            let s = sector + done;
            let block = (s / spb) as u32;
            let off = (s % spb) as u32;
            let left = count - done;
            let lo = done as usize * SECTOR_SIZE;
            let n = match self.block_extent(block)? {
                Some(start) => {
                    let n = (spb - u64::from(off)).min(left);
                    let part = &buf[lo..lo + n as usize * SECTOR_SIZE];
                    self.write_allocated(block, start, off, part)?;
                    n
                }
                None => {
                    // Every unallocated block the write reaches from here is built in
                    // one go: one footer move, one BAT write and two flushes in all.
                    let reach = (u64::from(off) + left).div_ceil(spb);
                    let mut blocks = 1u32;
                    while u64::from(blocks) < reach && self.bat.raw(block + blocks) == Some(UNUSED)
                    {
                        blocks += 1;
                    }
                    let n = (u64::from(blocks) * spb - u64::from(off)).min(left);
                    let part = &buf[lo..lo + n as usize * SECTOR_SIZE];
                    self.allocate(block, blocks, off, part)?;
                    n
                }
            };
            done += n;
        }
        Ok(())
    }

    fn bitmap_bytes(&self) -> usize {
        self.bitmap_sectors() as usize * SECTOR_SIZE
    }

    /// Data first, then the bitmap bits (only if they change), then the batmap bit.
    fn write_allocated(
        &mut self,
        block: u32,
        start: u64,
        off: u32,
        data: &[u8],
    ) -> Result<(), Error<I::Error>> {
        let bm = self.bitmap_bytes() as u64;
        let n = (data.len() / SECTOR_SIZE) as u32;
        self.io
            .write_at(start + bm + u64::from(off) * SECTOR_SIZE as u64, data)
            .map_err(Error::Io)?;
        // The bitmap decides what reads see (read.rs), so it is consulted even when the
        // batmap calls the block full: a batmap bit the bitmap disagrees with must not
        // leave these sectors unmarked.
        let range = self.load_bitmap(block, start)?;
        let order = self.bitmap_order();
        if Bitmap::new(&self.bitmap.as_ref()[range.clone()], order).run(off, n) == (true, n) {
            return self.note_if_full(block, range);
        }
        self.io.flush().map_err(Error::Io)?;
        // Drop the claim first so a failed write cannot leave bits we never stored.
        self.bitmaps.mark(self.bitmap.as_mut(), block, false);
        Bitmap::new(&mut self.bitmap.as_mut()[range.clone()], order).set_range(off, n);
        self.io
            .write_at(start, &self.bitmap.as_ref()[range.clone()])
            .map_err(Error::Io)?;
        self.bitmaps.mark(self.bitmap.as_mut(), block, true);
        self.note_if_full(block, range)
    }

    /// Where a block goes when the data so far ends at byte `end`: on the next sector,
    /// placed so that its data area (after the bitmap) starts on [`DATA_ALIGN`].
    fn place_after(&self, end: u64) -> u64 {
        let bm = self.bitmap_bytes() as u64;
        let start = end.div_ceil(SECTOR_SIZE as u64) * SECTOR_SIZE as u64;
        (start + bm).div_ceil(DATA_ALIGN) * DATA_ALIGN - bm
    }

    /// Builds the unallocated blocks `first..first + blocks` one after another at the end
    /// of data, holding `data` from sector `off` of the first, and then links them into
    /// the BAT. Until that one BAT write nothing refers to them, so a crash leaves the
    /// old image (with unreferenced space) or the new one.
    pub(crate) fn allocate(
        &mut self,
        first: u32,
        blocks: u32,
        off: u32,
        data: &[u8],
    ) -> Result<(), Error<I::Error>> {
        if self.end_of_data > self.footer_pos {
            // A block reaches past the footer: the layout is damaged; refuse to build on it.
            return Err(FormatError::invalid(Structure::Image, "end of data").into());
        }
        let span = self.block_span_bytes();
        let first_off = self.place_after(self.footer_pos);
        let mut last_off = first_off;
        for _ in 1..blocks {
            last_off = self.place_after(last_off + span);
        }
        if last_off / SECTOR_SIZE as u64 >= u64::from(crate::bat::UNUSED) {
            return Err(Error::NoSpace);
        }
        let new_footer_pos = last_off + span;
        // 1. The new end footer: the file stays a valid image with the blocks
        // unreferenced. It must be durable before the data: a data write that lands
        // alone would otherwise end the file, and guest data would be taken for the footer.
        self.write_footer_at(new_footer_pos)?;
        self.io.flush().map_err(Error::Io)?;
        // 2. Each block in one write (zeros over the alignment gap, the first block's
        // over the old footer; its bitmap; its data), all before one flush: nothing
        // refers to them yet.
        if let Err(e) = self.build_blocks(first, blocks, off, data, first_off) {
            self.forget_bitmaps(first, blocks);
            return Err(e);
        }
        // 3. Link them: the BAT sectors holding the entries, in one write.
        let mut at = first_off;
        for b in first..first + blocks {
            self.bat.set(b, (at / SECTOR_SIZE as u64) as u32);
            at = self.place_after(at + span);
        }
        if let Err(e) = self.write_bat_entries(first, first + blocks - 1) {
            for b in first..first + blocks {
                self.bat.set(b, crate::bat::UNUSED);
            }
            self.forget_bitmaps(first, blocks);
            return Err(e);
        }
        self.footer_pos = new_footer_pos;
        self.end_of_data = self.end_of_data.max(new_footer_pos);
        // The blocks are linked when this returns: the next allocation's footer move
        // (and anything else that seals the image) comes after the BAT.
        self.io.flush().map_err(Error::Io)?;
        // 4. The batmap bits of the blocks that are full (held until the next flush):
        // all of a dynamic disk's (its unwritten sectors lie beyond the old end of file
        // and read as zeros), a differencing disk's only where the write covered the
        // whole block.
        let spb = self.sectors_per_block();
        let n = (data.len() / SECTOR_SIZE) as u64;
        let mut full_first = first;
        let mut full_last = first + blocks - 1;
        if self.kind != Kind::Vhd(DiskType::Dynamic) {
            if off != 0 || n < u64::from(spb) {
                full_first += 1;
            }
            if !(u64::from(off) + n).is_multiple_of(u64::from(spb)) && full_last >= full_first {
                full_last -= 1;
            }
        }
        if full_first <= full_last {
            self.note_batmap(full_first, full_last, true)?;
        }
        // A partial block's bit must be clear, whatever a damaged batmap said of it.
        if full_first > first {
            self.note_batmap(first, first, false)?;
        }
        let last = first + blocks - 1;
        if full_last < last && last != first {
            self.note_batmap(last, last, false)?;
        }
        Ok(())
    }

    /// Writes the data and bitmaps of the blocks [`Disk::allocate`] is building from
    /// byte `first_off`, keeping each bitmap in the cache. Nothing refers to them yet,
    /// so their order does not matter until the flush at the end; each block is one
    /// write: zeros over the alignment gap before it (over the old footer, for the
    /// first), its bitmap, its data.
    fn build_blocks(
        &mut self,
        first: u32,
        blocks: u32,
        off: u32,
        data: &[u8],
        first_off: u64,
    ) -> Result<(), Error<I::Error>> {
        let bm = self.bitmap_bytes() as u64;
        let span = self.block_span_bytes();
        let spb = self.sectors_per_block();
        let (mut at, mut end, mut rest, mut o) = (first_off, self.footer_pos, data, off);
        for b in first..first + blocks {
            let n = (rest.len() / SECTOR_SIZE).min((spb - o) as usize);
            let (part, tail) = rest.split_at(n * SECTOR_SIZE);
            let data_at = at + bm + u64::from(o) * SECTOR_SIZE as u64;
            let range = self.fresh_bitmap(b, o, n as u32);
            let mut out = Gather::new();
            out.add_zeros(&mut self.io, end, at - end)?;
            out.add(&mut self.io, at, &self.bitmap.as_ref()[range])?;
            out.add(&mut self.io, data_at, part)?;
            out.finish(&mut self.io)?;
            self.bitmaps.mark(self.bitmap.as_mut(), b, true);
            rest = tail;
            o = 0;
            end = at + span;
            at = self.place_after(end);
        }
        self.io.flush().map_err(Error::Io)
    }

    /// Builds in the cache the bitmap of a new `block` holding `n` sectors from `off` (a
    /// dynamic disk's whole block: what it does not hold lies past the old end of file
    /// and reads as zeros), marked not yet written; returns where it is.
    fn fresh_bitmap(&mut self, block: u32, off: u32, n: u32) -> Range<usize> {
        let range = self.bitmaps.range(block);
        self.bitmaps.mark(self.bitmap.as_mut(), block, false);
        self.bitmap.as_mut()[range.clone()].fill(0);
        let (spb, order) = (self.sectors_per_block(), self.bitmap_order());
        let mut map = Bitmap::new(&mut self.bitmap.as_mut()[range.clone()], order);
        if self.kind == Kind::Vhd(DiskType::Dynamic) {
            map.set_range(0, spb);
        } else {
            map.set_range(off, n);
        }
        range
    }

    /// Drops the cached bitmaps of blocks that were not linked after all.
    fn forget_bitmaps(&mut self, first: u32, blocks: u32) {
        for b in first..first + blocks {
            if self.bitmaps.holds(self.bitmap.as_ref(), b) {
                self.bitmaps.mark(self.bitmap.as_mut(), b, false);
            }
        }
    }

    /// Makes `block`'s batmap bit say what its bitmap (already on disk, at `bitmap` in
    /// the bitmap buffer) says: set once the block is full, and cleared if a damaged or
    /// hostile batmap called a block full that is not (the bitmap is authoritative, so
    /// this only corrects the hint).
    fn note_if_full(&mut self, block: u32, bitmap: Range<usize>) -> Result<(), Error<I::Error>> {
        let spb = self.sectors_per_block();
        let full = Bitmap::new(&self.bitmap.as_ref()[bitmap], self.bitmap_order()).all_set(spb);
        self.note_batmap(block, block, full)
    }

    /// Sets (`full`) or clears the batmap bits of blocks `first..=last`, whose bitmaps
    /// are on disk and say so. A set bit is only a hint that speeds reads up, so it is
    /// written later ([`Disk::write_deferred_batmap`], at the next flush): a crash before
    /// that leaves the old map and its old checksum, which agree. A cleared bit is
    /// written now, with any deferred ones: an old set bit on disk would let a reader
    /// that trusts the batmap (blktap's) take a partial block for a full one.
    fn note_batmap(&mut self, first: u32, last: u32, full: bool) -> Result<(), Error<I::Error>> {
        let Some((_, map)) = self.batmap() else {
            return Ok(());
        };
        if (first..=last).all(|b| batmap::test(map, b) == full) {
            return Ok(());
        }
        if !full {
            // Deferred sets go down first, so that each write moves bits one way only.
            self.write_deferred_batmap()?;
        }
        let Some(hdr) = &self.batmap_hdr else {
            return Ok(());
        };
        let map_len = hdr.map_bytes() as usize;
        let (version, stored) = (hdr.batmap_version, hdr.checksum);
        let bytes = (first / 8) as usize..(last / 8) as usize + 1;
        let sum = |m: &[u8]| m.iter().fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
        let old = sum(&self.batmap.as_ref()[bytes.clone()]);
        for b in first..=last {
            batmap::assign(&mut self.batmap.as_mut()[..map_len], b, full);
        }
        let new = sum(&self.batmap.as_ref()[bytes.clone()]);
        let checksum = if version == batmap::BATMAP_VERSION_1_1 {
            crate::checksum::batmap(version, &self.batmap.as_ref()[..map_len])
        } else {
            !((!stored).wrapping_sub(old).wrapping_add(new))
        };
        if let Some(hdr) = &mut self.batmap_hdr {
            hdr.checksum = checksum;
        }
        self.batmap_deferred = Some(match self.batmap_deferred {
            Some((lo, hi)) => (lo.min(bytes.start), hi.max(bytes.end)),
            None => (bytes.start, bytes.end),
        });
        if full {
            return Ok(());
        }
        self.write_deferred_batmap()
    }

    /// Writes the batmap bits changed since the batmap was last written: after a flush
    /// (the bitmaps and BAT they describe first), the map sectors holding them, then the
    /// header with the checksum. [`Disk::flush`] calls it, and so does [`Disk::into_io`]
    /// (ignoring a failure); bits never written leave the image consistent, its hint
    /// just older.
    pub fn write_deferred_batmap(&mut self) -> Result<(), Error<I::Error>> {
        let Some((lo, hi)) = self.batmap_deferred.take() else {
            return Ok(());
        };
        let Some(hdr) = &self.batmap_hdr else {
            return Ok(());
        };
        if self
            .recovered
            .contains(crate::disk::Recovered::BATMAP_INVALID)
        {
            return Ok(());
        }
        let (map_off, version, checksum) = (hdr.batmap_offset, hdr.batmap_version, hdr.checksum);
        let secs = lo / SECTOR_SIZE * SECTOR_SIZE
            ..(hi.div_ceil(SECTOR_SIZE) * SECTOR_SIZE).min(self.batmap.as_ref().len());
        let res = self.io.flush().map_err(Error::Io).and_then(|_| {
            self.io
                .write_at(map_off + secs.start as u64, &self.batmap.as_ref()[secs])
                .map_err(Error::Io)
        });
        // No flush between the map and the header: whichever lands alone leaves a
        // checksum mismatch (the bits all move the same way, so a torn map cannot sum to
        // the new checksum either), which open treats as "no batmap".
        let res = res.and_then(|_| self.write_batmap_header(version, checksum));
        if res.is_err() {
            // The on-disk batmap may now be torn; stop trusting it.
            self.recovered |= crate::disk::Recovered::BATMAP_INVALID;
        }
        res
    }
}
