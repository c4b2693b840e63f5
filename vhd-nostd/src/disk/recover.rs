//! What a read-write open repairs: a stale or damaged footer copy and an invalid batmap.

use crate::batmap;
use crate::error::Error;
use crate::footer::FOOTER_SIZE;
use crate::io::Io;

use super::{Disk, Recovered};

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Repairs on a writable open what the format defines as recoverable.
    pub(super) fn recover(&mut self) -> Result<(), Error<I::Error>> {
        if self.recovered.contains(Recovered::BACKUP_FOOTER) {
            self.write_primary_footer()?;
            self.recovered |= Recovered::PRIMARY_FOOTER_REWRITTEN;
        } else {
            if !self.backup_footer_matches()? {
                self.write_backup_footer()?;
                self.recovered |= Recovered::BACKUP_FOOTER_REWRITTEN;
            }
        }
        if self.recovered.contains(Recovered::BATMAP_INVALID) && self.batmap_hdr.is_some() {
            self.rebuild_batmap()?;
        }
        Ok(())
    }

    /// Whether the footer copy at offset 0 holds the footer in force, byte for byte;
    /// read a piece at a time, so that no footer-sized buffer sits on the stack.
    #[inline(never)]
    fn backup_footer_matches(&mut self) -> Result<bool, Error<I::Error>> {
        let mut piece = [0u8; 128];
        for at in (0..FOOTER_SIZE).step_by(piece.len()) {
            self.io.read_at(at as u64, &mut piece).map_err(Error::Io)?;
            if !self.footer.matches_part(at, &piece) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Recomputes the batmap from the sector bitmaps and writes map, then header.
    pub(crate) fn rebuild_batmap(&mut self) -> Result<(), Error<I::Error>> {
        let Some(hdr) = &self.batmap_hdr else {
            return Ok(());
        };
        let (map_off, len) = (hdr.batmap_offset, hdr.map_bytes() as usize);
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
        let version = batmap::BATMAP_VERSION;
        let checksum = crate::checksum::batmap(version, &self.batmap.as_ref()[..len]);
        self.io
            .write_at(map_off, &self.batmap.as_ref()[..len])
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        self.write_batmap_header(version, checksum)?;
        self.io.flush().map_err(Error::Io)?;
        self.recovered.remove(Recovered::BATMAP_INVALID);
        self.batmap_deferred = None;
        Ok(())
    }
}
