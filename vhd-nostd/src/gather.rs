//! Gathering writes to consecutive bytes into one [`Io::write_vectored_at`], so that the
//! pieces the engine lays down together (a new block's alignment gap, bitmap and data)
//! reach the device as one request. Nothing is allocated: the list lives on the stack.

use heapless::Vec;

use crate::error::Error;
use crate::io::Io;

/// Pieces one write takes: a block's gap, bitmap and data. Kept at that: the list sits
/// on the stack of every allocating write, and a microcontroller's budget
/// (`make embedded-run`) has no room for more; a write per block is as large as a
/// block anyway.
pub(crate) const PIECES: usize = 3;

/// Zeros to write from, on a page so that a direct transfer can take them as they are.
#[repr(C, align(4096))]
struct Zeros([u8; 4096]);
static ZERO_PAGE: Zeros = Zeros([0; 4096]);
pub(crate) static ZEROS: &[u8; 4096] = &ZERO_PAGE.0;

/// Pieces for consecutive bytes from `start`, not yet written.
pub(crate) struct Gather<'a> {
    start: u64,
    pieces: Vec<&'a [u8], PIECES>,
}

impl<'a> Gather<'a> {
    pub(crate) fn new() -> Self {
        Gather {
            start: 0,
            pieces: Vec::new(),
        }
    }

    fn end(&self) -> u64 {
        self.start + self.pieces.iter().map(|p| p.len() as u64).sum::<u64>()
    }

    /// Adds `piece` at byte `at`, first writing what is gathered if `piece` does not
    /// follow it or there is no room.
    pub(crate) fn add<I: Io>(
        &mut self,
        io: &mut I,
        at: u64,
        piece: &'a [u8],
    ) -> Result<(), Error<I::Error>> {
        if piece.is_empty() {
            return Ok(());
        }
        if !self.pieces.is_empty() && (self.end() != at || self.pieces.is_full()) {
            self.write(io)?;
        }
        if self.pieces.is_empty() {
            self.start = at;
        }
        // Room is made above, so this cannot fail.
        let _ = self.pieces.push(piece);
        Ok(())
    }

    /// Adds `len` zero bytes at `at`.
    pub(crate) fn add_zeros<I: Io>(
        &mut self,
        io: &mut I,
        mut at: u64,
        mut len: u64,
    ) -> Result<(), Error<I::Error>> {
        while len > 0 {
            let n = len.min(ZEROS.len() as u64);
            self.add(io, at, &ZEROS[..n as usize])?;
            at += n;
            len -= n;
        }
        Ok(())
    }

    /// Writes what is gathered, ending the borrows of the pieces.
    pub(crate) fn finish<I: Io>(mut self, io: &mut I) -> Result<(), Error<I::Error>> {
        self.write(io)
    }

    /// Writes what is gathered.
    fn write<I: Io>(&mut self, io: &mut I) -> Result<(), Error<I::Error>> {
        if !self.pieces.is_empty() {
            io.write_vectored_at(self.start, &self.pieces)
                .map_err(Error::Io)?;
            self.pieces.clear();
        }
        Ok(())
    }
}
