//! What the C-ABI fuzz targets share: a private directory on tmpfs per fuzzing process
//! (the library works on files, as tapdisk's does), and C strings for paths and argv.
// Each target uses a part of it.
#![allow(dead_code)]

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The process's scratch directory, created once and emptied by the caller as needed.
pub fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("VHD_FUZZ_DIR").unwrap_or_else(|| "/dev/shm".into());
        let d = PathBuf::from(base).join(format!("vr17-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("fuzz scratch directory");
        // The subcommands print; the output is not what is under test.
        // SAFETY: plain syscalls on descriptors this process owns.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null >= 0 {
                libc::dup2(null, 1);
                libc::close(null);
            }
        }
        d
    })
}

/// Removes every file in the scratch directory.
pub fn clear() {
    if let Ok(rd) = std::fs::read_dir(dir()) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A C string for `p`.
pub fn c(p: &std::path::Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL in scratch paths")
}

/// Calls a `vhd_util_*`-style entry point with `args` as its argv.
pub fn call_argv(
    f: unsafe extern "C" fn(libc::c_int, *mut *mut libc::c_char) -> libc::c_int,
    args: &[&str],
) -> libc::c_int {
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut argv: Vec<*mut libc::c_char> = owned
        .iter()
        .map(|s| s.as_ptr() as *mut libc::c_char)
        .collect();
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds argc valid NUL-terminated strings and a terminating null.
    unsafe { f(args.len() as libc::c_int, argv.as_mut_ptr()) }
}
