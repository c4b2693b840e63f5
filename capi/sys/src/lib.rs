//! Safe wrappers of the few C library calls vhd-util makes whose exact glibc behaviour
//! scripts observe (glob order and brace expansion, `fnmatch` flags, local time with
//! `TZ`, dying quietly on `SIGPIPE`) and that Rust's standard library does not offer.
//! Kept beside the C ABI layer so that `unsafe` stays in `capi/`; each call is checked
//! here once, and the crates above forbid `unsafe` code.

use std::ffi::{CStr, CString};

pub mod uring;

/// Restores the default `SIGPIPE` action (the Rust runtime ignores it), so that output
/// into a closed pipe ends the process quietly as it does the C tools. Call it before
/// any thread starts.
pub fn default_sigpipe() {
    // SAFETY: signal() with SIG_DFL installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `glob(3)`: the paths matching `pattern`, sorted as glibc sorts them unless `sort` is
/// false, with `{a,b}` expanded when `brace` is set. No match, or a pattern holding a
/// NUL, gives none.
pub fn glob(pattern: &str, sort: bool, brace: bool) -> Vec<String> {
    let Ok(pat) = CString::new(pattern) else {
        return Vec::new();
    };
    // SAFETY: glob_t is plain old data; glob() initialises it.
    let mut g: libc::glob_t = unsafe { std::mem::zeroed() };
    let flags = if sort { 0 } else { libc::GLOB_NOSORT } | if brace { libc::GLOB_BRACE } else { 0 };
    // SAFETY: `pat` is a valid NUL-terminated string and `g` a live glob_t; no error
    // callback is passed.
    let rc = unsafe { libc::glob(pat.as_ptr(), flags, None, &mut g) };
    let mut out = Vec::new();
    if rc == 0 {
        for i in 0..g.gl_pathc {
            // SAFETY: glob() filled gl_pathv with gl_pathc valid C strings.
            let p = unsafe { CStr::from_ptr(*g.gl_pathv.add(i)) };
            out.push(p.to_string_lossy().into_owned());
        }
    }
    // SAFETY: `g` was initialised by glob() above (globfree is safe after a failed glob
    // on a zeroed glob_t too).
    unsafe { libc::globfree(&mut g) };
    out
}

/// `fnmatch(pattern, name, FNM_PATHNAME) == 0`; a string holding a NUL matches nothing.
pub fn fnmatch_pathname(pattern: &str, name: &str) -> bool {
    let (Ok(p), Ok(n)) = (CString::new(pattern), CString::new(name)) else {
        return false;
    };
    // SAFETY: both are NUL-terminated strings that outlive the call.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), libc::FNM_PATHNAME) == 0 }
}

/// Broken-down local time (`TZ` applies), as `localtime_r` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 0 = January.
    pub month: i32,
    pub day: i32,
    pub hour: i32,
    pub minute: i32,
    pub second: i32,
    /// 0 = Sunday.
    pub weekday: i32,
}

/// `localtime_r` of `unix` seconds; `None` where the C library cannot represent it.
pub fn local_time(unix: i64) -> Option<LocalTime> {
    let t = libc::time_t::try_from(unix).ok()?;
    // SAFETY: `tm` is plain old data, so all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; localtime_r is the reentrant form and
    // only writes `tm`.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return None;
    }
    Some(LocalTime {
        year: tm.tm_year + 1900,
        month: tm.tm_mon,
        day: tm.tm_mday,
        hour: tm.tm_hour,
        minute: tm.tm_min,
        second: tm.tm_sec,
        weekday: tm.tm_wday,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_agree_with_what_they_wrap() {
        assert!(fnmatch_pathname("VHD-*", "VHD-abc"));
        assert!(!fnmatch_pathname("*", "a/b"), "FNM_PATHNAME: * stops at /");
        assert!(!fnmatch_pathname("a\0", "a"));
        let d = std::env::temp_dir().join(format!("vhd-sys-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        for n in ["b.vhd", "a.vhd", "c.raw"] {
            std::fs::write(d.join(n), b"").unwrap();
        }
        let p = d.to_str().unwrap();
        let got = glob(&format!("{p}/*.vhd"), true, false);
        assert_eq!(got, [format!("{p}/a.vhd"), format!("{p}/b.vhd")]);
        assert_eq!(glob(&format!("{p}/{{c.raw,a.vhd}}"), true, true).len(), 2);
        assert!(glob(&format!("{p}/{{c.raw,a.vhd}}"), true, false).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
        // 2000-01-01 00:00:00 UTC, the VHD epoch, is a Saturday somewhere near it.
        let t = local_time(946_684_800).unwrap();
        assert!((1999..=2000).contains(&t.year) && (5..=6).contains(&t.weekday));
    }
}
