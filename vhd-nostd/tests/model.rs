//! Model-based property test: random sequences of create, write, read, snapshot,
//! reopen, grow and coalesce on a chain of in-memory images, with every read compared
//! to a plain `Vec<u8>` model of the virtual disk, and every image passing `check` at
//! the end.

use proptest::prelude::*;
use vhd_nostd::check::{check, work_size, CheckOptions};
use vhd_nostd::create::{create, CreateParams};
use vhd_nostd::{read_chain, DiskType, Error};
use vhd_testkit::*;

#[derive(Debug, Clone)]
enum Step {
    /// Write `len` sectors of generation `g` at `at` (taken modulo the size).
    Write { at: u32, len: u16, g: u8 },
    /// Read `len` sectors at `at` and compare.
    Read { at: u32, len: u16 },
    /// A new differencing disk on top, with blocks of 2^`bs_log` bytes.
    Snapshot { bs_log: u8 },
    /// Close every image and open it again.
    Reopen,
    /// Grow the top disk by `extra` sectors.
    Grow { extra: u16 },
    /// Merge the top disk into its parent and drop it from the chain.
    Coalesce,
}

/// Under Miri (`make miri`), which interprets every byte, the disks, blocks, writes and
/// runs are smaller; the steps and the checks are the same.
const MAX_LEN: u16 = scaled(700, 40) as u16;
const MAX_SECTORS: u32 = scaled(12_000, 300) as u32;
const MAX_BS_LOG: u8 = scaled(21, 13) as u8;
const CASES: u32 = scaled(256, 6) as u32;
const MAX_STEPS: usize = scaled(40, 10) as usize;
const MAX_GROW: u16 = scaled(5000, 200) as u16;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (any::<u32>(), 1u16..=MAX_LEN, any::<u8>()).prop_map(|(at, len, g)| Step::Write { at, len, g }),
        3 => (any::<u32>(), 1u16..=MAX_LEN).prop_map(|(at, len)| Step::Read { at, len }),
        1 => (9u8..=MAX_BS_LOG).prop_map(|bs_log| Step::Snapshot { bs_log }),
        1 => Just(Step::Reopen),
        1 => (1u16..=MAX_GROW).prop_map(|extra| Step::Grow { extra }),
        1 => Just(Step::Coalesce),
    ]
}

/// A growth that moves blocks, as `vhd-util resize` runs it: journal, grow, commit.
fn grow_moving(d: &mut VDisk<VecIo>, new: u64) {
    use vhd_nostd::{journal, resize};
    let (mut j, mut scratch) = (VecIo::default(), vec![0u8; 4096]);
    let mut h = journal::create(&mut j, d, &mut scratch).unwrap();
    let p = resize::plan(d, new).unwrap();
    assert!(p.relocates);
    resize::reserve(d, vec![0; p.bat_bytes], vec![0; p.batmap_bytes]).unwrap();
    let mut copy = vec![0u8; p.copy_bytes];
    resize::grow_journaled(d, new, &mut j, &mut h, &mut copy, |_| {}).unwrap();
    journal::commit(&mut j, &mut h, true).unwrap();
    d.unpoison().unwrap();
}

/// Zeros appended to the model by a copy (`resize` writes them one by one, slow under
/// Miri).
fn grow_model(model: &mut Vec<u8>, new: u64) {
    model.extend_from_slice(&vec![0; new as usize - model.len()]);
}

struct World {
    chain: Vec<VDisk<VecIo>>,
    model: Vec<u8>,
    next_uuid: u8,
}

impl World {
    fn new(fixed: bool, sectors: u32, bs_log: u8) -> World {
        let mut io = VecIo::default();
        create(
            &mut io,
            &CreateParams {
                kind: if fixed {
                    DiskType::Fixed
                } else {
                    DiskType::Dynamic
                },
                size: u64::from(sectors) * 512,
                block_size: 1 << bs_log,
                uuid: uuid(1),
                timestamp: 1,
                parent: None,
            },
            &mut [0u8; 4096],
        )
        .unwrap();
        World {
            chain: vec![open(io, true).unwrap()],
            model: vec![0; sectors as usize * 512],
            next_uuid: 2,
        }
    }

    fn sectors(&self) -> u64 {
        (self.model.len() / 512) as u64
    }

    fn read(&mut self, at: u64, len: u64) -> Vec<u8> {
        let mut buf = vec![0u8; len as usize * 512];
        read_chain(&mut self.chain, at, &mut buf).unwrap();
        buf
    }

    fn apply(&mut self, s: &Step) {
        let n = self.sectors();
        match *s {
            Step::Write { at, len, g } => {
                let at = u64::from(at) % n;
                let len = u64::from(len).min(n - at);
                let mut data = vec![0u8; len as usize * 512];
                pattern(at, g, &mut data);
                self.chain[0].write(at, &data).unwrap();
                self.model[at as usize * 512..][..data.len()].copy_from_slice(&data);
            }
            Step::Read { at, len } => {
                let at = u64::from(at) % n;
                let len = u64::from(len).min(n - at);
                let got = self.read(at, len);
                let want = &self.model[at as usize * 512..][..got.len()];
                assert!(got == want, "read {len} sectors at {at}");
            }
            Step::Snapshot { bs_log } => {
                if self.chain.len() >= 4 {
                    return;
                }
                let top = &self.chain[0];
                let io = Child {
                    size: top.size(),
                    block_size: 1 << bs_log,
                    uuid: uuid(self.next_uuid),
                    timestamp: 2,
                    parent_uuid: top.footer().uuid,
                    parent_timestamp: 1,
                    parent_path: "./parent.vhd",
                }
                .image();
                self.next_uuid += 1;
                self.chain.insert(0, open(io, true).unwrap());
            }
            Step::Reopen => {
                let old = std::mem::take(&mut self.chain);
                for d in old {
                    let d = open(d.into_io(), true).unwrap();
                    assert!(d.recovered().is_empty(), "clean after a clean close");
                    self.chain.push(d);
                }
            }
            Step::Grow { extra } => {
                let new = (n + u64::from(extra)) * 512;
                match vhd_nostd::resize::grow(&mut self.chain[0], new) {
                    Ok(()) => grow_model(&mut self.model, new),
                    // The BAT needs more sectors: blocks move, under a journal.
                    Err(Error::NoSpace) => {
                        grow_moving(&mut self.chain[0], new);
                        grow_model(&mut self.model, new);
                    }
                    Err(Error::WrongDiskType) => {}
                    Err(e) => panic!("grow: {e:?}"),
                }
                assert_eq!(self.chain[0].size(), self.model.len() as u64);
            }
            Step::Coalesce => {
                if self.chain.len() < 2 {
                    return;
                }
                let (top, rest) = self.chain.split_at_mut(1);
                let mut buf = vec![0u8; 256 << 10];
                match vhd_nostd::coalesce::coalesce(&mut top[0], &mut rest[0], &mut buf) {
                    Ok(()) => {
                        // A child larger than its parent merges when it holds nothing past
                        // the parent's end; the parent keeps its own size.
                        let keep = rest[0].size() as usize;
                        if keep < self.model.len() {
                            assert!(self.model[keep..].iter().all(|&b| b == 0));
                            self.model.truncate(keep);
                        }
                        self.chain.remove(0);
                    }
                    // A child holding data past its parent's end cannot be merged into it.
                    Err(Error::ParentMismatch) => {
                        assert!(rest[0].size() < top[0].size());
                    }
                    Err(e) => panic!("coalesce: {e:?}"),
                }
            }
        }
    }

    fn finish(mut self) {
        let n = self.sectors();
        let all = self.read(0, n);
        assert!(all == self.model, "whole disk");
        let mut work = vec![0u8; work_size(1 << 16)];
        for d in self.chain {
            let mut io = d.into_io();
            let r = check(
                &mut io,
                &CheckOptions {
                    ignore_primary: false,
                    now: 2_000_000_000,
                },
                &mut work,
            );
            assert!(r.is_ok(), "check: {:?}", r.err().map(|p| p.message));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        max_shrink_iters: 2000,
        // Miri's isolation has no file system for the regressions file.
        failure_persistence: if MIRI { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn chain_matches_model(
        fixed in prop::bool::weighted(0.2),
        sectors in prop_oneof![1u32..=64, 1u32..=MAX_SECTORS],
        bs_log in 9u8..=MAX_BS_LOG,
        steps in prop::collection::vec(step(), 1..MAX_STEPS),
    ) {
        let mut w = World::new(fixed, sectors, bs_log);
        for s in &steps {
            w.apply(s);
        }
        w.finish();
    }
}

#[test]
fn sizes_off_the_block_grid_with_every_block_size() {
    // Under Miri: the smallest and a middle block size, sizes around 64 sectors.
    let (logs, sizes): (&[u8], &[u32]) = if MIRI {
        (&[9, 15], &[1, 7, 63, 65])
    } else {
        (
            &[9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21],
            &[1, 7, 4095, 4097, 8191],
        )
    };
    for &bs_log in logs {
        for &sectors in sizes {
            let mut w = World::new(false, sectors, bs_log);
            for s in [
                Step::Write {
                    at: 0,
                    len: MAX_LEN,
                    g: 1,
                },
                Step::Write {
                    at: sectors.saturating_sub(3),
                    len: 3,
                    g: 2,
                },
                Step::Snapshot {
                    bs_log: if MIRI { 24 - bs_log } else { 30 - bs_log },
                },
                Step::Write {
                    at: sectors / 2,
                    len: MAX_LEN - MAX_LEN / 7,
                    g: 3,
                },
                Step::Reopen,
                Step::Read {
                    at: 0,
                    len: MAX_LEN,
                },
                Step::Coalesce,
            ] {
                w.apply(&s);
            }
            w.finish();
        }
    }
}
