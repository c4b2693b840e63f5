//! Discarding every block of a sparse disk (blktap3's `vhd-util modify -z`, "kill
//! data"), leaving an empty image of the same size, identity and parent.

use crate::disk::Disk;
use crate::error::Error;
use crate::footer::FOOTER_SIZE;
use crate::io::Io;
use crate::write::write_zeros;
use crate::SECTOR_SIZE;

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Frees every block: batmap cleared, BAT entries unused, the primary footer moved
    /// to the new end of data and the image cut short after it (a block device keeps
    /// its length; [`Io::set_size`] decides).
    ///
    /// Crash-safe by order: the batmap is only a hint (a map cleared under an old
    /// checksum reads as invalid and is rebuilt); the BAT is written before the footer
    /// moves, so the footer at the end of the file stays valid until the new one is
    /// down; the file is cut last.
    pub fn kill_data(&mut self) -> Result<(), Error<I::Error>> {
        self.require_writable()?;
        if self.header.is_none() {
            return Err(Error::WrongDiskType);
        }
        if let Some(mut hdr) = self.batmap_hdr.clone() {
            let len = hdr.map_bytes();
            write_zeros(&mut self.io, hdr.batmap_offset, len)?;
            self.io.flush().map_err(Error::Io)?;
            let map = self.batmap.as_mut();
            let held = map.len().min(len as usize);
            map[..held].fill(0);
            hdr.checksum = hdr.compute_checksum(&[]);
            self.io
                .write_at(self.batmap_header_offset(), &hdr.to_bytes())
                .map_err(Error::Io)?;
            self.batmap_hdr = Some(hdr);
            self.batmap_deferred = None;
        }
        self.bat.clear_all();
        self.bitmaps.clear(self.bitmap.as_mut());
        let entries = self.bat.entries();
        if entries > 0 {
            self.write_bat_entries(0, entries - 1)?;
        }
        self.io.flush().map_err(Error::Io)?;
        self.end_of_data = self.compute_end_of_data();
        let pos = self.end_of_data.div_ceil(SECTOR_SIZE as u64) * SECTOR_SIZE as u64;
        if pos < self.footer_pos {
            let b = self.footer.to_bytes();
            self.io.write_at(pos, &b).map_err(Error::Io)?;
            self.io.flush().map_err(Error::Io)?;
            self.footer_pos = pos;
            self.io
                .set_size(pos + FOOTER_SIZE as u64)
                .map_err(Error::Io)?;
        }
        self.io.flush().map_err(Error::Io)
    }
}
