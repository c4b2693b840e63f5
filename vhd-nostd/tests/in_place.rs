//! Reading structures straight into their place (the small-stack open): the pieces read
//! by `Footer::read_into`, `Header::read_into`, `BatmapHeader::read_into` and
//! `Disk::open_in` must decide exactly what parsing the whole buffer decides.

use vhd_nostd::batmap::BatmapHeader;
use vhd_nostd::disk::{find_footer, find_footer_into};
use vhd_nostd::footer::{version, DiskType};
use vhd_nostd::{probe, Buffers, Disk, Error, Footer, FormatError, Header, OpenOptions, Recovered};
use vhd_testkit::{new_image, open, read_image, reseal_footers, VecIo};

const SAMPLES: [&str; 7] = [
    "ext2.vhd",
    "fat-differential.vhd",
    "hyperv2012r2-dynamic.vhd",
    "image-differential.vhd",
    "image.vhd",
    "ntfs-fixed.vhd",
    "virtualpc-dynamic.vhd",
];

#[test]
fn sample_images_read_in_place_as_parsed() {
    for name in SAMPLES {
        let mut io = read_image(name);
        let n = io.data.len();
        let mut f = Footer::ZEROED;
        let read = Footer::read_into(&mut io, n as u64 - 512, 512, &mut f);
        match Footer::parse(&io.data[n - 512..]) {
            Ok(parsed) => assert_eq!((read, &f), (Ok(()), &parsed), "{name}: footer"),
            Err(e) => assert_eq!(read, Err(Error::Format(e)), "{name}: footer"),
        }
        // Two of the samples have a footer whose checksum was left stale.
        let into = find_footer_into(&mut io, false, &mut f);
        let found = match find_footer(&mut io, false) {
            Ok(found) => found,
            Err(e) => {
                assert_eq!(into, Err(e), "{name}");
                continue;
            }
        };
        assert_eq!(into, Ok((found.pos, found.recovered)), "{name}");
        assert_eq!(f, found.footer, "{name}");
        assert_eq!(f.compute_checksum(), f.checksum, "{name}: footer checksum");
        let pos = found.pos as usize;
        if found.recovered.is_empty() {
            assert!(f.matches_part(0, &io.data[pos..pos + 512]), "{name}");
            assert!(
                f.matches_part(100, &io.data[pos + 100..pos + 212]),
                "{name}"
            );
        }
        if f.kind() == Some(DiskType::Fixed) {
            continue;
        }
        let off = f.data_offset as usize;
        let parsed = Header::parse(&io.data[off..off + 1024]).unwrap();
        let mut h = Header::ZEROED;
        Header::read_into(&mut io, off as u64, &mut h).unwrap();
        assert_eq!(h, parsed, "{name}: header");
        assert_eq!(h.compute_checksum(), h.checksum, "{name}: header checksum");
    }
}

#[test]
fn damage_is_refused_in_place_as_when_parsed() {
    let mut io = new_image(DiskType::Dynamic, 8 << 20, 2 << 20);
    let n = io.data.len();
    io.data[n - 512 + 40] ^= 1;
    let mut f = Footer::ZEROED;
    let got = Footer::read_into(&mut io, n as u64 - 512, 512, &mut f);
    assert!(matches!(
        got,
        Err(Error::Format(FormatError::BadChecksum { .. }))
    ));
    assert!(Footer::parse(&io.data[n - 512..]).is_err());
    io.data[512 + 100] ^= 1;
    let mut h = Header::ZEROED;
    let got = Header::read_into(&mut io, 512, &mut h);
    assert!(matches!(
        got,
        Err(Error::Format(FormatError::BadChecksum { .. }))
    ));
    io.data[512] = b'X';
    assert!(matches!(
        Header::read_into(&mut io, 512, &mut h),
        Err(Error::Format(FormatError::BadCookie { .. }))
    ));
}

#[test]
fn legacy_hidden_flag_checksum_is_accepted_in_place() {
    let mut io = new_image(DiskType::Dynamic, 8 << 20, 2 << 20);
    reseal_footers(&mut io, true, |f| f.crtr_ver = version(1, 1));
    let n = io.data.len();
    // tap 1.1 set the flag without a new checksum.
    io.data[n - 512 + 85] = 1;
    let mut f = Footer::ZEROED;
    Footer::read_into(&mut io, n as u64 - 512, 512, &mut f).unwrap();
    assert_eq!(f.hidden, 1);
    // Not for a release without the quirk.
    reseal_footers(&mut io, true, |f| {
        f.crtr_ver = version(1, 3);
        f.hidden = 0;
    });
    io.data[n - 512 + 85] = 1;
    assert!(Footer::read_into(&mut io, n as u64 - 512, 512, &mut f).is_err());
}

#[test]
fn short_footer_and_backup_copy_are_found_in_place() {
    let mut io = new_image(DiskType::Dynamic, 8 << 20, 2 << 20);
    let want = Footer::parse(&io.data[..512]).unwrap();
    // A legacy 511-byte footer: the last reserved byte is zero anyway.
    io.data.pop();
    let mut f = Footer::ZEROED;
    let (pos, how) = find_footer_into(&mut io, false, &mut f).unwrap();
    assert_eq!(
        (pos, how, &f),
        (io.data.len() as u64 - 511, Recovered::SHORT_FOOTER, &want)
    );
    // Damaged end footer: the copy at offset 0.
    io.data.push(0);
    let n = io.data.len();
    io.data[n - 512] = b'X';
    let (pos, how) = find_footer_into(&mut io, false, &mut f).unwrap();
    assert_eq!(
        (pos, how, &f),
        (n as u64 - 512, Recovered::BACKUP_FOOTER, &want)
    );
    let found = find_footer(&mut io, false).unwrap();
    assert_eq!((found.pos, found.recovered, found.footer), (pos, how, want));
    assert!(find_footer_into(&mut io, true, &mut f).is_err());
}

#[test]
fn batmap_header_reads_in_place_as_parsed() {
    let mut io = new_image(DiskType::Dynamic, 8 << 20, 2 << 20);
    let d = open(io.clone(), false).unwrap();
    let off = d.batmap_header_offset();
    let parsed = BatmapHeader::parse(&io.data[off as usize..off as usize + 512]).unwrap();
    assert_eq!(d.batmap_header(), Some(&parsed));
    let mut h = BatmapHeader::ZEROED;
    BatmapHeader::read_into(&mut io, off, &mut h).unwrap();
    assert_eq!(h, parsed);
    io.data[off as usize] = b'X';
    assert!(BatmapHeader::read_into(&mut io, off, &mut h).is_err());
}

fn open_in_slot(
    io: VecIo,
    writable: bool,
    slot: &mut Option<Disk<VecIo, Vec<u8>>>,
) -> Result<(), Error<std::io::ErrorKind>> {
    let mut io = io;
    let l = probe(&mut io)?;
    let bufs = Buffers {
        bat: vec![0u8; l.bat_bytes],
        batmap: vec![0u8; l.batmap_bytes],
        bitmap: vec![0u8; l.bitmap_bytes],
    };
    let opts = OpenOptions {
        writable,
        ..Default::default()
    };
    Disk::open_in(slot, io, bufs, opts).map(drop)
}

#[test]
fn open_in_matches_open_and_empties_the_slot_on_error() {
    for name in SAMPLES {
        let io = read_image(name);
        let mut slot = None;
        let in_slot = open_in_slot(io.clone(), false, &mut slot);
        let by_value = match open(io, false) {
            Ok(d) => d,
            Err(e) => {
                assert_eq!((in_slot, slot.is_none()), (Err(e), true), "{name}");
                continue;
            }
        };
        in_slot.unwrap();
        let d = slot.as_ref().unwrap();
        assert_eq!(d.footer(), by_value.footer(), "{name}");
        assert_eq!(d.header(), by_value.header(), "{name}");
        assert_eq!(d.batmap_header(), by_value.batmap_header(), "{name}");
        assert_eq!(d.end_of_headers(), by_value.end_of_headers(), "{name}");
        assert_eq!(d.end_of_data(), by_value.end_of_data(), "{name}");
        assert_eq!(d.recovered(), by_value.recovered(), "{name}");
    }
    let mut io = new_image(DiskType::Dynamic, 8 << 20, 2 << 20);
    let mut slot = None;
    open_in_slot(io.clone(), true, &mut slot).unwrap();
    assert!(slot.is_some());
    io.data[512] = b'X';
    let bufs = Buffers {
        bat: vec![0u8; 4096],
        batmap: vec![0u8; 4096],
        bitmap: vec![0u8; 4096],
    };
    let opened = Disk::open_in(&mut slot, io, bufs, OpenOptions::default());
    assert!(matches!(
        opened,
        Err(Error::Format(FormatError::BadCookie { .. }))
    ));
    assert!(slot.is_none(), "a failed open leaves no half-open disk");
}
