//! vhd-util check's messages on clean and damaged images.

use vhd_nostd::check::{check, work_size, CheckOptions, Detail};
use vhd_nostd::footer::DiskType;
use vhd_testkit::*;

fn run(io: &mut VecIo) -> Result<DiskType, String> {
    let mut work = vec![0u8; work_size(4096)];
    let opts = CheckOptions {
        ignore_primary: false,
        now: 2_000_000_000,
    };
    check(io, &opts, &mut work).map(|c| c.kind).map_err(|p| {
        let mut s = p.message.to_string();
        if let Detail::Errno(e) = p.detail {
            s += &format!(": {e}");
        }
        s
    })
}

#[test]
fn clean_images_pass() {
    let mut fixed = new_image(DiskType::Fixed, 1 << 20, 0);
    assert_eq!(run(&mut fixed), Ok(DiskType::Fixed));
    let mut dynamic = new_image(DiskType::Dynamic, 7 << 20, 2 << 20);
    assert_eq!(run(&mut dynamic), Ok(DiskType::Dynamic));
    let mut d = open(dynamic, true).unwrap();
    d.write(0, &vec![1u8; 3 << 20]).unwrap();
    let mut io = d.into_io();
    assert_eq!(run(&mut io), Ok(DiskType::Dynamic));
    let mut parent = open(io, false).unwrap();
    let mut snap = new_snapshot(&mut parent, "p.vhd");
    assert_eq!(run(&mut snap), Ok(DiskType::Differencing));
}

#[test]
fn damaged_images_name_the_problem() {
    let base = new_image(DiskType::Dynamic, 7 << 20, 2 << 20);
    let mut io = base.clone();
    let n = io.data.len();
    io.data[n - 400] ^= 1;
    assert_eq!(
        run(&mut io),
        Err("primary footer invalid: invalid checksum".into())
    );

    let mut io = base.clone();
    reseal_footers(&mut io, true, |f| f.hidden = 2);
    assert_eq!(
        run(&mut io),
        Err("primary footer invalid: invalid 'hidden' state".into())
    );

    let mut io = base.clone();
    io.data[100] ^= 1;
    assert_eq!(
        run(&mut io),
        Err("backup footer invalid: invalid checksum".into())
    );

    let mut io = base.clone();
    io.data[512 + 100] ^= 1;
    assert_eq!(
        run(&mut io),
        Err("header is invalid: invalid checksum".into())
    );

    // A BAT entry pointing into the headers.
    let mut io = base.clone();
    io.data[1536..1540].copy_from_slice(&2u32.to_be_bytes());
    assert_eq!(
        run(&mut io),
        Err("block 0 (offset 0x2) clobbers headers".into())
    );

    // Two entries sharing a block: the reference walks the BAT in block order and
    // names the first block at fault, then the first block it collides with.
    let mut d = open(base.clone(), true).unwrap();
    d.write(0, &[1u8; 512]).unwrap();
    let mut io = d.into_io();
    let e0: [u8; 4] = io.data[1536..1540].try_into().unwrap();
    io.data[1540..1544].copy_from_slice(&e0);
    assert_eq!(
        run(&mut io),
        Err("block 0 (offset 0x7) clobbers block 1 (offset 0x7)".into())
    );

    // A batmap bit for an unallocated block (checksum kept right).
    let mut io = base.clone();
    io.data[2560] = 0x80;
    let mut hdr = vhd_nostd::batmap::BatmapHeader::parse(&io.data[2048..2560]).unwrap();
    hdr.checksum = hdr.compute_checksum(&io.data[2560..3072]);
    io.data[2048..2560].copy_from_slice(&hdr.to_bytes());
    assert_eq!(
        run(&mut io),
        Err("batmap shows unallocated block 0 full".into())
    );
    io.data[2560] = 0xC0;
    assert_eq!(run(&mut io), Err("error reading batmap: -22".into()));
}
