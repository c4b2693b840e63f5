//! The three files of a vhd-index, as blktap3 lays them out, in safe Rust: the index
//! (a header sector, then blocks of per-sector entries), the BAT file (a header naming
//! the VHD, the index and the file table, then one `u32` per VHD block) and the file
//! table (a header, then one record per file an index entry may point to).
//!
//! Every multi-byte header and entry field is big-endian, except the BAT's table, which
//! blktap3 writes and reads as the host's `u32`s. Paths are stored relative to the
//! directory of the file holding them, as 1,024 bytes of NUL-terminated text followed
//! by the length including the NUL (big-endian `u16`).

use core::ffi::CStr;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::ffi::{errno, Res};
use crate::path::relative_path;
use vhd_std::canonpath::canonpath as canonical;

/// The sector every offset of these formats is counted in or padded to.
pub(crate) const SECTOR: u64 = 512;
/// Bytes of an index entry (file id, sector), both big-endian `u32`s.
pub(crate) const ENTRY_LEN: usize = 8;

const INDEX_COOKIE: &[u8; 8] = b"vhdindex";
const BAT_COOKIE: &[u8; 8] = b"vhdi-bat";
const FILE_TABLE_COOKIE: &[u8; 8] = b"vhdifile";

/// The text part of a stored path; a path needs its NUL inside it.
const PATH_TEXT: usize = 1024;
/// A stored path: its text, then its length with the NUL.
const PATH_RECORD: usize = PATH_TEXT + 2;
/// The longest path (without NUL) a record takes, as blktap3 checks it.
const PATH_MAX_LEN: usize = PATH_TEXT - 2;

/// Index header: cookie, block size (u32 at 8), table offset (u64 at 16).
const INDEX_HEADER_LEN: usize = 24;
/// BAT header: cookie, blocks (u64 at 8), block size (u32 at 16), the VHD's, index's
/// and file table's paths (at 20, 1,046, 2,072), table offset (u64 at 3,104).
const BAT_HEADER_LEN: usize = 3112;
const BAT_PATHS: [usize; 3] = [20, 20 + PATH_RECORD, 20 + 2 * PATH_RECORD];
const BAT_TABLE_OFFSET_AT: usize = 3104;
/// File table header: cookie, files (u32 at 8), table offset (u64 at 16).
const FILE_TABLE_HEADER_LEN: usize = 24;
/// File table record: path, file id (u32 at 1,028), VHD UUID (at 1,032), VHD
/// timestamp (u32 at 1,048).
pub(crate) const FILE_RECORD_LEN: usize = 1052;

/// `n` rounded up to whole sectors.
pub(crate) fn padded(n: u64) -> u64 {
    n.div_ceil(SECTOR) * SECTOR
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// A VHD block size is a power of two.
pub(crate) fn check_block_size(size: u32) -> Res<()> {
    if size.is_power_of_two() {
        Ok(())
    } else {
        Err(-libc::EINVAL)
    }
}

/// The sector-padded first sector of a new index for VHD blocks of `block_size` bytes.
pub(crate) fn index_header(block_size: u32) -> [u8; SECTOR as usize] {
    let mut h = [0u8; SECTOR as usize];
    put(&mut h, 0, INDEX_COOKIE);
    put(&mut h, 8, &block_size.to_be_bytes());
    put(&mut h, 16, &padded(INDEX_HEADER_LEN as u64).to_be_bytes());
    h
}

/// The VHD block size an index header holds, once its cookie and size are checked.
pub(crate) fn parse_index_header(h: &[u8]) -> Res<u32> {
    if h.len() < INDEX_HEADER_LEN || &h[..8] != INDEX_COOKIE {
        return Err(-libc::EINVAL);
    }
    let size = be32(h, 8);
    check_block_size(size)?;
    Ok(size)
}

/// Stores `(file_id, offset)` pairs as index entries into `out` (which holds them).
pub(crate) fn put_entries(out: &mut [u8], entries: &[(u32, u32)]) {
    for (chunk, (id, off)) in out.chunks_exact_mut(ENTRY_LEN).zip(entries) {
        chunk[..4].copy_from_slice(&id.to_be_bytes());
        chunk[4..].copy_from_slice(&off.to_be_bytes());
    }
}

/// Turns stored index entries into host-order `u32` pairs, in place.
pub(crate) fn entries_to_host(b: &mut [u8]) {
    for field in b.chunks_exact_mut(4) {
        let v = be32(field, 0);
        field.copy_from_slice(&v.to_ne_bytes());
    }
}

/// A stored path's text, checked as blktap3 checks it: its length below the limit and a
/// NUL within it.
fn stored_path(rec: &[u8]) -> Res<&[u8]> {
    let bytes = usize::from(be16(rec, PATH_TEXT));
    if bytes >= PATH_TEXT - 1 {
        return Err(-libc::ENAMETOOLONG);
    }
    let nul = rec[..bytes]
        .iter()
        .position(|&c| c == 0)
        .ok_or(-libc::EINVAL)?;
    Ok(&rec[..nul])
}

/// Stores `path` (shorter than the limit) as a path record.
fn put_path(rec: &mut [u8], path: &[u8]) {
    rec[..path.len()].copy_from_slice(path);
    rec[path.len()..PATH_TEXT].fill(0);
    // Fits: shorter than PATH_TEXT.
    put(rec, PATH_TEXT, &((path.len() + 1) as u16).to_be_bytes());
}

/// `dest` (which must exist) relative to the directory of `from`, as stored.
fn relative(from: &CStr, dest: &CStr) -> Res<Vec<u8>> {
    if dest.to_bytes().is_empty() {
        return Err(-libc::EINVAL);
    }
    let rel = relative_path(from, dest)?;
    if rel.len() > PATH_MAX_LEN {
        return Err(-libc::ENAMETOOLONG);
    }
    Ok(rel)
}

/// A stored `path`, relative to the directory of `from`, made absolute and canonical.
fn expand(from: &CStr, path: &[u8]) -> Res<Vec<u8>> {
    let from = Path::new(OsStr::from_bytes(from.to_bytes()));
    let dir = match from.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ if from.has_root() => Path::new("/"),
        _ => Path::new("."),
    };
    let full = canonical(&dir.join(OsStr::from_bytes(path))).map_err(errno)?;
    let full = full.into_os_string().into_vec();
    if full.len() > PATH_MAX_LEN {
        return Err(-libc::ENAMETOOLONG);
    }
    Ok(full)
}

fn path_of(s: &CStr) -> &Path {
    Path::new(OsStr::from_bytes(s.to_bytes()))
}

/// `-EEXIST` if `name` exists, its lookup's error unless it is missing.
fn must_not_exist(name: &CStr) -> Res<()> {
    match std::fs::metadata(path_of(name)) {
        Ok(_) => Err(-libc::EEXIST),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(errno(e)),
    }
}

/// A new file `name` (mode 0600): `-EEXIST` if it exists.
fn create_new(name: &CStr) -> Res<File> {
    must_not_exist(name)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path_of(name))
        .map_err(errno)
}

/// A new file (mode 0600) holding `bytes`; removed again if they cannot be written.
fn create_with(name: &CStr, bytes: &[u8]) -> Res<()> {
    let file = create_new(name)?;
    file.write_all_at(bytes, 0).map_err(|e| {
        let _ = std::fs::remove_file(path_of(name));
        errno(e)
    })
}

fn open(name: &CStr, writable: bool) -> Res<File> {
    OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path_of(name))
        .map_err(errno)
}

/// `len` bytes at `off`; a short file is `-EIO`, as for blktap3's short reads.
fn read_at(file: &File, off: u64, len: usize) -> Res<Vec<u8>> {
    let end = off.checked_add(len as u64).ok_or(-libc::EIO)?;
    // Checked before allocating: a header cannot make us allocate more than the file.
    if file.metadata().map_err(errno)?.len() < end {
        return Err(-libc::EIO);
    }
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| -libc::ENOMEM)?;
    buf.resize(len, 0);
    file.read_exact_at(&mut buf, off).map_err(errno)?;
    Ok(buf)
}

/// The VHD's block count (`max_bat_size`), block size and UUID: `-EINVAL` for an image
/// without a dynamic header.
fn vhd_facts(path: &Path) -> Res<(u64, u32, [u8; 16])> {
    let image = vhd_std::Image::open(path, vhd_std::OpenOptions::default()).map_err(|e| e.0)?;
    let disk = image.disk();
    let uuid = *disk.footer().uuid.as_bytes();
    let (blocks, size) = disk
        .header()
        .map(|h| (u64::from(h.max_bat_size), h.block_size))
        .unwrap_or((0, 0));
    Ok((blocks, size, uuid))
}

/// A BAT file's header.
pub(crate) struct BatHeader {
    /// Blocks of the VHD.
    pub blocks: u64,
    /// Block size of the VHD.
    pub block_size: u32,
    /// The VHD's, the index's and the file table's paths, as stored (relative).
    paths: [Vec<u8>; 3],
    /// Where the table starts.
    table_offset: u64,
}

fn parse_bat_header(h: &[u8]) -> Res<BatHeader> {
    if &h[..8] != BAT_COOKIE {
        return Err(-libc::EINVAL);
    }
    let block_size = be32(h, 16);
    check_block_size(block_size)?;
    let mut paths: [Vec<u8>; 3] = Default::default();
    for (p, at) in paths.iter_mut().zip(BAT_PATHS) {
        *p = stored_path(&h[at..at + PATH_RECORD])?.to_vec();
    }
    Ok(BatHeader {
        blocks: be64(h, 8),
        block_size,
        paths,
        table_offset: be64(h, BAT_TABLE_OFFSET_AT),
    })
}

fn load_bat_header(file: &File) -> Res<BatHeader> {
    parse_bat_header(&read_at(file, 0, BAT_HEADER_LEN)?)
}

/// A new BAT file `name` for the VHD `vhd` (its block count and size), naming it, the
/// index and the file table (which must all exist) relative to `name`. The table itself
/// is not written.
pub(crate) fn create_bat(name: &CStr, vhd: &CStr, index: &CStr, table: &CStr) -> Res<()> {
    must_not_exist(name)?;
    let (blocks, block_size, _) = vhd_facts(path_of(vhd))?;
    check_block_size(block_size)?;
    // The paths are relative to the new file, which must exist to be resolved.
    let file = create_new(name)?;
    let written = (|| {
        let mut h = vec![0u8; BAT_HEADER_LEN];
        put(&mut h, 0, BAT_COOKIE);
        put(&mut h, 8, &blocks.to_be_bytes());
        put(&mut h, 16, &block_size.to_be_bytes());
        for (dest, at) in [vhd, index, table].into_iter().zip(BAT_PATHS) {
            put_path(&mut h[at..at + PATH_RECORD], &relative(name, dest)?);
        }
        let table_offset = padded(BAT_HEADER_LEN as u64);
        put(&mut h, BAT_TABLE_OFFSET_AT, &table_offset.to_be_bytes());
        file.write_all_at(&h, 0).map_err(errno)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path_of(name));
    }
    written
}

/// A loaded BAT file: its header's facts, its table's raw bytes and the three paths made
/// absolute (each checked to exist).
pub(crate) struct LoadedBat {
    pub header: BatHeader,
    /// `blocks` host-order `u32`s.
    pub table: Vec<u8>,
    /// The VHD's, the index's and the file table's absolute paths.
    pub paths: [Vec<u8>; 3],
}

pub(crate) fn load_bat(name: &CStr) -> Res<LoadedBat> {
    let file = open(name, false)?;
    let header = load_bat_header(&file)?;
    let len = header
        .blocks
        .checked_mul(4)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(-libc::EIO)?;
    let table = read_at(&file, header.table_offset, len)?;
    let mut paths: [Vec<u8>; 3] = Default::default();
    for (out, stored) in paths.iter_mut().zip(&header.paths) {
        let full = expand(name, stored)?;
        std::fs::metadata(Path::new(OsStr::from_bytes(&full))).map_err(errno)?;
        *out = full;
    }
    Ok(LoadedBat {
        header,
        table,
        paths,
    })
}

/// Writes `table` (`blocks` host-order `u32`s) into the BAT file `name`, whose header must
/// say the same block count and size.
pub(crate) fn write_bat(name: &CStr, blocks: u64, block_size: u32, table: &[u8]) -> Res<()> {
    let file = open(name, true)?;
    let header = load_bat_header(&file)?;
    if header.blocks != blocks || header.block_size != block_size {
        return Err(-libc::EINVAL);
    }
    file.write_all_at(table, header.table_offset).map_err(errno)
}

/// A file table's header: its record count and where the records start.
struct FileTableHeader {
    files: u32,
    table_offset: u64,
}

fn file_table_header(files: u32, table_offset: u64) -> [u8; FILE_TABLE_HEADER_LEN] {
    let mut h = [0u8; FILE_TABLE_HEADER_LEN];
    put(&mut h, 0, FILE_TABLE_COOKIE);
    put(&mut h, 8, &files.to_be_bytes());
    put(&mut h, 16, &table_offset.to_be_bytes());
    h
}

fn load_file_table_header(file: &File) -> Res<FileTableHeader> {
    let h = read_at(file, 0, FILE_TABLE_HEADER_LEN)?;
    if &h[..8] != FILE_TABLE_COOKIE {
        return Err(-libc::EINVAL);
    }
    Ok(FileTableHeader {
        files: be32(&h, 8),
        table_offset: be64(&h, 16),
    })
}

/// A new, empty file table `name` (records from the second sector).
pub(crate) fn create_file_table(name: &CStr) -> Res<()> {
    create_with(
        name,
        &file_table_header(0, padded(FILE_TABLE_HEADER_LEN as u64)),
    )
}

/// A new index `name` for VHD blocks of `block_size` bytes.
pub(crate) fn create_index(name: &CStr, block_size: u32) -> Res<()> {
    check_block_size(block_size)?;
    create_with(name, &index_header(block_size))
}

/// One file of a file table.
pub(crate) struct FileRef {
    pub file_id: u32,
    /// Absolute and canonical.
    pub path: Vec<u8>,
    pub uuid: [u8; 16],
    pub timestamp: u32,
}

/// The VHD timestamp of `path`'s modification time and its UUID.
fn vhd_identity(path: &Path) -> Res<(u32, [u8; 16])> {
    let timestamp = vhd_std::time::mtime_vhd(path).map_err(errno)?;
    let (_, _, uuid) = vhd_facts(path)?;
    Ok((timestamp, uuid))
}

/// Every file of the table `name`, each checked to still be the VHD it recorded (same
/// modification time and UUID, else `-EINVAL`).
pub(crate) fn load_file_table(name: &CStr) -> Res<Vec<FileRef>> {
    let file = open(name, false)?;
    let header = load_file_table_header(&file)?;
    if header.files == 0 {
        // Nothing to read: a new table's file ends before its records' offset.
        return Ok(Vec::new());
    }
    let len = (header.files as usize)
        .checked_mul(FILE_RECORD_LEN)
        .ok_or(-libc::EIO)?;
    let records = read_at(&file, header.table_offset, len)?;
    let mut refs = Vec::new();
    refs.try_reserve_exact(header.files as usize)
        .map_err(|_| -libc::ENOMEM)?;
    for rec in records.chunks_exact(FILE_RECORD_LEN) {
        let path = expand(name, stored_path(&rec[..PATH_RECORD])?)?;
        let timestamp = be32(rec, 1048);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&rec[1032..1048]);
        if vhd_identity(Path::new(OsStr::from_bytes(&path)))? != (timestamp, uuid) {
            return Err(-libc::EINVAL);
        }
        refs.push(FileRef {
            file_id: be32(rec, 1028),
            path,
            uuid,
            timestamp,
        });
    }
    Ok(refs)
}

/// Adds the VHD `vhd` to the table `name` under the next free id (one more than the
/// largest), which it returns; `-EEXIST` if the table already holds it.
pub(crate) fn add_file(name: &CStr, vhd: &CStr) -> Res<u32> {
    if vhd.to_bytes().len() > PATH_MAX_LEN {
        return Err(-libc::ENAMETOOLONG);
    }
    let refs = load_file_table(name)?;
    let canon = canonical(path_of(vhd)).map_err(errno)?;
    if refs.iter().any(|r| r.path == canon.as_os_str().as_bytes()) {
        return Err(-libc::EEXIST);
    }
    let file_id = refs.iter().map(|r| r.file_id).max().unwrap_or(0) + 1;

    let file = open(name, true)?;
    let header = load_file_table_header(&file)?;
    let off = (header.files as u64)
        .checked_mul(FILE_RECORD_LEN as u64)
        .and_then(|n| n.checked_add(header.table_offset))
        .ok_or(-libc::EINVAL)?;
    let added = (|| {
        let (timestamp, uuid) = vhd_identity(path_of(vhd))?;
        let mut rec = vec![0u8; FILE_RECORD_LEN];
        put_path(&mut rec[..PATH_RECORD], &relative(name, vhd)?);
        put(&mut rec, 1028, &file_id.to_be_bytes());
        put(&mut rec, 1032, &uuid);
        put(&mut rec, 1048, &timestamp.to_be_bytes());
        file.write_all_at(&rec, off).map_err(errno)?;
        let files = header.files.checked_add(1).ok_or(-libc::EINVAL)?;
        let h = file_table_header(files, header.table_offset);
        file.write_all_at(&h, 0).map_err(errno)
    })();
    if added.is_err() && off != 0 {
        // Whatever was appended goes again, as in blktap3.
        let _ = file.set_len(off);
    }
    added.map(|()| file_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_header_round_trips_and_is_big_endian() {
        let h = index_header(2 << 20);
        assert_eq!(&h[..8], b"vhdindex");
        assert_eq!(h[8..12], [0, 0x20, 0, 0]);
        assert_eq!(h[16..24], [0, 0, 0, 0, 0, 0, 2, 0]);
        assert!(h[24..].iter().all(|&b| b == 0));
        assert_eq!(parse_index_header(&h), Ok(2 << 20));
        let mut bad = h;
        bad[0] = b'V';
        assert_eq!(parse_index_header(&bad), Err(-libc::EINVAL));
        let mut odd = h;
        odd[8..12].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(parse_index_header(&odd), Err(-libc::EINVAL));
        assert_eq!(parse_index_header(&h[..23]), Err(-libc::EINVAL));
    }

    #[test]
    fn entries_store_big_endian_and_convert_back_in_place() {
        let mut b = [0u8; 3 * ENTRY_LEN];
        put_entries(&mut b, &[(1, 0x0102_0304), (0xffff_fffe, 9)]);
        assert_eq!(b[..8], [0, 0, 0, 1, 1, 2, 3, 4]);
        assert_eq!(b[8..16], [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 9]);
        assert!(b[16..].iter().all(|&x| x == 0));
        entries_to_host(&mut b);
        assert_eq!(b[..4], 1u32.to_ne_bytes());
        assert_eq!(b[4..8], 0x0102_0304u32.to_ne_bytes());
        assert_eq!(b[12..16], 9u32.to_ne_bytes());
    }

    #[test]
    fn stored_paths_are_checked_like_blktap3() {
        let mut rec = [0u8; PATH_RECORD];
        put_path(&mut rec, b"../vhd/a.vhd");
        assert_eq!(be16(&rec, PATH_TEXT), 13);
        assert_eq!(stored_path(&rec), Ok(&b"../vhd/a.vhd"[..]));
        // The length must take in the NUL.
        rec[PATH_TEXT..].copy_from_slice(&12u16.to_be_bytes());
        assert_eq!(stored_path(&rec), Err(-libc::EINVAL));
        rec[PATH_TEXT..].copy_from_slice(&1023u16.to_be_bytes());
        assert_eq!(stored_path(&rec), Err(-libc::ENAMETOOLONG));
        rec[PATH_TEXT..].copy_from_slice(&1022u16.to_be_bytes());
        assert_eq!(stored_path(&rec), Ok(&b"../vhd/a.vhd"[..]));
    }

    #[test]
    fn bat_header_needs_its_cookie_block_size_and_paths() {
        let mut h = vec![0u8; BAT_HEADER_LEN];
        h[..8].copy_from_slice(BAT_COOKIE);
        h[8..16].copy_from_slice(&4u64.to_be_bytes());
        h[16..20].copy_from_slice(&(2u32 << 20).to_be_bytes());
        for at in BAT_PATHS {
            put_path(&mut h[at..at + PATH_RECORD], b"./x");
        }
        h[BAT_TABLE_OFFSET_AT..].copy_from_slice(&3584u64.to_be_bytes());
        let parsed = parse_bat_header(&h).unwrap();
        assert_eq!((parsed.blocks, parsed.block_size), (4, 2 << 20));
        assert_eq!(parsed.table_offset, padded(BAT_HEADER_LEN as u64));
        let mut no_nul = h.clone();
        no_nul[BAT_PATHS[2] + PATH_TEXT + 1] = 2;
        assert!(parse_bat_header(&no_nul).is_err());
        let mut bad = h.clone();
        bad[7] = b'T';
        assert_eq!(parse_bat_header(&bad).err(), Some(-libc::EINVAL));
        let mut zero = h;
        zero[16..20].fill(0);
        assert_eq!(parse_bat_header(&zero).err(), Some(-libc::EINVAL));
    }

    #[test]
    fn offsets_pad_to_sectors() {
        assert_eq!(padded(0), 0);
        assert_eq!(padded(24), 512);
        assert_eq!(padded(3112), 3584);
        assert_eq!(padded(1024), 1024);
    }
}
