//! Two helpers the reference library exports for its clients: `atomicio` (tapdisk's
//! stream tool links it from libvhd) and `relative_path_to` (parent locators store the
//! parent's path relative to the child).

use core::ffi::{c_char, c_int, c_void, CStr};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::{size_t, ssize_t};
use vhd_std::path::{realpath, relative_path_bytes};

use crate::cmem::c_string;
use crate::consts::VHD_MAX_NAME_LEN;
use crate::ffi::{boundary, errno};

/// Sets the calling thread's `errno`.
fn set_errno(value: c_int) {
    // SAFETY: `__errno_location` returns the calling thread's errno, always valid.
    unsafe { *libc::__errno_location() = value };
}

/// Calls `f(fd, buf + done, n - done)` until `n` bytes were transferred, retrying on
/// `EINTR` and `EAGAIN`. Returns `n` on success; the count transferred so far with
/// `errno = EPIPE` if `f` returned 0 (end of file); 0 if `f` failed (with its `errno`).
/// A null `f`, or a null `buf` with `n > 0`, returns 0 with `errno = EINVAL`.
///
/// # Safety
/// `buf` must be valid for `n` bytes as `f` uses it (writable for `read`).
#[no_mangle]
pub unsafe extern "C" fn atomicio(
    f: Option<unsafe extern "C" fn(c_int, *mut c_void, size_t) -> ssize_t>,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
) -> size_t {
    boundary!(on_panic = 0, {
        let Some(f) = f else {
            set_errno(libc::EINVAL);
            return 0;
        };
        if buf.is_null() && n > 0 {
            set_errno(libc::EINVAL);
            return 0;
        }
        let mut done: size_t = 0;
        while done < n {
            // SAFETY: `done < n`, so the pointer stays within the caller's `n`-byte buffer
            // and `n - done` bytes remain from it; `f` is the caller's function.
            let got = unsafe { f(fd, buf.cast::<u8>().add(done).cast(), n - done) };
            match got {
                0 => {
                    set_errno(libc::EPIPE);
                    return done;
                }
                g if g < 0 => {
                    let errno = std::io::Error::last_os_error().raw_os_error();
                    if errno == Some(libc::EINTR) || errno == Some(libc::EAGAIN) {
                        continue;
                    }
                    return 0;
                }
                // A well-behaved `f` never returns more than it was asked for.
                g => done += (g as size_t).min(n - done),
            }
        }
        done
    })
}

/// The path of `dest` relative to the directory holding `src`, as parent locators store
/// it: `./name` for a sibling, `../dir/name` further away. Both paths must exist (they
/// are resolved with `realpath`). Returns a string allocated with `malloc` (release it
/// with `free`) and sets `*err` to 0, or returns null with `*err` set to a negative
/// errno: `-EINVAL` for a null argument, `-ENAMETOOLONG` for a path of
/// `VHD_MAX_NAME_LEN` bytes or more, the error of `realpath`, or `-ENOMEM`.
///
/// # Safety
/// `src` and `dest` must be null or NUL-terminated strings; `err` must be null or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn relative_path_to(
    src: *mut c_char,
    dest: *mut c_char,
    err: *mut c_int,
) -> *mut c_char {
    boundary!(on_panic = core::ptr::null_mut(), {
        // Set first, so that a panic leaves it saying so.
        if !err.is_null() {
            // SAFETY: non-null, so writable (caller's contract).
            unsafe { err.write(-libc::EIO) };
        }
        let result = if src.is_null() || dest.is_null() {
            Err(-libc::EINVAL)
        } else {
            // SAFETY: both non-null, so NUL-terminated strings (caller's contract).
            let (src, dest) = unsafe { (CStr::from_ptr(src), CStr::from_ptr(dest)) };
            relative_path(src, dest).and_then(|p| c_string(&p))
        };
        let (code, path) = match result {
            Ok(p) => (0, p),
            Err(e) => (e, core::ptr::null_mut()),
        };
        if !err.is_null() {
            // SAFETY: non-null, so writable (caller's contract).
            unsafe { err.write(code) };
        }
        path
    })
}

/// The relative path from `src`'s directory to `dest`, both resolved (vhd-std's
/// rule), refusing paths of `VHD_MAX_NAME_LEN` bytes or more as libvhd does.
pub(crate) fn relative_path(src: &CStr, dest: &CStr) -> Result<Vec<u8>, c_int> {
    let max = VHD_MAX_NAME_LEN as usize;
    if src.to_bytes().len() >= max || dest.to_bytes().len() >= max {
        return Err(-libc::ENAMETOOLONG);
    }
    let resolve = |p: &CStr| -> Result<PathBuf, c_int> {
        let real = realpath(Path::new(OsStr::from_bytes(p.to_bytes()))).map_err(errno)?;
        if real.as_os_str().len() >= max {
            return Err(-libc::ENAMETOOLONG);
        }
        Ok(real)
    };
    let dest = resolve(dest)?;
    let src = resolve(src)?;
    Ok(relative_path_bytes(
        src.parent().unwrap_or(Path::new("/")),
        &dest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn rel(src: &Path, dest: &Path) -> Result<String, c_int> {
        let s = CString::new(src.as_os_str().as_bytes()).unwrap();
        let d = CString::new(dest.as_os_str().as_bytes()).unwrap();
        let mut err = 1;
        // SAFETY: valid strings and error slot; the result is freed below.
        let p = unsafe { relative_path_to(s.as_ptr().cast_mut(), d.as_ptr().cast_mut(), &mut err) };
        if p.is_null() {
            assert_ne!(err, 0);
            return Err(err);
        }
        assert_eq!(err, 0);
        // SAFETY: a NUL-terminated string from malloc, freed once.
        let out = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
        // SAFETY: allocated by malloc in relative_path_to.
        unsafe { libc::free(p.cast()) };
        Ok(out)
    }

    #[test]
    fn relative_paths() {
        let base = std::env::temp_dir().join(format!("vhd-capi-rel-{}", std::process::id()));
        let d = base.join("d");
        let e = base.join("e").join("f");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::create_dir_all(&e).unwrap();
        for f in [base.join("a.vhd"), d.join("b.vhd"), e.join("c.vhd")] {
            std::fs::write(f, b"").unwrap();
        }
        assert_eq!(
            rel(&base.join("a.vhd"), &base.join("a.vhd")),
            Ok("./a.vhd".into())
        );
        assert_eq!(
            rel(&d.join("b.vhd"), &base.join("a.vhd")),
            Ok("../a.vhd".into())
        );
        assert_eq!(
            rel(&base.join("a.vhd"), &d.join("b.vhd")),
            Ok("./d/b.vhd".into())
        );
        assert_eq!(
            rel(&e.join("c.vhd"), &d.join("b.vhd")),
            Ok("../../d/b.vhd".into())
        );
        assert_eq!(
            rel(&base.join("a.vhd"), &base.join("missing.vhd")),
            Err(-libc::ENOENT)
        );
        let long = base.join("x".repeat(2000));
        assert_eq!(rel(&long, &base.join("a.vhd")), Err(-libc::ENAMETOOLONG));
        let mut err = 0;
        // SAFETY: null strings are answered with -EINVAL.
        let p = unsafe { relative_path_to(core::ptr::null_mut(), core::ptr::null_mut(), &mut err) };
        assert!(p.is_null());
        assert_eq!(err, -libc::EINVAL);
        std::fs::remove_dir_all(&base).unwrap();
    }

    unsafe extern "C" fn short_reads(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
        // Two bytes at a time from a pipe, through the real `read`.
        // SAFETY: forwards the caller's buffer with a smaller length.
        unsafe { libc::read(fd, buf, n.min(2)) }
    }

    #[test]
    fn atomicio_loops_until_done_or_eof() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let msg = b"hello";
        // SAFETY: writes 5 bytes from a live buffer, then closes our write end.
        unsafe {
            assert_eq!(libc::write(fds[1], msg.as_ptr().cast(), msg.len()), 5);
            libc::close(fds[1]);
        }
        let mut buf = [0u8; 8];
        // SAFETY: reads into an 8-byte buffer.
        let got = unsafe { atomicio(Some(short_reads), fds[0], buf.as_mut_ptr().cast(), 8) };
        assert_eq!(got, 5);
        assert_eq!(&buf[..5], msg);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EPIPE)
        );
        // SAFETY: closes our read end; then a null function is refused.
        unsafe {
            libc::close(fds[0]);
            assert_eq!(atomicio(None, 0, buf.as_mut_ptr().cast(), 1), 0);
        }
    }
}
