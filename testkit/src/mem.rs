//! In-memory files: a growable one, and a wrapper that counts, logs and fails calls on
//! demand (the power-cut harnesses' device).

use vhd_nostd::io::Io;

/// A growable in-memory file.
#[derive(Debug, Clone, Default)]
pub struct VecIo {
    pub data: Vec<u8>,
}

impl Io for VecIo {
    type Error = std::io::ErrorKind;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        let s = offset as usize;
        let e = s
            .checked_add(buf.len())
            .ok_or(std::io::ErrorKind::InvalidInput)?;
        if e > self.data.len() {
            return Err(std::io::ErrorKind::UnexpectedEof);
        }
        buf.copy_from_slice(&self.data[s..e]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), Self::Error> {
        let s = offset as usize;
        let e = s + buf.len();
        if e > self.data.len() {
            grow(&mut self.data, e);
        }
        self.data[s..e].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn size(&mut self) -> Result<u64, Self::Error> {
        Ok(self.data.len() as u64)
    }
    fn set_size(&mut self, size: u64) -> Result<(), Self::Error> {
        if size as usize > self.data.len() {
            grow(&mut self.data, size as usize);
        }
        self.data.truncate(size as usize);
        Ok(())
    }
}

/// Extends `data` with zeros to `len` bytes by copies, not byte by byte as `resize` does
/// in an unoptimized build: Miri interprets every byte of such a loop, and a new block
/// is megabytes.
fn grow(data: &mut Vec<u8>, len: usize) {
    static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
    data.reserve(len - data.len());
    while data.len() < len {
        let n = (len - data.len()).min(ZEROS.len());
        data.extend_from_slice(&ZEROS[..n]);
    }
}

/// What a [`FaultIo`] does once its trigger is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never fail.
    None,
    /// After `n` writes have reached the file, silently drop every later write (a power
    /// cut: the program goes on, the disk no longer changes).
    CutAfterWrites(usize),
    /// Write number `n` (0-based) and every later one returns an error and changes nothing.
    FailWrite(usize),
    /// Read number `n` (0-based) returns an error.
    FailRead(usize),
}

/// One call that changes the file, as a [`FaultIo`] logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Write(u64, Vec<u8>),
    SetSize(u64),
    Flush,
}

/// An I/O wrapper over a [`VecIo`] that counts calls, logs the writes that reached the
/// file (with the flushes between them) and injects a [`Fault`].
#[derive(Debug, Clone)]
pub struct FaultIo {
    pub inner: VecIo,
    pub fault: Fault,
    pub reads: usize,
    pub writes: usize,
    pub flushes: usize,
    pub log: Vec<Event>,
}

impl FaultIo {
    pub fn new(inner: VecIo, fault: Fault) -> Self {
        FaultIo {
            inner,
            fault,
            reads: 0,
            writes: 0,
            flushes: 0,
            log: Vec::new(),
        }
    }

    fn cut(&self) -> bool {
        matches!(self.fault, Fault::CutAfterWrites(n) if self.writes >= n)
    }

    /// Counts a call that changes the file: an error if the fault fails it, `false` if a
    /// cut drops it, `true` if it reaches the file.
    fn admit(&mut self) -> Result<bool, std::io::ErrorKind> {
        if let Fault::FailWrite(n) = self.fault {
            if self.writes >= n {
                return Err(std::io::ErrorKind::StorageFull);
            }
        }
        let cut = self.cut();
        self.writes += 1;
        Ok(!cut)
    }
}

impl Io for FaultIo {
    type Error = std::io::ErrorKind;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        let k = self.reads;
        self.reads += 1;
        if self.fault == Fault::FailRead(k) {
            return Err(std::io::ErrorKind::Other);
        }
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), Self::Error> {
        if !self.admit()? {
            return Ok(());
        }
        self.log.push(Event::Write(offset, buf.to_vec()));
        self.inner.write_at(offset, buf)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.flushes += 1;
        if !self.cut() {
            self.log.push(Event::Flush);
        }
        Ok(())
    }
    fn size(&mut self) -> Result<u64, Self::Error> {
        self.inner.size()
    }
    fn set_size(&mut self, size: u64) -> Result<(), Self::Error> {
        // A size change is a metadata write too: it counts, and a cut drops it.
        if !self.admit()? {
            return Ok(());
        }
        self.log.push(Event::SetSize(size));
        self.inner.set_size(size)
    }
}

/// Which of `n` writes not yet flushed land, for crash states: every subset when there
/// are few (10, or 4 under Miri), else prefixes, each write alone, and all but each one.
pub fn subsets(n: usize) -> Vec<Vec<bool>> {
    if n as u64 <= crate::scaled(10, 4) {
        return (0..1u32 << n)
            .map(|m| (0..n).map(|i| m >> i & 1 == 1).collect())
            .collect();
    }
    let mut v = Vec::new();
    for k in 0..=n {
        v.push((0..n).map(|i| i < k).collect());
        if k < n {
            v.push((0..n).map(|i| i == k).collect());
            v.push((0..n).map(|i| i != k).collect());
        }
    }
    v
}
