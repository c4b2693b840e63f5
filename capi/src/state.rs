//! What the library keeps per open context beyond the C struct: the engine's open disk
//! over the context's descriptor and, once a read needed them, its ancestors.
//!
//! `vhd_context_t` has no spare field, so the state lives in a table keyed by the
//! context's address (`vhd_open` registers it, `vhd_close` removes it). Each entry has
//! its own lock, so contexts do not serialize each other's I/O; the table's lock is held
//! only to find the entry.
//!
//! The engine caches metadata (BAT, batmap, the last bitmap, where the footer sits).
//! Whenever the library writes metadata on its own behalf (`vhd_write_footer`,
//! `vhd_write_bat`, `vhd_change_parent`, ...) the cached disk is dropped and reopened by
//! the next data I/O, so the engine never acts on what is no longer on disk.

use core::ffi::c_int;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use vhd_nostd::{probe, Buffers, Disk, OpenOptions, BITMAP_CACHE_SLOTS};

use crate::alloc::AlignedBuf;
use crate::fdio::{open_direct, FdIo};
use crate::ffi::{errno, Res};
use crate::parent;
use crate::types::vhd_context_t;

/// An image opened by the engine over a descriptor.
pub(crate) type Image = Disk<FdIo, AlignedBuf>;

/// Longest chain (the image and its ancestors) the library follows. The reference has no
/// limit and loops forever on a cycle; see COMPATIBILITY.md.
pub(crate) const MAX_CHAIN_DEPTH: usize = 256;

/// Opens an image with the engine: sizes its buffers with `probe` (bounded by the file),
/// then opens it.
pub(crate) fn open_image(mut io: FdIo, opts: OpenOptions) -> Res<Image> {
    let layout = probe(&mut io).map_err(errno)?;
    let bufs = Buffers {
        bat: AlignedBuf::zeroed(layout.bat_bytes)?,
        batmap: AlignedBuf::zeroed(layout.batmap_bytes)?,
        bitmap: AlignedBuf::zeroed(layout.bitmap_cache_bytes(BITMAP_CACHE_SLOTS))?,
    };
    let mut disk = Disk::open(io, bufs, opts).map_err(errno)?;
    if opts.writable {
        // Blocks sharing storage take no writes (their data would land elsewhere).
        let mut work = vec![0u8; vhd_nostd::alias::work_size(disk.bat().entries())];
        disk.scan_overlaps(&mut work).map_err(errno)?;
    }
    if disk.disk_type() == Some(vhd_nostd::DiskType::Differencing) {
        // Reads that interleave this disk's runs with its parent's stage them here.
        let len = disk.read_scratch_bytes().min(READ_SCRATCH_MAX);
        disk.set_read_scratch(AlignedBuf::zeroed(len)?);
    }
    Ok(disk)
}

/// At most this much staging room per open differencing disk (a request's range within
/// one block rarely exceeds it; larger ones are read run by run).
const READ_SCRATCH_MAX: usize = 1 << 20;

/// Opens the image at `path` read-only, as a parent or for a query.
pub(crate) fn open_image_path(path: &Path) -> Res<Image> {
    open_image(open_file(path, libc::O_RDONLY)?, OpenOptions::default())
}

/// Opens `path` with `flags` (direct where possible) as a descriptor of the library's
/// own, not inherited by programs the client runs. A parent named by a hostile locator
/// can be anything: the open never blocks (a FIFO), and what is not a regular file or a
/// block device is refused (vhd-std's rule).
pub(crate) fn open_file(path: &Path, flags: c_int) -> Res<FdIo> {
    let c = parent::c_path(path)?;
    let flags = flags | libc::O_CLOEXEC | vhd_std::fileio::OPEN_NONBLOCK;
    let (fd, direct) = open_direct(&c, flags, 0)?;
    let io = FdIo::new(fd, true, direct)?;
    io.require_image_file()?;
    Ok(io)
}

/// Per-context state.
pub(crate) struct State {
    /// The image (first) and, when `parents` is set, its ancestors; empty after a
    /// metadata write until the next data I/O reopens the image.
    chain: Vec<Image>,
    parents: bool,
    /// The image's I/O while `chain` is empty.
    idle: Option<FdIo>,
    fd: c_int,
    direct: bool,
    writable: bool,
    /// The path the image was opened with, against which relative parent locators
    /// resolve.
    file: PathBuf,
}

impl State {
    /// Opens the image on `fd` (which the context owns) with the engine.
    pub(crate) fn open(fd: c_int, direct: bool, opts: OpenOptions, file: PathBuf) -> Res<Self> {
        let image = open_image(FdIo::new(fd, false, direct)?, opts)?;
        Ok(State {
            chain: vec![image],
            parents: false,
            idle: None,
            fd,
            direct,
            writable: opts.writable,
            file,
        })
    }

    /// The image as the engine sees it, reopened if a metadata write made the previous
    /// view stale. A reopen does not refuse a disabled image: the open that created this
    /// state already decided that.
    pub(crate) fn disk(&mut self) -> Res<&mut Image> {
        if self.chain.is_empty() {
            let io = match self.idle.take() {
                Some(io) => io,
                None => FdIo::new(self.fd, false, self.direct)?,
            };
            let opts = OpenOptions {
                writable: self.writable,
                strict: false,
                ignore_disabled: true,
            };
            self.chain.push(open_image(io, opts)?);
        }
        self.chain.first_mut().ok_or(-libc::EBADF)
    }

    /// The image and all its ancestors, opened on first use: parents are found through
    /// the locators (relative to the child's directory), must carry the UUID the child
    /// names (a nil UUID means a raw parent, the end of the chain), and may neither
    /// repeat a file nor exceed [`MAX_CHAIN_DEPTH`].
    pub(crate) fn chain(&mut self) -> Res<&mut [Image]> {
        self.disk()?;
        if !self.parents {
            self.chain.truncate(1);
            let result = self.open_parents();
            if result.is_err() {
                self.chain.truncate(1);
            }
            result?;
            self.parents = true;
        }
        Ok(&mut self.chain)
    }

    fn open_parents(&mut self) -> Res<()> {
        let mut seen = Vec::new();
        let mut path = self.file.clone();
        loop {
            let child = self.chain.last_mut().ok_or(-libc::EBADF)?;
            // Files are told apart by device and inode of the open descriptors, so an
            // image whose name went away still reads.
            seen.push(child.io().id()?);
            let Some(link) = parent::parent_of(child, &path)? else {
                return Ok(());
            };
            if self.chain.len() >= MAX_CHAIN_DEPTH {
                return Err(-libc::EINVAL);
            }
            let io = open_file(&link.path, libc::O_RDONLY)?;
            if seen.contains(&io.id()?) {
                return Err(-libc::EINVAL);
            }
            let image = if link.raw {
                Disk::open_raw(io, false).map_err(errno)?
            } else {
                let image = open_image(io, OpenOptions::default())?;
                if image.footer().uuid != link.uuid {
                    return Err(-libc::EINVAL);
                }
                image
            };
            let raw = link.raw;
            self.chain.push(image);
            if raw {
                return Ok(());
            }
            path = link.path;
        }
    }

    /// The image's I/O, with or without an open engine view.
    pub(crate) fn io(&mut self) -> Res<&mut FdIo> {
        if let Some(image) = self.chain.first_mut() {
            return Ok(image.io());
        }
        if self.idle.is_none() {
            self.idle = Some(FdIo::new(self.fd, false, self.direct)?);
        }
        self.idle.as_mut().ok_or(-libc::EBADF)
    }

    /// Forgets the engine's view after a metadata write; the next data I/O reopens it.
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

/// Locks `m`, ignoring poisoning: a panic is caught at the boundary and every state
/// stays consistent between engine calls.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(ctx: &vhd_context_t) -> usize {
    ctx as *const vhd_context_t as usize
}

/// Registers the state of the context at `ctx`, replacing any stale entry.
pub(crate) fn register(ctx: &vhd_context_t, state: State) {
    let old = lock(&REGISTRY).insert(key(ctx), Arc::new(Mutex::new(state)));
    drop(old);
}

/// Removes and ends the state of `ctx`, if any.
pub(crate) fn unregister(ctx: &vhd_context_t) {
    let old = lock(&REGISTRY).remove(&key(ctx));
    if let Some(shared) = old {
        if let Ok(state) = Arc::try_unwrap(shared).map(|m| m.into_inner()) {
            state.unwrap_or_else(|e| e.into_inner()).close();
        }
    }
}

/// The state of `ctx`, if `vhd_open` created one.
pub(crate) fn find(ctx: &vhd_context_t) -> Option<Shared> {
    lock(&REGISTRY).get(&key(ctx)).cloned()
}

/// Runs `f` on the state of `ctx`; `-EINVAL` if the context was not opened by
/// `vhd_open`.
pub(crate) fn with_state<R>(ctx: &vhd_context_t, f: impl FnOnce(&mut State) -> Res<R>) -> Res<R> {
    let shared = find(ctx).ok_or(-libc::EINVAL)?;
    let mut state = lock(&shared);
    f(&mut state)
}

/// Runs `f` on the I/O of `ctx`: its state's if it has one, else a temporary one over
/// `ctx->fd` (for contexts a client set up by hand).
pub(crate) fn with_io<R>(ctx: &vhd_context_t, f: impl FnOnce(&mut FdIo) -> Res<R>) -> Res<R> {
    match find(ctx) {
        Some(shared) => f(lock(&shared).io()?),
        None => f(&mut FdIo::borrowed(ctx.fd)?),
    }
}

/// As [`with_io`], for a write of metadata: the engine's view is dropped afterwards.
pub(crate) fn with_io_writing<R>(
    ctx: &vhd_context_t,
    f: impl FnOnce(&mut FdIo) -> Res<R>,
) -> Res<R> {
    match find(ctx) {
        Some(shared) => {
            let mut state = lock(&shared);
            let result = f(state.io()?);
            state.invalidate();
            result
        }
        None => f(&mut FdIo::borrowed(ctx.fd)?),
    }
}
