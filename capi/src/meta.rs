//! The footer and the dynamic disk header: validating, reading and writing them, the
//! cached copies in the context, and the hidden flag.

use core::ffi::c_int;

use libc::off_t;
use vhd_nostd::disk::find_footer;
use vhd_nostd::footer::FOOTER_SIZE;
use vhd_nostd::header::HEADER_SIZE;
use vhd_nostd::locator::is_valid_platform_code;
use vhd_nostd::{Footer, Header, Io};

use crate::convert::{
    c_footer, footer_from_disk, footer_to_disk, header_from_disk, header_to_disk, is_dynamic,
    offset,
};
use crate::ffi::{boundary, context, errno, object, shared, with_copy, Res};
use crate::helpers::{vhd_checksum_footer, vhd_checksum_header};
use crate::state::{with_io, with_io_writing};
use crate::types::{vhd_context_t, vhd_footer_t, vhd_header_t};
use vhd_std::FileIo;

/// 0 if `bytes` is a valid footer (cookie `conectix` or `v_poison`, checksum, including
/// the legacy tap images whose hidden flag was set without a new checksum).
fn check_footer(bytes: &[u8; FOOTER_SIZE]) -> Res<()> {
    Footer::parse(bytes).map(drop).map_err(|_| -libc::EINVAL)
}

/// 0 if `bytes` is a valid dynamic disk header: cookie, checksum, a version and block
/// size the engine supports, `data_offset` all ones and known platform codes.
fn check_header(bytes: &[u8; HEADER_SIZE]) -> Res<()> {
    let h = Header::parse(bytes).map_err(|_| -libc::EINVAL)?;
    h.validate().map_err(|_| -libc::EINVAL)?;
    if h.data_offset != u64::MAX || !h.loc.iter().all(|l| is_valid_platform_code(l.code)) {
        return Err(-libc::EINVAL);
    }
    Ok(())
}

fn read_array<const N: usize>(io: &mut FileIo, off: u64, len: usize) -> Res<[u8; N]> {
    let mut b = [0u8; N];
    io.read_at(off, &mut b[..len]).map_err(errno)?;
    Ok(b)
}

/// Reads the footer at `off` into `footer` (host order, even if invalid), then checks it.
fn read_footer_at(io: &mut FileIo, footer: &mut vhd_footer_t, off: u64) -> Res<()> {
    let bytes = read_array::<FOOTER_SIZE>(io, off, FOOTER_SIZE)?;
    *footer = footer_from_disk(&bytes);
    check_footer(&bytes)
}

/// The image's footer as the core's open finds it (the end, a legacy 511-byte one, else,
/// unless `strict`, the copy at offset 0 of a dynamic or differencing disk). When none
/// is valid, `footer` holds the last one tried, as libvhd leaves it, for dumps.
fn read_footer(io: &mut FileIo, footer: &mut vhd_footer_t, strict: bool) -> Res<()> {
    match find_footer(io, strict) {
        Ok(found) => {
            *footer = c_footer(&found.footer);
            Ok(())
        }
        Err(vhd_nostd::Error::Io(e)) => Err(errno(e)),
        Err(_) => {
            let size = io.size().map_err(errno)?;
            let end = size.saturating_sub(FOOTER_SIZE as u64);
            let last = if strict || size < 2 * FOOTER_SIZE as u64 {
                end
            } else {
                0
            };
            if size >= FOOTER_SIZE as u64 {
                *footer = footer_from_disk(&read_array(io, last, FOOTER_SIZE)?);
            }
            Err(-libc::EINVAL)
        }
    }
}

fn read_header_at(io: &mut FileIo, header: &mut vhd_header_t, off: u64) -> Res<()> {
    let bytes = read_array::<HEADER_SIZE>(io, off, HEADER_SIZE)?;
    *header = header_from_disk(&bytes);
    check_header(&bytes)
}

/// Writes `footer` at `off` with a fresh checksum (stored back into `footer`, so a
/// context's copy keeps equal to the disk). `-EINVAL` for an invalid footer.
pub(crate) fn write_footer_at(ctx: &vhd_context_t, footer: &mut vhd_footer_t, off: u64) -> Res<()> {
    // SAFETY: `footer` is a valid footer.
    footer.checksum = unsafe { vhd_checksum_footer(footer) };
    let bytes = footer_to_disk(footer);
    check_footer(&bytes)?;
    with_io_writing(ctx, |io| io.write_at(off, &bytes).map_err(errno))
}

fn write_header_at(ctx: &vhd_context_t, header: &mut vhd_header_t, off: u64) -> Res<()> {
    // SAFETY: `header` is a valid header.
    header.checksum = unsafe { vhd_checksum_header(header) };
    let bytes = header_to_disk(header);
    check_header(&bytes)?;
    with_io_writing(ctx, |io| io.write_at(off, &bytes).map_err(errno))
}

/// 0 if `footer` (host order) is a valid footer: cookie `conectix` or `v_poison` and a
/// matching checksum (legacy tap 0.1/1.1 images may carry the checksum from before their
/// hidden flag was set). Else `-EINVAL`.
///
/// # Safety
/// `footer` must be null or a valid footer.
#[no_mangle]
pub unsafe extern "C" fn vhd_validate_footer(footer: *mut vhd_footer_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let footer = unsafe { object(footer)? };
        check_footer(&footer_to_disk(footer))
    })
}

/// 0 if `header` (host order) is a valid dynamic disk header: cookie `cxsparse`, version
/// 1.x, a power-of-two block size from 512 B to 256 MiB, `data_offset` all ones, known
/// platform codes and a matching checksum. Else `-EINVAL`.
///
/// # Safety
/// `header` must be null or a valid header.
#[no_mangle]
pub unsafe extern "C" fn vhd_validate_header(header: *mut vhd_header_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let header = unsafe { object(header)? };
        check_header(&header_to_disk(header))
    })
}

/// Reads the footer at the end of the file into `footer` (host order), falling back to
/// a legacy 511-byte footer and then to the copy at offset 0. `-EINVAL` if none is
/// valid.
///
/// # Safety
/// `ctx` must be an open context and `footer` writable.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_read_footer(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, footer) = unsafe { (context(ctx)?, object(footer)?) };
        with_io(ctx, |io| read_footer(io, footer, false))
    })
}

/// Reads the footer at byte offset `off` into `footer` (host order; filled even when
/// invalid, for dumps) and checks it: `-EINVAL` if invalid.
///
/// # Safety
/// `ctx` must be an open context and `footer` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_footer_at(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
    off: off_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, footer) = unsafe { (context(ctx)?, object(footer)?) };
        let off = offset(off)?;
        with_io(ctx, |io| read_footer_at(io, footer, off))
    })
}

/// As `vhd_read_footer`, without the fallback to the copy at offset 0.
///
/// # Safety
/// `ctx` must be an open context and `footer` writable.
#[cfg_attr(not(feature = "blktap3"), no_mangle)]
pub unsafe extern "C" fn vhd_read_footer_strict(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, footer) = unsafe { (context(ctx)?, object(footer)?) };
        with_io(ctx, |io| read_footer(io, footer, true))
    })
}

/// Reads the dynamic disk header at the footer's `data_offset` into `header` (host
/// order). `-EINVAL` for a fixed disk or an invalid header.
///
/// # Safety
/// `ctx` must be an open context and `header` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_header(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, header) = unsafe { (context(ctx)?, object(header)?) };
        if !is_dynamic(ctx) {
            return Err(-libc::EINVAL);
        }
        let off = ctx.footer.data_offset;
        with_io(ctx, |io| read_header_at(io, header, off))
    })
}

/// Reads a dynamic disk header at byte offset `off` into `header` (host order; filled
/// even when invalid) and checks it: `-EINVAL` if invalid.
///
/// # Safety
/// `ctx` must be an open context and `header` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_read_header_at(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
    off: off_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, header) = unsafe { (context(ctx)?, object(header)?) };
        let off = offset(off)?;
        with_io(ctx, |io| read_header_at(io, header, off))
    })
}

/// Writes `footer` (host order, checksum recomputed and stored back) at byte offset
/// `off`.
///
/// # Safety
/// `ctx` must be an open context and `footer` a valid footer.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_footer_at(
    ctx: *mut vhd_context_t,
    footer: *mut vhd_footer_t,
    off: off_t,
) -> c_int {
    boundary!({
        let off = offset(off)?;
        // SAFETY: caller's contract; see `vhd_write_footer`.
        unsafe { with_copy(footer, |f| write_footer_at(shared(ctx)?, f, off)) }
    })
}

/// Writes `header` (host order, checksum recomputed and stored back) at the footer's
/// `data_offset`. `-EINVAL` for a fixed disk or an invalid header.
///
/// # Safety
/// `ctx` must be an open context and `header` a valid header.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_header(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
) -> c_int {
    boundary!({
        // SAFETY: caller's contract; see `vhd_write_footer`.
        unsafe {
            with_copy(header, |h| {
                let ctx = shared(ctx)?;
                if !is_dynamic(ctx) {
                    return Err(-libc::EINVAL);
                }
                write_header_at(ctx, h, ctx.footer.data_offset)
            })
        }
    })
}

/// Writes `header` (host order, checksum recomputed and stored back) at byte offset
/// `off`.
///
/// # Safety
/// `ctx` must be an open context and `header` a valid header.
#[no_mangle]
pub unsafe extern "C" fn vhd_write_header_at(
    ctx: *mut vhd_context_t,
    header: *mut vhd_header_t,
    off: off_t,
) -> c_int {
    boundary!({
        let off = offset(off)?;
        // SAFETY: caller's contract; see `vhd_write_footer`.
        unsafe { with_copy(header, |h| write_header_at(shared(ctx)?, h, off)) }
    })
}

/// Makes sure `ctx->header` holds a valid header, reading it from disk if not.
/// `-EINVAL` for a fixed disk.
///
/// # Safety
/// `ctx` must be an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_get_header(ctx: *mut vhd_context_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        if !is_dynamic(ctx) {
            return Err(-libc::EINVAL);
        }
        if check_header(&header_to_disk(&ctx.header)).is_ok() {
            return Ok(());
        }
        let off = ctx.footer.data_offset;
        let mut h = ctx.header;
        let result = with_io(ctx, |io| read_header_at(io, &mut h, off));
        ctx.header = h;
        result
    })
}

/// Makes sure `ctx->footer` holds a valid footer, reading it from disk if not.
///
/// # Safety
/// `ctx` must be an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_get_footer(ctx: *mut vhd_context_t) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx)? };
        if check_footer(&footer_to_disk(&ctx.footer)).is_ok() {
            return Ok(());
        }
        let mut f = ctx.footer;
        let result = with_io(ctx, |io| read_footer(io, &mut f, false));
        ctx.footer = f;
        result
    })
}

/// Forgets the cached header (zeroes `ctx->header`); fixed disks have none.
///
/// # Safety
/// `ctx` must be null or an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_put_header(ctx: *mut vhd_context_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        if let Ok(ctx) = unsafe { context(ctx) } {
            if is_dynamic(ctx) {
                ctx.header = vhd_header_t::zeroed();
            }
        }
    })
}

/// Forgets the cached footer (zeroes `ctx->footer`).
///
/// # Safety
/// `ctx` must be null or an open context.
#[no_mangle]
pub unsafe extern "C" fn vhd_put_footer(ctx: *mut vhd_context_t) {
    boundary!(on_panic = (), {
        // SAFETY: caller's contract.
        if let Ok(ctx) = unsafe { context(ctx) } {
            ctx.footer = vhd_footer_t::zeroed();
        }
    })
}

/// Sets `*hidden` to the footer's hidden flag (a signed char, as libvhd reads it). For
/// dynamic images by tap 0.1 or 1.1, which did not keep the end footer up to date, the
/// flag comes from the copy at offset 0.
///
/// # Safety
/// `ctx` must be an open context and `hidden` writable.
#[no_mangle]
pub unsafe extern "C" fn vhd_hidden(ctx: *mut vhd_context_t, hidden: *mut c_int) -> c_int {
    boundary!({
        // SAFETY: caller's contract.
        let (ctx, hidden) = unsafe { (context(ctx)?, object(hidden)?) };
        *hidden = 0;
        let flag = if crate::convert::engine_footer(&ctx.footer).hidden_in_copy() {
            let mut copy = vhd_footer_t::zeroed();
            with_io(ctx, |io| read_footer_at(io, &mut copy, 0))?;
            copy.hidden
        } else {
            ctx.footer.hidden
        };
        *hidden = c_int::from(flag);
        Ok(())
    })
}
