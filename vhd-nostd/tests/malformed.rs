//! Hostile and damaged images, one test per case of the reference material's
//! malformed-cases.md that concerns the core (`case_NN_*`). Each image is made by damaging
//! a freshly created one in memory (checksums resealed where the case needs a structure
//! that still parses), and the test names the typed error or the documented recovery. A
//! panic fails. Case 25 (I/O failure mid-allocation or mid-snapshot) is in
//! tests/powercut.rs.

use std::io::ErrorKind;
use vhd_nostd::bat::UNUSED;
use vhd_nostd::create::{create, CreateParams, Parent};
use vhd_nostd::locator::{self, ParentLocator};
use vhd_nostd::{
    probe, read_chain, Buffers, Disk, DiskType, Error, FormatError, Io, OpenOptions, Recovered,
    Structure,
};
use vhd_testkit::*;

type E = Error<ErrorKind>;

// Sizes. The cases are written for dynamic and differencing disks of 2 MiB blocks and a
// 1 MiB fixed disk; under Miri (`make miri`), which interprets every byte, the blocks are
// 32 KiB and the fixed disk 64 KiB. Sector numbers are given in blocks (`SPB`) or for both
// sizes (`scaled(full, miri)`), chosen so that each case touches the same blocks and
// crosses the same boundaries at either size.

/// Block size of the dynamic and differencing disks, in bytes.
const BLOCK: usize = scaled(2 << 20, 32 << 10) as usize;
const BLOCK_SIZE: u32 = BLOCK as u32;
/// Sectors per block.
const SPB: u64 = BLOCK as u64 / 512;
/// The dynamic disk's size: four blocks.
const DYN: u64 = 4 * BLOCK as u64;
/// The fixed disk's size.
const FIXED: u64 = scaled(MIB, 64 << 10);
/// The first of the sectors `dynamic()` writes inside block 2 (not on a boundary).
const IN_BLOCK_2: u64 = 2 * SPB + scaled(100, 5);

fn fmt(e: FormatError) -> E {
    Error::Format(e)
}

fn invalid(structure: Structure, field: &'static str) -> E {
    Error::Format(FormatError::InvalidField { structure, field })
}

/// Opens with generous buffers of fixed size, without asking `probe` first.
fn open_big<I: Io>(io: I, writable: bool) -> Result<Disk<I, Vec<u8>>, Error<I::Error>> {
    Disk::open(
        io,
        Buffers {
            bat: vec![0; 1 << 16],
            batmap: vec![0; 1 << 13],
            bitmap: vec![0; 1 << 13],
        },
        OpenOptions {
            writable,
            ..Default::default()
        },
    )
}

/// The image is refused with `want` by probe, a read-only and a read-write open, and the
/// read-write attempt leaves the file unchanged.
fn rejects(io: &VecIo, want: E) {
    let mut c = io.clone();
    // probe only sizes buffers (and must never size them from an unchecked field); where
    // it already sees the problem it names the same one.
    if let Err(e) = probe(&mut c) {
        assert_eq!(e, want, "probe");
    }
    assert_eq!(open_big(&mut c, false).unwrap_err(), want, "read-only open");
    assert_eq!(open_big(&mut c, true).unwrap_err(), want, "read-write open");
    assert!(c.data == io.data, "a refused open wrote to the file");
}

/// A new differencing disk of `size` bytes and `block_size` blocks (UUID `uuid(id)`)
/// whose parent is `p`, named `name` beside it.
fn child_of<I: Io>(p: &Disk<I, Vec<u8>>, size: u64, block_size: u32, id: u8, name: &str) -> VecIo {
    Child {
        size,
        block_size,
        uuid: uuid(id),
        timestamp: 0,
        parent_uuid: p.footer().uuid,
        parent_timestamp: 0,
        parent_path: &format!("./{name}"),
    }
    .image()
}

/// A dynamic disk of four blocks (`DYN`) with block 0 written whole and a run inside
/// block 2, and its content.
fn dynamic() -> (VecIo, Vec<u8>) {
    let io = new_image(DiskType::Dynamic, DYN, BLOCK_SIZE);
    let mut d = open(io, true).unwrap();
    let mut model = vec![0u8; DYN as usize];
    let mut a = vec![0u8; BLOCK];
    pattern(0, 1, &mut a);
    d.write(0, &a).unwrap();
    model[..a.len()].copy_from_slice(&a);
    let run = &mut a[..scaled(64, 8) as usize * 512];
    pattern(9, 2, run);
    d.write(IN_BLOCK_2, run).unwrap();
    model[IN_BLOCK_2 as usize * 512..][..run.len()].copy_from_slice(run);
    (d.into_io(), model)
}

/// A fixed disk (`FIXED`) with a pattern, and its content.
fn fixed() -> (VecIo, Vec<u8>) {
    let mut io = new_image(DiskType::Fixed, FIXED, 0);
    let mut model = vec![0u8; FIXED as usize];
    pattern(3, 3, &mut model);
    io.data[..FIXED as usize].copy_from_slice(&model);
    (io, model)
}

/// A parent (two blocks, written) and a fresh snapshot of it named `base.vhd`.
fn parent_and_child() -> (VecIo, VecIo, Vec<u8>) {
    parent_of_blocks_and_child(2, 5)
}

/// A parent of `blocks` blocks written whole with pattern generation `g`, a fresh
/// snapshot of it named `base.vhd` (blocks of the same size), and the parent's content.
fn parent_of_blocks_and_child(blocks: usize, g: u8) -> (VecIo, VecIo, Vec<u8>) {
    let io = new_image(DiskType::Dynamic, (blocks * BLOCK) as u64, BLOCK_SIZE);
    let mut p = open(io, true).unwrap();
    let mut model = vec![0u8; blocks * BLOCK];
    pattern(u64::from(g), g, &mut model);
    p.write(0, &model).unwrap();
    let child = new_snapshot_with(&mut p, "base.vhd", BLOCK_SIZE);
    (p.into_io(), child, model)
}

fn read_all<I: Io>(d: &mut Disk<I, Vec<u8>>) -> Vec<u8> {
    let mut v = vec![0u8; d.size() as usize];
    d.read(0, &mut v).unwrap();
    v
}

// ---------------------------------------------------------------------------------------

#[test]
fn case_01_short_or_empty_file() {
    for len in [0usize, 1, 100, 511] {
        let io = VecIo {
            data: vec![0xAA; len],
        };
        rejects(
            &io,
            fmt(FormatError::Truncated {
                structure: Structure::Image,
            }),
        );
    }
    // A real footer cut by one byte, alone.
    let (io, _) = fixed();
    let n = io.data.len();
    let cut = VecIo {
        data: io.data[n - 512..n - 1].to_vec(),
    };
    rejects(
        &cut,
        fmt(FormatError::Truncated {
            structure: Structure::Image,
        }),
    );
}

#[test]
fn case_02_size_not_whole_sectors() {
    // Fixed: trailing bytes hide the footer, and there is no copy to fall back to.
    let (mut io, _) = fixed();
    io.data.extend_from_slice(&[0; 100]);
    rejects(
        &io,
        fmt(FormatError::BadCookie {
            structure: Structure::Footer,
        }),
    );
    // Dynamic, cut inside the BAT: the copy at 0 is found, the metadata reads past EOF.
    let (io, _) = dynamic();
    let cut = VecIo {
        data: io.data[..1800].to_vec(),
    };
    rejects(&cut, invalid(Structure::Footer, "data_offset"));
    // Dynamic, cut inside block 2: that block's reads fail, the others still read.
    let (io, model) = dynamic();
    let start = open(io.clone(), false).unwrap().bat().get(2).unwrap() as usize * 512;
    let cut = VecIo {
        data: io.data[..start + scaled(100_007, 10_007) as usize].to_vec(),
    };
    let mut d = open(cut.clone(), false).unwrap();
    assert_eq!(d.recovered(), Recovered::BACKUP_FOOTER);
    let mut buf = vec![0u8; BLOCK];
    assert_eq!(
        d.read(2 * SPB, &mut buf),
        Err(invalid(Structure::Bat, "entry"))
    );
    d.read(0, &mut buf).unwrap();
    assert!(buf[..] == model[..buf.len()]);
    d.read(SPB, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    // Read-write: the block past the end is refused, and so is building after it.
    let mut d = open(cut, true).unwrap();
    assert_eq!(
        d.write(2 * SPB, &[1; 512]),
        Err(invalid(Structure::Bat, "entry"))
    );
    assert_eq!(
        d.write(SPB, &[1; 512]),
        Err(invalid(Structure::Image, "end of data"))
    );
    d.read(0, &mut buf).unwrap();
    assert!(buf[..] == model[..buf.len()]);
}

#[test]
fn case_03_no_conectix_cookie() {
    let (mut io, _) = dynamic();
    reseal_footers(&mut io, true, |f| f.cookie = *b"conectiy");
    rejects(
        &io,
        fmt(FormatError::BadCookie {
            structure: Structure::Footer,
        }),
    );
    let (mut io, _) = fixed();
    reseal_footers(&mut io, false, |f| f.cookie = *b"CONECTIX");
    rejects(
        &io,
        fmt(FormatError::BadCookie {
            structure: Structure::Footer,
        }),
    );
}

#[test]
fn case_04_bad_checksum_everywhere() {
    let (mut io, _) = dynamic();
    let n = io.data.len();
    io.data[n - 512 + 200] ^= 0x10;
    io.data[200] ^= 0x10;
    let f = vhd_nostd::Footer::decode(&io.data[n - 512..]).unwrap();
    rejects(
        &io,
        fmt(FormatError::BadChecksum {
            structure: Structure::Footer,
            stored: f.checksum,
            computed: f.compute_checksum(),
        }),
    );
    let (mut io, _) = fixed();
    let n = io.data.len();
    io.data[n - 1] = 1;
    assert!(matches!(
        probe(&mut io),
        Err(Error::Format(FormatError::BadChecksum {
            structure: Structure::Footer,
            ..
        }))
    ));
}

#[test]
fn case_05_end_footer_damaged_copy_intact() {
    for damage in [
        |b: &mut [u8]| b[100] ^= 1,       // checksum no longer matches
        |b: &mut [u8]| b.fill(0xc7),      // tapdisk's killed footer
        |b: &mut [u8]| b[..8].fill(b'x'), // cookie gone
    ] {
        let (mut io, model) = dynamic();
        let n = io.data.len();
        damage(&mut io.data[n - 512..]);
        let orig = io.data.clone();
        // Read-only: works, says so, writes nothing.
        let mut d = open(&mut io, false).unwrap();
        assert_eq!(d.recovered(), Recovered::BACKUP_FOOTER);
        assert!(read_all(&mut d) == model);
        drop(d);
        assert!(io.data == orig);
        // Strict: only the end footer counts.
        let strict = Disk::<_, Vec<u8>>::open(
            &mut io,
            Buffers {
                bat: vec![0; 512],
                batmap: vec![0; 1024],
                bitmap: vec![0; 512],
            },
            OpenOptions {
                strict: true,
                ..Default::default()
            },
        );
        assert!(matches!(strict, Err(Error::Format(_))));
        // Read-write: the end footer is rewritten from the copy.
        let mut d = open(&mut io, true).unwrap();
        assert_eq!(
            d.recovered(),
            Recovered::BACKUP_FOOTER | Recovered::PRIMARY_FOOTER_REWRITTEN
        );
        assert!(read_all(&mut d) == model);
        drop(d);
        assert_eq!(io.data[n - 512..], io.data[..512]);
        let mut d = open(&mut io, false).unwrap();
        assert!(d.recovered().is_empty());
        assert!(read_all(&mut d) == model);
        assert_eq!(check_msg(&mut io), Ok(()));
    }
}

#[test]
fn case_06_unknown_disk_type() {
    for t in [0u32, 1, 5, 6, u32::MAX] {
        let (mut io, _) = dynamic();
        reseal_footers(&mut io, true, |f| f.disk_type = t);
        rejects(&io, invalid(Structure::Footer, "type"));
        let (mut io, _) = fixed();
        reseal_footers(&mut io, false, |f| f.disk_type = t);
        rejects(&io, invalid(Structure::Footer, "type"));
    }
}

#[test]
fn case_07_fixed_file_shorter_than_size() {
    let (mut io, _) = fixed();
    reseal_footers(&mut io, false, |f| f.curr_size = 2 * FIXED);
    rejects(&io, invalid(Structure::Footer, "curr_size"));
    // The data cut by a sector, the footer kept.
    let (io, _) = fixed();
    let n = io.data.len();
    let mut cut = io.data[..n - 1024].to_vec();
    cut.extend_from_slice(&io.data[n - 512..]);
    rejects(
        &VecIo { data: cut },
        invalid(Structure::Footer, "curr_size"),
    );
}

#[test]
fn case_08_current_size_zero_unaligned_or_huge() {
    // Unaligned.
    let (mut io, _) = dynamic();
    reseal_footers(&mut io, true, |f| f.curr_size = DYN - 100);
    rejects(&io, invalid(Structure::Footer, "curr_size"));
    let (mut io, _) = fixed();
    reseal_footers(&mut io, false, |f| f.curr_size = 1000);
    rejects(&io, invalid(Structure::Footer, "curr_size"));
    // Beyond what the BAT (dynamic) or the file (fixed) can hold, and near u64::MAX.
    for size in [3 << 40, !511u64] {
        let (mut io, _) = dynamic();
        reseal_footers(&mut io, true, |f| f.curr_size = size);
        rejects(&io, invalid(Structure::Header, "max_bat_size"));
        let (mut io, _) = fixed();
        reseal_footers(&mut io, false, |f| f.curr_size = size);
        rejects(&io, invalid(Structure::Footer, "curr_size"));
    }
    // Zero: the format does not forbid it; such a disk opens and has no sector to read.
    let (mut io, _) = dynamic();
    reseal_footers(&mut io, true, |f| f.curr_size = 0);
    let mut d = open(io, true).unwrap();
    assert_eq!(d.sectors(), 0);
    assert_eq!(d.read(0, &mut [0; 512]), Err(Error::OutOfRange));
    assert_eq!(d.write(0, &[0; 512]), Err(Error::OutOfRange));
    d.read(0, &mut []).unwrap();
    let io = new_image(DiskType::Dynamic, 0, BLOCK_SIZE);
    let mut d = open(io, false).unwrap();
    assert_eq!(d.read(0, &mut [0; 512]), Err(Error::OutOfRange));
}

#[test]
fn case_09_data_offset_out_of_place() {
    let (io, _) = dynamic();
    let n = io.data.len() as u64;
    for off in [n, n - 512, n - 1024 + 512, u64::MAX - 511, 1 << 40] {
        let mut io = io.clone();
        reseal_footers(&mut io, true, |f| f.data_offset = off);
        rejects(&io, invalid(Structure::Footer, "data_offset"));
    }
    for off in [513u64, 1000] {
        let mut io = io.clone();
        reseal_footers(&mut io, true, |f| f.data_offset = off);
        rejects(&io, invalid(Structure::Footer, "data_offset"));
    }
}

#[test]
fn case_10_header_cookie_or_checksum() {
    let (mut io, _) = dynamic();
    reseal_header(&mut io, |h| h.cookie = *b"cxsparsf");
    rejects(
        &io,
        fmt(FormatError::BadCookie {
            structure: Structure::Header,
        }),
    );
    let (mut io, _) = dynamic();
    io.data[512 + 900] ^= 4;
    let h = header_of(&io);
    rejects(
        &io,
        fmt(FormatError::BadChecksum {
            structure: Structure::Header,
            stored: h.checksum,
            computed: h.compute_checksum(),
        }),
    );
}

#[test]
fn case_11_block_size() {
    for bs in [
        0u32,
        1,
        256,
        511,
        3 << 20,
        (2 << 20) + 512,
        1 << 29,
        1 << 31,
    ] {
        let (mut io, _) = dynamic();
        reseal_header(&mut io, |h| h.block_size = bs);
        rejects(&io, invalid(Structure::Header, "block_size"));
    }
}

#[test]
fn case_12_max_table_entries_too_few() {
    for entries in [0u32, 3] {
        let (mut io, _) = dynamic();
        reseal_header(&mut io, |h| h.max_bat_size = entries);
        rejects(&io, invalid(Structure::Header, "max_bat_size"));
    }
}

#[test]
fn case_13_bat_overflows_or_runs_past_eof() {
    for entries in [u32::MAX, u32::MAX / 4, 1 << 22] {
        let (mut io, _) = dynamic();
        reseal_header(&mut io, |h| h.max_bat_size = entries);
        // Refused before any buffer size is derived from the entry count.
        rejects(&io, invalid(Structure::Header, "table_offset"));
    }
    let (mut io, _) = dynamic();
    let n = io.data.len() as u64;
    reseal_header(&mut io, |h| h.table_offset = n - 512);
    rejects(&io, invalid(Structure::Header, "table_offset"));
}

#[test]
fn case_14_table_offset_out_of_place() {
    let (io, _) = dynamic();
    let n = io.data.len() as u64;
    for off in [0u64, 512, 1024, 1537, n, u64::MAX - 100, !511u64] {
        let mut io = io.clone();
        reseal_header(&mut io, |h| h.table_offset = off);
        rejects(&io, invalid(Structure::Header, "table_offset"));
    }
}

#[test]
fn case_15_bat_entry_out_of_place() {
    let (io, model) = dynamic();
    let n = io.data.len() as u64;
    let footer_sec = (n - 512) / 512;
    // Past EOF, into the header, into the BAT, block running into the footer, max.
    for entry in [
        footer_sec + 100,
        1,
        3,
        footer_sec - SPB,
        u64::from(UNUSED - 1),
    ] {
        let mut io = io.clone();
        io.data[1536 + 8..1536 + 12].copy_from_slice(&(entry as u32).to_be_bytes());
        let mut d = open(io.clone(), false).unwrap();
        let mut buf = vec![0u8; 512];
        assert_eq!(
            d.read(IN_BLOCK_2, &mut buf),
            Err(invalid(Structure::Bat, "entry")),
            "entry {entry:#x}"
        );
        // The other blocks still read.
        let mut b0 = vec![0u8; BLOCK];
        d.read(0, &mut b0).unwrap();
        assert!(b0[..] == model[..BLOCK]);
        d.read(SPB, &mut buf).unwrap();
        let mut d = open(io.clone(), true).unwrap();
        assert_eq!(
            d.write(2 * SPB, &[7; 512]),
            Err(invalid(Structure::Bat, "entry"))
        );
        let msg = check_msg(&mut io).unwrap_err();
        assert!(msg.contains("clobbers"), "{msg}");
    }
}

#[test]
fn case_16_overlapping_blocks() {
    let (mut io, model) = dynamic();
    // Block 1 aliases block 0.
    let e0: [u8; 4] = io.data[1536..1540].try_into().unwrap();
    io.data[1540..1544].copy_from_slice(&e0);
    // Named as the reference walks the BAT: block 0 first, then what it collides with.
    let msg = check_msg(&mut io).unwrap_err();
    assert_eq!(msg, "block 0 (offset 0x7) clobbers block 1 (offset 0x7)");
    // Blocks the engine allocates go past every existing block: writing a new block
    // (3) never touches blocks 0, 1 and 2.
    let mut d = open(io, true).unwrap();
    let mut a = vec![0u8; BLOCK];
    pattern(1, 8, &mut a);
    d.write(3 * SPB, &a).unwrap();
    let mut all = read_all(&mut d);
    assert!(all[..BLOCK] == model[..BLOCK]);
    assert!(
        all[BLOCK..2 * BLOCK] == model[..BLOCK],
        "alias reads block 0"
    );
    assert!(all[2 * BLOCK..3 * BLOCK] == model[2 * BLOCK..3 * BLOCK]);
    assert!(all[3 * BLOCK..] == a[..]);
    all.clear();
}

fn locator_path(io: &VecIo, i: usize) -> Result<String, E> {
    let mut d = open(io.clone(), false).unwrap();
    let mut scratch = vec![0u8; 16 << 10];
    let mut out = vec![0u8; 16 << 10];
    d.parent_locator_path(i, &mut scratch, &mut out)
        .map(str::to_owned)
}

#[test]
fn case_17_locator_out_of_bounds() {
    let (_, child, _) = parent_and_child();
    let loc_err = |f: &'static str| invalid(Structure::ParentLocator, f);
    // Payload beyond EOF.
    let mut io = child.clone();
    reseal_header(&mut io, |h| h.loc[0].data_offset = 1 << 40);
    assert_eq!(locator_path(&io, 0), Err(loc_err("data_offset")));
    assert_eq!(locator_path(&io, 1).unwrap(), "./base.vhd");
    assert_eq!(locator_path(&io, 2).unwrap(), "./base.vhd");
    assert!(check_msg(&mut io)
        .unwrap_err()
        .contains("invalid parent locator 0"));
    // Offset near u64::MAX: no overflow.
    let mut io = child.clone();
    reseal_header(&mut io, |h| h.loc[1].data_offset = !511u64);
    assert_eq!(locator_path(&io, 1), Err(loc_err("data_offset")));
    assert_eq!(locator_path(&io, 0).unwrap(), "./base.vhd");
    // Length beyond the space.
    let mut io = child.clone();
    reseal_header(&mut io, |h| h.loc[1].data_len = 513);
    assert_eq!(locator_path(&io, 1), Err(loc_err("data_len")));
    assert_eq!(locator_path(&io, 2).unwrap(), "./base.vhd");
    assert!(check_msg(&mut io)
        .unwrap_err()
        .contains("invalid parent locator 1: invalid data length"));
    // A huge data space: only data_len bytes are read, bounded by the file.
    let mut io = child.clone();
    reseal_header(&mut io, |h| h.loc[2].data_space = 0xFFFF_FE00);
    assert_eq!(locator_path(&io, 2).unwrap(), "./base.vhd");
    assert!(check_msg(&mut io)
        .unwrap_err()
        .contains("invalid parent locator 2: invalid size"));
    // Huge length and space together: refused before reading.
    let mut io = child;
    reseal_header(&mut io, |h| {
        h.loc[0].data_space = 0xFFFF_FE00;
        h.loc[0].data_len = 0xFFFF_FE00;
    });
    assert_eq!(locator_path(&io, 0), Err(loc_err("data_len")));
    // And the disk still opens and reads.
    let mut d = open(io, false).unwrap();
    assert_eq!(d.read(0, &mut [0; 512]), Err(Error::MissingParent));
    // A locator whose space reaches into a data block: the block stays readable and
    // writable (the locator is not taken for metadata).
    let (pio, child, model) = parent_and_child();
    let mut c = open(child, true).unwrap();
    c.write(0, &[4; 1024]).unwrap();
    let at = u64::from(c.bat().get(0).unwrap()) * 512;
    let mut io = c.into_io();
    reseal_header(&mut io, |h| {
        h.loc[0].data_offset = at + 4096;
        h.loc[0].data_space = scaled(1 << 20, 16 << 10) as u32;
    });
    assert!(locator_path(&io, 0).is_err(), "block data is no path");
    let mut want = model;
    want[..1024].fill(4);
    want[1024..2048].fill(5);
    let mut c = open(io, true).unwrap();
    c.write(2, &[5; 1024]).unwrap();
    let mut chain = [c, open(pio, false).unwrap()];
    let mut all = vec![0u8; 2 * BLOCK];
    read_chain(&mut chain, 0, &mut all).unwrap();
    assert!(all == want);
}

#[test]
fn case_18_parent_name_malformed() {
    let (_, child, _) = parent_and_child();
    let mut out = [0u8; 2048];
    let name_err = fmt(FormatError::InvalidField {
        structure: Structure::ParentName,
        field: "prt_name",
    });
    // A lone high surrogate, then a lone low one.
    for bad in [[0xD8u8, 0x01, 0, 0x41], [0xDC, 0x01, 0, 0x41]] {
        let mut io = child.clone();
        reseal_header(&mut io, |h| {
            h.prt_name = [0; 512];
            h.prt_name[..4].copy_from_slice(&bad);
        });
        let h = header_of(&io);
        assert_eq!(
            h.parent_name(&mut out).map_err(Error::Format),
            Err(name_err)
        );
        // The disk still opens; check names the problem.
        open(io.clone(), false).unwrap();
        assert_eq!(
            check_msg(&mut io),
            Err("differencing header is invalid: invalid parent name".into())
        );
    }
    // No terminator: 256 code units fill the field.
    let mut io = child.clone();
    reseal_header(&mut io, |h| {
        for u in h.prt_name.chunks_mut(2) {
            u.copy_from_slice(&[0, b'a']);
        }
    });
    let h = header_of(&io);
    assert_eq!(
        h.parent_name(&mut out).map_err(Error::Format),
        Err(name_err)
    );
    // Longer than the output: an error, not a cut name.
    let h = header_of(&child);
    assert_eq!(
        h.parent_name(&mut out[..4]).map_err(Error::Format),
        Err(name_err)
    );
    // A name longer than the field is refused at create.
    let long = "n".repeat(300);
    let mut io = VecIo::default();
    let r = create(
        &mut io,
        &CreateParams {
            kind: DiskType::Differencing,
            size: 4 * MIB,
            block_size: 2 << 20,
            uuid: uuid(3),
            timestamp: 0,
            parent: Some(Parent {
                uuid: uuid(1),
                timestamp: 0,
                name: &long,
                relative_path: "./x.vhd",
            }),
        },
        &mut [0u8; 4096],
    );
    assert_eq!(r, Err(Error::InvalidArgument("parent name")));
    let mut h = header_of(&child);
    assert!(
        h.set_parent_name(&"n".repeat(256)).is_err(),
        "no room for a NUL"
    );
    h.set_parent_name(&"n".repeat(255)).unwrap();
}

#[test]
fn case_19_locator_path_too_long_or_with_nul() {
    let (_, child, _) = parent_and_child();
    let data_err = invalid(Structure::ParentLocator, "data");
    let mut long = b"file://".to_vec();
    long.resize(7 + locator::PATH_MAX + 1, b'a');
    let mut io = child.clone();
    put_locator(&mut io, 3, locator::PLAT_CODE_MACX, &long);
    assert_eq!(locator_path(&io, 3), Err(data_err));
    // Exactly PATH_MAX is still a path.
    let mut io = child.clone();
    put_locator(
        &mut io,
        3,
        locator::PLAT_CODE_MACX,
        &long[..7 + locator::PATH_MAX],
    );
    assert_eq!(locator_path(&io, 3).unwrap().len(), locator::PATH_MAX);
    // A payload longer than two PATH_MAX is refused before it is read.
    let mut io = child.clone();
    let huge = vec![b'a'; 2 * locator::PATH_MAX + 2];
    put_locator(&mut io, 3, locator::PLAT_CODE_W2KU, &huge);
    assert_eq!(
        locator_path(&io, 3),
        Err(invalid(Structure::ParentLocator, "data_len"))
    );
    let mut io = child.clone();
    put_locator(
        &mut io,
        3,
        locator::PLAT_CODE_W2KU,
        &utf16le(&"\u{e9}".repeat(locator::PATH_MAX / 2 + 1)),
    );
    assert_eq!(locator_path(&io, 3), Err(data_err));
    // Embedded NUL, UTF-8 and UTF-16.
    let mut io = child.clone();
    put_locator(&mut io, 3, locator::PLAT_CODE_MACX, b"file://./a\0b.vhd");
    assert_eq!(locator_path(&io, 3), Err(data_err));
    let mut io = child.clone();
    put_locator(&mut io, 3, locator::PLAT_CODE_W2RU, &utf16le(".\\a\0b.vhd"));
    assert_eq!(locator_path(&io, 3), Err(data_err));
    // Trailing NULs are padding.
    let mut io = child;
    put_locator(
        &mut io,
        3,
        locator::PLAT_CODE_W2RU,
        &utf16le(".\\ab.vhd\0\0"),
    );
    assert_eq!(locator_path(&io, 3).unwrap(), "./ab.vhd");
}

#[test]
fn case_20_parent_uuid_mismatch() {
    // The core's chain reads trust the chain the caller assembled; coalesce, which
    // writes into the parent, checks the link.
    let (pio, cio, _) = parent_and_child();
    let mut other = pio.clone();
    reseal_footers(&mut other, true, |f| f.uuid = uuid(0x42));
    let mut child = open(cio.clone(), false).unwrap();
    let mut parent = open(other, true).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    assert_eq!(
        vhd_nostd::coalesce::coalesce(&mut child, &mut parent, &mut buf),
        Err(Error::ParentMismatch)
    );
    let mut parent = open(pio, true).unwrap();
    assert_eq!(
        child.header().unwrap().prt_uuid,
        parent.footer().uuid,
        "the real parent matches"
    );
    vhd_nostd::coalesce::coalesce(&mut child, &mut parent, &mut buf).unwrap();
}

#[test]
fn case_21_chain_without_a_bottom() {
    // A chain is a slice: it cannot loop, and its depth is the caller's. One that ends
    // in a differencing disk is an error when a read reaches past it.
    let (pio, cio, _) = parent_and_child();
    let mut p = open(pio, true).unwrap();
    let grandchild = new_snapshot_with(&mut p, "child.vhd", BLOCK_SIZE);
    let mut chain = vec![open(grandchild, false).unwrap(), open(cio, false).unwrap()];
    assert_eq!(
        read_chain(&mut chain, 0, &mut [0; 512]),
        Err(Error::MissingParent)
    );
    let mut empty: Vec<VDisk<VecIo>> = Vec::new();
    assert_eq!(
        read_chain(&mut empty, 0, &mut [0; 512]),
        Err(Error::MissingParent)
    );
}

#[test]
fn case_22_batmap_damaged() {
    let (io, model) = dynamic();
    let good = open(io.clone(), false).unwrap();
    let (bh, map) = good.batmap().unwrap();
    assert_eq!(map[0], 0xA0, "dynamic blocks are full from allocation");
    let hoff = good.batmap_header_offset() as usize;
    let moff = bh.batmap_offset as usize;
    let n = io.data.len();
    type Damage = fn(&mut [u8], usize, usize, usize);
    let cases: [(&str, Damage, bool); 7] = [
        ("cookie", |d, h, _, _| d[h] = b'T', false),
        ("checksum", |d, _, m, _| d[m + 1] = 0x01, true),
        (
            "map beyond EOF",
            |d, h, _, n| d[h + 8..h + 16].copy_from_slice(&(n as u64).to_be_bytes()),
            false,
        ),
        (
            "map inside block 2",
            |d, h, _, _| {
                let at = u64::from(u32::from_be_bytes(d[1544..1548].try_into().unwrap())) * 512;
                d[h + 8..h + 16].copy_from_slice(&(at + 4096).to_be_bytes())
            },
            false,
        ),
        (
            "map unaligned",
            |d, h, m, _| d[h + 8..h + 16].copy_from_slice(&(m as u64 + 1).to_be_bytes()),
            false,
        ),
        (
            "size zero",
            |d, h, _, _| d[h + 16..h + 20].copy_from_slice(&0u32.to_be_bytes()),
            false,
        ),
        (
            "size huge",
            |d, h, _, _| d[h + 16..h + 20].copy_from_slice(&u32::MAX.to_be_bytes()),
            false,
        ),
    ];
    for (what, damage, rebuilt) in cases {
        let mut io = io.clone();
        damage(&mut io.data, hoff, moff, n);
        assert!(check_msg(&mut io).is_err(), "{what}: check reports it");
        let mut d = open(io.clone(), false).unwrap();
        assert_eq!(d.recovered(), Recovered::BATMAP_INVALID, "{what}");
        assert!(d.batmap().is_none());
        assert!(read_all(&mut d) == model, "{what}: data still readable");
        // Read-write: rebuilt when the header is intact, else left ignored; writes work.
        let mut d = open(io, true).unwrap();
        assert_eq!(
            d.recovered().contains(Recovered::BATMAP_INVALID),
            !rebuilt,
            "{what}"
        );
        let mut a = vec![0u8; BLOCK];
        pattern(4, 4, &mut a);
        d.write(3 * SPB, &a).unwrap();
        let mut want = model.clone();
        want[3 * BLOCK..].copy_from_slice(&a);
        let mut io = d.into_io();
        let mut d = open(&mut io, false).unwrap();
        assert!(read_all(&mut d) == want, "{what}");
        if rebuilt {
            assert!(d.recovered().is_empty());
            assert_eq!(d.batmap().unwrap().1[0], 0xB0, "blocks 0, 2 and 3 full");
            drop(d);
            assert_eq!(check_msg(&mut io), Ok(()));
        }
    }
}

/// Found by the open_read fuzz target: a map larger than the BAT needs is valid (libvhd
/// refuses only a smaller one), and check read it whole into a buffer sized for the BAT.
#[test]
fn case_22_batmap_larger_than_the_bat_needs() {
    let (mut io, model) = dynamic();
    let good = open(io.clone(), false).unwrap();
    let (bh, _) = good.batmap().unwrap();
    let (hoff, moff) = (
        good.batmap_header_offset() as usize,
        bh.batmap_offset as usize,
    );
    assert_eq!(bh.batmap_size, 1);
    drop(good);
    // A second, zero sector joins the map: the checksum (a byte sum) stays right.
    let extra = moff + 512..moff + 1024;
    let first_block = u32::from_be_bytes(io.data[1536..1540].try_into().unwrap()) as usize * 512;
    assert!(extra.end <= first_block && io.data[extra].iter().all(|&b| b == 0));
    io.data[hoff + 16..hoff + 20].copy_from_slice(&2u32.to_be_bytes());
    assert_eq!(check_msg(&mut io), Ok(()), "a larger map is valid");
    // Buffers from probe have room for it: it is used.
    let mut d = open(io.clone(), false).unwrap();
    assert!(d.recovered().is_empty() && d.batmap().is_some());
    assert!(read_all(&mut d) == model);
    // A buffer sized for the BAT's bits alone: the map is ignored, the bitmaps answer,
    // and writes work without it.
    let l = probe(&mut io.clone()).unwrap();
    let bufs = Buffers {
        bat: vec![0; l.bat_bytes],
        batmap: vec![0; 512],
        bitmap: vec![0; l.bitmap_bytes],
    };
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut d = Disk::open(io, bufs, opts).unwrap();
    assert_eq!(d.recovered(), Recovered::BATMAP_INVALID);
    assert!(read_all(&mut d) == model);
    let mut a = vec![0u8; BLOCK];
    pattern(5, 5, &mut a);
    d.write(3 * SPB, &a).unwrap();
    let mut want = model;
    want[3 * BLOCK..].copy_from_slice(&a);
    let mut io = d.into_io();
    assert!(read_all(&mut open(io.clone(), false).unwrap()) == want);
    assert_eq!(check_msg(&mut io), Ok(()));
}

#[test]
fn case_23_unknown_major_version() {
    let (mut io, _) = dynamic();
    reseal_header(&mut io, |h| h.hdr_ver = 0x0002_0000);
    rejects(
        &io,
        fmt(FormatError::Unsupported {
            structure: Structure::Header,
            field: "hdr_ver",
        }),
    );
    for v in [0x0002_0000u32, 0, 0xFFFF_0000] {
        let (mut io, _) = dynamic();
        reseal_footers(&mut io, true, |f| f.ff_version = v);
        rejects(
            &io,
            fmt(FormatError::Unsupported {
                structure: Structure::Footer,
                field: "ff_version",
            }),
        );
    }
    // A new minor footer version is fine (libvhd's open does not look at it); a header
    // version other than 1.0 is refused by open as by check (libvhd: -EINVAL).
    let (mut io, model) = dynamic();
    reseal_footers(&mut io, true, |f| f.ff_version = 0x0001_0005);
    assert!(read_all(&mut open(io.clone(), false).unwrap()) == model);
    reseal_header(&mut io, |h| h.hdr_ver = 0x0001_0007);
    rejects(&io, invalid(Structure::Header, "hdr_ver"));
}

/// Opens `io` read-only through probe and reads every sector, failing read number `k`.
fn open_and_read_failing(io: &VecIo, k: usize) -> (Result<(), E>, FaultIo) {
    let mut fio = FaultIo::new(io.clone(), Fault::FailRead(k));
    let r = (|| {
        let mut d = open(&mut fio, false)?;
        let mut v = vec![0u8; d.size() as usize];
        d.read(0, &mut v)
    })();
    (r, fio)
}

#[test]
fn case_24_io_errors_propagate_and_write_nothing() {
    let (dio, _) = dynamic();
    let (fio, _) = fixed();
    for io in [dio, fio] {
        let (ok, counted) = open_and_read_failing(&io, usize::MAX);
        ok.unwrap();
        let total = counted.reads;
        assert!(total >= 3);
        for k in 0..total {
            let (r, f) = open_and_read_failing(&io, k);
            assert_eq!(r, Err(Error::Io(ErrorKind::Other)), "read {k}");
            assert_eq!(f.writes, 0, "read {k}: nothing written");
            assert!(f.inner.data == io.data);
        }
    }
    // A short file under a read: the I/O's own error, propagated.
    let (io, _) = dynamic();
    let mut d = open(io, false).unwrap();
    d.io().data.truncate(5000);
    assert_eq!(
        d.read(scaled(100, 10), &mut [0; 512]),
        Err(Error::Io(ErrorKind::UnexpectedEof))
    );
    // A failed bitmap read during a write into an allocated differencing block: the
    // error comes back and the sectors still read from the parent.
    let (pio, cio, model) = parent_and_child();
    let mut c = open(cio, true).unwrap();
    c.write(10, &[9; 512]).unwrap();
    let cio = c.into_io();
    let reads_before_write = {
        let mut f = FaultIo::new(cio.clone(), Fault::None);
        let mut d = open(&mut f, true).unwrap();
        let before = d.io().reads;
        d.write(20, &[8; 512]).unwrap();
        (before, d.io().reads)
    };
    assert!(
        reads_before_write.1 > reads_before_write.0,
        "the write reads the bitmap"
    );
    let mut f = FaultIo::new(cio, Fault::FailRead(reads_before_write.0));
    let mut d = open(&mut f, true).unwrap();
    assert_eq!(d.write(20, &[8; 512]), Err(Error::Io(ErrorKind::Other)));
    drop(d);
    let mut chain = [open(f.inner, false).unwrap(), open(pio, false).unwrap()];
    let mut all = vec![0u8; 2 * BLOCK];
    read_chain(&mut chain, 0, &mut all).unwrap();
    let mut want = model;
    want[10 * 512..11 * 512].fill(9);
    assert!(all == want);
}

#[test]
fn case_26_not_a_vhd() {
    let mut mbr = vec![0u8; 512];
    mbr[446] = 0x80;
    mbr[450] = 0x83;
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    let mut disk = mbr.clone();
    disk.resize(FIXED as usize, 0);
    let bad = fmt(FormatError::BadCookie {
        structure: Structure::Footer,
    });
    for data in [
        mbr,
        disk,
        vec![0; FIXED as usize],
        vec![0xFF; FIXED as usize],
    ] {
        rejects(&VecIo { data }, bad);
    }
}

#[test]
fn case_27_out_of_range() {
    let (io, _) = dynamic();
    let mut d = open(io, true).unwrap();
    let s = d.sectors();
    let mut b = [0u8; 1024];
    for (sector, len) in [
        (s, 512),
        (s - 1, 1024),
        (u64::MAX, 512),
        (u64::MAX - 1, 1024),
        (1 << 55, 512),
    ] {
        assert_eq!(d.read(sector, &mut b[..len]), Err(Error::OutOfRange));
        assert_eq!(d.write(sector, &b[..len]), Err(Error::OutOfRange));
    }
    assert_eq!(d.map_sectors(s, 1), Err(Error::OutOfRange));
    assert_eq!(d.map_sectors(0, 0), Err(Error::OutOfRange));
    assert_eq!(d.read(0, &mut b[..100]), Err(Error::Unaligned));
    assert_eq!(d.write(0, &b[..513]), Err(Error::Unaligned));
    let (io, _) = fixed();
    let mut d = open(io, true).unwrap();
    assert_eq!(d.read(u64::MAX, &mut b[..512]), Err(Error::OutOfRange));
    assert_eq!(d.write(FIXED / 512, &b[..512]), Err(Error::OutOfRange));
}

#[test]
fn case_28_child_block_size_differs_from_parent() {
    let (pio, _, mut model) = parent_and_child();
    let mut p = open(pio, false).unwrap();
    let io = child_of(&p, p.size(), BLOCK_SIZE / 4, 7, "base.vhd");
    let mut c = open(io, true).unwrap();
    let mut b = vec![0u8; scaled(3000, 47) as usize * 512];
    pattern(11, 9, &mut b);
    c.write(scaled(1000, 15), &b).unwrap();
    model[scaled(1000, 15) as usize * 512..][..b.len()].copy_from_slice(&b);
    let mut all = vec![0u8; 2 * BLOCK];
    let c = open(c.into_io(), false).unwrap();
    p.read(0, &mut all[..512]).unwrap();
    let mut chain = [c, p];
    read_chain(&mut chain, 0, &mut all).unwrap();
    assert!(all == model);
}

#[test]
fn case_29_fixed_disk_holding_vhd_metadata_at_offset_0() {
    let (mut io, _) = fixed();
    let inner = new_image(DiskType::Dynamic, 100 * MIB, 2 << 20);
    assert_eq!(inner.data.len(), 3584);
    io.data[..3584].copy_from_slice(&inner.data);
    let model = io.data[..FIXED as usize].to_vec();
    let mut d = open(io.clone(), true).unwrap();
    assert_eq!(d.disk_type(), Some(DiskType::Fixed));
    assert_eq!(d.size(), FIXED);
    assert!(d.recovered().is_empty());
    assert!(read_all(&mut d) == model);
    d.write(8, &[1; 512]).unwrap();
    let out = d.into_io();
    assert_eq!(out.data.len(), io.data.len(), "nothing appended");
    assert_eq!(
        out.data[..4096],
        model[..4096],
        "offset 0 untouched but sector 8"
    );
}

#[test]
fn case_30_footers_differ() {
    let (io, model) = dynamic();
    let mut bad = io.clone();
    let mut copy = vhd_nostd::Footer::parse(&bad.data[..512]).unwrap();
    copy.uuid = uuid(0x55);
    copy.curr_size = 2 * MIB;
    copy.geometry = vhd_nostd::geometry::chs(2 * MIB).encode();
    copy.seal();
    bad.data[..512].copy_from_slice(&copy.to_bytes());
    assert_eq!(
        check_msg(&mut bad),
        Err("primary and backup footers do not match".into())
    );
    let mut d = open(bad.clone(), false).unwrap();
    assert_eq!(d.footer().uuid, uuid(1), "end footer is authoritative");
    assert_eq!(d.size(), DYN);
    assert!(read_all(&mut d) == model);
    let d = open(bad, true).unwrap();
    assert_eq!(d.recovered(), Recovered::BACKUP_FOOTER_REWRITTEN);
    let mut fixed = d.into_io();
    assert!(fixed.data == io.data);
    assert_eq!(check_msg(&mut fixed), Ok(()));
}

#[test]
fn case_31_size_beyond_bat() {
    let (mut io, _) = dynamic();
    reseal_footers(&mut io, true, |f| f.curr_size = DYN + 512);
    rejects(&io, invalid(Structure::Header, "max_bat_size"));
}

#[test]
fn case_32_geometry_disagrees_with_size() {
    let (mut io, model) = dynamic();
    reseal_footers(&mut io, true, |f| f.geometry = 0x0001_0101);
    let mut d = open(io.clone(), false).unwrap();
    assert_eq!(d.size(), DYN, "the size rule is curr_size");
    assert!(read_all(&mut d) == model);
    let (mut io, model) = fixed();
    reseal_footers(&mut io, false, |f| f.geometry = 0xFFFF_10FF);
    let mut d = open(io, false).unwrap();
    assert_eq!(d.size(), FIXED);
    assert!(read_all(&mut d) == model);
}

#[test]
fn case_33_data_offset_wrong_for_type() {
    for off in [0u64, 512, 1 << 20] {
        let (mut io, _) = fixed();
        reseal_footers(&mut io, false, |f| f.data_offset = off);
        rejects(&io, invalid(Structure::Footer, "data_offset"));
    }
    for off in [0u64, 256, 511, 700] {
        let (mut io, _) = dynamic();
        reseal_footers(&mut io, true, |f| f.data_offset = off);
        rejects(&io, invalid(Structure::Footer, "data_offset"));
    }
}

#[test]
fn case_34_differencing_without_parent_information() {
    let (_, mut io, _) = parent_and_child();
    reseal_header(&mut io, |h| {
        h.prt_uuid = uuid::Uuid::nil();
        h.prt_name = [0; 512];
        h.loc = [ParentLocator::default(); 8];
    });
    // The core opens it (finding the parent is the caller's); nothing reads without
    // one, and nothing names one.
    let mut d = open(io, true).unwrap();
    assert!(d.parent_is_raw());
    assert_eq!(d.read(0, &mut [0; 512]), Err(Error::MissingParent));
    let mut out = [0u8; 64];
    assert_eq!(d.header().unwrap().parent_name(&mut out).unwrap(), "");
    let mut scratch = [0u8; 512];
    for i in 0..8 {
        assert!(d.parent_locator_path(i, &mut scratch, &mut out).is_err());
    }
    assert!(d.parent_locator_path(8, &mut scratch, &mut out).is_err());
    // Writes land in the child and read back without a parent.
    d.write(0, &[3; 512]).unwrap();
    let mut b = [0u8; 512];
    d.read(0, &mut b).unwrap();
    assert_eq!(b, [3; 512]);
}

#[test]
fn case_35_locator_space_in_bytes_or_sectors() {
    let (_, child, _) = parent_and_child();
    assert_eq!(
        header_of(&child).loc[0].data_space,
        512,
        "bytes, as blktap writes"
    );
    for space in [1u32, 512, 4096, 0x10_0000] {
        let mut io = child.clone();
        reseal_header(&mut io, |h| h.loc[1].data_space = space);
        assert_eq!(locator_path(&io, 1).unwrap(), "./base.vhd", "{space}");
    }
    // Neither sectors nor a multiple of 512.
    let mut io = child;
    reseal_header(&mut io, |h| h.loc[1].data_space = 1000);
    assert_eq!(
        locator_path(&io, 1),
        Err(invalid(Structure::ParentLocator, "data_len"))
    );
}

#[test]
fn case_36_odd_locator_payloads() {
    let (_, child, _) = parent_and_child();
    let data_err = invalid(Structure::ParentLocator, "data");
    // Odd UTF-16 length.
    let mut io = child.clone();
    reseal_header(&mut io, |h| h.loc[1].data_len = 21);
    assert_eq!(locator_path(&io, 1), Err(data_err));
    // `..` is returned as written; resolving it against the child's directory is the
    // caller's (it has the file system).
    let mut io = child.clone();
    put_locator(
        &mut io,
        3,
        locator::PLAT_CODE_W2RU,
        &utf16le("..\\..\\up.vhd"),
    );
    assert_eq!(locator_path(&io, 3).unwrap(), "../../up.vhd");
    // MacX without file://.
    let mut io = child.clone();
    put_locator(&mut io, 3, locator::PLAT_CODE_MACX, b"/abs/p.vhd");
    assert_eq!(locator_path(&io, 3), Err(data_err));
    // MacX not UTF-8.
    let mut io = child.clone();
    put_locator(&mut io, 3, locator::PLAT_CODE_MACX, b"file://\xff\xfe");
    assert_eq!(locator_path(&io, 3), Err(data_err));
    // Unknown and non-path platform codes.
    // An unknown code fails the header as libvhd's `vhd_validate_header` does.
    let mut io = child.clone();
    put_locator(&mut io, 3, 0x1234_5678, b"file://x");
    rejects(&io, invalid(Structure::ParentLocator, "code"));
    let mut io = child.clone();
    put_locator(&mut io, 3, locator::PLAT_CODE_MAC, b"alias");
    assert!(matches!(
        locator_path(&io, 3),
        Err(Error::Format(FormatError::Unsupported { .. }))
    ));
    // Duplicate platform codes: each decodes on its own; check reports the duplicate.
    let mut io = child;
    put_locator(
        &mut io,
        3,
        locator::PLAT_CODE_W2RU,
        &utf16le(".\\other.vhd"),
    );
    assert_eq!(locator_path(&io, 2).unwrap(), "./base.vhd");
    assert_eq!(locator_path(&io, 3).unwrap(), "./other.vhd");
    let msg = check_msg(&mut io).unwrap_err();
    assert!(
        msg.starts_with("duplicate platform code in locator 3"),
        "{msg}"
    );
}

#[test]
fn case_37_parent_timestamp_zero() {
    let (pio, mut cio, model) = parent_and_child();
    reseal_header(&mut cio, |h| h.prt_ts = 0);
    assert_eq!(check_msg(&mut cio), Ok(()));
    let mut chain = [open(cio, false).unwrap(), open(pio, false).unwrap()];
    assert!(chain[0].recovered().is_empty());
    let mut all = vec![0u8; 2 * BLOCK];
    read_chain(&mut chain, 0, &mut all).unwrap();
    assert!(all == model);
}

#[test]
fn case_38_parent_size_or_block_size_differs() {
    // A parent smaller than the child: reads beyond it are zeros; coalesce refuses.
    let small = new_image(DiskType::Dynamic, BLOCK as u64, BLOCK_SIZE);
    let mut p = open(small, true).unwrap();
    p.write(0, &vec![6u8; BLOCK]).unwrap();
    let cio = child_of(&p, 2 * BLOCK as u64, BLOCK_SIZE, 8, "s.vhd");
    let mut c = open(cio, true).unwrap();
    // Data inside the parent (block 0) and beyond it (block 1): refused before block 0
    // is merged, so the parent is left as it was.
    let beyond = scaled(8000, 125);
    c.write(10, &[2; 512]).unwrap();
    c.write(beyond, &[1; 512]).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let before = p.io().data.clone();
    assert_eq!(
        vhd_nostd::coalesce::coalesce(&mut c, &mut p, &mut buf),
        Err(Error::ParentMismatch)
    );
    assert!(
        p.io().data == before,
        "a refused coalesce changed the parent"
    );
    let mut chain = [c, p];
    let mut all = vec![0u8; 2 * BLOCK];
    read_chain(&mut chain, 0, &mut all).unwrap();
    assert!(all[10 * 512..11 * 512].iter().all(|&b| b == 2));
    assert!(all[..10 * 512].iter().all(|&b| b == 6));
    assert!(all[11 * 512..BLOCK].iter().all(|&b| b == 6));
    assert!(all[BLOCK..beyond as usize * 512].iter().all(|&b| b == 0));
    assert!(all[beyond as usize * 512..][..512].iter().all(|&b| b == 1));
    // Different block sizes: coalesce copies by sector and is correct.
    let (pio, _, mut model) = parent_and_child();
    let mut p = open(pio, true).unwrap();
    let cio = child_of(
        &p,
        p.size(),
        scaled(64 << 10, 8 << 10) as u32,
        9,
        "base.vhd",
    );
    let mut c = open(cio, true).unwrap();
    let mut b = vec![0u8; scaled(700, 12) as usize * 512];
    pattern(2, 12, &mut b);
    c.write(scaled(4000, 60), &b).unwrap();
    model[scaled(4000, 60) as usize * 512..][..b.len()].copy_from_slice(&b);
    vhd_nostd::coalesce::coalesce(&mut c, &mut p, &mut buf).unwrap();
    assert!(read_all(&mut p) == model);
}

#[test]
fn case_39_legacy_511_byte_footer() {
    // Dynamic: found at EOF - 511, reported, and a writable open keeps working.
    let (io, model) = dynamic();
    let short = VecIo {
        data: io.data[..io.data.len() - 1].to_vec(),
    };
    let mut d = open(short.clone(), false).unwrap();
    assert_eq!(d.recovered(), Recovered::SHORT_FOOTER);
    assert!(read_all(&mut d) == model);
    let mut d = open(short, true).unwrap();
    let mut a = vec![0u8; BLOCK];
    pattern(6, 6, &mut a);
    d.write(SPB, &a).unwrap();
    let mut want = model.clone();
    want[BLOCK..2 * BLOCK].copy_from_slice(&a);
    let mut io = d.into_io();
    assert_eq!(io.data.len() % 512, 0);
    assert_eq!(check_msg(&mut io), Ok(()));
    let mut d = open(io, false).unwrap();
    assert!(d.recovered().is_empty());
    assert!(read_all(&mut d) == want);
    // Fixed: the legacy form Virtual PC wrote; the data before it is the whole disk.
    let (io, model) = fixed();
    let short = VecIo {
        data: io.data[..io.data.len() - 1].to_vec(),
    };
    let mut d = open(short, true).unwrap();
    assert_eq!(d.recovered(), Recovered::SHORT_FOOTER);
    assert_eq!(d.size(), FIXED);
    assert!(read_all(&mut d) == model);
    d.write(FIXED / 512 - 1, &[5; 512]).unwrap();
    let out = d.into_io();
    assert_eq!(
        out.data[FIXED as usize..],
        io.data[FIXED as usize..io.data.len() - 1]
    );
}

#[test]
fn case_40_saved_state() {
    let (mut io, model) = dynamic();
    reseal_footers(&mut io, true, |f| f.saved = 1);
    let mut d = open(io.clone(), false).unwrap();
    assert!(read_all(&mut d) == model);
    let mut d = open(io, true).unwrap();
    assert_eq!(
        vhd_nostd::resize::grow(&mut d, 16 * MIB),
        Err(Error::SavedState)
    );
    // Coalesce refuses to write into a parent with a saved state, or to merge a child
    // that has one.
    let (mut pio, cio, _) = parent_and_child();
    reseal_footers(&mut pio, true, |f| f.saved = 1);
    let mut c = open(cio.clone(), false).unwrap();
    let mut p = open(pio.clone(), true).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    assert_eq!(
        vhd_nostd::coalesce::coalesce(&mut c, &mut p, &mut buf),
        Err(Error::SavedState)
    );
    let (pio, mut cio, _) = parent_and_child();
    reseal_footers(&mut cio, true, |f| f.saved = 1);
    let mut c = open(cio, false).unwrap();
    let mut p = open(pio.clone(), true).unwrap();
    assert_eq!(
        vhd_nostd::coalesce::coalesce(&mut c, &mut p, &mut buf),
        Err(Error::SavedState)
    );
    assert!(p.into_io().data == pio.data, "parent untouched");
}

/// A sparse file: only the written sectors are stored.
#[derive(Default)]
struct SparseIo {
    sectors: std::collections::HashMap<u64, [u8; 512]>,
    len: u64,
    writes: usize,
}

impl Io for SparseIo {
    type Error = ErrorKind;
    fn read_at(&mut self, mut off: u64, buf: &mut [u8]) -> Result<(), ErrorKind> {
        if off
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.len)
        {
            return Err(ErrorKind::UnexpectedEof);
        }
        let mut i = 0;
        while i < buf.len() {
            let (s, o) = (off / 512, (off % 512) as usize);
            let n = (512 - o).min(buf.len() - i);
            match self.sectors.get(&s) {
                Some(sec) => buf[i..i + n].copy_from_slice(&sec[o..o + n]),
                None => buf[i..i + n].fill(0),
            }
            i += n;
            off += n as u64;
        }
        Ok(())
    }
    fn write_at(&mut self, mut off: u64, buf: &[u8]) -> Result<(), ErrorKind> {
        self.writes += 1;
        self.len = self.len.max(off + buf.len() as u64);
        let mut i = 0;
        while i < buf.len() {
            let (s, o) = (off / 512, (off % 512) as usize);
            let n = (512 - o).min(buf.len() - i);
            self.sectors.entry(s).or_insert([0; 512])[o..o + n].copy_from_slice(&buf[i..i + n]);
            i += n;
            off += n as u64;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
    fn size(&mut self) -> Result<u64, ErrorKind> {
        Ok(self.len)
    }
    fn set_size(&mut self, size: u64) -> Result<(), ErrorKind> {
        self.len = size;
        Ok(())
    }
}

#[test]
fn case_41_beyond_32_bit_sector_offsets() {
    // Refused at create.
    let mut io = VecIo::default();
    let p = CreateParams {
        kind: DiskType::Dynamic,
        size: (2040 << 30) + (2 << 20),
        block_size: 2 << 20,
        uuid: uuid(1),
        timestamp: 0,
        parent: None,
    };
    assert_eq!(
        create(&mut io, &p, &mut [0u8; 4096]),
        Err(Error::InvalidArgument("size"))
    );
    assert!(io.data.is_empty(), "nothing written");
    // At open, every entry is a 32-bit sector; a block that would start beyond 2^32
    // sectors is refused before anything is written.
    let small = new_image(DiskType::Dynamic, 50 * BLOCK as u64, BLOCK_SIZE);
    let meta = small.data.len() - 512;
    let mut s = SparseIo::default();
    s.write_at(0, &small.data[..meta]).unwrap();
    let fpos = (1u64 << 32) * 512 + 4096;
    s.write_at(fpos, &small.data[meta..]).unwrap();
    s.writes = 0;
    let mut d = open(&mut s, true).unwrap();
    assert_eq!(d.footer_position(), fpos);
    assert_eq!(d.write(0, &[1; 512]), Err(Error::NoSpace));
    let mut b = [1u8; 512];
    d.read(0, &mut b).unwrap();
    assert_eq!(b, [0; 512]);
    drop(d);
    assert_eq!(s.writes, 0);
    // Just below the limit a block still fits.
    let small = new_image(DiskType::Dynamic, 50 * BLOCK as u64, BLOCK_SIZE);
    let meta = small.data.len() - 512;
    let mut s = SparseIo::default();
    s.write_at(0, &small.data[..meta]).unwrap();
    let fpos = (1u64 << 32) * 512 - (64 << 20);
    s.write_at(fpos, &small.data[meta..]).unwrap();
    let mut d = open(&mut s, true).unwrap();
    d.write(0, &[1; 512]).unwrap();
    let sec = d.bat().get(0).unwrap();
    assert!(u64::from(sec) * 512 >= fpos);
    d.read(0, &mut b).unwrap();
    assert_eq!(b, [1; 512]);
}

#[test]
fn case_42_bitmap_bit_clear_inside_allocated_block() {
    // Dynamic: block 0 full of data; clear sectors 10..20 in its bitmap and the batmap
    // bit (checksum kept right): those sectors read as zeros, not the stale data.
    let (mut io, mut model) = dynamic();
    let d = open(io.clone(), false).unwrap();
    let bm = d.bat().get(0).unwrap() as usize * 512;
    let (bh, _) = d.batmap().unwrap();
    let (moff, hoff) = (bh.batmap_offset as usize, d.batmap_header_offset() as usize);
    drop(d);
    io.data[bm + 1] &= 0b1100_0000; // sectors 10..16 of byte 1
    io.data[bm + 2] &= 0b0000_1111; // sectors 16..20
    io.data[moff] &= 0x7F;
    let mut h = vhd_nostd::batmap::BatmapHeader::parse(&io.data[hoff..hoff + 512]).unwrap();
    h.checksum = h.compute_checksum(&io.data[moff..moff + 512]);
    io.data[hoff..hoff + 512].copy_from_slice(&h.to_bytes());
    model[10 * 512..20 * 512].fill(0);
    let mut d = open(io.clone(), false).unwrap();
    assert!(d.recovered().is_empty());
    assert!(read_all(&mut d) == model);
    assert_eq!(check_msg(&mut io), Ok(()));
    // Differencing: the same sectors read from the parent.
    let (pio, cio, model) = parent_and_child();
    let mut c = open(cio, true).unwrap();
    let mut full = vec![0u8; BLOCK];
    pattern(8, 8, &mut full);
    c.write(0, &full).unwrap();
    assert!(
        c.batmap().unwrap().1[0] & 0x80 != 0,
        "full block in the batmap"
    );
    let mut cio = c.into_io();
    let d = open(cio.clone(), false).unwrap();
    let bm = d.bat().get(0).unwrap() as usize * 512;
    let (bh, _) = d.batmap().unwrap();
    let (moff, hoff) = (bh.batmap_offset as usize, d.batmap_header_offset() as usize);
    drop(d);
    cio.data[bm + 1] &= 0b1100_0000;
    cio.data[bm + 2] &= 0b0000_1111;
    cio.data[moff] &= 0x7F;
    let mut h = vhd_nostd::batmap::BatmapHeader::parse(&cio.data[hoff..hoff + 512]).unwrap();
    h.checksum = h.compute_checksum(&cio.data[moff..moff + 512]);
    cio.data[hoff..hoff + 512].copy_from_slice(&h.to_bytes());
    let mut want = model;
    want[..10 * 512].copy_from_slice(&full[..10 * 512]);
    want[20 * 512..BLOCK].copy_from_slice(&full[20 * 512..]);
    let mut chain = [open(cio, false).unwrap(), open(pio, false).unwrap()];
    let mut all = vec![0u8; 2 * BLOCK];
    read_chain(&mut chain, 0, &mut all).unwrap();
    assert!(all == want);
}

#[test]
fn case_15_bad_entry_with_a_batmap_to_rebuild() {
    // A bad BAT entry must not stop a read-write open whose recovery rebuilds the
    // batmap: the rebuild reads every block's bitmap, and that block's is unreadable.
    let (mut io, model) = dynamic();
    let n = io.data.len() as u64;
    io.data[1536 + 4..1536 + 8].copy_from_slice(&(((n - 512) / 512 + 50) as u32).to_be_bytes());
    let d = open(io.clone(), false).unwrap();
    let moff = d.batmap().unwrap().0.batmap_offset as usize;
    drop(d);
    io.data[moff] ^= 0x01;
    let mut d = open(io, true).unwrap();
    assert!(
        !d.recovered().contains(Recovered::BATMAP_INVALID),
        "rebuilt"
    );
    let mut b = vec![0u8; BLOCK];
    d.read(0, &mut b).unwrap();
    assert!(b[..] == model[..BLOCK]);
    assert_eq!(d.read(SPB, &mut b), Err(invalid(Structure::Bat, "entry")));
    // Blocks already there stay writable; a new block is refused (where it would go
    // depends on the damaged entry).
    d.write(scaled(100, 10), &b[..512]).unwrap();
    assert_eq!(
        d.write(3 * SPB, &b),
        Err(invalid(Structure::Image, "end of data"))
    );
    let mut d = open(d.into_io(), false).unwrap();
    assert!(d.recovered().is_empty());
    d.read(2 * SPB, &mut b).unwrap();
    assert!(b[..] == model[2 * BLOCK..3 * BLOCK]);
}

// ---- issue 21: classes of hostile images beyond malformed-cases.md ---------------------

/// A parent of four blocks written whole and a fresh snapshot of it, with the parent's
/// content.
fn parent4_and_child() -> (VecIo, VecIo, Vec<u8>) {
    parent_of_blocks_and_child(4, 6)
}

/// Reads the whole child through its parent.
fn chain_read(child: &VecIo, parent: &VecIo) -> Vec<u8> {
    read_through(open(child.clone(), false).unwrap(), Some(parent))
}

/// Class 1: the sector bitmap is authoritative on reads (libvhd's read path), whatever
/// the batmap says; check reports a batmap bit over a partial bitmap; a write corrects
/// the bit from the bitmap and loses nothing.
#[test]
fn hostile_1_batmap_bit_over_partial_bitmap() {
    let (pio, cio, pmodel) = parent4_and_child();
    let mut c = open(cio, true).unwrap();
    let eight = vec![0x5Au8; 8 * 512];
    c.write(2 * SPB, &eight).unwrap();
    let start = c.bat().get(2).unwrap() as usize * 512;
    let mut cio = c.into_io();
    // Stale bytes in a clear-bitmap sector of block 2, then batmap bit 2 set.
    cio.data[start + 512 + 10 * 512..][..512].fill(0xEE);
    set_batmap_bit(&mut cio, 2, true);
    let mut want = pmodel.clone();
    want[2 * BLOCK..][..8 * 512].copy_from_slice(&eight);
    assert!(
        chain_read(&cio, &pio) == want,
        "stale child bytes were read"
    );
    assert_eq!(
        check_msg(&mut cio.clone()),
        Err("batmap shows block 2 full but its bitmap is not".into())
    );
    // A write into the block keeps the parent's sectors and clears the false bit.
    let mut c = open(cio, true).unwrap();
    c.write(2 * SPB + scaled(100, 20), &eight).unwrap();
    assert!(c.batmap().unwrap().1[0] & 0x20 == 0, "bit 2 cleared");
    want[(2 * SPB + scaled(100, 20)) as usize * 512..][..8 * 512].copy_from_slice(&eight);
    let mut cio = c.into_io();
    assert!(chain_read(&cio, &pio) == want);
    assert_eq!(check_msg(&mut cio), Ok(()));

    // Variant: the bit on an unallocated block, then one 8-sector write there: the rest
    // of the block still reads from the parent, not as zeros.
    let (pio, mut cio, pmodel) = parent4_and_child();
    set_batmap_bit(&mut cio, 3, true);
    assert_eq!(
        check_msg(&mut cio.clone()),
        Err("batmap shows unallocated block 3 full".into())
    );
    let mut c = open(cio, true).unwrap();
    c.write(3 * SPB, &eight).unwrap();
    let mut cio = c.into_io();
    let mut want = pmodel;
    want[3 * BLOCK..][..8 * 512].copy_from_slice(&eight);
    assert!(chain_read(&cio, &pio) == want, "parent data lost");
    assert_eq!(check_msg(&mut cio), Ok(()));

    // fill does not skip a block the batmap alone calls full.
    let (pio, cio, pmodel) = parent4_and_child();
    let mut c = open(cio, true).unwrap();
    c.write(2 * SPB, &eight).unwrap();
    let mut cio = c.into_io();
    set_batmap_bit(&mut cio, 2, true);
    let mut chain = [open(cio, true).unwrap(), open(pio, false).unwrap()];
    vhd_nostd::fill::fill(&mut chain, &mut vec![0u8; 1 << 20]).unwrap();
    let [c, _] = chain;
    let mut cio = c.into_io();
    assert_eq!(check_msg(&mut cio), Ok(()));
    let mut alone = open(cio, false).unwrap();
    assert_eq!(alone.batmap().unwrap().1[0], 0xF0, "every block full");
    let mut want = pmodel;
    want[2 * BLOCK..][..8 * 512].copy_from_slice(&eight);
    let mut all = vec![0u8; DYN as usize];
    // Every block is whole now: the child reads alone (a missing parent is never asked).
    for s in (0..4 * SPB).step_by(SPB as usize / 2) {
        let (src, _) = alone.map_sectors(s, SPB as u32 / 2).unwrap();
        assert!(matches!(src, vhd_nostd::Source::Data(_)), "sector {s}");
    }
    read_chain(&mut [alone], 0, &mut all).unwrap();
    assert!(all == want);
}

/// Class 3: open refuses every header field check rejects where libvhd's open does
/// (-EINVAL), through one rule table; reserved bits alone are check's business.
#[test]
fn hostile_3_open_refuses_what_check_rejects() {
    use vhd_nostd::header::FIELD_RULES;
    type Edit = fn(&mut vhd_nostd::Header);
    let edits: [(&str, Edit, Option<E>); 5] = [
        (
            "invalid header version",
            |h| h.hdr_ver = 0x0001_0001,
            Some(invalid(Structure::Header, "hdr_ver")),
        ),
        (
            "invalid data offset",
            |h| h.data_offset = 0,
            Some(invalid(Structure::Header, "data_offset")),
        ),
        (
            "invalid table offset",
            |h| h.table_offset = 1537,
            Some(invalid(Structure::Header, "table_offset")),
        ),
        (
            "invalid block size",
            |h| h.block_size = 3 << 20,
            Some(invalid(Structure::Header, "block_size")),
        ),
        ("invalid reserved bits", |h| h.res2[7] = 1, None),
    ];
    for rule in FIELD_RULES.iter() {
        assert!(
            edits.iter().any(|(m, _, _)| *m == rule.message),
            "rule {} untested",
            rule.message
        );
    }
    for (msg, edit, refused) in edits {
        let (mut io, model) = dynamic();
        reseal_header(&mut io, edit);
        assert_eq!(
            check_msg(&mut io.clone()),
            Err(format!("header is invalid: {msg}"))
        );
        match refused {
            Some(e) => rejects(&io, e),
            None => assert!(read_all(&mut open(io, false).unwrap()) == model, "{msg}"),
        }
    }
}
