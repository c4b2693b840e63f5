//! blktap3's C ABI (`libvhd.so.0`, xapi-project/blktap, as XenServer and XCP-ng ship
//! it), built with the `blktap3` feature: a second boundary over the same core.
//!
//! blktap3 changed a few structs (the context gained `offset` and three trailing
//! fields, the batmap header fills its sector, the journal grows with the context), six
//! signatures, and added functions. Everything blktap2 and blktap3 share is the code in
//! the crate's other modules, compiled with blktap3's struct layouts; what differs lives
//! here. An export whose meaning changed keeps its blktap2 body and is exported by name
//! only in blktap2 (its `no_mangle` is a `cfg_attr` on the feature being off); the export here
//! calls it and adds what blktap3 does. The removed `vhd_uuid_*` are exported only by
//! blktap2. `capi/abi/blktap3-symbols.txt` is the exported set, checked exactly.
//!
//! - [`consts`]: the constants blktap3's headers add or change (compiled always, for the
//!   header generator).
//! - [`types`], [`list`]: the structs whose layout differs.
//! - [`data`]: exported data (`hd_type_str`, `CRYPTO_SUPPORTED_KEYSIZE`).
//! - [`open`]: open and close (file position, cached chains, backup footer), custom parent.
//! - [`create`]: `vhd_create` / `vhd_snapshot` with metadata preallocation.
//! - [`meta`]: footers (backup reads, fast resize), marker and key hash.
//! - [`batmap`]: the batmap functions with their new signatures.
//! - [`io`]: the file position, byte-granular I/O, bitmaps and fast block allocation.
//! - [`parent`]: locators (encoding, writing, unresolved reads), reparenting.
//! - [`path`], [`canon`]: `canonpath`, `normalize_path`, xattrs, `open_optional_odirect`.
//! - [`util`]: the new `vhd_util_*` and the key-file helpers.
//! - [`index`]: the vhd-index exports (`vhdi_*`); `index_files` holds their file formats.
//! - [`lvm`]: `lvm_scan_vg`, `lvm_free_vg`.

pub mod consts;

/// A C status (0 or a negative errno) as a result, for exports that call others.
#[cfg(feature = "blktap3")]
pub(crate) fn status(ret: core::ffi::c_int) -> crate::ffi::Res<()> {
    match ret {
        0 => Ok(()),
        e => Err(e),
    }
}

#[cfg(feature = "blktap3")]
pub mod batmap;
#[cfg(feature = "blktap3")]
pub mod canon;
#[cfg(feature = "blktap3")]
pub mod create;
#[cfg(feature = "blktap3")]
pub mod data;
#[cfg(feature = "blktap3")]
pub mod index;
#[cfg(feature = "blktap3")]
mod index_files;
#[cfg(feature = "blktap3")]
pub mod io;
#[cfg(feature = "blktap3")]
pub mod list;
#[cfg(feature = "blktap3")]
pub mod lvm;
#[cfg(feature = "blktap3")]
pub mod meta;
#[cfg(feature = "blktap3")]
pub mod open;
#[cfg(feature = "blktap3")]
pub mod parent;
#[cfg(feature = "blktap3")]
pub mod path;
#[cfg(feature = "blktap3")]
pub mod types;
#[cfg(feature = "blktap3")]
pub mod util;
