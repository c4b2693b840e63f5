//! blktap3's path canonicalisation for parent paths (`canonpath`, its `canonpath.h` is
//! not installed) and the lexical `normalize_path`.
//!
//! Parents on LVM are recorded by their `/dev/mapper` names: `/dev/VG/LV` becomes
//! `/dev/mapper/` + VG and LV joined by `-`, each `-` inside them doubled, when that node
//! exists. `/dev/mapper/NAME` and DRBD resource links (`/dev/drbd/by-res/...`) are kept as
//! they are; anything else is `realpath`'d.

use core::ffi::{c_char, CStr};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use crate::ffi::boundary;

/// `path` made absolute (against the working directory) with `.`, `..` and repeated
/// `/` removed, without looking at the file system.
fn lexical(path: &Path) -> std::io::Result<PathBuf> {
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
pub(crate) fn canonical(path: &Path) -> std::io::Result<PathBuf> {
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

/// Sets `errno` for a C caller.
fn set_errno(e: i32) {
    // SAFETY: errno is thread-local.
    unsafe { *libc::__errno_location() = e };
}

/// Canonicalises `path` into `out` (`size` bytes, NUL included) and returns `out`, or
/// NULL with `errno` set (that of the lookup, `ERANGE` if it does not fit, `EINVAL` for
/// null arguments).
///
/// # Safety
/// `path` must be a string and `out` hold `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn canonpath(
    path: *const c_char,
    out: *mut c_char,
    size: usize,
) -> *mut c_char {
    boundary!(on_panic = core::ptr::null_mut(), {
        if path.is_null() || out.is_null() {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        // SAFETY: a string (caller's contract).
        let path = Path::new(OsStr::from_bytes(
            unsafe { CStr::from_ptr(path) }.to_bytes(),
        ));
        match canonical(path) {
            Ok(p) => {
                let b = p.as_os_str().as_bytes();
                if b.len() >= size {
                    set_errno(libc::ERANGE);
                    return core::ptr::null_mut();
                }
                // SAFETY: `out` holds `size` > `b.len()` bytes (caller's contract).
                unsafe {
                    core::ptr::copy_nonoverlapping(b.as_ptr(), out.cast::<u8>(), b.len());
                    *out.add(b.len()) = 0;
                }
                out
            }
            Err(e) => {
                set_errno(e.raw_os_error().unwrap_or(libc::EIO));
                core::ptr::null_mut()
            }
        }
    })
}

/// `path` (its first `len` bytes) made absolute and lexically normalised (`.`, `..`,
/// `//` removed), malloc'd; NULL with `errno` set on failure.
///
/// # Safety
/// `path` must hold `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn normalize_path(path: *const c_char, len: usize) -> *mut c_char {
    boundary!(on_panic = core::ptr::null_mut(), {
        if path.is_null() {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        // SAFETY: `path` holds `len` bytes (caller's contract).
        let raw = unsafe { core::slice::from_raw_parts(path.cast::<u8>(), len) };
        let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
        let norm = match lexical(Path::new(OsStr::from_bytes(raw))) {
            Ok(p) => p,
            Err(e) => {
                set_errno(e.raw_os_error().unwrap_or(libc::EIO));
                return core::ptr::null_mut();
            }
        };
        crate::cmem::c_string(norm.as_os_str().as_bytes()).unwrap_or_else(|_| {
            set_errno(libc::ENOMEM);
            core::ptr::null_mut()
        })
    })
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
        assert_eq!(canonical(&dir.join(".")).unwrap(), canon);
        assert!(canonical(Path::new("/nonexistent-i19/x")).is_err());
    }
}
