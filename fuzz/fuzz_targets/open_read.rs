//! Arbitrary bytes as an image file: probe, open with bounded buffers, read a few
//! sectors (through a raw parent for a differencing disk), decode the parent links,
//! run check, then write one sector into a writable copy and read it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vhd_nostd::check::{check, work_size, CheckOptions};
use vhd_nostd::{probe, read_chain, Buffers, Disk, DiskType, Io, Kind, OpenOptions};

/// Largest buffer the harness gives the engine, and how far a write may grow the file.
const CAP: usize = 1 << 20;
const GROW: u64 = 8 << 20;

#[derive(Debug)]
struct Mem {
    data: Vec<u8>,
    limit: u64,
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

fn mem(data: &[u8]) -> Mem {
    Mem {
        data: data.to_vec(),
        limit: data.len() as u64 + GROW,
    }
}

fn open(data: &[u8], writable: bool) -> Option<Disk<Mem, Vec<u8>>> {
    let mut io = mem(data);
    let l = probe(&mut io).ok()?;
    if l.bat_bytes > CAP || l.batmap_bytes > CAP || l.bitmap_bytes > CAP {
        return None;
    }
    let bufs = Buffers {
        bat: vec![0; l.bat_bytes],
        batmap: vec![0; l.batmap_bytes],
        bitmap: vec![0; l.bitmap_bytes],
    };
    let opts = OpenOptions {
        writable,
        ..Default::default()
    };
    Disk::open(io, bufs, opts).ok()
}

/// Reads through a chain whose bottom is a small raw disk of 0x5A bytes.
fn read(d: Disk<Mem, Vec<u8>>, sector: u64, buf: &mut [u8]) -> (Disk<Mem, Vec<u8>>, bool) {
    let parent: Disk<Mem, Vec<u8>> = Disk::open_raw(mem(&[0x5A; 8192]), false).unwrap();
    let mut chain = [d, parent];
    let ok = read_chain(&mut chain, sector, buf).is_ok();
    let [d, _] = chain;
    (d, ok)
}

fuzz_target!(|data: &[u8]| {
    let mut work = vec![0u8; work_size(1 << 16)];
    let _ = check(
        &mut mem(data),
        &CheckOptions {
            ignore_primary: data.first() == Some(&1),
            now: u32::MAX,
        },
        &mut work,
    );
    let Some(mut d) = open(data, false) else {
        return;
    };
    let sectors = d.sectors();
    let seed = data.iter().fold(0u64, |h, &b| h.wrapping_mul(31) ^ u64::from(b));
    let mut buf = vec![0u8; 64 * 512];
    if sectors > 0 {
        for s in [0, sectors - 1, sectors / 2, seed % sectors] {
            let n = (sectors - s).min(64) as usize;
            let (back, _) = read(d, s, &mut buf[..n * 512]);
            d = back;
            let _ = d.map_sectors(s, u32::MAX);
        }
    }
    if d.kind() == Kind::Vhd(DiskType::Differencing) {
        let mut scratch = vec![0u8; 16 << 10];
        let mut out = vec![0u8; 16 << 10];
        for i in 0..8 {
            let _ = d.parent_locator_path(i, &mut scratch, &mut out);
        }
        let mut name = [0u8; 1024];
        let _ = d.header().map(|h| h.parent_name(&mut name));
    }
    drop(d);

    // A writable copy: one sector written must read back.
    let Some(w) = open(data, true) else {
        return;
    };
    if sectors == 0 {
        return;
    }
    let s = seed.rotate_left(17) % sectors;
    let sector = [0xC3u8; 512];
    let mut w = w;
    if w.write(s, &sector).is_ok() {
        let mut back = [0u8; 512];
        let (w2, ok) = read(w, s, &mut back);
        w = w2;
        assert!(ok, "a written sector must read");
        assert_eq!(back, sector, "a written sector reads back");
    }
    // Reopen what the engine left: it must still open (or fail cleanly).
    let after = w.into_io().data;
    if let Some(mut r) = open(&after, false) {
        if r.sectors() > 0 {
            let (_, _) = read(r, 0, &mut buf[..512]);
        } else {
            let _ = r.read(0, &mut []);
        }
    }
});
