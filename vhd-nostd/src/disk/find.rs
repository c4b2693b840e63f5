//! Finding the footer in force: the end one, a legacy short one, or the copy at offset 0.

use crate::error::{Error, FormatError, Structure};
use crate::footer::{DiskType, Footer, FOOTER_SIZE};
use crate::io::Io;
use crate::SECTOR_SIZE;

use super::Recovered;

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

fn read_footer_at<I: Io>(io: &mut I, pos: u64, len: usize) -> Result<Footer, Error<I::Error>> {
    let mut b = [0u8; FOOTER_SIZE];
    io.read_at(pos, &mut b[..len]).map_err(Error::Io)?;
    Ok(Footer::parse(&b)?)
}

/// Finds the authoritative footer, as [`Disk::open`](super::Disk::open) does: EOF − 512, then EOF − 511
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
