//! Conversions between the C structs (host byte order) and the on-disk bytes the engine
//! parses and writes.

use core::mem::size_of;

use libc::off_t;

use vhd_nostd::batmap::BatmapHeader;
use vhd_nostd::footer::FOOTER_SIZE;
use vhd_nostd::header::HEADER_SIZE;
use vhd_nostd::locator::ParentLocator;
use vhd_nostd::{Footer, Header, SECTOR_SIZE};

use crate::consts::{HD_TYPE_DIFF, HD_TYPE_DYNAMIC};
use crate::ffi::Res;
use crate::helpers::{swap_batmap_header, swap_footer, swap_header};
use crate::types::{
    dd_batmap_hdr, dd_hdr, hd_ftr, prt_loc, vhd_batmap, vhd_context_t, vhd_footer_t,
};

const _: () = assert!(size_of::<hd_ftr>() == FOOTER_SIZE);
const _: () = assert!(size_of::<dd_hdr>() == HEADER_SIZE);

/// Copies `N` bytes into a value of a padding-free integer struct.
///
/// # Safety
/// `T` must be one of the `#[repr(C)]` on-disk structs of `types`, whose size is `N` and
/// for which every bit pattern is valid.
unsafe fn from_bytes<T: Copy, const N: usize>(bytes: &[u8; N], zero: T) -> T {
    let mut out = zero;
    // SAFETY: the caller guarantees `T` is `N` bytes of integers without padding.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (&mut out as *mut T).cast(), N) };
    out
}

/// The bytes of a padding-free integer struct.
///
/// # Safety
/// As for [`from_bytes`].
unsafe fn to_bytes<T: Copy, const N: usize>(value: &T) -> [u8; N] {
    let mut out = [0u8; N];
    // SAFETY: the caller guarantees `T` is `N` initialized bytes.
    unsafe { core::ptr::copy_nonoverlapping((value as *const T).cast(), out.as_mut_ptr(), N) };
    out
}

/// A footer as C sees it (host order) from its on-disk bytes.
pub(crate) fn footer_from_disk(bytes: &[u8; FOOTER_SIZE]) -> hd_ftr {
    // SAFETY: `hd_ftr` is 512 bytes of integers and byte arrays (checked in `types`).
    let mut f = unsafe { from_bytes(bytes, hd_ftr::zeroed()) };
    swap_footer(&mut f);
    f
}

/// The on-disk bytes of a host-order footer.
pub(crate) fn footer_to_disk(f: &hd_ftr) -> [u8; FOOTER_SIZE] {
    let mut be = *f;
    swap_footer(&mut be);
    // SAFETY: as in `footer_from_disk`.
    unsafe { to_bytes(&be) }
}

/// A header as C sees it from its on-disk bytes.
pub(crate) fn header_from_disk(bytes: &[u8; HEADER_SIZE]) -> dd_hdr {
    // SAFETY: `dd_hdr` is 1024 bytes of integers, arrays and locators (checked in
    // `types`), no padding.
    let mut h = unsafe { from_bytes(bytes, dd_hdr::zeroed()) };
    swap_header(&mut h);
    h
}

/// The on-disk bytes of a host-order header.
pub(crate) fn header_to_disk(h: &dd_hdr) -> [u8; HEADER_SIZE] {
    let mut be = *h;
    swap_header(&mut be);
    // SAFETY: as in `header_from_disk`.
    unsafe { to_bytes(&be) }
}

/// The engine's footer from C's.
pub(crate) fn engine_footer(f: &hd_ftr) -> Footer {
    // `decode` only fails on a short buffer.
    Footer::decode(&footer_to_disk(f)).unwrap_or_else(|_| unreachable!())
}

/// C's footer from the engine's.
pub(crate) fn c_footer(f: &Footer) -> hd_ftr {
    footer_from_disk(&f.to_bytes())
}

/// The engine's header from C's.
pub(crate) fn engine_header(h: &dd_hdr) -> Header {
    // `decode` only fails on a short buffer.
    Header::decode(&header_to_disk(h)).unwrap_or_else(|_| unreachable!())
}

/// C's header from the engine's.
pub(crate) fn c_header(h: &Header) -> dd_hdr {
    header_from_disk(&h.to_bytes())
}

/// The engine's view of a C locator.
pub(crate) fn engine_locator(l: &prt_loc) -> ParentLocator {
    ParentLocator {
        code: l.code,
        data_space: l.data_space,
        data_len: l.data_len,
        res: l.res,
        data_offset: l.data_offset,
    }
}

/// C's locator from the engine's.
pub(crate) fn c_locator(l: &ParentLocator) -> prt_loc {
    prt_loc {
        code: l.code,
        data_space: l.data_space,
        data_len: l.data_len,
        res: l.res,
        data_offset: l.data_offset,
    }
}

/// C's batmap header from the engine's.
pub(crate) fn c_batmap_header(h: &BatmapHeader) -> dd_batmap_hdr {
    let sector = h.to_bytes();
    let mut first = [0u8; size_of::<dd_batmap_hdr>()];
    first.copy_from_slice(&sector[..size_of::<dd_batmap_hdr>()]);
    let mut b = vhd_batmap {
        // SAFETY: `dd_batmap_hdr` is 32 bytes of integers and a byte array, the last
        // four bytes being padding that C never reads.
        header: unsafe { from_bytes(&first, dd_batmap_hdr::zeroed()) },
        map: core::ptr::null_mut(),
    };
    swap_batmap_header(&mut b);
    b.header
}

/// The on-disk sector of a host-order batmap header (the rest of the sector zero, as
/// blktap2 writes it).
pub(crate) fn batmap_header_to_disk(h: &dd_batmap_hdr) -> [u8; SECTOR_SIZE] {
    let mut sector = [0u8; SECTOR_SIZE];
    sector[..8].copy_from_slice(&h.cookie.map(|c| c as u8));
    sector[8..16].copy_from_slice(&h.batmap_offset.to_be_bytes());
    sector[16..20].copy_from_slice(&h.batmap_size.to_be_bytes());
    sector[20..24].copy_from_slice(&h.batmap_version.to_be_bytes());
    sector[24..28].copy_from_slice(&h.checksum.to_be_bytes());
    #[cfg(feature = "blktap3")]
    crate::blktap3::types::put_marker_keyhash(h, &mut sector);
    sector
}

/// Whether the context's footer says dynamic or differencing (libvhd's
/// `vhd_type_dynamic`).
pub(crate) fn is_dynamic(ctx: &vhd_context_t) -> bool {
    matches!(ctx.footer.r#type, HD_TYPE_DYNAMIC | HD_TYPE_DIFF)
}

/// The footer's creator application as bytes, for the core's rules.
pub(crate) fn creator_app(f: &vhd_footer_t) -> [u8; 4] {
    f.crtr_app.map(|c| c as u8)
}

/// A byte offset from C; `-EINVAL` if negative.
pub(crate) fn offset(off: off_t) -> Res<u64> {
    u64::try_from(off).map_err(|_| -libc::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vhd_nostd::footer::{DiskType, FooterParams};

    #[test]
    fn footer_and_header_round_trip() {
        let f = Footer::new(FooterParams {
            kind: DiskType::Dynamic,
            size: 12 << 20,
            timestamp: 5,
            uuid: uuid::Uuid::from_bytes([3; 16]),
        });
        let c = c_footer(&f);
        assert_eq!(c.curr_size, 12 << 20);
        assert_eq!(c.r#type, 3);
        assert_eq!(engine_footer(&c), f);
        let h = Header::new(vhd_nostd::header::HeaderParams {
            table_offset: 1536,
            max_bat_size: 6,
            block_size: 1 << 21,
        });
        let ch = c_header(&h);
        assert_eq!(ch.table_offset, 1536);
        assert_eq!(engine_header(&ch), h);
        let bm = BatmapHeader::new(2560, 6);
        let cb = c_batmap_header(&bm);
        assert_eq!((cb.batmap_offset, cb.batmap_size), (2560, 1));
        assert_eq!(&batmap_header_to_disk(&cb)[..28], &bm.to_bytes()[..28]);
    }
}
