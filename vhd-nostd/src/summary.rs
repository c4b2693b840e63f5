//! What an image is, read without its tables: the footer in force, the dynamic header of
//! a sparse disk, and the hidden flag. This is all that listing many images needs
//! (`vhd-util scan -f`), and the first half of every open: it reads at most three small
//! pieces of the file and needs no buffers from the caller.

use crate::disk::{check_sparse_layout, find_footer, invalid, read_header, FoundFooter, Recovered};
use crate::error::{Error, Structure};
use crate::footer::{DiskType, Footer, FOOTER_SIZE};
use crate::header::Header;
use crate::io::Io;

/// The footer and header of an image, validated as [`crate::Disk::open`] validates them.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The footer in force (the end one, or the copy at offset 0 when that was recovered).
    pub footer: Footer,
    /// The disk type the footer names.
    pub disk_type: DiskType,
    /// Byte offset of the primary footer slot.
    pub footer_pos: u64,
    /// The dynamic disk header, for a dynamic or differencing disk.
    pub header: Option<Header>,
    /// End of the header and BAT, bytes (0 for a fixed disk).
    pub end_of_tables: u64,
    /// How the footer was found ([`Recovered::SHORT_FOOTER`], [`Recovered::BACKUP_FOOTER`]).
    pub recovered: Recovered,
}

/// Reads and validates an image's footer and (for a sparse disk) its header and table
/// layout, refusing what open refuses at that stage. A disabled (poisoned) image is
/// summarised like any other: [`Summary::footer`] says so.
pub fn summarize<I: Io>(io: &mut I, strict: bool) -> Result<Summary, Error<I::Error>> {
    let found = find_footer(io, strict)?;
    summarize_found(io, found)
}

/// [`summarize`] with the footer already located ([`find_footer`], or a block device's
/// copy at offset 0).
pub fn summarize_found<I: Io>(io: &mut I, found: FoundFooter) -> Result<Summary, Error<I::Error>> {
    let footer = found.footer;
    let disk_type = footer.validate()?;
    let (header, end_of_tables) = if disk_type.is_sparse() {
        let h = read_header(io, &footer, found.pos)?;
        let end = check_sparse_layout(&footer, &h, found.pos)?;
        (Some(h), end)
    } else {
        // The data ends where the footer starts.
        if footer.curr_size > found.pos {
            return Err(invalid(Structure::Footer, "curr_size"));
        }
        (None, 0)
    };
    Ok(Summary {
        footer,
        disk_type,
        footer_pos: found.pos,
        header,
        end_of_tables,
        recovered: found.recovered,
    })
}

/// The hidden flag as libvhd's `vhd_hidden` reads it: from the footer in force, except
/// for sparse images made by tapdisk 0.1 or 1.1, which kept it only in the copy at
/// offset 0 (their end footer's flag is stale).
pub fn hidden_flag<I: Io>(io: &mut I, footer: &Footer) -> Result<u8, Error<I::Error>> {
    if !footer.hidden_in_copy() {
        return Ok(footer.hidden);
    }
    let mut b = [0u8; FOOTER_SIZE];
    io.read_at(0, &mut b).map_err(Error::Io)?;
    Ok(Footer::decode(&b)?.hidden)
}
