//! What the library keeps per open context beyond the C struct: the engine's open disk
//! over the context's descriptor and, once a read needed them, its ancestors.
//!
//! `vhd_context_t` has no spare field, so the state lives in a table keyed by the
//! context's address (`vhd_open` registers it, `vhd_close` removes it). Each entry has
//! its own lock, so contexts do not serialize each other's I/O; the table's lock is held
//! only to find the entry.
//!
//! The engine's view and the C copies. The engine caches metadata (BAT, batmap, the
//! last bitmaps, where the footer sits); `ctx->bat` and `ctx->batmap` are filled from
//! that view when a client asks for them, and `vhd_io_write` keeps the entries it changes
//! equal in both. The one rule for everything else: any write through the context that
//! is not `vhd_io_write` (`vhd_write_footer*`, `vhd_write_header*`, `vhd_write_bat`,
//! `vhd_write_batmap`, `vhd_write_bitmap`, `vhd_write_block`, `vhd_write`, the locator
//! and parent writes) drops the engine's view first ([`with_io_writing`]; the batmap
//! bits it held back are written as it ends), and the next engine use reopens it from
//! disk, so the engine never acts on what is no longer on disk. Changes a client makes to `ctx->bat` or `ctx->batmap` in memory only are not
//! seen by `vhd_io_*` until it writes them.

use core::ffi::c_int;
use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use vhd_std::image::{open_disk, open_parents};
use vhd_std::{FileIo, Image, OpenMode, OpenOptions, VhdDisk};

use crate::ffi::{errno, Res};
use crate::types::vhd_context_t;

/// Opens `path` as vhd-std opens every image and parent (direct where possible, never
/// blocking, only a regular file or a block device).
pub(crate) fn open_file(path: &Path, mode: OpenMode) -> Res<FileIo> {
    FileIo::open(path, mode).map_err(errno)
}

/// The I/O of a descriptor a context (or a C client) owns: vhd-std works on a duplicate
/// of it, so the borrow lasts only this call.
pub(crate) fn borrow(fd: c_int) -> Res<FileIo> {
    if fd < 0 {
        return Err(-libc::EBADF);
    }
    // SAFETY: `fd` is a context's descriptor, open for the length of the libvhd call that
    // got here (a client closes it only with `vhd_close`); the borrow ends when
    // `FileIo::borrow` has duplicated it.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    FileIo::borrow(fd).map_err(errno)
}

/// Per-context state.
pub(crate) struct State {
    /// The image (first) and, when `parents` is set, its ancestors; empty after a
    /// metadata write until the next engine use reopens the image.
    chain: Vec<VhdDisk>,
    parents: bool,
    /// The image's I/O while `chain` is empty.
    idle: Option<FileIo>,
    fd: c_int,
    writable: bool,
    /// The path the image was opened with, against which relative parent locators
    /// resolve.
    file: PathBuf,
}

impl State {
    /// Opens the image on `fd` (which the context owns) with the engine.
    pub(crate) fn open(fd: c_int, opts: OpenOptions, file: PathBuf) -> Res<Self> {
        let image = open_disk(borrow(fd)?, opts).map_err(errno)?;
        Ok(State {
            chain: vec![image],
            parents: false,
            idle: None,
            fd,
            writable: opts.writable,
            file,
        })
    }

    /// The image as the engine sees it, reopened if a metadata write made the previous
    /// view stale. A reopen does not refuse a disabled image: the open that created this
    /// state already decided that.
    pub(crate) fn disk(&mut self) -> Res<&mut VhdDisk> {
        if self.chain.is_empty() {
            let io = match self.idle.take() {
                Some(io) => io,
                None => borrow(self.fd)?,
            };
            let opts = OpenOptions {
                writable: self.writable,
                strict: false,
                ignore_disabled: true,
            };
            self.chain.push(open_disk(io, opts).map_err(errno)?);
        }
        self.chain.first_mut().ok_or(-libc::EBADF)
    }

    /// The image and all its ancestors, opened on first use by vhd-std's chain rule
    /// (`vhd_std::image::open_parents`).
    pub(crate) fn chain(&mut self) -> Res<&mut [VhdDisk]> {
        self.disk()?;
        if !self.parents {
            self.chain.truncate(1);
            let top = self.chain.pop().ok_or(-libc::EBADF)?;
            let mut image = Image::from_disk(&self.file, top);
            let parents = open_parents(&mut image);
            self.chain.push(image.into_disk());
            let parents = parents.map_err(errno)?;
            self.chain.extend(parents.into_iter().map(Image::into_disk));
            self.parents = true;
        }
        Ok(&mut self.chain)
    }

    /// The engine's view of the image if it is current (not dropped by a metadata write
    /// since it was opened).
    pub(crate) fn view(&mut self) -> Option<&mut VhdDisk> {
        self.chain.first_mut()
    }

    /// The image's I/O, with or without an open engine view.
    pub(crate) fn io(&mut self) -> Res<&mut FileIo> {
        if let Some(image) = self.chain.first_mut() {
            return Ok(image.io());
        }
        if self.idle.is_none() {
            self.idle = Some(borrow(self.fd)?);
        }
        self.idle.as_mut().ok_or(-libc::EBADF)
    }

    /// Ends the engine's view around a metadata write (its held batmap bits are written
    /// as it ends, `Disk::into_io`); the next engine use reopens it.
    pub(crate) fn invalidate(&mut self) {
        self.chain.truncate(1);
        self.parents = false;
        if let Some(image) = self.chain.pop() {
            self.idle = Some(image.into_io());
        }
    }

    /// Ends the state of a closed context: a writable image is synced once (with
    /// `O_DIRECT` nothing else ever syncs), parents are closed.
    fn close(mut self) {
        if self.writable {
            self.invalidate();
            if let Ok(io) = self.io() {
                // Nothing to report to: vhd_close returns void, as the reference's.
                let _ = io.sync();
            }
        }
    }
}

type Shared = Arc<Mutex<State>>;

/// Open contexts by address.
static REGISTRY: Mutex<BTreeMap<usize, Shared>> = Mutex::new(BTreeMap::new());

/// Locks the registry, ignoring poisoning: a panic is caught at the boundary, and the
/// table is consistent between any two of its operations.
fn lock_registry() -> MutexGuard<'static, BTreeMap<usize, Shared>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Locks a context's state. If a call panicked while it held the state (the boundary
/// caught it), the engine's view may be half-updated: it is dropped, so the next use
/// reopens it from disk.
pub(crate) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| {
        let mut state = e.into_inner();
        state.invalidate();
        m.clear_poison();
        state
    })
}

fn key(ctx: &vhd_context_t) -> usize {
    ctx as *const vhd_context_t as usize
}

/// Registers the state of the context at `ctx`, replacing any stale entry.
pub(crate) fn register(ctx: &vhd_context_t, state: State) {
    let old = lock_registry().insert(key(ctx), Arc::new(Mutex::new(state)));
    drop(old);
}

/// Removes and ends the state of `ctx`, if any.
pub(crate) fn unregister(ctx: &vhd_context_t) {
    let old = lock_registry().remove(&key(ctx));
    if let Some(shared) = old {
        if let Ok(state) = Arc::try_unwrap(shared) {
            state
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .close();
        }
    }
}

/// The state of `ctx`, if `vhd_open` created one.
pub(crate) fn find(ctx: &vhd_context_t) -> Option<Shared> {
    lock_registry().get(&key(ctx)).cloned()
}

/// Runs `f` on the state of `ctx`; `-EINVAL` if the context was not opened by
/// `vhd_open`.
pub(crate) fn with_state<R>(ctx: &vhd_context_t, f: impl FnOnce(&mut State) -> Res<R>) -> Res<R> {
    let shared = find(ctx).ok_or(-libc::EINVAL)?;
    let mut state = lock(&shared);
    f(&mut state)
}

/// Runs `f` on the engine's current view of `ctx`'s image; `None` when there is none
/// (a context `vhd_open` did not make, or a view a metadata write dropped: what is on
/// disk is then the truth, and no engine is reopened just to copy it).
pub(crate) fn with_view<R>(
    ctx: &vhd_context_t,
    f: impl FnOnce(&mut VhdDisk) -> Res<R>,
) -> Option<Res<R>> {
    let shared = find(ctx)?;
    let mut state = lock(&shared);
    state.view().map(f)
}

/// Runs `f` on the I/O of `ctx`: its state's if it has one, else a temporary one over
/// `ctx->fd` (for contexts a client set up by hand).
pub(crate) fn with_io<R>(ctx: &vhd_context_t, f: impl FnOnce(&mut FileIo) -> Res<R>) -> Res<R> {
    match find(ctx) {
        Some(shared) => f(lock(&shared).io()?),
        None => f(&mut borrow(ctx.fd)?),
    }
}

/// As [`with_io`], for a write that is not `vhd_io_write`: the engine's view is dropped
/// first, so that what it held back lands before the write (the rule in the module
/// documentation).
pub(crate) fn with_io_writing<R>(
    ctx: &vhd_context_t,
    f: impl FnOnce(&mut FileIo) -> Res<R>,
) -> Res<R> {
    match find(ctx) {
        Some(shared) => {
            let mut state = lock(&shared);
            state.invalidate();
            f(state.io()?)
        }
        None => f(&mut borrow(ctx.fd)?),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use crate::bat::{vhd_get_bat, vhd_put_bat, vhd_write_bat};
    use crate::consts::{HD_TYPE_DYNAMIC, VHD_OPEN_RDWR};
    use crate::create::vhd_create;
    use crate::io::vhd_io_write;
    use crate::open::{vhd_close, vhd_open};
    use crate::types::vhd_context_t;

    /// A new 8 MiB dynamic image in its own directory, opened read-write into `ctx`
    /// (which must not move while open: the library knows it by its address).
    fn open_new(tag: &str, ctx: &mut vhd_context_t) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("vhd-capi-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.vhd");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid string and context.
        unsafe {
            assert_eq!(
                vhd_create(c.as_ptr(), 8 << 20, HD_TYPE_DYNAMIC as i32, 0),
                0
            );
            assert_eq!(vhd_open(ctx, c.as_ptr(), VHD_OPEN_RDWR), 0);
        }
        (dir, path)
    }

    /// `ctx->bat` comes from the engine's view while it is current (bytes changed on disk
    /// behind the library's back are not read again), and from disk once the client's
    /// own `vhd_write_bat` dropped that view.
    #[test]
    fn the_bat_is_the_engines_until_the_client_writes_one() {
        let mut ctx = vhd_context_t::zeroed();
        let (dir, path) = open_new("view", &mut ctx);
        let mut buf = vec![0x5au8; 512];
        // SAFETY: an open context and valid buffers throughout.
        unsafe {
            assert_eq!(vhd_io_write(&mut ctx, buf.as_mut_ptr().cast(), 0, 1), 0);
            let entry = *ctx.bat.bat;
            assert_ne!(entry, u32::MAX, "the write allocated block 0 in ctx->bat");
            // Block 0's entry overwritten on disk by someone else.
            let table = ctx.header.table_offset;
            let other = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            other.write_all_at(&[0x11; 4], table).unwrap();
            vhd_put_bat(&mut ctx);
            assert_eq!(vhd_get_bat(&mut ctx), 0);
            assert_eq!(
                *ctx.bat.bat, entry,
                "copied from the engine, not read again"
            );
            // The client's own BAT write drops the view: the next copy is the disk's.
            *ctx.bat.bat = 0x22;
            let bat: *mut _ = &mut ctx.bat;
            assert_eq!(vhd_write_bat(&mut ctx, bat), 0);
            other.write_all_at(&0x33u32.to_be_bytes(), table).unwrap();
            vhd_put_bat(&mut ctx);
            assert_eq!(vhd_get_bat(&mut ctx), 0);
            assert_eq!(
                *ctx.bat.bat, 0x33,
                "read from disk after the client's write"
            );
            vhd_close(&mut ctx);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A call that panicked while it held a context's state leaves no half-updated
    /// engine view behind: the next lock drops it (and the next I/O reopens it).
    #[test]
    fn a_panic_under_the_lock_drops_the_view() {
        let mut ctx = vhd_context_t::zeroed();
        let (dir, _) = open_new("poison", &mut ctx);
        let mut buf = vec![0x5au8; 512];
        // SAFETY: an open context and valid buffers throughout.
        unsafe {
            let shared = super::find(&ctx).unwrap();
            let poisoned = std::panic::catch_unwind(|| {
                let _held = shared.lock().unwrap();
                panic!("a bug while the state is held");
            });
            assert!(poisoned.is_err() && shared.is_poisoned());
            assert!(super::lock(&shared).view().is_none());
            assert!(!shared.is_poisoned());
            assert_eq!(vhd_io_write(&mut ctx, buf.as_mut_ptr().cast(), 0, 1), 0);
            assert!(super::lock(&shared).view().is_some());
            drop(shared);
            vhd_close(&mut ctx);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
