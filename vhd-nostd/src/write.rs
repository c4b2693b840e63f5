//! Writing sectors. A write into an allocated block stores the data, then sets the
//! bitmap bits, then (when the block becomes full) the batmap bit. A write into an
//! unallocated block first builds the block where nothing refers to it — new footer at
//! the new end, data, bitmap — and only then points the BAT at it, so a crash at any
//! write leaves either the old image or the new one.

use core::ops::Range;

use crate::batmap;
use crate::bitmap::Bitmap;
use crate::disk::{Disk, Kind};
use crate::error::{Error, FormatError, Structure};
use crate::footer::DiskType;
use crate::io::Io;
use crate::SECTOR_SIZE;

/// A block's data area starts on this boundary, as blktap places it.
const DATA_ALIGN: u64 = 4096;
static ZEROS: [u8; 4096] = [0; 4096];

/// Writes `len` zero bytes at `off` from a static buffer.
pub(crate) fn write_zeros<I: Io>(
    io: &mut I,
    mut off: u64,
    mut len: u64,
) -> Result<(), Error<I::Error>> {
    while len > 0 {
        let n = len.min(ZEROS.len() as u64);
        io.write_at(off, &ZEROS[..n as usize]).map_err(Error::Io)?;
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
            let n = (spb - u64::from(off)).min(count - done);
            let lo = done as usize * SECTOR_SIZE;
            let part = &buf[lo..lo + n as usize * SECTOR_SIZE];
            match self.block_extent(block)? {
                Some(start) => self.write_allocated(block, start, off, part)?,
                None => self.allocate(block, off, part)?,
            }
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
        if self.batmap_full(block) {
            return Ok(());
        }
        let range = self.load_bitmap(block, start)?;
        let order = self.bitmap_order();
        if Bitmap::new(&self.bitmap.as_ref()[range.clone()], order).run(off, n) == (true, n) {
            return Ok(());
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

    /// Builds a new block at the end of data and then links it into the BAT.
    fn allocate(&mut self, block: u32, off: u32, data: &[u8]) -> Result<(), Error<I::Error>> {
        let bm = self.bitmap_bytes() as u64;
        let span = self.block_span_bytes();
        if self.end_of_data > self.footer_pos {
            // A block reaches past the footer: the layout is damaged; refuse to build on it.
            return Err(FormatError::invalid(Structure::Image, "end of data").into());
        }
        let start = self.footer_pos.div_ceil(SECTOR_SIZE as u64) * SECTOR_SIZE as u64;
        let block_off = (start + bm).div_ceil(DATA_ALIGN) * DATA_ALIGN - bm;
        let sector = block_off / SECTOR_SIZE as u64;
        if sector >= u64::from(crate::bat::UNUSED) {
            return Err(Error::NoSpace);
        }
        let new_footer_pos = block_off + span;
        let footer = self.footer.to_bytes();
        // 1. The new end footer: the file stays a valid image with the block unreferenced.
        // It must be durable before the data: a data write that lands alone would
        // otherwise end the file, and guest data would be taken for the footer.
        self.io
            .write_at(new_footer_pos, &footer)
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        // 2. The data.
        self.io
            .write_at(block_off + bm + u64::from(off) * SECTOR_SIZE as u64, data)
            .map_err(Error::Io)?;
        // 3. Clear the old footer if it sits in the alignment gap, then the bitmap. A
        // dynamic block's unwritten sectors lie beyond the old end of file and read as
        // zeros, so its bitmap is full at once; a differencing block marks only what was
        // written, the rest still comes from the parent.
        if self.footer_pos < block_off {
            write_zeros(&mut self.io, self.footer_pos, block_off - self.footer_pos)?;
        }
        let range = self.bitmaps.range(block);
        let n = (data.len() / SECTOR_SIZE) as u32;
        let order = self.bitmap_order();
        self.bitmaps.mark(self.bitmap.as_mut(), block, false);
        self.bitmap.as_mut()[range.clone()].fill(0);
        let spb = self.sectors_per_block();
        let dynamic = self.kind == Kind::Vhd(DiskType::Dynamic);
        let mut map = Bitmap::new(&mut self.bitmap.as_mut()[range.clone()], order);
        if dynamic {
            map.set_range(0, spb);
        } else {
            map.set_range(off, n);
        }
        self.io
            .write_at(block_off, &self.bitmap.as_ref()[range.clone()])
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        // 4. Link it: the BAT sector holding the entry.
        self.bat.set(block, sector as u32);
        if let Err(e) = self.write_bat_entry(block) {
            self.bat.set(block, crate::bat::UNUSED);
            return Err(e);
        }
        self.bitmaps.mark(self.bitmap.as_mut(), block, true);
        self.footer_pos = new_footer_pos;
        self.end_of_data = self.end_of_data.max(new_footer_pos);
        self.note_if_full(block, range)
    }

    /// Sets `block`'s batmap bit once its bitmap (already on disk, at `bitmap` in the
    /// bitmap buffer) is full: the map sector, then the header with the new checksum. A
    /// crash between the two leaves a checksum mismatch, which open treats as "no
    /// batmap" and a writable open rebuilds.
    fn note_if_full(&mut self, block: u32, bitmap: Range<usize>) -> Result<(), Error<I::Error>> {
        let Some((_, map)) = self.batmap() else {
            return Ok(());
        };
        if batmap::test(map, block) {
            return Ok(());
        }
        let spb = self.sectors_per_block();
        if !Bitmap::new(&self.bitmap.as_ref()[bitmap], self.bitmap_order()).all_set(spb) {
            return Ok(());
        }
        let Some(mut hdr) = self.batmap_hdr.clone() else {
            return Ok(());
        };
        let map_len = hdr.map_bytes() as usize;
        let byte = (block / 8) as usize;
        let old = self.batmap.as_ref()[byte];
        batmap::assign(&mut self.batmap.as_mut()[..map_len], block, true);
        let new = self.batmap.as_ref()[byte];
        hdr.checksum = if hdr.batmap_version == batmap::BATMAP_VERSION_1_1 {
            hdr.compute_checksum(&self.batmap.as_ref()[..map_len])
        } else {
            !((!hdr.checksum)
                .wrapping_sub(u32::from(old))
                .wrapping_add(u32::from(new)))
        };
        let sec = byte / SECTOR_SIZE * SECTOR_SIZE;
        let res = self.io.flush().map_err(Error::Io).and_then(|_| {
            self.io
                .write_at(
                    hdr.batmap_offset + sec as u64,
                    &self.batmap.as_ref()[sec..sec + SECTOR_SIZE],
                )
                .map_err(Error::Io)
        });
        let res = res
            .and_then(|_| self.io.flush().map_err(Error::Io))
            .and_then(|_| {
                self.io
                    .write_at(self.batmap_header_offset(), &hdr.to_bytes())
                    .map_err(Error::Io)
            });
        match res {
            Ok(()) => {
                self.batmap_hdr = Some(hdr);
                Ok(())
            }
            Err(e) => {
                // The on-disk batmap may now be torn; stop trusting it.
                self.recovered |= crate::disk::Recovered::BATMAP_INVALID;
                Err(e)
            }
        }
    }
}
