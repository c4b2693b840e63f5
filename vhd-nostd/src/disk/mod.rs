//! An open image: its footer, header, BAT and batmap held in caller buffers.
//!
//! The steps live apart: `find` locates the footer, `open` checks the layout and
//! loads the tables, `recover` repairs what a read-write open may, `extent` says
//! where metadata and blocks end, `bitmaps` loads sector bitmaps, `query` answers
//! what the image is, `metadata` writes footers, header and BAT sectors, and `probe`
//! sizes the caller's buffers.

mod bitmaps;
mod extent;
mod find;
mod metadata;
mod open;
mod options;
mod probe;
mod query;
mod recover;

pub use find::{find_footer, find_footer_into, FoundFooter};
pub(crate) use open::{check_sparse_layout, read_header};
pub use options::{OpenOptions, Recovered};
pub use probe::{probe, probe_found, Layout, BITMAP_CACHE_SLOTS};

use crate::bat::Bat;
use crate::batmap::BatmapHeader;
use crate::bitmap_cache::BitmapCache;
use crate::error::{Error, FormatError, Structure};
use crate::footer::{DiskType, Footer};
use crate::header::Header;
use crate::io::Io;

/// What an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not a VHD: a raw disk image used as the bottom of a chain (blktap's raw parent).
    Raw,
    /// A VHD of the given type.
    Vhd(DiskType),
}

/// Buffers an open disk keeps its metadata in; sizes from [`probe`].
#[derive(Debug)]
pub struct Buffers<B> {
    /// The BAT, on-disk byte order: at least [`Layout::bat_bytes`].
    pub bat: B,
    /// The batmap's map: at least [`Layout::batmap_bytes`] (may be empty if there is none).
    pub batmap: B,
    /// Sector bitmaps: at least [`Layout::bitmap_bytes`] (one block's). A larger buffer
    /// caches the bitmaps of that many blocks (see [`Layout::bitmap_cache_bytes`]), so
    /// that random I/O across blocks does not read them again.
    pub bitmap: B,
}

impl<B: Default> Buffers<B> {
    /// Empty buffers, enough for fixed and raw disks.
    pub fn none() -> Buffers<B> {
        Buffers {
            bat: B::default(),
            batmap: B::default(),
            bitmap: B::default(),
        }
    }
}

/// An open image over an [`Io`], with its metadata in caller buffers.
#[derive(Debug)]
pub struct Disk<I: Io, B> {
    pub(crate) io: I,
    pub(crate) kind: Kind,
    pub(crate) footer: Footer,
    pub(crate) header: Option<Header>,
    /// Byte offset of the primary footer.
    pub(crate) footer_pos: u64,
    /// Virtual size in sectors.
    pub(crate) sectors: u64,
    pub(crate) bat: Bat<B>,
    pub(crate) batmap_hdr: Option<BatmapHeader>,
    pub(crate) batmap: B,
    /// Bytes of the map (`start..end`) whose bits were set since the batmap was last
    /// written: the header in memory already carries their checksum. See
    /// [`Disk::write_deferred_batmap`].
    pub(crate) batmap_deferred: Option<(usize, usize)>,
    pub(crate) bitmap: B,
    /// Which blocks' bitmaps `bitmap` holds.
    pub(crate) bitmaps: BitmapCache,
    /// End of metadata (header, BAT, batmap, locators), bytes.
    pub(crate) end_of_headers: u64,
    /// End of the last allocated block or of metadata, bytes.
    pub(crate) end_of_data: u64,
    pub(crate) writable: bool,
    pub(crate) recovered: Recovered,
    /// Optional room for a block's worth of this disk's data ([`Disk::set_read_scratch`]).
    pub(crate) scratch: Option<B>,
    /// Blocks sharing storage, as far as [`Disk::scan_overlaps`] found.
    pub(crate) overlap_scan: crate::alias::Overlaps,
}

pub(crate) fn invalid<E>(structure: Structure, field: &'static str) -> Error<E> {
    Error::Format(FormatError::invalid(structure, field))
}
