//! Resizing an image file: the core's [`vhd_nostd::resize`] with the buffers it asks
//! for. Growth of a sparse disk runs under a [`Journal`] (blocks may move); a fixed
//! disk is grown (a hole of zeros) or cut under a journal of its footer.

use vhd_nostd::resize::{self as core, Phase};

use crate::errno::VhdResult;
use crate::fileio::AlignedBuf;
use crate::image::Image;
use crate::journal::Journal;

/// Grows the dynamic or differencing `img` (poisoned under `jnl`) to `new_size` bytes,
/// moving the blocks, batmap and locators in the way of the larger BAT to the end of
/// the data area. `at` is called after each [`Phase`].
pub fn grow(
    img: &mut Image,
    jnl: &mut Journal,
    new_size: u64,
    at: impl FnMut(Phase),
) -> VhdResult<()> {
    let disk = img.disk_mut();
    if new_size == disk.size() {
        return Ok(());
    }
    let p = core::plan(disk, new_size)?;
    if p.bat_bytes > disk.bat().as_bytes().len() || p.relocates {
        core::reserve(
            disk,
            AlignedBuf::new(p.bat_bytes),
            AlignedBuf::new(p.batmap_bytes),
        )?;
    }
    let mut copy = AlignedBuf::new(if p.relocates { p.copy_bytes } else { 0 });
    let (file, header) = jnl.parts();
    core::grow_journaled(disk, new_size, file, header, &mut copy, at)?;
    Ok(())
}

/// Sets the size of the fixed disk `img` (poisoned under `jnl`, from
/// [`crate::journal::create_fixed`]) to `new_size` bytes ([`core::resize_fixed`]).
pub fn resize_fixed(img: &mut Image, jnl: &mut Journal, new_size: u64) -> VhdResult<()> {
    let mut scratch = AlignedBuf::new(512);
    let (file, header) = jnl.parts();
    core::resize_fixed(img.disk_mut(), new_size, file, header, &mut scratch)?;
    Ok(())
}
