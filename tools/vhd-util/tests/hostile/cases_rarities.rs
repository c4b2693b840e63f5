use std::fs::{self, File};
use std::os::unix::fs::FileExt;

use uuid::Uuid;
use vhd_nostd::geometry::chs;
use vhd_nostd::locator::{ParentLocator, PLAT_CODE_MACX, PLAT_CODE_W2RU};
use vhd_nostd::{DiskType, Footer};
use vhd_testkit::{edit, put_locator, reseal_footers, reseal_header, utf16le, MIB};

use super::harness::*;
use super::images::*;
use super::shapes::*;

/// Not a VHD, out-of-range requests, mixed block sizes, odd fixed disks, differing footers, size, geometry and data offset disagreements (cases 26-33).
pub fn odd_layouts() -> Vec<Case> {
    let _zeros = Bytes(|| vec![0u8; 8 * 512]);
    vec![
        // 26. Not a VHD.
        refused(26, "an MBR", |p| fs::write(p, mbr()).unwrap(), NO_FOOTER),
        refused(
            26,
            "1 MiB of zeros",
            |p| fs::write(p, vec![0; MIB as usize]).unwrap(),
            NO_FOOTER,
        ),
        refused(
            26,
            "1 MiB of 0xFF",
            |p| fs::write(p, vec![0xFF; MIB as usize]).unwrap(),
            NO_FOOTER,
        ),
        // 27. Out of range and overflowing ranges on a sound image: the dynamic base
        // already runs them (-b/-m/-t/-i/-r past the end, -r at u64::MAX).
        case(
            27,
            "ranges past the end and overflowing",
            dynamic,
            Base::Dynamic,
            vec![],
        ),
        // 28. A child whose block size (512 KiB) differs from its parent's: works by
        // sector, coalesce included.
        case(
            28,
            "child block size 512 KiB",
            |p| {
                let parent = dir_of(p).join("p.vhd");
                dynamic(&parent);
                child_of(
                    p,
                    Uuid::from_bytes([7; 16]),
                    "./p.vhd",
                    uuid_of(&parent),
                    8 * MIB,
                    512 << 10,
                );
                write_runs(p, &[(4096 + 10, 20, 4), (8192 + 100, 64, 5)]);
            },
            Base::Diff,
            vec![
                w(Op::ReadBitmap, 0, Is("block 2 not allocated")),
                w(Op::ReadBitmapPast, 0, Any),
                w(
                    Op::ReadTranslate,
                    0,
                    Starts(concat!(
                        "logical sector 8292: block number: 8, ",
                        "sector offset: 100, file offset: "
                    )),
                ),
                w(Op::ReadTestBit, 0, Starts("block 8: sec: 100: ")),
                w(Op::ReadData, 0, Is("block 2 not allocated")),
            ],
        ),
        // 29. A fixed disk whose first sectors hold a dynamic image's metadata: the end
        // footer decides.
        case(
            29,
            "fixed disk starting with VHD metadata",
            |p| {
                fixed(p);
                let inner = dir_of(p).join("inner.tmp");
                vhd_std::create_file(&inner, DiskType::Dynamic, 100 * MIB).unwrap();
                let meta = fs::read(&inner).unwrap();
                fs::remove_file(&inner).unwrap();
                File::options()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .write_all_at(&meta, 0)
                    .unwrap();
            },
            Base::Fixed,
            vec![],
        ),
        // 30. Footers differ: the end one wins; a read-write open rewrites the copy.
        case(
            30,
            "copy at 0 with another size and UUID",
            |p| {
                dynamic(p);
                edit(p, |b| {
                    let mut f = Footer::decode(&b[..512]).unwrap();
                    f.uuid = Uuid::from_bytes([0x55; 16]);
                    f.curr_size = 2 * MIB;
                    f.geometry = chs(2 * MIB).encode();
                    f.seal();
                    b[..512].copy_from_slice(&f.to_bytes());
                })
            },
            Base::Dynamic,
            vec![w(
                Op::Check,
                22,
                Is("primary and backup footers do not match"),
            )],
        )
        .then(Op::Repair, w(Op::Check, 0, Is("h.vhd is valid"))),
        // 31. A size one sector beyond the BAT: refused at open; the reference's check
        // has no such test, so check ends in the failed open.
        refused(
            31,
            "size beyond max entries x block size",
            |p| {
                dynamic(p);
                reseal_footers(p, true, |f| f.curr_size = 8 * MIB + 512)
            },
            DUMP,
        ),
        // 32. CHS disagreeing with the size is never an error for the engine; the
        // reference's check does flag a geometry larger than the size's (3.12).
        case(
            32,
            "dynamic, geometry 1/1/1",
            |p| {
                dynamic(p);
                reseal_footers(p, true, |f| f.geometry = 0x0001_0101)
            },
            Base::Dynamic,
            vec![],
        ),
        case(
            32,
            "fixed, geometry 65535/16/255",
            |p| {
                fixed(p);
                reseal_footers(p, false, |f| f.geometry = 0xFFFF_10FF)
            },
            Base::Fixed,
            vec![w(
                Op::Check,
                22,
                Is("primary footer invalid: geometry too large"),
            )],
        ),
        // 33. Data offset wrong for the type.
        refused(
            33,
            "fixed, data offset 512",
            |p| {
                fixed(p);
                reseal_footers(p, false, |f| f.data_offset = 512)
            },
            Is("primary footer invalid: invalid data offset"),
        ),
        refused(
            33,
            "dynamic, data offset 0",
            |p| {
                dynamic(p);
                reseal_footers(p, true, |f| f.data_offset = 0)
            },
            Is("header is invalid: invalid cookie"),
        ),
        refused(
            33,
            "dynamic, data offset 256",
            |p| {
                dynamic(p);
                reseal_footers(p, true, |f| f.data_offset = 256)
            },
            Is("header is invalid: invalid cookie"),
        ),
    ]
}

/// Parent information missing or odd, locator space and payloads, legacy footers, saved state, beyond 2 TiB, clear bitmap bits (cases 34-42).
pub fn odd_parents_and_states() -> Vec<Case> {
    vec![
        // 34. A differencing disk naming no parent at all: it opens (the core leaves
        // finding parents to the caller), nothing finds a parent, nothing crashes.
        case(
            34,
            "no parent UUID, name or locator",
            |p| {
                chain(p);
                reseal_header(p, |h| {
                    h.prt_uuid = Uuid::nil();
                    h.prt_name = [0; 512];
                    h.loc = [ParentLocator::default(); 8];
                })
            },
            Base::Diff,
            vec![
                w(Op::Check, 22, Is("could not find parent ")),
                w(Op::CheckParents, 22, Is("could not find parent ")),
                w(Op::Query, 22, Is("8")),
                w(Op::QueryParent, 22, Is("query failed")),
                w(Op::ReadSectors, 22, Empty),
                w(Op::ReadSectorsHead, 22, Empty),
                w(
                    Op::Scan,
                    22,
                    Is("vhd=h.vhd scan-error=-22 error-message='getting parent'"),
                ),
                w(Op::ScanFast, 0, Starts("vhd=h.vhd capacity=8388608 size=")),
                w(
                    Op::ScanTree,
                    22,
                    Is("vhd={dir}/h.vhd scan-error=-22 error-message='getting parent'"),
                ),
                w(Op::Coalesce, 22, Is("error finding h.vhd parent: -22")),
                w(Op::Fill, 22, Empty),
            ],
        ),
        // 35. Locator space in sectors (1 sector) is accepted like bytes; a space that
        // is neither makes that locator an error.
        case(
            35,
            "locator 1 space in sectors",
            |p| {
                chain(p);
                reseal_header(p, |h| h.loc[1].data_space = 1)
            },
            Base::Diff,
            vec![],
        ),
        case(
            35,
            "locator 1 space 1000 bytes",
            |p| {
                chain(p);
                reseal_header(p, |h| h.loc[1].data_space = 1000)
            },
            Base::Diff,
            vec![
                w(
                    Op::Check,
                    22,
                    Is("invalid parent locator 1: invalid data space"),
                ),
                w(
                    Op::CheckParents,
                    22,
                    Is("invalid parent locator 1: invalid data space"),
                ),
                keeps(
                    Op::ModifyParent,
                    22,
                    Is("failed to set parent to 'p.vhd': -22"),
                ),
            ],
        ),
        // 36. Odd payloads: an error for that locator or a documented resolution.
        case(
            36,
            "W2ku of odd length",
            |p| {
                chain(p);
                reseal_header(p, |h| h.loc[1].data_len = 13)
            },
            Base::Diff,
            both_checks(22, "error reading parent locator 1: -22"),
        ),
        case(
            36,
            "W2ru escaping with ..",
            |p| {
                chain_then(p, |p| {
                    put_locator(p, 2, PLAT_CODE_W2RU, &utf16le("..\\..\\up.vhd"))
                })
            },
            Base::Diff,
            {
                let line = Is("parent locator 2 name (up.vhd) does not match header name (p.vhd)");
                vec![w(Op::Check, 22, line), w(Op::CheckParents, 22, line)]
            },
        ),
        case(
            36,
            "MacX without file://",
            |p| chain_then(p, |p| put_locator(p, 0, PLAT_CODE_MACX, b"/abs/p.vhd")),
            Base::Diff,
            bad_locator_0(),
        ),
        case(
            36,
            "duplicate W2ru",
            |p| {
                chain_then(p, |p| {
                    put_locator(p, 3, PLAT_CODE_W2RU, &utf16le(".\\other.vhd"))
                })
            },
            Base::Diff,
            both_checks(22, "duplicate platform code in locator 3: 0x57327275"),
        ),
        // 37. Parent timestamp 0 (as Windows writes) is not corruption.
        case(
            37,
            "parent timestamp 0",
            |p| {
                chain(p);
                reseal_header(p, |h| h.prt_ts = 0)
            },
            Base::Diff,
            vec![],
        ),
        // 38. A 4 MiB parent under an 8 MiB child holding data past the parent's end:
        // reads there come from the child or zeros; coalesce refuses (COMPATIBILITY.md,
        // coalesce of a child larger than its parent).
        case(
            38,
            "parent smaller than the child",
            |p| {
                let parent = dir_of(p).join("p.vhd");
                vhd_std::create_file(&parent, DiskType::Dynamic, 4 * MIB).unwrap();
                write_runs(&parent, &[(0, 4096, 1)]);
                child_of(
                    p,
                    Uuid::from_bytes([8; 16]),
                    "./p.vhd",
                    uuid_of(&parent),
                    8 * MIB,
                    2 << 20,
                );
                write_runs(p, &[(4096 + 10, 20, 4), (8192 + 100, 64, 5)]);
            },
            Base::Diff,
            vec![
                w(Op::ReadSectors, 0, Bytes(|| vec![0; 8 * 512])),
                w(Op::ScanTree, 0, Starts("vhd=p.vhd capacity=4194304 size=")),
                // Refused before anything is copied: p.vhd is left as it was.
                keeps(Op::Coalesce, 22, Empty),
            ],
        ),
        // 39. The legacy 511-byte footer: accepted (RELIABILITY.md, SHORT_FOOTER), but
        // resize refuses it: the journal copies whole sectors (COMPATIBILITY.md).
        case(
            39,
            "dynamic with a 511-byte footer",
            |p| {
                dynamic(p);
                edit(p, |b| {
                    b.pop();
                })
            },
            Base::Dynamic,
            vec![keeps(Op::Resize, 22, Is("creating journal failed: -22"))],
        ),
        case(
            39,
            "fixed with a 511-byte footer",
            |p| {
                fixed(p);
                edit(p, |b| {
                    b.pop();
                })
            },
            Base::Fixed,
            vec![
                w(
                    Op::Scan,
                    0,
                    Is("vhd=h.vhd capacity=2097152 size=2097663 hidden=0 parent=none"),
                ),
                // The journal of its footer copies whole sectors, as for case 39 above.
                keeps(Op::Resize, 22, Is("creating journal failed: -22")),
            ],
        ),
        // 40. Saved state: reads work; resize and coalesce refuse.
        case(
            40,
            "dynamic with a saved state",
            |p| {
                dynamic(p);
                reseal_footers(p, true, |f| f.saved = 1)
            },
            Base::Dynamic,
            vec![w(Op::Resize, 22, Is("resize failed: -22"))],
        ),
        case(
            40,
            "child with a saved state",
            |p| {
                chain(p);
                reseal_footers(p, true, |f| f.saved = 1)
            },
            Base::Diff,
            vec![
                w(Op::Resize, 22, Is("resize failed: -22")),
                keeps(Op::Coalesce, 22, Empty),
            ],
        ),
        case(
            40,
            "parent with a saved state",
            |p| {
                chain(p);
                reseal_footers(&dir_of(p).join("p.vhd"), true, |f| f.saved = 1)
            },
            Base::Diff,
            vec![keeps(Op::Coalesce, 22, Empty)],
        ),
        // 41. Beyond 32-bit sector offsets: create refuses and leaves no file; an image
        // whose end lies past 2^32 sectors (sparse, 2 TiB) opens and reads, but no block
        // can be allocated there (RELIABILITY.md: NoSpace).
        case(
            41,
            "create over 2040 GiB",
            dynamic,
            Base::Only,
            vec![keeps(Op::CreateHuge, 22, Empty)],
        ),
        case(
            41,
            "footer past 2^32 sectors",
            beyond_2tib,
            Base::Dynamic,
            vec![
                w(Op::Query, 0, Is("100")),
                w(Op::Scan, 0, Starts("vhd=h.vhd capacity=104857600 size=")),
                w(Op::ReadBat, 0, Is("block: 0: offset: not allocated")),
                w(Op::ReadBatPast, 34, Empty),
                w(Op::ReadBitmap, 0, Is("block 2 not allocated")),
                w(Op::ReadBitmapPast, 0, Is("block 4 not allocated")),
                w(
                    Op::ReadTranslate,
                    0,
                    Is(concat!(
                        "logical sector 8292: block number: 2, ",
                        "sector offset: 100, file offset: not allocated"
                    )),
                ),
                w(Op::ReadTranslatePast, 0, Starts("logical sector 16384: ")),
                w(Op::ReadTestBit, 0, Is("block 2: sec: 100: 0")),
                w(Op::ReadTestBitPast, 0, Is("block 4: sec: 0: 0")),
                w(Op::ReadData, 0, Is("block 2 not allocated")),
                w(Op::ReadSectorsPast, 0, Any),
                // Nothing allocated past 16 MiB: it shrinks (COMPATIBILITY.md).
                w(Op::Resize, 0, Empty),
                w(Op::Fill, 28, Empty),
            ],
        ),
        // 42. A clear bitmap bit inside an allocated block reads zeros, not stale data.
        case(
            42,
            "bitmap bit clear in a full block",
            |p| {
                dynamic(p);
                clear_bits_in_block_0(p)
            },
            Base::Dynamic,
            vec![w(
                Op::ReadSectorsHead,
                0,
                Bytes(|| {
                    let mut want = pattern(1, 32 * 512);
                    want[10 * 512..20 * 512].fill(0);
                    want
                }),
            )],
        ),
    ]
}
