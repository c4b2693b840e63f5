//! Sizing the buffers an image needs before opening it.

use crate::bat;
use crate::batmap;
use crate::error::Error;
use crate::io::Io;
use crate::SECTOR_SIZE;

use crate::layout::BatmapPresence;

use super::{find_footer, FoundFooter};

/// The buffer sizes an image needs, found by [`probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// Bytes for the BAT buffer (whole sectors).
    pub bat_bytes: usize,
    /// Bytes for the batmap buffer (0 if the image has none).
    pub batmap_bytes: usize,
    /// Bytes for the bitmap buffer.
    pub bitmap_bytes: usize,
    /// Number of blocks (BAT entries); 0 for fixed disks.
    pub blocks: u32,
}

/// Bitmap cache slots for hosts that can spare about half a MiB per open image: 1024
/// blocks, 2 GiB of a disk with 2 MiB blocks, read without touching a bitmap twice.
pub const BITMAP_CACHE_SLOTS: usize = 1024;

impl Layout {
    /// Bytes of a bitmap buffer that caches the bitmaps of up to `slots` blocks at once
    /// (no more than the disk has; blocks share a slot when there are more of them).
    pub const fn bitmap_cache_bytes(&self, slots: usize) -> usize {
        let slots = if (self.blocks as usize) < slots {
            self.blocks as usize
        } else {
            slots
        };
        let bytes = crate::bitmap_cache::cache_bytes(self.bitmap_bytes, slots);
        // Never less than one bitmap, the least open accepts.
        if bytes < self.bitmap_bytes {
            self.bitmap_bytes
        } else {
            bytes
        }
    }
}

/// Reads just enough of an image to say how large the buffers for [`Disk::open`](super::Disk::open) must
/// be. The sizes are bounded by the file: a BAT cannot be larger than the file.
pub fn probe<I: Io>(io: &mut I) -> Result<Layout, Error<I::Error>> {
    let found = find_footer(io, false)?;
    probe_found(io, &found)
}

/// [`probe`] with the footer already located, for [`Disk::open_found`](super::Disk::open_found).
pub fn probe_found<I: Io>(io: &mut I, found: &FoundFooter) -> Result<Layout, Error<I::Error>> {
    let s = crate::summary::summarize_found(io, found.clone())?;
    let Some(h) = s.header else {
        return Ok(Layout::default());
    };
    let entries = h.max_bat_size;
    let batmap_bytes = if s.footer.batmap_presence() != BatmapPresence::Absent {
        batmap::map_sectors(entries) as usize * SECTOR_SIZE + SECTOR_SIZE
    } else {
        0
    };
    Ok(Layout {
        bat_bytes: bat::bat_bytes(entries) as usize,
        batmap_bytes,
        bitmap_bytes: h.bitmap_sectors() as usize * SECTOR_SIZE,
        blocks: entries,
    })
}
