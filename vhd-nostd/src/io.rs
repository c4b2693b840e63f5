//! The I/O callback the caller implements: positioned reads and writes on one image file.
//!
//! Shaped like `embedded-io`: an associated error type that the engine carries through
//! unchanged in [`crate::Error::Io`]. Reads are exact: an implementation must fill the
//! whole buffer or return an error (a short read is an error, never silent zeros).

/// One read of a batch ([`Io::read_batch`]): `buf.len()` bytes of `io`'s file at `offset`.
#[derive(Debug)]
pub struct BatchRead<'a, I> {
    /// The file read; a batch reads each file at most once.
    pub io: &'a mut I,
    /// Where in it.
    pub offset: u64,
    /// Into what, exactly filled.
    pub buf: &'a mut [u8],
}

/// Positioned, exact I/O on one image file or device.
pub trait Io {
    /// The implementation's error type.
    type Error: core::fmt::Debug;

    /// Reads exactly `buf.len()` bytes at byte `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Writes all of `buf` at byte `offset`, extending the file if needed.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), Self::Error>;

    /// Reads consecutive bytes from `offset` into each of `bufs` in turn. The default
    /// reads them one by one; an implementation that can scatter one read (`preadv`)
    /// saves a device round trip per extra buffer.
    fn read_vectored_at(&mut self, offset: u64, bufs: &mut [&mut [u8]]) -> Result<(), Self::Error> {
        let mut at = offset;
        for b in bufs.iter_mut() {
            self.read_at(at, b)?;
            at += b.len() as u64;
        }
        Ok(())
    }

    /// Writes each of `bufs` in turn at consecutive bytes from `offset`: one write for
    /// the engine's ordering (nothing may depend on one part landing before another).
    /// The default writes them one by one; `pwritev` makes it one device request.
    fn write_vectored_at(&mut self, offset: u64, bufs: &[&[u8]]) -> Result<(), Self::Error> {
        let mut at = offset;
        for b in bufs {
            self.write_at(at, b)?;
            at += b.len() as u64;
        }
        Ok(())
    }

    /// Does every read of `reads`, each on its own file (a chain's levels). The engine
    /// asks this when nothing orders the reads among themselves, so an implementation
    /// that can have them all in flight at once (`io_uring`) lets the device serve them
    /// together. The default reads them one by one.
    fn read_batch(reads: &mut [BatchRead<'_, Self>]) -> Result<(), Self::Error>
    where
        Self: Sized,
    {
        for r in reads.iter_mut() {
            r.io.read_at(r.offset, r.buf)?;
        }
        Ok(())
    }

    /// Makes every completed write durable. The engine calls it between writes whose
    /// order matters for crash consistency.
    fn flush(&mut self) -> Result<(), Self::Error>;

    /// The current length of the file in bytes.
    fn size(&mut self) -> Result<u64, Self::Error>;

    /// Truncates or extends the file to `size` bytes.
    fn set_size(&mut self, size: u64) -> Result<(), Self::Error>;
}

impl<T: Io + ?Sized> Io for &mut T {
    type Error = T::Error;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), Self::Error> {
        (**self).write_at(offset, buf)
    }
    fn read_vectored_at(&mut self, offset: u64, bufs: &mut [&mut [u8]]) -> Result<(), Self::Error> {
        (**self).read_vectored_at(offset, bufs)
    }
    fn write_vectored_at(&mut self, offset: u64, bufs: &[&[u8]]) -> Result<(), Self::Error> {
        (**self).write_vectored_at(offset, bufs)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        (**self).flush()
    }
    fn size(&mut self) -> Result<u64, Self::Error> {
        (**self).size()
    }
    fn set_size(&mut self, size: u64) -> Result<(), Self::Error> {
        (**self).set_size(size)
    }
}

/// Why a [`MemIo`] access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemIoError {
    /// A read reached beyond the current length.
    UnexpectedEof,
    /// A write or resize needs more than the backing buffer holds.
    NoSpace,
}

/// An in-memory image over a caller buffer: the file is `buf[..len]`, and it can grow up
/// to `buf.len()`. Useful on bare metal (a RAM disk) and in tests.
#[derive(Debug)]
pub struct MemIo<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> MemIo<'a> {
    /// An empty file that may grow to `buf.len()` bytes.
    pub fn new(buf: &'a mut [u8]) -> Self {
        MemIo { buf, len: 0 }
    }

    /// A file whose current contents are the first `len` bytes of `buf`.
    pub fn with_len(buf: &'a mut [u8], len: usize) -> Self {
        let len = len.min(buf.len());
        MemIo { buf, len }
    }

    /// The file's bytes.
    pub fn contents(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn range(&self, offset: u64, n: usize) -> Option<(usize, usize)> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(n)?;
        Some((start, end))
    }
}

impl Io for MemIo<'_> {
    type Error = MemIoError;

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MemIoError> {
        match self.range(offset, buf.len()) {
            Some((s, e)) if e <= self.len => {
                buf.copy_from_slice(&self.buf[s..e]);
                Ok(())
            }
            _ => Err(MemIoError::UnexpectedEof),
        }
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), MemIoError> {
        let (s, e) = self
            .range(offset, data.len())
            .filter(|&(_, e)| e <= self.buf.len())
            .ok_or(MemIoError::NoSpace)?;
        if s > self.len {
            self.buf[self.len..s].fill(0);
        }
        self.buf[s..e].copy_from_slice(data);
        self.len = self.len.max(e);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), MemIoError> {
        Ok(())
    }

    fn size(&mut self) -> Result<u64, MemIoError> {
        Ok(self.len as u64)
    }

    fn set_size(&mut self, size: u64) -> Result<(), MemIoError> {
        let n = usize::try_from(size)
            .ok()
            .filter(|&n| n <= self.buf.len())
            .ok_or(MemIoError::NoSpace)?;
        if n > self.len {
            self.buf[self.len..n].fill(0);
        }
        self.len = n;
        Ok(())
    }
}
