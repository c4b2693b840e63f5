//! Paths as blktap handles them: relative paths from a child to its parent for the
//! locators, and locator paths resolved against the child's directory.

use std::path::{Component, Path, PathBuf};

use crate::errno::{Errno, VhdResult};

/// `realpath(3)`: the absolute path with symbolic links, `.` and `..` resolved; the file
/// must exist.
pub fn realpath(p: &Path) -> VhdResult<PathBuf> {
    std::fs::canonicalize(p).map_err(Errno::from)
}

/// The canonical directory a (possibly not yet existing) file lives in.
pub fn canonical_dir_of(file: &Path) -> VhdResult<PathBuf> {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => realpath(d),
        _ => realpath(Path::new(".")),
    }
}

/// The last component of `p` as a string (lossy for non-UTF-8 names).
pub fn basename(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.to_string_lossy().into_owned())
}

/// The path of `to` relative to the directory `from_dir`, both absolute and canonical,
/// spelled as blktap's `relative_path_to` does: `./name` in the same directory or below
/// it, otherwise `../` steps first (`../d/a.vhd`).
pub fn relative_path(from_dir: &Path, to: &Path) -> String {
    let from: Vec<Component<'_>> = from_dir.components().collect();
    let dest: Vec<Component<'_>> = to.components().collect();
    let common = from
        .iter()
        .zip(dest.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = String::new();
    let ups = from.len() - common;
    if ups == 0 {
        out.push_str("./");
    } else {
        for _ in 0..ups {
            out.push_str("../");
        }
    }
    let rest: Vec<String> = dest[common..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    out.push_str(&rest.join("/"));
    out
}

/// Resolves a decoded locator path as libvhd's `vhd_find_parent` does: an absolute path
/// as is, a relative one against the directory of the child (after resolving the
/// child's own links); the result is canonical and must exist.
pub fn resolve_locator(child: &Path, locator: &str) -> VhdResult<PathBuf> {
    let p = Path::new(locator);
    if p.is_absolute() {
        return realpath(p);
    }
    let child = realpath(child)?;
    let dir = child.parent().ok_or(Errno::EINVAL)?;
    realpath(&dir.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative() {
        let r = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b));
        assert_eq!(r("/x/y", "/x/y/a.vhd"), "./a.vhd");
        assert_eq!(r("/x/c", "/x/d/a.vhd"), "../d/a.vhd");
        assert_eq!(r("/x", "/x/sub/a.vhd"), "./sub/a.vhd");
        assert_eq!(r("/x/a/b", "/y.vhd"), "../../../y.vhd");
        assert_eq!(r("/", "/a.vhd"), "./a.vhd");
    }

    #[test]
    fn names() {
        assert_eq!(basename(Path::new("/a/b/c.vhd")), "c.vhd");
        assert_eq!(basename(Path::new("c.vhd")), "c.vhd");
    }
}
