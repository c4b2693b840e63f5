//! An open image: its footer, header, BAT and batmap held in caller buffers, the layout
//! checks done at open, and the metadata writes every mutation shares.

use core::ops::Range;

use bitflags::bitflags;

use crate::bat::{self, Bat};
use crate::batmap::{self, BatmapHeader};
use crate::bitmap::BitOrder;
use crate::bitmap_cache::BitmapCache;
use crate::error::{Error, FormatError, Structure};
use crate::footer::{self, DiskType, Footer, FOOTER_SIZE};
use crate::header::{Header, HEADER_SIZE};
use crate::io::Io;
use crate::SECTOR_SIZE;

/// How to open an image.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Allow writes (`VHD_OPEN_RDWR`).
    pub writable: bool,
    /// Trust only the footer at the end: no fallback to the copy at offset 0
    /// (`VHD_OPEN_STRICT`).
    pub strict: bool,
    /// Open an image whose footer is poisoned (`VHD_OPEN_IGNORE_DISABLED`).
    pub ignore_disabled: bool,
}

bitflags! {
    /// What open found damaged and worked around; empty for a clean image.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Recovered: u8 {
        /// The footer at the end was invalid; the copy at offset 0 was used.
        const BACKUP_FOOTER = 1;
        /// The footer was found at EOF − 511 (a legacy 511-byte footer).
        const SHORT_FOOTER = 2;
        /// The batmap was invalid and is ignored (read-only) or was rebuilt (read-write).
        const BATMAP_INVALID = 4;
        /// The copy at offset 0 differed from the end footer and was rewritten (read-write).
        const BACKUP_FOOTER_REWRITTEN = 8;
        /// The end footer was rewritten from the copy at offset 0 (read-write).
        const PRIMARY_FOOTER_REWRITTEN = 16;
    }
}

/// What an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not a VHD: a raw disk image used as the bottom of a chain (blktap's raw parent).
    Raw,
    /// A VHD of the given type.
    Vhd(DiskType),
}

/// Buffers an open disk keeps its metadata in; sizes from [`probe`].
#[derive(Debug)]
pub struct Buffers<B> {
    /// The BAT, on-disk byte order: at least [`Layout::bat_bytes`].
    pub bat: B,
    /// The batmap's map: at least [`Layout::batmap_bytes`] (may be empty if there is none).
    pub batmap: B,
    /// Sector bitmaps: at least [`Layout::bitmap_bytes`] (one block's). A larger buffer
    /// caches the bitmaps of that many blocks (see [`Layout::bitmap_cache_bytes`]), so
    /// that random I/O across blocks does not read them again.
    pub bitmap: B,
}

impl<B: Default> Buffers<B> {
    /// Empty buffers, enough for fixed and raw disks.
    pub fn none() -> Buffers<B> {
        Buffers {
            bat: B::default(),
            batmap: B::default(),
            bitmap: B::default(),
        }
    }
}

/// The buffer sizes an image needs, found by [`probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// Bytes for the BAT buffer (whole sectors).
    pub bat_bytes: usize,
    /// Bytes for the batmap buffer (0 if the image has none).
    pub batmap_bytes: usize,
    /// Bytes for the bitmap buffer.
    pub bitmap_bytes: usize,
    /// Number of blocks (BAT entries); 0 for fixed disks.
    pub blocks: u32,
}

/// Bitmap cache slots for hosts that can spare about half a MiB per open image: 1024
/// blocks, 2 GiB of a disk with 2 MiB blocks, read without touching a bitmap twice.
pub const BITMAP_CACHE_SLOTS: usize = 1024;

impl Layout {
    /// Bytes of a bitmap buffer that caches the bitmaps of up to `slots` blocks at once
    /// (no more than the disk has; blocks share a slot when there are more of them).
    pub const fn bitmap_cache_bytes(&self, slots: usize) -> usize {
        let slots = if (self.blocks as usize) < slots {
            self.blocks as usize
        } else {
            slots
        };
        let bytes = crate::bitmap_cache::cache_bytes(self.bitmap_bytes, slots);
        // Never less than one bitmap, the least open accepts.
        if bytes < self.bitmap_bytes {
            self.bitmap_bytes
        } else {
            bytes
        }
    }
}

/// The authoritative footer of an image and where it was found ([`find_footer`]).
#[derive(Debug, Clone)]
pub struct FoundFooter {
    /// The footer (valid cookie and checksum).
    pub footer: Footer,
    /// Byte offset of the primary footer slot (EOF − 512, or EOF − 511 for a short one).
    pub pos: u64,
    /// How it was found: [`Recovered::SHORT_FOOTER`], [`Recovered::BACKUP_FOOTER`] or
    /// nothing.
    pub recovered: Recovered,
}

/// An open image over an [`Io`], with its metadata in caller buffers.
#[derive(Debug)]
pub struct Disk<I: Io, B> {
    pub(crate) io: I,
    pub(crate) kind: Kind,
    pub(crate) footer: Footer,
    pub(crate) header: Option<Header>,
    /// Byte offset of the primary footer.
    pub(crate) footer_pos: u64,
    /// Virtual size in sectors.
    pub(crate) sectors: u64,
    pub(crate) bat: Bat<B>,
    pub(crate) batmap_hdr: Option<BatmapHeader>,
    pub(crate) batmap: B,
    pub(crate) bitmap: B,
    /// Which blocks' bitmaps `bitmap` holds.
    pub(crate) bitmaps: BitmapCache,
    /// End of metadata (header, BAT, batmap, locators), bytes.
    pub(crate) end_of_headers: u64,
    /// End of the last allocated block or of metadata, bytes.
    pub(crate) end_of_data: u64,
    pub(crate) writable: bool,
    pub(crate) recovered: Recovered,
    /// Optional room for a block's worth of this disk's data ([`Disk::set_read_scratch`]).
    pub(crate) scratch: Option<B>,
    /// Blocks sharing storage, as far as [`Disk::scan_overlaps`] found.
    pub(crate) overlap_scan: crate::alias::Overlaps,
}

fn read_footer_at<I: Io>(io: &mut I, pos: u64, len: usize) -> Result<Footer, Error<I::Error>> {
    let mut b = [0u8; FOOTER_SIZE];
    io.read_at(pos, &mut b[..len]).map_err(Error::Io)?;
    Ok(Footer::parse(&b)?)
}

/// Finds the authoritative footer, as [`Disk::open`] does: EOF − 512, then EOF − 511
/// (legacy), then, unless `strict`, the copy at offset 0 if it describes a sparse disk
/// (a fixed disk's offset 0 is guest data and never decides the type). The error is the
/// end footer's.
pub fn find_footer<I: Io>(io: &mut I, strict: bool) -> Result<FoundFooter, Error<I::Error>> {
    let size = io.size().map_err(Error::Io)?;
    if size < FOOTER_SIZE as u64 {
        return Err(FormatError::Truncated {
            structure: Structure::Image,
        }
        .into());
    }
    let pos = size - FOOTER_SIZE as u64;
    let first = match read_footer_at(io, pos, FOOTER_SIZE) {
        Ok(footer) => {
            return Ok(FoundFooter {
                footer,
                pos,
                recovered: Recovered::empty(),
            })
        }
        Err(Error::Format(e)) => e,
        Err(e) => return Err(e),
    };
    if size % SECTOR_SIZE as u64 == (SECTOR_SIZE - 1) as u64 {
        if let Ok(footer) = read_footer_at(io, size - 511, 511) {
            return Ok(FoundFooter {
                footer,
                pos: size - 511,
                recovered: Recovered::SHORT_FOOTER,
            });
        }
    }
    if !strict && size >= 2 * FOOTER_SIZE as u64 {
        if let Ok(footer) = read_footer_at(io, 0, FOOTER_SIZE) {
            if footer.kind().is_some_and(DiskType::is_sparse) {
                return Ok(FoundFooter {
                    footer,
                    pos,
                    recovered: Recovered::BACKUP_FOOTER,
                });
            }
        }
    }
    Err(first.into())
}

pub(crate) fn invalid<E>(structure: Structure, field: &'static str) -> Error<E> {
    Error::Format(FormatError::invalid(structure, field))
}

/// Whether `[a, a+alen)` and `[b, b+blen)` overlap.
pub(crate) const fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

/// Checks the sparse layout against the file and returns the end of metadata: header
/// inside the file, BAT aligned, large enough for the size, not overlapping the footer
/// copy or the header, and ending before the primary footer.
pub(crate) fn check_sparse_layout<E>(
    f: &Footer,
    h: &Header,
    footer_pos: u64,
) -> Result<u64, Error<E>> {
    let hdr = f.data_offset;
    let bs = u64::from(h.block_size);
    let needed = f.curr_size.div_ceil(bs);
    if u64::from(h.max_bat_size) < needed || (h.max_bat_size == 0 && f.curr_size != 0) {
        return Err(invalid(Structure::Header, "max_bat_size"));
    }
    let bat_len = bat::bat_bytes(h.max_bat_size);
    let to = h.table_offset;
    let bat_end = to.checked_add(bat_len);
    match bat_end {
        Some(end)
            if to.is_multiple_of(SECTOR_SIZE as u64)
                && end <= footer_pos
                && !overlaps(to, bat_len, 0, FOOTER_SIZE as u64)
                && !overlaps(to, bat_len, hdr, HEADER_SIZE as u64) =>
        {
            Ok(end.max(hdr + HEADER_SIZE as u64))
        }
        _ => Err(invalid(Structure::Header, "table_offset")),
    }
}

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Opens a VHD: finds and validates the footer (falling back to the copy at offset 0
    /// unless strict, and saying so in [`Disk::recovered`]), the header and the layout,
    /// loads the BAT and the batmap. A read-write open also repairs what the format
    /// defines as recoverable: a damaged or stale footer copy and an invalid batmap.
    pub fn open(mut io: I, bufs: Buffers<B>, opts: OpenOptions) -> Result<Self, Error<I::Error>> {
        let found = find_footer(&mut io, opts.strict)?;
        Self::open_found(io, bufs, opts, found)
    }

    /// [`Disk::open`] with the footer already located by the caller (a block device's
    /// host reads the copy at offset 0 to learn where the image ends, see `vhd-std`).
    pub fn open_found(
        mut io: I,
        bufs: Buffers<B>,
        opts: OpenOptions,
        found: FoundFooter,
    ) -> Result<Self, Error<I::Error>> {
        let Buffers {
            bat: mut bat_buf,
            batmap,
            mut bitmap,
        } = bufs;
        let f = found.footer;
        let dt = f.validate()?;
        if f.is_disabled() && !opts.ignore_disabled {
            return Err(Error::Disabled);
        }
        let file_size = io.size().map_err(Error::Io)?;
        let sectors = f.curr_size / SECTOR_SIZE as u64;
        let header = if dt == DiskType::Fixed {
            // The data ends where the footer starts (EOF − 512, or EOF − 511 for a
            // legacy short footer).
            if f.curr_size > found.pos {
                return Err(invalid(Structure::Footer, "curr_size"));
            }
            None
        } else {
            Some(read_header(&mut io, &f, found.pos)?)
        };
        let bm_len = header
            .as_ref()
            .map_or(0, |h| h.bitmap_sectors() as usize * SECTOR_SIZE);
        let (entries, end_of_meta) = match &header {
            Some(h) => {
                let end = check_sparse_layout(&f, h, found.pos)?;
                let bat_len = bat::bat_bytes(h.max_bat_size) as usize;
                let buf = bat_buf
                    .as_mut()
                    .get_mut(..bat_len)
                    .ok_or(Error::BufferTooSmall { needed: bat_len })?;
                if bitmap.as_ref().len() < bm_len {
                    return Err(Error::BufferTooSmall { needed: bm_len });
                }
                io.read_at(h.table_offset, buf).map_err(Error::Io)?;
                (h.max_bat_size, end)
            }
            None => (0, 0),
        };
        let bat = Bat::new(bat_buf, entries).ok_or(Error::BufferTooSmall { needed: 0 })?;
        let mut disk = Disk {
            io,
            kind: Kind::Vhd(dt),
            footer: f.clone(),
            header,
            footer_pos: found.pos,
            sectors,
            bat,
            batmap_hdr: None,
            batmap,
            bitmaps: BitmapCache::new(bitmap.as_mut(), bm_len),
            bitmap,
            end_of_headers: end_of_meta,
            end_of_data: f.curr_size,
            writable: opts.writable,
            recovered: found.recovered,
            scratch: None,
            overlap_scan: crate::alias::Overlaps::Unchecked,
        };
        if dt == DiskType::Fixed {
            return Ok(disk);
        }
        disk.load_batmap(file_size)?;
        disk.end_of_headers = disk.end_of_headers.max(disk.locators_end(file_size));
        disk.end_of_data = disk.compute_end_of_data();
        if disk.writable {
            disk.recover()?;
        }
        Ok(disk)
    }

    /// Opens a raw disk image (no VHD metadata) as the bottom of a chain; its virtual
    /// size is the file's length rounded down to sectors.
    pub fn open_raw(mut io: I, writable: bool) -> Result<Self, Error<I::Error>>
    where
        B: Default,
    {
        let size = io.size().map_err(Error::Io)?;
        let sectors = size / SECTOR_SIZE as u64;
        let footer = Footer::new(footer::FooterParams {
            kind: DiskType::Fixed,
            size: sectors * SECTOR_SIZE as u64,
            timestamp: 0,
            uuid: uuid::Uuid::nil(),
        });
        Ok(Disk {
            io,
            kind: Kind::Raw,
            footer,
            header: None,
            footer_pos: size,
            sectors,
            bat: Bat::new(B::default(), 0).ok_or(Error::BufferTooSmall { needed: 0 })?,
            batmap_hdr: None,
            batmap: B::default(),
            bitmap: B::default(),
            bitmaps: BitmapCache::new(&mut [], 0),
            end_of_headers: 0,
            end_of_data: size,
            writable,
            recovered: Recovered::empty(),
            scratch: None,
            overlap_scan: crate::alias::Overlaps::Unchecked,
        })
    }

    fn load_batmap(&mut self, file_size: u64) -> Result<(), Error<I::Error>> {
        if !has_batmap_version(&self.footer) {
            return Ok(());
        }
        let off = self.batmap_header_offset();
        let mut sec = [0u8; SECTOR_SIZE];
        if off + SECTOR_SIZE as u64 > self.footer_pos {
            return self.batmap_invalid();
        }
        self.io.read_at(off, &mut sec).map_err(Error::Io)?;
        let hdr = match BatmapHeader::parse(&sec) {
            Ok(h) => h,
            // 1.1 images may lack a batmap; a missing cookie means none.
            Err(_) if self.footer.crtr_ver < footer::version(1, 2) => return Ok(()),
            Err(_) => return self.batmap_invalid(),
        };
        let entries = self.bat.entries();
        // Metadata precedes the data blocks. A map reaching past the first block is not
        // metadata: trusting it would hide blocks behind the end of headers, and
        // rebuilding it would overwrite their data.
        let past_first_block = hdr
            .batmap_offset
            .checked_add(hdr.map_bytes())
            .is_none_or(|end| end > self.first_block_start());
        if hdr.validate(entries, self.footer_pos).is_err()
            || past_first_block
            || overlaps(
                hdr.batmap_offset,
                hdr.map_bytes(),
                0,
                off + SECTOR_SIZE as u64,
            )
        {
            return self.batmap_invalid();
        }
        let len = hdr.map_bytes() as usize;
        if self.batmap.as_ref().len() < len {
            // Larger than the BAT needs and than the buffer `probe` sized: the bitmaps
            // still answer every question the map would, so it is ignored.
            return self.batmap_invalid();
        }
        self.io
            .read_at(hdr.batmap_offset, &mut self.batmap.as_mut()[..len])
            .map_err(Error::Io)?;
        self.end_of_headers = self
            .end_of_headers
            .max(off + SECTOR_SIZE as u64)
            .max(hdr.batmap_offset + hdr.map_bytes());
        let _ = file_size;
        if hdr.verify(&self.batmap.as_ref()[..len]).is_err() {
            self.batmap_hdr = Some(hdr);
            return self.batmap_invalid();
        }
        self.batmap_hdr = Some(hdr);
        Ok(())
    }

    /// An invalid batmap is ignored for reads; a writable open rebuilds it in `recover`.
    fn batmap_invalid(&mut self) -> Result<(), Error<I::Error>> {
        self.recovered |= Recovered::BATMAP_INVALID;
        Ok(())
    }

    /// Byte offset of the first allocated block (`u64::MAX` if none).
    fn first_block_start(&self) -> u64 {
        self.bat
            .allocated()
            .map(|(_, s)| u64::from(s) * SECTOR_SIZE as u64)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// End of the parent locator payloads that lie inside the file and before the
    /// first data block (one reaching into the blocks is damaged, not metadata).
    fn locators_end(&self, file_size: u64) -> u64 {
        let Some(h) = &self.header else { return 0 };
        if self.disk_type() != Some(DiskType::Differencing) {
            return 0;
        }
        let first = self.first_block_start();
        h.loc
            .iter()
            .filter(|l| l.is_used())
            .filter_map(|l| {
                let end = l.data_offset.checked_add(l.space_bytes())?;
                (end <= file_size && end <= first).then_some(end)
            })
            .max()
            .unwrap_or(0)
    }

    /// End of data from the metadata and the BAT, in bytes (libvhd's `vhd_end_of_data`).
    pub(crate) fn compute_end_of_data(&self) -> u64 {
        let block_bytes = self.block_span_bytes();
        let mut end = self.end_of_headers;
        for (_, s) in self.bat.allocated() {
            end = end.max(u64::from(s) * SECTOR_SIZE as u64 + block_bytes);
        }
        end
    }

    /// Bytes of a block on disk: bitmap plus data.
    pub(crate) fn block_span_bytes(&self) -> u64 {
        match &self.header {
            Some(h) => {
                (u64::from(h.bitmap_sectors()) + u64::from(h.sectors_per_block()))
                    * SECTOR_SIZE as u64
            }
            None => 0,
        }
    }

    /// Repairs on a writable open what the format defines as recoverable.
    fn recover(&mut self) -> Result<(), Error<I::Error>> {
        if self.recovered.contains(Recovered::BACKUP_FOOTER) {
            self.write_primary_footer()?;
            self.recovered |= Recovered::PRIMARY_FOOTER_REWRITTEN;
        } else {
            let mut b = [0u8; FOOTER_SIZE];
            self.io.read_at(0, &mut b).map_err(Error::Io)?;
            if b != self.footer.to_bytes() {
                self.write_backup_footer()?;
                self.recovered |= Recovered::BACKUP_FOOTER_REWRITTEN;
            }
        }
        if self.recovered.contains(Recovered::BATMAP_INVALID) && self.batmap_hdr.is_some() {
            self.rebuild_batmap()?;
        }
        Ok(())
    }

    /// Recomputes the batmap from the sector bitmaps and writes map, then header.
    pub(crate) fn rebuild_batmap(&mut self) -> Result<(), Error<I::Error>> {
        let Some(mut hdr) = self.batmap_hdr.clone() else {
            return Ok(());
        };
        let len = hdr.map_bytes() as usize;
        if self.batmap.as_ref().len() < len {
            return Err(Error::BufferTooSmall { needed: len });
        }
        self.batmap.as_mut()[..len].fill(0);
        for block in 0..self.bat.entries() {
            // A block whose bitmap cannot be read is left clear ("look at the bitmap"),
            // which is always safe; its reads report the damage themselves.
            if self.bat.get(block).is_some() && matches!(self.block_full(block), Ok(true)) {
                batmap::assign(self.batmap.as_mut(), block, true);
            }
        }
        hdr.batmap_version = batmap::BATMAP_VERSION;
        hdr.checksum = hdr.compute_checksum(&self.batmap.as_ref()[..len]);
        self.io
            .write_at(hdr.batmap_offset, &self.batmap.as_ref()[..len])
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        self.io
            .write_at(self.batmap_header_offset(), &hdr.to_bytes())
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        self.batmap_hdr = Some(hdr);
        self.recovered.remove(Recovered::BATMAP_INVALID);
        Ok(())
    }

    // ---- queries ----

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

    /// Closes the disk, returning the I/O object.
    pub fn into_io(self) -> I {
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

    /// Sectors of each block's bitmap (0 for fixed and raw disks).
    pub fn bitmap_sectors(&self) -> u32 {
        self.header.as_ref().map_or(0, Header::bitmap_sectors)
    }

    /// Bit order of the sector bitmaps: LSB-first only for images by tap 0.1.
    pub fn bitmap_order(&self) -> BitOrder {
        if self.footer.is_tapdisk_creator() && self.footer.crtr_ver == footer::version(0, 1) {
            BitOrder::LsbFirst
        } else {
            BitOrder::MsbFirst
        }
    }

    /// Byte offset of the batmap header sector: right after the BAT.
    pub fn batmap_header_offset(&self) -> u64 {
        match &self.header {
            Some(h) => h.table_offset + bat::bat_bytes(h.max_bat_size),
            None => 0,
        }
    }

    /// The byte range `[start, end)` of an allocated block (bitmap then data), checked to
    /// lie between the metadata and the primary footer.
    pub(crate) fn block_extent(&self, block: u32) -> Result<Option<u64>, Error<I::Error>> {
        let Some(s) = self.bat.get(block) else {
            return Ok(None);
        };
        let start = u64::from(s) * SECTOR_SIZE as u64;
        if start < self.end_of_headers || start + self.block_span_bytes() > self.footer_pos {
            return Err(invalid(Structure::Bat, "entry"));
        }
        Ok(Some(start))
    }

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

    // ---- metadata writes ----

    pub(crate) fn require_writable(&self) -> Result<(), Error<I::Error>> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::ReadOnly)
        }
    }

    /// Writes the footer at the primary position.
    pub(crate) fn write_primary_footer(&mut self) -> Result<(), Error<I::Error>> {
        let b = self.footer.to_bytes();
        self.io.write_at(self.footer_pos, &b).map_err(Error::Io)
    }

    /// Writes the footer copy at offset 0 (sparse disks only).
    pub(crate) fn write_backup_footer(&mut self) -> Result<(), Error<I::Error>> {
        if self.header.is_none() {
            return Ok(());
        }
        let b = self.footer.to_bytes();
        self.io.write_at(0, &b).map_err(Error::Io)
    }

    /// Writes the header at its offset.
    pub(crate) fn write_header(&mut self) -> Result<(), Error<I::Error>> {
        let Some(h) = &self.header else {
            return Err(Error::WrongDiskType);
        };
        let b = h.to_bytes();
        self.io
            .write_at(self.footer.data_offset, &b)
            .map_err(Error::Io)
    }

    /// Writes the BAT sector holding `block`'s entry.
    pub(crate) fn write_bat_entry(&mut self, block: u32) -> Result<(), Error<I::Error>> {
        self.write_bat_entries(block, block)
    }

    /// Writes the BAT sectors holding the entries of blocks `first..=last`, in one write.
    pub(crate) fn write_bat_entries(
        &mut self,
        first: u32,
        last: u32,
    ) -> Result<(), Error<I::Error>> {
        let Some(h) = &self.header else {
            return Err(Error::WrongDiskType);
        };
        let (s, bytes) = self.bat.sectors_of(first, last);
        let off = h.table_offset + u64::from(s) * SECTOR_SIZE as u64;
        self.io.write_at(off, bytes).map_err(Error::Io)
    }

    /// Writes both footers, primary first: a crash between them leaves copies that a
    /// read-write open reconciles (the end one wins).
    fn write_footers(&mut self) -> Result<(), Error<I::Error>> {
        self.write_primary_footer()?;
        self.io.flush().map_err(Error::Io)?;
        self.write_backup_footer()?;
        self.io.flush().map_err(Error::Io)
    }

    /// Sets the footer's hidden flag and writes both footers (primary first).
    pub fn set_hidden(&mut self, hidden: u8) -> Result<(), Error<I::Error>> {
        self.require_writable()?;
        if self.kind == Kind::Raw {
            return Err(Error::WrongDiskType);
        }
        self.footer.hidden = hidden;
        self.footer.seal();
        self.write_footers()
    }

    /// Disables the image (cookie `v_poison` in both footers, primary first) while a
    /// journal ([`crate::journal`]) can undo what follows: a normal open then refuses it
    /// with [`Error::Disabled`]. The cookie lives in the in-memory footer, which every
    /// later footer write of this disk encodes (grow, block allocation, hidden flag), so
    /// the image stays disabled until [`Disk::unpoison`].
    pub fn poison(&mut self) -> Result<(), Error<I::Error>> {
        self.set_cookie(footer::POISON_COOKIE)
    }

    /// Enables the image again (cookie `conectix` in both footers, primary first).
    pub fn unpoison(&mut self) -> Result<(), Error<I::Error>> {
        self.set_cookie(footer::COOKIE)
    }

    /// Whether the footer in force carries `v_poison` (open it with
    /// [`OpenOptions::ignore_disabled`] to work on it).
    pub fn is_poisoned(&self) -> bool {
        self.footer.is_disabled()
    }

    fn set_cookie(&mut self, cookie: [u8; 8]) -> Result<(), Error<I::Error>> {
        self.require_writable()?;
        if self.kind == Kind::Raw {
            return Err(Error::WrongDiskType);
        }
        self.footer.cookie = cookie;
        self.footer.seal();
        self.write_footers()
    }

    /// blktap's marker byte (offset 28 of the batmap header sector), if the image has a
    /// batmap.
    pub fn marker(&self) -> Option<u8> {
        self.batmap_hdr.as_ref().map(|h| h.rest[0])
    }

    /// Sets blktap's marker byte in the batmap header: one sector write, so it is either
    /// old or new after a crash. The map's checksum does not cover it.
    pub fn set_marker(&mut self, marker: u8) -> Result<(), Error<I::Error>> {
        self.set_batmap_rest(0, &[marker])
    }

    /// Writes `bytes` at `at` of the batmap header's `rest` (byte 28 + `at` of its
    /// sector), keeping everything else: the fields blktap3 keeps there.
    pub(crate) fn set_batmap_rest(
        &mut self,
        at: usize,
        bytes: &[u8],
    ) -> Result<(), Error<I::Error>> {
        self.require_writable()?;
        let mut hdr = self.batmap_hdr.clone().ok_or(Error::WrongDiskType)?;
        hdr.rest[at..at + bytes.len()].copy_from_slice(bytes);
        self.io
            .write_at(self.batmap_header_offset(), &hdr.to_bytes())
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        self.batmap_hdr = Some(hdr);
        Ok(())
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

    /// Flushes the I/O object.
    pub fn flush(&mut self) -> Result<(), Error<I::Error>> {
        self.io.flush().map_err(Error::Io)
    }
}

/// Reads just enough of an image to say how large the buffers for [`Disk::open`] must
/// be. The sizes are bounded by the file: a BAT cannot be larger than the file.
pub fn probe<I: Io>(io: &mut I) -> Result<Layout, Error<I::Error>> {
    let found = find_footer(io, false)?;
    probe_found(io, &found)
}

/// [`probe`] with the footer already located, for [`Disk::open_found`].
pub fn probe_found<I: Io>(io: &mut I, found: &FoundFooter) -> Result<Layout, Error<I::Error>> {
    let s = crate::summary::summarize_found(io, found.clone())?;
    let Some(h) = s.header else {
        return Ok(Layout::default());
    };
    let entries = h.max_bat_size;
    let batmap_bytes = if has_batmap_version(&s.footer) {
        batmap::map_sectors(entries) as usize * SECTOR_SIZE + SECTOR_SIZE
    } else {
        0
    };
    Ok(Layout {
        bat_bytes: bat::bat_bytes(entries) as usize,
        batmap_bytes,
        bitmap_bytes: h.bitmap_sectors() as usize * SECTOR_SIZE,
        blocks: entries,
    })
}

/// Whether the footer's creator and version promise a batmap (tap 1.1 or later).
pub(crate) fn has_batmap_version(f: &Footer) -> bool {
    f.is_tapdisk_creator() && f.crtr_ver >= footer::version(1, 1)
}

pub(crate) fn read_header<I: Io>(
    io: &mut I,
    f: &Footer,
    footer_pos: u64,
) -> Result<Header, Error<I::Error>> {
    let off = f.data_offset;
    if off
        .checked_add(HEADER_SIZE as u64)
        .is_none_or(|end| end > footer_pos)
    {
        return Err(invalid(Structure::Footer, "data_offset"));
    }
    let mut b = [0u8; HEADER_SIZE];
    io.read_at(off, &mut b).map_err(Error::Io)?;
    let h = Header::parse(&b)?;
    h.validate_for_open(footer_pos)?;
    Ok(h)
}
