//! The `vhd-util` subcommands blktap3 added (`vhd_util_key`, `vhd_util_copy`) and the
//! helpers tapdisk uses to find an image's key file.

use core::ffi::{c_char, c_int, CStr};

use crate::ffi::{boundary, object};
use crate::types::vhd_context_t;
use crate::util::dispatch;

/// `vhd-util key`: calculates, stores, checks or prints the key hash of an image, as
/// the `vhd-util key` subcommand does.
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_key(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::key::run) }
    })
}

/// `vhd-util copy -n SRC -N DST`: a new dynamic image DST with SRC's content (blocks
/// allocated in SRC, read through its chain), as the `vhd-util copy` subcommand does;
/// the encrypted copy (`-k`, `-E`) is not implemented (COMPATIBILITY.md).
///
/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_copy(argc: c_int, argv: *mut *mut c_char) -> c_int {
    boundary!(on_panic = -libc::EIO, {
        // SAFETY: caller's contract.
        unsafe { dispatch(argc, argv, vhd_cli::copy::run) }
    })
}

/// The file name of the image `ctx` was opened from, cut at its first `.vhd` (the part
/// tapdisk names key files after: `<basename>,aes-xts-plain,<bits>.key`); malloc'd, or
/// NULL for a context without a file name or when memory runs out.
///
/// # Safety
/// `ctx` must be null or an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_util_get_vhd_basename(ctx: *mut vhd_context_t) -> *mut c_char {
    boundary!(on_panic = core::ptr::null_mut(), {
        // SAFETY: caller's contract.
        let Ok(c) = (unsafe { object(ctx) }) else {
            return core::ptr::null_mut();
        };
        if c.file.is_null() {
            return core::ptr::null_mut();
        }
        // SAFETY: the string vhd_open copied.
        let file = unsafe { CStr::from_ptr(c.file) }.to_bytes();
        let base = file.rsplit(|&b| b == b'/').next().unwrap_or(file);
        let cut = base
            .windows(4)
            .position(|w| w == b".vhd")
            .map_or(base, |i| &base[..i]);
        crate::cmem::c_string(cut).unwrap_or(core::ptr::null_mut())
    })
}

/// Largest key read from a key file: 512 bits.
const MAX_KEY_BYTES: usize = 64;

/// Reads an encryption key from `fd` (to its end): a 32- or 64-byte key (AES-XTS with
/// 128- or 256-bit AES) is stored malloc'd in `*key` and its length in bytes in `*size`.
/// `-EINVAL` for any other length, the read's error otherwise.
///
/// # Safety
/// `key` and `size` must be writable.
#[no_mangle]
pub unsafe extern "C" fn read_encryption_key(
    fd: c_int,
    key: *mut *mut u8,
    size: *mut c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (key, size) = unsafe { (object(key)?, object(size)?) };
        let mut buf = [0u8; MAX_KEY_BYTES + 1];
        let mut n = 0;
        while n < buf.len() {
            // SAFETY: reads into the rest of a local buffer.
            let r = unsafe { libc::read(fd, buf[n..].as_mut_ptr().cast(), buf.len() - n) };
            match r {
                0 => break,
                r if r > 0 => n += r as usize,
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(-e.raw_os_error().unwrap_or(libc::EIO));
                    }
                }
            }
        }
        if n != 32 && n != 64 {
            return Err(-libc::EINVAL);
        }
        let p = crate::cmem::c_string(&buf[..n])?.cast::<u8>();
        *key = p;
        *size = n as c_int;
        Ok(())
    })
}
