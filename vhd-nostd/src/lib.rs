//! The VHD (Microsoft Virtual Hard Disk v1, "conectix") engine core.
//!
//! `#![no_std]` and allocation-free: every buffer is supplied by the caller and all
//! file access goes through the [`Io`] trait. The modules follow the format:
//! [`footer`], [`header`] (dynamic disk header), [`locator`] (parent locators),
//! [`bat`] (block allocation table), [`batmap`] (blktap's full-block map),
//! [`bitmap`] (per-block sector bitmaps) and [`geometry`] (CHS).
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod alias;
pub mod allocation;
pub mod bat;
pub mod batmap;
pub mod bitmap;
mod bitmap_cache;
pub mod check;
pub mod checksum;
pub mod coalesce;
pub mod create;
pub mod disk;
mod endian;
pub mod error;
pub mod fill;
pub mod footer;
mod gather;
pub mod geometry;
pub mod header;
pub mod io;
pub mod journal;
pub mod keyhash;
pub mod layout;
pub mod locator;
pub mod parent;
pub mod preallocate;
pub mod read;
pub mod resize;
pub mod summary;
pub mod time;
pub mod utf;
pub mod write;
mod zero;

pub use disk::{
    probe, probe_found, Buffers, Disk, FoundFooter, Kind, Layout, OpenOptions, Recovered,
    BITMAP_CACHE_SLOTS,
};
pub use error::{Error, FormatError, Structure};
pub use footer::{DiskType, Footer};
pub use header::Header;
pub use io::Io;
pub use read::{read_chain, Source};
pub use summary::{summarize, Summary};

/// Bytes in a sector; every VHD offset and size is counted in these.
pub const SECTOR_SIZE: usize = 512;
/// log2 of [`SECTOR_SIZE`].
pub const SECTOR_SHIFT: u32 = 9;

/// Rounds a byte count up to whole sectors, returning the sector count.
pub const fn secs_round_up(bytes: u64) -> u64 {
    bytes.div_ceil(SECTOR_SIZE as u64)
}

/// Like [`secs_round_up`] but never less than one sector (blktap's `secs_round_up_no_zero`).
pub const fn secs_round_up_no_zero(bytes: u64) -> u64 {
    let s = secs_round_up(bytes);
    if s == 0 {
        1
    } else {
        s
    }
}

// The README's Rust example is compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
