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

/// Finds the authoritative footer, as [`Disk::open`](super::Disk::open) does: EOF − 512,
/// then EOF − 511 (legacy), then, unless `strict`, the copy at offset 0 if it describes
/// a sparse disk (a fixed disk's offset 0 is guest data and never decides the type). The
/// error is the end footer's.
pub fn find_footer<I: Io>(io: &mut I, strict: bool) -> Result<FoundFooter, Error<I::Error>> {
    let mut found = FoundFooter {
        footer: Footer::ZEROED,
        pos: 0,
        recovered: Recovered::empty(),
    };
    (found.pos, found.recovered) = find_footer_into(io, strict, &mut found.footer)?;
    Ok(found)
}

/// [`find_footer`] into the caller's `out` (each candidate is read straight into it):
/// the primary footer slot's offset and how the footer was found. On error `out` holds
/// whatever was tried last.
pub fn find_footer_into<I: Io>(
    io: &mut I,
    strict: bool,
    out: &mut Footer,
) -> Result<(u64, Recovered), Error<I::Error>> {
    let size = io.size().map_err(Error::Io)?;
    if size < FOOTER_SIZE as u64 {
        return Err(FormatError::Truncated {
            structure: Structure::Image,
        }
        .into());
    }
    let pos = size - FOOTER_SIZE as u64;
    let first = match Footer::read_into(io, pos, FOOTER_SIZE, out) {
        Ok(()) => return Ok((pos, Recovered::empty())),
        Err(Error::Format(e)) => e,
        Err(e) => return Err(e),
    };
    let short = size - (SECTOR_SIZE - 1) as u64;
    if size % SECTOR_SIZE as u64 == (SECTOR_SIZE - 1) as u64
        && Footer::read_into(io, short, SECTOR_SIZE - 1, out).is_ok()
    {
        return Ok((short, Recovered::SHORT_FOOTER));
    }
    if !strict
        && size >= 2 * FOOTER_SIZE as u64
        && Footer::read_into(io, 0, FOOTER_SIZE, out).is_ok()
        && out.kind().is_some_and(DiskType::is_sparse)
    {
        return Ok((pos, Recovered::BACKUP_FOOTER));
    }
    Err(first.into())
}
