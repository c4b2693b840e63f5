//! End-to-end engine behaviour on in-memory images: create, write, read back, reopen,
//! snapshot and read through the chain.

use vhd_nostd::footer::DiskType;
use vhd_nostd::read_chain;
use vhd_testkit::*;

#[test]
fn new_dynamic_image_layout_matches_blktap() {
    // The reference format notes (format-notes.md): a new 100 MB image is 3584 bytes.
    let io = new_image(DiskType::Dynamic, 100 << 20, 2 << 20);
    assert_eq!(io.data.len(), 3584);
    assert_eq!(&io.data[0..8], b"conectix");
    assert_eq!(&io.data[512..520], b"cxsparse");
    assert_eq!(&io.data[2048..2056], b"tdbatmap");
    assert_eq!(io.data[..512], io.data[3072..]);
    let d = open(io, false).unwrap();
    assert_eq!(d.size(), 100 << 20);
    assert_eq!(d.end_of_data(), 3072);
    assert!(d.recovered().is_empty());
}

#[test]
fn dynamic_write_read_reopen() {
    let io = new_image(DiskType::Dynamic, 11 << 20, 2 << 20);
    let mut d = open(io, true).unwrap();
    let mut model = vec![0u8; 11 << 20];
    for (sector, n) in [
        (0u64, 1usize),
        (4095, 2),
        (5000, 300),
        (22527, 1),
        (8192, 4096),
    ] {
        let mut buf = vec![0u8; n * 512];
        pattern(sector, 1, &mut buf);
        d.write(sector, &buf).unwrap();
        model[sector as usize * 512..][..buf.len()].copy_from_slice(&buf);
    }
    let mut all = vec![0u8; 11 << 20];
    d.read(0, &mut all).unwrap();
    assert!(all == model);
    // First block: bitmap at 3584, data 4 KiB aligned at 4096.
    assert_eq!(d.bat().get(0), Some(7));
    let io = d.into_io();
    let mut d = open(io, false).unwrap();
    let mut all = vec![0u8; 11 << 20];
    d.read(0, &mut all).unwrap();
    assert!(all == model);
    assert!(d.write(0, &[0; 512]).is_err(), "read-only");
    assert!(d.read(22528, &mut [0; 512]).is_err(), "beyond the end");
    assert!(d.read(0, &mut [0; 100]).is_err(), "not whole sectors");
}

#[test]
fn fixed_write_read() {
    let io = new_image(DiskType::Fixed, 3 << 20, 0);
    assert_eq!(io.data.len(), (3 << 20) + 512);
    let mut d = open(io, true).unwrap();
    let mut buf = vec![0u8; 4096];
    pattern(7, 3, &mut buf);
    d.write(100, &buf).unwrap();
    let io = d.into_io();
    assert_eq!(io.data[100 * 512..100 * 512 + 4096], buf[..]);
    let mut d = open(io, false).unwrap();
    let mut back = vec![0u8; 4096];
    d.read(100, &mut back).unwrap();
    assert_eq!(back, buf);
}

#[test]
fn snapshot_reads_through_parent() {
    let io = new_image(DiskType::Dynamic, 8 << 20, 2 << 20);
    let mut parent = open(io, true).unwrap();
    let mut a = vec![0u8; 8 << 20];
    pattern(0, 1, &mut a);
    parent.write(0, &a).unwrap();
    let snap = new_snapshot(&mut parent, "base.vhd");
    // The reference format notes (format-notes.md): a fresh snapshot of a 100 MB image is 5120 bytes; this
    // 8 MiB one has the same layout.
    assert_eq!(snap.data.len(), 5120);
    let parent = open(parent.into_io(), false).unwrap();
    let mut child = open(snap, true).unwrap();
    let mut b = vec![0u8; 1024];
    pattern(77, 2, &mut b);
    child.write(4097, &b).unwrap();
    let mut chain = vec![child, parent];
    let mut all = vec![0u8; 8 << 20];
    read_chain(&mut chain, 0, &mut all).unwrap();
    let mut expect = a.clone();
    expect[4097 * 512..4099 * 512].copy_from_slice(&b);
    assert!(all == expect);
    // Alone, the child cannot answer for the parent's sectors.
    assert!(chain[0].read(0, &mut [0; 512]).is_err());
    let mut name = [0u8; 64];
    assert_eq!(
        chain[0].header().unwrap().parent_name(&mut name).unwrap(),
        "base.vhd"
    );
}

#[test]
fn coalesce_merges_child_into_parent() {
    let io = new_image(DiskType::Dynamic, 6 << 20, 2 << 20);
    let mut parent = open(io, true).unwrap();
    let mut a = vec![0u8; 6 << 20];
    pattern(0, 1, &mut a[..3 << 20]);
    parent.write(0, &a[..3 << 20]).unwrap();
    let snap = new_snapshot(&mut parent, "p.vhd");
    let mut child = open(snap, true).unwrap();
    let mut b = vec![0u8; 5 * 512];
    pattern(9, 4, &mut b);
    child.write(4094, &b).unwrap(); // crosses a block boundary
    child.write(10_000, &b).unwrap(); // into a block the parent lacks
    let mut expect = a.clone();
    expect[4094 * 512..][..b.len()].copy_from_slice(&b);
    expect[10_000 * 512..][..b.len()].copy_from_slice(&b);
    let mut buf = vec![0u8; 64 << 10];
    vhd_nostd::coalesce::coalesce(&mut child, &mut parent, &mut buf).unwrap();
    let mut all = vec![0u8; 6 << 20];
    parent.read(0, &mut all).unwrap();
    assert!(all == expect);
}

#[test]
fn fill_makes_a_child_self_contained() {
    let io = new_image(DiskType::Dynamic, 5 << 20, 2 << 20);
    let mut parent = open(io, true).unwrap();
    let mut a = vec![0u8; 5 << 20];
    pattern(0, 6, &mut a);
    parent.write(0, &a).unwrap();
    let snap = new_snapshot(&mut parent, "p.vhd");
    let child = open(snap, true).unwrap();
    let mut chain = vec![child, parent];
    let mut buf = vec![0u8; 2 << 20];
    vhd_nostd::fill::fill(&mut chain, &mut buf).unwrap();
    let child = chain.remove(0);
    for b in 0..3 {
        assert!(child.bat().get(b).is_some());
    }
    let child = open(child.into_io(), false).unwrap();
    let (_, map) = child.batmap().unwrap();
    // The last block is cut by the 5 MiB size: present within the disk, never "full".
    assert_eq!(map[0] & 0xE0, 0xC0);
    let mut all = vec![0u8; 5 << 20];
    let mut alone = vec![child];
    read_chain(&mut alone, 0, &mut all).unwrap();
    assert!(all == a, "reads without the parent");
}

#[test]
fn grow_within_bat_padding() {
    let io = new_image(DiskType::Dynamic, 4 << 20, 2 << 20);
    let mut d = open(io, true).unwrap();
    let mut a = vec![0u8; 1 << 20];
    pattern(1, 1, &mut a);
    d.write(0, &a).unwrap();
    vhd_nostd::resize::grow(&mut d, 100 << 20).unwrap();
    assert_eq!(d.size(), 100 << 20);
    d.write((90 << 20) / 512, &a).unwrap();
    let mut d = open(d.into_io(), false).unwrap();
    assert!(d.recovered().is_empty());
    assert_eq!(d.header().unwrap().max_bat_size, 50);
    let mut back = vec![0u8; 1 << 20];
    d.read((90 << 20) / 512, &mut back).unwrap();
    assert!(back == a);
    d.read(0, &mut back).unwrap();
    assert!(back == a);
    d.read((50 << 20) / 512, &mut back).unwrap();
    assert!(back.iter().all(|&x| x == 0));
    let mut d = open(d.into_io(), true).unwrap();
    assert!(matches!(
        vhd_nostd::resize::grow(&mut d, 1 << 40),
        Err(vhd_nostd::Error::NoSpace)
    ));
    assert!(vhd_nostd::resize::grow(&mut d, 1 << 20).is_err(), "shrink");
}

#[test]
fn parent_locators_decode_and_change() {
    let io = new_image(DiskType::Dynamic, 4 << 20, 2 << 20);
    let mut parent = open(io, false).unwrap();
    let snap = new_snapshot(&mut parent, "base.vhd");
    let mut child = open(snap, true).unwrap();
    let mut scratch = [0u8; 1024];
    let mut out = [0u8; 256];
    assert_eq!(
        child
            .parent_locator_path(0, &mut scratch, &mut out)
            .unwrap(),
        "./base.vhd"
    );
    assert_eq!(
        child
            .parent_locator_path(1, &mut scratch, &mut out)
            .unwrap(),
        "./base.vhd"
    );
    assert_eq!(
        child
            .parent_locator_path(2, &mut scratch, &mut out)
            .unwrap(),
        "./base.vhd"
    );
    assert!(child
        .parent_locator_path(3, &mut scratch, &mut out)
        .is_err());
    let np = vhd_nostd::parent::NewParent {
        uuid: uuid(9),
        timestamp: 77,
        name: "other.vhd",
        relative_path: "../x/other.vhd",
    };
    child.set_parent(&np, &mut scratch).unwrap();
    let mut child = open(child.into_io(), false).unwrap();
    assert_eq!(
        child
            .parent_locator_path(0, &mut scratch, &mut out)
            .unwrap(),
        "../x/other.vhd"
    );
    assert_eq!(
        child
            .parent_locator_path(2, &mut scratch, &mut out)
            .unwrap(),
        "../x/other.vhd"
    );
    let h = child.header().unwrap();
    assert_eq!((h.prt_uuid, h.prt_ts), (uuid(9), 77));
    let mut name = [0u8; 64];
    assert_eq!(h.parent_name(&mut name).unwrap(), "other.vhd");
}

#[test]
fn marker_round_trips_in_the_batmap_header() {
    let io = new_image(DiskType::Dynamic, 4 << 20, 2 << 20);
    let mut d = open(io, true).unwrap();
    assert_eq!(d.marker(), Some(0));
    d.set_marker(1).unwrap();
    let io = d.into_io();
    assert_eq!(io.data[2048 + 28], 1);
    let d = open(io, false).unwrap();
    assert_eq!(d.marker(), Some(1));
    assert!(
        d.recovered().is_empty(),
        "the batmap checksum does not cover the marker"
    );
    let mut fixed = open(new_image(DiskType::Fixed, 1 << 20, 0), true).unwrap();
    assert!(fixed.set_marker(1).is_err());
}

/// Full blocks go to the parent with one read each (bitmap and data together); a batmap
/// bit that calls a partly written block full is only a hint: the bitmap decides, and
/// the parent's sectors the child does not hold survive the merge.
#[test]
fn coalesce_reads_full_blocks_whole_and_trusts_the_bitmap_over_the_batmap() {
    let io = new_image(DiskType::Dynamic, 6 << 20, 2 << 20);
    let mut parent = open(io, true).unwrap();
    let mut a = vec![0u8; 6 << 20];
    pattern(0, 1, &mut a);
    parent.write(0, &a).unwrap();
    let snap = new_snapshot(&mut parent, "p.vhd");
    let mut child = open(snap, true).unwrap();
    let mut b = vec![0u8; 2 << 20];
    pattern(0, 7, &mut b);
    child.write(0, &b).unwrap(); // block 0 whole: batmap bit set
    child.write(4096 + 100, &b[..8 * 512]).unwrap(); // block 1: 8 sectors
    child.flush().unwrap(); // the batmap bits go down
    let mut io = child.into_io();
    set_batmap_bit(&mut io, 1, true); // the lie
    let mut child = open(io, false).unwrap();
    let (_, map) = child.batmap().unwrap();
    assert_eq!(map[0] & 0xE0, 0xC0);

    let mut buf = vec![0u8; 2 << 20];
    assert!(child.read_full_block(0, &mut buf).unwrap());
    assert!(buf == b, "block 0 read whole");
    assert!(
        !child.read_full_block(1, &mut buf).unwrap(),
        "bitmap says partial"
    );
    assert!(!child.read_full_block(2, &mut buf).unwrap(), "unallocated");
    assert!(matches!(
        child.read_full_block(0, &mut buf[..4096]),
        Err(vhd_nostd::Error::BufferTooSmall { .. })
    ));

    let mut expect = a.clone();
    expect[..2 << 20].copy_from_slice(&b);
    expect[(4096 + 100) * 512..][..8 * 512].copy_from_slice(&b[..8 * 512]);
    let mut child = open(child.into_io(), false).unwrap();
    let mut copy = vec![0u8; 6 << 20];
    let n =
        vhd_nostd::coalesce::coalesce_counted(&mut child, &mut parent, &mut copy, &mut |_, _| {})
            .unwrap();
    assert_eq!(n, 4096 + 8);
    let mut all = vec![0u8; 6 << 20];
    parent.read(0, &mut all).unwrap();
    assert!(all == expect);
}

/// A range of a block that mixes a differencing disk's runs with its parent's is read
/// the cheapest way (read.rs, READ_COST): a few small runs as the parent's whole range
/// plus a read a run; many runs as the parent's range plus one read of their span,
/// staged; one long run as each run where it is. Each way reads the right bytes, in the
/// number of reads the cost model says.
#[test]
fn mixed_ranges_take_the_cheapest_reads() {
    let io = new_image(DiskType::Dynamic, 4 << 20, 2 << 20);
    let mut parent = open(io, true).unwrap();
    let mut model = vec![0u8; 4 << 20];
    pattern(0, 3, &mut model);
    parent.write(0, &model).unwrap();
    let snap = new_snapshot(&mut parent, "p.vhd");
    let mut child = open(FaultIo::new(snap, Fault::None), true).unwrap();
    let mut put = |d: &mut vhd_testkit::VDisk<FaultIo>, s: u64, n: usize| {
        let mut b = vec![0u8; n * 512];
        pattern(s, 9, &mut b);
        d.write(s, &b).unwrap();
        model[s as usize * 512..][..b.len()].copy_from_slice(&b);
    };
    for s in [100, 700, 1500] {
        put(&mut child, s, 8); // block 0, first MiB: three short runs
    }
    put(&mut child, 2048 + 100, 900); // block 0, second MiB: one long run
    for k in 0..128 {
        put(&mut child, 4096 + k * 16, 1); // block 1, first MiB: many runs
    }
    let parent = open(FaultIo::new(parent.into_io(), Fault::None), false).unwrap();
    let child = open(child.into_io().inner, false).unwrap();
    let mut child = open(FaultIo::new(child.into_io(), Fault::None), false).unwrap();
    // Room to stage a whole block (the test kit's default is a quarter).
    child.set_read_scratch(vec![0; child.read_scratch_bytes()]);
    let mut chain = vec![child, parent];
    let mut buf = vec![0u8; 1 << 20];
    for (sector, reads) in [(0u64, 1 + 3), (4096, 1 + 1), (2048, 1 + 2)] {
        read_chain(&mut chain, sector, &mut buf).unwrap(); // bitmaps now cached
        let before = chain[0].io().reads + chain[1].io().reads;
        read_chain(&mut chain, sector, &mut buf).unwrap();
        let after = chain[0].io().reads + chain[1].io().reads;
        assert!(
            buf[..] == model[sector as usize * 512..][..1 << 20],
            "at {sector}"
        );
        assert_eq!(after - before, reads, "reads of the MiB at sector {sector}");
    }
}

/// A set batmap bit is a hint, written at the next flush (or close): until then the
/// image holds the old map under its old checksum, which agree. A bit cleared because a
/// damaged batmap called a partial block full is written at once.
#[test]
fn batmap_bits_are_set_at_flush_and_cleared_at_once() {
    let io = new_image(DiskType::Dynamic, 6 << 20, 2 << 20);
    let mut d = open(io, true).unwrap();
    let mut a = vec![0u8; 1 << 20];
    pattern(0, 3, &mut a);
    d.write(0, &a).unwrap(); // allocates block 0: full from allocation
    d.write(4096, &a).unwrap(); // and block 1
    assert_eq!(d.batmap().unwrap().1[0] & 0xC0, 0xC0, "the bits, in memory");
    let on_disk = open(d.io().clone(), false).unwrap();
    assert!(on_disk.recovered().is_empty(), "old map, old checksum");
    assert_eq!(on_disk.batmap().unwrap().1[0] & 0xC0, 0, "not yet written");
    d.flush().unwrap();
    let on_disk = open(d.io().clone(), false).unwrap();
    assert!(on_disk.recovered().is_empty());
    assert_eq!(
        on_disk.batmap().unwrap().1[0] & 0xC0,
        0xC0,
        "written by the flush"
    );

    // A differencing disk whose batmap lies about block 2 (not allocated yet).
    let snap = new_snapshot(&mut d, "p.vhd");
    let mut child = open(snap, true).unwrap();
    child.write(0, &a).unwrap(); // block 0 partly: its bit stays clear
    let mut io = child.into_io();
    set_batmap_bit(&mut io, 0, true);
    let mut child = open(io, true).unwrap();
    child.write(2048, &a[..4096]).unwrap(); // block 0 still partial: the lie is cleared
    let on_disk = open(child.io().clone(), false).unwrap();
    assert!(on_disk.recovered().is_empty());
    assert_eq!(
        on_disk.batmap().unwrap().1[0] & 0x80,
        0,
        "cleared without a flush"
    );
}

/// An in-memory file that does a batch's reads last to first (so a read that needed
/// another's result first would show) and logs each batch's size.
struct Batching {
    io: VecIo,
    batches: Batches,
}

impl vhd_nostd::Io for Batching {
    type Error = std::io::ErrorKind;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        self.io.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), Self::Error> {
        self.io.write_at(offset, buf)
    }
    fn read_batch(reads: &mut [vhd_nostd::io::BatchRead<'_, Self>]) -> Result<(), Self::Error> {
        if let Some(r) = reads.first() {
            r.io.batches.borrow_mut().push(reads.len());
        }
        for r in reads.iter_mut().rev() {
            r.io.io.read_at(r.offset, r.buf)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn size(&mut self) -> Result<u64, Self::Error> {
        self.io.size()
    }
    fn set_size(&mut self, size: u64) -> Result<(), Self::Error> {
        self.io.set_size(size)
    }
}

type Batches = std::rc::Rc<std::cell::RefCell<Vec<usize>>>;

/// A full dynamic base of `size` bytes (its files, then what the chain reads as).
fn full_base(size: u64) -> (Vec<VecIo>, Vec<u8>) {
    let mut base = open(new_image(DiskType::Dynamic, size, 2 << 20), true).unwrap();
    let mut model = vec![0u8; size as usize];
    pattern(0, 1, &mut model);
    base.write(0, &model).unwrap();
    (vec![base.into_io()], model)
}

/// Snapshots the last of `ios` and writes 4 KiB at each of `sectors` into the child,
/// tagged `tag`, as `model` records.
fn add_level(ios: &mut Vec<VecIo>, model: &mut [u8], tag: u8, sectors: impl Iterator<Item = u64>) {
    let mut parent = open(ios.last().unwrap().clone(), false).unwrap();
    let mut child = open(new_snapshot(&mut parent, "p.vhd"), true).unwrap();
    for sector in sectors {
        let mut data = vec![0u8; 4096];
        pattern(sector, tag, &mut data);
        child.write(sector, &data).unwrap();
        model[sector as usize * 512..][..4096].copy_from_slice(&data);
    }
    child.flush().unwrap();
    ios.push(child.into_io());
}

/// Reads the chain of `ios` (base first) in pieces of `piece` bytes, each level staging
/// through a whole-block scratch, checks it against `model`, and returns each batch's size.
fn read_in_batches(ios: Vec<VecIo>, model: &[u8], piece: usize) -> Vec<usize> {
    let batches = Batches::default();
    let mut chain: Vec<_> = ios
        .into_iter()
        .rev()
        .map(|io| {
            let batches = batches.clone();
            let mut d = open(Batching { io, batches }, false).unwrap();
            if d.disk_type() == Some(DiskType::Differencing) {
                let whole = d.read_scratch_bytes();
                d.set_read_scratch(vec![0; whole]);
            }
            d
        })
        .collect();
    let mut got = vec![0u8; model.len()];
    for (i, part) in got.chunks_mut(piece).enumerate() {
        read_chain(&mut chain, (i * piece / 512) as u64, part).unwrap();
    }
    assert!(got == model, "the chain reads as the model");
    let sizes = batches.borrow().clone();
    sizes
}

/// A chain of `depth` differencing disks over a full base, each with scattered 4 KiB
/// writes of its own, read in 1 MiB pieces: returns the size of each batch.
fn read_scattered_chain(depth: u8) -> Vec<usize> {
    const SIZE: u64 = 8 << 20;
    let (mut ios, mut model) = full_base(SIZE);
    let mut seed = 12345u64;
    for level in 0..depth {
        // 4 KiB writes every few dozen KiB, some overlapping a lower level's: every
        // 1 MiB read interleaves every level's runs with the base's.
        let sectors: Vec<u64> = (0..96)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) % (SIZE / 512 - 8)
            })
            .collect();
        add_level(&mut ios, &mut model, 10 + level, sectors.into_iter());
    }
    read_in_batches(ios, &model, 1 << 20)
}

#[test]
fn a_chain_read_batches_every_levels_span_and_the_nearest_level_wins() {
    let batches = read_scattered_chain(4);
    assert!(
        batches.contains(&5),
        "some 1 MiB read is one batch of five (four levels' spans and the base): {batches:?}"
    );
    // Deeper than one batch holds: 10 spans and the base go as 8, then 3.
    let batches = read_scattered_chain(10);
    assert!(
        batches.windows(2).any(|w| w == [8, 3]),
        "a read of eleven files is two batches: {batches:?}"
    );
}

#[test]
fn levels_with_one_run_each_are_read_in_one_batch() {
    const SIZE: u64 = 4 << 20;
    let (mut ios, mut model) = full_base(SIZE);
    for level in 0..3u8 {
        // One 4 KiB run per level in each 64 KiB: sectors 8, 40 and 72 of it.
        let sectors = (0..SIZE / 65536).map(|chunk| chunk * 128 + 8 + u64::from(level) * 32);
        add_level(&mut ios, &mut model, 20 + level, sectors);
    }
    let batches = read_in_batches(ios, &model, 65536);
    assert_eq!(
        batches.len(),
        (SIZE / 65536) as usize,
        "one batch per read: {batches:?}"
    );
    assert!(
        batches.iter().all(|&n| n == 4),
        "three levels' runs and the base: {batches:?}"
    );
}
