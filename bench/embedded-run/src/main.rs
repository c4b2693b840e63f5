//! The core on a Cortex-M4F (QEMU's `mps2-an386` board model): opens a differencing
//! chain held in the program's flash image (a dynamic parent read in place, a child
//! copied to RAM to be written), reads and writes through it, checks every sector, and
//! reports how much stack each step used below its caller, measured on painted stack.
//! Fails (QEMU exits 1) on wrong data, an error, or a step over its stack budget.
#![no_std]
#![no_main]

mod chain;
mod rt;

use chain::{fill, layer, Layer, SECTORS, WRITES};
use vhd_nostd::io::{Io, MemIo, MemIoError};
use vhd_nostd::{read_chain, Buffers, Disk, Error, OpenOptions};

/// The most stack a step may use below its caller, bytes. The figure covers the
/// step's own frame in the harness, so it bounds the core's use from above.
const BUDGET: usize = 1024;

static PARENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/parent.vhd"));
static CHILD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/child.vhd"));

/// Room for the child in RAM: the image and the blocks the program's writes add.
const CHILD_ROOM: usize = 192 * 1024;

/// An image in flash (read-only, as a firmware would keep it) or in RAM.
enum ImageIo<'a> {
    Flash(&'static [u8]),
    Ram(MemIo<'a>),
}

impl Io for ImageIo<'_> {
    type Error = MemIoError;

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MemIoError> {
        match self {
            ImageIo::Flash(image) => {
                let start = usize::try_from(offset).map_err(|_| MemIoError::UnexpectedEof)?;
                let src = start
                    .checked_add(buf.len())
                    .and_then(|end| image.get(start..end))
                    .ok_or(MemIoError::UnexpectedEof)?;
                buf.copy_from_slice(src);
                Ok(())
            }
            ImageIo::Ram(m) => m.read_at(offset, buf),
        }
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), MemIoError> {
        match self {
            ImageIo::Flash(_) => Err(MemIoError::NoSpace),
            ImageIo::Ram(m) => m.write_at(offset, buf),
        }
    }

    fn flush(&mut self) -> Result<(), MemIoError> {
        Ok(())
    }

    fn size(&mut self) -> Result<u64, MemIoError> {
        match self {
            ImageIo::Flash(image) => Ok(image.len() as u64),
            ImageIo::Ram(m) => m.size(),
        }
    }

    fn set_size(&mut self, size: u64) -> Result<(), MemIoError> {
        match self {
            ImageIo::Flash(_) => Err(MemIoError::NoSpace),
            ImageIo::Ram(m) => m.set_size(size),
        }
    }
}

type VhdDisk<'a> = Disk<ImageIo<'a>, &'a mut [u8]>;

/// The metadata buffers of one open disk.
struct Tables {
    bat: [u8; 512],
    batmap: [u8; 1024],
    bitmap: [u8; 512],
}

impl Tables {
    const fn new() -> Tables {
        Tables {
            bat: [0; 512],
            batmap: [0; 1024],
            bitmap: [0; 512],
        }
    }

    fn buffers(&mut self) -> Buffers<&mut [u8]> {
        Buffers {
            bat: &mut self.bat,
            batmap: &mut self.batmap,
            bitmap: &mut self.bitmap,
        }
    }
}

/// The worst stack use of each kind of step.
#[derive(Default)]
struct Marks {
    open: usize,
    read: usize,
    write: usize,
}

fn failed<E: core::fmt::Debug>(what: &str, e: E) -> bool {
    rt::print(format_args!("embedded-run: {what} failed: {e:?}\n"));
    false
}

/// Opens `io` into `slot`, measured.
fn open<'a>(
    slot: &mut Option<VhdDisk<'a>>,
    io: ImageIo<'a>,
    tables: &'a mut Tables,
    writable: bool,
    marks: &mut Marks,
) -> Result<(), Error<MemIoError>> {
    let opts = OpenOptions {
        writable,
        ..Default::default()
    };
    let bufs = tables.buffers();
    let (r, used) = rt::measure(|| Disk::open_in(slot, io, bufs, opts).map(drop));
    marks.open = marks.open.max(used);
    r
}

/// Reads the whole chain a few sectors at a time and checks every byte.
fn verify(chain: &mut [VhdDisk<'_>], written: bool, marks: &mut Marks) -> bool {
    let mut buf = [0u8; 4 * 512];
    let mut want = [0u8; 512];
    let mut sector = 0;
    while sector < SECTORS {
        let (r, used) = rt::measure(|| read_chain(chain, sector, &mut buf));
        marks.read = marks.read.max(used);
        if let Err(e) = r {
            return failed("read", e);
        }
        for (n, got) in buf.chunks(512).enumerate() {
            let s = sector + n as u64;
            fill(layer(s, written), s, &mut want);
            if got != want {
                rt::print(format_args!(
                    "embedded-run: sector {s} differs from {:?}'s data\n",
                    layer(s, written)
                ));
                return false;
            }
        }
        sector += 4;
    }
    true
}

/// The whole run; `true` if every check passed.
pub fn run() -> bool {
    let mut marks = Marks::default();
    let mut room = [0u8; CHILD_ROOM];
    room[..CHILD.len()].copy_from_slice(CHILD);
    let (mut pt, mut ct) = (Tables::new(), Tables::new());
    let (mut parent, mut child) = (None, None);
    if let Err(e) = open(
        &mut parent,
        ImageIo::Flash(PARENT),
        &mut pt,
        false,
        &mut marks,
    ) {
        return failed("opening the parent", e);
    }
    let io = ImageIo::Ram(MemIo::with_len(&mut room, CHILD.len()));
    if let Err(e) = open(&mut child, io, &mut ct, true, &mut marks) {
        return failed("opening the child", e);
    }
    let (Some(child), Some(parent)) = (child, parent) else {
        return failed("open", "no disk");
    };
    let mut chain = [child, parent];
    if !verify(&mut chain, false, &mut marks) {
        return false;
    }
    let mut data = [0u8; 8 * 512];
    for &(first, n) in &WRITES {
        let data = &mut data[..n as usize * 512];
        fill(Layer::Write, first, data);
        let (r, used) = rt::measure(|| chain[0].write(first, data));
        marks.write = marks.write.max(used);
        if let Err(e) = r {
            return failed("write", e);
        }
    }
    if !verify(&mut chain, true, &mut marks) {
        return false;
    }
    rt::print(format_args!(
        "embedded-run: chain of 2 verified ({} sectors, {} writes); stack below the caller: \
         open {} B, read {} B, write {} B (budget {} B)\n",
        SECTORS,
        WRITES.len(),
        marks.open,
        marks.read,
        marks.write,
        BUDGET
    ));
    let worst = marks.open.max(marks.read).max(marks.write);
    if worst > BUDGET {
        rt::print(format_args!(
            "embedded-run: {worst} B of stack is over the budget of {BUDGET} B\n"
        ));
        return false;
    }
    true
}
