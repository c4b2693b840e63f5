//! Power cuts and failing writes in the middle of every mutating operation.
//!
//! Each scenario runs an operation once cleanly, logging every write and flush. Then,
//! for every write number N:
//! - a power cut: writes from number N on are silently dropped (the operation goes on,
//!   the disk no longer changes);
//! - a failing device (malformed case 25): write number N and all later ones return an
//!   error, which the operation must pass back.
//!
//! And, since a device may reorder the writes it was given between two flushes, every
//! subset of the writes of each flush epoch is applied on top of the complete earlier
//! epochs. After each such crash the image is opened read-write (which performs the
//! format's recovery) and must open, pass `check`, open cleanly again, read every
//! sector as either the old or the new data, and take the operation again to reach
//! the new data.

use std::io::ErrorKind;
use vhd_nostd::create::{create, CreateParams, Parent};
use vhd_nostd::{DiskType, Error, Io};
use vhd_testkit::*;

type E = Error<ErrorKind>;
type Op = Box<dyn Fn(&mut FaultIo) -> Result<(), E>>;

/// Sectors per block: 2 MiB blocks, or 32 KiB under Miri (`make miri`), which interprets
/// every byte. Sector numbers are given for both sizes (`scaled(full, miri)`), chosen so
/// that each scenario keeps its shape: the same blocks touched, the same boundaries
/// crossed, the same bits set.
const BS: u64 = scaled(4096, 64);
const BLOCK: u32 = (BS * 512) as u32;
/// Half a block: a MiB at full size.
const MIB: usize = BLOCK as usize / 2;

/// `full` or `miri` sectors, in bytes.
fn sectors(full: u64, miri: u64) -> usize {
    scaled(full, miri) as usize * 512
}

struct Scenario {
    name: &'static str,
    /// The file before the operation.
    base: VecIo,
    /// The parent the image reads through (differencing), opened read-only.
    parent: Option<VecIo>,
    /// Content before; `None` when there is no image before (create).
    old: Option<Vec<u8>>,
    /// Content after.
    new: Vec<u8>,
    op: Op,
}

fn content(sc: &Scenario, io: VecIo) -> Vec<u8> {
    let d = open(io, false).unwrap();
    assert!(d.recovered().is_empty(), "second open is clean");
    read_through(d, sc.parent.as_ref())
}

fn old_or_new(label: &str, got: &[u8], old: Option<&[u8]>, new: &[u8]) {
    assert!(
        got.len() == new.len() || old.is_some_and(|o| o.len() == got.len()),
        "{label}: size {} is neither old nor new",
        got.len()
    );
    let zero = [0u8; 512];
    for (i, g) in got.chunks(512).enumerate() {
        let r = i * 512..i * 512 + 512;
        let n = new.get(r.clone()).unwrap_or(&zero);
        let o = old.map(|o| o.get(r).unwrap_or(&zero));
        assert!(
            g == n || o == Some(g),
            "{label}: sector {i} is neither old nor new"
        );
    }
}

/// The state after a crash: recovery, check, old-or-new content, and the operation
/// still completes on the recovered image.
fn verify(sc: &Scenario, state: VecIo, label: &str) {
    let d = match open(state.clone(), true) {
        Ok(d) => d,
        Err(e) => {
            assert!(sc.old.is_none(), "{label}: open failed: {e:?}");
            // No image yet: a typed format error, read-only too.
            assert!(matches!(e, Error::Format(_)), "{label}: {e:?}");
            assert!(matches!(open(state, false), Err(Error::Format(_))));
            return;
        }
    };
    let mut file = d.into_io();
    assert_eq!(check_msg(&mut file), Ok(()), "{label}");
    let got = content(sc, file.clone());
    old_or_new(label, &got, sc.old.as_deref(), &sc.new);
    let mut again = FaultIo::new(file, Fault::None);
    (sc.op)(&mut again).unwrap_or_else(|e| panic!("{label}: redo: {e:?}"));
    let got = content(sc, again.inner);
    assert!(got == sc.new, "{label}: redo reaches the new data");
}

/// Applies logged events to a file.
fn apply(io: &mut VecIo, events: &[&Event]) {
    for e in events {
        match e {
            Event::Write(off, data) => io.write_at(*off, data).unwrap(),
            Event::SetSize(n) => io.set_size(*n).unwrap(),
            Event::Flush => {}
        }
    }
}

fn run(sc: Scenario) {
    let mut clean = FaultIo::new(sc.base.clone(), Fault::None);
    (sc.op)(&mut clean).unwrap();
    let total = clean.writes;
    assert!(total > 0, "{}: the operation writes", sc.name);
    let log = clean.log;
    verify(&sc, clean.inner, &format!("{}: clean", sc.name));

    for n in sample(0..=total) {
        let mut f = FaultIo::new(sc.base.clone(), Fault::CutAfterWrites(n));
        // The program goes on after the cut; whatever it returns, the disk is frozen.
        let _ = (sc.op)(&mut f);
        verify(
            &sc,
            f.inner,
            &format!("{}: cut after {n} of {total}", sc.name),
        );
    }

    for n in sample(0..total) {
        let mut f = FaultIo::new(sc.base.clone(), Fault::FailWrite(n));
        let r = (sc.op)(&mut f);
        assert_eq!(
            r,
            Err(Error::Io(ErrorKind::StorageFull)),
            "{}: write {n} fails",
            sc.name
        );
        verify(&sc, f.inner, &format!("{}: write {n} failed", sc.name));
    }

    let epochs: Vec<Vec<&Event>> = log
        .split(|e| *e == Event::Flush)
        .map(|ep| ep.iter().collect())
        .collect();
    let mut durable = sc.base.clone();
    let mut reordered = 0;
    for (k, ep) in epochs.iter().enumerate() {
        if ep.len() > 1 {
            for mask in sample(subsets(ep.len())) {
                reordered += 1;
                let mut state = durable.clone();
                let chosen: Vec<&Event> = ep
                    .iter()
                    .zip(&mask)
                    .filter(|(_, &m)| m)
                    .map(|(e, _)| *e)
                    .collect();
                apply(&mut state, &chosen);
                verify(
                    &sc,
                    state,
                    &format!("{}: epoch {k}, writes {mask:?}", sc.name),
                );
            }
        }
        apply(&mut durable, ep);
    }
    // Every state above passed `verify` (which panics otherwise): none inconsistent.
    // `--nocapture` shows the counts RELIABILITY.md quotes.
    eprintln!(
        "{}: {} cuts, {total} failing writes, {reordered} reordered states, 0 inconsistent{}",
        sc.name,
        total + 1,
        if MIRI {
            " (Miri: the first, middle and last of each kind checked)"
        } else {
            ""
        }
    );
}

/// Every item; under Miri, which runs each crash state some thousand times slower, the
/// first, the middle and the last (the native run covers all of them).
fn sample<T>(all: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = all.into_iter().collect();
    if MIRI && v.len() > 3 {
        let (mid, last) = (v.len() / 2, v.len() - 1);
        v = v
            .into_iter()
            .enumerate()
            .filter(|(i, _)| [0, mid, last].contains(i))
            .map(|(_, x)| x)
            .collect();
    }
    v
}

fn filled(len: usize, g: u8) -> Vec<u8> {
    let mut v = vec![0u8; len];
    pattern(u64::from(g), g, &mut v);
    v
}

/// A dynamic disk of `size` with `data` written at sector 0.
fn dynamic_with(size: usize, data: &[u8]) -> VecIo {
    let mut d = open(new_image(DiskType::Dynamic, size as u64, BLOCK), true).unwrap();
    d.write(0, data).unwrap();
    d.into_io()
}

fn write_op(writes: Vec<(u64, Vec<u8>)>) -> Op {
    Box::new(move |io| {
        let mut d = open(io, true)?;
        for (s, data) in &writes {
            d.write(*s, data)?;
        }
        d.flush()
    })
}

fn apply_model(model: &mut [u8], writes: &[(u64, Vec<u8>)]) {
    for (s, data) in writes {
        model[*s as usize * 512..][..data.len()].copy_from_slice(data);
    }
}

#[test]
fn dynamic_block_allocation() {
    let first = filled(MIB, 1);
    let base = dynamic_with(8 * MIB, &first);
    let mut old = vec![0u8; 8 * MIB];
    old[..MIB].copy_from_slice(&first);
    // Crosses from block 1 into block 2: two allocations.
    let writes = vec![(2 * BS - scaled(100, 4), filled(sectors(300, 12), 2))];
    let mut new = old.clone();
    apply_model(&mut new, &writes);
    run(Scenario {
        name: "dynamic allocation",
        base,
        parent: None,
        old: Some(old),
        new,
        op: write_op(writes),
    });
}

#[test]
fn dynamic_write_into_allocated_block() {
    let first = filled(MIB, 1);
    let base = dynamic_with(4 * MIB, &first);
    let mut old = vec![0u8; 4 * MIB];
    old[..MIB].copy_from_slice(&first);
    let writes = vec![
        (scaled(50, 2), filled(sectors(100, 8), 3)),
        (scaled(3000, 40), filled(512, 4)),
    ];
    let mut new = old.clone();
    apply_model(&mut new, &writes);
    run(Scenario {
        name: "dynamic allocated",
        base,
        parent: None,
        old: Some(old),
        new,
        op: write_op(writes),
    });
}

/// A written 4 MiB parent, a snapshot of it, and the parent's content.
fn parent_and_child() -> (VecIo, VecIo, Vec<u8>) {
    parent_and_child_of(4 * MIB, 7)
}

/// A parent of `size` bytes written with pattern `g`, a snapshot of it, and the
/// parent's content.
fn parent_and_child_of(size: usize, g: u8) -> (VecIo, VecIo, Vec<u8>) {
    let pdata = filled(size, g);
    let mut p = open(dynamic_with(size, &pdata), false).unwrap();
    let child = new_snapshot_with(&mut p, "p.vhd", BLOCK);
    (p.into_io(), child, pdata)
}

#[test]
fn differencing_partial_block_writes() {
    let (pio, child, pdata) = parent_and_child();
    // An allocation (partial bitmap), then a write into the allocated block that sets
    // more bits, then one across the block boundary.
    let writes = vec![
        (scaled(100, 4), filled(sectors(10, 3), 5)),
        (scaled(200, 10), filled(sectors(5, 2), 6)),
        (BS - 6, filled(12 * 512, 8)),
    ];
    let mut new = pdata.clone();
    apply_model(&mut new, &writes);
    run(Scenario {
        name: "differencing partial",
        base: child,
        parent: Some(pio),
        old: Some(pdata),
        new,
        op: write_op(writes),
    });
}

#[test]
fn differencing_write_that_fills_a_block_sets_the_batmap() {
    let (pio, child, pdata) = parent_and_child();
    let mut c = open(child, true).unwrap();
    let head = filled(sectors(100, 4), 9);
    c.write(0, &head).unwrap();
    assert_eq!(c.batmap().unwrap().1[0], 0, "block 0 not full yet");
    let base = c.into_io();
    let mut old = pdata.clone();
    old[..head.len()].copy_from_slice(&head);
    let h = (head.len() / 512) as u64;
    let writes = vec![(h, filled((BS - h) as usize * 512, 10))];
    let mut new = old.clone();
    apply_model(&mut new, &writes);
    let mut probe = FaultIo::new(base.clone(), Fault::None);
    write_op(writes.clone())(&mut probe).unwrap();
    let after = open(probe.inner, false).unwrap();
    assert_eq!(
        after.batmap().unwrap().1[0],
        0x80,
        "the write sets the batmap bit"
    );
    run(Scenario {
        name: "batmap",
        base,
        parent: Some(pio),
        old: Some(old),
        new,
        op: write_op(writes),
    });
}

fn create_op(kind: DiskType, size: u64, parent: Option<uuid::Uuid>) -> Op {
    Box::new(move |io| {
        let mut scratch = [0u8; 4096];
        create(
            io,
            &CreateParams {
                kind,
                size,
                block_size: BLOCK,
                uuid: uuid(0x33),
                timestamp: 1000,
                parent: parent.map(|uuid| Parent {
                    uuid,
                    timestamp: 5,
                    name: "p.vhd",
                    relative_path: "./p.vhd",
                }),
            },
            &mut scratch,
        )
    })
}

#[test]
fn create_dynamic_fixed_and_snapshot() {
    for (kind, size) in [(DiskType::Dynamic, 10 * MIB + 512), (DiskType::Fixed, MIB)] {
        run(Scenario {
            name: "create",
            base: VecIo::default(),
            parent: None,
            old: None,
            new: vec![0; size],
            op: create_op(kind, size as u64, None),
        });
    }
    let (pio, _, pdata) = parent_and_child();
    let puuid = open(pio.clone(), false).unwrap().footer().uuid;
    run(Scenario {
        name: "snapshot",
        base: VecIo::default(),
        parent: Some(pio),
        old: None,
        new: pdata,
        op: create_op(DiskType::Differencing, 4 * MIB as u64, Some(puuid)),
    });
}

#[test]
fn grow_in_place() {
    let data = filled(3 * MIB, 11);
    let base = dynamic_with(4 * MIB, &data);
    let mut old = vec![0u8; 4 * MIB];
    old[..data.len()].copy_from_slice(&data);
    let mut new = old.clone();
    // Zeros appended by a copy: `resize` writes them one by one, slow under Miri.
    new.extend_from_slice(&vec![0; 100 * MIB + 512 * 3 - new.len()]);
    let size = new.len() as u64;
    run(Scenario {
        name: "grow",
        base,
        parent: None,
        old: Some(old),
        new,
        op: Box::new(move |io| {
            let mut d = open(io, true)?;
            vhd_nostd::resize::grow(&mut d, size)
        }),
    });
}

/// Coalesce of a child that took `writes` into a parent of `size` bytes holding its
/// first MiB (pattern `g`), staging through a buffer of `buf` bytes.
fn coalesce_scenario(
    name: &'static str,
    size: usize,
    g: u8,
    writes: Vec<(u64, Vec<u8>)>,
    buf: usize,
) {
    let pdata = filled(MIB, g);
    let pio = dynamic_with(size, &pdata);
    let mut old = vec![0u8; size];
    old[..MIB].copy_from_slice(&pdata);
    let mut p = open(pio.clone(), false).unwrap();
    let mut c = open(new_snapshot_with(&mut p, "p.vhd", BLOCK), true).unwrap();
    for (s, d) in &writes {
        c.write(*s, d).unwrap();
    }
    let child = c.into_io();
    let mut new = old.clone();
    apply_model(&mut new, &writes);
    run(Scenario {
        name,
        base: pio,
        parent: None,
        old: Some(old),
        new,
        op: Box::new(move |io| {
            let mut parent = open(io, true)?;
            // coalesce takes both disks over the same I/O type.
            let mut cf = FaultIo::new(child.clone(), Fault::None);
            let mut c = open(&mut cf, false).unwrap();
            let mut staging = vec![0u8; buf];
            vhd_nostd::coalesce::coalesce(&mut c, &mut parent, &mut staging)
        }),
    });
}

#[test]
fn coalesce_into_parent() {
    // The parent holds block 0 only; the child writes part of block 0 and block 1.
    let writes = vec![
        (scaled(10, 2), filled(sectors(20, 3), 13)),
        (scaled(5000, 70), filled(sectors(600, 10), 14)),
    ];
    coalesce_scenario("coalesce", 4 * MIB, 12, writes, sectors(128, 16));
}

#[test]
fn allocation_whose_data_ends_in_a_vhd_footer() {
    // A guest that stores VHD files: the last sector of the block it writes is a valid
    // footer. Until the new end footer is durable, the data must not be able to become
    // the file's last sector, or a crash would let guest data decide what the image is.
    let base = dynamic_with(8 * MIB, &filled(MIB, 1));
    let mut old = vec![0u8; 8 * MIB];
    old[..MIB].copy_from_slice(&filled(MIB, 1));
    let guest = new_image(DiskType::Fixed, 64 << 10, 0);
    let mut data = filled(BLOCK as usize, 15);
    let n = data.len();
    data[n - 512..].copy_from_slice(&guest.data[guest.data.len() - 512..]);
    let writes = vec![(BS, data)];
    let mut new = old.clone();
    apply_model(&mut new, &writes);
    run(Scenario {
        name: "guest footer",
        base,
        parent: None,
        old: Some(old),
        new,
        op: write_op(writes),
    });
}

#[test]
fn fill_from_the_parent() {
    let (pio, child, pdata) = parent_and_child();
    let mut c = open(child, true).unwrap();
    let at = scaled(5000, 70) as usize;
    c.write(at as u64, &filled(10 * 512, 16)).unwrap();
    let base = c.into_io();
    let mut old = pdata.clone();
    old[at * 512..(at + 10) * 512].copy_from_slice(&filled(10 * 512, 16));
    let new = old.clone();
    run(Scenario {
        name: "fill",
        base,
        parent: Some(pio.clone()),
        old: Some(old),
        new,
        op: Box::new(move |io| {
            let top = open(io, true)?;
            let mut pf = FaultIo::new(pio.clone(), Fault::None);
            let parent = open(&mut pf, false).unwrap();
            let mut chain = [top, parent];
            let mut buf = vec![0u8; MIB];
            vhd_nostd::fill::fill(&mut chain, &mut buf)
        }),
    });
}

#[test]
fn hidden_flag_and_reparent() {
    let (pio, child, pdata) = parent_and_child();
    run(Scenario {
        name: "set_hidden",
        base: child.clone(),
        parent: Some(pio.clone()),
        old: Some(pdata.clone()),
        new: pdata.clone(),
        op: Box::new(|io| open(io, true)?.set_hidden(1)),
    });
    run(Scenario {
        name: "set_parent",
        base: child,
        parent: Some(pio),
        old: Some(pdata.clone()),
        new: pdata,
        op: Box::new(|io| {
            let np = vhd_nostd::parent::NewParent {
                uuid: uuid(0x77),
                timestamp: 3,
                name: "q.vhd",
                relative_path: "../q.vhd",
            };
            open(io, true)?.set_parent(&np, &mut [0u8; 4096])
        }),
    });
}

/// blktap3's `modify -z`: every block freed, the footer moved back, the file cut.
#[test]
fn kill_data_frees_every_block() {
    let data = filled(3 * MIB, 9);
    let mut old = vec![0u8; 4 * MIB];
    old[..3 * MIB].copy_from_slice(&data);
    run(Scenario {
        name: "kill_data dynamic",
        base: dynamic_with(4 * MIB, &data),
        parent: None,
        old: Some(old),
        new: vec![0u8; 4 * MIB],
        op: Box::new(|io| open(io, true)?.kill_data()),
    });
    let (pio, child, pdata) = parent_and_child();
    let mut c = open(child, true).unwrap();
    let (at, len) = (scaled(100, 4), sectors(5000, 70));
    c.write(at, &filled(len, 4)).unwrap();
    let mut old = pdata.clone();
    old[at as usize * 512..][..len].copy_from_slice(&filled(len, 4));
    run(Scenario {
        name: "kill_data differencing",
        base: c.into_io(),
        parent: Some(pio),
        old: Some(old),
        new: pdata,
        op: Box::new(|io| open(io, true)?.kill_data()),
    });
}

#[test]
fn recovery_itself_interrupted() {
    // An image that needs both repairs a read-write open makes: the end footer from
    // the copy, and the batmap rebuilt after a torn update.
    let (pio, child, pdata) = parent_and_child();
    let mut c = open(child, true).unwrap();
    c.write(0, &filled(2 * MIB, 17)).unwrap();
    let mut io = c.into_io();
    let d = open(io.clone(), false).unwrap();
    let moff = d.batmap().unwrap().0.batmap_offset as usize;
    drop(d);
    io.data[moff] = 0; // the map sector landed without its header: checksum mismatch
    let n = io.data.len();
    io.data[n - 512..].fill(0xc7);
    let d = open(io.clone(), false).unwrap();
    assert_eq!(
        d.recovered(),
        vhd_nostd::Recovered::BACKUP_FOOTER | vhd_nostd::Recovered::BATMAP_INVALID
    );
    let mut content = pdata;
    content[..2 * MIB].copy_from_slice(&filled(2 * MIB, 17));
    run(Scenario {
        name: "recovery",
        base: io,
        parent: Some(pio),
        old: Some(content.clone()),
        new: content,
        op: Box::new(|io| open(io, true).map(drop)),
    });
}

// ---- writes that build several blocks at once (one footer move, one BAT write) ----

#[test]
fn dynamic_write_that_builds_three_blocks_at_once() {
    let first = filled(MIB, 1);
    let base = dynamic_with(8 * MIB, &first);
    let mut old = vec![0u8; 8 * MIB];
    old[..MIB].copy_from_slice(&first);
    // From allocated block 0 through blocks 1 and 2 into part of block 3.
    let at = BS - scaled(96, 2);
    let end = 3 * BS + scaled(100, 2);
    let writes = vec![(at, filled((end - at) as usize * 512, 21))];
    let mut new = old.clone();
    apply_model(&mut new, &writes);
    let mut probe = FaultIo::new(base.clone(), Fault::None);
    write_op(writes.clone())(&mut probe).unwrap();
    let bat_writes = probe
        .log
        .iter()
        .filter(|e| matches!(e, Event::Write(off, d) if *off == 1536 && d.len() == 512))
        .count();
    assert_eq!(bat_writes, 1, "three blocks linked by one BAT write");
    let after = open(probe.inner, false).unwrap();
    assert_eq!(after.batmap().unwrap().1[0], 0xF0, "blocks 0-3 full");
    run(Scenario {
        name: "dynamic group allocation",
        base,
        parent: None,
        old: Some(old),
        new,
        op: write_op(writes),
    });
}

#[test]
fn differencing_write_that_builds_two_blocks_at_once() {
    let (pio, child, pdata) = parent_and_child_of(6 * MIB, 22);
    // All of block 1 and the start of block 2: only block 1 is full.
    let writes = vec![(BS, filled(BLOCK as usize + sectors(300, 5), 23))];
    let mut new = pdata.clone();
    apply_model(&mut new, &writes);
    let mut probe = FaultIo::new(child.clone(), Fault::None);
    write_op(writes.clone())(&mut probe).unwrap();
    let after = open(probe.inner, false).unwrap();
    assert_eq!(after.batmap().unwrap().1[0], 0x40, "only block 1 is full");
    run(Scenario {
        name: "differencing group allocation",
        base: child,
        parent: Some(pio),
        old: Some(pdata),
        new,
        op: write_op(writes),
    });
}

#[test]
fn coalesce_that_builds_blocks_in_groups() {
    // The parent holds block 0; the child holds all of block 1 and part of block 2,
    // which reach the parent in one write.
    let writes = vec![(BS, filled(BLOCK as usize + sectors(700, 11), 25))];
    coalesce_scenario("coalesce in groups", 6 * MIB, 24, writes, 4 * MIB);
}

/// blktap3's `fill -b`: blocks allocated without data (full bitmaps over sectors past
/// the old end, which read as zeros); the content never changes, and a block already
/// allocated keeps its data.
#[test]
fn preallocate_without_data() {
    let data = filled(2 * MIB + 4096, 6);
    let mut content = vec![0u8; 8 * MIB];
    content[..data.len()].copy_from_slice(&data);
    run(Scenario {
        name: "preallocate dynamic",
        base: dynamic_with(8 * MIB, &data),
        parent: None,
        old: Some(content.clone()),
        new: content,
        op: Box::new(|io| {
            let mut d = open(io, true)?;
            let built = d.preallocate(0, u32::MAX)?;
            // Blocks 0 and 1 held data already; 2 and 3 are new.
            assert!(built == 2 || d.bat().allocated().count() == 4);
            Ok(())
        }),
    });
}
