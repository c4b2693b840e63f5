//! The core never allocates: a counting global allocator watches the current thread
//! while core calls run over caller buffers (MemIo over a preallocated buffer, stack
//! scratch, slices for the metadata buffers), and must count zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use vhd_nostd::check::{check, CheckOptions};
use vhd_nostd::create::{create, CreateParams, Parent};
use vhd_nostd::io::MemIo;
use vhd_nostd::{probe, read_chain, Buffers, Disk, DiskType, OpenOptions};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // try_with: the allocator also runs while thread-locals are torn down.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with the counter armed and returns how many allocations it made.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, COUNT.with(Cell::get))
}

#[test]
fn the_counter_sees_allocations() {
    let (_, n) = allocations(|| black_box(Vec::<u8>::with_capacity(100)));
    assert!(
        n >= 1,
        "a Vec::with_capacity inside the armed region is counted"
    );
    let (_, n) = allocations(|| black_box(format!("{}", black_box(7))));
    assert!(n >= 1);
    let (_, n) = allocations(|| black_box(1 + black_box(2)));
    assert_eq!(n, 0);
}

const MIB: usize = 1 << 20;

#[test]
fn core_operations_allocate_nothing() {
    // Everything the core will touch is allocated before arming.
    let mut pfile = vec![0u8; 16 * MIB];
    let mut cfile = vec![0u8; 16 * MIB];
    let mut data = vec![0u8; 3 * MIB];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i % 253) as u8;
    }
    let mut back = vec![0u8; 3 * MIB];
    let mut work = vec![0u8; 64 << 10];
    let mut stage = vec![0u8; 256 << 10];
    let (mut pbat, mut pmap, mut pbm) = ([0u8; 512], [0u8; 1024], [0u8; 512]);
    let (mut cbat, mut cmap, mut cbm) = ([0u8; 512], [0u8; 1024], [0u8; 512]);
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };

    let (ok, n) = allocations(|| {
        let mut scratch = [0u8; 4096];
        // Create a dynamic disk, open it with caller buffers, allocate blocks.
        let mut pio = MemIo::new(&mut pfile);
        let p = CreateParams {
            kind: DiskType::Dynamic,
            size: 8 * MIB as u64,
            block_size: 2 << 20,
            uuid: uuid::Uuid::from_bytes([1; 16]),
            timestamp: 9,
            parent: None,
        };
        create(&mut pio, &p, &mut scratch).unwrap();
        let layout = probe(&mut pio).unwrap();
        assert!(layout.bat_bytes <= 512 && layout.batmap_bytes <= 1024);
        let mut parent = Disk::open(
            pio,
            Buffers {
                bat: &mut pbat[..],
                batmap: &mut pmap[..],
                bitmap: &mut pbm[..],
            },
            opts,
        )
        .unwrap();
        // The overlap scan works in the caller's buffer (work_size: 8 bytes a block).
        assert_eq!(parent.scan_overlaps(&mut scratch).unwrap(), 0);
        parent.write(4000, &data).unwrap();
        parent.read(4000, &mut back).unwrap();
        assert!(back == data);
        let puuid = parent.footer().uuid;

        // A snapshot of it, written partially, read through the chain.
        let mut cio = MemIo::new(&mut cfile);
        let c = CreateParams {
            kind: DiskType::Differencing,
            size: 8 * MIB as u64,
            block_size: 2 << 20,
            uuid: uuid::Uuid::from_bytes([2; 16]),
            timestamp: 10,
            parent: Some(Parent {
                uuid: puuid,
                timestamp: 9,
                name: "base.vhd",
                relative_path: "./base.vhd",
            }),
        };
        create(&mut cio, &c, &mut scratch).unwrap();
        let mut child = Disk::open(
            cio,
            Buffers {
                bat: &mut cbat[..],
                batmap: &mut cmap[..],
                bitmap: &mut cbm[..],
            },
            opts,
        )
        .unwrap();
        child.write(4100, &data[..100 * 512]).unwrap();
        child.write(4100 + 4096, &data[..4096 * 512]).unwrap();
        let mut out = [0u8; 256];
        let path = child
            .parent_locator_path(0, &mut scratch, &mut out)
            .unwrap();
        assert!(path == "./base.vhd");
        let mut chain = [child, parent];
        read_chain(&mut chain, 4000, &mut back).unwrap();
        assert!(back[100 * 512..200 * 512] == data[..100 * 512]);

        // Coalesce, grow, fill, check.
        let [mut child, mut parent] = chain;
        vhd_nostd::coalesce::coalesce(&mut child, &mut parent, &mut stage).unwrap();
        let mut chain = [child, parent];
        vhd_nostd::fill::fill(&mut chain, &mut stage).unwrap();
        let [_, mut parent] = chain;
        vhd_nostd::resize::grow(&mut parent, 9 * MIB as u64).unwrap();
        let mut pio = parent.into_io();
        let r = check(
            &mut pio,
            &CheckOptions {
                ignore_primary: false,
                now: u32::MAX,
            },
            &mut work,
        );
        r.is_ok()
    });
    assert_eq!(n, 0, "the core allocated {n} times");
    assert!(ok, "check passes");
}

#[test]
fn growth_that_moves_blocks_allocates_nothing() {
    let mut file = vec![0u8; 16 * MIB];
    let mut jfile = vec![0u8; MIB];
    let mut copy = vec![0u8; (2 << 20) + 512];
    let data = vec![0x5au8; 64 << 10];
    let (mut bat, mut map, mut bm) = ([0u8; 512], [0u8; 1024], [0u8; 512]);
    let (mut big_bat, mut big_map) = ([0u8; 2048], [0u8; 1024]);
    let mut work = vec![0u8; 64 << 10];
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let ((moved, ok), n) = allocations(|| {
        use vhd_nostd::{journal, resize};
        let mut scratch = [0u8; 4096];
        let mut io = MemIo::new(&mut file);
        let p = CreateParams {
            kind: DiskType::Dynamic,
            size: 8 * MIB as u64,
            block_size: 2 << 20,
            uuid: uuid::Uuid::from_bytes([3; 16]),
            timestamp: 9,
            parent: None,
        };
        create(&mut io, &p, &mut scratch).unwrap();
        let bufs = Buffers {
            bat: &mut bat[..],
            batmap: &mut map[..],
            bitmap: &mut bm[..],
        };
        let mut disk = Disk::open(io, bufs, opts).unwrap();
        disk.write(0, &data).unwrap();
        // 600 MiB: 300 entries, 3 BAT sectors over block 0.
        let mut jio = MemIo::new(&mut jfile);
        let mut h = journal::create(&mut jio, &mut disk, &mut scratch).unwrap();
        let plan = resize::plan(&disk, 600 * MIB as u64).unwrap();
        resize::reserve(
            &mut disk,
            &mut big_bat[..plan.bat_bytes],
            &mut big_map[..plan.batmap_bytes],
        )
        .unwrap();
        let copy = &mut copy[..plan.copy_bytes];
        resize::grow_journaled(&mut disk, 600 * MIB as u64, &mut jio, &mut h, copy, |_| {})
            .unwrap();
        journal::commit(&mut jio, &mut h, true).unwrap();
        disk.unpoison().unwrap();
        let mut io = disk.into_io();
        let opts = CheckOptions {
            ignore_primary: false,
            now: u32::MAX,
        };
        (plan.blocks_moved, check(&mut io, &opts, &mut work).is_ok())
    });
    assert_eq!(n, 0, "the core allocated {n} times");
    assert_eq!(moved, 1);
    assert!(ok, "check passes");
}
