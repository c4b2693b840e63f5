//! Edits of an image's bytes for hostile-image cases: structures changed and resealed
//! (so that the edit reaches the code behind the checksum tests) or damaged raw. Each
//! helper works on an in-memory image (`&mut VecIo`, `&mut Vec<u8>`) and on a file
//! (`&Path`) alike, through [`Bytes`] (and [`View`] where it only reads).

use std::path::{Path, PathBuf};

use vhd_nostd::batmap::{self, BatmapHeader};
use vhd_nostd::locator::ParentLocator;
use vhd_nostd::{Footer, Header};

use crate::mem::VecIo;

/// An image's bytes, wherever they live: in memory, or in a file read whole and written
/// back after an edit.
pub trait Bytes {
    /// Runs `f` on the bytes and keeps what it changed.
    fn edit<R>(self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R;
}

impl Bytes for &mut Vec<u8> {
    fn edit<R>(self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        f(self)
    }
}

impl Bytes for &mut VecIo {
    fn edit<R>(self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        f(&mut self.data)
    }
}

impl Bytes for &Path {
    fn edit<R>(self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut b = std::fs::read(self).unwrap_or_else(|e| panic!("{}: {e}", self.display()));
        let r = f(&mut b);
        std::fs::write(self, b).unwrap_or_else(|e| panic!("{}: {e}", self.display()));
        r
    }
}

impl Bytes for &PathBuf {
    fn edit<R>(self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        self.as_path().edit(f)
    }
}

/// An image's bytes to read: in memory, or a file read whole.
pub trait View {
    fn view<R>(self, f: impl FnOnce(&[u8]) -> R) -> R;
}

impl View for &[u8] {
    fn view<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}

impl View for &Vec<u8> {
    fn view<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}

impl View for &VecIo {
    fn view<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.data)
    }
}

impl View for &mut VecIo {
    fn view<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.data)
    }
}

impl View for &Path {
    fn view<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&std::fs::read(self).unwrap_or_else(|e| panic!("{}: {e}", self.display())))
    }
}

impl View for &PathBuf {
    fn view<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.as_path().view(f)
    }
}

/// Edits the bytes (an alias of [`Bytes::edit`] for call sites that read better so).
pub fn edit<R>(b: impl Bytes, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    b.edit(f)
}

/// The big-endian `u32` at `at`.
pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// The big-endian `u64` at `at`.
pub fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// `s` as UTF-16LE, the encoding of W2KU/W2RU locators.
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The footer at the end of the bytes.
pub fn footer_in(b: &[u8]) -> Footer {
    Footer::decode(&b[b.len() - 512..]).unwrap()
}

/// Where the dynamic header is: the end footer's data offset.
pub fn header_offset_in(b: &[u8]) -> usize {
    footer_in(b).data_offset as usize
}

/// The dynamic header as stored.
pub fn header_in(b: &[u8]) -> Header {
    let off = header_offset_in(b);
    Header::decode(&b[off..off + 1024]).unwrap()
}

/// The end footer of an image.
pub fn end_footer(b: impl View) -> Footer {
    b.view(footer_in)
}

/// The dynamic header of an image.
pub fn header_of(b: impl View) -> Header {
    b.view(header_in)
}

/// Edits the end footer, reseals it, and writes it back at the end and (`copy`, as
/// sparse disks keep one) at offset 0.
pub fn reseal_footers(b: impl Bytes, copy: bool, f: impl FnOnce(&mut Footer)) {
    b.edit(|b| {
        let n = b.len();
        let mut ft = footer_in(b);
        f(&mut ft);
        ft.seal();
        let s = ft.to_bytes();
        b[n - 512..].copy_from_slice(&s);
        if copy {
            b[..512].copy_from_slice(&s);
        }
    })
}

/// Edits the dynamic header (at the end footer's data offset) and reseals it.
pub fn reseal_header(b: impl Bytes, f: impl FnOnce(&mut Header)) {
    b.edit(|b| {
        let off = header_offset_in(b);
        let mut h = header_in(b);
        f(&mut h);
        h.seal();
        b[off..off + 1024].copy_from_slice(&h.to_bytes());
    })
}

/// Where BAT entry `block` is stored.
fn bat_entry_at(b: &[u8], block: usize) -> usize {
    header_in(b).table_offset as usize + 4 * block
}

/// BAT entry `block` as stored.
pub fn bat_entry(b: impl View, block: usize) -> u32 {
    b.view(|b| be32(b, bat_entry_at(b, block)))
}

/// Sets BAT entry `block` to `sector`.
pub fn set_bat(b: impl Bytes, block: usize, sector: u32) {
    b.edit(|b| {
        let at = bat_entry_at(b, block);
        b[at..at + 4].copy_from_slice(&sector.to_be_bytes());
    })
}

/// Where the batmap header is: the sector after the BAT (as create lays it out).
pub fn batmap_header_offset_in(b: &[u8]) -> usize {
    let h = header_in(b);
    let bat = (h.max_bat_size as usize * 4).div_ceil(512) * 512;
    h.table_offset as usize + bat
}

/// Sets or clears `block`'s bit in the batmap and reseals the batmap's checksum.
pub fn set_batmap_bit(b: impl Bytes, block: u32, full: bool) {
    b.edit(|b| {
        let hoff = batmap_header_offset_in(b);
        let mut h = BatmapHeader::parse(&b[hoff..hoff + 512]).unwrap();
        let (moff, len) = (h.batmap_offset as usize, h.map_bytes() as usize);
        batmap::assign(&mut b[moff..moff + len], block, full);
        h.checksum = h.compute_checksum(&b[moff..moff + len]);
        b[hoff..hoff + 512].copy_from_slice(&h.to_bytes());
    })
}

/// Edits the batmap header (the sector after the BAT) and reseals its checksum over the
/// map it then describes, which must lie inside the image.
pub fn reseal_batmap_header(b: impl Bytes, f: impl FnOnce(&mut BatmapHeader)) {
    b.edit(|b| {
        let hoff = batmap_header_offset_in(b);
        let mut h = BatmapHeader::parse(&b[hoff..hoff + 512]).unwrap();
        f(&mut h);
        let (moff, len) = (h.batmap_offset as usize, h.map_bytes() as usize);
        h.checksum = h.compute_checksum(&b[moff..moff + len]);
        b[hoff..hoff + 512].copy_from_slice(&h.to_bytes());
    })
}

/// Writes `payload` where the footer was, moves the footer after it (padded to whole
/// sectors), and points locator `slot` at it with platform `code`.
pub fn put_locator(b: impl Bytes, slot: usize, code: u32, payload: &[u8]) {
    b.edit(|b| {
        let at = b.len() - 512;
        let footer = b[at..].to_vec();
        let padded = payload.len().div_ceil(512).max(1) * 512;
        b.truncate(at);
        b.extend_from_slice(payload);
        b.resize(at + padded, 0);
        b.extend_from_slice(&footer);
        reseal_header(b, |h| {
            h.loc[slot] = ParentLocator {
                code,
                data_space: padded as u32,
                data_len: payload.len() as u32,
                res: 0,
                data_offset: at as u64,
            }
        });
    })
}
