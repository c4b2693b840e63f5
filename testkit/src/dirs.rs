//! Work directories for tests that need real files.

use std::path::PathBuf;

/// Makes `dir` empty: removes whatever an earlier run left there, then creates it.
pub fn fresh_dir(dir: PathBuf) -> PathBuf {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// A fresh, empty directory under the calling test crate's `CARGO_TARGET_TMPDIR` (a real
/// disk inside the target directory, where `O_DIRECT` usually works), at the path the
/// arguments name: `workdir!("vhd-util-cli", name)`. A macro so that the caller's
/// target directory is the one used.
#[macro_export]
macro_rules! workdir {
    ($($part:expr),+ $(,)?) => {
        $crate::fresh_dir(
            ::std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")) $(.join($part))+
        )
    };
}
