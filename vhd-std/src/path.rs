//! Paths as blktap handles them: relative paths from a child to its parent for the
//! locators, and locator paths resolved against the child's directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::canonpath::ParentNaming;
use crate::errno::{Errno, VhdResult};

/// `realpath(3)`: the absolute path with symbolic links, `.` and `..` resolved; the file
/// must exist.
pub fn realpath(p: &Path) -> VhdResult<PathBuf> {
    std::fs::canonicalize(p).map_err(Errno::from)
}

/// The canonical directory a (possibly not yet existing) file lives in: that of the
/// file itself with its links resolved, as blktap's relative paths count from it (a
/// volume's `/dev/VG/LV` link to `/dev/dm-3` lives in `/dev`), else its directory's.
pub fn canonical_dir_of(file: &Path) -> VhdResult<PathBuf> {
    if let Some(dir) = realpath(file)
        .ok()
        .and_then(|f| f.parent().map(Path::to_path_buf))
    {
        return Ok(dir);
    }
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
/// it, otherwise `../` steps first (`../d/a.vhd`). Lossy for names that are not UTF-8;
/// [`relative_path_bytes`] keeps them.
pub fn relative_path(from_dir: &Path, to: &Path) -> String {
    String::from_utf8_lossy(&relative_path_bytes(from_dir, to)).into_owned()
}

/// [`relative_path`] as the bytes of the path.
pub fn relative_path_bytes(from_dir: &Path, to: &Path) -> Vec<u8> {
    let from: Vec<Component<'_>> = from_dir.components().collect();
    let dest: Vec<Component<'_>> = to.components().collect();
    // The last component of `to` is its file name, never a common directory.
    let common = from
        .iter()
        .zip(dest.iter().take(dest.len().saturating_sub(1)))
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.len() - common;
    let mut out: Vec<u8> = if ups == 0 {
        b"./".to_vec()
    } else {
        b"../".repeat(ups)
    };
    let rest: Vec<&[u8]> = dest[common..]
        .iter()
        .map(|c| c.as_os_str().as_bytes())
        .collect();
    out.extend_from_slice(&rest.join(&b'/'));
    out
}

/// libvhd's `vhd_find_parent`: the file a decoded locator path `name` of the image at
/// `child` names. An absolute `name` that is readable is taken as it is; otherwise
/// `name` is looked up in the directory of `child` (after resolving the child's own
/// links) and returned resolved. Errors are those of `access` and `realpath`
/// (`-ENOENT` for a missing file).
pub fn find_parent(child: &Path, name: &[u8]) -> VhdResult<PathBuf> {
    find_parent_as(child, name, ParentNaming::Realpath)
}

/// [`find_parent`] with the result named by `naming` (blktap3's uses `canonpath`).
pub fn find_parent_as(child: &Path, name: &[u8], naming: ParentNaming) -> VhdResult<PathBuf> {
    if name.first() == Some(&b'/') && readable(name).is_ok() {
        return Ok(PathBuf::from(OsStr::from_bytes(name)));
    }
    let child = realpath(child)?;
    let dir = child.parent().unwrap_or(Path::new("/"));
    // Joined as bytes, as libvhd does: an absolute `name` lands below the directory.
    let mut location = dir.as_os_str().as_bytes().to_vec();
    location.push(b'/');
    location.extend_from_slice(name);
    readable(&location)?;
    naming.name(Path::new(OsStr::from_bytes(&location)))
}

/// `access(path, R_OK)`.
fn readable(path: &[u8]) -> VhdResult<()> {
    rustix::fs::access(OsStr::from_bytes(path), rustix::fs::Access::READ_OK)
        .map_err(|e| Errno(-e.raw_os_error()))
}

/// Resolves a decoded locator path as the chains of the tools and the library do: an
/// absolute path as is, a relative one against the directory of the child (after
/// resolving the child's own links); the result is canonical and must exist. Unlike
/// [`find_parent`] it does not ask for read permission: a parent that cannot be read
/// fails when it is opened, with that error.
pub fn resolve_locator(child: &Path, locator: &str) -> VhdResult<PathBuf> {
    resolve_locator_as(child, locator, ParentNaming::Realpath)
}

/// [`resolve_locator`] with the result named by `naming` (blktap3's `canonpath` keeps
/// `/dev/mapper/VG-LV` rather than the device it leads to).
pub fn resolve_locator_as(child: &Path, locator: &str, naming: ParentNaming) -> VhdResult<PathBuf> {
    let p = Path::new(locator);
    if p.is_absolute() {
        return naming.name(p);
    }
    let child = realpath(child)?;
    let dir = child.parent().ok_or(Errno::EINVAL)?;
    naming.name(&dir.join(p))
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
    fn a_linked_file_lives_where_its_link_leads() {
        let dir = std::env::temp_dir().join(format!("vhd-std-linkdir-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("img.vhd"), b"").unwrap();
        let link = b.join("lv");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("../a/img.vhd", &link).unwrap();
        let real_a = std::fs::canonicalize(&a).unwrap();
        // A volume's /dev/VG/LV link to /dev/dm-N: relative paths count from /dev.
        assert_eq!(canonical_dir_of(&link).unwrap(), real_a);
        // Not made yet: its directory.
        let new = b.join("new.vhd");
        assert_eq!(
            canonical_dir_of(&new).unwrap(),
            std::fs::canonicalize(&b).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names() {
        assert_eq!(basename(Path::new("/a/b/c.vhd")), "c.vhd");
        assert_eq!(basename(Path::new("c.vhd")), "c.vhd");
    }

    #[test]
    fn absolute_and_relative_parents() {
        let dir = std::env::temp_dir().join(format!("vhd-std-parent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = dir.join("c.vhd");
        let parent = dir.join("p.vhd");
        std::fs::write(&child, b"").unwrap();
        std::fs::write(&parent, b"").unwrap();
        let real = std::fs::canonicalize(&parent).unwrap();
        assert_eq!(find_parent(&child, b"./p.vhd").unwrap(), real);
        assert_eq!(
            find_parent(&child, parent.as_os_str().as_bytes()).unwrap(),
            parent
        );
        assert_eq!(find_parent(&child, b"./missing.vhd"), Err(Errno::ENOENT));
        assert_eq!(resolve_locator(&child, "./p.vhd").unwrap(), real);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
