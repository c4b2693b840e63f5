use std::fs;

use uuid::Uuid;
use vhd_nostd::locator::{PLAT_CODE_MACX, PLAT_CODE_W2KU};
use vhd_testkit::{edit, put_locator, reseal_footers, reseal_header, utf16le, MIB};

use super::harness::*;
use super::images::*;
use super::shapes::*;

/// Locator bounds, parent names, locator paths (cases 17-19).
pub fn locators() -> Vec<Case> {
    vec![
        // 17. Locator bounds: that locator is an error, the others still find p.vhd.
        // A locator whose payload lies beyond the file cannot be journaled (resize) or
        // rewritten in place (modify -p): both refuse before writing.
        case(
            17,
            "locator 0 payload at 1 TiB",
            |p| {
                chain(p);
                reseal_header(p, |h| h.loc[0].data_offset = 1 << 40)
            },
            Base::Diff,
            {
                // The reference judges the offset only against 0; the payload's end
                // past the file is its "invalid size" (issue 21, class 7).
                unwritable_locator("invalid parent locator 0: invalid size")
            },
        ),
        case(
            17,
            "locator 1 length beyond its space",
            |p| {
                chain(p);
                reseal_header(p, |h| h.loc[1].data_len = 513)
            },
            Base::Diff,
            both_checks(22, "invalid parent locator 1: invalid data length"),
        ),
        case(
            17,
            "locator 2 space huge",
            |p| {
                chain(p);
                reseal_header(p, |h| h.loc[2].data_space = 0xFFFF_FE00)
            },
            Base::Diff,
            unwritable_locator("invalid parent locator 2: invalid size"),
        ),
        // 18. Parent name: check and scan -f (which prints the header's name) refuse it;
        // the locators still find the parent.
        case(
            18,
            "parent name with a lone surrogate",
            |p| {
                chain(p);
                reseal_header(p, |h| {
                    h.prt_name = [0; 512];
                    h.prt_name[..4].copy_from_slice(&[0xD8, 0x01, 0, 0x41]);
                })
            },
            Base::Diff,
            bad_name(),
        ),
        case(
            18,
            "parent name without a terminator",
            |p| {
                chain(p);
                reseal_header(p, |h| {
                    for u in h.prt_name.chunks_mut(2) {
                        u.copy_from_slice(&[0, b'a']);
                    }
                })
            },
            Base::Diff,
            bad_name(),
        ),
        // 19. Locator 0 path too long or holding a NUL: an error for that locator.
        case(
            19,
            "MacX path longer than PATH_MAX",
            |p| {
                chain_then(p, |p| {
                    let mut long = b"file://".to_vec();
                    long.resize(7 + 4097, b'a');
                    put_locator(p, 0, PLAT_CODE_MACX, &long)
                })
            },
            Base::Diff,
            bad_locator_0(),
        ),
        case(
            19,
            "MacX path with an embedded NUL",
            |p| {
                chain_then(p, |p| {
                    put_locator(p, 0, PLAT_CODE_MACX, b"file://./p\0.vhd")
                })
            },
            Base::Diff,
            bad_locator_0(),
        ),
        case(
            19,
            "W2ku path with an embedded NUL",
            |p| {
                chain_then(p, |p| {
                    put_locator(p, 1, PLAT_CODE_W2KU, &utf16le(".\\p\0.vhd"))
                })
            },
            Base::Diff,
            both_checks(22, "error reading parent locator 1: -22"),
        ),
    ]
}

/// A parent that is not the one named; chains without a bottom (cases 20-21).
pub fn parents_and_chains() -> Vec<Case> {
    vec![
        // 20. The parent is not the one the child names: check and every chain read
        // refuse; query -p/-d only locate (libvhd's chain depth does not compare UUIDs);
        // modify -p re-links it.
        case(
            20,
            "parent UUID differs",
            |p| {
                chain(p);
                reseal_header(p, |h| h.prt_uuid = Uuid::from_bytes([0x42; 16]))
            },
            Base::Diff,
            vec![
                w(
                    Op::Check,
                    22,
                    Is("invalid parent {dir}/p.vhd: invalid parent uuid"),
                ),
                w(
                    Op::CheckParents,
                    22,
                    Is("invalid parent {dir}/p.vhd: invalid parent uuid"),
                ),
                w(Op::ReadSectors, 22, Empty),
                w(Op::ReadSectorsHead, 22, Empty),
                w(Op::Coalesce, 22, Is("error opening {dir}/p.vhd: -22")),
                w(Op::Fill, 22, Empty),
            ],
        )
        .then(Op::ModifyParent, w(Op::Check, 0, Is("h.vhd is valid"))),
        // 21. Chains without a bottom: bounded (COMPATIBILITY.md: a loop is -EINVAL, at
        // most 256 images).
        case(
            21,
            "h's parent is b, b's parent is h",
            |p| {
                let (hu, bu) = (Uuid::from_bytes([1; 16]), Uuid::from_bytes([2; 16]));
                child_of(p, hu, "./b.vhd", bu, 8 * MIB, 2 << 20);
                child_of(
                    &dir_of(p).join("b.vhd"),
                    bu,
                    "./h.vhd",
                    hu,
                    8 * MIB,
                    2 << 20,
                );
                write_runs(p, &[(8192 + 100, 64, 6)]);
            },
            Base::Diff,
            looping(
                "{dir}/b.vhd",
                "vhd=b.vhd capacity=8388608 size=5120 hidden=0 parent=h.vhd",
                Is("h.vhd is valid"),
            ),
        ),
        // A parent that is the image itself (same device and inode) is a loop at the
        // first step: check names it, coalesce no longer merges h into itself.
        case(
            21,
            "h is its own parent",
            |p| {
                let hu = Uuid::from_bytes([1; 16]);
                child_of(p, hu, "./h.vhd", hu, 8 * MIB, 2 << 20);
                write_runs(p, &[(8192 + 100, 64, 6)]);
            },
            Base::Diff,
            {
                let named = Is("h.vhd: parent chain loops back to {dir}/h.vhd");
                let mut v = looping(
                    "{dir}/h.vhd",
                    "vhd=h.vhd capacity=8388608 size=2105856 hidden=0 parent=h.vhd",
                    named,
                );
                v.push(w(Op::Check, 22, named));
                v
            },
        ),
        case(
            21,
            "a chain of 257 differencing disks",
            deep_chain,
            Base::Diff,
            vec![
                w(Op::Query, 22, Is("8")),
                w(Op::QueryParent, 22, Is("{dir}/c1.vhd")),
                w(
                    Op::ScanTree,
                    0,
                    Is("vhd=base.vhd capacity=8388608 size=3584 hidden=0 parent=none"),
                ),
                w(Op::CheckParents, 22, Is("h.vhd is valid")),
                w(Op::ReadSectors, 22, Empty),
                w(Op::ReadSectorsHead, 22, Empty),
                w(Op::ReadBat, 0, Any),
                w(Op::Scan, 0, Starts("vhd=h.vhd capacity=8388608 size=")),
                w(
                    Op::ModifyParent,
                    2,
                    Is("failed to set parent to 'p.vhd': -2"),
                ),
                w(Op::Fill, 22, Empty),
            ],
        ),
    ]
}

/// Batmap damage and unknown major versions (cases 22-23).
pub fn batmap_and_versions() -> Vec<Case> {
    vec![
        // 22. Batmap damage: the batmap is ignored, data reads; check reports it; read
        // -a/-j have no batmap to show. A read-write open rebuilds a batmap whose header
        // is sound (RELIABILITY.md), so fill leaves a valid image there.
        case(
            22,
            "batmap cookie",
            |p| {
                dynamic(p);
                batmap_poke(p, 0, b"T")
            },
            Base::Dynamic,
            bad_batmap(Is("error reading batmap: -22")),
        ),
        case(
            22,
            "batmap checksum",
            |p| {
                dynamic(p);
                let moff = BATMAP_HDR + 512;
                edit(p, |b| b[moff + 1] = 0x01)
            },
            Base::Dynamic,
            bad_batmap(Is("error reading batmap: -22")),
        )
        .then(Op::Fill, w(Op::Check, 0, Is("h.vhd is valid"))),
        // A map placed beyond the blocks counts as metadata in the BAT check, which
        // runs before the batmap's own (3.12 steps 5 and 6): the blocks "clobber" it.
        case(
            22,
            "batmap beyond EOF",
            |p| {
                dynamic(p);
                let n = fs::metadata(p).unwrap().len();
                batmap_poke(p, 8, &n.to_be_bytes())
            },
            Base::Dynamic,
            bad_batmap(Has("clobbers headers")),
        ),
        case(
            22,
            "batmap size 0",
            |p| {
                dynamic(p);
                batmap_poke(p, 16, &0u32.to_be_bytes())
            },
            Base::Dynamic,
            bad_batmap(Is("batmap is invalid: invalid size zero")),
        ),
        case(
            22,
            "batmap size huge",
            |p| {
                dynamic(p);
                batmap_poke(p, 16, &u32::MAX.to_be_bytes())
            },
            Base::Dynamic,
            bad_batmap(Has("clobbers headers")),
        ),
        // 23. Unknown major versions.
        refused(
            23,
            "header version 2.0",
            |p| {
                dynamic(p);
                reseal_header(p, |h| h.hdr_ver = 0x0002_0000)
            },
            Is("header is invalid: invalid header version"),
        ),
        refused(
            23,
            "footer version 2.0",
            |p| {
                dynamic(p);
                reseal_footers(p, true, |f| f.ff_version = 0x0002_0000)
            },
            Is("primary footer invalid: invalid file format version"),
        ),
        refused(
            23,
            "footer version 0",
            |p| {
                dynamic(p);
                reseal_footers(p, true, |f| f.ff_version = 0)
            },
            Is("primary footer invalid: invalid file format version"),
        ),
    ]
}
