use std::fs;
use std::process::Command;

use uuid::Uuid;
use vhd_nostd::locator::PLAT_CODE_W2RU;
use vhd_testkit::{bat_entry, edit, put_locator, reseal_header, set_batmap_bit, MIB};

use super::harness::*;
use super::images::*;
use super::shapes::*;

/// Issue 21 classes 1, 2 and 6: batmap bits the bitmaps contradict, raw parents that are FIFOs or devices, a child larger than its parent.
pub fn batmaps_and_raw_parents() -> Vec<Case> {
    let zeros = Bytes(|| vec![0u8; 8 * 512]);
    vec![
        // 1. Batmap bit 2 over a partial bitmap, stale bytes in block 2's clear sectors:
        // reads follow the bitmap (the parent's zeros there), check reports it, fill
        // fills the block (the batmap alone does not skip it) and leaves it valid.
        case(
            101,
            "batmap bit over a partial bitmap",
            |p| {
                chain(p);
                let at = bat_entry(p, 2) as usize * 512 + 512;
                edit(p, |b| b[at..at + 8 * 512].fill(0xEE));
                set_batmap_bit(p, 2, true);
            },
            Base::Diff,
            vec![
                w(
                    Op::Check,
                    22,
                    Is("batmap shows block 2 full but its bitmap is not"),
                ),
                w(
                    Op::CheckParents,
                    22,
                    Is("batmap shows block 2 full but its bitmap is not"),
                ),
                w(Op::ReadSectors, 0, zeros),
            ],
        )
        .then(Op::Fill, w(Op::Check, 0, Is("h.vhd is valid")))
        .then(Op::Fill, w(Op::ReadSectors, 0, zeros)),
        case(
            101,
            "batmap bit on an unallocated block",
            |p| {
                chain(p);
                set_batmap_bit(p, 3, true);
            },
            Base::Diff,
            vec![
                w(Op::Check, 22, Is("batmap shows unallocated block 3 full")),
                w(
                    Op::CheckParents,
                    22,
                    Is("batmap shows unallocated block 3 full"),
                ),
            ],
        )
        .then(Op::Fill, w(Op::Check, 0, Is("h.vhd is valid"))),
        // 2. The raw parent replaced by a FIFO: nothing blocks (the harness kills a run
        // after 20 s); reads, fill and check -p refuse it (-22).
        case(
            102,
            "raw parent replaced by a FIFO",
            |p| {
                raw_chain_then(p, |raw| {
                    let ok = Command::new("mkfifo").arg(raw).status().unwrap();
                    assert!(ok.success());
                })
            },
            Base::Only,
            vec![
                w(Op::Check, 22, Is("error resolving ../aux/p.raw: -22")),
                w(
                    Op::CheckParents,
                    22,
                    Is("error resolving ../aux/p.raw: -22"),
                ),
                w(Op::ReadSectors, 22, Empty),
                w(Op::ReadSectorsHead, 22, Empty),
                keeps(Op::Fill, 22, Empty),
                keeps(Op::Coalesce, 22, Ends("/aux/p.raw: -22")),
                // query -d walks the chain to the refused parent.
                w(Op::Query, 22, Is("8")),
            ],
        ),
        // 6. A raw parent that is a character device (`/dev/zero`): refused as the
        // reference refuses it, not read as endless zeros.
        case(
            106,
            "raw parent is /dev/zero",
            |p| {
                raw_chain_then(p, |raw| {
                    std::os::unix::fs::symlink("/dev/zero", raw).unwrap()
                })
            },
            Base::Only,
            vec![
                w(Op::Check, 22, Is("error resolving ../aux/p.raw: -22")),
                w(Op::ReadSectors, 22, Empty),
                keeps(Op::Fill, 22, Empty),
            ],
        ),
        // 6. A 12 MiB child over an 8 MiB fixed parent (what snapshot makes when it
        // rounds up, or resize of a child): the part past the parent reads as zeros (the
        // parent never held it); fill and coalesce work (coalesce refuses only when
        // the child holds data past the parent's end). COMPATIBILITY.md, issue 21.
        case(
            106,
            "12 MiB child over an 8 MiB fixed parent",
            |p| {
                let parent = dir_of(p).join("p.vhd");
                fixed_of(&parent, 8 * MIB);
                child_of(
                    p,
                    Uuid::from_bytes([7; 16]),
                    "./p.vhd",
                    uuid_of(&parent),
                    12 * MIB,
                    2 << 20,
                );
            },
            Base::Only,
            vec![
                w(Op::Check, 0, Is("h.vhd is valid")),
                w(Op::CheckParents, 0, Is("h.vhd is valid")),
                w(
                    Op::ReadSectorsPast,
                    0,
                    Bytes(|| {
                        let mut v = pattern(3, 8 * MIB as usize)[8 * MIB as usize - 512..].to_vec();
                        v.resize(1024, 0);
                        v
                    }),
                ),
                w(Op::Fill, 0, Empty),
                w(Op::Coalesce, 0, Empty),
            ],
        ),
    ]
}

/// Issue 21 classes 3 and 4: header versions and hostile resize journals.
pub fn headers_and_journals() -> Vec<Case> {
    vec![
        // 3. A header version check rejects (1.1, resealed): every open refuses it as
        // the reference's does (22), and nothing writes to it.
        refused(
            103,
            "header version 0x00010001",
            |p| {
                dynamic(p);
                reseal_header(p, |h| h.hdr_ver = 0x0001_0001)
            },
            Is("header is invalid: invalid header version"),
        ),
        refused(
            103,
            "header data offset 0",
            |p| {
                dynamic(p);
                reseal_header(p, |h| h.data_offset = 0)
            },
            Is("header is invalid: invalid data offset"),
        ),
        // 4. Hostile journals: the journaled header is garbage (its entry resealed), or
        // the journaled footer offset is near 2^63. revert refuses before writing.
        case(
            104,
            "journaled header is garbage",
            |p| journal_then(p, 1600, |b, rec| b[rec + 32..rec + 32 + 1024].fill(0xA5)),
            Base::Only,
            vec![keeps(Op::Revert, 22, Is("opening journal failed: -22"))],
        ),
        case(
            104,
            "journaled footer is garbage",
            |p| journal_then(p, 512, |b, rec| b[rec + 32..rec + 32 + 512].fill(0x5A)),
            Base::Only,
            vec![keeps(Op::Revert, 22, Is("opening journal failed: -22"))],
        ),
        case(
            104,
            "journaled footer offset near 2^63",
            |p| {
                journal_then(p, 512, |b, rec| {
                    let far = ((1u64 << 63) - 512).to_be_bytes();
                    b[24..32].copy_from_slice(&far);
                    b[rec + 16..rec + 24].copy_from_slice(&far);
                })
            },
            Base::Only,
            vec![keeps(Op::Revert, 22, Is("reverting journal failed: -22"))],
        ),
    ]
}

/// Issue 21 classes 5 and 7: images that are their own parent, links, symbolic-link loops, overflowing and empty locators.
pub fn links_and_locators() -> Vec<Case> {
    vec![
        // 5. The parent is the image itself through a hard link, a symbolic link, or
        // `..`: found at once (same device and inode) and named by every subcommand that
        // follows the chain.
        self_parent(
            "hard link",
            |p| {
                own_parent(p);
                fs::hard_link(p, aux(p).join("h.vhd")).unwrap();
            },
            Ends("/aux/h.vhd"),
        ),
        self_parent(
            "symbolic link",
            |p| {
                own_parent(p);
                std::os::unix::fs::symlink(p, aux(p).join("h.vhd")).unwrap();
            },
            Is("h.vhd: parent chain loops back to {dir}/h.vhd"),
        ),
        // 5. modify -p onto a disk whose own chain leads back to the image: refused
        // before it would make a loop (p.vhd is a snapshot of h.vhd).
        case(
            105,
            "modify -p onto a child of the image",
            |p| {
                let base = dir_of(p).join("base.vhd");
                dynamic(&base);
                vhd_std::snapshot_file(p, &base, false).unwrap();
                // Not empty, so that the snapshot points at h.vhd itself.
                write_runs(p, &[(8192 + 100, 64, 6)]);
                vhd_std::snapshot_file(&dir_of(p).join("p.vhd"), p, false).unwrap();
            },
            Base::Only,
            vec![
                w(Op::Check, 0, Is("h.vhd is valid")),
                keeps(
                    Op::ModifyParent,
                    22,
                    Is("failed to set parent to 'p.vhd': -22"),
                ),
            ],
        ),
        // 7. A parent that is a symbolic link loop: the reference's "error resolving"
        // with -ELOOP (40), not "points to missing file" (2).
        case(
            107,
            "parent is a symbolic link loop",
            |p| {
                let l = aux(p).join("p.vhd");
                std::os::unix::fs::symlink(&l, &l).unwrap();
                child_of(
                    p,
                    Uuid::from_bytes([7; 16]),
                    "../aux/p.vhd",
                    Uuid::from_bytes([8; 16]),
                    8 * MIB,
                    2 << 20,
                );
            },
            Base::Only,
            vec![
                w(Op::Check, 40, Is("error resolving ../aux/p.vhd: -40")),
                w(
                    Op::CheckParents,
                    40,
                    Is("error resolving ../aux/p.vhd: -40"),
                ),
            ],
        ),
        // 7. A locator offset whose end overflows: the reference's sum wraps and passes
        // the structure check; reading the payload fails.
        case(
            107,
            "locator offset that overflows",
            |p| {
                chain(p);
                reseal_header(p, |h| h.loc[0].data_offset = 0u64.wrapping_sub(512))
            },
            Base::Diff,
            {
                // As for case 17's payload at 1 TiB: it can be neither journaled nor
                // rewritten in place, so both refuse before writing.
                unwritable_locator("error reading parent locator 0: -22")
            },
        ),
        // 7. A zero-length locator: the reference's "invalid data length".
        case(
            107,
            "zero-length locator",
            |p| chain_then(p, |p| put_locator(p, 3, PLAT_CODE_W2RU, b"")),
            Base::Diff,
            both_checks(22, "invalid parent locator 3: invalid data length"),
        ),
    ]
}
