//! Every on-disk structure's decoder on arbitrary bytes: no panic, and whatever parses
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vhd_nostd::batmap::BatmapHeader;
use vhd_nostd::footer::FOOTER_SIZE;
use vhd_nostd::header::HEADER_SIZE;
use vhd_nostd::locator::{self, ParentLocator, LOCATOR_SIZE};
use vhd_nostd::utf::{utf16_to_utf8, Endian};
use vhd_nostd::{geometry, Footer, Header};

fuzz_target!(|data: &[u8]| {
    // Footer: decode never fails on 512 bytes; parse checks cookie and checksum.
    if let Ok(f) = Footer::decode(data) {
        let _ = f.validate();
        let _ = f.verify_checksum();
        assert_eq!(f.to_bytes()[..], data[..FOOTER_SIZE]);
        if let Ok(p) = Footer::parse(data) {
            assert_eq!(p, f);
        }
        let _ = geometry::chs(f.curr_size).capacity();
        let _ = geometry::Chs::decode(f.geometry).capacity();
    }
    if let Ok(h) = Header::decode(data) {
        let _ = h.validate();
        assert_eq!(h.to_bytes()[..], data[..HEADER_SIZE]);
        let mut name = [0u8; 1024];
        let _ = h.parent_name(&mut name);
        let mut small = [0u8; 7];
        let _ = h.parent_name(&mut small);
        if let Ok(p) = Header::parse(data) {
            assert_eq!(p, h);
        }
    }
    if let Ok(b) = BatmapHeader::parse(data) {
        assert_eq!(b.to_bytes()[..], data[..512]);
        let entries = data.len() as u32 * 1000;
        let _ = b.validate(entries, data.len() as u64);
        let _ = b.verify(&data[512.min(data.len())..]);
        let _ = b.map_bytes();
    }
    // A locator entry from the first 24 bytes, its payload from the rest.
    if let Ok(l) = ParentLocator::decode(data) {
        let mut back = [0u8; LOCATOR_SIZE];
        l.write(&mut back).unwrap();
        assert_eq!(back[..], data[..LOCATOR_SIZE]);
        let _ = l.payload_range(data.len() as u64);
        let _ = l.space_bytes();
        let payload = &data[LOCATOR_SIZE..];
        let mut out = [0u8; 2 * locator::PATH_MAX];
        for code in [
            l.code,
            locator::PLAT_CODE_MACX,
            locator::PLAT_CODE_W2KU,
            locator::PLAT_CODE_W2RU,
        ] {
            let l = ParentLocator { code, ..l };
            if let Ok(p) = l.decode_path(payload, &mut out) {
                assert!(!p.is_empty() && p.len() <= locator::PATH_MAX);
                assert!(!p.contains('\0'));
            }
        }
        let mut tiny = [0u8; 3];
        let _ = l.decode_path(payload, &mut tiny);
    }
    let mut out = [0u8; 4096];
    for e in [Endian::Big, Endian::Little] {
        let _ = utf16_to_utf8(data, e, &mut out);
    }
    if let Ok(s) = core::str::from_utf8(data) {
        let mut out = [0u8; 16384];
        if let Ok(n) = locator::encode_windows_path(s, &mut out) {
            assert!(n % 2 == 0);
        }
    }
});
