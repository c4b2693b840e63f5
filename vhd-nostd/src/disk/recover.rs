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
}
