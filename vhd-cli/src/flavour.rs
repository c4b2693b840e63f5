//! Which vhd-util dialect this build speaks, chosen at build time: Xen blktap2's (the
//! default) or xapi-project/blktap's "blktap3" (the `blktap3` feature,
//! `make FLAVOR=blktap3`), the one XenServer's and XCP-ng's storage manager drives.
//!
//! Both dialects share every subcommand module; where they differ (options, usage
//! texts, print order, exit codes) the module asks here. [`BLKTAP3`] is a constant, not
//! a `cfg`, so both dialects' code is compiled and linted in either build and the
//! unused one is optimised away.

use vhd_std::canonpath::ParentNaming;

/// Whether this build speaks blktap3's dialect.
pub const BLKTAP3: bool = cfg!(feature = "blktap3");

/// Picks the blktap2 or the blktap3 form of something that differs between dialects.
pub const fn pick<T: Copy>(blktap2: T, blktap3: T) -> T {
    if BLKTAP3 {
        blktap3
    } else {
        blktap2
    }
}

/// How `snapshot` and `modify -p` name the parent they are given: blktap3 keeps an LVM
/// volume's `/dev/mapper` name, which `scan -l` reduces back to the volume.
pub const PARENT_NAMING: ParentNaming = pick(ParentNaming::Realpath, ParentNaming::Canonpath);

/// The errno `vhd_parent_locator_get` reports when no locator names an existing file:
/// blktap3 returns the last resolution error (no such file), blktap2 `-EINVAL`.
pub fn parent_not_found(resolution: i32) -> i32 {
    pick(-libc::EINVAL, resolution)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_this_builds_dialect() {
        assert_eq!(
            pick("2", "3"),
            if cfg!(feature = "blktap3") { "3" } else { "2" }
        );
    }
}
