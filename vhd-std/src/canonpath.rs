//! How a parent path is recorded in a child: blktap2 resolves it with `realpath`;
//! blktap3 passes it through `canonpath`, which keeps LVM volumes by their
//! `/dev/mapper` names (stable, unlike the `/dev/dm-N` they resolve to) so that a scan
//! of the group can tell a child's parent volume from the header's parent name.
//!
//! `canonpath`: the path is made absolute and normalised lexically. `/dev/mapper/NAME`
//! is kept if it exists; `/dev/VG/LV` becomes `/dev/mapper/` + VG and LV joined by `-`,
//! each `-` inside them doubled, if that exists; a DRBD resource link
//! (`/dev/drbd/by-res/...`) that leads to `/dev/drbdN` is kept; anything else is
//! `realpath`'d.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use crate::errno::{Errno, VhdResult};

/// `path` made absolute (against the working directory) with `.`, `..` and repeated
/// `/` removed, without looking at the file system.
pub fn lexical(path: &Path) -> std::io::Result<PathBuf> {
    let base = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir()?
    };
    let mut out = PathBuf::from("/");
    for c in base.components().chain(path.components()) {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

/// `a` with each `-` doubled, as device-mapper names VG and LV parts.
fn dm_escape(a: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    for &b in a.as_bytes() {
        out.push(b);
        if b == b'-' {
            out.push(b'-');
        }
    }
    out
}

/// The canonical form of `path` (see the module documentation).
pub fn canonpath(path: &Path) -> std::io::Result<PathBuf> {
    let norm = lexical(path)?;
    let parts: Vec<&OsStr> = norm
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    if parts.len() == 3 && parts[0] == "dev" && parts[1] == "mapper" && norm.exists() {
        return Ok(norm);
    }
    if parts.len() == 3 && parts[0] == "dev" {
        let mut name = dm_escape(parts[1]);
        name.push(b'-');
        name.extend(dm_escape(parts[2]));
        let mapper = Path::new("/dev/mapper").join(OsString::from_vec(name));
        if mapper.exists() {
            return Ok(mapper);
        }
    }
    if parts.len() >= 3 && parts[..3] == ["dev", "drbd", "by-res"] {
        let target = std::fs::canonicalize(&norm)?;
        let drbd = target
            .file_name()
            .is_some_and(|n| n.as_bytes().starts_with(b"drbd"));
        if drbd && target.parent() == Some(Path::new("/dev")) {
            return Ok(norm);
        }
    }
    std::fs::canonicalize(&norm)
}

/// Which of the two rules names a parent given by the user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParentNaming {
    /// blktap2: `realpath`.
    #[default]
    Realpath,
    /// blktap3: [`canonpath`].
    Canonpath,
}

impl ParentNaming {
    /// The path a child records for the parent `p` (which must exist).
    pub fn name(self, p: &Path) -> VhdResult<PathBuf> {
        match self {
            ParentNaming::Realpath => std::fs::canonicalize(p),
            ParentNaming::Canonpath => canonpath(p),
        }
        .map_err(Errno::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_forms() {
        assert_eq!(
            lexical(Path::new("/a/./b//c/../d")).unwrap(),
            Path::new("/a/b/d")
        );
        assert_eq!(lexical(Path::new("/../x")).unwrap(), Path::new("/x"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(lexical(Path::new("p.vhd")).unwrap(), cwd.join("p.vhd"));
    }

    #[test]
    fn dm_names_double_dashes() {
        assert_eq!(dm_escape(OsStr::new("VG-x")), b"VG--x");
    }

    #[test]
    fn plain_files_are_realpathed() {
        let dir = std::env::temp_dir();
        let canon = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(canonpath(&dir.join(".")).unwrap(), canon);
        assert!(canonpath(Path::new("/nonexistent-i19/x")).is_err());
        for naming in [ParentNaming::Realpath, ParentNaming::Canonpath] {
            assert_eq!(naming.name(&dir.join(".")).unwrap(), canon);
            assert_eq!(
                naming.name(Path::new("/nonexistent-i19/x")).err(),
                Some(Errno::ENOENT)
            );
        }
    }
}
