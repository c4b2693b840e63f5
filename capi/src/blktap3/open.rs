//! Opening and closing in blktap3's way: the context's file position (`offset`) and
//! parent-chain list (`next`) are set up, `VHD_OPEN_STRICT` is not enforced, tap images
//! of creator version 0.1 are refused, `VHD_OPEN_USE_BKP_FOOTER` takes the footer copy at
//! offset 0, and `VHD_OPEN_CACHED` opens without `O_DIRECT` and, read-only, keeps the
//! whole parent chain open in `next`. The image itself is opened by blktap2's
//! [`crate::open::vhd_open`] on the same engine.

use core::ffi::{c_char, c_int};
use core::mem::offset_of;

use super::consts::{VHD_OPEN_CACHED, VHD_OPEN_USE_BKP_FOOTER};
use super::list::{self, list_head};
use super::status;
use crate::consts::{HD_TYPE_DIFF, VHD_OPEN_RDONLY, VHD_OPEN_RDWR, VHD_OPEN_STRICT};
use crate::ffi::{boundary, c_str, context};
use crate::open::zero;
use crate::types::{vhd_context_t, vhd_footer_t};

/// The creator version of the first tap images, whose bitmaps blktap3 no longer reads.
const TAP_0_1: u32 = 0x0000_0001;

/// Longest parent chain a cached open keeps (as the engine's chain limit).
const MAX_CACHED_CHAIN: usize = 256;

/// Opens `file` into `ctx` without building a cached chain.
///
/// # Safety
/// `ctx` must be writable and `file` a string.
unsafe fn open_one(ctx: *mut vhd_context_t, file: *const c_char, flags: c_int) -> c_int {
    // SAFETY: caller's contract.
    let ret = unsafe { crate::open::vhd_open(ctx, file, flags & !VHD_OPEN_STRICT) };
    // A failed open leaves the context zeroed, as blktap2's does.
    if ret != 0 {
        return ret;
    }
    // SAFETY: caller's contract; the open succeeded, so `ctx` is non-null.
    let Ok(c) = (unsafe { context(ctx) }) else {
        return -libc::EINVAL;
    };
    list::init(&mut c.next);
    let refused = c.footer.crtr_app[..3] == [b't' as c_char, b'a' as c_char, b'p' as c_char]
        && c.footer.crtr_ver == TAP_0_1;
    if refused {
        // SAFETY: the context blktap2's open just filled; closing zeroes it.
        unsafe { crate::open::vhd_close(ctx) };
        return -libc::EINVAL;
    }
    if flags & VHD_OPEN_USE_BKP_FOOTER != 0 {
        let mut copy = vhd_footer_t::zeroed();
        // SAFETY: an open context and a local footer.
        if unsafe { crate::meta::vhd_read_footer_at(ctx, &mut copy, 0) } == 0 {
            c.footer = copy;
        }
    }
    if flags & VHD_OPEN_CACHED != 0 && flags & VHD_OPEN_RDWR == 0 {
        // The page cache instead of direct I/O: the engine's aligned transfers work on
        // either, and a read-only descriptor never needs its writes flushed.
        // SAFETY: plain fcntl calls on the descriptor the open made.
        unsafe {
            let fl = libc::fcntl(c.fd, libc::F_GETFL);
            if fl >= 0 && libc::fcntl(c.fd, libc::F_SETFL, fl & !libc::O_DIRECT) == 0 {
                c.oflags &= !libc::O_DIRECT;
            }
        }
    }
    0
}

/// The context a cached-chain node belongs to.
fn owner(node: *mut list_head) -> *mut vhd_context_t {
    node.cast::<u8>()
        .wrapping_sub(offset_of!(vhd_context_t, next))
        .cast()
}

/// Opens the parents of `ctx` read-only, one context each (malloc'd), linked into
/// `ctx->next` from the nearest parent up.
///
/// # Safety
/// `ctx` must be an open context whose `next` is an initialised list.
unsafe fn open_chain(ctx: *mut vhd_context_t, flags: c_int) -> c_int {
    let mut cur = ctx;
    for _ in 0..MAX_CACHED_CHAIN {
        // SAFETY: `cur` is `ctx` or a parent context opened below.
        if unsafe { (*cur).footer.r#type } != HD_TYPE_DIFF {
            return 0;
        }
        let mut parent: *mut c_char = core::ptr::null_mut();
        // SAFETY: an open context and a local out-pointer.
        let err = unsafe { super::parent::vhd_parent_locator_get(cur, &mut parent) };
        if err != 0 {
            return err;
        }
        // SAFETY: a fresh allocation of the context's size; checked for null.
        let next = unsafe { libc::calloc(1, size_of::<vhd_context_t>()) }.cast::<vhd_context_t>();
        if next.is_null() {
            // SAFETY: malloc'd by vhd_parent_locator_get.
            unsafe { libc::free(parent.cast()) };
            return -libc::ENOMEM;
        }
        // SAFETY: `next` is writable and zeroed, `parent` a string.
        let err = unsafe { open_one(next, parent, flags & !VHD_OPEN_RDWR | VHD_OPEN_RDONLY) };
        // SAFETY: malloc'd by vhd_parent_locator_get, no longer used.
        unsafe { libc::free(parent.cast()) };
        if err != 0 {
            // SAFETY: ours, not linked.
            unsafe { libc::free(next.cast()) };
            return err;
        }
        // SAFETY: both lists are initialised; `next` lives until `vhd_close(ctx)`.
        unsafe { list::add_tail(&mut (*next).next, &mut (*ctx).next) };
        cur = next;
    }
    -libc::EINVAL
}

/// Closes and frees the contexts of `ctx`'s cached chain.
///
/// # Safety
/// `ctx` must be a context whose `next` is null or a well-formed list.
unsafe fn close_chain(ctx: &mut vhd_context_t) {
    let head: *mut list_head = &mut ctx.next;
    let mut node = ctx.next.next;
    while !node.is_null() && node != head {
        // SAFETY: a node of the list, inside a context `open_chain` allocated.
        let next = unsafe { (*node).next };
        let c = owner(node);
        // SAFETY: an open context we allocated, closed and freed once.
        unsafe {
            crate::open::vhd_close(c);
            libc::free(c.cast());
        }
        node = next;
    }
    list::init(&mut ctx.next);
}

/// Opens image `file` into `ctx` with `VHD_OPEN_*` `flags`, as blktap3 does: as
/// blktap2's `vhd_open`, and `offset` 0, `next` an empty list. `VHD_OPEN_STRICT` is
/// accepted and not enforced (the copy at offset 0 stands in for a bad end footer);
/// `VHD_OPEN_USE_BKP_FOOTER` takes the footer copy at offset 0; `VHD_OPEN_CACHED`
/// reads through the page cache and, without `VHD_OPEN_RDWR`, opens the whole parent
/// chain into `next` (closed by `vhd_close`). Images created by tapdisk 0.1
/// (`crtr_ver` 0x00000001) are refused with `-EINVAL`. Missing files give `-ENOENT`.
///
/// # Safety
/// `ctx` must be writable and `file` a string.
#[no_mangle]
pub unsafe extern "C" fn vhd_open(
    ctx: *mut vhd_context_t,
    file: *const c_char,
    flags: c_int,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        status(unsafe { open_one(ctx, file, flags) })?;
        if flags & VHD_OPEN_CACHED == 0 || flags & VHD_OPEN_RDWR != 0 {
            return Ok(());
        }
        // SAFETY: `ctx` was just opened, its list initialised.
        let err = unsafe { open_chain(ctx, flags) };
        if err != 0 {
            // SAFETY: as above.
            unsafe { close(ctx) };
        }
        status(err)
    })
}

/// Closes `ctx`: its cached parent chain, the custom parent, then the image (synced,
/// descriptor closed, `file`, BAT and batmap freed, context zeroed).
///
/// # Safety
/// `ctx` must be null or a context from `vhd_open` (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn vhd_close(ctx: *mut vhd_context_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        unsafe { close(ctx) }
    })
}

/// What `vhd_close` does.
///
/// # Safety
/// `ctx` must be null or a context from `vhd_open` (or zeroed).
unsafe fn close(ctx: *mut vhd_context_t) {
    // SAFETY: caller's contract.
    let Ok(c) = (unsafe { context(ctx) }) else {
        return;
    };
    // SAFETY: zeroed or set up by vhd_open.
    unsafe { close_chain(c) };
    // SAFETY: malloc'd by vhd_custom_parent_set, or null.
    unsafe { libc::free(c.custom_parent.cast()) };
    c.custom_parent = core::ptr::null_mut();
    if !c.file.is_null() {
        // SAFETY: as above.
        unsafe { crate::open::vhd_close(ctx) };
    } else {
        zero(c);
    }
}

/// Makes parent lookups of `ctx` (`vhd_parent_locator_get`, the cached chain) use
/// `parent` instead of the locators; a copy is kept until `vhd_close`.
///
/// # Safety
/// `ctx` must be an open context and `parent` a string.
#[no_mangle]
pub unsafe extern "C" fn vhd_custom_parent_set(
    ctx: *mut vhd_context_t,
    parent: *const c_char,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, parent) = unsafe { (context(ctx)?, c_str(parent)?) };
        // SAFETY: a string.
        let copy = unsafe { libc::strdup(parent.as_ptr()) };
        if copy.is_null() {
            return Err(-libc::ENOMEM);
        }
        // SAFETY: malloc'd by an earlier call, or null.
        unsafe { libc::free(ctx.custom_parent.cast()) };
        ctx.custom_parent = copy;
        Ok(())
    })
}
