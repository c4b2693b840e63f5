//! An image's footer, header, hidden flag and file size, read without opening it fully:
//! what `vhd-util scan -f` prints for each of many images. A few small reads through the
//! page cache cost less than `O_DIRECT` ones, and nothing is read that is not printed.

use std::path::Path;

use vhd_nostd::summary::{hidden_flag, summarize, Summary};

use crate::errno::{Errno, VhdResult};
use crate::fileio::{FileIo, OpenMode};

/// What [`summary`] found; which step failed is told apart, as scan reports it.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The validated footer and header.
    pub summary: Summary,
    /// The file's length in bytes (a block device's size).
    pub file_size: u64,
    /// The hidden flag, or why it could not be read.
    pub hidden: VhdResult<u8>,
}

/// Summarises the image at `path` (read-only, buffered): the error is the one a full open
/// would give at the footer or header.
pub fn summary(path: &Path) -> VhdResult<ImageSummary> {
    let mut io = FileIo::open_buffered(path, OpenMode::ReadOnly)?;
    let file_size = vhd_nostd::Io::size(&mut io)?;
    let summary = summarize(&mut io, false)?;
    let hidden = hidden_flag(&mut io, &summary.footer).map_err(Errno::from);
    Ok(ImageSummary {
        summary,
        file_size,
        hidden,
    })
}
