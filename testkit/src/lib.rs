//! The test kit of vhd-rs: what the core's, vhd-std's and vhd-util's test suites share, so
//! that each helper lives once. A dev-dependency only, never published.
//!
//! - [`rng`]: the seeded generator every randomized test draws from, and `env_u64` for
//!   the knobs that lengthen a run.
//! - [`dirs`]: fresh work directories under the caller's target directory
//!   ([`workdir!`]).
//! - [`mem`]: in-memory files (`VecIo`) and the fault-injecting wrapper (`FaultIo`) the
//!   power-cut harnesses use.
//! - [`build`]: images made through the core (dynamic, fixed, differencing), opened with
//!   buffers sized by `probe`, and the sample images of `tests/data/images`.
//! - [`damage`]: edits of an image's bytes that keep it parseable where the case needs it
//!   (footers, header, BAT, batmap and locators, checksums resealed), on an in-memory
//!   image or a file alike ([`damage::Bytes`]).
//!
//! Heap buffers are fine here: tests run with std, the core itself never allocates.

pub mod build;
pub mod damage;
pub mod dirs;
pub mod mem;
pub mod rng;

pub use build::*;
pub use damage::*;
pub use dirs::*;
pub use mem::*;
pub use rng::*;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// Whether the suite runs under Miri, which interprets every byte: there the suites take
/// their reduced sizes and counts (`make miri`).
pub const MIRI: bool = cfg!(miri);

/// `full` normally, `miri` under Miri.
pub const fn scaled(full: u64, miri: u64) -> u64 {
    if MIRI {
        miri
    } else {
        full
    }
}
