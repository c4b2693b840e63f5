//! Images made through the core, opened the way the suites open them, and the sample
//! images kept in the repository.

use std::path::{Path, PathBuf};

use uuid::Uuid;
use vhd_nostd::check::{check, work_size, CheckOptions};
use vhd_nostd::create::{create, CreateParams, Parent};
use vhd_nostd::footer::DiskType;
use vhd_nostd::io::Io;
use vhd_nostd::{probe, Buffers, Disk, Footer, Header, OpenOptions};

use crate::mem::VecIo;

pub type VDisk<I> = Disk<I, Vec<u8>>;

/// Read-write open options (the rest default).
pub fn rw() -> OpenOptions {
    OpenOptions {
        writable: true,
        ..Default::default()
    }
}

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
pub fn header_of_opt(io: &VecIo) -> Option<Header> {
    let n = io.data.len();
    if n < 512 {
        return None;
    }
    let f = Footer::decode(&io.data[n - 512..]).ok()?;
    let off = usize::try_from(f.data_offset).ok()?;
    Header::decode(io.data.get(off..off.checked_add(1024)?)?).ok()
}

/// A UUID of sixteen bytes `n`: distinct images, readable in a hex dump.
pub fn uuid(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

/// A new image of `kind` in memory (UUID `uuid(1)`).
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

/// The identity of a differencing disk to create and of the parent it names.
#[derive(Debug, Clone, Copy)]
pub struct Child<'a> {
    pub size: u64,
    pub block_size: u32,
    pub uuid: Uuid,
    pub timestamp: u32,
    pub parent_uuid: Uuid,
    pub parent_timestamp: u32,
    /// The parent as the locators hold it, relative to the child's directory
    /// (`./p.vhd`, `../aux/p.vhd`); the header names its last component.
    pub parent_path: &'a str,
}

impl Child<'_> {
    /// Writes the new differencing disk's metadata through `io`.
    pub fn create_on<I: Io>(&self, io: &mut I) -> Result<(), vhd_nostd::Error<I::Error>> {
        let name = self
            .parent_path
            .rsplit('/')
            .next()
            .unwrap_or(self.parent_path);
        create(
            io,
            &CreateParams {
                kind: DiskType::Differencing,
                size: self.size,
                block_size: self.block_size,
                uuid: self.uuid,
                timestamp: self.timestamp,
                parent: Some(Parent {
                    uuid: self.parent_uuid,
                    timestamp: self.parent_timestamp,
                    name,
                    relative_path: self.parent_path,
                }),
            },
            &mut vec![0u8; 16 << 10],
        )
    }

    /// The new differencing disk in memory.
    pub fn image(&self) -> VecIo {
        let mut io = VecIo::default();
        self.create_on(&mut io).unwrap();
        io
    }
}

/// A snapshot of `parent` (2 MiB blocks) named `./<name>`, UUID `uuid(2)`.
pub fn new_snapshot(parent: &mut VDisk<VecIo>, name: &str) -> VecIo {
    new_snapshot_with(parent, name, 2 << 20)
}

/// A differencing disk over `parent` with blocks of `block_size` bytes.
pub fn new_snapshot_with(parent: &mut VDisk<VecIo>, name: &str, block_size: u32) -> VecIo {
    let rel = format!("./{name}");
    Child {
        size: parent.size(),
        block_size,
        uuid: uuid(2),
        timestamp: 1000,
        parent_uuid: parent.footer().uuid,
        parent_timestamp: 5,
        parent_path: &rel,
    }
    .image()
}

/// `XOR[d][j] = d ^ j`, computed at compile time: each half sector of [`pattern`] is one
/// of its rows.
static XOR: [[u8; 256]; 256] = {
    let mut t = [[0u8; 256]; 256];
    let mut d = 0;
    while d < 256 {
        let mut j = 0;
        while j < 256 {
            t[d][j] = (d ^ j) as u8;
            j += 1;
        }
        d += 1;
    }
    t
};

/// A deterministic pattern for sector `s` of generation `g`.
pub fn pattern(s: u64, g: u8, buf: &mut [u8]) {
    // Byte i is c ^ (i mod 256) ^ (i / 512 mod 256), c from s and g: both halves of
    // sector k are row c ^ k of `XOR`, and the pattern repeats every 256 sectors. So one
    // period is copied from the table, the rest from the period: Miri interprets every
    // step of a loop, and the suites fill megabytes.
    const SECTOR: usize = 512;
    const PERIOD: usize = 256 * SECTOR;
    let c = (s as u8).wrapping_mul(31) ^ g.wrapping_mul(7);
    let head = buf.len().min(PERIOD);
    for (k, sector) in buf[..head].chunks_mut(SECTOR).enumerate() {
        let row = &XOR[usize::from(c ^ k as u8)];
        for half in sector.chunks_mut(SECTOR / 2) {
            half.copy_from_slice(&row[..half.len()]);
        }
    }
    let mut done = head;
    while done < buf.len() {
        let n = (buf.len() - done).min(done);
        buf.copy_within(..n, done);
        done += n;
    }
}

/// Path of a sample image kept in the repository (`tests/data/images`, see its README).
pub fn image_path(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/images")).join(name)
}

/// A reference image read into memory; panics (fails the test) if it is missing.
pub fn read_image(name: &str) -> VecIo {
    let p = image_path(name);
    let data = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    VecIo { data }
}

/// Everything `d` reads, through `parent` (opened read-only) when it has one.
pub fn read_through(d: VDisk<VecIo>, parent: Option<&VecIo>) -> Vec<u8> {
    let mut all = vec![0u8; d.size() as usize];
    match parent {
        None => vhd_nostd::read_chain(&mut [d], 0, &mut all).unwrap(),
        Some(p) => {
            vhd_nostd::read_chain(&mut [d, open(p.clone(), false).unwrap()], 0, &mut all).unwrap()
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::pattern;

    #[test]
    fn pattern_copies_are_the_formula() {
        // Within sector 0, a partial sector (and word), a period and more.
        for len in [0, 100, 512, 3 * 512 + 5, 256 * 512, 600 * 512 + 77] {
            let mut b = vec![0u8; len];
            pattern(5, 9, &mut b);
            for (i, &x) in b.iter().enumerate() {
                let want =
                    5u8.wrapping_mul(31) ^ (i as u8) ^ 9u8.wrapping_mul(7) ^ ((i / 512) as u8);
                assert_eq!(x, want, "length {len}, byte {i}");
            }
        }
    }
}
