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

/// `vhd-util copy -n SRC -N DST [-k KEYFILE | -E]`: a new dynamic image DST with SRC's
/// content (blocks allocated in SRC, read through its chain), encrypted with AES-XTS
/// when a key is given (from the file, or from standard input with `-E`), as the
/// `vhd-util copy` subcommand does.
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

/// Reads an encryption key from `fd` (to its end): a 32- or 64-byte key (AES-XTS with
/// 128- or 256-bit AES) is stored malloc'd in `*key` and its length in bytes in `*size`.
/// `-EINVAL` for any other length, the read's error otherwise. The key rules are
/// `vhd-util copy`'s (`vhd_cli::cipher::read_key`).
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
        let k = match vhd_cli::cipher::read_key(&mut FdReader(fd)) {
            Ok(k) => k,
            Err(vhd_cli::cipher::KeyError::Io(e)) => return Err(e.code()),
            Err(_) => return Err(-libc::EINVAL),
        };
        let p = crate::cmem::c_string(k.as_bytes())?.cast::<u8>();
        *key = p;
        *size = k.as_bytes().len() as c_int;
        Ok(())
    })
}

/// Reads from a descriptor the caller keeps (not closed here).
struct FdReader(c_int);

impl std::io::Read for FdReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: reads into `buf`, at most its length; a bad descriptor fails (EBADF).
        let r = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}
