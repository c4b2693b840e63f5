//! The parent link of a differencing disk: decoding its locators, and pointing it at a
//! new parent (vhd-util modify -p).

use uuid::Uuid;

use crate::disk::Disk;
use crate::error::{Error, FormatError, Structure};
use crate::footer::DiskType;
use crate::io::Io;
use crate::locator::{self, ParentLocator, LOCATOR_COUNT};
use crate::SECTOR_SIZE;

/// A new parent for [`Disk::set_parent`].
#[derive(Debug, Clone, Copy)]
pub struct NewParent<'p> {
    /// The parent's footer UUID; nil for a raw parent.
    pub uuid: Uuid,
    /// The parent's modification time, VHD seconds.
    pub timestamp: u32,
    /// The parent's file name (UTF-16BE in the header).
    pub name: &'p str,
    /// The parent's path relative to the child's directory, for the locators.
    pub relative_path: &'p str,
}

impl<I: Io, B: AsRef<[u8]> + AsMut<[u8]>> Disk<I, B> {
    /// Whether the parent is a raw image (nil parent UUID), as libvhd's `vhd_parent_raw`.
    pub fn parent_is_raw(&self) -> bool {
        self.header.as_ref().is_some_and(|h| h.prt_uuid.is_nil())
    }

    /// Reads locator `index`'s payload (staged in `scratch`) and decodes its path into
    /// `out` as a POSIX path: `\` becomes `/`, a `C:` drive prefix and `file://` are
    /// removed. Only `MacX`, `W2ku` and `W2ru` hold paths.
    pub fn parent_locator_path<'o>(
        &mut self,
        index: usize,
        scratch: &mut [u8],
        out: &'o mut [u8],
    ) -> Result<&'o str, Error<I::Error>> {
        let h = self.header.as_ref().ok_or(Error::WrongDiskType)?;
        let loc = *h
            .loc
            .get(index)
            .ok_or(Error::InvalidArgument("locator index"))?;
        loc.read_path(&mut self.io, scratch, out)
    }

    /// Points a differencing disk at a new parent: rewrites the existing `MacX`, `W2ku`
    /// and `W2ru` locator payloads in place (an error if the path outgrows a slot), then
    /// the header with the parent's UUID, name and timestamp. `scratch` stages payloads.
    pub fn set_parent(
        &mut self,
        p: &NewParent<'_>,
        scratch: &mut [u8],
    ) -> Result<(), Error<I::Error>> {
        self.require_writable()?;
        if self.disk_type() != Some(DiskType::Differencing) {
            return Err(Error::WrongDiskType);
        }
        let mut h = self.header.clone().ok_or(Error::WrongDiskType)?;
        h.prt_uuid = p.uuid;
        h.prt_ts = p.timestamp;
        h.set_parent_name(p.name)?;
        let file_size = self.io.size().map_err(Error::Io)?;
        // Encode and bound every payload before writing any.
        for pass in 0..2 {
            for i in 0..LOCATOR_COUNT {
                let loc = h.loc[i];
                let len = match loc.code {
                    locator::PLAT_CODE_MACX => locator::encode_macx(p.relative_path, scratch)?,
                    locator::PLAT_CODE_W2KU | locator::PLAT_CODE_W2RU => {
                        locator::encode_windows_path(p.relative_path, scratch)?
                    }
                    _ => continue,
                };
                let space = loc.space_bytes();
                if len as u64 > space
                    || loc
                        .data_offset
                        .checked_add(space)
                        .is_none_or(|e| e > file_size)
                {
                    return Err(FormatError::invalid(Structure::ParentLocator, "data_space").into());
                }
                if pass == 1 {
                    let padded = (len as u64).div_ceil(SECTOR_SIZE as u64) * SECTOR_SIZE as u64;
                    let padded = padded.min(space) as usize;
                    if scratch.len() < padded {
                        return Err(Error::BufferTooSmall { needed: padded });
                    }
                    scratch[len..padded].fill(0);
                    self.io
                        .write_at(loc.data_offset, &scratch[..padded])
                        .map_err(Error::Io)?;
                    h.loc[i] = ParentLocator {
                        data_len: len as u32,
                        ..loc
                    };
                }
            }
        }
        self.io.flush().map_err(Error::Io)?;
        h.seal();
        self.header = Some(h);
        self.write_header()?;
        self.io.flush().map_err(Error::Io)
    }
}
