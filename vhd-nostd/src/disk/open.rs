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

use super::{find_footer, invalid, Buffers, Disk, FoundFooter, Kind, OpenOptions, Recovered};

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
        disk.load_batmap()?;
        disk.end_of_headers = disk.compute_end_of_headers(file_size);
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

    fn load_batmap(&mut self) -> Result<(), Error<I::Error>> {
        let presence = self.footer.batmap_presence();
        if presence == BatmapPresence::Absent {
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
            Err(_) if presence == BatmapPresence::IfValid => return Ok(()),
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
