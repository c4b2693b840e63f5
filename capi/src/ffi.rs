//! The boundary rule shared by every exported function: no panic crosses into C.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`, returning `on_panic` instead if it panics, so that no unwind ever crosses
/// into C. The release profile aborts on panic anyway; this keeps debug and test builds
/// (which unwind) just as safe.
pub(crate) fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}
