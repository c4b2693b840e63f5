//! Creating images: fixed, dynamic, and differencing (a snapshot of a parent), laid out
//! exactly as blktap's create does. The primary footer goes last and the copy at offset 0
//! after it, so a crash mid-create leaves a file no reader takes for a valid image.

use uuid::Uuid;

use crate::bat::{self, UNUSED};
use crate::batmap::{self, BatmapHeader};
use crate::error::Error;
use crate::footer::{DiskType, Footer, FooterParams, FOOTER_SIZE};
use crate::header::{Header, HeaderParams, HEADER_SIZE};
use crate::io::Io;
use crate::locator::{self, ParentLocator};
use crate::write::write_zeros;
use crate::SECTOR_SIZE;

/// The largest virtual size the format allows (2040 GiB): block offsets are 32-bit
/// sector numbers.
pub const MAX_SIZE: u64 = 2040 << 30;
/// The largest virtual size metadata can be preallocated for (2 TiB: XenServer's LVM
/// storage preallocates exactly this, a 4 MiB BAT).
pub const MAX_CAPACITY: u64 = 2 << 40;
/// Byte offset of the BAT in a new image.
pub const TABLE_OFFSET: u64 = 1536;

/// The parent of a new differencing disk.
#[derive(Debug, Clone, Copy)]
pub struct Parent<'p> {
    /// The parent's footer UUID; nil for a raw parent.
    pub uuid: Uuid,
    /// The parent file's modification time, VHD seconds.
    pub timestamp: u32,
    /// The parent's file name, stored UTF-16BE in the header.
    pub name: &'p str,
    /// The parent's path relative to the child's directory (e.g. `./base.vhd`), stored in
    /// the `MacX`, `W2ku` and `W2ru` locators.
    pub relative_path: &'p str,
}

/// What to create.
#[derive(Debug, Clone, Copy)]
pub struct CreateParams<'p> {
    /// Disk type.
    pub kind: DiskType,
    /// Virtual size in bytes, a whole number of sectors, at most [`MAX_SIZE`].
    pub size: u64,
    /// Block size for sparse disks (a power of two; blktap uses 2 MiB).
    pub block_size: u32,
    /// The new disk's UUID.
    pub uuid: Uuid,
    /// Creation time, VHD seconds.
    pub timestamp: u32,
    /// The parent, for a differencing disk.
    pub parent: Option<Parent<'p>>,
}

fn bad<E>(what: &'static str) -> Error<E> {
    Error::InvalidArgument(what)
}

/// Creates an image in `io`, which is truncated first. `scratch` (at least 512 bytes;
/// 4 KiB or more is faster) stages BAT chunks and locator payloads.
pub fn create<I: Io>(
    io: &mut I,
    p: &CreateParams<'_>,
    scratch: &mut [u8],
) -> Result<(), Error<I::Error>> {
    create_preallocated(io, p, p.size, scratch)
}

/// [`create`] with the BAT and batmap of a sparse disk sized for a virtual size of
/// `capacity` bytes (at least `p.size`), so that the disk can later grow to it without
/// moving anything (blktap3's metadata preallocation, `vhd-util create -S`; see
/// [`crate::resize`]). The virtual size stays `p.size`. Ignored for fixed disks.
pub fn create_preallocated<I: Io>(
    io: &mut I,
    p: &CreateParams<'_>,
    capacity: u64,
    scratch: &mut [u8],
) -> Result<(), Error<I::Error>> {
    if !p.size.is_multiple_of(SECTOR_SIZE as u64) || p.size > MAX_SIZE {
        return Err(bad("size"));
    }
    if capacity < p.size || capacity > MAX_CAPACITY {
        return Err(bad("capacity"));
    }
    if scratch.len() < SECTOR_SIZE {
        return Err(Error::BufferTooSmall {
            needed: SECTOR_SIZE,
        });
    }
    if (p.kind == DiskType::Differencing) != p.parent.is_some() {
        return Err(bad("parent"));
    }
    let footer = Footer::new(FooterParams {
        kind: p.kind,
        size: p.size,
        timestamp: p.timestamp,
        uuid: p.uuid,
    });
    io.set_size(0).map_err(Error::Io)?;
    if p.kind == DiskType::Fixed {
        io.set_size(p.size).map_err(Error::Io)?;
        io.write_at(p.size, &footer.to_bytes()).map_err(Error::Io)?;
        return io.flush().map_err(Error::Io);
    }
    let bs = p.block_size;
    if !bs.is_power_of_two() || !(512..=crate::header::MAX_BLOCK_SIZE).contains(&bs) {
        return Err(bad("block_size"));
    }
    let entries = u32::try_from(capacity.div_ceil(u64::from(bs))).map_err(|_| bad("size"))?;
    let mut header = Header::new(HeaderParams {
        table_offset: TABLE_OFFSET,
        max_bat_size: entries,
        block_size: bs,
    });
    let bat_len = bat::bat_bytes(entries);
    let batmap_hdr_off = TABLE_OFFSET + bat_len;
    let map_off = batmap_hdr_off + SECTOR_SIZE as u64;
    let mut bm_hdr = BatmapHeader::new(map_off, entries);
    let mut end = map_off + bm_hdr.map_bytes();

    if let Some(parent) = &p.parent {
        header.prt_uuid = parent.uuid;
        header.prt_ts = parent.timestamp;
        header
            .set_parent_name(parent.name)
            .map_err(|_| bad("parent name"))?;
        let codes = [
            locator::PLAT_CODE_MACX,
            locator::PLAT_CODE_W2KU,
            locator::PLAT_CODE_W2RU,
        ];
        for (slot, code) in codes.into_iter().enumerate() {
            let len = encode_locator(code, parent.relative_path, scratch)?;
            let space = (len as u64).div_ceil(SECTOR_SIZE as u64) * SECTOR_SIZE as u64;
            header.loc[slot] = ParentLocator {
                code,
                data_space: u32::try_from(space).map_err(|_| bad("parent path"))?,
                data_len: len as u32,
                res: 0,
                data_offset: end,
            };
            io.write_at(end, &scratch[..len]).map_err(Error::Io)?;
            write_zeros(io, end + len as u64, space - len as u64)?;
            end += space;
        }
    }
    header.seal();

    io.write_at(FOOTER_SIZE as u64, &header.to_bytes())
        .map_err(Error::Io)?;
    write_bat(io, entries, scratch)?;
    bm_hdr.checksum = bm_hdr.compute_checksum(&[]);
    io.write_at(batmap_hdr_off, &bm_hdr.to_bytes())
        .map_err(Error::Io)?;
    write_zeros(io, map_off, bm_hdr.map_bytes())?;
    io.flush().map_err(Error::Io)?;
    let fb = footer.to_bytes();
    io.write_at(end, &fb).map_err(Error::Io)?;
    io.flush().map_err(Error::Io)?;
    io.write_at(0, &fb).map_err(Error::Io)?;
    io.flush().map_err(Error::Io)?;
    debug_assert!(TABLE_OFFSET >= (FOOTER_SIZE + HEADER_SIZE) as u64);
    let _ = batmap::BATMAP_VERSION;
    Ok(())
}

/// Encodes one locator payload into `scratch`, returning its length.
fn encode_locator<E>(code: u32, rel: &str, scratch: &mut [u8]) -> Result<usize, Error<E>> {
    let too_long = Error::BufferTooSmall {
        needed: 2 * locator::PATH_MAX + 8,
    };
    if rel.is_empty() || rel.len() > locator::PATH_MAX || rel.contains('\0') {
        return Err(bad("parent path"));
    }
    if code == locator::PLAT_CODE_MACX {
        locator::encode_macx(rel, scratch).map_err(|_| too_long)
    } else {
        locator::encode_windows_path(rel, scratch).map_err(|_| too_long)
    }
}

/// Writes the BAT: every entry unused, the padding of the last sector zero.
fn write_bat<I: Io>(io: &mut I, entries: u32, scratch: &mut [u8]) -> Result<(), Error<I::Error>> {
    let total = bat::bat_bytes(entries);
    let used = u64::from(entries) * 4;
    let chunk = (scratch.len() / SECTOR_SIZE * SECTOR_SIZE) as u64;
    let mut off = 0u64;
    while off < total {
        let n = chunk.min(total - off);
        let buf = &mut scratch[..n as usize];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = if off + (i as u64) < used { 0xFF } else { 0 };
        }
        io.write_at(TABLE_OFFSET + off, buf).map_err(Error::Io)?;
        off += n;
    }
    let _ = UNUSED;
    Ok(())
}
