//! The `std` side of vhd-rs: what the `no_std` core leaves to its host, for the tools and
//! the C library alike (the library adds only C conversions and exports).
//!
//! - [`FileIo`]: the core's [`vhd_nostd::io::Io`] over a file, opened `O_DIRECT` as blktap
//!   does, falling back to buffered I/O where the file system refuses it; or over a
//!   descriptor a C client owns ([`FileIo::borrow`]).
//! - [`Image`] and [`Chain`]: an open image with its buffers ([`image::open_disk`]), and
//!   a differencing disk with its parents found through the parent locators
//!   ([`image::open_parents`], the one chain resolver).
//! - [`path`]: relative paths for locators and locators resolved to files.
//! - [`canonpath`]: how a child names its parent (blktap2's `realpath`, blktap3's
//!   `canonpath`, which keeps LVM volumes by their `/dev/mapper` names).
//! - [`create_file`] and [`snapshot_file`]: new images as `vhd-util create`/`snapshot`
//!   make them.
//! - [`blockdev`]: images on block devices (LVM volumes): where one ends, since a device
//!   is never truncated, and a window onto part of a device.
//! - [`summary`]: an image's footer, header and hidden flag without a full open.
//! - [`errno`]: core errors as libvhd's negative errno values.
//! - [`journal`]: the metadata journal of `vhd-util resize`/`revert` (libvhd's file
//!   layout; the core's format and crash-safe protocol over files).
//! - [`tags`]: blktap3's marker byte and key hash (batmap header, or extended attributes).
//! - [`reparent`]: pointing a differencing disk at a new parent, under that journal.
//! - [`resize`]: growing a sparse disk under that journal, resizing a fixed one.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod blockdev;
pub mod canonpath;
pub mod create;
pub mod errno;
pub mod fileio;
pub mod image;
pub mod journal;
pub mod path;
pub mod reparent;
pub mod resize;
pub mod summary;
pub mod tags;
pub mod time;

pub use create::{create_file, find_backing, snapshot_file, Backing};
pub use errno::{Errno, VhdResult};
pub use fileio::{FileIo, IoError, OpenMode};
pub use image::{
    chain_depth, walk_chain, walk_chain_avoiding, Chain, ChainEnd, FileId, Image, ParentRef,
    VhdDisk, MAX_CHAIN_DEPTH,
};
pub use vhd_nostd::OpenOptions;
