//! Reads on several [`FileIo`]s at once ([`Io::read_batch`]): a chain read's one read
//! per level, submitted together through `io_uring` ([`vhd_sys::uring`]) so that the
//! device serves them at once instead of one after another.
//!
//! The batch goes in one submission only when `O_DIRECT` accepts every read as it is;
//! otherwise, where the thread has no ring, and for any read that came back short or
//! failed, the reads go through [`Io::read_at`] one by one, which bounces what is
//! unaligned, drops `O_DIRECT` where the device refuses it and calls a short file an
//! error. Kept on the stack: no read allocates.

use heapless::Vec;
use std::os::fd::AsFd;
use vhd_nostd::io::{BatchRead, Io};
use vhd_sys::uring::{read_together, ReadAt, MAX_READS};

use super::{FileIo, IoError};

pub(super) fn read(reads: &mut [BatchRead<'_, FileIo>]) -> Result<(), IoError> {
    let mut redo = [true; MAX_READS];
    if submitted(reads, &mut redo) {
        for (r, _) in reads.iter_mut().zip(redo).filter(|(_, again)| *again) {
            r.io.read_at(r.offset, r.buf)?;
        }
        return Ok(());
    }
    for r in reads.iter_mut() {
        r.io.read_at(r.offset, r.buf)?;
    }
    Ok(())
}

/// Submits the batch in one go if it can, marking in `redo` the reads it did not finish.
fn submitted(reads: &mut [BatchRead<'_, FileIo>], redo: &mut [bool; MAX_READS]) -> bool {
    if reads.len() < 2
        || reads.len() > MAX_READS
        || reads
            .iter()
            .any(|r| r.io.direct && !FileIo::aligned(r.buf, r.offset))
    {
        return false;
    }
    let mut ops = Vec::<ReadAt<'_>, MAX_READS>::new();
    for r in reads.iter_mut() {
        // Capacity: at most MAX_READS reads, checked above.
        let _ = ops.push(ReadAt::new(r.io.file.as_fd(), r.offset, r.buf));
    }
    if !read_together(&mut ops) {
        return false;
    }
    for (again, op) in redo.iter_mut().zip(&ops) {
        *again = op.result != Ok(op.buf.len());
    }
    true
}
