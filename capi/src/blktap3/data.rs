//! Data blktap3's library exports beside `TEST_FAIL` and `ENV_VAR_FAIL`.

use core::ffi::{c_char, c_int};

/// Key sizes (in bits) tapdisk's crypto accepts, ended by -1.
// C may write the array, hence a `static mut`; the library never reads it.
#[no_mangle]
pub static mut CRYPTO_SUPPORTED_KEYSIZE: [c_int; 3] = [512, 256, -1];

/// Names of the footer's disk types, indexed by type (blktap2's `HD_TYPE_STR` table,
/// exported as data instead of defined in the header).
// An array of raw pointers is not `Sync`, which a `static mut` does not require.
#[no_mangle]
pub static mut hd_type_str: [*mut c_char; 7] = [
    c"None".as_ptr().cast_mut(),
    c"Reserved (deprecated)".as_ptr().cast_mut(),
    c"Fixed hard disk".as_ptr().cast_mut(),
    c"Dynamic hard disk".as_ptr().cast_mut(),
    c"Differencing hard disk".as_ptr().cast_mut(),
    c"Reserved (deprecated)".as_ptr().cast_mut(),
    c"Reserved (deprecated)".as_ptr().cast_mut(),
];
