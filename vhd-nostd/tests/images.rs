//! The sample images made by other tools (tests/data/images, documented in its README):
//! the core opens each, reports the documented metadata, and reads the documented raw
//! content. A missing image fails the test.

use sha2::{Digest, Sha256};
use uuid::Uuid;
use vhd_nostd::footer::{version, CREATOR_OS_WINDOWS};
use vhd_nostd::geometry::Chs;
use vhd_nostd::{
    read_chain, Disk, DiskType, Error, Footer, FormatError, Header, Kind, Source, Structure,
};
use vhd_testkit::*;

fn id(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of the first `len` bytes of the disk read through `chain`, 4 MiB at a time.
fn chain_sha256(chain: &mut [VDisk<VecIo>], len: u64) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        read_chain(chain, off / 512, &mut buf[..n]).unwrap();
        h.update(&buf[..n]);
        off += n as u64;
    }
    hex(&h.finalize())
}

fn disk_sha256(d: VDisk<VecIo>) -> String {
    let len = d.size();
    chain_sha256(&mut [d], len)
}

struct Meta {
    kind: DiskType,
    size: u64,
    app: &'static [u8; 4],
    ver: u32,
    uuid: &'static str,
    timestamp: u32,
    chs: (u16, u8, u8),
}

fn check_footer(f: &Footer, m: &Meta) {
    assert_eq!(f.kind(), Some(m.kind));
    assert_eq!(f.curr_size, m.size);
    assert_eq!(f.orig_size, m.size);
    assert_eq!(&f.crtr_app, m.app);
    assert_eq!(f.crtr_ver, m.ver);
    assert_eq!(f.crtr_os, CREATOR_OS_WINDOWS, "creator OS Wi2k");
    assert_eq!(f.uuid, id(m.uuid));
    assert_eq!(f.timestamp, m.timestamp);
    let g = Chs::decode(f.geometry);
    assert_eq!((g.cylinders, g.heads, g.sectors), m.chs);
    assert_eq!(f.saved, 0);
}

/// The footer and header of a file re-encode byte for byte, and the copy at 0 matches.
fn codec_round_trip(io: &VecIo, sparse: bool) {
    let n = io.data.len();
    let end = &io.data[n - 512..];
    assert_eq!(Footer::parse(end).unwrap().to_bytes()[..], end[..]);
    if sparse {
        assert_eq!(&io.data[..512], end, "copy at offset 0 identical");
        let off = Footer::parse(end).unwrap().data_offset as usize;
        let hb = &io.data[off..off + 1024];
        assert_eq!(Header::parse(hb).unwrap().to_bytes()[..], hb[..]);
    }
}

#[test]
fn ext2_dynamic_by_qemu() {
    let io = read_image("ext2.vhd");
    assert_eq!(io.data.len(), 2_100_224);
    codec_round_trip(&io, true);
    let d = open(io, false).unwrap();
    assert!(d.recovered().is_empty());
    assert_eq!(d.kind(), Kind::Vhd(DiskType::Dynamic));
    check_footer(
        d.footer(),
        &Meta {
            kind: DiskType::Dynamic,
            size: 4_212_736,
            app: b"qemu",
            ver: 0x0005_0003,
            uuid: "b61f53ca-a786-4528-90e2-55ba791a1c4c",
            timestamp: 680_278_055,
            chs: (121, 4, 17),
        },
    );
    let h = d.header().unwrap();
    assert_eq!(
        (h.table_offset, h.max_bat_size, h.block_size),
        (0x600, 3, 2 << 20)
    );
    assert_eq!(d.bat().get(0), Some(4));
    assert_eq!((d.bat().get(1), d.bat().get(2)), (None, None));
    assert!(d.batmap().is_none(), "qemu writes no batmap");
    assert_eq!(
        disk_sha256(d),
        "870be7ae16c1fa8faab05c6eb9205dc9a7ae35c5f552c5cf8a267c0bc6a5cb99"
    );
}

#[test]
fn header_and_footer_checksums_known_answer() {
    let io = read_image("ext2.vhd");
    let hb: [u8; 1024] = io.data[512..1536].try_into().unwrap();
    let h = Header::parse(&hb).unwrap();
    assert_eq!(
        h.checksum,
        u32::from_be_bytes(hb[36..40].try_into().unwrap())
    );
    assert_eq!(h.compute_checksum(), h.checksum);
    assert_eq!(h.to_bytes(), hb, "header re-encodes byte-identically");
    let n = io.data.len();
    let fb: [u8; 512] = io.data[n - 512..].try_into().unwrap();
    let f = Footer::parse(&fb).unwrap();
    assert_eq!(f.compute_checksum(), f.checksum);
    assert_eq!(f.to_bytes(), fb, "footer re-encodes byte-identically");
    // The documented stored/computed checksums of image.vhd's damaged footer.
    let img = read_image("image.vhd");
    let m = img.data.len();
    let bad = Footer::decode(&img.data[m - 512..]).unwrap();
    assert_eq!(
        (bad.checksum, bad.compute_checksum()),
        (0xFFFF_F683, 0xFFFF_EF25)
    );
    let ih = Header::parse(&img.data[512..1536]).unwrap();
    assert_eq!(ih.checksum, 0xFFFF_F476);
}

#[test]
fn ntfs_fixed_by_windows() {
    let io = read_image("ntfs-fixed.vhd");
    assert_eq!(io.data.len(), 4_194_816);
    codec_round_trip(&io, false);
    let d = open(io, false).unwrap();
    assert_eq!(d.kind(), Kind::Vhd(DiskType::Fixed));
    assert!(d.header().is_none());
    check_footer(
        d.footer(),
        &Meta {
            kind: DiskType::Fixed,
            size: 4_194_304,
            app: b"win ",
            ver: 0x000A_0000,
            uuid: "be061b15-28ce-014a-8fc6-ecc139a451c1",
            timestamp: 655_731_463,
            chs: (120, 4, 17),
        },
    );
    assert_eq!(d.footer().data_offset, u64::MAX);
    assert_eq!(
        disk_sha256(d),
        "cd81fade3878f1b2957f1ece168201876bdf4e90c9b30f60c2f232eba5fea76c"
    );
}

/// A 127 GiB disk with no block allocated: size right, reads of a few ranges are zeros.
fn empty_127g(name: &str, m: Meta, file_len: usize) {
    let io = read_image(name);
    assert_eq!(io.data.len(), file_len);
    codec_round_trip(&io, true);
    let mut d = open(io, false).unwrap();
    assert!(d.recovered().is_empty());
    check_footer(d.footer(), &m);
    assert_eq!(d.size(), 136_365_211_648);
    let h = d.header().unwrap();
    assert_eq!(
        (h.table_offset, h.max_bat_size, h.block_size),
        (0x600, 65_024, 2 << 20)
    );
    assert_eq!(d.bat().allocated().count(), 0);
    let last = d.sectors() - 256;
    for s in [0, 1, 4095, 4096, 1 << 24, 136_363_130_880 / 512, last] {
        let mut buf = vec![0xAAu8; 256 * 512];
        d.read(s, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0), "{name} sector {s}");
    }
    assert_eq!(d.read(d.sectors(), &mut [0; 512]), Err(Error::OutOfRange));
}

#[test]
fn virtualpc_dynamic_127g() {
    empty_127g(
        "virtualpc-dynamic.vhd",
        Meta {
            kind: DiskType::Dynamic,
            size: 136_365_211_648,
            app: b"vpc ",
            ver: 0x0001_0000,
            uuid: "33ea0013-6191-4d02-b93f-88af84296f85",
            timestamp: 509_016_516,
            chs: (65278, 16, 255),
        },
        262_656,
    );
}

#[test]
fn hyperv_dynamic_127g() {
    empty_127g(
        "hyperv2012r2-dynamic.vhd",
        Meta {
            kind: DiskType::Dynamic,
            size: 136_365_211_648,
            app: b"win ",
            ver: 0x0006_0003,
            uuid: "6d2d5fc8-eeba-de4c-8cee-de3a12db7c98",
            timestamp: 509_185_783,
            chs: (65278, 16, 255),
        },
        266_240,
    );
}

#[test]
fn d2v_zerofilled_fully_allocated() {
    let p = image_path("d2v-zerofilled.vhd.bz2");
    let out = std::process::Command::new("bzip2")
        .arg("-dc")
        .arg(&p)
        .output()
        .expect("running bzip2 -dc (install bzip2)");
    assert!(out.status.success(), "bzip2 -dc {}", p.display());
    let io = VecIo { data: out.stdout };
    assert_eq!(io.data.len(), 264_308_224);
    assert_eq!(
        hex(&Sha256::digest(&io.data)),
        "af175e3c442b659e26b91029aacf2e62f2f7cf054404446db3185aafc38e079f"
    );
    codec_round_trip(&io, true);
    let mut d = open(io, false).unwrap();
    check_footer(
        d.footer(),
        &Meta {
            kind: DiskType::Dynamic,
            size: 263_454_720,
            app: b"d2v\0",
            ver: 0x0001_0000,
            uuid: "e7b829fd-e66d-ba49-ac19-6ebdab26cea3",
            timestamp: 509_734_287,
            chs: (65535, 16, 255),
        },
    );
    let h = d.header().unwrap();
    assert_eq!((h.max_bat_size, h.block_size), (126, 2 << 20));
    assert_eq!(d.bat().allocated().count(), 126);
    assert_eq!((d.bat().get(0), d.bat().get(1)), (Some(4), Some(12295)));
    // Every sector is stored (all-ones bitmaps), including the last, cut block's.
    assert!(matches!(
        d.map_sectors(0, 4096),
        Ok((Source::Data(_), 4096))
    ));
    let last = d.sectors() - 1;
    assert!(matches!(d.map_sectors(last, 1), Ok((Source::Data(_), 1))));
    assert_eq!(
        disk_sha256(d),
        "1ba076be94a8a64541c25aae8d5a5f8b0da758c3797af597e03acb431ff8d143"
    );
}

/// image.vhd and image-differential.vhd with their checksums recomputed, as the README's
/// command (E) does.
fn resealed(name: &str) -> VecIo {
    let mut io = read_image(name);
    reseal_footers(&mut io, true, |_| {});
    reseal_header(&mut io, |_| {});
    io
}

#[test]
fn image_with_wrong_footer_checksum_is_a_typed_error() {
    let io = read_image("image.vhd");
    let err = open(io.clone(), false).unwrap_err();
    assert_eq!(
        err,
        Error::Format(FormatError::BadChecksum {
            structure: Structure::Footer,
            stored: 0xFFFF_F683,
            computed: 0xFFFF_EF25,
        })
    );
    assert_eq!(open(io, true).unwrap_err(), err, "read-write too");
    // With the checksums fixed, the content is the documented one.
    let d = open(resealed("image.vhd"), false).unwrap();
    check_footer(
        d.footer(),
        &Meta {
            kind: DiskType::Dynamic,
            size: 104_448,
            app: b"qemu",
            ver: 0x0005_0003,
            uuid: "d49c5c80-350a-4a89-898a-5ad6d10f6578",
            timestamp: 439_972_842,
            chs: (3, 4, 17),
        },
    );
    assert_eq!(d.header().unwrap().max_bat_size, 1);
    assert_eq!(d.bat().get(0), Some(4));
    assert_eq!(
        disk_sha256(d),
        "c6db12a7db548e193c29420c1b4533e4708b20c5033db5cc29ef075d48316d25"
    );
}

#[test]
fn image_differential_edited() {
    let io = read_image("image-differential.vhd");
    assert_eq!(
        open(io, false).unwrap_err(),
        Error::Format(FormatError::BadChecksum {
            structure: Structure::Footer,
            stored: 0xFFFF_F683,
            computed: 0xFFFF_EEB6,
        })
    );
    // Footer fixed, header still wrong: the header's documented checksums.
    let mut io = read_image("image-differential.vhd");
    reseal_footers(&mut io, true, |_| {});
    assert_eq!(
        open(io, false).unwrap_err(),
        Error::Format(FormatError::BadChecksum {
            structure: Structure::Header,
            stored: 0xFFFF_F476,
            computed: 0xFFFF_E9A5,
        })
    );
    let child = open(resealed("image-differential.vhd"), false).unwrap();
    let parent = open(resealed("image.vhd"), false).unwrap();
    assert_eq!(child.kind(), Kind::Vhd(DiskType::Differencing));
    assert_eq!(
        child.footer().uuid,
        id("40d56d36-9ab8-4fe4-a31a-121fe2bf15eb")
    );
    let h = child.header().unwrap();
    assert_eq!(h.prt_uuid, id("d49c5c80-350a-4a89-898a-5ad6d10f6578"));
    assert_eq!(h.prt_uuid, parent.footer().uuid);
    assert_eq!(h.prt_ts, 0);
    let mut name = [0u8; 512];
    assert_eq!(h.parent_name(&mut name).unwrap(), "image.vhd");
    assert!(h.loc.iter().all(|l| !l.is_used()), "no parent locators");
    let len = child.size();
    let mut chain = [child, parent];
    assert_eq!(
        chain_sha256(&mut chain, len),
        "c6db12a7db548e193c29420c1b4533e4708b20c5033db5cc29ef075d48316d25"
    );
    // Block 0's bitmap is all ones: the child alone answers every sector.
    let [child, _] = chain;
    assert_eq!(
        disk_sha256(child),
        "c6db12a7db548e193c29420c1b4533e4708b20c5033db5cc29ef075d48316d25"
    );
}

const FAT_OWNED: [u64; 18] = [
    134, 143, 152, 153, 154, 155, 156, 157, 158, 159, 184, 185, 188, 190, 191, 192, 194, 196,
];

#[test]
fn fat_differential_by_windows() {
    let io = read_image("fat-differential.vhd");
    assert_eq!(io.data.len(), 2_183_168);
    codec_round_trip(&io, true);
    let mut child = open(io, false).unwrap();
    assert!(child.recovered().is_empty());
    check_footer(
        child.footer(),
        &Meta {
            kind: DiskType::Differencing,
            size: 4_194_304,
            app: b"win ",
            ver: 0x000A_0000,
            uuid: "f84f1636-cd9e-9041-a69e-dcc2380e416a",
            timestamp: 655_986_203,
            chs: (120, 4, 17),
        },
    );
    assert_eq!(child.footer_position(), 0x214E00);
    let h = child.header().unwrap().clone();
    assert_eq!(
        (h.table_offset, h.max_bat_size, h.block_size),
        (0x2000, 2, 2 << 20)
    );
    assert_eq!(h.prt_uuid, id("5fa21a55-f394-aa4d-9958-1951a67d5540"));
    assert_eq!(h.prt_ts, 0, "Windows writes 0: not corruption");
    let mut name = [0u8; 512];
    assert_eq!(
        h.parent_name(&mut name).unwrap(),
        "C:\\Projects\\dfvfs\\test_data\\fat-parent.vhd"
    );
    // What vhd-util prints and compares: the reference decodes it as a W2ku location.
    assert_eq!(
        h.parent_location(&mut name).unwrap(),
        "/Projects/dfvfs/test_data/fat-parent.vhd"
    );
    let w2ku = h.loc[0];
    assert_eq!(w2ku.code, vhd_nostd::locator::PLAT_CODE_W2KU);
    assert_eq!(
        (w2ku.data_space, w2ku.data_len, w2ku.data_offset),
        (4096, 84, 0x1000)
    );
    let w2ru = h.loc[1];
    assert_eq!(w2ru.code, vhd_nostd::locator::PLAT_CODE_W2RU);
    assert_eq!(
        (w2ru.data_space, w2ru.data_len, w2ru.data_offset),
        (65536, 32, 0x3000)
    );
    let mut scratch = [0u8; 1024];
    let mut out = [0u8; 256];
    assert_eq!(
        child
            .parent_locator_path(0, &mut scratch, &mut out)
            .unwrap(),
        "/Projects/dfvfs/test_data/fat-parent.vhd"
    );
    assert_eq!(
        child
            .parent_locator_path(1, &mut scratch, &mut out)
            .unwrap(),
        "./fat-parent.vhd"
    );
    assert_eq!((child.bat().get(0), child.bat().get(1)), (Some(159), None));

    // Which sectors the child owns, from the bitmap.
    let mut owned = Vec::new();
    let mut s = 0;
    while s < child.sectors() {
        let (src, n) = child.map_sectors(s, u32::MAX).unwrap();
        if let Source::Data(off) = src {
            for k in 0..u64::from(n) {
                assert_eq!(off + k * 512, 160 * 512 + (s + k) * 512);
                owned.push(s + k);
            }
        } else {
            assert_eq!(src, Source::Parent);
        }
        s += u64::from(n);
    }
    assert_eq!(owned, FAT_OWNED);

    // Through a chain with a raw parent whose sectors are recognisable.
    let mut praw = VecIo {
        data: vec![0u8; 4 << 20],
    };
    for (i, sec) in praw.data.chunks_mut(512).enumerate() {
        sec.fill((i % 251) as u8 + 1);
    }
    let parent: VDisk<VecIo> = Disk::open_raw(praw.clone(), false).unwrap();
    let mut chain = [child, parent];
    let mut all = vec![0u8; 4 << 20];
    read_chain(&mut chain, 0, &mut all).unwrap();
    let mut h = Sha256::new();
    for (i, sec) in all.chunks(512).enumerate() {
        if FAT_OWNED.contains(&(i as u64)) {
            h.update(sec);
        } else {
            assert_eq!(sec, &praw.data[i * 512..][..512], "sector {i} from parent");
        }
    }
    assert_eq!(
        hex(&h.finalize()),
        "eda75676597b44170921425cb00ad70be1d94ad0d7dae92fcbedb9712846e457"
    );
    // Alone, the child cannot answer for the parent's sectors.
    let [mut child, _] = chain;
    assert_eq!(child.read(0, &mut [0; 512]), Err(Error::MissingParent));
    let mut sec = [0u8; 512];
    child.read(134, &mut sec).unwrap();
}

#[test]
fn every_sample_footer_reencodes() {
    for name in [
        "ext2.vhd",
        "fat-differential.vhd",
        "hyperv2012r2-dynamic.vhd",
        "ntfs-fixed.vhd",
        "virtualpc-dynamic.vhd",
    ] {
        let io = read_image(name);
        let n = io.data.len();
        let f = Footer::parse(&io.data[n - 512..]).unwrap();
        assert_eq!(f.to_bytes()[..], io.data[n - 512..], "{name}");
        assert_eq!(f.ff_version, version(1, 0), "{name}");
    }
}
