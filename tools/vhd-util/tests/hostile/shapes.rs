//! Expectation sets that several cases share: the shape of a damaged end footer, a
//! misplaced BAT entry, a missing batmap, a bad parent name or locator, a looping chain,
//! an image that is its own parent.

use std::path::Path;

use super::harness::{both_checks, case, keeps, w, Base, Case, Line, Op, Want};
use Line::{Any, Empty, Is};

/// Case 5: the end footer damaged, the copy at 0 intact.
pub fn damaged_end_footer(
    name: &'static str,
    build: fn(&Path),
    check: &'static str,
    ignore: i32,
) -> Case {
    let ignore_line = if ignore == 0 {
        Is("h.vhd is valid")
    } else {
        Is(check)
    };
    case(
        5,
        name,
        build,
        Base::Dynamic,
        vec![
            w(Op::Check, 22, Is(check)),
            w(Op::CheckIgnore, ignore, ignore_line),
            w(Op::Resize, 22, Is("error opening h.vhd: -22")),
        ],
    )
    .then(Op::Repair, w(Op::Check, 0, Is("h.vhd is valid")))
}

/// Case 15: BAT entry 2 out of place (set by `build`): the image opens, reads of that
/// block fail (-EINVAL), fill stops there; check names it.
pub fn bad_entry(name: &'static str, build: fn(&Path), check: Line, more: Vec<Want>) -> Case {
    let mut wants = vec![
        w(Op::Check, 22, check),
        w(Op::ReadSectors, 22, Empty),
        w(Op::Fill, 22, Empty),
    ];
    wants.extend(more);
    case(15, name, build, Base::Dynamic, wants)
}

pub fn no_batmap() -> Vec<Want> {
    vec![
        w(Op::ReadBatmap, 22, Is("failed to read batmap: -22")),
        w(Op::TestBatmap, 22, Empty),
    ]
}

pub fn bad_name() -> Vec<Want> {
    let line = Is("differencing header is invalid: invalid parent name");
    vec![
        w(Op::Check, 22, line),
        w(Op::CheckParents, 22, line),
        w(
            Op::ScanFast,
            22,
            Is("vhd=h.vhd scan-error=-22 error-message='getting parent'"),
        ),
    ]
}

pub fn bad_locator_0() -> Vec<Want> {
    let line = Is("error reading parent locator 0: -22");
    vec![w(Op::Check, 22, line), w(Op::CheckParents, 22, line)]
}

/// Case 21: a loop through `parent`; `scan -a -p` prints `root` first (and stops).
/// A chain that comes back to `h.vhd`: every subcommand that follows it refuses at
/// once, naming the file (issue 21, class 5), and nothing is written.
pub fn looping(parent: &'static str, root: &'static str, check_parents: Line) -> Vec<Want> {
    let named = Is("h.vhd: parent chain loops back to {dir}/h.vhd");
    vec![
        w(Op::ScanTree, 0, Is(root)),
        w(Op::Query, 22, Is("8")),
        w(Op::QueryParent, 22, Is(parent)),
        w(Op::CheckParents, 22, check_parents),
        w(Op::ReadBat, 0, Any),
        w(Op::ReadSectors, 22, named),
        w(Op::ReadSectorsHead, 22, named),
        keeps(Op::Fill, 22, named),
        keeps(Op::Coalesce, 22, named),
        keeps(Op::Snapshot, 22, named),
        w(
            Op::ModifyParent,
            2,
            Is("failed to set parent to 'p.vhd': -2"),
        ),
    ]
}

pub fn bad_batmap(check: Line) -> Vec<Want> {
    let mut v = no_batmap();
    v.push(w(Op::Check, 22, check));
    v
}

/// Class 5: `h.vhd`'s parent is `../aux/h.vhd`, which the build makes the image itself.
/// Only subcommands that refuse are run: they write nothing, so the harness never
/// restores the directory (which would break a hard link). `line` names the file met
/// twice as the walk resolved it.
pub fn self_parent(name: &'static str, build: fn(&Path), line: Line) -> Case {
    case(
        105,
        name,
        build,
        Base::Only,
        vec![
            w(Op::Check, 22, line),
            w(Op::CheckParents, 22, line),
            w(Op::ReadSectors, 22, line),
            keeps(Op::Fill, 22, line),
            keeps(Op::Coalesce, 22, line),
        ],
    )
}

/// A locator whose payload can be neither journaled nor rewritten in place: both checks
/// report `check`, and `resize` and `modify -p` refuse before writing.
pub fn unwritable_locator(check: &'static str) -> Vec<Want> {
    let mut v = both_checks(22, check);
    v.push(keeps(Op::Resize, 22, Is("creating journal failed: -22")));
    v.push(keeps(
        Op::ModifyParent,
        22,
        Is("failed to set parent to 'p.vhd': -22"),
    ));
    v
}
