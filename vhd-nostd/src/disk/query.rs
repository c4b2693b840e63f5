//! What an open image is: its structures, sizes and state.

use crate::bat::Bat;
use crate::batmap::BatmapHeader;
use crate::bitmap::BitOrder;
use crate::error::Error;
use crate::footer::{DiskType, Footer};
use crate::header::Header;
use crate::io::Io;
use crate::SECTOR_SIZE;

use super::{Disk, Kind, Recovered};

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// What the image is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The VHD disk type; `None` for a raw image.
    pub fn disk_type(&self) -> Option<DiskType> {
        match self.kind {
            Kind::Vhd(t) => Some(t),
            Kind::Raw => None,
        }
    }

    /// The footer as in force.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The dynamic header (dynamic and differencing disks).
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// The BAT (empty for fixed and raw disks).
    pub fn bat(&self) -> &Bat<B> {
        &self.bat
    }

    /// The batmap header and map, if the image has a valid batmap.
    pub fn batmap(&self) -> Option<(&BatmapHeader, &[u8])> {
        if self.recovered.contains(Recovered::BATMAP_INVALID) {
            return None;
        }
        let h = self.batmap_hdr.as_ref()?;
        Some((h, &self.batmap.as_ref()[..h.map_bytes() as usize]))
    }

    /// The batmap header as read, even if the map failed its checksum.
    pub fn batmap_header(&self) -> Option<&BatmapHeader> {
        self.batmap_hdr.as_ref()
    }

    /// Virtual size in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Virtual size in bytes.
    pub fn size(&self) -> u64 {
        self.sectors * SECTOR_SIZE as u64
    }

    /// What open recovered from.
    pub fn recovered(&self) -> Recovered {
        self.recovered
    }

    /// Whether the disk was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The I/O object.
    pub fn io(&mut self) -> &mut I {
        &mut self.io
    }

    /// Closes the disk, returning the I/O object. Batmap bits not yet written
    /// ([`Disk::write_deferred_batmap`]) are written first if they can be; a failure is
    /// not reported, as they are only a hint (call [`Disk::flush`] to know).
    pub fn into_io(mut self) -> I {
        let _ = self.write_deferred_batmap();
        self.io
    }

    /// End of metadata in bytes: header, BAT, batmap and locator payloads.
    pub fn end_of_headers(&self) -> u64 {
        self.end_of_headers
    }

    /// End of data in bytes (libvhd's `vhd_end_of_data`); the physical size is this
    /// plus the footer.
    pub fn end_of_data(&self) -> u64 {
        self.end_of_data
    }

    /// Byte offset of the primary footer.
    pub fn footer_position(&self) -> u64 {
        self.footer_pos
    }

    /// Sectors per block (0 for fixed and raw disks).
    pub fn sectors_per_block(&self) -> u32 {
        self.header.as_ref().map_or(0, Header::sectors_per_block)
    }

    /// Whether the block holding `sector` is allocated (a fixed or raw disk has no
    /// blocks: false).
    pub(crate) fn holds_sector(&self, sector: u64) -> bool {
        let spb = u64::from(self.sectors_per_block());
        spb > 0 && u32::try_from(sector / spb).is_ok_and(|b| self.bat.get(b).is_some())
    }

    /// Sectors of each block's bitmap (0 for fixed and raw disks).
    pub fn bitmap_sectors(&self) -> u32 {
        self.header.as_ref().map_or(0, Header::bitmap_sectors)
    }

    /// Bit order of the sector bitmaps: LSB-first only for images by tap 0.1.
    pub fn bitmap_order(&self) -> BitOrder {
        BitOrder::of_creator(self.footer.crtr_app, self.footer.crtr_ver)
    }

    /// blktap's marker byte (offset 28 of the batmap header sector), if the image has a
    /// batmap.
    pub fn marker(&self) -> Option<u8> {
        self.batmap_hdr.as_ref().map(|h| h.rest[0])
    }

    /// Gives the disk room to stage its own data when a read interleaves it with its
    /// parent's: a range of a block then costs two reads (the parent's, then the disk's
    /// span) instead of one per run. Any length works; [`Disk::read_scratch_bytes`] (a
    /// block) covers every range. Without it, such ranges are read run by run.
    pub fn set_read_scratch(&mut self, scratch: B) {
        self.scratch = Some(scratch);
    }

    /// The scratch length that lets every interleaved range be read in two reads: one
    /// block's data.
    pub fn read_scratch_bytes(&self) -> usize {
        self.sectors_per_block() as usize * SECTOR_SIZE
    }

    /// Writes the deferred batmap bits ([`Disk::write_deferred_batmap`]) and flushes
    /// the I/O object.
    pub fn flush(&mut self) -> Result<(), Error<I::Error>> {
        self.write_deferred_batmap()?;
        self.io.flush().map_err(Error::Io)
    }
}
