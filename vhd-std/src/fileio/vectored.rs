//! Scatter/gather transfers for [`FileIo`]: parts at consecutive file offsets in one
//! `preadv`/`pwritev`, one device request where the parts would each be one (a new
//! block's alignment gap, bitmap and data; a block's bitmap with its data).
//!
//! One call takes the parts only when `O_DIRECT` accepts each as it is; otherwise, and
//! for whatever a short transfer leaves, the parts go through [`Io::read_at`] and
//! [`Io::write_at`] one by one, which bounce what is unaligned and drop `O_DIRECT` where
//! the device refuses it.

use std::io::{IoSlice, IoSliceMut};

use heapless::Vec;
use vhd_nostd::io::Io;

use super::{FileIo, IoError, SECTOR};

/// Parts per system call (the kernel takes up to `IOV_MAX`, 1024); a longer list goes
/// in turns. Kept on the stack, so no transfer allocates.
const BATCH: usize = 32;

/// Whether one call can take the parts as they are: more than one, and each on whole
/// sectors of memory and of the file when `O_DIRECT` is on.
fn one_call<'a>(
    direct: bool,
    offset: u64,
    mut parts: impl ExactSizeIterator<Item = &'a [u8]>,
) -> bool {
    parts.len() > 1
        && offset.is_multiple_of(SECTOR)
        && (!direct || parts.all(|p| FileIo::aligned(p, offset)))
}

/// What one call left of parts of `lens` bytes from file offset `at`, having moved
/// `got` bytes: for each part not wholly done, its index, how much of it was done, and
/// where it is in the file.
fn left(
    lens: impl Iterator<Item = usize>,
    at: u64,
    got: usize,
) -> impl Iterator<Item = (usize, usize, u64)> {
    let (mut skip, mut pos) = (got, at);
    lens.enumerate().filter_map(move |(i, len)| {
        let done = skip.min(len);
        skip -= done;
        let here = pos;
        pos += len as u64;
        (done < len).then_some((i, done, here))
    })
}

/// [`Io::read_vectored_at`] for a file.
pub(super) fn read(io: &mut FileIo, offset: u64, bufs: &mut [&mut [u8]]) -> Result<(), IoError> {
    let mut at = offset;
    for chunk in bufs.chunks_mut(BATCH) {
        let want: usize = chunk.iter().map(|b| b.len()).sum();
        let got = if one_call(io.direct, at, chunk.iter().map(|b| &b[..])) {
            let mut iov: Vec<IoSliceMut<'_>, BATCH> =
                chunk.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            match rustix::io::preadv(&io.file, &mut iov, at) {
                Ok(n) => n,
                // A device that refuses this direct transfer: the parts one by one,
                // which retry it buffered.
                Err(e) if io.direct && e == rustix::io::Errno::INVAL => 0,
                Err(e) => return Err(IoError(e.raw_os_error())),
            }
        } else {
            0
        };
        // Whatever the call did not fill, part by part.
        let lens: Vec<usize, BATCH> = chunk.iter().map(|b| b.len()).collect();
        for (i, done, pos) in left(lens.into_iter(), at, got) {
            io.read_at(pos + done as u64, &mut chunk[i][done..])?;
        }
        at += want as u64;
    }
    Ok(())
}

/// [`Io::write_vectored_at`] for a file (or an image's extent of a block device).
pub(super) fn write(io: &mut FileIo, offset: u64, bufs: &[&[u8]]) -> Result<(), IoError> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let grown = match io.block {
        Some(ext) => Some(ext.after_write(offset, total).map_err(IoError)?),
        None => None,
    };
    let mut at = offset;
    for chunk in bufs.chunks(BATCH) {
        let want: usize = chunk.iter().map(|b| b.len()).sum();
        let got = if one_call(io.direct, at, chunk.iter().copied()) {
            let iov: Vec<IoSlice<'_>, BATCH> = chunk.iter().map(|b| IoSlice::new(b)).collect();
            match rustix::io::pwritev(&io.file, &iov, at) {
                Ok(n) => n,
                Err(e) if io.direct && e == rustix::io::Errno::INVAL => 0,
                Err(e) => return Err(IoError(e.raw_os_error())),
            }
        } else {
            0
        };
        for (i, done, pos) in left(chunk.iter().map(|b| b.len()), at, got) {
            io.write_file(pos + done as u64, &chunk[i][done..])?;
        }
        at += want as u64;
    }
    io.block = grown.or(io.block);
    Ok(())
}
