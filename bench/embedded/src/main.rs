//! A bare-metal program over an in-memory image, linked for `thumbv7em-none-eabihf`
//! with section garbage collection so `.text` counts exactly the core code a firmware
//! links: the read-only path by default, every operation with `--features full`.
#![no_std]
#![no_main]

use vhd_nostd::io::MemIo;
use vhd_nostd::{Buffers, Disk, OpenOptions};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

fn open<'a>(
    image: &'a mut [u8],
    len: usize,
    bufs: Buffers<&'a mut [u8]>,
    writable: bool,
) -> Option<Disk<MemIo<'a>, &'a mut [u8]>> {
    let io = MemIo::with_len(image, len);
    let opts = OpenOptions {
        writable,
        ..Default::default()
    };
    Disk::open(io, bufs, opts).ok()
}

/// Opens the image in `image[..len]` read-only and reads `out` at `sector`.
fn vhd_probe_read(image: &mut [u8], len: usize, sector: u64, out: &mut [u8]) -> i32 {
    let (mut bat, mut map, mut bitmap) = ([0u8; 4096], [0u8; 1024], [0u8; 512]);
    let bufs = Buffers {
        bat: &mut bat[..],
        batmap: &mut map[..],
        bitmap: &mut bitmap[..],
    };
    match open(image, len, bufs, false) {
        Some(mut d) => d.read(sector, out).map_or(-5, |_| 0),
        None => -22,
    }
}

/// Every other operation: create, write, snapshot chain reads, coalesce, grow, check.
#[cfg(feature = "full")]
fn vhd_probe_full(image: &mut [u8], parent: &mut [u8], sector: u64, data: &mut [u8]) -> i32 {
    use vhd_nostd::create::{create, CreateParams};
    use vhd_nostd::footer::DiskType;
    let mut scratch = [0u8; 512];
    {
        let mut io = MemIo::new(&mut *parent);
        let p = CreateParams {
            kind: DiskType::Dynamic,
            size: 4 << 20,
            block_size: 32 << 10,
            uuid: uuid_nil(),
            timestamp: 0,
            parent: None,
        };
        if create(&mut io, &p, &mut scratch).is_err() {
            return -1;
        }
    }
    let mut work = [0u8; 4096];
    let plen = parent.len();
    {
        let mut io = MemIo::with_len(&mut *parent, plen);
        let opts = vhd_nostd::check::CheckOptions::default();
        if vhd_nostd::check::check(&mut io, &opts, &mut work).is_err() {
            return -2;
        }
    }
    let ilen = image.len();
    let (mut bat, mut map, mut bitmap) = ([0u8; 4096], [0u8; 1024], [0u8; 512]);
    let (mut pbat, mut pmap, mut pbitmap) = ([0u8; 4096], [0u8; 1024], [0u8; 512]);
    let child = open(
        image,
        ilen,
        Buffers {
            bat: &mut bat[..],
            batmap: &mut map[..],
            bitmap: &mut bitmap[..],
        },
        true,
    );
    let par = open(
        parent,
        plen,
        Buffers {
            bat: &mut pbat[..],
            batmap: &mut pmap[..],
            bitmap: &mut pbitmap[..],
        },
        true,
    );
    let (Some(mut child), Some(mut par)) = (child, par) else {
        return -22;
    };
    if child.write(sector, data).is_err() || vhd_nostd::resize::grow(&mut par, 8 << 20).is_err() {
        return -5;
    }
    let mut buf = [0u8; 512];
    if vhd_nostd::coalesce::coalesce(&mut child, &mut par, &mut buf).is_err() {
        return -5;
    }
    let mut chain = [child, par];
    vhd_nostd::read_chain(&mut chain, sector, data).map_or(-5, |_| 0)
}

#[cfg(feature = "full")]
fn uuid_nil() -> vhd_nostd_uuid::Uuid {
    vhd_nostd_uuid::Uuid::nil()
}
#[cfg(feature = "full")]
use uuid as vhd_nostd_uuid;

/// The entry point: runs the probes on stack buffers the optimiser cannot see through.
#[no_mangle]
#[link_section = ".text.reset"]
pub extern "C" fn reset() -> ! {
    use core::hint::black_box;
    let mut image = [0u8; 16384];
    let mut out = [0u8; 512];
    let r = vhd_probe_read(
        black_box(&mut image[..]),
        black_box(16384),
        black_box(3),
        black_box(&mut out[..]),
    );
    black_box(r);
    #[cfg(feature = "full")]
    {
        let mut parent = [0u8; 16384];
        let r = vhd_probe_full(
            black_box(&mut image[..]),
            black_box(&mut parent[..]),
            black_box(3),
            black_box(&mut out[..]),
        );
        black_box(r);
    }
    loop {}
}
