//! Fill: allocate every block of the top disk of a chain with the data the chain reads
//! there, so a differencing disk no longer needs its parents (vhd-util fill).

use crate::disk::Disk;
use crate::error::Error;
use crate::io::Io;
use crate::read::read_chain;
use crate::SECTOR_SIZE;

/// Reads each block of `chain[0]` through the chain and writes it back into `chain[0]`,
/// staging data in `buf` (at least one sector).
pub fn fill<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    chain: &mut [Disk<I, B>],
    buf: &mut [u8],
) -> Result<(), Error<I::Error>> {
    fill_with_progress(chain, buf, &mut |_, _| {})
}

/// [`fill`], calling `progress(sectors_done, sectors_total)` as it goes.
pub fn fill_with_progress<I: Io, B: AsRef<[u8]> + AsMut<[u8]>>(
    chain: &mut [Disk<I, B>],
    buf: &mut [u8],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), Error<I::Error>> {
    let top = chain.first_mut().ok_or(Error::MissingParent)?;
    top.require_writable()?;
    if top.header.is_none() {
        return Err(Error::WrongDiskType);
    }
    let chunk = (buf.len() / SECTOR_SIZE) as u64;
    if chunk == 0 {
        return Err(Error::BufferTooSmall {
            needed: SECTOR_SIZE,
        });
    }
    let total = top.sectors();
    let spb = u64::from(top.sectors_per_block());
    let mut s = 0;
    while s < total {
        progress(s, total);
        let block = (s / spb) as u32;
        let block_end = ((u64::from(block) + 1) * spb).min(total);
        // The bitmap, not the batmap, says whether a block is whole (see read.rs).
        if chain[0].block_full(block)? {
            s = block_end;
            continue;
        }
        let n = chunk.min(block_end - s);
        let part = &mut buf[..n as usize * SECTOR_SIZE];
        read_chain(chain, s, part)?;
        chain[0].write(s, part)?;
        s += n;
    }
    progress(total, total);
    chain[0].flush()
}
