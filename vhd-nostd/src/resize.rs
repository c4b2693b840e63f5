//! Growing a sparse disk's virtual size in place: new BAT entries are taken from the
//! padding of the BAT's last sector (blktap's layout leaves no other room without
//! moving blocks). Order: new entries, then header, then footers.

use crate::bat::{self, UNUSED};
use crate::disk::Disk;
use crate::error::Error;
use crate::geometry;
use crate::io::Io;
use crate::SECTOR_SIZE;

/// How many BAT entries `disk` can hold without moving anything.
pub fn bat_capacity<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(disk: &Disk<I, B>) -> u32 {
    match disk.header() {
        Some(h) => {
            let sectors = bat::bat_sectors(h.max_bat_size);
            let by_buffer = disk.bat.as_bytes().len() as u64 / 4;
            (sectors * (SECTOR_SIZE as u64 / 4))
                .min(by_buffer)
                .min(u64::from(u32::MAX)) as u32
        }
        None => 0,
    }
}

/// Grows the virtual size to `new_size` bytes (a whole number of sectors, larger than
/// now). Fails with [`Error::NoSpace`] when the BAT or the batmap would need to move.
pub fn grow<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    disk: &mut Disk<I, B>,
    new_size: u64,
) -> Result<(), Error<I::Error>> {
    disk.require_writable()?;
    let mut h = disk.header.clone().ok_or(Error::WrongDiskType)?;
    if disk.footer.saved != 0 {
        return Err(Error::SavedState);
    }
    if !new_size.is_multiple_of(SECTOR_SIZE as u64) || new_size > crate::create::MAX_SIZE {
        return Err(Error::InvalidArgument("size"));
    }
    if new_size < disk.size() {
        return Err(Error::InvalidArgument("shrink"));
    }
    if new_size == disk.size() {
        return Ok(());
    }
    let old = h.max_bat_size;
    let needed = u32::try_from(new_size.div_ceil(u64::from(h.block_size)))
        .map_err(|_| Error::InvalidArgument("size"))?;
    let entries = needed.max(old);
    if entries > bat_capacity(disk) {
        return Err(Error::NoSpace);
    }
    if let Some(bm) = &disk.batmap_hdr {
        if crate::batmap::map_sectors(entries) > bm.batmap_size {
            return Err(Error::NoSpace);
        }
    }
    if entries > old {
        // 1. Mark the new entries unused while nothing refers to them yet.
        disk.bat.set_entries(entries);
        for b in old..entries {
            disk.bat.set(b, UNUSED);
        }
        let first = old / bat::ENTRIES_PER_SECTOR;
        let last = (entries - 1) / bat::ENTRIES_PER_SECTOR;
        for s in first..=last {
            disk.write_bat_entry(s * bat::ENTRIES_PER_SECTOR)?;
        }
        disk.io.flush().map_err(Error::Io)?;
        // 2. The header takes them in.
        h.max_bat_size = entries;
        h.seal();
        disk.header = Some(h);
        disk.write_header()?;
        disk.io.flush().map_err(Error::Io)?;
    }
    // 3. The footers announce the size: primary, then the copy (which a writable open
    // rewrites from the primary if a crash leaves them different).
    disk.footer.curr_size = new_size;
    disk.footer.geometry = geometry::chs(new_size).encode();
    disk.footer.seal();
    disk.write_primary_footer()?;
    disk.io.flush().map_err(Error::Io)?;
    disk.write_backup_footer()?;
    disk.io.flush().map_err(Error::Io)?;
    disk.sectors = new_size / SECTOR_SIZE as u64;
    Ok(())
}
