//! Helpers shared by the engine's integration tests: growable in-memory files and
//! heap buffers (allowed here: tests run with std; the core itself never allocates).
#![allow(dead_code)]

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

pub fn open<I: Io>(mut io: I, writable: bool) -> Result<VDisk<I>, vhd_nostd::Error<I::Error>> {
    let l = probe(&mut io)?;
    Disk::open(
        io,
        Buffers {
            bat: vec![0; l.bat_bytes],
            batmap: vec![0; l.batmap_bytes],
            bitmap: vec![0; l.bitmap_bytes],
        },
        OpenOptions {
            writable,
            ..Default::default()
        },
    )
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
    let mut io = VecIo::default();
    let mut scratch = [0u8; 4096];
    let rel = format!("./{name}");
    create(
        &mut io,
        &CreateParams {
            kind: DiskType::Differencing,
            size: parent.size(),
            block_size: 2 << 20,
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
