//! The boundary rules shared by every exported function: no panic crosses into C, and
//! every failure is a negative `errno`.
//!
//! Every exported (`no_mangle`) function's body is one [`boundary!`] (a test in this module reads
//! the sources and checks it): the body runs under `catch_unwind`, and a panic, which
//! would be a bug in the library, becomes the function's error value (`-EIO`, or the
//! neutral value the export documents when its C type cannot carry an errno) instead of
//! unwinding into C or aborting the host process. `lib.rs` refuses to build with
//! `panic = "abort"`, under which nothing would be caught.

use core::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use vhd_std::Errno;

use crate::types::vhd_context_t;

/// A result whose error is a negative `errno`, as libvhd returns them.
pub(crate) type Res<T> = Result<T, c_int>;

/// The body of an exported function: `boundary!({ ... })` runs a body returning
/// `Res<()>` and gives 0 or its negative errno (`-EIO` if it panicked);
/// `boundary!(on_panic = value, { ... })` runs a body of any type and gives `value` if it
/// panicked.
macro_rules! boundary {
    (on_panic = $on_panic:expr, $body:block) => {
        $crate::ffi::guard($on_panic, || $body)
    };
    ($body:block) => {
        $crate::ffi::call(|| $body)
    };
}
pub(crate) use boundary;

/// Runs `body`, returning `on_panic` instead if it panics, so that no unwind ever crosses
/// into C. Only [`boundary!`] calls it.
pub(crate) fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        tests::panic_if_armed();
        body()
    }))
    .unwrap_or(on_panic)
}

/// Runs `body` under [`guard`] and returns 0 or its negative `errno` (`-EIO` if it
/// panicked).
pub(crate) fn call(body: impl FnOnce() -> Res<()>) -> c_int {
    guard(-libc::EIO, || body().err().unwrap_or(0))
}

/// The negative `errno` of an engine, file or system error: vhd-std's mapping
/// ([`vhd_std::errno`]), the one the tools use.
pub(crate) fn errno(e: impl Into<Errno>) -> c_int {
    e.into().code()
}

/// The negative `errno` of the last failed system call.
pub(crate) fn last_errno() -> c_int {
    errno(std::io::Error::last_os_error())
}

/// The context behind a C pointer; `-EINVAL` for null.
///
/// # Safety
/// `ctx` must be null or point to a context that stays valid, and is not otherwise
/// accessed, for `'a`.
pub(crate) unsafe fn context<'a>(ctx: *mut vhd_context_t) -> Res<&'a mut vhd_context_t> {
    // SAFETY: null or valid and exclusive (caller's contract).
    unsafe { ctx.as_mut() }.ok_or(-libc::EINVAL)
}

/// The object behind a C out- or in-out pointer; `-EINVAL` for null.
///
/// # Safety
/// `p` must be null or point to a valid, writable `T` not otherwise accessed for `'a`.
pub(crate) unsafe fn object<'a, T>(p: *mut T) -> Res<&'a mut T> {
    // SAFETY: null or valid and exclusive (caller's contract).
    unsafe { p.as_mut() }.ok_or(-libc::EINVAL)
}

/// A C string argument; `-EINVAL` for null.
///
/// # Safety
/// `s` must be null or a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn c_str<'a>(s: *const c_char) -> Res<&'a CStr> {
    if s.is_null() {
        return Err(-libc::EINVAL);
    }
    // SAFETY: non-null, so NUL-terminated (caller's contract).
    Ok(unsafe { CStr::from_ptr(s) })
}

/// A shared view of the object behind a C pointer; `-EINVAL` for null.
///
/// # Safety
/// `p` must be null or point to a valid `T` not written for `'a`.
pub(crate) unsafe fn shared<'a, T>(p: *const T) -> Res<&'a T> {
    // SAFETY: null or valid (caller's contract).
    unsafe { p.as_ref() }.ok_or(-libc::EINVAL)
}

/// Runs `f` on a copy of `*p` and stores the copy back, whatever `f` returns. For
/// in-out arguments that may point into a context `f` also uses (`&ctx->footer`): no
/// reference to `*p` is alive while `f` runs.
///
/// # Safety
/// `p` must be null or point to a valid, writable `T`, and `f` must not keep a
/// reference to the memory of `*p` past its return.
pub(crate) unsafe fn with_copy<T: Copy>(p: *mut T, f: impl FnOnce(&mut T) -> Res<()>) -> Res<()> {
    if p.is_null() {
        return Err(-libc::EINVAL);
    }
    // SAFETY: non-null, so valid (caller's contract).
    let mut value = unsafe { p.read() };
    let result = f(&mut value);
    // SAFETY: as above; nothing else refers to `*p` now.
    unsafe { p.write(value) };
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    thread_local! {
        /// Set by [`arm_panic`]: the next boundary on this thread panics inside.
        static PANIC_NEXT: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes the next export called on this thread panic inside its boundary.
    pub(crate) fn arm_panic() {
        PANIC_NEXT.with(|p| p.set(true));
    }

    /// The test hook [`guard`] runs first: panics once if armed.
    pub(crate) fn panic_if_armed() {
        if PANIC_NEXT.with(|p| p.replace(false)) {
            panic!("panic injected by a test");
        }
    }

    /// Every exported function's body is exactly one `boundary!`: after the `{` that
    /// opens it, the first code is `boundary!(` and its closing `)` is the body's end.
    #[test]
    fn every_export_goes_through_the_boundary() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut exports = 0;
        let mut missing = Vec::new();
        // src/ and the flavour modules below it (blktap3/).
        let mut files = Vec::new();
        let mut dirs = vec![dir];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            // Exports of one flavour only are `#[cfg_attr(not(feature = ...), no_mangle)]`.
            let text = text.replace(
                concat!("#[cfg_attr(not(feature = \"blktap3\"), no_", "mangle)]"),
                concat!("#[no_", "mangle]"),
            );
            for (i, part) in text.split(concat!("#[no_", "mangle]")).enumerate().skip(1) {
                let item = part.trim_start();
                // Exported data (TEST_FAIL, ENV_VAR_FAIL) runs no code.
                if item.starts_with("pub static") {
                    continue;
                }
                exports += 1;
                let name = item
                    .split("fn ")
                    .nth(1)
                    .and_then(|r| r.split('(').next())
                    .unwrap_or("?")
                    .to_owned();
                let open = item.find('{').unwrap();
                let mut depth = 0;
                let close = item[open..]
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map(|(i, _)| open + i)
                    .unwrap();
                let code: Vec<&str> = item[open + 1..close]
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("//"))
                    .collect();
                let ok = code.first().is_some_and(|l| l.starts_with("boundary!("))
                    && code.last().is_some_and(|l| l.ends_with(')'));
                if !ok {
                    missing.push(format!("{}#{i} {name}", path.display()));
                }
            }
        }
        assert!(exports > 100, "only {exports} exports found");
        assert!(
            missing.is_empty(),
            "exports without boundary!: {missing:#?}"
        );
    }

    #[test]
    fn a_panic_becomes_the_error_value() {
        use crate::types::{vhd_context_t, vhd_footer_t};
        let mut ctx = vhd_context_t::zeroed();
        arm_panic();
        // SAFETY: a valid, writable context and path.
        let r = unsafe { crate::open::vhd_open(&mut ctx, c"/nonexistent".as_ptr(), 0) };
        assert_eq!(r, -libc::EIO);
        // An export whose C type carries no errno gives its documented neutral value.
        let mut footer = vhd_footer_t::zeroed();
        arm_panic();
        // SAFETY: a valid footer.
        let sum = unsafe { crate::helpers::vhd_checksum_footer(&mut footer) };
        assert_eq!(sum, 0);
        arm_panic();
        let mut err = 1;
        // SAFETY: valid strings and error slot.
        let p = unsafe {
            crate::path::relative_path_to(
                c"/".as_ptr().cast_mut(),
                c"/".as_ptr().cast_mut(),
                &mut err,
            )
        };
        assert!(p.is_null());
        // Disarmed again: the same call runs normally.
        // SAFETY: as above.
        let r = unsafe { crate::open::vhd_open(&mut ctx, c"/nonexistent".as_ptr(), 0) };
        assert_eq!(r, -libc::ENOENT);
    }
}
