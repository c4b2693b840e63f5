//! The metadata writes every mutation shares: footers, header, BAT sectors, the hidden
//! flag, the poison cookie and blktap's marker.

use crate::error::Error;
use crate::footer;
use crate::io::Io;
use crate::SECTOR_SIZE;

use super::{Disk, Kind};

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    pub(crate) fn require_writable(&self) -> Result<(), Error<I::Error>> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::ReadOnly)
        }
    }

    /// Writes the footer at the primary position.
    pub(crate) fn write_primary_footer(&mut self) -> Result<(), Error<I::Error>> {
        self.write_footer_at(self.footer_pos)
    }

    /// Writes the footer at byte `pos`. Not inlined: its sector-sized buffer stays off
    /// the stack of the operations that call it.
    #[inline(never)]
    pub(crate) fn write_footer_at(&mut self, pos: u64) -> Result<(), Error<I::Error>> {
        let b = self.footer.to_bytes();
        self.io.write_at(pos, &b).map_err(Error::Io)
    }

    /// Writes the footer copy at offset 0 (sparse disks only).
    pub(crate) fn write_backup_footer(&mut self) -> Result<(), Error<I::Error>> {
        if self.header.is_none() {
            return Ok(());
        }
        self.write_footer_at(0)
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

    /// Writes the batmap header sector with `version` and `checksum`, then takes them
    /// into the in-memory header (which keeps the old ones if the write fails). Not
    /// inlined, for the same reason as [`Disk::write_footer_at`].
    #[inline(never)]
    pub(crate) fn write_batmap_header(
        &mut self,
        version: u32,
        checksum: u32,
    ) -> Result<(), Error<I::Error>> {
        let off = self.batmap_header_offset();
        let Some(hdr) = &self.batmap_hdr else {
            return Ok(());
        };
        let sector = hdr.to_bytes_with(version, checksum);
        self.io.write_at(off, &sector).map_err(Error::Io)?;
        if let Some(hdr) = &mut self.batmap_hdr {
            hdr.batmap_version = version;
            hdr.checksum = checksum;
        }
        Ok(())
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
    /// [`OpenOptions::ignore_disabled`](super::OpenOptions::ignore_disabled) to work on it).
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
        // The header written below carries the checksum of the map in memory.
        self.write_deferred_batmap()?;
        let mut hdr = self.batmap_hdr.clone().ok_or(Error::WrongDiskType)?;
        hdr.rest[at..at + bytes.len()].copy_from_slice(bytes);
        self.io
            .write_at(self.batmap_header_offset(), &hdr.to_bytes())
            .map_err(Error::Io)?;
        self.io.flush().map_err(Error::Io)?;
        self.batmap_hdr = Some(hdr);
        Ok(())
    }
}
