//! Opening an image: the footer, the header and the table layout checked against the
//! file, the BAT and the batmap loaded into the caller's buffers.

use crate::bat::{self, Bat};
use crate::batmap::BatmapHeader;
use crate::bitmap_cache::BitmapCache;
use crate::error::{Error, Structure};
use crate::footer::{self, DiskType, Footer, FOOTER_SIZE};
use crate::header::{Header, HEADER_SIZE};
use crate::io::Io;
use crate::SECTOR_SIZE;

use crate::layout::{self, overlaps, BatmapPresence, Metadata};

use super::{find_footer_into, invalid, Buffers, Disk, FoundFooter, Kind, OpenOptions, Recovered};

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
            let tables = Metadata {
                header_offset: hdr,
                table_offset: to,
                max_bat_size: h.max_bat_size,
                batmap_map: None,
            };
            Ok(layout::end_of_headers(&tables, []))
        }
        _ => Err(invalid(Structure::Header, "table_offset")),
    }
}

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Opens a VHD: finds and validates the footer (falling back to the copy at offset 0
    /// unless strict, and saying so in [`Disk::recovered`]), the header and the layout,
    /// loads the BAT and the batmap. A read-write open also repairs what the format
    /// defines as recoverable: a damaged or stale footer copy and an invalid batmap.
    pub fn open(io: I, bufs: Buffers<B>, opts: OpenOptions) -> Result<Self, Error<I::Error>> {
        let mut slot = None;
        Self::open_in(&mut slot, io, bufs, opts)?;
        slot.ok_or(Error::InvalidArgument("open"))
    }

    /// [`Disk::open`] into the caller's `slot`: the footer, header and batmap header are
    /// read straight into the disk there, never staged on the stack, so that opening
    /// needs well under 1 KiB of stack below the caller (a firmware's measure, see
    /// `bench/embedded-run`). On error the slot is left empty.
    pub fn open_in(
        slot: &mut Option<Self>,
        io: I,
        bufs: Buffers<B>,
        opts: OpenOptions,
    ) -> Result<&mut Self, Error<I::Error>> {
        let (bat, batmap, bitmap) = Self::tables(bufs)?;
        Self::place(slot, io, bat, batmap, bitmap, opts.writable);
        let loaded = match slot.as_mut() {
            Some(disk) => find_footer_into(&mut disk.io, opts.strict, &mut disk.footer)
                .and_then(|(pos, recovered)| disk.load(opts, pos, recovered)),
            None => Err(Error::InvalidArgument("open")),
        };
        if let Err(e) = loaded {
            *slot = None;
            return Err(e);
        }
        slot.as_mut().ok_or(Error::InvalidArgument("open"))
    }

    /// [`Disk::open`] with the footer already located by the caller (a block device's
    /// host reads the copy at offset 0 to learn where the image ends, see `vhd-std`).
    pub fn open_found(
        io: I,
        bufs: Buffers<B>,
        opts: OpenOptions,
        found: FoundFooter,
    ) -> Result<Self, Error<I::Error>> {
        let (bat, batmap, bitmap) = Self::tables(bufs)?;
        let mut disk = Self::blank(io, bat, batmap, bitmap, opts.writable);
        disk.footer = found.footer;
        disk.load(opts, found.pos, found.recovered)?;
        Ok(disk)
    }

    /// The caller's buffers, the BAT's as a table of no entries yet.
    fn tables(bufs: Buffers<B>) -> Result<(Bat<B>, B, B), Error<I::Error>> {
        let bat = Bat::new(bufs.bat, 0).ok_or(Error::BufferTooSmall { needed: 0 })?;
        Ok((bat, bufs.batmap, bufs.bitmap))
    }

    /// Puts a blank disk into `slot`. Apart, so that the copy it is built in leaves the
    /// stack before open goes deeper: a disk is as large as its footer and header.
    #[inline(never)]
    fn place(slot: &mut Option<Self>, io: I, bat: Bat<B>, batmap: B, bitmap: B, writable: bool) {
        *slot = Some(Self::blank(io, bat, batmap, bitmap, writable));
    }

    /// A disk with no metadata yet, holding the caller's I/O object and buffers.
    #[inline(always)]
    fn blank(io: I, bat: Bat<B>, batmap: B, bitmap: B, writable: bool) -> Self {
        Disk {
            io,
            kind: Kind::Raw,
            footer: Footer::ZEROED,
            header: None,
            footer_pos: 0,
            sectors: 0,
            bat,
            batmap_hdr: None,
            batmap,
            bitmap,
            bitmaps: BitmapCache::new(&mut [], 0),
            end_of_headers: 0,
            end_of_data: 0,
            writable,
            recovered: Recovered::empty(),
            scratch: None,
            overlap_scan: crate::alias::Overlaps::Unchecked,
            batmap_deferred: None,
        }
    }

    /// Loads the rest once the footer in force (found at `pos`) is in place: checks it,
    /// reads the header into place, checks the layout, loads the BAT and the batmap, and
    /// repairs on a writable open.
    fn load(
        &mut self,
        opts: OpenOptions,
        pos: u64,
        recovered: Recovered,
    ) -> Result<(), Error<I::Error>> {
        self.footer_pos = pos;
        self.recovered = recovered;
        let dt = self.footer.validate()?;
        if self.footer.is_disabled() && !opts.ignore_disabled {
            return Err(Error::Disabled);
        }
        self.kind = Kind::Vhd(dt);
        let file_size = self.io.size().map_err(Error::Io)?;
        self.sectors = self.footer.curr_size / SECTOR_SIZE as u64;
        self.end_of_data = self.footer.curr_size;
        if dt == DiskType::Fixed {
            // The data ends where the footer starts (EOF − 512, or EOF − 511 for a
            // legacy short footer).
            if self.footer.curr_size > pos {
                return Err(invalid(Structure::Footer, "curr_size"));
            }
            return Ok(());
        }
        let h = self.header.insert(Header::ZEROED);
        read_header_into(&mut self.io, &self.footer, pos, h)?;
        self.end_of_headers = check_sparse_layout(&self.footer, h, pos)?;
        let bat_len = bat::bat_bytes(h.max_bat_size) as usize;
        let bm_len = h.bitmap_sectors() as usize * SECTOR_SIZE;
        let table = self
            .bat
            .bytes_mut()
            .get_mut(..bat_len)
            .ok_or(Error::BufferTooSmall { needed: bat_len })?;
        if self.bitmap.as_ref().len() < bm_len {
            return Err(Error::BufferTooSmall { needed: bm_len });
        }
        self.io.read_at(h.table_offset, table).map_err(Error::Io)?;
        if !self.bat.set_entries(h.max_bat_size) {
            return Err(Error::BufferTooSmall { needed: bat_len });
        }
        self.bitmaps = BitmapCache::new(self.bitmap.as_mut(), bm_len);
        self.load_batmap()?;
        self.end_of_headers = self.compute_end_of_headers(file_size);
        self.end_of_data = self.compute_end_of_data();
        if self.writable {
            self.recover()?;
        }
        Ok(())
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
            batmap_deferred: None,
        })
    }

    fn load_batmap(&mut self) -> Result<(), Error<I::Error>> {
        let presence = self.footer.batmap_presence();
        if presence == BatmapPresence::Absent {
            return Ok(());
        }
        let off = self.batmap_header_offset();
        if off + SECTOR_SIZE as u64 > self.footer_pos {
            return self.batmap_invalid();
        }
        let first_block = self.first_block_start();
        let hdr = self.batmap_hdr.insert(BatmapHeader::ZEROED);
        match BatmapHeader::read_into(&mut self.io, off, hdr) {
            Ok(()) => {}
            Err(Error::Format(_)) => {
                self.batmap_hdr = None;
                // 1.1 images may lack a batmap; a missing cookie means none.
                if presence == BatmapPresence::IfValid {
                    return Ok(());
                }
                return self.batmap_invalid();
            }
            Err(e) => {
                self.batmap_hdr = None;
                return Err(e);
            }
        }
        let (map_off, map_len) = (hdr.batmap_offset, hdr.map_bytes());
        // Metadata precedes the data blocks. A map reaching past the first block is not
        // metadata: trusting it would hide blocks behind the end of headers, and
        // rebuilding it would overwrite their data.
        let past_first_block = map_off
            .checked_add(map_len)
            .is_none_or(|end| end > first_block);
        let bad = hdr.validate(self.bat.entries(), self.footer_pos).is_err()
            || past_first_block
            || overlaps(map_off, map_len, 0, off + SECTOR_SIZE as u64)
            // Larger than the BAT needs and than the buffer `probe` sized: the bitmaps
            // still answer every question the map would, so it is ignored.
            || self.batmap.as_ref().len() < map_len as usize;
        if bad {
            self.batmap_hdr = None;
            return self.batmap_invalid();
        }
        let map = &mut self.batmap.as_mut()[..map_len as usize];
        self.io.read_at(map_off, map).map_err(Error::Io)?;
        // A map failing its checksum keeps its header (the marker lives there).
        if self
            .batmap_hdr
            .as_ref()
            .is_some_and(|h| h.verify(map).is_err())
        {
            return self.batmap_invalid();
        }
        Ok(())
    }

    /// An invalid batmap is ignored for reads; a writable open rebuilds it in `recover`.
    fn batmap_invalid(&mut self) -> Result<(), Error<I::Error>> {
        self.recovered |= Recovered::BATMAP_INVALID;
        Ok(())
    }
}

/// Reads the header of a sparse disk whose footer is `f` and accepts it as open does.
pub(crate) fn read_header<I: Io>(
    io: &mut I,
    f: &Footer,
    footer_pos: u64,
) -> Result<Header, Error<I::Error>> {
    let mut h = Header::ZEROED;
    read_header_into(io, f, footer_pos, &mut h)?;
    Ok(h)
}

/// [`read_header`] straight into `out`. Not inlined, so that its buffers are off the
/// stack while open goes on.
#[inline(never)]
fn read_header_into<I: Io>(
    io: &mut I,
    f: &Footer,
    footer_pos: u64,
    out: &mut Header,
) -> Result<(), Error<I::Error>> {
    let off = f.data_offset;
    if off
        .checked_add(HEADER_SIZE as u64)
        .is_none_or(|end| end > footer_pos)
    {
        return Err(invalid(Structure::Footer, "data_offset"));
    }
    Header::read_into(io, off, out)?;
    out.validate_for_open(footer_pos)?;
    Ok(())
}
