//! Helpers shared by the engine's integration tests: growable in-memory files and
//! heap buffers (allowed here: tests run with std; the core itself never allocates).
#![allow(dead_code)]

use vhd_nostd::check::{check, work_size, CheckOptions};
use vhd_nostd::create::{create, CreateParams, Parent};
use vhd_nostd::footer::DiskType;
use vhd_nostd::io::Io;
use vhd_nostd::{probe, Buffers, Disk, OpenOptions};

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
            self.data.resize(e, 0);
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
        self.data.resize(size as usize, 0);
        Ok(())
    }
}

pub type VDisk<I> = Disk<I, Vec<u8>>;

pub fn open<I: Io>(io: I, writable: bool) -> Result<VDisk<I>, vhd_nostd::Error<I::Error>> {
    open_with(
        io,
        OpenOptions {
            writable,
            ..Default::default()
        },
    )
}

/// Opens with buffers sized by `probe`.
pub fn open_with<I: Io>(
    mut io: I,
    opts: OpenOptions,
) -> Result<VDisk<I>, vhd_nostd::Error<I::Error>> {
    let l = probe(&mut io)?;
    let mut d = Disk::open(
        io,
        Buffers {
            bat: vec![0; l.bat_bytes],
            batmap: vec![0; l.batmap_bytes],
            // Three cache slots: blocks share slots, so eviction is exercised too.
            bitmap: vec![0; l.bitmap_cache_bytes(3)],
        },
        opts,
    )?;
    if d.disk_type() == Some(DiskType::Differencing) {
        // A quarter block: some interleaved ranges are staged, larger ones read run by run.
        let len = d.read_scratch_bytes() / 4;
        d.set_read_scratch(vec![0; len]);
    }
    Ok(d)
}

/// `check`'s verdict on an image: `Err` holds the first problem's message. The work
/// buffer is sized from the header when one parses.
pub fn check_msg(io: &mut VecIo) -> Result<(), String> {
    let n = header_of_opt(io).map_or(0, |h| h.max_bat_size);
    let mut work = vec![0u8; work_size(n.min(1 << 20))];
    let opts = CheckOptions {
        ignore_primary: false,
        now: 2_000_000_000,
    };
    check(io, &opts, &mut work)
        .map(|_| ())
        .map_err(|p| p.message.to_string())
}

/// The header the end footer points at, if both parse.
pub fn header_of_opt(io: &VecIo) -> Option<vhd_nostd::Header> {
    let n = io.data.len();
    if n < 512 {
        return None;
    }
    let f = vhd_nostd::Footer::decode(&io.data[n - 512..]).ok()?;
    let off = usize::try_from(f.data_offset).ok()?;
    vhd_nostd::Header::decode(io.data.get(off..off.checked_add(1024)?)?).ok()
}

pub fn uuid(n: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([n; 16])
}

pub fn new_image(kind: DiskType, size: u64, block_size: u32) -> VecIo {
    let mut io = VecIo::default();
    let mut scratch = [0u8; 4096];
    create(
        &mut io,
        &CreateParams {
            kind,
            size,
            block_size,
            uuid: uuid(1),
            timestamp: 1000,
            parent: None,
        },
        &mut scratch,
    )
    .unwrap();
    io
}

pub fn new_snapshot(parent: &mut VDisk<VecIo>, name: &str) -> VecIo {
    new_snapshot_with(parent, name, 2 << 20)
}

/// A differencing disk over `parent` with blocks of `block_size` bytes.
pub fn new_snapshot_with(parent: &mut VDisk<VecIo>, name: &str, block_size: u32) -> VecIo {
    let mut io = VecIo::default();
    let mut scratch = [0u8; 4096];
    let rel = format!("./{name}");
    create(
        &mut io,
        &CreateParams {
            kind: DiskType::Differencing,
            size: parent.size(),
            block_size,
            uuid: uuid(2),
            timestamp: 1000,
            parent: Some(Parent {
                uuid: parent.footer().uuid,
                timestamp: 5,
                name,
                relative_path: &rel,
            }),
        },
        &mut scratch,
    )
    .unwrap();
    io
}

/// A deterministic pattern for sector `s` of generation `g`.
pub fn pattern(s: u64, g: u8, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (s as u8).wrapping_mul(31) ^ (i as u8) ^ g.wrapping_mul(7) ^ ((i / 512) as u8);
    }
}

// ---- shared by the reliability tests (images, malformed, powercut, model) ----

/// Path of a sample image kept in the repository (`tests/data/images`, see its README).
pub fn image_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/images")).join(name)
}

/// A reference image read into memory; panics (fails the test) if it is missing.
pub fn read_image(name: &str) -> VecIo {
    let p = image_path(name);
    let data = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    VecIo { data }
}

/// The footer at the end of the file.
pub fn end_footer(io: &VecIo) -> vhd_nostd::Footer {
    let n = io.data.len();
    vhd_nostd::Footer::decode(&io.data[n - 512..]).unwrap()
}

/// Edits the end footer, reseals it, and writes it back at the end and (for sparse
/// disks, or if `copy` says so) at offset 0.
pub fn reseal_footers(io: &mut VecIo, copy: bool, f: impl FnOnce(&mut vhd_nostd::Footer)) {
    let n = io.data.len();
    let mut ft = end_footer(io);
    f(&mut ft);
    ft.seal();
    let b = ft.to_bytes();
    io.data[n - 512..].copy_from_slice(&b);
    if copy {
        io.data[..512].copy_from_slice(&b);
    }
}

/// Edits the dynamic header (at the footer's data offset) and reseals it.
pub fn reseal_header(io: &mut VecIo, f: impl FnOnce(&mut vhd_nostd::Header)) {
    let off = end_footer(io).data_offset as usize;
    let mut h = vhd_nostd::Header::decode(&io.data[off..off + 1024]).unwrap();
    f(&mut h);
    h.seal();
    io.data[off..off + 1024].copy_from_slice(&h.to_bytes());
}

/// The dynamic header as stored.
pub fn header_of(io: &VecIo) -> vhd_nostd::Header {
    let off = end_footer(io).data_offset as usize;
    vhd_nostd::Header::decode(&io.data[off..off + 1024]).unwrap()
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
        if let Fault::FailWrite(n) = self.fault {
            if self.writes >= n {
                return Err(std::io::ErrorKind::StorageFull);
            }
        }
        let cut = self.cut();
        self.writes += 1;
        if cut {
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
        if let Fault::FailWrite(n) = self.fault {
            if self.writes >= n {
                return Err(std::io::ErrorKind::StorageFull);
            }
        }
        let cut = self.cut();
        self.writes += 1;
        if cut {
            return Ok(());
        }
        self.log.push(Event::SetSize(size));
        self.inner.set_size(size)
    }
}

/// Which of `n` writes not yet flushed land, for crash states: every subset when there
/// are few, else prefixes, each write alone, and all but each one.
pub fn subsets(n: usize) -> Vec<Vec<bool>> {
    if n <= 10 {
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
