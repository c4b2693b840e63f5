//! The in-memory file and bounded open that every fuzz target shares.

use vhd_nostd::{probe, Buffers, Disk, Io, OpenOptions};

/// Largest buffer the harness gives the engine, and how far a write may grow the file.
pub const CAP: usize = 1 << 20;
pub const GROW: u64 = 8 << 20;

#[derive(Debug)]
pub struct Mem {
    pub data: Vec<u8>,
    pub limit: u64,
}

impl Io for Mem {
    type Error = ();
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<(), ()> {
        let s = usize::try_from(off).map_err(|_| ())?;
        let e = s.checked_add(buf.len()).ok_or(())?;
        buf.copy_from_slice(self.data.get(s..e).ok_or(())?);
        Ok(())
    }
    fn write_at(&mut self, off: u64, buf: &[u8]) -> Result<(), ()> {
        let end = off.checked_add(buf.len() as u64).ok_or(())?;
        if end > self.limit {
            return Err(());
        }
        let (s, e) = (off as usize, end as usize);
        if e > self.data.len() {
            self.data.resize(e, 0);
        }
        self.data[s..e].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ()> {
        Ok(())
    }
    fn size(&mut self) -> Result<u64, ()> {
        Ok(self.data.len() as u64)
    }
    fn set_size(&mut self, n: u64) -> Result<(), ()> {
        if n > self.limit {
            return Err(());
        }
        self.data.resize(n as usize, 0);
        Ok(())
    }
}

pub fn mem(data: &[u8]) -> Mem {
    Mem {
        data: data.to_vec(),
        limit: data.len() as u64 + GROW,
    }
}

pub fn open(data: &[u8], writable: bool) -> Option<Disk<Mem, Vec<u8>>> {
    let mut io = mem(data);
    let l = probe(&mut io).ok()?;
    if l.bat_bytes > CAP || l.batmap_bytes > CAP || l.bitmap_bytes > CAP {
        return None;
    }
    let bufs = Buffers {
        bat: vec![0; l.bat_bytes],
        batmap: vec![0; l.batmap_bytes],
        // A few cache slots, so that blocks evict each other's bitmaps.
        bitmap: vec![0; l.bitmap_cache_bytes(3)],
    };
    let opts = OpenOptions {
        writable,
        ..Default::default()
    };
    Disk::open(io, bufs, opts).ok()
}
